"""Reading pavlov session logs (BIDS, see ``task/LOG.md``) into one tidy trial frame.

:func:`load_trials` takes one ``*_events.tsv`` file, a participant or session folder, a whole
data folder, or another tool's trial table (:mod:`pavlov.analysis.table`), and returns the
**tidy trial frame**: one row per CS trial, in presentation order within each participant,
with the columns

=================  ==========================================================================
``participant``    participant label (``01`` for ``sub-01``)
``group``          from ``participants.tsv`` (column ``group``); ``''`` when absent
``session``        session label (``''`` when the log has none)
``run``            run number as text (``''`` when none)
``phase``          phase name
``phase_type``     habituation, acquisition, extinction, ... (guessed from the name for tables)
``phase_order``    1-based order in which phases occur (over participants and sessions)
``trial``          1-based trial number within the phase
``cs_trial``       1-based count of this CS role (``cs``) within the participant's phase
``cs``             CS role (``CS+``, ``CS-``, ``CS+R`` ...)
``cs_type``        ``CS+`` or ``CS-``
``stimulus``       CS identity that played the role (``''`` when unknown)
``context``        context identity (``''`` when none)
``reinforced``     bool
``onset``          CS onset, seconds from session zero (NaN for tables without onsets)
``duration``       CS duration, seconds
``us_onset``       seconds from CS onset to the (delivered or omitted) US time point
``iti``            planned ITI after the trial, seconds
``rating``         online expectancy rating (NaN when missed or not asked)
``rating_rt``      seconds from scale onset to the answer
``scr``            SCR to the CS in µS (scored from ``*_recording-scr_physio.tsv.gz`` when
                   the session has one; NaN otherwise or for artefacts)
``us_scr``         SCR to the US in µS (reinforced trials; NaN otherwise)
=================  ==========================================================================

Imported tables may add ``block`` (their own blocks) and a response column of their own
name. Post-phase ratings (``trial_type = rating`` rows) are not trials: :func:`load_ratings`
returns them as a second frame. :func:`load_sessions` returns the provenance sidecars.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pavlov.analysis.errors import AnalysisError, TableError
from pavlov.analysis.frame import (
    RATING_COLUMNS,
    finish_trials,
    natural_key,
    phase_order,
)
from pavlov.analysis.physio import Physio
from pavlov.analysis.table import (
    TRIAL_TYPES,
    missing_mask,
    parse_choice,
    parse_numeric,
    plain_line_lengths,
    read_delimited,
    read_plain,
    read_table,
    require_columns,
)
from pavlov.common.bids import LABEL

#: Seconds after US onset in which the US response is scored (trough-to-peak).
US_WINDOW = (1.0, 4.0)

#: How :func:`score_physio` scores, in words for the report's methods section.
SCR_SCORING = (
    "trough-to-peak in the first interval response window (1–4 s after CS onset, peak up to "
    "5 s after the window; EzySCR rules: overlapping responses split at the slope minimum "
    "between them and the largest taken, responses < 0.02 µS scored 0) after a 5-Hz first-order zero-phase "
    "low-pass, windows touching samples that fail PsPM quality control (0.05–60 µS, "
    "|slope| < 10 µS/s, clipping) scored missing; US responses trough-to-peak 1–4 s after "
    "US onset"
)

_LOG_NAME = re.compile(
    rf"^sub-(?P<participant>{LABEL})"
    rf"(?:_ses-(?P<session>{LABEL}))?"
    rf"_task-(?P<task>{LABEL})"
    rf"(?:_acq-{LABEL})?"
    r"(?:_run-(?P<run>[0-9]+))?"
    r"_events\.tsv$"
)


@dataclass(frozen=True)
class LogFile:
    """One run's events file and what its BIDS name says."""

    path: Path
    participant: str
    session: str
    task: str
    run: str

    @property
    def stem(self) -> str:
        """The file name without ``_events.tsv``."""
        return self.path.name[: -len("_events.tsv")]

    @property
    def sidecar(self) -> Path:
        """The provenance sidecar ``..._session.json``."""
        return self.path.with_name(self.stem + "_session.json")


def _events_files(folder: Path) -> list[Path]:
    """The ``*_events.tsv`` files under ``folder``, in sorted order, skipping ``derivatives``
    and hidden folders and files below it (not above it: a study kept under a hidden
    folder is still found). ``os.walk`` lists a 1,000-run study in a third of
    ``Path.rglob``'s time; analyze searches several times."""
    files = []

    def fail(error: OSError) -> None:
        raise error

    for root, folders, names in os.walk(folder, onerror=fail, followlinks=True):
        folders[:] = [f for f in folders if f != "derivatives" and not f.startswith(".")]
        files += [
            Path(root, name)
            for name in names
            if name.endswith("_events.tsv") and not name.startswith(".")
        ]
    return sorted(files)


def find_logs(path: str | Path) -> list[LogFile]:
    """Find the events logs under a data, participant or session folder, or one file.

    Raises
    ------
    AnalysisError
        If the path does not exist or holds no ``*_events.tsv``.
    TableError
        If an events file name does not follow the BIDS pattern of ``task/LOG.md``.
    """
    path = Path(path)
    if not path.exists():
        raise AnalysisError(
            f"{path}: expected an events file, a participant or data folder, or a trial table, "
            "got nothing at that path"
        )
    if path.is_file():
        files = [path]
    else:
        if path.resolve() == Path(path.resolve().anchor):
            # `pavlov analyze /` searched the whole machine, into /proc, and crashed there
            raise AnalysisError(
                f"{path}: expected a data, participant or session folder, got the root of the "
                "file system"
            )
        try:
            files = _events_files(path)
        except OSError as error:
            raise AnalysisError(
                f"{path}: cannot search this folder for session logs: {error.strerror} "
                f"({error.filename})"
            ) from None
        if not files:
            raise AnalysisError(
                f"{path}: expected pavlov session logs (sub-*/ses-*/*_events.tsv) in this folder, "
                "found none"
            )
    logs = []
    for file in files:
        match = _LOG_NAME.match(file.name)
        if match is None:
            raise TableError(
                str(file),
                0,
                "",
                "a BIDS name sub-<id>[_ses-<s>]_task-<t>[_run-<n>]_events.tsv",
                repr(file.name),
            )
        logs.append(
            LogFile(
                path=file,
                participant=match["participant"],
                session=match["session"] or "",
                task=match["task"],
                run=match["run"] or "",
            )
        )
    return logs


def is_trial_table(path: str | Path) -> bool:
    """True when ``path`` is a file that is not a BIDS events log (so a trial table)."""
    path = Path(path)
    return path.is_file() and not path.name.endswith("_events.tsv")


def load_trials(
    path: str | Path,
    response_name: str = "rating",
    *,
    physio: Physio | None = None,
    scoring: dict | None = None,
    columns: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Load session logs or a trial table into the tidy trial frame.

    Parameters
    ----------
    path : str or Path
        An ``*_events.tsv`` file, a session/participant/data folder, or a trial table
        (any other file; see :mod:`pavlov.analysis.table`).
    response_name : str
        For trial tables: the tidy column that receives their ``response`` column.
    physio : Physio, optional
        A skin-conductance recording of the one run under ``path`` (e.g. a CSV read with
        :func:`pavlov.analysis.physio.read_physio_csv` at a stated rate), scored in place
        of (or where there is no) ``*_recording-scr_physio.tsv.gz`` beside the log.
    scoring : dict, optional
        Keyword arguments for :func:`pavlov.analysis.scr.score_events` when CS responses
        are scored (``method``, ``window``); its defaults when None.
    columns : dict, optional
        For trial tables: their column names → pavlov's (see
        :func:`pavlov.analysis.table.parse_column_map`).

    Returns
    -------
    pandas.DataFrame
        The tidy trial frame (see the module docstring).

    Raises
    ------
    TableError
        A malformed file (naming file, row and column).
    AnalysisError
        Nothing to load at ``path``.
    """
    if columns and not is_trial_table(path):
        raise AnalysisError(f"--columns: maps the columns of a trial table; {path} is not one")
    if is_trial_table(path):
        if physio is not None:
            raise AnalysisError(
                f"{path}: a physiology recording needs a session log (events.tsv) for its "
                "onsets, got a trial table"
            )

        return read_table(path, response_name=response_name, columns=columns)
    return load_study(path, response_name, physio=physio, scoring=scoring)[0]


def load_study(
    path: str | Path,
    response_name: str = "rating",
    *,
    physio: Physio | None = None,
    scoring: dict | None = None,
    columns: dict[str, str] | None = None,
    logs: list[LogFile] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Trials (:func:`load_trials`) and post-phase ratings (:func:`load_ratings`) in one
    pass: each run's events file is read once. ``logs``: :func:`find_logs` of ``path``,
    when the caller has them already.

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        The tidy trial frame and the ratings frame.
    """
    if is_trial_table(path) or columns:
        return load_trials(path, response_name, physio=physio, columns=columns), _no_ratings()
    logs = find_logs(path) if logs is None else logs
    if physio is not None and len(logs) != 1:
        raise AnalysisError(
            f"{path}: a physiology recording belongs to one run, got {len(logs)} events logs "
            "here; point at that run's events.tsv or session folder"
        )
    ranks = _session_ranks(logs)
    runs = _load_runs(logs, ranks, physio, scoring)
    groups = read_groups(find_participants_tsv(Path(path)))
    return combine_runs(runs, groups, path)


#: Runs from which loading in forked processes pays off (a process costs ~50 ms to start).
PARALLEL_RUNS = 200


def _load_chunk(chunk: list[tuple[LogFile, int]], scoring: dict | None = None) -> list:
    """The :func:`load_run` parts of ``chunk``'s runs: plain logs without a recording are
    read and converted together (:func:`_load_together`), the others one by one."""
    parts = []
    together: dict[bytes, list[tuple[LogFile, int, bytes]]] = {}
    for log, rank in chunk:
        data = None if find_physio(log) is not None else _plain_bytes(log.path)
        if data is None:
            parts.append(load_run(log, rank, scoring=scoring))
        else:  # logs are joined under one header: same columns, same order
            together.setdefault(data.split(b"\n", 1)[0], []).append((log, rank, data))
    for header, runs in together.items():
        try:
            parts.append(_load_together(header, runs))
        except (TableError, ValueError, UnicodeDecodeError, pd.errors.ParserError):
            # the strict path names the file, row and column of the problem
            parts.extend(load_run(log, rank, scoring=scoring) for log, rank, _ in runs)
    return parts


def _plain_bytes(path: Path) -> bytes | None:
    """The log's bytes when it may be read together with others: plain (no quotes, equal
    field counts), with a header and rows, no blank or CR-ended lines, ending in a newline."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    lengths = plain_line_lengths(data, "\t")
    if lengths is None or len(lengths) < 2 or b"\r" in data or not data.endswith(b"\n"):
        return None
    return data if (lengths > 0).all() else None


def _load_together(header: bytes, runs: list[tuple[LogFile, int, bytes]]):
    """The parts of :func:`load_run` for several runs at once: their logs (plain, one
    header) parsed as one table and converted column by column, not run by run (a run's
    pandas overhead was most of a 1,000-run study's loading). Raises on anything unusual,
    and the caller then reads each run alone, whose errors name the file and row."""
    bodies = [data.split(b"\n", 1)[1] for _, _, data in runs]
    counts = np.array([body.count(b"\n") for body in bodies])
    frame = pd.read_csv(
        io.BytesIO(header + b"\n" + b"".join(bodies)), sep="\t", dtype=str,
        keep_default_na=False, na_filter=False, quoting=3, encoding="utf-8",
    )  # fmt: skip
    names = [f.strip() for f in header.decode("utf-8").split("\t")]
    if list(frame.columns) != names or len(set(names)) != len(names) or "" in names:
        raise ValueError("header")
    if len(frame) != counts.sum():
        raise ValueError("rows")
    cells = frame.to_numpy(dtype=object)
    stripped = np.array([c.strip() for c in cells.ravel()], dtype=object).reshape(cells.shape)
    if len(stripped) and (stripped == "").all(axis=1).any():
        raise ValueError("blank row")
    raw = pd.DataFrame(stripped, columns=names, dtype=object)
    raw.index = pd.Index(np.arange(1, len(raw) + 1), name="row")
    events = _checked_events(raw, "logs")
    row_runs = np.repeat(np.arange(len(runs)), counts)
    trials = events_to_trials(events, "logs", runs=row_runs)
    logs = [log for log, _, _ in runs]
    ranks = np.array([rank for _, rank, _ in runs], dtype=float)
    if len(trials):
        at = trials.pop("_run").to_numpy()
        for column in ("participant", "session", "run"):
            trials[column] = np.array([getattr(log, column) for log in logs], dtype=object)[at]
        trials["_position"] = ranks[at] * 1e9 + trials["_position"]
    return trials, _ratings_together(events, row_runs, logs, ranks)


def _ratings_together(
    events: pd.DataFrame, row_runs: np.ndarray, logs: list[LogFile], ranks: np.ndarray
) -> pd.DataFrame | None:
    """:func:`_run_ratings` of several runs read as one frame (``row_runs``)."""
    is_rating = events["trial_type"].to_numpy() == "rating"
    if not is_rating.any():
        return None
    rows = events[is_rating]
    at = row_runs[is_rating]
    _require(events, "logs", ("phase", "trial", "cs", "rating"))
    labels = {
        c: np.array([getattr(log, c) for log in logs], dtype=object)
        for c in ("participant", "session", "run")
    }
    return pd.DataFrame(
        {
            "participant": labels["participant"][at],
            "session": labels["session"][at],
            "run": labels["run"][at],
            "phase": rows["phase"].to_numpy(dtype=object),
            "trial": _as_int(rows, "trial", "logs"),
            "cs": rows["cs"].to_numpy(dtype=object),
            "cs_type": rows["cs_type"].to_numpy(dtype=object)
            if "cs_type" in rows
            else rows["cs"].map(lambda r: "CS+" if str(r).startswith("CS+") else "CS-"),
            "stimulus": _text(rows, "stimulus"),
            "rating": _number(rows, "rating", "logs"),
            "rating_rt": _number(rows, "rating_rt", "logs"),
            "onset": rows["onset"].to_numpy(dtype=float),
            "_position": ranks[at] * 1e9 + _within_run(at),
        }
    )


def _load_runs(
    logs: list[LogFile], ranks: dict, physio: Physio | None, scoring: dict | None = None
) -> list:
    """The parts of :func:`load_run` for every run (joined by :func:`combine_runs`); a
    large study's runs are loaded in forked processes, one contiguous share per CPU (the
    same parts)."""
    if physio is not None:
        return [load_run(log, ranks[log], physio, scoring) for log in logs]
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    if len(logs) < PARALLEL_RUNS or cpus < 2:
        return _load_chunk([(log, ranks[log]) for log in logs], scoring)
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    if "fork" not in mp.get_all_start_methods():
        return _load_chunk([(log, ranks[log]) for log in logs], scoring)
    items = [(log, ranks[log]) for log in logs]
    size = -(-len(items) // (2 * cpus))  # two shares per CPU: an uneven share waits less
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    with ProcessPoolExecutor(cpus, mp_context=mp.get_context("fork")) as pool:
        shares = pool.map(_load_chunk, chunks, [scoring] * len(chunks))
        return [run for part in shares for run in part]


def load_run(
    log: LogFile, rank: int = 0, physio: Physio | None = None, scoring: dict | None = None
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """One run's work: read its events once; its trial rows (SCR scored from ``physio`` or
    the run's own recording) and its post-phase rating rows (None without any).

    ``rank`` is the run's place among its participant's runs (presentation order). The
    parts are independent of every other run, so runs may be loaded in parallel (Dask
    workers) and joined with :func:`combine_runs`.
    """
    events = read_events(log.path)
    trials = events_to_trials(events, str(log.path))
    if trials.empty:
        # A session without any CS trial (an infusion and its waits, a reactivation by
        # script): nothing to score, but its post-phase ratings still count.
        return trials, _run_ratings(log, events, rank)
    recording = physio if physio is not None else find_physio(log)
    if recording is not None and len(trials):
        trials = score_physio(events, trials, recording, scoring)
    trials["participant"] = log.participant
    trials["session"] = log.session
    trials["run"] = log.run
    trials["_position"] = rank * 1e9 + trials["_position"]
    return trials, _run_ratings(log, events, rank)


class NoTrialsError(AnalysisError):
    """The logs hold no CS trial at all (a questionnaire-only follow-up day, an infusion
    session): ``pavlov analyze`` then reports what the logs do hold."""


def combine_runs(
    runs: list[tuple[pd.DataFrame, pd.DataFrame | None]],
    groups: Mapping[str, str],
    path: str | Path = "",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Join the parts of :func:`load_run` into the trial and ratings frames."""
    parts = [trials for trials, _ in runs if len(trials)]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if frame.empty:
        raise NoTrialsError(
            f"{path}: expected CS trials (trial_type 'cs' rows) in the logs, found none"
        )
    frame["group"] = frame["participant"].map(lambda p: groups.get(p, ""))
    ratings = [r for _, r in runs if r is not None]
    return finish_trials(frame), _finish_ratings(ratings, groups)


def load_ratings(path: str | Path) -> pd.DataFrame:
    """Load the post-phase ratings (``trial_type = rating`` rows) of session logs.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`RATING_COLUMNS`; ``trial`` is the rating's number within its phase.
        Empty (with those columns) for trial tables or logs without rating rows.
    """
    return load_study(path)[1]


def _no_ratings() -> pd.DataFrame:
    return pd.DataFrame({c: [] for c in RATING_COLUMNS})


def _run_ratings(log: LogFile, events: pd.DataFrame, rank: int) -> pd.DataFrame | None:
    rows = events[events["trial_type"] == "rating"]
    if rows.empty:
        return None
    name = str(log.path)
    _require(events, name, ("phase", "trial", "cs", "rating"))
    return pd.DataFrame(
        {
            "participant": log.participant,
            "session": log.session,
            "run": log.run,
            "phase": rows["phase"].to_numpy(dtype=object),
            "trial": _as_int(rows, "trial", name),
            "cs": rows["cs"].to_numpy(dtype=object),
            "cs_type": rows["cs_type"].to_numpy(dtype=object)
            if "cs_type" in rows
            else rows["cs"].map(lambda r: "CS+" if str(r).startswith("CS+") else "CS-"),
            "stimulus": _text(rows, "stimulus"),
            "rating": _number(rows, "rating", name),
            "rating_rt": _number(rows, "rating_rt", name),
            "onset": rows["onset"].to_numpy(dtype=float),
            "_position": rank * 1e9 + np.arange(len(rows)),
        }
    )


def _finish_ratings(parts: list[pd.DataFrame], groups: Mapping[str, str]) -> pd.DataFrame:
    if not parts:
        return _no_ratings()
    frame = pd.concat(parts, ignore_index=True)
    frame["group"] = frame["participant"].map(lambda p: groups.get(p, ""))
    participants = sorted(pd.unique(frame["participant"]), key=natural_key)
    frame["_rank"] = frame["participant"].map({p: i for i, p in enumerate(participants)})
    frame = frame.sort_values(["_rank", "_position"], kind="stable")
    frame["phase_order"] = phase_order(frame)
    return frame[list(RATING_COLUMNS)].reset_index(drop=True)


def load_sessions(path: str | Path, logs: list[LogFile] | None = None) -> pd.DataFrame:
    """Load the provenance sidecars (``*_session.json``) of the logs under ``path`` (or of
    ``logs``, :func:`find_logs` of ``path`` when the caller has them already).

    Returns
    -------
    pandas.DataFrame
        One row per events file: ``participant, session, run, task, events_file`` and every
        key of its ``session.json`` (missing keys NaN). Empty for trial tables.

    Raises
    ------
    TableError
        If a sidecar exists but is not a JSON object.
    """
    if is_trial_table(path):
        return pd.DataFrame(columns=["participant", "session", "run", "task", "events_file"])
    rows = []
    for log in find_logs(path) if logs is None else logs:
        row = {
            "participant": log.participant,
            "session": log.session,
            "run": log.run,
            "task": log.task,
            "events_file": str(log.path),
        }
        meta = read_sidecar(log.sidecar)
        for key, value in meta.items():
            if key not in row:
                row[key] = value
        rows.append(row)
    return pd.DataFrame(rows)


def read_sidecar(path: Path) -> dict:
    """Read a ``session.json`` sidecar; ``{}`` when it does not exist."""
    if not path.exists():
        return {}
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        line = getattr(error, "lineno", 0)
        raise TableError(
            str(path), 0, "", "a JSON object", f"invalid JSON at line {line}"
        ) from None
    if not isinstance(meta, dict):
        raise TableError(str(path), 0, "", "a JSON object", type(meta).__name__)
    return meta


def find_participants_tsv(path: Path) -> Path | None:
    """The ``participants.tsv`` of the data folder that holds ``path``, if any.

    Looks in ``path`` and up to four parent folders (a single events file sits four
    levels below the data folder), stopping at the first folder that has one.
    """
    folder = path if path.is_dir() else path.parent
    for candidate in [folder, *list(folder.parents)[:4]]:
        tsv = candidate / "participants.tsv"
        if tsv.is_file():
            return tsv
    return None


def read_groups(path: Path | None) -> dict[str, str]:
    """Map participant label → group from a BIDS ``participants.tsv``.

    ``participant_id`` may carry the ``sub-`` prefix; ``group`` is optional (all ``''``).
    """
    if path is None:
        return {}

    raw = read_delimited(path, sep="\t")
    require_columns(raw, str(path), ("participant_id",))
    ids = raw["participant_id"].astype(str).str.replace(r"^sub-", "", regex=True)
    if "group" not in raw.columns:
        return dict.fromkeys(ids, "")
    groups = raw["group"].astype(str)
    groups = groups.where(~missing_mask(groups), "")
    return dict(zip(ids, groups))


def read_events(path: str | Path) -> pd.DataFrame:
    """Read and check one ``events.tsv`` (task/LOG.md).

    Returns
    -------
    pandas.DataFrame
        Every row; ``onset`` and ``duration`` as float, other columns as text with
        ``n/a`` turned into ``''``. The index is the 1-based data row.

    Raises
    ------
    TableError
        Missing required columns, non-numeric onsets or durations.
    """

    name = str(path)
    raw = _read_plain_log(path)
    if raw is None:  # anything unusual: the strict reader names the file, row and column
        raw = read_delimited(path, sep="\t")
    return _checked_events(raw, name)


def _checked_events(raw: pd.DataFrame, name: str) -> pd.DataFrame:
    """:func:`read_events` of a frame of stripped strings."""
    _require(raw, name, ("onset", "duration", "trial_type"))
    onset = parse_numeric(raw, "onset", name, missing_ok=False)
    duration = parse_numeric(raw, "duration", name)
    columns = {}
    cells = raw.to_numpy(dtype=object)
    if cells.size:
        # one pass over the distinct cell values of the whole file, not one per column
        codes, uniques = pd.factorize(cells.ravel(), use_na_sentinel=False)
        missing = missing_mask(pd.Series(uniques, dtype=object))[codes].reshape(cells.shape)
        cells = np.where(missing, "", cells)
    for j, column in enumerate(raw.columns):
        columns[column] = cells[:, j]
    columns["onset"] = onset
    columns["duration"] = duration
    return pd.DataFrame(columns, index=raw.index)


def _read_plain_log(path: str | Path) -> pd.DataFrame | None:
    """An events file as :func:`~pavlov.analysis.table.read_delimited` gives it, parsed by
    pandas' C reader (ten times faster on a thousand logs), or None when the file is not
    plain (bad bytes, quotes, blank rows, odd header or row lengths), for the strict reader."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    return read_plain(data, "\t")


def _require(frame: pd.DataFrame, name: str, columns: tuple[str, ...]) -> None:

    require_columns(frame, name, columns)


def _number(rows: pd.DataFrame, column: str, name: str) -> np.ndarray:

    if column not in rows.columns:
        return np.full(len(rows), np.nan)
    return parse_numeric(rows, column, name)


def _as_int(rows: pd.DataFrame, column: str, name: str) -> np.ndarray:

    values = parse_numeric(rows, column, name, missing_ok=False, integer=True, positive=True)
    return values.astype(int)


def _text(rows: pd.DataFrame, column: str) -> np.ndarray:
    if column not in rows.columns:
        return np.full(len(rows), "", dtype=object)
    return rows[column].astype(str).to_numpy(dtype=object)


def events_to_trials(
    events: pd.DataFrame, name: str = "events.tsv", runs: np.ndarray | None = None
) -> pd.DataFrame:
    """Turn one checked events frame (:func:`read_events`) into trial rows.

    One row per ``cs`` row, with the US time point (``USp``/``USo``/``USm`` row of the same
    phase and trial) giving ``us_onset``. Participant, session, run and group are left to
    the caller. ``_position`` is the row's place in the file.

    ``runs`` (one integer per events row, ascending) marks the rows of several runs' logs
    read as one frame: trials and USs are then matched within a run, ``_position`` counts
    within its run, and the run of each trial row is returned in ``_run``.

    Raises
    ------
    TableError
        Malformed trial numbers, CS types, reinforcement flags or ratings.
    """

    is_cs = events["trial_type"].to_numpy() == "cs"
    cs = events[is_cs]
    if cs.empty:
        return pd.DataFrame()
    # one run: every key starts with the same run number, 0
    cs_runs = np.zeros(len(cs), dtype=int) if runs is None else runs[is_cs]
    _require(events, name, ("phase", "trial", "cs_type"))
    cs_type = parse_choice(cs, "cs_type", name, TRIAL_TYPES)
    roles = _text(cs, "cs")
    out = {
        "phase": cs["phase"].to_numpy(dtype=object),
        "phase_type": _text(cs, "phase_type"),
        "trial": _as_int(cs, "trial", name),
        "cs_type": cs_type,
        "cs": np.where(roles == "", cs_type, roles),
        "stimulus": _text(cs, "stimulus"),
        "context": _text(cs, "context"),
    }
    if "reinforced" in cs.columns:
        out["reinforced"] = parse_choice(cs, "reinforced", name, ("0", "1")) == "1"
    elif "event_type" in cs.columns:
        out["reinforced"] = cs["event_type"].to_numpy() == "CSpr"
    else:
        _require(events, name, ("reinforced",))
    onset = cs["onset"].to_numpy(dtype=float)
    out["onset"] = onset
    out["duration"] = cs["duration"].to_numpy(dtype=float)
    out["iti"] = _number(cs, "iti", name)
    out["rating"] = _number(cs, "rating", name)
    out["rating_rt"] = _number(cs, "rating_rt", name)
    out["scr"] = np.full(len(cs), np.nan)
    out["us_scr"] = np.full(len(cs), np.nan)
    out["us_onset"] = np.full(len(cs), np.nan)
    if "event_type" in events.columns:
        kinds = events["trial_type"].to_numpy()
        labels = events["event_type"].to_numpy()
        is_us = (kinds == "us") & np.isin(labels, ["USp", "USo", "USm"])
        us = events[is_us]
        us_runs = np.zeros(len(us), dtype=int) if runs is None else runs[is_us]
        if len(us) and "phase" in us.columns and "trial" in us.columns:
            us_onset = dict(zip(zip(us_runs, us["phase"], us["trial"]), us["onset"]))
            keys = zip(cs_runs, cs["phase"], cs["trial"])
            out["us_onset"] = np.array([us_onset.get(k, np.nan) for k in keys]) - onset
        if len(us) and "phase" in us.columns and "trial" in us.columns and "value" in us.columns:
            # A US the safety guard refused (or a display stall skipped) was scheduled but
            # never given (task/LOG.md): fits and regressors use the delivered USs.
            notes = us["value"].astype(str)
            refused = (us["event_type"].to_numpy() == "USp") & (
                notes.str.startswith("refused") | notes.str.startswith("not delivered")
            ).to_numpy()
            undelivered = us[refused]
            if len(undelivered):
                missed = set(zip(us_runs[refused], undelivered["phase"], undelivered["trial"]))
                given = [k not in missed for k in zip(cs_runs, cs["phase"], cs["trial"])]
                out["reinforced"] = np.asarray(out["reinforced"], dtype=bool) & np.array(given)
    seen: dict[tuple, int] = {}
    for position, key in zip(cs.index, zip(cs_runs, cs["phase"], out["trial"])):
        if key in seen:
            raise TableError(
                name,
                int(position),
                "trial",
                f"each trial of a phase once (trial {key[2]} of phase {key[1]} is at row "
                f"{seen[key]})",
                f"trial {key[2]} again",
            )
        seen[key] = position
    out["_position"] = _within_run(cs_runs)
    if runs is not None:
        out["_run"] = cs_runs
    return pd.DataFrame(out)


def _within_run(runs: np.ndarray) -> np.ndarray:
    """Each row's place (0, 1, ...) among the rows of its run (``runs`` ascending)."""
    return (np.arange(len(runs)) - np.searchsorted(runs, runs)).astype(float)


def find_physio(log: LogFile) -> Path | None:
    """The run's ``*_recording-scr_physio.tsv.gz`` (beside the log or in a sibling folder)."""
    name = log.stem + "_recording-scr_physio.tsv.gz"
    folder = log.path.parent
    for candidate in [folder / name, *(sibling / name for sibling in folder.parent.glob("*"))]:
        if candidate.is_file():
            return candidate
    return None


def score_physio(
    events: pd.DataFrame,
    trials: pd.DataFrame,
    physio: str | Path | Physio,
    scoring: dict | None = None,
) -> pd.DataFrame:
    """Fill ``scr`` (CS responses) and ``us_scr`` (responses to delivered USs) from physio.

    Uses :func:`pavlov.analysis.scr.score_events` with its defaults (FIR trough-to-peak)
    on the ``cs`` rows, and on the ``USp`` rows of trials in :data:`US_WINDOW` after the
    US onset (:data:`SCR_SCORING` says it in words). The recording is read once.

    Parameters
    ----------
    events : pandas.DataFrame
        The run's checked events (:func:`read_events`).
    trials : pandas.DataFrame
        Its trial rows (:func:`events_to_trials`), one per ``cs`` row, same order.
    physio : path-like or Physio
        ``*_physio.tsv.gz`` with its JSON sidecar, or a recording already read. The
        skin-conductance channel is ``scr``, else the first channel named ``scr…``
        (M-BIDS ``scr1``).
    """
    from pavlov.analysis.physio import read_physio
    from pavlov.analysis.scr import prepare_signal, score_events

    recording = physio if isinstance(physio, Physio) else read_physio(physio)
    channel = _scr_channel(recording)
    out = trials.copy()
    cs = events[events["trial_type"] == "cs"]
    options = dict(scoring or {})
    # Filtering and quality checks of the whole recording cost more than scoring its
    # epochs: done once, shared by the CS and the US scoring when their settings agree.
    preparation = {k: options[k] for k in ("lowpass_hz", "qc", "qc_options") if k in options}
    signal = prepare_signal(recording, channel=channel, **preparation)
    cs = _trace_intervals(cs, trials)
    out["scr"] = np.asarray(score_events(cs, signal, channel=channel, **options), dtype=float)
    if "event_type" in events.columns and "trial" in events.columns:
        us = events[(events["trial_type"] == "us") & (events["event_type"] == "USp")]
        us = us[us["trial"] != ""]
        if not us.empty:
            # Scored like a CS so that the scorer's window is placed after the US onset,
            # with the scorer's default filter and checks.
            as_cs = us.assign(trial_type="cs")
            defaults = prepare_signal(recording, channel=channel) if preparation else signal
            scores = score_events(as_cs, defaults, window=US_WINDOW, channel=channel)
            values = np.asarray(scores, dtype=float)
            by_trial = dict(zip(zip(us["phase"], us["trial"]), values))
            keys = zip(cs["phase"], cs["trial"])
            out["us_scr"] = [by_trial.get(k, np.nan) for k in keys]
    return out


def _trace_intervals(cs: pd.DataFrame, trials: pd.DataFrame) -> pd.DataFrame:
    """The ``cs`` rows with, for trace trials, ``duration`` stretched to the US onset
    (``trials``: their trial rows, whose ``us_onset`` is seconds from CS onset to the US).

    The named latency windows are placed by the CS duration: SIR ends and TIR (the US
    response) starts 1 s after it, which in delay conditioning is where the US falls. In
    trace conditioning the ``cs`` row's duration is the CS alone and the US comes after
    the trace gap (task/LOG.md), so the interval to the US onset takes its place: SIR then
    covers the trace and TIR follows the US, as they do for a delay CS. FIR does not depend
    on it.
    """
    if "us_onset" not in trials.columns:
        return cs
    later = pd.to_numeric(trials["us_onset"], errors="coerce").to_numpy(dtype=float)
    duration = pd.to_numeric(cs["duration"], errors="coerce").to_numpy(dtype=float)
    trace = later > duration + 1e-6  # the US starts after the CS has ended
    if not trace.any():
        return cs
    return cs.assign(duration=np.where(trace, later, duration))


def _scr_channel(recording: Physio) -> str:
    if "scr" in recording.columns:
        return "scr"
    numbered = [c for c in recording.columns if re.fullmatch(r"scr\d*", c)]
    return numbered[0] if numbered else "scr"  # Physio.channel names the columns there are


def _session_ranks(logs: list[LogFile]) -> dict[LogFile, int]:
    """Each log's place among its participant's runs: sessions by start time (from the
    sidecar, else by natural label order), then runs by number."""
    ranks: dict[LogFile, int] = {}
    by_participant: dict[str, list[LogFile]] = {}
    for log in logs:
        by_participant.setdefault(log.participant, []).append(log)
    for items in by_participant.values():
        started = {}
        for log in items:
            meta = read_sidecar(log.sidecar) if log.sidecar.exists() else {}
            started[log] = str(meta.get("started") or "")
        complete = all(started.values())

        def key(log: LogFile, complete: bool = complete, started: dict = started) -> tuple:
            first = started[log] if complete else ""
            return (first, natural_key(log.session), natural_key(log.run))

        for i, log in enumerate(sorted(items, key=key)):
            ranks[log] = i
    return ranks
