"""Tests of pavlov.analysis.indices: extinction, return-of-fear and reversal indices."""

from __future__ import annotations

import numpy as np
import pytest

from pavlov.analysis.errors import AnalysisError
from pavlov.analysis.indices import compute_indices, phase_roles, reversal_index
from pavlov.analysis.load import load_trials
from pavlov.analysis.stats import one_sample_t
from pavlov.analysis.table import read_table


def test_phase_roles_from_types(bids_data):
    """Acquisition, extinction and test phases are found from phase types."""
    roles = phase_roles(load_trials(bids_data))
    assert (roles.acquisition, roles.extinction, roles.tests) == (
        "acquisition",
        "extinction",
        ("recall",),
    )


def test_unknown_phase_is_one_line_with_suggestion(bids_data):
    """A misspelt phase name is refused with the valid names and a suggestion."""
    with pytest.raises(AnalysisError, match=r"got 'extintion'. Did you mean 'extinction'\?$"):
        phase_roles(load_trials(bids_data), extinction="extintion")


def test_indices_on_synthetic_logs(bids_data):
    """Indices follow their definitions on known ratings (participant 10: full learner)."""
    trials = load_trials(bids_data)
    out = compute_indices(trials, "rating", k=1).set_index("participant")
    ten = out.loc["10"]
    # last acquisition: CS+ 8, CS- 2; last extinction: CS+ 3.5, CS- 3; recall: 8 vs 2.
    assert ten["d_acquisition_last"] == 6
    assert ten["d_extinction_last"] == 0.5
    assert ten["d_test_first"] == 6
    assert ten["extinction_index"] == 5.5
    assert ten["rof_index"] == 5.5
    assert ten["recovery_ratio"] == 1
    assert out.loc["1", "test_phase"] == "recall"
    k2 = compute_indices(trials, "rating", k=2).set_index("participant")
    assert k2.loc["10", "d_extinction_last"] == pytest.approx((3.5 + 4.0) / 2 - 3)


def test_recovery_ratio_is_nan_for_zero_denominator(bids_data):
    """The recovery ratio is NaN when D(last acquisition) is 0, not inf."""
    trials = load_trials(bids_data)
    trials.loc[(trials["phase"] == "acquisition") & (trials["participant"] == "10"), "rating"] = 2.0
    out = compute_indices(trials, "rating").set_index("participant")
    assert np.isnan(out.loc["10", "recovery_ratio"])


def test_k_must_be_positive(bids_data):
    """k < 1 is refused in one line."""
    with pytest.raises(AnalysisError, match=r"^k: expected a whole number >= 1, got 0$"):
        compute_indices(load_trials(bids_data), "rating", k=0)


# Differential (CS+ − CS−) phase means from ReactExtMRI SOURCE.md's raw SCR table.
REACTEXT_D = {
    "CS+R": {"ext_late": -0.889 + 0.908, "EXT-RE": -0.886 + 0.811, "REN": -0.752 + 0.512},
    "CS+NR": {"ext_late": -0.818 + 0.908, "EXT-RE": -0.813 + 0.811, "REN": -0.901 + 0.512},
}


@pytest.mark.parametrize("role", ["CS+R", "CS+NR"])
def test_reactext_return_of_fear(reactext_table, role):
    """ROF (6 test trials − last 6 extinction trials) per CS+ matches SOURCE.md's means."""
    trials = read_table(reactext_table, response_name="scr")
    trials = trials[trials["cs"].isin([role, "CS-"])]
    out = compute_indices(trials, "scr", k=6)
    assert set(out["test_phase"]) == {"EXT-RE", "REN"}
    means = out.groupby("test_phase")[["d_extinction_last", "d_test_first", "rof_index"]].mean()
    ref = REACTEXT_D[role]
    for test in ("EXT-RE", "REN"):
        assert means.loc[test, "d_extinction_last"] == pytest.approx(ref["ext_late"], abs=0.0015)
        assert means.loc[test, "d_test_first"] == pytest.approx(ref[test], abs=0.0015)
        assert means.loc[test, "rof_index"] == pytest.approx(ref[test] - ref["ext_late"], abs=0.003)


def test_homan_reversal_index_reproduces_paper(homan_table):
    """Homan 2019: the reversal index over the paper's 54 IDs gives t(53) = 4.75 and the
    stored per-participant acq, rev and revlearn."""
    trials = read_table(homan_table.path, response_name="scrsqrtrc")
    out = reversal_index(trials, "scrsqrtrc").set_index("participant")
    paper = out.loc[homan_table.paper_ids]
    test = one_sample_t(paper["revlearn"].to_numpy())
    assert test["dof"] == 53
    assert round(test["T"], 2) == 4.75
    assert round(paper["acq"].mean(), 3) == 0.242
    assert round(paper["rev"].mean(), 3) == -0.121
    stored = homan_table.raw.drop_duplicates("id").set_index("id")
    stored = stored[["acq", "rev", "revlearn"]].add_suffix("_stored")
    both = out.join(stored).dropna()
    assert len(both) == 93
    assert np.allclose(both["revlearn"], both["revlearn_stored"], atol=1e-9)
    everyone = one_sample_t(out["revlearn"].to_numpy())
    assert (everyone["dof"], round(everyone["T"], 2)) == (92, 7.30)


def test_reversal_index_needs_stimulus(bids_data):
    """Without CS identities the reversal index cannot be computed (one line)."""
    trials = load_trials(bids_data).assign(stimulus="")
    with pytest.raises(AnalysisError, match=r"expected the CS identity in column 'stimulus'"):
        reversal_index(trials, "rating")
