"""Generalisation gradients: the response by position on a stimulus continuum.

A generalisation design presents, besides the CS+ and the CS−, stimuli between them on a
continuum (morphs, sizes, hues, or the faces of a circle): the generalisation stimuli,
roles ``GS1`` ... ``GSn`` with ``cs_type`` ``GS``, never reinforced. **Position** is the
role's number counted from the CS+ end: the CS+ is at 0, ``GSk`` at k and the CS− at
n + 1, where n is the highest GS number in the data (a lone unnumbered ``GS`` is ``GS1``).
A circle of stimuli (FearGen's eight faces, the CS− opposite the CS+) is given the same way,
by distance from the CS+: the two faces 45° either side share the role ``GS1``, and so on.
A GS logged under a CS− role (``CS-GS2``) is the same position as ``GS2``.

- :func:`participant_gradient`: each participant's mean response per phase and position
  (CS+ roles pooled at 0, CS− roles at n + 1), in the phases that have GS trials;
- :func:`group_gradient`: group means with the Cousineau–Morey within-subject SEM and 95 %
  CI over the positions (the gradient's shape, free of participants' overall level);
- :func:`gradient_scores`: per participant and phase, the **linear deviation score**
  (mean over the GS of the response minus the straight line from the CS+ to the CS− at that
  position; Lissek et al. 2008, Kaczkurkin et al. 2017: positive = a gradient above the
  line, i.e. broad generalisation; with GS equally spaced it equals mean(GS) − mean(CS+,
  CS−)) and the **slope** of a least-squares line over every position, in response units
  per whole continuum (distance 0 at the CS+, 1 at the CS−; a steep negative slope is
  sharp discrimination).

All functions are pure: they take the tidy trial frame (:mod:`pavlov.analysis.load`) and
return new frames.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from pavlov.analysis.errors import AnalysisError
from pavlov.analysis.frame import GS_ROLE, GS_TYPE

__all__ = [
    "GRADIENT_COLUMNS",
    "PARTICIPANT_COLUMNS",
    "SCORE_COLUMNS",
    "gradient_scores",
    "group_gradient",
    "gs_positions",
    "has_gradient",
    "participant_gradient",
]

#: Columns of :func:`participant_gradient`.
PARTICIPANT_COLUMNS = (
    "participant",
    "group",
    "phase",
    "phase_order",
    "position",
    "distance",
    "cs",
    "value",
)

#: Columns of :func:`group_gradient` (``gradient.csv``).
GRADIENT_COLUMNS = (
    *PARTICIPANT_COLUMNS[1:-1],
    "n",
    "mean",
    "sem",
    "sem_within",
    "ci_low",
    "ci_high",
)

#: Columns of :func:`gradient_scores` (``gradient_scores.csv``).
SCORE_COLUMNS = (
    "participant",
    "group",
    "phase",
    "phase_order",
    "n_gs",
    "cs_plus",
    "cs_minus",
    "gs_mean",
    "linear_deviation",
    "slope",
)


def has_gradient(trials: pd.DataFrame) -> bool:
    """True when the trials include generalisation stimuli (``cs_type`` ``GS``)."""
    return bool((trials["cs_type"].to_numpy() == GS_TYPE).any())


def gs_positions(roles: Iterable[str]) -> dict[str, int]:
    """Each GS role's position on the continuum (its number; a lone ``GS`` is 1).

    Raises
    ------
    AnalysisError
        When an unnumbered ``GS`` is not alone (its position would be a guess), or a role
        is not a GS role.
    """
    positions: dict[str, int] = {}
    unnumbered = []
    for role in dict.fromkeys(str(r) for r in roles):
        match = GS_ROLE.match(role)
        if match is None:
            raise AnalysisError(
                f"cs: expected generalisation roles GS1..GSn (their number is the position "
                f"from the CS+ end), got {role!r}"
            )
        if match[1]:
            positions[role] = int(match[1])
        else:
            unnumbered.append(role)
    if unnumbered:
        if positions or len(unnumbered) > 1:
            raise AnalysisError(
                f"cs: expected generalisation roles numbered GS1..GSn when there is more than "
                f"one, got {', '.join(unnumbered + list(positions))}"
            )
        positions[unnumbered[0]] = 1
    if any(p < 1 for p in positions.values()):
        raise AnalysisError("cs: expected GS numbers from 1 (GS1 is nearest the CS+), got GS0")
    return positions


def participant_gradient(
    trials: pd.DataFrame,
    response: str,
    *,
    exclude_reinforced: bool = False,
    drop_first: bool | Iterable[str] = False,
) -> pd.DataFrame:
    """Each participant's mean response by phase and continuum position.

    Parameters
    ----------
    trials : pandas.DataFrame
        Tidy trial frame with GS trials.
    response : str
        Column to average; missing values are skipped.
    exclude_reinforced, drop_first
        See :func:`pavlov.analysis.curves.select_trials`.

    Returns
    -------
    pandas.DataFrame
        ``participant, group, phase, phase_order, position, distance, cs, value`` for the
        phases with GS trials; ``cs`` is ``CS+``, ``GS1`` ... ``GSn`` or ``CS-``,
        ``distance`` is position / (n + 1). Empty when there are no GS trials.
    """
    from pavlov.analysis.curves import check_response, select_trials

    check_response(trials, response)
    columns = list(PARTICIPANT_COLUMNS)
    if not has_gradient(trials):
        return pd.DataFrame(columns=columns)
    gs_rows = trials["cs_type"] == GS_TYPE
    positions = gs_positions(pd.unique(trials.loc[gs_rows, "cs"]))
    top = max(positions.values()) + 1
    phases = set(trials.loc[gs_rows, "phase"])
    data = select_trials(
        trials[trials["phase"].isin(phases)],
        exclude_reinforced=exclude_reinforced,
        drop_first=drop_first,
    )
    kind = data["cs_type"].to_numpy()
    position = np.where(kind == "CS+", 0, np.where(kind == "CS-", top, -1))
    is_gs = kind == GS_TYPE
    position[is_gs] = data.loc[is_gs, "cs"].map(positions).to_numpy()
    data = data.assign(position=position.astype(int))
    keys = ["participant", "group", "phase", "phase_order", "position"]
    means = data.groupby(keys, sort=False)[response].mean().rename("value").reset_index()
    means = means.dropna(subset=["value"])
    means["distance"] = means["position"] / top
    labels = {0: "CS+", top: "CS-", **{p: f"GS{p}" for p in positions.values()}}
    means["cs"] = means["position"].map(labels)
    order = {p: i for i, p in enumerate(pd.unique(trials["participant"]))}
    means["_p"] = means["participant"].map(order)
    means = means.sort_values(["_p", "phase_order", "position"], kind="stable")
    return means[columns].reset_index(drop=True)


def group_gradient(per: pd.DataFrame) -> pd.DataFrame:
    """Group gradient: mean, SEM and the within-subject SEM and 95 % CI per position.

    The within-subject SEM is Cousineau–Morey over the phase's positions
    (:func:`pavlov.analysis.curves.within_sem`); the CI is mean ± t(0.975, n − 1) × that
    SEM.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`GRADIENT_COLUMNS`, one set of rows per group and phase.
    """
    from scipy import stats as sps

    from pavlov.analysis.curves import within_sem

    if per.empty:
        return pd.DataFrame(columns=list(GRADIENT_COLUMNS))
    # within_sem takes curve cells: the position plays the trial, the role the CS
    cells = per.assign(trial=per["position"])
    per = per.assign(
        _ws=within_sem(cells[["participant", "group", "phase", "trial", "cs", "value"]])
    )
    keys = ["group", "phase", "phase_order", "position", "distance", "cs"]
    grouped = per.groupby(keys, sort=False)
    out = grouped["value"].agg(n="count", mean="mean", sd="std").reset_index()
    out["sem_within"] = grouped["_ws"].first().to_numpy()
    out["sem"] = out["sd"] / np.sqrt(out["n"])
    out.loc[out["n"] < 2, ["sem", "sem_within"]] = np.nan
    half = sps.t.ppf(0.975, (out["n"] - 1).clip(lower=1)) * out["sem_within"]
    out["ci_low"] = out["mean"] - half
    out["ci_high"] = out["mean"] + half
    out = out.sort_values(["group", "phase_order", "position"], kind="stable")
    out["n"] = out["n"].astype(int)
    return out[list(GRADIENT_COLUMNS)].reset_index(drop=True)


def gradient_scores(per: pd.DataFrame) -> pd.DataFrame:
    """Per participant and phase: the linear deviation score and the gradient's slope.

    Parameters
    ----------
    per : pandas.DataFrame
        From :func:`participant_gradient`.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`SCORE_COLUMNS`. ``linear_deviation`` is the mean over the
        participant's GS of (response − the CS+-to-CS− line at the GS's distance), NaN
        without a CS+, a CS− or a GS value; ``slope`` the least-squares slope over every
        position with a value (NaN with fewer than two).
    """
    rows = []
    keys = ["participant", "group", "phase", "phase_order"]
    for key, part in per.groupby(keys, sort=False):
        ends = dict(zip(part["cs"], part["value"]))
        plus, minus = ends.get("CS+", np.nan), ends.get("CS-", np.nan)
        gs = part[part["cs"].str.startswith("GS")]
        line = plus + (minus - plus) * gs["distance"].to_numpy(dtype=float)
        deviation = gs["value"].to_numpy(dtype=float) - line
        x = part["distance"].to_numpy(dtype=float)
        y = part["value"].to_numpy(dtype=float)
        slope = np.polyfit(x, y, 1)[0] if len(np.unique(x)) > 1 else np.nan
        rows.append(
            {
                **dict(zip(keys, key)),
                "n_gs": len(gs),
                "cs_plus": plus,
                "cs_minus": minus,
                "gs_mean": gs["value"].mean() if len(gs) else np.nan,
                "linear_deviation": (
                    float(np.mean(deviation))
                    if len(gs) and np.isfinite(plus) and np.isfinite(minus)
                    else np.nan
                ),
                "slope": float(slope),
            }
        )
    return pd.DataFrame(rows, columns=list(SCORE_COLUMNS))
