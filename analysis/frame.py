"""The tidy trial frame: its columns, and how a frame read from any source is completed.

Both readers, pavlov's session logs (:mod:`pavlov.analysis.load`) and other tools' trial
tables (:mod:`pavlov.analysis.table`), end in :func:`finish_trials`, so the frame has one
home that neither reader owns. The columns are described in :mod:`pavlov.analysis.load`.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

#: Columns of the tidy trial frame, in order.
TRIAL_COLUMNS = (
    "participant",
    "group",
    "session",
    "run",
    "phase",
    "phase_type",
    "phase_order",
    "trial",
    "cs_trial",
    "cs",
    "cs_type",
    "stimulus",
    "context",
    "reinforced",
    "onset",
    "duration",
    "us_onset",
    "iti",
    "rating",
    "rating_rt",
    "scr",
    "us_scr",
)

#: Columns of the post-phase ratings frame (:func:`load_ratings`), in order.
RATING_COLUMNS = (
    "participant",
    "group",
    "session",
    "run",
    "phase",
    "phase_order",
    "trial",
    "cs",
    "cs_type",
    "stimulus",
    "rating",
    "rating_rt",
    "onset",
)

_TEXT_COLUMNS = ("group", "session", "run", "phase_type", "stimulus", "context")
_NUMBER_COLUMNS = (
    "onset",
    "duration",
    "us_onset",
    "iti",
    "rating",
    "rating_rt",
    "scr",
    "us_scr",
)

#: Phase-name patterns used to guess a phase type when the data do not say it, first match
#: wins (so ``Pre-conditioning`` is habituation and ``EXT-RE`` recall, not extinction).
_PHASE_PATTERNS = (
    (r"pre.?cond|habit|baseline|^pre\b", "habituation"),
    (r"recall|retention|ext.?re\b|^test|spontan", "recall"),
    (r"renew|^ren\b", "renewal"),
    (r"reinst", "reinstatement"),
    (r"react|remind|retriev", "reactivation"),
    (r"ext", "extinction"),
    (r"acq|cond|learn|fear", "acquisition"),
    (r"revers", "reversal"),
)


#: ``cs_type`` of generalisation stimuli (never reinforced; kept out of CS− curves).
GS_TYPE = "GS"

#: A generalisation-stimulus role: ``GS1`` ... ``GSn`` (``GS`` alone when there is one), also
#: as logged under a CS− role (``CS-GS2``). The number is the position on the continuum,
#: counted from the CS+ end (:mod:`pavlov.analysis.gradient`).
GS_ROLE = re.compile(r"^(?:CS-)?GS(\d*)$")


def is_gs_role(role: object) -> bool:
    """True for a generalisation-stimulus role (``GS3``, ``CS-GS``; see :data:`GS_ROLE`)."""
    return GS_ROLE.match(str(role)) is not None


def role_type(role: str, cs_type: str) -> str:
    """The trial type of a role: ``GS`` for a generalisation stimulus, else ``cs_type``."""
    return GS_TYPE if is_gs_role(role) else cs_type


def guess_phase_type(name: str) -> str:
    """Guess a phase's type from its name (``'Pre-conditioning'`` → ``'habituation'``).

    Returns ``''`` when nothing matches.
    """
    lowered = str(name).strip().lower()
    for pattern, kind in _PHASE_PATTERNS:
        if re.search(pattern, lowered):
            return kind
    return ""


def natural_key(label: str) -> tuple:
    """Sort key that orders ``p2`` before ``p10`` and ``day2`` before ``day30``."""
    parts = re.split(r"(\d+)", str(label))
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts if p != "")


def finish_trials(frame: pd.DataFrame) -> pd.DataFrame:
    """Complete a trial frame: defaults, phase order, ``cs_trial``, column order, row order.

    Parameters
    ----------
    frame : pandas.DataFrame
        At least ``participant, phase, trial, cs_type, reinforced`` and ``_position`` (a
        number giving presentation order within a participant).

    Returns
    -------
    pandas.DataFrame
        The tidy trial frame (see the module docstring), index 0..n-1.
    """
    out = frame.copy()
    n = len(out)
    for column in _TEXT_COLUMNS:
        if column not in out.columns:
            out[column] = ""
    if "cs" not in out.columns:
        out["cs"] = out["cs_type"]
    for column in _NUMBER_COLUMNS:
        if column not in out.columns:
            out[column] = np.nan
    # guessed once per phase name, not per row (a study has a handful of phases)
    guessed = out["phase"].map({p: guess_phase_type(p) for p in pd.unique(out["phase"])})
    out["phase_type"] = out["phase_type"].where(out["phase_type"].astype(str) != "", guessed)
    out["participant"] = out["participant"].astype(str)
    out["trial"] = out["trial"].astype(int)
    out["reinforced"] = out["reinforced"].astype(bool)
    participants = sorted(pd.unique(out["participant"]), key=natural_key)
    rank = {p: i for i, p in enumerate(participants)}
    out["_participant_rank"] = out["participant"].map(rank)
    out = out.sort_values(["_participant_rank", "_position"], kind="stable")
    out["phase_order"] = phase_order(out) if n else pd.Series(dtype=int)
    out["cs_trial"] = out.groupby(["participant", "session", "phase", "cs"]).cumcount() + 1
    if n:
        # A generalisation stimulus logged under a CS− role (CS-GS) is not a CS−; a handful
        # of roles, each checked once rather than once per row.
        gs = out["cs"].isin([r for r in pd.unique(out["cs"]) if is_gs_role(r)]).to_numpy()
        if gs.any():
            out.loc[gs, "cs_type"] = GS_TYPE
    extra = [c for c in out.columns if c not in TRIAL_COLUMNS and not c.startswith("_")]
    out = out[list(TRIAL_COLUMNS) + extra].reset_index(drop=True)
    for column in ("participant", "phase", "cs", "cs_type", *_TEXT_COLUMNS):
        out[column] = out[column].astype(object).where(out[column].notna(), "").astype(str)
    return out


#: The columns the summaries group by.
KEY_COLUMNS = ("participant", "group", "session", "run", "phase", "phase_type", "cs", "cs_type")


def with_categorical_keys(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its :data:`KEY_COLUMNS` as categoricals (the same values).

    A study's 10^5 trial rows hold a handful of distinct participants, phases and CS
    types; every group-by of a text column hashes each cell again (2.3 s of the group-bys
    of a 1,000-participant analysis, measured), of a categorical only its codes. Groups
    come out in the same (sorted) order, since the categories are the sorted values. Not
    for frames given to users: a categorical refuses a new value (``frame.loc[..,
    "phase"] = "new"``).
    """
    return frame.assign(**{c: pd.Categorical(frame[c]) for c in KEY_COLUMNS if c in frame.columns})


def phase_order(frame: pd.DataFrame) -> pd.Series:
    """1-based order of each row's phase, in the order phases occur.

    Each participant's phases are ranked by first appearance (rows in presentation order);
    a phase's overall place is its mean rank over the participants who had it, ties going
    to the phase seen first.
    """
    first = frame.drop_duplicates(["participant", "phase"])[["participant", "phase"]].copy()
    first["rank"] = first.groupby("participant").cumcount()
    first["seen"] = np.arange(len(first))
    places = first.groupby("phase", sort=False).agg(rank=("rank", "mean"), seen=("seen", "min"))
    places = places.sort_values(["rank", "seen"], kind="stable")
    order = {phase: i + 1 for i, phase in enumerate(places.index)}
    return frame["phase"].map(order).astype(int)


def python_strings() -> None:
    """Keep text columns as Python strings (the client and every Dask worker call this)."""
    # pandas 3 keeps text columns in Arrow when pyarrow is installed (the dask extra brings
    # it); on the thousands of short columns of a study's logs, Arrow's per-call overhead
    # makes loading 1.6x slower than Python strings (measured), and the values are the same.
    if "string_storage" in dir(pd.options.mode):
        pd.set_option("mode.string_storage", "python")
