"""Questionnaire answers (``trial_type = questionnaire`` rows, ``task/LOG.md``) and the
contingency-awareness classification.

- :func:`load_questionnaire`: one tidy row per item asked (``questionnaire.csv``), with the
  item's form and whether the protocol marks it an awareness item, read from the protocol
  each run recorded in its sidecar;
- :func:`summarise_items`: per item, how it was answered (``questionnaire_summary.csv``);
- :func:`classify_awareness`: per participant, aware when the CS+ picture was chosen in
  every answered awareness item (a ``picture_choice`` item with ``awareness: true``) and,
  for awareness ``scale`` items about one CS each (shock expectancy per CS), the CS+ was
  rated above every CS−; unaware when another picture was chosen in any or a CS− was
  rated as high as a CS+; unknown without an answered one (``awareness.csv``). The ``unaware`` exclusion flag
  (:func:`pavlov.analysis.exclusions.flag_participants`) is its negation.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pavlov.analysis.load import find_logs, find_participants_tsv, read_events, read_groups

__all__ = [
    "AWARENESS_COLUMNS",
    "QUESTIONNAIRE_COLUMNS",
    "classify_awareness",
    "load_questionnaire",
    "summarise_items",
]

#: Columns of :func:`load_questionnaire`.
QUESTIONNAIRE_COLUMNS = (
    "participant",
    "group",
    "session",
    "run",
    "phase",
    "trial",
    "item",
    "form",
    "awareness_item",
    "answer",
    "rating",
    "rt",
    "cs",
    "cs_type",
    "stimulus",
    "onset",
)

#: Columns of :func:`classify_awareness`.
AWARENESS_COLUMNS = ("participant", "group", "awareness_items", "chosen", "aware")


def load_questionnaire(
    path: str | Path,
    recorded: Sequence = (),
    sessions: pd.DataFrame | None = None,
    logs: Sequence | None = None,
) -> pd.DataFrame:
    """The questionnaire rows of the session logs under ``path``, one row per item asked.

    Parameters
    ----------
    path : path
        A data folder, participant or session folder, or one events file.
    recorded : sequence of RecordedProtocol
        :func:`pavlov.analysis.provenance.recorded_protocols` of ``sessions``: the protocols
        that say each item's form and which items are awareness items.
    sessions : pandas.DataFrame, optional
        :func:`pavlov.analysis.load.load_sessions` of ``path`` (which run used which
        protocol).
    logs : list of LogFile, optional
        :func:`pavlov.analysis.load.find_logs` of ``path``, when the caller has them.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`QUESTIONNAIRE_COLUMNS`; ``answer`` is the answer as the log's
        ``value`` gives it (scale value, chosen text or chosen CS role; ``''`` when
        missed), ``rating`` its number, ``rt`` seconds from the item's onset; ``form`` is
        ``''`` and ``awareness_item`` False when the run's protocol is unknown.
    """
    items = _items_by_run(recorded, sessions)
    parts = []
    for log in find_logs(path) if logs is None else logs:
        if b"\tquestionnaire\t" not in log.path.read_bytes():
            continue  # most runs have none: skip parsing them a second time
        events = read_events(log.path)
        rows = events[events["trial_type"] == "questionnaire"]
        if rows.empty:
            continue
        known = items.get(str(log.path), {})
        ids = _column(rows, "item")
        phases = _column(rows, "phase")
        forms = [known.get((p, i), ("", False)) for p, i in zip(phases, ids, strict=True)]
        parts.append(
            pd.DataFrame(
                {
                    "participant": log.participant,
                    "session": log.session,
                    "run": log.run,
                    "phase": phases,
                    "trial": pd.to_numeric(rows["trial"], errors="coerce").astype("Int64"),
                    "item": ids,
                    "form": [f for f, _ in forms],
                    "awareness_item": [a for _, a in forms],
                    "answer": _column(rows, "value"),
                    "rating": pd.to_numeric(rows["rating"], errors="coerce"),
                    "rt": pd.to_numeric(rows["rating_rt"], errors="coerce"),
                    "cs": _column(rows, "cs"),
                    "cs_type": _column(rows, "cs_type"),
                    "stimulus": _column(rows, "stimulus"),
                    "onset": rows["onset"].to_numpy(dtype=float),
                }
            )
        )
    if not parts:
        return pd.DataFrame({c: [] for c in QUESTIONNAIRE_COLUMNS})
    frame = pd.concat(parts, ignore_index=True)
    groups = read_groups(find_participants_tsv(Path(path)))
    frame["group"] = frame["participant"].map(lambda p: groups.get(p, ""))
    return frame[list(QUESTIONNAIRE_COLUMNS)]


def _column(rows: pd.DataFrame, name: str) -> np.ndarray:
    if name not in rows.columns:
        return np.full(len(rows), "", dtype=object)
    return rows[name].fillna("").astype(str).to_numpy(dtype=object)


def _items_by_run(recorded: Sequence, sessions: pd.DataFrame | None) -> dict[str, dict]:
    """events file → {(phase, item id): (form, awareness)} from the run's protocol."""
    if sessions is None or sessions.empty or "protocol_sha256" not in sessions.columns:
        return {}
    from pavlov.protocols.kinds.questionnaire import QuestionnaireSpec

    by_sha = {}
    for record in recorded:
        if record.protocol is None:
            continue
        by_sha[record.sha256] = {
            (phase.name, item.id): (item.form, item.awareness)
            for phase in record.protocol.phases.values()
            if isinstance(phase.spec, QuestionnaireSpec)
            for item in phase.spec.items
        }
    return {
        str(f): by_sha.get(sha, {})
        for f, sha in zip(sessions["events_file"], sessions["protocol_sha256"], strict=True)
    }


def summarise_items(answers: pd.DataFrame) -> pd.DataFrame:
    """How each item was answered, per session and phase.

    Returns
    -------
    pandas.DataFrame
        Columns ``session, phase, item, form, asked, answered, mean, sd, min, max,
        answers``: ``mean``… over the numeric answers (``rating``); ``answers`` counts each
        text answer (``"CS+ 5; CS- 1"``) for choice items, empty for scales.
    """
    rows = []
    for (session, phase, item), part in answers.groupby(
        ["session", "phase", "item"], sort=False, dropna=False
    ):
        values = part["rating"].dropna()
        form = str(part["form"].iloc[0])
        given = part.loc[part["answer"] != "", "answer"]
        counts = given.value_counts(sort=False) if form != "scale" else pd.Series(dtype=int)
        rows.append(
            {
                "session": session,
                "phase": phase,
                "item": item,
                "form": form,
                "asked": len(part),
                "answered": len(values),
                "mean": values.mean() if len(values) else np.nan,
                "sd": values.std() if len(values) > 1 else np.nan,
                "min": values.min() if len(values) else np.nan,
                "max": values.max() if len(values) else np.nan,
                "answers": "; ".join(f"{k} {v}" for k, v in sorted(counts.items())),
            }
        )
    columns = ["session", "phase", "item", "form", "asked", "answered"]
    columns += ["mean", "sd", "min", "max", "answers"]
    return pd.DataFrame(rows, columns=columns)


def classify_awareness(answers: pd.DataFrame) -> pd.DataFrame:
    """Contingency awareness per participant, from the awareness items.

    Picture-choice items count as aware when the CS+ picture was chosen; per-CS scale items
    (``form`` ``scale``, one CS each) when, within each run's phase, every CS+ rating
    exceeds every CS− rating (a phase with either unanswered says nothing).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`AWARENESS_COLUMNS`, one row per participant with an awareness item
        asked: ``awareness_items`` answered, ``chosen`` the roles chosen (``;``-joined, in
        order) and the per-CS ratings (``CS+=8 > CS-=3``), ``aware`` a nullable boolean
        (True: the CS+ picture every time and the CS+ rated highest; False: another
        picture at least once, or a CS− rated at least as high as a CS+; NA: no awareness
        item answered).
    """
    items = answers[answers["awareness_item"].astype(bool)]
    rows = []
    for participant, part in items.groupby("participant", sort=False):
        rated = part["form"] == "scale" if "form" in part.columns else part["cs"] != part["cs"]
        answered = part[~rated & (part["cs"] != "")]
        scales = part[rated & part["rating"].notna()] if rated.any() else None
        verdicts = [c == "CS+" for c in answered["cs_type"]]
        chosen = list(answered["cs"])
        n_items = len(answered)
        runs = scales.groupby(["session", "run", "phase"], sort=False) if scales is not None else []
        for _, asked in runs:
            plus = asked.loc[asked["cs_type"] == "CS+", "rating"]
            minus = asked.loc[asked["cs_type"] == "CS-", "rating"]
            if plus.empty or minus.empty:
                continue  # the CS+ or every CS− unanswered: no comparison
            verdicts.append(bool(plus.min() > minus.max()))
            n_items += len(asked)
            sign = ">" if verdicts[-1] else "<="
            chosen.append(
                " ".join(
                    [
                        ",".join(f"{c}={r:g}" for c, r in zip(asked.loc[plus.index, "cs"], plus)),
                        sign,
                        ",".join(f"{c}={r:g}" for c, r in zip(asked.loc[minus.index, "cs"], minus)),
                    ]
                )
            )
        rows.append(
            {
                "participant": participant,
                "group": part["group"].iloc[0],
                "awareness_items": n_items,
                "chosen": ";".join(chosen),
                "aware": all(verdicts) if verdicts else pd.NA,
            }
        )
    frame = pd.DataFrame(rows, columns=list(AWARENESS_COLUMNS))
    frame["aware"] = frame["aware"].astype("boolean")
    frame["awareness_items"] = frame["awareness_items"].astype(int)
    return frame
