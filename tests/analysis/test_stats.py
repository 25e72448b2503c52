"""Tests of pavlov.analysis.stats against the published reference numbers (analysis.md §7)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pavlov.analysis.errors import AnalysisError
from pavlov.analysis.stats import (
    anova_by_phase,
    group_by_phase,
    mixed_anova,
    paired_t,
    rm_anova,
)
from pavlov.analysis.table import read_table


@pytest.fixture(scope="module")
def abend(abend_table):
    return read_table(abend_table, response_name="scr")


def test_abend_acquisition_rm_anova_matches_reference(abend):
    """CS × trial rm-ANOVA on √SCR in acquisition reproduces the published table."""
    table = anova_by_phase(abend, "scr", by="trial")
    acq = table[table["phase"] == "Conditioning"].set_index("source")
    cs, trial, inter = acq.loc["cs"], acq.loc["trial"], acq.loc["cs * trial"]
    assert (cs["ddof1"], cs["ddof2"], round(cs["F"], 2)) == (1, 37, 17.29)
    assert round(cs["p_unc"], 4) == 0.0002
    assert round(cs["ng2"], 4) == 0.0145
    assert (trial["ddof1"], trial["ddof2"], round(trial["F"], 2)) == (9, 333, 7.27)
    assert round(trial["eps"], 3) == 0.658
    assert (inter["ddof1"], inter["ddof2"], round(inter["F"], 2)) == (9, 333, 4.41)
    assert round(inter["p_GG_corr"], 4) == 0.0003
    assert round(inter["eps"], 3) == 0.684
    assert list(dict.fromkeys(table["phase"])) == ["Pre-conditioning", "Conditioning", "Extinction"]


def test_abend_paired_t_matches_reference(abend):
    """Paired t on participant CS means in acquisition: t(37) = 4.16, d = 0.40."""
    acq = abend[abend["phase"] == "Conditioning"]
    means = acq.groupby(["participant", "cs_type"])["scr"].mean().unstack()
    result = paired_t(means["CS+"], means["CS-"])
    assert (result["dof"], round(result["T"], 2), round(result["cohen_d"], 2)) == (37, 4.16, 0.40)
    assert round(result["p_val"], 5) == 0.00018


def test_abend_mixed_model_finds_cs_effect(abend):
    """The trial-level mixed model on acquisition gives a significant CS effect."""
    from pavlov.analysis.mixed import phase_model

    fit = phase_model(abend, "scr", "Conditioning").set_index("term")
    cs = fit.loc["cs"]
    assert cs["estimate"] > 0
    assert cs["p"] < 0.001
    assert fit["n_participants"].iloc[0] == 38
    assert fit["n_obs"].iloc[0] == 760


def test_rm_anova_one_factor_equals_paired_t_squared():
    """With two levels, the rm-ANOVA F equals the paired t squared, and ε = 1."""
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=12), rng.normal(0.5, 1, size=12)
    data = pd.DataFrame(
        {"s": np.tile(np.arange(12), 2), "cs": ["p"] * 12 + ["m"] * 12, "y": np.r_[a, b]}
    )
    table = rm_anova(data, "y", "cs", "s")
    assert table["F"].iloc[0] == pytest.approx(paired_t(a, b)["T"] ** 2)
    assert table["eps"].iloc[0] == 1


def test_rm_anova_drops_incomplete_subjects():
    """Subjects missing a cell are left out (listwise), and n says how many were used."""
    data = pd.DataFrame(
        {"s": [1, 1, 2, 2, 3], "cs": ["p", "m"] * 2 + ["p"], "y": [1, 0, 2, 0.5, 9]}
    )
    assert rm_anova(data, "y", ["cs"], "s")["n"].iloc[0] == 2
    with pytest.raises(AnalysisError, match=r"expected 2 or more subjects with every cell, got 1"):
        rm_anova(data[data["s"] != 2], "y", ["cs"], "s")


def test_mixed_anova_interaction_equals_welch_free_t():
    """Group × CS (2 × 2): the interaction F equals the squared pooled t of the differences."""
    from scipy import stats as sps

    rng = np.random.default_rng(2)
    n = 10
    plus = rng.normal(size=2 * n) + np.r_[np.zeros(n), np.ones(n)]
    minus = rng.normal(size=2 * n)
    data = pd.DataFrame(
        {
            "s": np.tile(np.arange(2 * n), 2),
            "g": np.tile(np.r_[["a"] * n, ["b"] * n], 2),
            "cs": ["p"] * (2 * n) + ["m"] * (2 * n),
            "y": np.r_[plus, minus],
        }
    )
    table = mixed_anova(data, "y", "cs", "g", "s").set_index("source")
    diff = plus - minus
    t = sps.ttest_ind(diff[:n], diff[n:]).statistic
    assert table.loc["g * cs", "F"] == pytest.approx(t**2)
    assert table.loc["g * cs", "ddof2"] == 2 * n - 2


def test_group_by_phase_on_a_two_group_table(youth_table):
    """Healthy vs anxious youth: a group × CS table for each of the three phases."""
    table = group_by_phase(read_table(youth_table, response_name="scr"), "scr")
    assert len(table) == 9
    acq = table[table["phase"] == "Conditioning"].set_index("source")
    assert acq.loc["cs", "p_unc"] < 0.001
    assert acq.loc["group", "ddof2"] == 36
