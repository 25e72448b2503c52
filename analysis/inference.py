"""Inference on the indices: paired and between-group tests with effect sizes and 95 % CIs.

- :func:`index_tests`: for each test phase, **extinction** (D over the last acquisition
  trials vs D over the last extinction trials) and **return of fear** (D over the first
  test trials vs D over the last extinction trials), paired t-tests on the participants'
  D values, where D = CS+ − CS−;
- :func:`group_index_tests`: the extinction and return-of-fear indices compared between
  every pair of groups (``participants.tsv`` column ``group``), Welch t-tests;
- :func:`role_contrasts`: CS+ roles compared with each other (e.g. CS+R − CS− vs
  CS+NR − CS− at the first test trials), paired t-tests.

Every row carries the mean difference and its 95 % CI, t, df, two-sided p and an effect
size: d_z (mean difference / SD of the differences) for paired tests, Hedges' g (pooled SD,
small-sample corrected) between groups. With fewer than :data:`MIN_N` participants in a
cell, no test is made: estimates are kept, ``t``, ``df``, CI and ``p`` are left empty and
``note`` says why.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd

from pavlov.analysis.distributions import t_ppf, t_sf

#: Fewest participants per cell for a test (the report warns below it).
MIN_N = 10

#: Columns of every table of this module.
TEST_COLUMNS = (
    "test_phase",
    "index",
    "comparison",
    "n",
    "mean_1",
    "mean_2",
    "difference",
    "ci_low",
    "ci_high",
    "t",
    "df",
    "p",
    "effect_size",
    "effect",
    "note",
)


def paired_test(a, b) -> dict:
    """Paired t-test of ``a`` vs ``b`` (pairs with a NaN dropped) with d_z and a 95 % CI."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    d = a - b
    n = len(d)
    out: dict[str, Any] = {
        "n": n,
        "mean_1": float(a.mean()) if n else np.nan,
        "mean_2": float(b.mean()) if n else np.nan,
        "difference": float(d.mean()) if n else np.nan,
        "effect": "d_z",
    }
    sd = float(d.std(ddof=1)) if n > 1 else np.nan
    out["effect_size"] = out["difference"] / sd if n > 1 and sd > 0 else np.nan
    if n < MIN_N:
        return {**out, "note": f"n = {n} < {MIN_N}: no test"}
    se = sd / np.sqrt(n)
    df = n - 1
    half = float(t_ppf(0.975, df) * se)
    t = out["difference"] / se if se > 0 else np.nan
    return {
        **out,
        "ci_low": out["difference"] - half,
        "ci_high": out["difference"] + half,
        "t": t,
        "df": float(df),
        "p": 2 * t_sf(abs(t), df) if np.isfinite(t) else np.nan,
        "note": "",
    }


def welch_test(a, b) -> dict:
    """Welch t-test of ``a`` vs ``b`` (NaNs dropped) with Hedges' g and a 95 % CI."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    n1, n2 = len(a), len(b)
    out: dict[str, Any] = {
        "n": n1 + n2,
        "mean_1": float(a.mean()) if n1 else np.nan,
        "mean_2": float(b.mean()) if n2 else np.nan,
        "effect": "hedges_g",
    }
    out["difference"] = out["mean_1"] - out["mean_2"]
    if n1 > 1 and n2 > 1:
        v1, v2 = a.var(ddof=1), b.var(ddof=1)
        pooled = np.sqrt(((n1 - 1) * v1 + (n2 - 1) * v2) / (n1 + n2 - 2))
        j = 1 - 3 / (4 * (n1 + n2) - 9)
        out["effect_size"] = out["difference"] / pooled * j if pooled > 0 else np.nan
    else:
        out["effect_size"] = np.nan
    if min(n1, n2) < MIN_N:
        return {**out, "note": f"n = {n1} and {n2} < {MIN_N} per group: no test"}
    se2 = v1 / n1 + v2 / n2
    df = se2**2 / ((v1 / n1) ** 2 / (n1 - 1) + (v2 / n2) ** 2 / (n2 - 1))
    se = np.sqrt(se2)
    half = float(t_ppf(0.975, df) * se)
    t = out["difference"] / se if se > 0 else np.nan
    return {
        **out,
        "ci_low": out["difference"] - half,
        "ci_high": out["difference"] + half,
        "t": t,
        "df": float(df),
        "p": 2 * t_sf(abs(t), df) if np.isfinite(t) else np.nan,
        "note": "",
    }


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(TEST_COLUMNS))


def index_tests(indices: pd.DataFrame) -> pd.DataFrame:
    """Extinction and return-of-fear paired tests per test phase (module notes).

    Parameters
    ----------
    indices : pandas.DataFrame
        From :func:`pavlov.analysis.indices.compute_indices` (the participants to test).
    """
    rows: list[dict[str, Any]] = []
    for test, part in indices.groupby("test_phase", sort=False):
        for name, first, second, words in (
            (
                "extinction",
                "d_acquisition_last",
                "d_extinction_last",
                "D last acquisition vs D last extinction",
            ),
            (
                "return_of_fear",
                "d_test_first",
                "d_extinction_last",
                "D first test vs D last extinction",
            ),
        ):
            if name == "return_of_fear" and not test:
                continue
            if part[first].notna().sum() == 0 or part[second].notna().sum() == 0:
                continue
            result = paired_test(part[first], part[second])
            rows.append({"test_phase": test, "index": name, "comparison": words, **result})
    return _frame(rows)


def group_index_tests(indices: pd.DataFrame) -> pd.DataFrame:
    """Extinction and return-of-fear indices between every pair of groups (Welch)."""
    named = indices[indices["group"].astype(str) != ""]
    groups = sorted(pd.unique(named["group"]), key=str)
    rows: list[dict[str, Any]] = []
    if len(groups) < 2:
        return _frame(rows)
    for test, part in named.groupby("test_phase", sort=False):
        for name in ("extinction_index", "rof_index"):
            if name == "rof_index" and not test:
                continue
            for g1, g2 in itertools.combinations(groups, 2):
                a = part.loc[part["group"] == g1, name]
                b = part.loc[part["group"] == g2, name]
                if a.notna().sum() == 0 or b.notna().sum() == 0:
                    continue
                result = welch_test(a, b)
                rows.append(
                    {"test_phase": test, "index": name, "comparison": f"{g1} vs {g2}", **result}
                )
    return _frame(rows)


#: Role measures compared by :func:`role_contrasts`, with their words.
ROLE_MEASURES = {
    "d_test_first": "D first test trials",
    "rof_index": "return-of-fear index",
    "d_extinction_last": "D last extinction trials",
    "extinction_index": "extinction index",
    "d_acquisition_last": "D last acquisition trials",
}


def role_contrasts(role_index: pd.DataFrame) -> pd.DataFrame:
    """Every pair of CS+ roles compared per test phase and measure (paired t-tests).

    Parameters
    ----------
    role_index : pandas.DataFrame
        From :func:`pavlov.analysis.indices.role_indices`.

    Returns
    -------
    pandas.DataFrame
        :data:`TEST_COLUMNS`; ``index`` is the measure, ``comparison`` e.g.
        ``(CS+R − CS-) vs (CS+NR − CS-)``; ``mean_1``/``mean_2`` are the two roles' means.
    """
    rows: list[dict[str, Any]] = []
    if role_index.empty:
        return _frame(rows)
    roles = list(pd.unique(role_index["cs"]))
    for test, part in role_index.groupby("test_phase", sort=False):
        wide = {
            measure: part.pivot_table(
                index="participant", columns="cs", values=measure, dropna=False
            )
            for measure in ROLE_MEASURES
        }
        for r1, r2 in itertools.combinations(roles, 2):
            for measure in ROLE_MEASURES:
                if measure in ("d_test_first", "rof_index") and not test:
                    continue
                table = wide[measure]
                if r1 not in table.columns or r2 not in table.columns:
                    continue
                if table[r1].notna().sum() == 0 or table[r2].notna().sum() == 0:
                    continue
                result = paired_test(table[r1], table[r2])
                rows.append(
                    {
                        "test_phase": test,
                        "index": measure,
                        "comparison": f"({r1} − CS-) vs ({r2} − CS-)",
                        **result,
                    }
                )
    return _frame(rows)
