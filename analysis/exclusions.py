"""Exclusion flags: computed as columns and counted, never applied silently (analysis.md §6).

Flags per participant:

- ``us_nonresponder``: fewer than ``us_min_share`` of the US trials with a US response
  (``us_scr``) of at least ``us_threshold`` µS (Lonsdorf et al. 2019: base non-responding
  on the US). NA when the data have no US responses.
- ``nonlearner``: D (CS+ − CS−) over the last ``nonlearner_trials`` unreinforced trials of
  each CS type of the acquisition phase is ≤ 0 (reinforced trials carry the US response) (multifear's ``nonlearner_lastN``). Using it to exclude
  people before testing acquisition on the same measure is circular: it is reported, but
  only excludes when asked for.
- ``missing``: more than ``max_missing`` of the participant's trials lack a response.
- ``unaware``: the participant chose another picture than the CS+ in a contingency-awareness
  item (a questionnaire ``picture_choice`` with ``awareness: true``,
  :func:`pavlov.analysis.questionnaire.classify_awareness`); NA without one answered.
- ``no_response``: not one trial has a response (a recording that failed, a participant who
  never rated); such participants are always excluded, whatever ``criteria`` say.

``excluded`` is True when ``no_response`` or any flag named in ``criteria`` is True.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from pavlov.analysis.curves import check_response
from pavlov.analysis.errors import AnalysisError

#: Flags that can be used as exclusion criteria.
FLAGS = ("us_nonresponder", "nonlearner", "missing", "unaware")

#: Columns of :func:`flag_participants`.
FLAG_COLUMNS = (
    "participant",
    "group",
    "us_trials",
    "us_valid_share",
    "us_nonresponder",
    "nonlearner_d",
    "nonlearner",
    "missing_share",
    "missing",
    "unaware",
    "no_response",
    "excluded",
)


def flag_participants(
    trials: pd.DataFrame,
    response: str,
    *,
    us_threshold: float = 0.02,
    us_min_share: float = 0.25,
    nonlearner_trials: int = 2,
    acquisition: str | None = None,
    max_missing: float = 0.5,
    criteria: Sequence[str] = ("us_nonresponder",),
    awareness: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Compute exclusion flags per participant.

    Parameters
    ----------
    trials : pandas.DataFrame
        Tidy trial frame.
    response : str
        Response used for the non-learner and missing-data flags.
    us_threshold : float
        Minimum US response in µS for a US trial to count as a response.
    us_min_share : float
        Minimum share (0–1) of US trials with a response.
    nonlearner_trials : int
        Last trials of each CS type in acquisition that enter the non-learner D.
    acquisition : str, optional
        Acquisition phase name; the last phase of type ``acquisition`` when None.
    max_missing : float
        Highest allowed share (0–1) of trials without a response.
    criteria : sequence of str
        Flags (from :data:`FLAGS`) that set ``excluded``.
    awareness : pandas.DataFrame, optional
        :func:`pavlov.analysis.questionnaire.classify_awareness`; ``unaware`` is NA for
        everyone without it.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`FLAG_COLUMNS`, one row per participant; flags are nullable booleans
        (NA when they cannot be computed), ``excluded`` is a plain bool.
    """
    unknown = [c for c in criteria if c not in FLAGS]
    if unknown:
        raise AnalysisError(f"criteria: expected any of {', '.join(FLAGS)}, got {unknown[0]!r}")
    for name, value in (("us_min_share", us_min_share), ("max_missing", max_missing)):
        if not 0 <= value <= 1:
            raise AnalysisError(f"{name}: expected a share between 0 and 1, got {value!r}")
    if int(nonlearner_trials) != nonlearner_trials or nonlearner_trials < 1:
        raise AnalysisError(
            f"nonlearner_trials: expected a whole number >= 1, got {nonlearner_trials!r}"
        )
    check_response(trials, response)
    from pavlov.analysis.indices import _d_ends, phase_roles

    people = trials.drop_duplicates("participant")[["participant", "group"]].reset_index(drop=True)
    us = trials[trials["reinforced"]]
    has_us = us["us_scr"].notna()
    counts = (
        us[has_us]
        .groupby("participant")["us_scr"]
        .agg(us_trials="size", us_valid=lambda v: float(np.mean(v >= us_threshold)))
    )
    people["us_trials"] = people["participant"].map(counts["us_trials"]).fillna(0).astype(int)
    people["us_valid_share"] = people["participant"].map(counts["us_valid"]).astype(float)
    flag = people["us_valid_share"] < us_min_share
    people["us_nonresponder"] = flag.astype("boolean").mask(people["us_valid_share"].isna())

    roles = phase_roles(trials, acquisition=acquisition, extinction=None, tests=())
    data = trials[trials[response].notna() & ~trials["reinforced"].astype(bool)]
    d = _d_ends(data, response, roles.acquisition, int(nonlearner_trials), last=True)
    people["nonlearner_d"] = people["participant"].map(d).astype(float)
    people["nonlearner"] = (
        (people["nonlearner_d"] <= 0).astype("boolean").mask(people["nonlearner_d"].isna())
    )
    share = trials[response].isna().groupby(trials["participant"]).mean()
    people["missing_share"] = people["participant"].map(share).astype(float)
    people["missing"] = pd.array(people["missing_share"] > max_missing, dtype="boolean")
    aware = (
        awareness.set_index("participant")["aware"]
        if awareness is not None and len(awareness)
        else pd.Series(dtype="boolean")
    )
    if "unaware" in criteria and not aware.notna().any():
        raise AnalysisError(
            "--exclude unaware: expected answered contingency-awareness items (a questionnaire "
            "picture_choice with awareness: true), got none in the data"
        )
    people["unaware"] = pd.array(
        ~people["participant"].map(aware).astype("boolean"), dtype="boolean"
    )
    answered = trials[response].notna().groupby(trials["participant"]).any()
    people["no_response"] = pd.array(
        ~people["participant"].map(answered).fillna(False).astype(bool), dtype="boolean"
    )
    excluded = people["no_response"].to_numpy(dtype=bool).copy()
    for name in criteria:
        excluded |= people[name].fillna(False).to_numpy(dtype=bool)
    people["excluded"] = excluded
    return people[list(FLAG_COLUMNS)]


def exclusion_counts(flags: pd.DataFrame) -> pd.DataFrame:
    """Count flagged participants per flag, overall and per group.

    Returns
    -------
    pandas.DataFrame
        Columns ``flag, group, flagged, unknown, total`` (``group`` is ``''`` for the
        overall rows; per-group rows follow when the data have groups). ``flag`` runs over
        :data:`FLAGS`, ``no_response`` and ``excluded``.
    """
    rows = []
    groups = [("", flags)]
    named = [g for g in pd.unique(flags["group"]) if g != ""]
    if named:
        groups += [(g, flags[flags["group"] == g]) for g in sorted(named)]
    for name in (*FLAGS, "no_response", "excluded"):
        for group, part in groups:
            values = pd.array(part[name], dtype="boolean")
            rows.append(
                {
                    "flag": name,
                    "group": group,
                    "flagged": int(values.fillna(False).sum()),
                    "unknown": int(values.isna().sum()),
                    "total": len(part),
                }
            )
    return pd.DataFrame(rows)


def included(flags: pd.DataFrame) -> list[str]:
    """Participants not excluded (for :func:`pavlov.analysis.curves.select_trials`)."""
    return flags.loc[~flags["excluded"], "participant"].tolist()
