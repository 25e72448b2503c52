"""The t and F tails and quantiles that the statistics use, checked against scipy.stats."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from pavlov.analysis.distributions import f_sf, t_ppf, t_sf, t_test


@pytest.mark.parametrize("df", [1, 2.5, 9, 29, 999])
def test_t_tail_and_quantile_equal_scipy_stats(df):
    """t_sf and t_ppf give scipy.stats.t's values over a range of statistics and probabilities."""
    for t in (-8.0, -1.3, 0.0, 0.7, 2.1, 40.0):
        assert t_sf(t, df) == pytest.approx(sps.t.sf(t, df), rel=1e-12, abs=1e-300)
    for q in (0.025, 0.5, 0.9, 0.975, 0.999):
        assert t_ppf(q, df) == pytest.approx(sps.t.ppf(q, df), rel=1e-10)


@pytest.mark.parametrize(("df1", "df2"), [(1, 9), (2, 38), (1.4, 26.6), (5, 500)])
def test_f_tail_equals_scipy_stats(df1, df2):
    """f_sf gives scipy.stats.f.sf, also at the fractional degrees of a Greenhouse–Geisser correction."""
    for f in (0.0, 0.5, 1.0, 3.9, 25.0):
        assert f_sf(f, df1, df2) == pytest.approx(sps.f.sf(f, df1, df2), rel=1e-12, abs=1e-300)


def test_t_test_equals_ttest_1samp_and_its_edge_cases():
    """t_test gives ttest_1samp's statistic and p, ±inf with p 0 without spread, NaN at the mean."""
    rng = np.random.default_rng(3)
    for n in (2, 5, 40):
        values = rng.normal(0.3, 1.0, n)
        expected = sps.ttest_1samp(values, 0.1)
        t, p = t_test(values, 0.1)
        assert t == pytest.approx(expected.statistic, rel=1e-12)
        assert p == pytest.approx(expected.pvalue, rel=1e-10)
    assert t_test(np.array([2.0, 2.0, 2.0])) == (np.inf, 0.0)
    t, p = t_test(np.array([1.0, 1.0]), 1.0)
    assert np.isnan(t) and np.isnan(p)
