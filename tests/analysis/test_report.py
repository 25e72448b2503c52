"""Tests of pavlov.analysis.report: generated methods checklist and HTML."""

from __future__ import annotations

import pandas as pd

from pavlov.analysis.load import load_ratings, load_sessions, load_trials
from pavlov.analysis.report import describe_design, describe_methods, render_report, write_text


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
    provenance = " ".join(sections["Provenance, devices and timing"])
    assert "4 run log(s) from 3 participant(s)" in provenance
    assert '{"shock": "simulated"}' in provenance
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
