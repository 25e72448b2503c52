"""Statistics people expect from a conditioning study (analysis.md §7).

- :func:`rm_anova`: repeated-measures ANOVA for any number of within factors, with the
  Greenhouse–Geisser ε and corrected p, and generalised η² (numbers and names as in
  pingouin ≥ 0.7: ``p_unc``, ``p_GG_corr``, ``ng2``, ``eps``);
- :func:`mixed_anova`: one between factor (group) × one within factor (CS);
- :func:`paired_t`: paired t-test with Cohen's d on the average SD (pingouin's ``cohen_d``);
- :func:`anova_by_phase`, :func:`group_by_phase`: those per phase of the tidy trial frame.

The trial-level mixed model is in :mod:`pavlov.analysis.mixed`.

Everything is computed with numpy/scipy from orthonormal contrasts: for an effect with
contrast matrix C, each subject's cell means y give scores z = C y; the effect's sum of
squares is n·|mean z|², its error sum of squares Σ|z − mean z|², and the GG ε is
tr(S)² / (df · tr(S²)) for the covariance S of z.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd

from pavlov.analysis.curves import check_response, participant_curves
from pavlov.analysis.distributions import f_sf, t_test
from pavlov.analysis.errors import AnalysisError

#: Columns of :func:`rm_anova` and :func:`mixed_anova` results.
ANOVA_COLUMNS = (
    "source",
    "SS",
    "ddof1",
    "ddof2",
    "MS",
    "F",
    "p_unc",
    "eps",
    "p_GG_corr",
    "ng2",
    "n",
)


def _contrast(levels: int, within: bool) -> np.ndarray:
    """Orthonormal contrasts (levels-1 × levels) or the normalised mean row (1 × levels)."""
    if not within:
        return np.full((1, levels), 1.0 / np.sqrt(levels))
    # Orthonormal Helmert contrasts: QR of [1, I] drops the constant direction.
    basis = np.linalg.qr(np.column_stack([np.ones(levels), np.eye(levels)[:, : levels - 1]]))[0]
    return basis[:, 1:].T


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else np.nan


def _f_ratio(ss: float, df1: float, ss_error: float, df2: float) -> float:
    """F = (ss/df1) / (ss_error/df2); inf for a perfect fit with an effect, NaN for no
    variance at all (constant data)."""
    if ss_error > 0:
        return (ss / df1) / (ss_error / df2)
    return np.inf if ss > 0 else np.nan


def _gg_epsilon(scores: np.ndarray) -> float:
    """Greenhouse–Geisser ε from orthonormal-contrast scores (subjects × df)."""
    df = scores.shape[1]
    if df < 2:
        return 1.0
    cov = np.cov(scores, rowvar=False)
    square = np.trace(cov @ cov)
    if square <= 0:  # no variance: sphericity holds trivially
        return 1.0
    return float(np.trace(cov) ** 2 / (df * square))


def _cell_array(
    data: pd.DataFrame, dv: str, within: Sequence[str], subject: str
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """Subjects × level₁ × level₂ ... array of cell means; subjects missing any cell are dropped."""
    missing = [c for c in (dv, subject, *within) if c not in data.columns]
    if missing:
        raise AnalysisError(
            f"rm_anova: expected columns {', '.join((dv, subject, *within))}, "
            f"missing {', '.join(missing)}"
        )
    cells = data.groupby([subject, *within], observed=True)[dv].mean()
    wide = cells.unstack(list(within))
    wide = wide.dropna(axis=0, how="any")
    levels = [np.asarray(sorted(pd.unique(data[f].dropna()))) for f in within]
    full = pd.MultiIndex.from_product(levels) if len(within) > 1 else pd.Index(levels[0])
    wide = wide.reindex(columns=full)
    wide = wide.dropna(axis=0, how="any")
    shape = (len(wide), *(len(lv) for lv in levels))
    return wide.to_numpy(dtype=float).reshape(shape), levels, wide.index.to_numpy()


def rm_anova(
    data: pd.DataFrame, dv: str, within: Sequence[str] | str, subject: str
) -> pd.DataFrame:
    """Repeated-measures ANOVA with Greenhouse–Geisser correction.

    Parameters
    ----------
    data : pandas.DataFrame
        Long format, one or more rows per subject and cell (replicates are averaged).
    dv : str
        Dependent variable column.
    within : str or sequence of str
        Within-subject factors.
    subject : str
        Subject column. Subjects without a value in every cell are left out (listwise).

    Returns
    -------
    pandas.DataFrame
        One row per effect (main effects, then interactions), columns
        :data:`ANOVA_COLUMNS`; ``n`` is the number of subjects used.

    Raises
    ------
    AnalysisError
        Fewer than 2 complete subjects or a factor with fewer than 2 levels.
    """
    within = [within] if isinstance(within, str) else list(within)
    y, levels, _ = _cell_array(data, dv, within, subject)
    n = y.shape[0]
    for factor, lv in zip(within, levels):
        if len(lv) < 2:
            raise AnalysisError(
                f"rm_anova: factor '{factor}' needs 2 or more levels, got {len(lv)}"
            )
    if n < 2:
        raise AnalysisError(f"rm_anova: expected 2 or more subjects with every cell, got {n}")
    flat = y.reshape(n, -1)
    n_cells = flat.shape[1]
    subject_means = flat.mean(axis=1)
    ss_subjects = n_cells * float(np.sum((subject_means - subject_means.mean()) ** 2))
    rows = []
    effects = [
        combo
        for size in range(1, len(within) + 1)
        for combo in itertools.combinations(range(len(within)), size)
    ]
    results = []
    for combo in effects:
        matrix = np.ones((1, 1))
        for index, lv in enumerate(levels):
            matrix = np.kron(matrix, _contrast(len(lv), index in combo))
        scores = flat @ matrix.T
        mean = scores.mean(axis=0)
        ss = n * float(mean @ mean)
        ss_error = float(np.sum((scores - mean) ** 2))
        df1 = matrix.shape[0]
        results.append((combo, ss, ss_error, df1, _gg_epsilon(scores)))
    ss_errors = ss_subjects + sum(r[2] for r in results)
    for combo, ss, ss_error, df1, eps in results:
        df2 = df1 * (n - 1)
        ms = ss / df1
        f = _f_ratio(ss, df1, ss_error, df2)
        p = float(f_sf(f, df1, df2))
        p_gg = float(f_sf(f, df1 * eps, df2 * eps))
        rows.append(
            {
                "source": " * ".join(within[i] for i in combo),
                "SS": ss,
                "ddof1": df1,
                "ddof2": df2,
                "MS": ms,
                "F": f,
                "p_unc": p,
                "eps": eps,
                "p_GG_corr": p_gg,
                "ng2": _ratio(ss, ss + ss_errors),
                "n": n,
            }
        )
    return pd.DataFrame(rows, columns=list(ANOVA_COLUMNS))


def mixed_anova(
    data: pd.DataFrame, dv: str, within: str, between: str, subject: str
) -> pd.DataFrame:
    """Mixed ANOVA: one between factor × one within factor (GG-corrected within effects).

    Parameters
    ----------
    data : pandas.DataFrame
        Long format; each subject belongs to one level of ``between``.
    dv, within, between, subject : str
        Column names.

    Returns
    -------
    pandas.DataFrame
        Rows ``between``, ``within``, ``between * within``; columns :data:`ANOVA_COLUMNS`
        (``eps`` is 1 for the between effect; ``ng2`` is generalised η² with the within
        factor measured).
    """
    y, levels, subjects = _cell_array(data, dv, [within], subject)
    membership = data.drop_duplicates(subject).set_index(subject)[between]
    labels = membership.reindex(subjects).to_numpy()
    groups = [g for g in sorted(pd.unique(labels).tolist(), key=str)]
    if len(groups) < 2:
        raise AnalysisError(f"mixed_anova: '{between}' needs 2 or more groups, got {len(groups)}")
    n = len(subjects)
    k = len(levels[0])
    if k < 2:
        raise AnalysisError(f"mixed_anova: factor '{within}' needs 2 or more levels, got {k}")
    index = [labels == g for g in groups]
    sizes = np.array([m.sum() for m in index])
    if n - len(groups) < 1 or np.any(sizes < 1):
        raise AnalysisError(
            f"mixed_anova: expected subjects in every group, got sizes {sizes.tolist()}"
        )
    # Between subjects: subject means scaled by sqrt(k) (the constant contrast).
    totals = y @ _contrast(k, False).T
    grand = totals.mean(axis=0)
    ss_between = float(
        sum(s * np.sum((totals[m].mean(axis=0) - grand) ** 2) for s, m in zip(sizes, index))
    )
    ss_subjects = float(sum(np.sum((totals[m] - totals[m].mean(axis=0)) ** 2) for m in index))
    scores = y @ _contrast(k, True).T
    mean = scores.mean(axis=0)
    ss_within = n * float(mean @ mean)
    ss_inter = float(
        sum(s * np.sum((scores[m].mean(axis=0) - mean) ** 2) for s, m in zip(sizes, index))
    )
    residuals = np.concatenate([scores[m] - scores[m].mean(axis=0) for m in index])
    ss_error = float(np.sum(residuals**2))
    df_e = (k - 1) * (n - len(groups))
    # GG ε from the pooled within-group covariance (ε does not depend on its scale).
    eps = _gg_epsilon(residuals) if k > 2 else 1.0
    g = len(groups)

    def row(source, ss, df1, ss_err, df2, eps_):
        f = _f_ratio(ss, df1, ss_err, df2)
        return {
            "source": source,
            "SS": ss,
            "ddof1": df1,
            "ddof2": df2,
            "MS": ss / df1,
            "F": f,
            "p_unc": float(f_sf(f, df1, df2)),
            "eps": eps_,
            "p_GG_corr": float(f_sf(f, df1 * eps_, df2 * eps_)),
            "ng2": _ratio(ss, ss + ss_subjects + ss_error),
            "n": n,
        }

    rows = [
        row(between, ss_between, g - 1, ss_subjects, n - g, 1.0),
        row(within, ss_within, k - 1, ss_error, df_e, eps),
        row(f"{between} * {within}", ss_inter, (g - 1) * (k - 1), ss_error, df_e, eps),
    ]
    return pd.DataFrame(rows, columns=list(ANOVA_COLUMNS))


def paired_t(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Paired t-test of ``a`` vs ``b`` (pairs with a NaN are dropped).

    Returns
    -------
    dict
        ``T, dof, p_val`` (two-sided), ``cohen_d`` ((mean a − mean b) / √((sd_a² + sd_b²)/2),
        pingouin's paired d) and ``n``.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    if len(a) < 2:
        raise AnalysisError(f"paired_t: expected 2 or more complete pairs, got {len(a)}")
    t, p = t_test(a - b)
    d = (a.mean() - b.mean()) / np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
    return {
        "T": t,
        "dof": float(len(a) - 1),
        "p_val": p,
        "cohen_d": float(d),
        "n": len(a),
    }


def one_sample_t(values: np.ndarray, mu: float = 0.0) -> dict[str, float]:
    """One-sample t-test (NaNs dropped): ``T, dof, p_val, cohen_d, n``."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if len(values) < 2:
        raise AnalysisError(f"one_sample_t: expected 2 or more values, got {len(values)}")
    t, p = t_test(values, mu)
    return {
        "T": t,
        "dof": float(len(values) - 1),
        "p_val": p,
        "cohen_d": float((values.mean() - mu) / values.std(ddof=1)),
        "n": len(values),
    }


def anova_by_phase(
    trials: pd.DataFrame,
    response: str,
    by: str = "block",
    block_size: int | None = None,
    *,
    exclude_reinforced: bool = False,
    drop_first=False,
    participants=None,
    level: str = "cs_type",
) -> pd.DataFrame:
    """CS × trial (or block) rm-ANOVA in each phase with CS+ and CS- trials.

    With ``level="cs"`` the CS factor has every CS role present in the phase (CS+R,
    CS+NR, CS- ...) instead of the two CS types.

    Cell values are participant means (:func:`~pavlov.analysis.curves.participant_curves`);
    participants missing a cell of a phase are left out of that phase's test. Phases with
    a single trial or block get a CS-only ANOVA.

    Returns
    -------
    pandas.DataFrame
        ``phase, phase_order`` then :data:`ANOVA_COLUMNS` (sources ``cs``, ``<by>``,
        ``cs * <by>``), phases in order of occurrence. Phases that cannot be tested are
        absent.
    """
    data = trials
    if participants is not None:
        data = trials[trials["participant"].isin(set(participants))]
        if data.empty:  # every participant excluded: no phase can be tested
            return pd.DataFrame(columns=["phase", "phase_order", *ANOVA_COLUMNS])
    curves = participant_curves(
        data,
        response,
        by=by,
        block_size=block_size,
        exclude_reinforced=exclude_reinforced,
        drop_first=drop_first,
        level=level,
    )
    curves = curves[~curves[level].astype(str).str.startswith("diff")]
    curves = curves.rename(columns={level: "cs"})
    parts = []
    for (phase, order), rows in curves.groupby(["phase", "phase_order"], sort=False):
        if rows["cs"].nunique() < 2:
            continue
        within = ["cs", by] if rows[by].nunique() > 1 else ["cs"]
        try:
            table = rm_anova(rows, "value", within, "participant")
        except AnalysisError:
            continue
        parts.append(table.assign(phase=phase, phase_order=order))
    columns = ["phase", "phase_order", *ANOVA_COLUMNS]
    if not parts:
        return pd.DataFrame(columns=columns)
    out = pd.concat(parts, ignore_index=True).sort_values("phase_order", kind="stable")
    return out[columns].reset_index(drop=True)


def group_by_phase(
    trials: pd.DataFrame,
    response: str,
    *,
    exclude_reinforced: bool = False,
    drop_first=False,
    participants=None,
) -> pd.DataFrame:
    """Group × CS mixed ANOVA on participant phase means, in each phase.

    Returns an empty frame when the data have fewer than two groups.

    Returns
    -------
    pandas.DataFrame
        ``phase, phase_order`` then :data:`ANOVA_COLUMNS` (sources ``group``, ``cs``,
        ``group * cs``).
    """
    columns = ["phase", "phase_order", *ANOVA_COLUMNS]
    data = trials
    if participants is not None:
        data = trials[trials["participant"].isin(set(participants))]
    if data["group"].where(data["group"] != "").dropna().nunique() < 2:
        return pd.DataFrame(columns=columns)
    check_response(data, response)
    from pavlov.analysis.curves import select_trials

    data = select_trials(data, exclude_reinforced=exclude_reinforced, drop_first=drop_first)
    data = data[data["group"] != ""]
    means = (
        data.groupby(["participant", "group", "phase", "phase_order", "cs_type"], sort=False)[
            response
        ]
        .mean()
        .rename("value")
        .reset_index()
        .rename(columns={"cs_type": "cs"})
    )
    parts = []
    for (phase, order), rows in means.groupby(["phase", "phase_order"], sort=False):
        if rows["cs"].nunique() < 2:
            continue
        try:
            table = mixed_anova(rows, "value", "cs", "group", "participant")
        except AnalysisError:
            continue
        parts.append(table.assign(phase=phase, phase_order=order))
    if not parts:
        return pd.DataFrame(columns=columns)
    out = pd.concat(parts, ignore_index=True).sort_values("phase_order", kind="stable")
    return out[columns].reset_index(drop=True)
