"""The crash-safe session log: a BIDS ``_events.tsv`` written one completed event at a time.

The file is opened once with exclusive creation (existing data is never overwritten), its
header is written and fsynced before the first trial, and the rows of each completed event
are appended with a single ``os.write`` followed by ``os.fsync``. After ``kill -9`` the
file therefore holds every completed event and, at worst, one torn last line, which
:meth:`EventLog.reopen` removes before a ``--resume`` continues in the same file.

The column set and its meaning are the contract with :mod:`pavlov.analysis` (``task/LOG.md``).
"""

from __future__ import annotations

import errno
import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pavlov.common.bids import bids_label
from pavlov.common.errors import PavlovError

__all__ = [
    "COLUMNS",
    "COLUMN_DESCRIPTIONS",
    "EventLog",
    "LogError",
    "LogWriter",
    "RunPaths",
    "format_value",
    "run_paths",
    "write_events_json",
]

#: Columns of ``_events.tsv``, in file order.
COLUMNS = (
    "onset",
    "duration",
    "trial_type",
    "event_type",
    "phase",
    "phase_type",
    "trial",
    "cs",
    "cs_type",
    "stimulus",
    "reinforced",
    "us",
    "context",
    "rating",
    "rating_rt",
    "rating_move",
    "rating_confirm",
    "planned_onset",
    "onset_error",
    "iti",
    "stim_file",
    "item",
    "value",
    "dropped_frames",
)

#: The ``_events.json`` sidecar: a description (and units or levels) for every column.
COLUMN_DESCRIPTIONS: dict[str, dict] = {
    "onset": {
        "Description": "Onset, seconds from session zero: the first stored scanner volume "
        "after the dummy volumes, or the first frame of the session without a scanner. "
        "Flip-locked (the time of the screen refresh that showed the event).",
        "Units": "s",
    },
    "duration": {
        "Description": "Measured duration (flip to flip); 0 for point events.",
        "Units": "s",
    },
    "trial_type": {
        "Description": "What the row is.",
        "Levels": {
            "cs": "conditioned stimulus",
            "us": "unconditioned stimulus (or its omission, see event_type)",
            "rating": "post-phase rating of one CS",
            "questionnaire": "questionnaire item (item says which; rating and value the answer)",
            "instructions": "instruction screen",
            "wait": "timed wait with a countdown",
            "rest": "rest block",
            "script": "narrative audio playback",
            "probe": "acoustic startle probe (trial: the trial it sounds in; n/a alone)",
            "event": "experimenter key or run event (value says which)",
            "pulse": "scanner volume (value is the pulse number)",
        },
    },
    "event_type": {
        "Description": "M-BIDS fear-conditioning label (bachlab/M-BIDS).",
        "Levels": {
            "CSpr": "CS+ followed by a US",
            "CSpu": "CS+ not followed by a US",
            "CSm": "CS-",
            "GS": "generalisation stimulus (GS1...GSn on a continuum between CS+ and CS-; "
            "never reinforced)",
            "USp": "US delivered",
            "USo": "US omitted on a CS+ (time the US would have started; duration 0)",
            "USm": "the matching time point on a CS- or a GS (duration 0)",
        },
    },
    "phase": {"Description": "Phase name from the protocol."},
    "phase_type": {"Description": "Phase type (habituation, acquisition, extinction, ...)."},
    "trial": {
        "Description": "1-based trial number within the phase (cs and us rows); event "
        "number within the phase on other rows."
    },
    "cs": {"Description": "CS role (CS+, CS-, CS+R, ..., or GS1...GSn)."},
    "cs_type": {
        "Description": "Type of the CS role.",
        "Levels": {
            "CS+": "a reinforceable role",
            "CS-": "a role never reinforced",
            "GS": "a generalisation stimulus: the number of its role (GS1...GSn) is its "
            "position on the continuum from the CS+ end",
        },
    },
    "stimulus": {"Description": "CS identity that played the role for this participant."},
    "reinforced": {"Description": "1 if a US followed the CS (cs and us rows), else 0."},
    "us": {"Description": "Name of the US (USp rows)."},
    "context": {"Description": "Context identity shown around the stimulus, if any."},
    "rating": {
        "Description": "Online expectancy rating (cs rows) or post-phase rating (rating "
        "rows); n/a if the participant did not answer within the window."
    },
    "rating_rt": {
        "Description": "Seconds from scale onset to the answer: the key press, or the last "
        "click that placed a slider's marker.",
        "Units": "s",
    },
    "rating_move": {
        "Description": "Slider ratings: seconds from scale onset to the first mouse move "
        "(the marker is hidden until then).",
        "Units": "s",
    },
    "rating_confirm": {
        "Description": "Seconds from scale onset to the confirmation (space or return for a "
        "slider; the key itself for key ratings); n/a for a slider placed but not confirmed "
        "before the window ended (its last placed value is the rating).",
        "Units": "s",
    },
    "planned_onset": {
        "Description": "Onset the runner aimed for: the schedule's onset plus any delay "
        "accumulated by self-paced screens (instructions, experimenter-ended waits) before it.",
        "Units": "s",
    },
    "onset_error": {"Description": "onset - planned_onset.", "Units": "s"},
    "iti": {"Description": "Planned interval after the event.", "Units": "s"},
    "stim_file": {"Description": "Stimulus file, relative to the stimuli root if under it."},
    "item": {"Description": "Questionnaire item id from the protocol (questionnaire rows)."},
    "value": {
        "Description": "Experimenter event label (event rows), pulse number counted from "
        "the first pulse including dummy volumes (pulse rows), rising-edge times of a shock "
        "train relative to session zero, ';'-separated (USp rows of shocks), instruction "
        "text (instructions rows), the answer as text (questionnaire rows: the scale value, "
        "the chosen text, or the chosen CS role)."
    },
    "dropped_frames": {"Description": "Frames dropped while the event was on screen."},
}


class LogError(PavlovError, OSError):
    """The session log cannot be created, resumed or written (one-line message).

    Attributes
    ----------
    rows_saved : bool
        True when the rows of the failing append did reach disk (the log was written again
        in a re-created folder), so the event counts as logged.
    """

    exit_status = 5
    rows_saved: bool = False


@dataclass(frozen=True)
class RunPaths:
    """Where one run's files go.

    Attributes
    ----------
    root : Path
        The dataset root (``--data``).
    directory : Path
        ``sub-<id>/ses-<s>/beh`` (or ``func``).
    events : Path
        ``..._events.tsv``.
    events_json : Path
        ``..._events.json``.
    session_json : Path
        ``..._session.json`` (provenance sidecar).
    shocks : Path
        ``..._shocks.tsv``: the shock ledger (every train let through, see
        :class:`~pavlov.task.devices.safety.ShockLedger`).
    lock : Path
        ``sub-<id>/ses-<s>/.pavlov.lock``: the participant's session lock (see
        :class:`~pavlov.task.devices.safety.SessionLock`), one for every run of the session.
    """

    root: Path
    directory: Path
    events: Path
    events_json: Path
    session_json: Path
    shocks: Path
    lock: Path

    def session_ledgers(self) -> list[Path]:
        """The shock ledgers of every run (and task) of this participant's session."""
        session = self.directory.parent
        sub, ses = session.parent.name, session.name
        found = []
        for folder in ("beh", "func"):
            found.extend(sorted((session / folder).glob(f"{sub}_{ses}_task-*_run-*_shocks.tsv")))
        return found


def run_paths(
    root: str | os.PathLike,
    participant: str,
    session: str,
    task: str,
    run: int,
    scanner: bool,
) -> RunPaths:
    """Return the BIDS paths of one run (nothing is created).

    Parameters
    ----------
    root : path
        Dataset root.
    participant, session, task : str
        BIDS labels (validated).
    run : int
        Run number (>= 1, not zero-padded in names).
    scanner : bool
        ``func/`` instead of ``beh/``.
    """
    sub = bids_label(participant, "participant")
    ses = bids_label(session, "session")
    task_label = bids_label(task, "task")
    if isinstance(run, bool) or not isinstance(run, int) or run < 1:
        raise LogError(f"run: expected a whole number >= 1, got {run!r}")
    root = Path(root)
    directory = root / f"sub-{sub}" / f"ses-{ses}" / ("func" if scanner else "beh")
    stem = f"sub-{sub}_ses-{ses}_task-{task_label}_run-{run}"
    return RunPaths(
        root=root,
        directory=directory,
        events=directory / f"{stem}_events.tsv",
        events_json=directory / f"{stem}_events.json",
        session_json=directory / f"{stem}_session.json",
        shocks=directory / f"{stem}_shocks.tsv",
        lock=directory.parent / ".pavlov.lock",
    )


def format_value(value: object) -> str:
    """Format one cell: ``n/a`` for missing, 1/0 for booleans, 4 decimals for floats.

    Tabs and newlines inside text are replaced by spaces so every row stays one line.
    """
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "n/a"
        text = f"{value:.4f}"
        return "0.0000" if text == "-0.0000" else text
    text = str(value)
    if not text:
        return "n/a"
    return text.replace("\t", " ").replace("\r", " ").replace("\n", " ")


def _encode(rows: Sequence[Mapping[str, object]]) -> bytes:
    lines = []
    for row in rows:
        unknown = set(row) - set(COLUMNS)
        if unknown:
            raise ValueError(f"unknown log column(s) {sorted(unknown)}; columns are {COLUMNS}")
        lines.append("\t".join(format_value(row.get(c)) for c in COLUMNS) + "\n")
    return "".join(lines).encode("utf-8")


def _fsync_dir(directory: Path) -> None:
    # The new directory entry itself must reach the disk, or a crash can lose the file.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_events_json(path: Path, extra: Mapping[str, dict] | None = None) -> None:
    """Write the ``_events.json`` column descriptions atomically (temp file + rename)."""
    content = dict(COLUMN_DESCRIPTIONS)
    if extra:
        content.update(extra)
    data = (json.dumps(content, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


class EventLog:
    """An append-only, fsynced ``_events.tsv``.

    Use :meth:`create` for a new run and :meth:`reopen` to resume one; both return an
    open log. Each :meth:`append` is one ``os.write`` of whole lines plus ``os.fsync``, so
    the file on disk always ends at an event boundary (or, after ``kill -9`` inside the
    write, with one torn line that :meth:`reopen` removes).

    Parameters
    ----------
    path : Path
        The ``_events.tsv`` file.
    fd : int
        Its descriptor, opened for appending.
    """

    def __init__(self, path: Path, fd: int, content: bytes = b"") -> None:
        self.path = Path(path)
        self._fd: int | None = fd
        # Everything in the file, kept so a log whose folder vanished can be written again.
        self._content = bytearray(content)

    @classmethod
    def create(cls, path: str | os.PathLike) -> EventLog:
        """Create the file (refusing an existing one), write the header and fsync.

        Raises
        ------
        LogError
            If the file exists (one line naming it and ``--resume``) or cannot be created.
        """
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        except FileExistsError:
            raise LogError(
                f"{path}: this run already has data; use --resume to continue it or "
                "--run N for a new run (existing data is never overwritten)"
            ) from None
        except OSError as error:
            raise LogError(f"{path}: cannot create the session log: {error.strerror}") from None
        log = cls(path, fd)
        log._write(("\t".join(COLUMNS) + "\n").encode("utf-8"))
        _fsync_dir(path.parent)
        return log

    @classmethod
    def reopen(cls, path: str | os.PathLike) -> tuple[EventLog, list[dict[str, str]]]:
        """Reopen an existing log to resume it; return the log and its rows.

        A torn last line (no newline: the process died inside a write) is cut off. Rows
        are returned as dicts of column → text (``n/a`` kept as text).

        Raises
        ------
        LogError
            If the file is missing, or its header is not pavlov's.
        """
        path = Path(path)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise LogError(f"{path}: nothing to resume (no log for this run)") from None
        except OSError as error:
            raise LogError(f"{path}: cannot read the session log: {error.strerror}") from None
        nul = raw.find(b"\0")
        if nul >= 0:
            start = raw.rfind(b"\n", 0, nul) + 1
            if raw[nul:].strip(b"\0\n"):
                line = raw.count(b"\n", 0, start) + 1
                raise LogError(
                    f"{path}:{line}: expected a tab-separated row, got NUL bytes in the middle "
                    "of the log; it was damaged after it was written: restore it from a backup "
                    "or start a new run with --run N"
                )
            # A tail of NUL bytes is what a power cut leaves of an unfinished write on some
            # file systems: the same as a torn last line.
            raw = raw[:start] + b"\0"  # a torn (incomplete) line, cut below
        end = raw.rfind(b"\n") + 1
        try:
            lines = raw[:end].decode("utf-8").splitlines()
        except UnicodeDecodeError as error:
            line = raw.count(b"\n", 0, error.start) + 1
            raise LogError(
                f"{path}:{line}: expected UTF-8 text, got byte {raw[error.start]:#04x}"
            ) from None
        for number, text in enumerate(lines[1:], start=2):
            fields = text.split("\t")
            if len(fields) != len(COLUMNS) and tuple(lines[0].split("\t")) == COLUMNS:
                raise LogError(
                    f"{path}:{number}: expected a row of {len(COLUMNS)} tab-separated fields, "
                    f"got {len(fields)}; the log was changed after it was written: restore it "
                    "or start a new run with --run N"
                )
        header = tuple(lines[0].split("\t")) if lines else ()
        if header != COLUMNS:
            if not lines and raw:  # died while writing the header itself
                header = COLUMNS
            else:
                got = "an empty file" if not raw else f"header {lines[0][:60]!r}"
                raise LogError(f"{path}: expected a pavlov events log, got {got}")
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        log = cls(path, fd, raw[:end] if lines else b"")
        if end < len(raw) or not lines:
            os.ftruncate(fd, end)
            if not lines:
                log._write(("\t".join(COLUMNS) + "\n").encode("utf-8"))
            else:
                os.fsync(fd)
        rows = [dict(zip(COLUMNS, line.split("\t"))) for line in lines[1:]]
        return log, rows

    def append(self, rows: Sequence[Mapping[str, object]]) -> None:
        """Append the rows of one completed event: one write, flushed and fsynced.

        Raises
        ------
        LogError
            If the log is closed or the write fails.
        """
        if not rows:
            return
        self._write(_encode(rows))

    def truncate_rows(self, keep: int) -> None:
        """Keep the header and the first ``keep`` rows; drop the rest (an incomplete event)."""
        if self._fd is None:
            raise LogError(f"{self.path}: the session log is closed")
        raw = self.path.read_bytes()
        position = -1
        for _ in range(keep + 1):
            position = raw.index(b"\n", position + 1)
        os.ftruncate(self._fd, position + 1)
        os.fsync(self._fd)
        del self._content[position + 1 :]

    def close(self) -> None:
        """Close the file. Safe to call more than once."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def _write(self, data: bytes) -> None:
        if self._fd is None:
            raise LogError(f"{self.path}: the session log is closed")
        try:
            size = os.fstat(self._fd).st_size
        except OSError:
            size = None
        try:
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            os.fsync(self._fd)
        except OSError as error:
            # Cut a partial write off, so the file still ends at an event boundary.
            if size is not None:
                try:
                    os.ftruncate(self._fd, size)
                    os.fsync(self._fd)
                except OSError:
                    pass
            if error.errno in (errno.ENOSPC, errno.EDQUOT):
                raise LogError(
                    f"{self.path}: disk full: cannot write the session log; the session "
                    f"stopped with {self._rows()} rows saved (every completed event); free "
                    "space, then continue with --resume"
                ) from None
            raise LogError(f"{self.path}: cannot write the session log: {error.strerror}") from None
        self._content += data
        if not self._still_there():
            self._rescue()

    def _rows(self) -> int:
        return max(self._content.count(b"\n") - 1, 0)

    def _still_there(self) -> bool:
        """True while ``path`` still names the open file (its folder was not deleted/moved)."""
        if self._fd is None:
            return False
        try:
            return os.path.samestat(os.fstat(self._fd), os.stat(self.path))
        except OSError:
            return False

    def _rescue(self) -> None:
        """The data folder vanished: write the whole log again, then stop the session."""
        targets = [self.path, Path(tempfile.gettempdir()) / "pavlov-rescue" / self.path.name]
        for target in targets:
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
            except OSError:
                continue
            try:
                os.write(fd, bytes(self._content))
                os.fsync(fd)
            except OSError:
                os.close(fd)
                continue
            old, self._fd, self.path = self._fd, fd, target
            if old is not None:
                os.close(old)
            error = LogError(
                f"{target}: the data folder vanished during the session; the log was written "
                f"again here ({self._rows()} rows, every completed event) and the session "
                "stopped; check the disk, then continue with --resume"
            )
            error.rows_saved = True  # the rows of this append are in the new file
            raise error
        raise LogError(
            f"{self.path}: the data folder vanished during the session and cannot be created "
            "again; the session stopped and the log is lost from disk"
        )

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LogWriter:
    """Appends completed events' rows to an :class:`EventLog` on a worker thread, in order.

    :meth:`submit` returns at once, so the frame loop keeps flipping while a write (one
    ``os.write`` and ``fsync``, tens of milliseconds on a slow disk) runs; :meth:`wait`
    blocks until every append submitted so far is on disk and raises the first failure.
    Every submitted append is waited for: a failed write is never hidden by a later one.
    After a failure nothing later is written, so the file still ends at the last event
    that was saved (a later event on disk after a lost one would be a gap that
    ``--resume`` could not see).

    Parameters
    ----------
    log : EventLog
        The open log.

    Attributes
    ----------
    events : int
        Events on disk (counted once their write returned, so a session record built from
        it never claims an event a failed write lost).
    """

    def __init__(self, log: EventLog) -> None:
        self.log = log
        self.events = 0
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pavlov-log")
        self._pending: list[Future[None]] = []
        self._failed: BaseException | None = None

    def submit(self, rows: Sequence[Mapping[str, object]], counts_event: bool) -> None:
        """Queue one append (``counts_event``: the rows are a completed event's)."""
        self._pending.append(self._pool.submit(self._append, rows, counts_event))

    def _append(self, rows: Sequence[Mapping[str, object]], counts_event: bool) -> None:
        if self._failed is not None:
            raise self._failed
        try:
            self.log.append(rows)
        except BaseException as error:
            if counts_event and isinstance(error, LogError) and error.rows_saved:
                self.events += 1  # e.g. the log was rescued into a re-created folder
            self._failed = error
            raise
        if counts_event:
            self.events += 1

    def wait(self) -> None:
        """Block until every submitted append is written; raise the first failure."""
        pending, self._pending = self._pending, []
        first: BaseException | None = None
        for future in pending:
            try:
                future.result()
            except BaseException as error:
                first = first or error
        if first is not None:
            raise first

    def close(self) -> None:
        """Wait for every append (raising the first failure), then stop the thread."""
        try:
            self.wait()
        finally:
            self._pool.shutdown(wait=True)
