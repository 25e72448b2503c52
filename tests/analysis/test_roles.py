"""Role-level results: a within-subject reminder design (CS+R, CS+NR, CS-) analysed by role."""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import pytest

from pavlov.analysis.cli import register
from pavlov.analysis.curves import participant_curves
from pavlov.analysis.indices import role_indices
from pavlov.analysis.inference import role_contrasts
from pavlov.analysis.load import load_trials


def analyze(*argv):
    parser = argparse.ArgumentParser(prog="pavlov")
    register(parser.add_subparsers())
    args = parser.parse_args(["analyze", *map(str, argv)])
    return args.func(args)


@pytest.fixture
def reminder_logs(tmp_path, logs):
    """Twelve simulated sessions of a Schiller-2010-style within-subject design: the reminded
    CS+R does not recover at test, the non-reminded CS+NR does (ratings, with noise)."""
    make_events, write_log = logs.make_events, logs.write_log
    root = tmp_path / "reminder"
    rng = np.random.default_rng(11)
    for number in range(1, 13):
        level = {"CS+R": 7.5, "CS+NR": 7.5, "CS-": 2.0}
        test = {"CS+R": 2.5, "CS+NR": 6.5, "CS-": 2.0}

        def rate(value):
            return float(np.clip(np.round(value + rng.normal(0, 0.6), 1), 0, 10))

        acquisition = [
            (role, role != "CS-" and i % 2 == 0, rate(level[role]))
            for i in range(4)
            for role in ("CS+R", "CS+NR", "CS-")
        ]
        reminder = [("CS+R", False, rate(7.0))]
        extinction = [
            (role, False, rate(2.0 + (level[role] - 2.0) * (0.6**i)))
            for i in range(1, 5)
            for role in ("CS+R", "CS+NR", "CS-")
        ]
        recall = [(role, False, rate(test[role])) for _ in range(2) for role in test]
        rows = make_events(
            [
                ("acquisition", "acquisition", acquisition),
                ("reminder", "reactivation", reminder),
                ("extinction", "extinction", extinction),
                ("recall", "recall", recall),
            ],
            seed=number,
        )
        write_log(root, f"{number:02d}", rows)
    return root


def test_role_curves_keep_each_cs_plus_role(reminder_logs):
    """By role, CS+R and CS+NR get their own curves and differences from CS-."""
    trials = load_trials(reminder_logs)
    per = participant_curves(trials, "rating", by="trial", level="cs")
    recall = per[(per["phase"] == "recall") & (per["trial"] == 1)]
    means = recall.groupby("cs")["value"].mean()
    assert set(means.index) == {"CS+R", "CS+NR", "CS-", "diff:CS+R", "diff:CS+NR"}
    assert means["diff:CS+NR"] > 3 > 1 > means["diff:CS+R"]
    assert means["diff:CS+R"] == pytest.approx(means["CS+R"] - means["CS-"])


def test_role_contrast_tests_reminded_vs_non_reminded(reminder_logs):
    """The role contrast at the first test trials separates CS+R from CS+NR (paired t, CI)."""
    trials = load_trials(reminder_logs)
    roles = role_indices(trials, "rating", k=1)
    assert set(roles["cs"]) == {"CS+R", "CS+NR"}
    table = role_contrasts(roles).set_index("index")
    first = table.loc["d_test_first"]
    assert first["comparison"] == "(CS+R − CS-) vs (CS+NR − CS-)"
    assert first["n"] == 12
    assert first["difference"] < -3 and first["ci_high"] < 0 and first["p"] < 0.001
    assert first["effect"] == "d_z"


def test_analyze_writes_role_results(reminder_logs, tmp_path):
    """`pavlov analyze` of the reminder sessions writes per-role curves, ANOVA, indices,
    contrasts and a role figure, and the report shows them."""
    out = tmp_path / "out"
    assert analyze(reminder_logs, "--out", out, "--models", "rw", "--n-starts", "2") == 0
    curves = pd.read_csv(out / "role_curves_by_block.csv")
    assert {"CS+R", "CS+NR", "CS-", "diff:CS+R", "diff:CS+NR"} <= set(curves["cs"])
    assert "sem_within" in curves.columns
    anova = pd.read_csv(out / "anova_roles.csv")
    assert "recall" in set(anova["phase"])
    contrasts = pd.read_csv(out / "role_contrasts.csv")
    row = contrasts[contrasts["index"] == "rof_index"].iloc[0]
    assert row["p"] < 0.01
    indices = pd.read_csv(out / "role_indices.csv")
    assert len(indices) == 24
    assert (out / "curves_by_role.png").stat().st_size > 0
    html = (out / "report.html").read_text()
    assert "CS+ roles compared" in html and "curves_by_role.png" in html


def test_return_of_fear_mixed_model_on_the_trial_ends(reminder_logs, tmp_path):
    """--mixed-across extinction recall --mixed-ends 1: one CS × phase model on the last
    extinction and first test trial of each role; the CS+ − CS− difference grows (return of
    fear of CS+NR), with Satterthwaite df."""
    out = tmp_path / "out"
    args = ["--models", "--mixed-across", "extinction", "recall", "--mixed-ends", "1"]
    assert analyze(reminder_logs, "--out", out, *args) == 0
    table = pd.read_csv(out / "mixed_model.csv")
    across = table[table["phase"] == "extinction+recall"].set_index("term")
    assert across["n_obs"].iloc[0] == 12 * 6
    assert across["n_participants"].iloc[0] == 12
    row = across.loc["cs:phase[recall]"]
    assert row["estimate"] > 1 and row["p"] < 0.05 and 5 < row["df"] < 72
