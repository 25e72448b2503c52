"""Generalisation gradients: positions from GS roles, exact gradients and linear deviation
scores, GS kept out of the CS− curves, and `pavlov analyze` end to end on a GS table."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from pavlov.analysis.curves import participant_curves
from pavlov.analysis.errors import AnalysisError, TableError
from pavlov.analysis.gradient import (
    gradient_scores,
    group_gradient,
    gs_positions,
    participant_gradient,
)
from pavlov.analysis.load import load_trials
from pavlov.analysis.table import read_table

#: Responses of participant 1 by role; participant 2 is the same plus 2 (parallel).
PROFILE = {"CS+": 10.0, "GS1": 9.0, "GS2": 7.0, "GS3": 5.0, "CS-": 2.0}


def gs_table(tmp_path, profile=PROFILE, people=2, repeats=2):
    """A trial table of a generalisation test: every role ``repeats`` times per person."""
    rows = []
    for person in range(1, people + 1):
        trial = 0
        for _ in range(repeats):
            for role, value in profile.items():
                trial += 1
                rows.append(
                    {
                        "participant": person,
                        "phase": "test",
                        "trial": trial,
                        "cs": role,
                        "us": 0,
                        "response": value + 2 * (person - 1),
                    }
                )
        for t, role in enumerate(("CS+", "CS-") * 2, start=1):
            rows.append(
                {
                    "participant": person,
                    "phase": "acq",
                    "trial": t,
                    "cs": role,
                    "us": int(role == "CS+"),
                    "response": 8.0 if role == "CS+" else 1.0,
                }
            )
    path = tmp_path / "gs.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_positions_are_the_gs_numbers():
    """GS1..GSn are positions 1..n; a lone GS is 1; CS-GS2 is position 2."""
    assert gs_positions(["GS3", "GS1", "CS-GS2"]) == {"GS3": 3, "GS1": 1, "CS-GS2": 2}
    assert gs_positions(["GS"]) == {"GS": 1}


@pytest.mark.parametrize("roles", [["GS", "GS2"], ["GS", "CS-GS"], ["GS0"], ["morph3"]])
def test_positions_that_would_be_a_guess_are_refused(roles):
    """An unnumbered GS beside others, GS0, or a non-GS role is one clear error."""
    with pytest.raises(AnalysisError, match="cs: expected"):
        gs_positions(roles)


def test_table_roles_gs_become_cs_type_gs(tmp_path):
    """A table's GS roles without a cs_type column get cs_type GS."""
    trials = read_table(gs_table(tmp_path))
    assert set(trials.loc[trials["cs"].str.startswith("GS"), "cs_type"]) == {"GS"}
    assert set(trials.loc[trials["cs"] == "CS-", "cs_type"]) == {"CS-"}


def test_a_gs_cs_type_with_a_cs_role_is_refused(tmp_path):
    """cs_type GS on a role that is not a GS role names the row and column."""
    path = tmp_path / "bad.csv"
    path.write_text("participant,phase,trial,cs_type,cs,us,response\n1,test,1,GS,CS+1,0,3\n")
    with pytest.raises(TableError, match="cs"):
        read_table(path)


def test_gradient_by_position_is_exact(tmp_path):
    """Each position's mean is the role's value; parallel participants have a zero-width
    within-subject CI; distances run 0 (CS+) to 1 (CS−)."""
    per = participant_gradient(read_table(gs_table(tmp_path)), "rating")
    assert set(per["phase"]) == {"test"}
    one = per[per["participant"] == "1"]
    assert one["cs"].tolist() == ["CS+", "GS1", "GS2", "GS3", "CS-"]
    assert one["value"].tolist() == list(PROFILE.values())
    assert one["distance"].tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    group = group_gradient(per)
    assert group["mean"].tolist() == [v + 1 for v in PROFILE.values()]
    assert group["n"].tolist() == [2] * 5
    assert group["ci_high"].to_numpy() - group["ci_low"].to_numpy() == pytest.approx(0, abs=1e-9)


def test_linear_deviation_and_slope_are_exact(tmp_path):
    """GS 9, 7, 5 against the line from 10 to 2 (8, 6, 4): deviation 1; slope −8 per
    continuum (least squares over the five points)."""
    scores = gradient_scores(participant_gradient(read_table(gs_table(tmp_path)), "rating"))
    one = scores[scores["participant"] == "1"].iloc[0]
    assert one["linear_deviation"] == pytest.approx(1.0)
    assert one["slope"] == pytest.approx(-8.0)
    assert one["n_gs"] == 3
    assert one["gs_mean"] == pytest.approx(7.0)


def test_a_linear_gradient_has_no_deviation(tmp_path):
    """Responses on the CS+–CS− line give a linear deviation score of 0."""
    line = {"CS+": 8.0, "GS1": 6.0, "GS2": 4.0, "GS3": 2.0, "CS-": 0.0}
    scores = gradient_scores(participant_gradient(read_table(gs_table(tmp_path, line)), "rating"))
    assert scores["linear_deviation"].tolist() == pytest.approx([0.0, 0.0])


def test_gs_logged_under_a_cs_minus_role_is_not_pooled_with_cs_minus(tmp_path, logs):
    """A CS-GS role logged as CS− (as pavlov logs it today) is kept out of the CS− curve."""
    trials = [("CS+", False, 9.0), ("CS-", False, 1.0), ("CS-GS", False, 5.0)] * 2
    rows = logs.make_events([("test", "recall", trials)])
    assert {r["cs_type"] for r in rows if r.get("cs") == "CS-GS"} == {"CS-"}
    loaded = load_trials(logs.write_log(tmp_path / "data", "1", rows))
    assert set(loaded.loc[loaded["cs"] == "CS-GS", "cs_type"]) == {"GS"}
    curves = participant_curves(loaded, "rating", by="block")
    minus = curves.loc[curves["cs_type"] == "CS-", "value"]
    assert minus.tolist() == [1.0]
    roles = participant_curves(loaded, "rating", by="block", level="cs")
    assert "CS-GS" not in set(roles["cs"])
    per = participant_gradient(loaded, "rating")
    assert per["cs"].tolist() == ["CS+", "GS1", "CS-"]
    assert per["value"].tolist() == [9.0, 5.0, 1.0]


def test_analyze_writes_the_gradient_end_to_end(tmp_path):
    """`pavlov analyze` on a GS table writes gradient.csv, scores and a figure, and its CS−
    curves hold the CS− trials only."""
    path = gs_table(tmp_path, people=3)
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "pavlov.task.cli", "analyze", str(path), "--out", str(out),
         "--models"],
        env=dict(os.environ, HOME=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    gradient = pd.read_csv(out / "gradient.csv", keep_default_na=False)
    assert gradient["cs"].tolist() == ["CS+", "GS1", "GS2", "GS3", "CS-"]
    assert gradient["mean"].tolist() == [v + 2 for v in PROFILE.values()]
    scores = pd.read_csv(out / "gradient_scores.csv")
    assert scores["linear_deviation"].to_numpy() == pytest.approx(np.ones(3))
    curves = pd.read_csv(out / "curves_by_block.csv", keep_default_na=False)
    test_minus = curves[(curves["phase"] == "test") & (curves["cs_type"] == "CS-")]
    assert test_minus["mean"].tolist() == [PROFILE["CS-"] + 2]
    assert (out / "gradient.png").stat().st_size > 10_000
    assert (out / "gradient.svg").read_text().count("GS2") >= 1
    report = (out / "report.html").read_text()
    assert "Generalisation gradient" in report and 'src="gradient.png"' in report


def test_gradient_after_exclusions_leaves_the_excluded_out(tmp_path):
    """With a participant excluded (`--exclude missing`: participant 3 gave no acquisition
    response), gradient.csv still averages all three and says so (n 3), and
    gradient_after_exclusions.csv averages the two kept (n 2, their exact means); without
    an exclusion the file is not written."""
    path = gs_table(tmp_path, people=3)
    table = pd.read_csv(path)
    gone = (table["participant"] == 3) & (table["phase"] == "acq")
    table.loc[gone, "response"] = np.nan
    table.to_csv(path, index=False)
    out = tmp_path / "out"
    assert analyze(path, out, "--exclude", "missing", "--max-missing", "0.2") == 0
    everyone = pd.read_csv(out / "gradient.csv", keep_default_na=False)
    assert set(everyone["n"]) == {3}
    assert everyone["mean"].tolist() == [v + 2 for v in PROFILE.values()]
    kept = pd.read_csv(out / "gradient_after_exclusions.csv", keep_default_na=False)
    assert kept["cs"].tolist() == list(PROFILE) and set(kept["n"]) == {2}
    assert kept["mean"].tolist() == [v + 1 for v in PROFILE.values()]  # participants 1, 2
    assert "The same after exclusions" in (out / "report.html").read_text()
    again = tmp_path / "again"
    assert analyze(path, again) == 0
    assert not (again / "gradient_after_exclusions.csv").exists()


def analyze(data, out, *extra: str, figures: bool = False) -> int:
    """`pavlov analyze DATA --out OUT` in process, without model fits (and without figures
    unless ``figures``)."""
    import argparse

    from pavlov.analysis.cli import register

    parser = argparse.ArgumentParser(prog="pavlov")
    register(parser.add_subparsers())
    no_figures = [] if figures else ["--no-figures"]
    args = parser.parse_args(
        ["analyze", str(data), "--out", str(out), "--models", *no_figures, *extra]
    )
    return args.func(args)


def test_gradient_figure_after_exclusions_is_drawn_and_reported_only_with_an_exclusion(tmp_path):
    """With participant 3 excluded, analyze draws gradient_after_exclusions.png/.svg/.pdf
    whose panel says n = 2 (the kept) and lists it in the report; without an exclusion it
    draws none."""
    path = gs_table(tmp_path, people=3)
    table = pd.read_csv(path)
    table.loc[(table["participant"] == 3) & (table["phase"] == "acq"), "response"] = np.nan
    table.to_csv(path, index=False)
    out = tmp_path / "out"
    assert analyze(path, out, "--exclude", "missing", "--max-missing", "0.2", figures=True) == 0
    for suffix in ("png", "svg", "pdf"):
        assert (out / f"gradient_after_exclusions.{suffix}").stat().st_size > 1_000
    svg = (out / "gradient_after_exclusions.svg").read_text()
    assert "n = 2" in svg and "n = 3" in (out / "gradient.svg").read_text()
    assert 'src="gradient_after_exclusions.png"' in (out / "report.html").read_text()
    again = tmp_path / "again"
    assert analyze(path, again, figures=True) == 0
    assert (again / "gradient.png").exists()
    assert not list(again.glob("gradient_after_exclusions.*"))


def test_gradient_figure_draws_the_group_means_at_their_positions(tmp_path):
    """plot_gradient draws one line per phase through the group means, ticks named CS+,
    GS1 ... CS−."""
    from pavlov.analysis.figures import plot_gradient

    group = group_gradient(participant_gradient(read_table(gs_table(tmp_path)), "rating"))
    fig = plot_gradient(group, "rating")
    (ax,) = fig.axes
    (line,) = ax.lines
    assert line.get_xdata().tolist() == [0, 1, 2, 3, 4]
    assert line.get_ydata().tolist() == [v + 1 for v in PROFILE.values()]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(PROFILE)
