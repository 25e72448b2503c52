"""Learning curves: CS+, CS- and their difference by trial or block, per participant and group.

All functions take the tidy trial frame (:mod:`pavlov.analysis.load`) and return new
DataFrames; nothing is modified in place.

Trial and block numbers count trials **of each CS within a phase** (``cs_trial``), so
block 1 of a phase with ``block_size=2`` holds the first two CS+ and the first two CS-
trials (with two CS+ roles, such as CS+R and CS+NR, the first two of each; the CS+ curve
averages them). Excluding reinforced trials or dropping first trials removes rows but does not
renumber the rest, so blocks stay aligned across participants and options.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from pavlov.analysis.errors import AnalysisError

#: ``cs_type`` labels of curve rows, in output order (``diff`` = CS+ minus CS-).
CURVE_TYPES = ("CS+", "CS-", "diff")

#: Units a curve can be computed by.
CURVE_UNITS = ("trial", "block")


def check_response(trials: pd.DataFrame, response: str) -> None:
    """Raise :class:`AnalysisError` unless ``response`` is a numeric column with data."""
    if response not in trials.columns:
        numeric = [
            c
            for c in trials.columns
            if pd.api.types.is_float_dtype(trials[c]) and trials[c].notna().any()
        ]
        raise AnalysisError(
            f"response: expected a measured column ({', '.join(numeric) or 'none has values'}), "
            f"got '{response}'"
        )
    if not pd.api.types.is_numeric_dtype(trials[response]) or trials[response].notna().sum() == 0:
        raise AnalysisError(f"response: expected values in column '{response}', got none")


def choose_response(trials: pd.DataFrame) -> str:
    """The default response: ``scr`` when it has values, else ``rating``, else the first
    other numeric column with values (an imported table's own response name)."""
    for column in ("scr", "rating"):
        if column in trials.columns and trials[column].notna().any():
            return column
    from pavlov.analysis.frame import TRIAL_COLUMNS

    for column in trials.columns:
        if (
            column not in TRIAL_COLUMNS
            and column != "block"
            and pd.api.types.is_float_dtype(trials[column])
            and trials[column].notna().any()
        ):
            return column
    raise AnalysisError(
        "response: expected a column with measured values (rating, scr), found none"
    )


def add_blocks(trials: pd.DataFrame, block_size: int | None = None) -> pd.DataFrame:
    """Return a copy with a ``block`` column: ``(cs_trial - 1) // block_size + 1``.

    Parameters
    ----------
    trials : pandas.DataFrame
        Tidy trial frame.
    block_size : int, optional
        Trials of each CS type per block. When None, an imported table's own complete
        ``block`` column is kept, and otherwise blocks of 2 are used.
    """
    out = trials.copy()
    if block_size is None:
        if "block" in out.columns and out["block"].notna().all():
            out["block"] = out["block"].astype(int)
            return out
        block_size = 2
    if int(block_size) != block_size or block_size < 1:
        raise AnalysisError(f"block_size: expected a whole number >= 1, got {block_size!r}")
    out["block"] = (out["cs_trial"].astype(int) - 1) // int(block_size) + 1
    return out


def select_trials(
    trials: pd.DataFrame,
    *,
    exclude_reinforced: bool = False,
    drop_first: bool | Iterable[str] = False,
    participants: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Return the trials an analysis uses.

    Parameters
    ----------
    trials : pandas.DataFrame
        Tidy trial frame.
    exclude_reinforced : bool
        Drop reinforced trials (their response mixes CR and UR).
    drop_first : bool or iterable of str
        Drop the first trial of each CS type: in every phase (True), or in the named
        phases or phase types (e.g. ``["acquisition"]``).
    participants : iterable of str, optional
        Keep only these participants (e.g. those not excluded).
    """
    keep = np.ones(len(trials), dtype=bool)
    if exclude_reinforced:
        keep &= ~trials["reinforced"].to_numpy(dtype=bool)
    if drop_first is True:
        keep &= trials["cs_trial"].to_numpy() != 1
    elif drop_first:
        names = set(drop_first)
        in_phase = trials["phase"].isin(names) | trials["phase_type"].isin(names)
        keep &= ~(in_phase.to_numpy() & (trials["cs_trial"].to_numpy() == 1))
    if participants is not None:
        keep &= trials["participant"].isin(set(participants)).to_numpy()
    return trials[keep]


def conditioning_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """The CS+ and CS− trials: generalisation stimuli (``cs_type`` ``GS``) left out, so
    that they are never pooled with the CS− (:mod:`pavlov.analysis.gradient` has them)."""
    from pavlov.analysis.frame import GS_TYPE

    gs = trials["cs_type"].to_numpy() == GS_TYPE
    return trials[~gs] if gs.any() else trials


def has_roles(trials: pd.DataFrame) -> bool:
    """True when the CS roles are more than the two CS types (e.g. CS+R, CS+NR and CS-);
    generalisation stimuli do not count."""
    trials = conditioning_trials(trials)
    return trials["cs"].nunique() > trials["cs_type"].nunique()


def role_label(role: str) -> str:
    """Label of a role's differential curve: ``diff:CS+R`` is CS+R minus the CS− mean."""
    return f"diff:{role}"


def participant_curves(
    trials: pd.DataFrame,
    response: str,
    by: str = "block",
    block_size: int | None = None,
    *,
    exclude_reinforced: bool = False,
    drop_first: bool | Iterable[str] = False,
    level: str = "cs_type",
) -> pd.DataFrame:
    """Per-participant learning curves: mean response per phase, trial or block, CS type.

    Parameters
    ----------
    trials : pandas.DataFrame
        Tidy trial frame.
    response : str
        Column to average (``rating``, ``scr``, ...). Missing values are skipped.
    by : {'block', 'trial'}
        Unit of the curve's x axis (``trial`` is ``cs_trial``).
    block_size : int, optional
        See :func:`add_blocks`.
    exclude_reinforced, drop_first
        See :func:`select_trials`.
    level : {'cs_type', 'cs'}
        ``cs_type``: CS+ (its roles averaged) and CS-; ``cs``: every CS role, with one
        differential curve per CS+ role (``diff:CS+R`` = CS+R minus the mean of the CS−
        roles). Generalisation stimuli (``cs_type`` ``GS``) are left out of both.

    Returns
    -------
    pandas.DataFrame
        Columns ``participant, group, phase, phase_order, <by>, <level>, value``, where
        ``cs_type`` is ``CS+``, ``CS-`` or ``diff`` (CS+ minus CS-, when both exist) and
        ``cs`` a role or ``diff:<role>``; cells without a value are left out. Sorted by
        participant order, phase order, ``by``, then :data:`CURVE_TYPES` (roles: in
        order of appearance, CS+ roles first, then their differences).
    """
    if by not in CURVE_UNITS:
        raise AnalysisError(f"by: expected one of {', '.join(CURVE_UNITS)}, got {by!r}")
    if level not in ("cs_type", "cs"):
        raise AnalysisError(f"level: expected cs_type or cs, got {level!r}")
    check_response(trials, response)
    trials = conditioning_trials(trials)
    data = select_trials(trials, exclude_reinforced=exclude_reinforced, drop_first=drop_first)
    if by == "block":
        data = add_blocks(data, block_size)
        x = "block"
    else:
        data = data.assign(trial=data["cs_trial"])
        x = "trial"
    keys = ["participant", "group", "phase", "phase_order", x]
    order = pd.unique(data["participant"])
    means = data.groupby([*keys, level], sort=False, observed=True)[response].mean().unstack(level)
    if level == "cs_type":
        for kind in ("CS+", "CS-"):
            if kind not in means.columns:
                means[kind] = np.nan
        means["diff"] = means["CS+"] - means["CS-"]
        labels = list(CURVE_TYPES)
    else:
        roles = list(pd.unique(trials["cs"]))
        first = trials.drop_duplicates("cs")
        kinds = dict(zip(first["cs"], first["cs_type"]))
        plus = [r for r in roles if kinds[r] == "CS+"]
        minus = [r for r in roles if kinds[r] == "CS-"]
        for role in roles:
            if role not in means.columns:
                means[role] = np.nan
        baseline = means[minus].mean(axis=1) if minus else np.nan
        for role in plus:
            means[role_label(role)] = means[role] - baseline
        labels = [*plus, *minus, *(role_label(r) for r in plus)]
    long = means[labels].stack(future_stack=True).rename("value").reset_index()
    long = long.dropna(subset=["value"])
    long[level] = pd.Categorical(long[level], labels, ordered=True)
    long["_p"] = long["participant"].map({p: i for i, p in enumerate(order)})
    long = long.sort_values(["_p", "phase_order", x, level], kind="stable")
    long[level] = long[level].astype(str)
    long[x] = long[x].astype(int)
    return long.drop(columns="_p").reset_index(drop=True)


def _is_difference(labels: pd.Series) -> np.ndarray:
    # judged once per distinct label (a handful), not per row through the string accessor
    codes, uniques = pd.factorize(labels.to_numpy(dtype=object), use_na_sentinel=False)
    return np.array([str(u).startswith("diff") for u in uniques], dtype=bool)[codes]


def within_sem(curves: pd.DataFrame) -> pd.Series:
    """Cousineau–Morey within-subject SEM of every curve cell.

    Within each group and phase, each participant's values are centred on the
    participant's mean over the phase's CS × trial (or block) cells and moved to the
    grand mean (Cousineau 2005); the SD of the normalised values over participants, / √n,
    is multiplied by √(J / (J − 1)) for the J cells (Morey 2008). Differential curves are
    within-subject contrasts already: their SEM is the plain SEM.

    Returns
    -------
    pandas.Series
        Indexed like ``curves``.
    """
    x = "block" if "block" in curves.columns else "trial"
    level = "cs_type" if "cs_type" in curves.columns else "cs"
    diff = _is_difference(curves[level])
    keys = ["group", "phase"]
    cells = curves[~diff]
    if cells.empty:  # no participant left (all excluded): nothing to normalise
        return pd.Series(np.nan, index=curves.index, dtype=float)
    person = cells.groupby(["participant", *keys], sort=False)["value"].transform("mean")
    grand = cells.groupby(keys, sort=False)["value"].transform("mean")
    normalised = cells["value"] - person + grand
    n_cells = (
        cells.groupby(keys, sort=False)[[x, level]]
        .apply(lambda f: len(f.drop_duplicates()))
        .rename("J")
    )
    j = cells.join(n_cells, on=keys)["J"].astype(float)
    correction = np.sqrt(j / (j - 1)).where(j > 1, 1.0)
    spread = normalised.groupby([cells[k] for k in [*keys, x, level]], sort=False).transform("std")
    count = normalised.groupby([cells[k] for k in [*keys, x, level]], sort=False).transform("count")
    out = pd.Series(np.nan, index=curves.index)
    out[~diff] = (spread / np.sqrt(count) * correction).to_numpy()
    rest = curves[diff]
    if len(rest):
        grouped = rest.groupby([rest[k] for k in [*keys, x, level]], sort=False)["value"]
        out[diff] = (grouped.transform("std") / np.sqrt(grouped.transform("count"))).to_numpy()
    return out


def group_curves(curves: pd.DataFrame) -> pd.DataFrame:
    """Group mean ± SEM of per-participant curves (:func:`participant_curves`).

    Returns
    -------
    pandas.DataFrame
        Columns ``group, phase, phase_order, <by>, <level>, n, mean, sem, sem_within``:
        ``n`` counts participants with a value; ``sem`` is SD (ddof 1) / √n, NaN when
        n < 2; ``sem_within`` is the Cousineau–Morey within-subject SEM
        (:func:`within_sem`), the one the figures draw. One set of rows per group
        (``group`` is ``''`` when the data have none). ``<level>`` is ``cs_type`` or ``cs``.
    """
    x = "block" if "block" in curves.columns else "trial"
    level = "cs_type" if "cs_type" in curves.columns else "cs"
    keys = ["group", "phase", "phase_order", x, level]
    curves = curves.assign(_ws=within_sem(curves))
    grouped = curves.groupby(keys, sort=False, observed=True)
    out = grouped["value"].agg(n="count", mean="mean", sd="std").reset_index()
    out["sem_within"] = grouped["_ws"].first().to_numpy()
    out["sem"] = out["sd"] / np.sqrt(out["n"].where(out["n"] > 0))
    out.loc[out["n"] < 2, ["sem", "sem_within"]] = np.nan
    from pavlov.analysis.frame import natural_key

    groups = sorted(pd.unique(out["group"]), key=natural_key)
    labels = list(CURVE_TYPES) if level == "cs_type" else list(pd.unique(curves[level]))
    out["_g"] = out["group"].map({g: i for i, g in enumerate(groups)})
    out["_t"] = out[level].map({t: i for i, t in enumerate(labels)})
    out = out.sort_values(["_g", "phase_order", x, "_t"], kind="stable")
    out["n"] = out["n"].astype(int)
    return out[[*keys, "n", "mean", "sem", "sem_within"]].reset_index(drop=True)


def _summary_masks(k: np.ndarray, n: np.ndarray) -> dict[str, np.ndarray]:
    """Boolean masks over trials (position ``k`` of ``n`` within its CS type) for each
    multiverse summary (multifear-style ``chop_cs``)."""
    masks = {
        "all": np.ones_like(k, dtype=bool),
        "all_but_first": k > 1,
        "first": k == 1,
        "last": k == n,
        "first2": k <= 2,
        "last2": k > n - 2,
        "first_half": k <= n // 2,
        "second_half": k > n // 2,
        "last5": k > n - 5,
    }
    for share in (10, 20, 33):
        count = np.maximum(1, np.round(n * share / 100)).astype(int)
        masks[f"first{share}pct"] = k <= count
        masks[f"last{share}pct"] = k > n - count
    pairs = (k - 1) // 2 + 1
    for block in range(1, int(np.max(pairs, initial=0)) + 1):
        masks[f"block2_{block}"] = pairs == block
    return masks


#: Summary names in output order (``block2_<j>`` follow, then ``last_minus_first``).
SUMMARIES = (
    "all",
    "all_but_first",
    "first",
    "last",
    "first2",
    "last2",
    "first_half",
    "second_half",
    "first10pct",
    "last10pct",
    "first20pct",
    "last20pct",
    "first33pct",
    "last33pct",
    "last5",
)


def summarise_phases(
    trials: pd.DataFrame,
    response: str,
    *,
    exclude_reinforced: bool = False,
    drop_first: bool | Iterable[str] = False,
) -> pd.DataFrame:
    """Multiverse phase summaries per participant (analysis.md §5, multifear ``chop_cs``).

    Trials of each CS are numbered 1..n within the participant's phase *after* the
    selection (CS+ roles are then averaged together); each summary averages a subset of
    them: ``all``, ``all_but_first``,
    ``first``/``last``, ``first2``/``last2``, halves (an odd middle trial goes to the second
    half), first/last 10, 20 and 33 % (at least one trial), ``last5``, blocks of two
    (``block2_1`` ...), and ``last_minus_first``.

    Returns
    -------
    pandas.DataFrame
        Columns ``participant, group, phase, phase_order, summary, cs_type, value`` with
        ``cs_type`` in :data:`CURVE_TYPES`.
    """
    check_response(trials, response)
    data = select_trials(trials, exclude_reinforced=exclude_reinforced, drop_first=drop_first)
    keys = ["participant", "group", "phase", "phase_order", "cs_type"]
    grouped = data.groupby(["participant", "phase", "cs"], sort=False)
    k = (grouped.cumcount() + 1).to_numpy()
    n = grouped["cs_trial"].transform("size").to_numpy()
    values = data[response].to_numpy(dtype=float)
    base = data[keys].reset_index(drop=True)
    parts = []
    for name, mask in _summary_masks(k, n).items():
        part = base[mask].assign(summary=name, value=values[mask])
        parts.append(part)
    long = pd.concat(parts, ignore_index=True)
    means = long.groupby([*keys[:-1], "summary", "cs_type"], sort=False)["value"].mean()
    wide = means.unstack("summary")
    wide["last_minus_first"] = wide["last"] - wide["first"]
    table = wide.stack(future_stack=True).rename("value").unstack("cs_type")
    for kind in ("CS+", "CS-"):
        if kind not in table.columns:
            table[kind] = np.nan
    table["diff"] = table["CS+"] - table["CS-"]
    out = table[list(CURVE_TYPES)].stack(future_stack=True).rename("value").reset_index()
    out = out.dropna(subset=["value"]).copy()
    order = {name: i for i, name in enumerate(SUMMARIES)}
    # ranked once per distinct summary name (a few dozen), not per row (234,000)
    out["_s"] = out["summary"].map(
        {
            s: order.get(s, len(order) + int(s.split("_")[1]) if s.startswith("block2_") else 999)
            for s in pd.unique(out["summary"])
        }
    )
    out["_p"] = out["participant"].map({p: i for i, p in enumerate(pd.unique(data["participant"]))})
    out["_t"] = out["cs_type"].map({t: i for i, t in enumerate(CURVE_TYPES)})
    out = out.sort_values(["_p", "phase_order", "_s", "_t"], kind="stable")
    return out[
        ["participant", "group", "phase", "phase_order", "summary", "cs_type", "value"]
    ].reset_index(drop=True)
