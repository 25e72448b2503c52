"""Tail probabilities and quantiles of the t and F distributions, from ``scipy.special``.

``scipy.stats`` would give the same numbers, but importing it costs about a second (it builds
every distribution's docstring), which every ``pavlov analyze`` paid before its first
result; ``scipy.special``'s ufuncs (``stdtr``, ``stdtrit``, ``fdtrc``) are what
``scipy.stats.t`` and ``scipy.stats.f`` evaluate underneath. The tests check these against
``scipy.stats``.
"""

from __future__ import annotations

import numpy as np
from scipy import special


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with ``df`` degrees of freedom."""
    return float(special.stdtr(df, -t))


def t_ppf(q: float, df: float) -> float:
    """The ``q`` quantile of Student's t with ``df`` degrees of freedom."""
    return float(special.stdtrit(df, q))


def f_sf(f: float, df1: float, df2: float) -> float:
    """P(F > f) for the F distribution with ``(df1, df2)`` degrees of freedom."""
    return float(special.fdtrc(df1, df2, f))


def t_test(differences: np.ndarray, mu: float = 0.0) -> tuple[float, float]:
    """One-sample t statistic of ``differences`` against ``mu`` and its two-sided p.

    As ``scipy.stats.ttest_1samp`` (and ``ttest_rel`` on paired differences): with no
    spread the statistic is ±inf (p 0) when the mean differs from ``mu``, NaN when it does not.
    """
    values = np.asarray(differences, dtype=float)
    n = len(values)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (values.mean() - mu) / (values.std(ddof=1) / np.sqrt(n))
    t = float(t)
    return t, 2 * t_sf(abs(t), n - 1) if not np.isnan(t) else float("nan")
