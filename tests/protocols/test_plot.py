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
from pavlov.protocols.plot import (
    PROBE_COLOUR,
    render,
    timeline,
    timeline_figure,
    timeline_html,
)

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
    others = [e for e in schedule.events if e.kind in ("instructions", "wait", "rest", "script")]
    assert len(line.lane_marks("screens")) == len(others)
    items = [e for e in schedule.events if e.kind == "questionnaire"]
    assert [m.label for m in line.lane_marks("questions")] == [e.item for e in items]
    assert ("questions" in line.lanes) == bool(items)
    assert len(line.lane_marks("probes")) == len(schedule.probes)
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


def _rgb(colour: str) -> tuple[int, ...]:
    return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))


def test_generalisation_stimuli_are_coloured_in_continuum_order():
    """In fear_generalisation.yaml's picture every role has its own colour (GS1 is not the
    CS−'s blue), and the GS colours go step by step from the CS+ colour towards the CS−
    colour: each is further from the CS+ and closer to the CS− than the one before."""
    protocol, schedule = planned(REPO / "protocols" / "fear_generalisation.yaml", "day1")
    roles = timeline(schedule, protocol).roles
    order = ["CS+", "GS1", "GS2", "GS3", "GS4", "CS-"]
    assert list(roles) == order
    assert len(set(roles.values())) == len(order)
    plus, minus = _rgb(roles["CS+"]), _rgb(roles["CS-"])
    to_plus = [math.dist(_rgb(roles[r]), plus) for r in order]
    to_minus = [math.dist(_rgb(roles[r]), minus) for r in order]
    assert to_plus == sorted(to_plus) and len(set(to_plus)) == len(order)
    assert to_minus == sorted(to_minus, reverse=True) and len(set(to_minus)) == len(order)


def test_questionnaire_items_have_their_own_lane_and_say_what_they_ask():
    """trace_conditioning.yaml's debrief is a lane of its own (not grey screens): one mark
    per item with its id, form and question on hover; the picture choice lists this
    participant's pictures left to right, the choice item its texts, and an item about a
    CS takes that role's colour."""
    protocol, schedule = planned(REPO / "protocols" / "trace_conditioning.yaml", "day1")
    line = timeline(schedule, protocol)
    assert line.lanes == ("US", "CS", "rating", "questions", "screens")
    marks = {m.label: m for m in line.lane_marks("questions")}
    assert list(marks) == [
        "us_unpleasant", "aware", "noise_time", "valence_csplus", "valence_csminus",
    ]  # fmt: skip
    assert marks["aware"].info["question"] == "aware (picture choice)"
    assert marks["aware"].info["text"].startswith("Which of these squares")
    event = next(e for e in schedule.events if e.item == "aware")
    cell = schedule.cell.cs
    assert marks["aware"].info["pictures"] == ", ".join(
        f"{role} ({cell[role]})" for role in event.choices
    )
    assert marks["noise_time"].info["choices"] == (
        "while the square was shown / after the square had gone / never"
    )
    assert marks["valence_csplus"].colour == line.roles["CS+"]
    assert marks["valence_csminus"].colour == line.roles["CS-"]
    assert marks["valence_csplus"].info["about"] == f"CS+ ({cell['CS+']})"
    assert not any(m.info.get("questionnaire") for m in line.lane_marks("screens"))


def test_labels_are_drawn_only_where_they_fit():
    """In every bundled session's picture, no two labels written on marks overlap
    (fear_extinction_recall's two 30-s debrief items drew 'questionnaire 30 s' over each
    other) and each label lies inside its own mark."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    checked = 0
    for path, session in SESSIONS:
        protocol, schedule = planned(path, session)
        figure = timeline_figure(timeline(schedule, protocol))
        renderer = FigureCanvasAgg(figure).get_renderer()
        ax = figure.axes[0]
        labels = [t for t in ax.texts if t.get_zorder() == 4]  # on marks, not phase names
        boxes = [t.get_window_extent(renderer) for t in labels]
        for i, a in enumerate(boxes):
            assert not any(a.overlaps(b) for b in boxes[i + 1 :]), (path.stem, session)
        for text, box in zip(labels, boxes):
            x, y = text.get_position()
            (mark,) = [
                p for p in ax.patches
                if (p.get_gid() or "").startswith(("screen-", "question-"))
                and p.get_x() <= x <= p.get_x() + p.get_width()
                and p.get_y() <= y <= p.get_y() + p.get_height()
            ]  # fmt: skip
            outline = mark.get_window_extent(renderer)
            assert outline.x0 - 1 <= box.x0 and box.x1 <= outline.x1 + 1, text.get_text()
            checked += 1
    assert checked >= 3  # the long waits and rests are still labelled


def test_probes_in_a_cs_take_its_colour_and_probes_alone_are_grey():
    """A probe in a trial is drawn in its role's colour, a probe alone (ITI, habituation) in
    grey, and the legend names the grey one."""
    protocol, schedule = planned(REPO / "protocols" / "fear_generalisation.yaml", "day1")
    line = timeline(schedule, protocol)
    for mark, probe in zip(line.lane_marks("probes"), schedule.probes):
        expected = line.roles[probe.cs] if probe.trial is not None else PROBE_COLOUR
        assert mark.colour == expected
    assert {p.trial is None for p in schedule.probes} == {True, False}
    legend = [t.get_text() for t in timeline_figure(line).axes[0].get_legend().get_texts()]
    assert legend[-1] == "probe alone"
