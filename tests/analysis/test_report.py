"""Tests of pavlov.analysis.report: generated methods checklist and HTML."""

from __future__ import annotations

import pandas as pd
import pytest

from pavlov.analysis.load import load_ratings, load_sessions, load_trials
from pavlov.analysis.report import describe_design, describe_methods, render_report, write_text


@pytest.fixture(scope="module")
def two_days_sessions(simulate, tmp_path_factory):
    """Sidecars of one simulated participant's two fear_extinction_recall days."""
    root = tmp_path_factory.mktemp("report") / "data"
    for session in ("day1", "day2"):
        simulate.run(root, "fear_extinction_recall", "01", session, speed=40.0)
    return load_sessions(root)


def test_design_lines_give_counts_reinforcement_and_timing(bids_data):
    """Each phase line states trials per CS, reinforcement, CS duration, CS–US interval, ITI."""
    lines = describe_design(load_trials(bids_data))
    assert lines[0].startswith("acquisition (acquisition): CS+ 4 (2 reinforced, 50%), CS- 4")
    assert "CS duration 6.00 s" in lines[0]
    assert "CS–US interval" in lines[0]
    assert "ITI 10.00 s" in lines[0]
    assert lines[2].startswith("recall (recall): CS+ 2, CS- 2")


def test_methods_sections_cover_the_checklist(bids_data):
    """Sample, design, provenance, exclusions and options sections are generated."""
    trials = load_trials(bids_data)
    counts = pd.DataFrame(
        [{"flag": "us_nonresponder", "group": "", "flagged": 0, "unknown": 3, "total": 3}]
    )
    sections = dict(
        describe_methods(
            trials,
            sessions=load_sessions(bids_data),
            ratings=load_ratings(bids_data),
            options={"response": "rating"},
            counts=counts,
        )
    )
    assert sections["Sample"][0] == "3 participants, 60 CS trials."
    assert sections["Sample"][1] == "Groups: drug 1, placebo 2."
    assert any("missed" in line for line in sections["Sample"])
    lines = sections["Provenance, devices and timing"]
    provenance = " ".join(line for line in lines if isinstance(line, str))
    assert "4 run log(s) from 3 participant(s)" in provenance
    devices = lines[lines.index("Devices:") + 1]
    assert devices.to_dict("records") == [{"setting": "shock", "value": "simulated"}]
    assert "completed 4" in provenance
    assert sections["Exclusions"] == ["us_nonresponder: 0 of 3 flagged (3 could not be assessed)"]
    assert sections["Analysis options"] == ["response: rating"]


def test_render_escapes_and_embeds(tmp_path):
    """HTML escapes text, embeds figures by relative name, and writes atomically."""
    html = render_report(
        "a < b",
        [("Sample", ["x & y"])],
        figures=[("curves", "curves.png")],
        tables=[("t", pd.DataFrame({"a": [1.23456]}))],
        notes=["n"],
    )
    assert "<title>a &lt; b</title>" in html
    assert "x &amp; y" in html
    assert '<img src="curves.png"' in html
    assert "1.235" in html
    path = write_text(tmp_path / "r.html", html)
    assert path.read_text() == html
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]


def test_provenance_records_are_tables_not_json(two_days_sessions):
    """Devices and software versions are shown as setting/value tables, not JSON dicts."""
    from pavlov.analysis.report import describe_provenance

    lines = describe_provenance(two_days_sessions)
    devices = lines[lines.index("Devices:") + 1]
    assert isinstance(devices, pd.DataFrame)
    assert list(devices.columns) == ["setting", "value"]
    assert {"shock", "markers"} <= set(devices["setting"])
    html = render_report("t", [("Provenance", lines)])
    assert "{&quot;" not in html and '{"' not in html
    assert "<td>simulated</td>" in html


def test_distinct_records_get_a_column_each():
    """Runs with different device records: one column per record, with its run count."""
    from pavlov.analysis.report import describe_provenance

    sessions = pd.DataFrame(
        {
            "participant": ["01", "02", "03"],
            "session": ["1", "1", "1"],
            "devices": [{"shock": "serial:/dev/x"}, {"shock": "serial:/dev/x"}, {"shock": "sim"}],
        }
    )
    lines = describe_provenance(sessions)
    table = lines[lines.index("Devices:") + 1]
    assert list(table.columns) == ["setting", "record 1 (2 runs)", "record 2 (1 run)"]


def test_report_title_is_the_study(two_days_sessions):
    """The report is titled with the study's name, not the data folder's."""
    from pavlov.analysis.report import report_title

    title = report_title(two_days_sessions, None, "/somewhere/data")
    assert title == (
        "pavlov analysis: Fear acquisition, extinction and next-day recall with renewal and "
        "reinstatement"
    )


def test_report_loads_in_a_real_browser(bids_data, tmp_path, capsys):
    """`pavlov analyze`'s report.html opens in headless Chromium: the methods are on the
    page, nothing reaches the console (no blocked request, no script error), and every
    figure it shows is a file beside it."""
    import argparse

    from browser import open_page

    from pavlov.analysis.cli import register

    parser = argparse.ArgumentParser(prog="pavlov")
    register(parser.add_subparsers())
    out = tmp_path / "out"
    args = parser.parse_args(["analyze", str(bids_data), "--out", str(out)])
    assert args.func(args) == 0
    capsys.readouterr()
    page = open_page(out / "report.html", tmp_path / "profile")
    assert page.console == []
    assert "Design (from the logged trials)" in page.dom
    import re

    figures = re.findall(r'<img src="([^"]+)"', page.dom)
    assert "curves.png" in figures
    assert all((out / name).is_file() for name in figures)
