"""Tests of pavlov.protocols.plot: the session timeline as data, PNG, SVG and HTML."""

from __future__ import annotations

import io
import json
import math
import re
from pathlib import Path

import pytest
from browser import open_page
from PIL import Image

from pavlov.protocols import build_schedule, load_protocol
from pavlov.protocols.plot import render, timeline, timeline_figure, timeline_html

REPO = Path(__file__).resolve().parents[2]
BUNDLED = sorted((REPO / "protocols").glob("*.yaml"))
SESSIONS = [
    (path, session.name)
    for path in BUNDLED
    for session in load_protocol(str(path)).sessions  # every session of every protocol
]
IDS = [f"{path.stem}-{name}" for path, name in SESSIONS]


def planned(path: Path, session: str, participant: str = "07"):
    protocol = load_protocol(str(path))
    return protocol, build_schedule(protocol, participant, session)


def _ids(figure, prefix: str) -> list[str]:
    ax = figure.axes[0]
    return [a.get_gid() for a in ax.patches if (a.get_gid() or "").startswith(prefix)]


@pytest.mark.parametrize(("path", "session"), SESSIONS, ids=IDS)
def test_marks_match_the_schedule(path, session):
    """One CS mark per trial, one US mark per delivered US, one rating mark per rating,
    one screen per other event, in session order and at the schedule's times."""
    protocol, schedule = planned(path, session)
    line = timeline(schedule, protocol)
    trials = line.lane_marks("CS")
    assert [(m.start, m.duration) for m in trials] == [
        (e.onset, e.duration) for e in schedule.trials
    ]
    assert [m.edge for m in trials] == [e.reinforced for e in schedule.trials]
    n_us = sum(e.reinforced for e in schedule.trials) + sum(e.kind == "us" for e in schedule.events)
    assert len(line.lane_marks("US")) == n_us
    n_ratings = sum(e.online_rating for e in schedule.trials) + sum(
        e.kind == "rating" for e in schedule.events
    )
    assert len(line.lane_marks("rating")) == n_ratings
    others = [
        e
        for e in schedule.events
        if e.kind in ("instructions", "wait", "rest", "script", "questionnaire")
    ]
    assert len(line.lane_marks("screens")) == len(others)
    assert [name for name, _, _ in line.phases] == list(
        dict.fromkeys(e.phase for e in schedule.events)
    )
    assert line.phases[-1][2] == pytest.approx(schedule.duration)
    assert len({m.id for m in line.marks}) == len(line.marks)


@pytest.mark.parametrize(("path", "session"), SESSIONS, ids=IDS)
def test_png_has_a_mark_per_trial_and_every_phase_name(path, session):
    """The PNG decodes; its figure has one trial patch per trial and names every phase."""
    protocol, schedule = planned(path, session)
    line = timeline(schedule, protocol)
    figure = timeline_figure(line)
    assert len(_ids(figure, "trial-")) == len(schedule.trials)
    texts = {t.get_text() for t in figure.axes[0].texts}
    assert {name for name, _, _ in line.phases} <= texts
    assert f"total {line.subtitle.split('total ')[1]}" in figure._suptitle.get_text()
    png = render(schedule, protocol, "png")
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    assert image.width == 12 * 150


@pytest.mark.parametrize(("path", "session"), SESSIONS, ids=IDS)
def test_html_is_self_contained_and_describes_every_trial(path, session):
    """The HTML names every phase, carries a hover entry per mark (trials with role,
    stimulus, onset and ITI) and refers to nothing outside itself."""
    protocol, schedule = planned(path, session)
    page = render(schedule, protocol, "html").decode()
    for name in dict.fromkeys(e.phase for e in schedule.events):
        assert f">{name}<" in page
    data = json.loads(
        re.search(r'<script type="application/json" id="marks">(.*?)</script>', page, re.S)[1]
    )
    trials = [v for k, v in data.items() if k.startswith("trial-")]
    assert len(trials) == len(schedule.trials)
    for info, event in zip(trials, schedule.trials):
        assert info["role"].startswith(event.cs)
        assert info["stimulus"] == event.stimulus
        assert float(info["onset"].removesuffix(" s")) == pytest.approx(event.onset)
        assert float(info["ITI"].removesuffix(" s")) == pytest.approx(event.iti)
    for mark in data:
        assert f'id="{mark}"' in page
    assert_self_contained(page)


def assert_self_contained(page: str) -> None:
    """No URL the browser could fetch: namespace declarations name vocabularies only."""
    fetchable = re.sub(r'xmlns(:\w+)?="[^"]*"', "", page)
    assert "http:" not in fetchable and "https:" not in fetchable
    assert not re.search(r"""(src|href)\s*=\s*["']?(?!["'#])""", fetchable)
    assert "@import" not in fetchable and "url(" not in fetchable.replace("url(#", "")


def test_html_page_runs_in_a_real_browser(tmp_path):
    """In headless Chromium, for every bundled protocol, the page's script attaches a hover
    to every mark (it says how many) and nothing reaches the console."""
    for path in BUNDLED:
        protocol, schedule = planned(path, None)
        line = timeline(schedule, protocol)
        file = tmp_path / f"{path.stem}.html"
        file.write_text(timeline_html(line), encoding="utf-8")
        page = open_page(file, tmp_path / f"profile-{path.stem}")
        assert page.console == [], path.name
        assert f'data-ready="{len(line.marks)}"' in page.dom, path.name
        assert f"any of the {len(line.marks)} marks" in page.dom, path.name


def test_scanner_session_shows_every_volume_and_the_dummies():
    """A scanner session has a volume lane: the dummy volumes before 0, then one volume per
    TR up to the end; a session outside the scanner has none."""
    protocol, schedule = planned(REPO / "protocols" / "aversive_pavlovian_fmri.yaml", "scan")
    line = timeline(schedule, protocol)
    tr, dummies = protocol.scanner.tr, protocol.scanner.dummy_volumes
    assert line.tr == tr
    assert line.volumes[:dummies] == tuple(-tr * k for k in range(dummies, 0, -1))
    assert len(line.volumes) == dummies + math.floor(schedule.duration / tr) + 1
    assert line.lanes[-1] == "scanner"
    figure = timeline_figure(line)
    assert [c.get_gid() for c in figure.axes[0].collections] == ["volumes"]
    protocol, schedule = planned(REPO / "protocols" / "retrieval_extinction.yaml", "day1")
    assert timeline(schedule, protocol).volumes == ()
    assert "scanner" not in timeline(schedule, protocol).lanes


def test_waits_are_labelled_with_their_length():
    """The 10-minute reconsolidation wait is a screen mark that says how long it lasts."""
    protocol = load_protocol(REPO / "protocols" / "retrieval_extinction.yaml")
    protocol = protocol.for_arm("reminder_10min")  # 07's own arm waits 6 h
    schedule = build_schedule(protocol, "07", "day2")
    line = timeline(schedule, protocol)
    waits = [m for m in line.lane_marks("screens") if "wait" in m.info]
    assert [m.label for m in waits] == ["wait 600 s"]
    figure = timeline_figure(line)
    assert "wait 600 s" in {t.get_text() for t in figure.axes[0].texts}


def test_svg_has_an_element_per_mark_and_is_reproducible():
    """The SVG gives every mark an element with its id, and the same schedule gives the
    same bytes."""
    protocol, schedule = planned(REPO / "protocols" / "fear_extinction_recall.yaml", "day2")
    svg = render(schedule, protocol, "svg").decode()
    line = timeline(schedule, protocol)
    for mark in line.marks:
        assert f'id="{mark.id}"' in svg
    assert render(schedule, protocol, "svg").decode() == svg


def test_render_refuses_an_unknown_format():
    """An unknown format is a ValueError naming the formats (the CLI checks it first)."""
    protocol, schedule = planned(BUNDLED[0], None)
    with pytest.raises(ValueError, match="expected one of png, svg, html, got 'pdf'"):
        render(schedule, protocol, "pdf")
