"""Tests of pavlov.analysis.exclusions: flags, counts, inclusion lists."""

from __future__ import annotations

import pandas as pd
import pytest

from pavlov.analysis.errors import AnalysisError
from pavlov.analysis.exclusions import exclusion_counts, flag_participants, included
from pavlov.analysis.load import load_trials
from pavlov.analysis.table import read_table


def test_abend_us_rule_excludes_nobody_at_50_percent(abend_table):
    """Abend 2022: the lowest share of US responses >= 0.02 µS is 0.62, so 50 % keeps all."""
    trials = read_table(abend_table, response_name="scr")
    flags = flag_participants(trials, "scr", us_threshold=0.02, us_min_share=0.5)
    assert round(flags["us_valid_share"].min(), 2) == 0.62
    assert not flags["us_nonresponder"].any()
    assert not flags["excluded"].any()
    strict = flag_participants(trials, "scr", us_min_share=0.7)
    assert strict["excluded"].sum() == (flags["us_valid_share"] < 0.7).sum() > 0


def test_nonlearner_flag_uses_last_acquisition_trials(bids_data):
    """Participant 2 (CS+ rated below CS-) is a non-learner; the flag excludes only if asked."""
    trials = load_trials(bids_data)
    flags = flag_participants(trials, "rating").set_index("participant")
    assert bool(flags.loc["2", "nonlearner"]) is True
    assert flags.loc["2", "nonlearner_d"] == pytest.approx(1.6 - 2.0)
    assert bool(flags.loc["10", "nonlearner"]) is False
    assert not flags["excluded"].any()
    assert pd.isna(flags.loc["2", "us_nonresponder"])  # no US responses in ratings-only logs
    strict = flag_participants(trials, "rating", criteria=("nonlearner",))
    assert included(strict) == ["1", "10"]


def test_missing_share_flag(bids_data):
    """Participants with too many missing responses are flagged."""
    trials = load_trials(bids_data)
    trials.loc[trials["participant"] == "10", "rating"] = float("nan")
    flags = flag_participants(trials, "rating", max_missing=0.5, criteria=("missing",))
    row = flags.set_index("participant").loc["10"]
    assert row["missing_share"] == 1.0
    assert bool(row["missing"]) and bool(row["excluded"])


def test_counts_overall_and_per_group(bids_data):
    """Counts list every flag overall and per group, with unknowns."""
    flags = flag_participants(load_trials(bids_data), "rating")
    counts = exclusion_counts(flags).set_index(["flag", "group"])
    assert counts.loc[("nonlearner", ""), "flagged"] == 1
    assert counts.loc[("nonlearner", "placebo"), "flagged"] == 1
    assert counts.loc[("us_nonresponder", ""), "unknown"] == 3
    assert counts.loc[("excluded", ""), "total"] == 3


def test_bad_options_are_one_line(bids_data):
    """Unknown criteria and shares outside 0–1 are refused with the allowed values."""
    trials = load_trials(bids_data)
    with pytest.raises(
        AnalysisError,
        match=r"criteria: expected any of us_nonresponder, nonlearner, missing, unaware, got 'nope'",
    ):
        flag_participants(trials, "rating", criteria=("nope",))
    with pytest.raises(
        AnalysisError, match=r"us_min_share: expected a share between 0 and 1, got 25"
    ):
        flag_participants(trials, "rating", us_min_share=25)


def _acquisition(values):
    """One participant's acquisition: (cs_type, reinforced, response) rows."""
    return pd.DataFrame(
        {
            "participant": "1",
            "group": "",
            "phase": "acquisition",
            "phase_type": "acquisition",
            "phase_order": 1,
            "cs": [v[0] for v in values],
            "cs_type": [v[0] for v in values],
            "cs_trial": [1, 1, 2, 2],
            "reinforced": [v[1] for v in values],
            "scr": [v[2] for v in values],
            "us_scr": [0.5 if v[1] else float("nan") for v in values],
        }
    )


def test_nonlearner_flag_ignores_reinforced_trials():
    """The last CS+ trial is reinforced (its SCR holds the US response): the non-learner D
    uses the last unreinforced CS+ trial, so a participant whose CR is below CS- is flagged."""
    trials = _acquisition(
        [("CS+", False, 0.1), ("CS-", False, 0.3), ("CS+", True, 1.5), ("CS-", False, 0.3)]
    )
    flags = flag_participants(trials, "scr", nonlearner_trials=1).iloc[0]
    assert flags["nonlearner_d"] == pytest.approx(0.1 - 0.3)
    assert bool(flags["nonlearner"]) is True


def test_participant_without_any_response_is_flagged_and_excluded(bids_data):
    """A participant with no response at all is flagged no_response and always excluded."""
    trials = load_trials(bids_data)
    trials.loc[trials["participant"] == "10", "rating"] = float("nan")
    flags = flag_participants(trials, "rating", criteria=()).set_index("participant")
    assert bool(flags.loc["10", "no_response"]) is True
    assert bool(flags.loc["10", "excluded"]) is True
    assert not flags.loc[["1", "2"], "excluded"].any()
    counts = exclusion_counts(flags.reset_index()).set_index(["flag", "group"])
    assert counts.loc[("no_response", ""), "flagged"] == 1
