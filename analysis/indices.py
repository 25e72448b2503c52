"""Return-of-fear, extinction and reversal indices per participant (analysis.md §5).

With D(x) = mean CS+ − mean CS− over the trials x (k trials of each CS type):

- **extinction index** = D(last k acquisition trials) − D(last k extinction trials);
- **return-of-fear index** = D(first k test trials) − D(last k extinction trials);
- **recovery ratio** = D(first k test trials) / D(last k acquisition trials) (Schiller 2010;
  unstable when the denominator is near 0, so it is NaN when |denominator| < ``min_denominator``);
- **reversal index** (Homan 2019) = D(acquisition) − D(reversal), where D is the
  acquisition CS+ identity minus the acquisition CS− identity over unreinforced trials.

Which phases play which part is inferred from ``phase_type`` (the last acquisition phase;
the last extinction phase after it; every later recall, renewal or reinstatement-test phase
is a test) unless given. The phases and the number of trials entering each term are
returned with the values, so they can be reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pavlov.analysis.curves import check_response, select_trials
from pavlov.analysis.errors import AnalysisError

#: Phase types that count as return-of-fear tests when they follow extinction.
TEST_PHASE_TYPES = ("recall", "renewal", "reinstatement", "test")

#: Columns of :func:`compute_indices`.
INDEX_COLUMNS = (
    "participant",
    "group",
    "acquisition_phase",
    "extinction_phase",
    "test_phase",
    "k",
    "d_acquisition_last",
    "d_extinction_last",
    "d_test_first",
    "extinction_index",
    "rof_index",
    "recovery_ratio",
)


@dataclass(frozen=True)
class PhaseRoles:
    """Which phases an index uses: acquisition, extinction and tests (names or None)."""

    acquisition: str | None
    extinction: str | None
    tests: tuple[str, ...]


def phase_roles(
    trials: pd.DataFrame,
    acquisition: str | None = None,
    extinction: str | None = None,
    tests: Sequence[str] | None = None,
) -> PhaseRoles:
    """Find (or check) the acquisition, extinction and test phases.

    Raises
    ------
    AnalysisError
        A named phase is not in the data.
    """
    phases = (
        trials.drop_duplicates("phase")[["phase", "phase_type", "phase_order"]]
        .sort_values("phase_order")
        .reset_index(drop=True)
    )
    names = list(phases["phase"])
    for given in [acquisition, extinction, *(tests or ())]:
        if given is not None and given not in names:
            from pavlov.common.errors import suggest

            close = suggest(given, names)
            hint = f". Did you mean '{close}'?" if close else ""
            raise AnalysisError(f"phase: expected one of {', '.join(names)}, got {given!r}{hint}")
    order = dict(zip(phases["phase"], phases["phase_order"]))
    kinds = dict(zip(phases["phase"], phases["phase_type"]))
    if acquisition is None:
        found = [p for p in names if kinds[p] == "acquisition"]
        acquisition = found[-1] if found else None
    if extinction is None:
        start = order[acquisition] if acquisition else 0
        found = [p for p in names if kinds[p] == "extinction" and order[p] > start]
        extinction = found[-1] if found else None
    if tests is None:
        start = order[extinction] if extinction else np.inf
        tests = [p for p in names if kinds[p] in TEST_PHASE_TYPES and order[p] > start]
    return PhaseRoles(acquisition, extinction, tuple(tests))


def _d_ends(data: pd.DataFrame, response: str, phase: str | None, k: int, last: bool) -> pd.Series:
    """Per participant D over the first (or last) k trials of each CS in ``phase`` (CS+
    roles are averaged together)."""
    if phase is None:
        return pd.Series(dtype=float)
    rows = data[data["phase"] == phase]
    grouped = rows.groupby(["participant", "cs"], sort=False)
    position = grouped.cumcount(ascending=not last)
    rows = rows[position.to_numpy() < k]
    means = rows.groupby(["participant", "cs_type"])[response].mean().unstack("cs_type")
    for kind in ("CS+", "CS-"):
        if kind not in means.columns:
            means[kind] = np.nan
    return means["CS+"] - means["CS-"]


def compute_indices(
    trials: pd.DataFrame,
    response: str,
    k: int = 1,
    *,
    acquisition: str | None = None,
    extinction: str | None = None,
    tests: Sequence[str] | None = None,
    exclude_reinforced: bool = False,
    min_denominator: float = 1e-9,
) -> pd.DataFrame:
    """Extinction index, return-of-fear index and recovery ratio per participant.

    Parameters
    ----------
    trials : pandas.DataFrame
        Tidy trial frame.
    response : str
        Response column.
    k : int
        Trials of each CS type at the end (acquisition, extinction) or start (tests) of a
        phase that enter D. Counted over the trials that remain after selection.
    acquisition, extinction : str, optional
        Phase names; inferred from ``phase_type`` when None (see :func:`phase_roles`).
    tests : sequence of str, optional
        Test phases; one row per participant and test phase.
    exclude_reinforced : bool
        Drop reinforced trials first.
    min_denominator : float
        The recovery ratio is NaN when |D(last acquisition)| is below this.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`INDEX_COLUMNS`: one row per participant and test phase (one row per
        participant with ``test_phase = ''`` when there is no test phase).
    """
    if int(k) != k or k < 1:
        raise AnalysisError(f"k: expected a whole number >= 1, got {k!r}")
    check_response(trials, response)
    roles = phase_roles(trials, acquisition, extinction, tests)
    data = select_trials(trials, exclude_reinforced=exclude_reinforced)
    data = data[data[response].notna()]
    people = trials.drop_duplicates("participant")[["participant", "group"]].reset_index(drop=True)
    d_acq = _d_ends(data, response, roles.acquisition, k, last=True)
    d_ext = _d_ends(data, response, roles.extinction, k, last=True)
    parts = []
    for test in roles.tests or ("",):
        part = people.copy()
        part["acquisition_phase"] = roles.acquisition or ""
        part["extinction_phase"] = roles.extinction or ""
        part["test_phase"] = test
        part["k"] = int(k)
        part["d_acquisition_last"] = part["participant"].map(d_acq).astype(float)
        part["d_extinction_last"] = part["participant"].map(d_ext).astype(float)
        d_test = _d_ends(data, response, test or None, k, last=False)
        part["d_test_first"] = part["participant"].map(d_test).astype(float)
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    out["extinction_index"] = out["d_acquisition_last"] - out["d_extinction_last"]
    out["rof_index"] = out["d_test_first"] - out["d_extinction_last"]
    denominator = out["d_acquisition_last"].where(
        out["d_acquisition_last"].abs() >= min_denominator
    )
    out["recovery_ratio"] = out["d_test_first"] / denominator
    return out[list(INDEX_COLUMNS)]


def reversal_index(
    trials: pd.DataFrame,
    response: str,
    acquisition: str | None = None,
    reversal: str | None = None,
) -> pd.DataFrame:
    """Reversal index per participant (Homan et al. 2019): D(acquisition) − D(reversal).

    D is the mean over **unreinforced** trials of the stimulus that was CS+ in acquisition
    minus the stimulus that was CS− in acquisition (identities from the ``stimulus``
    column), so learning the reversal makes D(reversal) negative and the index large.

    Parameters
    ----------
    trials : pandas.DataFrame
        Tidy trial frame with ``stimulus`` filled.
    response : str
        Response column.
    acquisition, reversal : str, optional
        Phase names; default: the first phase and the phase after it.

    Returns
    -------
    pandas.DataFrame
        ``participant, group, acq, rev, revlearn`` (the names Homan's data use).
    """
    check_response(trials, response)
    phases = list(trials.sort_values("phase_order")["phase"].drop_duplicates())
    acquisition = acquisition or phases[0]
    if reversal is None:
        if len(phases) < 2:
            raise AnalysisError(
                "reversal_index: expected a reversal phase after acquisition, found none"
            )
        reversal = phases[phases.index(acquisition) + 1]
    if (trials["stimulus"] == "").any():
        raise AnalysisError(
            "reversal_index: expected the CS identity in column 'stimulus' on every trial, "
            "found empty cells"
        )
    data = trials[~trials["reinforced"]]
    acq = data[data["phase"] == acquisition]
    first_plus = acq[acq["cs_type"] == "CS+"].groupby("participant")["stimulus"].first()
    first_minus = acq[acq["cs_type"] == "CS-"].groupby("participant")["stimulus"].first()

    def contrast(phase: str) -> pd.Series:
        rows = data[data["phase"] == phase]
        means = rows.groupby(["participant", "stimulus"])[response].mean()
        plus = [means.get((p, s), np.nan) for p, s in first_plus.items()]
        minus = [means.get((p, first_minus.get(p)), np.nan) for p in first_plus.index]
        return pd.Series(np.subtract(plus, minus), index=first_plus.index)

    people = trials.drop_duplicates("participant")[["participant", "group"]].reset_index(drop=True)
    people["acq"] = people["participant"].map(contrast(acquisition)).astype(float)
    people["rev"] = people["participant"].map(contrast(reversal)).astype(float)
    people["revlearn"] = people["acq"] - people["rev"]
    return people


def role_indices(
    trials: pd.DataFrame,
    response: str,
    k: int = 1,
    *,
    acquisition: str | None = None,
    extinction: str | None = None,
    tests: Sequence[str] | None = None,
    exclude_reinforced: bool = False,
) -> pd.DataFrame:
    """:func:`compute_indices` for each CS+ role against the CS− trials.

    In a design with two CS+ roles (CS+R / CS+NR of a reminder study, CS+1 / CS+2), D is
    computed per role: D_role(x) = mean of that role − mean CS− over the trials x.

    Returns
    -------
    pandas.DataFrame
        ``cs`` (the CS+ role) then :data:`INDEX_COLUMNS`; one row per participant, test
        phase and CS+ role. Empty when the data have a single CS+ role.
    """
    roles = [r for r in pd.unique(trials["cs"]) if str(r).startswith("CS+")]
    if len(roles) < 2:
        return pd.DataFrame(columns=["cs", *INDEX_COLUMNS])
    roles_of = phase_roles(trials, acquisition, extinction, tests)
    parts = []
    for role in roles:
        subset = trials[(trials["cs"] == role) | (trials["cs_type"] == "CS-")]
        part = compute_indices(
            subset,
            response,
            k,
            acquisition=roles_of.acquisition,
            extinction=roles_of.extinction,
            tests=roles_of.tests,
            exclude_reinforced=exclude_reinforced,
        )
        parts.append(part.assign(cs=role))
    out = pd.concat(parts, ignore_index=True)
    return out[["cs", *INDEX_COLUMNS]]
