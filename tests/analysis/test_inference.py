"""Tests of pavlov.analysis.inference: paired/Welch tests with CIs and effect sizes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from pavlov.analysis.inference import (
    MIN_N,
    group_index_tests,
    index_tests,
    paired_test,
    welch_test,
)


def test_paired_test_matches_scipy_and_gives_ci_and_dz():
    """t, p as scipy's ttest_rel; the CI is mean ± t(.975, n−1)·SE; d_z = mean/SD of differences."""
    rng = np.random.default_rng(1)
    a = rng.normal(1.0, 1.0, 15)
    b = a - rng.normal(0.4, 0.5, 15)
    result = paired_test(a, b)
    ref = sps.ttest_rel(a, b)
    d = a - b
    assert result["t"] == pytest.approx(ref.statistic)
    assert result["p"] == pytest.approx(ref.pvalue)
    half = sps.t.ppf(0.975, 14) * d.std(ddof=1) / np.sqrt(15)
    assert (result["ci_low"], result["ci_high"]) == pytest.approx(
        (d.mean() - half, d.mean() + half)
    )
    assert result["effect_size"] == pytest.approx(d.mean() / d.std(ddof=1))


def test_welch_test_matches_scipy_with_hedges_g():
    """t, df, p as Welch's test (scipy equal_var=False); Hedges' g on the pooled SD."""
    rng = np.random.default_rng(2)
    a, b = rng.normal(1, 1, 12), rng.normal(0, 2, 14)
    result = welch_test(a, b)
    ref = sps.ttest_ind(a, b, equal_var=False)
    assert result["t"] == pytest.approx(ref.statistic)
    assert result["p"] == pytest.approx(ref.pvalue)
    pooled = np.sqrt((11 * a.var(ddof=1) + 13 * b.var(ddof=1)) / 24)
    g = (a.mean() - b.mean()) / pooled * (1 - 3 / (4 * 26 - 9))
    assert result["effect_size"] == pytest.approx(g)


def test_small_cells_get_no_test():
    """Below MIN_N participants: estimate and effect size kept, no t, CI or p, a note."""
    result = paired_test(np.arange(MIN_N - 1.0), np.zeros(MIN_N - 1))
    assert result["difference"] == pytest.approx(np.mean(np.arange(MIN_N - 1.0)))
    assert "p" not in result and "t" not in result
    assert result["note"] == f"n = {MIN_N - 1} < {MIN_N}: no test"


def _indices(n_per_group=12, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for group, recovery in (("drug", 0.1), ("placebo", 0.8)):
        for i in range(n_per_group):
            acq = rng.normal(1.0, 0.3)
            ext = rng.normal(0.1, 0.2)
            test = ext + recovery + rng.normal(0, 0.2)
            rows.append(
                {
                    "participant": f"{group}{i}",
                    "group": group,
                    "test_phase": "recall",
                    "d_acquisition_last": acq,
                    "d_extinction_last": ext,
                    "d_test_first": test,
                    "extinction_index": acq - ext,
                    "rof_index": test - ext,
                }
            )
    return pd.DataFrame(rows)


def test_index_tests_and_group_comparison():
    """Extinction and return of fear are paired tests of the D terms; the groups' return-of-fear
    indices differ (drug 0.1 vs placebo 0.8) in a Welch test with a CI excluding 0."""
    indices = _indices()
    tests = index_tests(indices).set_index("index")
    assert set(tests.index) == {"extinction", "return_of_fear"}
    rof = tests.loc["return_of_fear"]
    assert rof["difference"] == pytest.approx(indices["rof_index"].mean())
    assert rof["n"] == 24 and rof["p"] < 0.001 and rof["effect"] == "d_z"
    groups = group_index_tests(indices).set_index("index")
    between = groups.loc["rof_index"]
    assert between["comparison"] == "drug vs placebo"
    assert between["difference"] < 0 and between["ci_high"] < 0 and between["p"] < 0.001
    assert between["effect"] == "hedges_g"
