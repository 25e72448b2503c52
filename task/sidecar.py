"""Provenance files: the per-run ``_session.json`` and the dataset-level BIDS files.

``_session.json`` is created exclusively before the first trial (never overwriting) and
updated atomically (temporary file, fsync, rename) when the session ends, so a crash
leaves either the old or the new version, never a half-written one.
``dataset_description.json`` is created once; ``participants.tsv`` gains one row per new
participant (rewritten atomically).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import platform
from collections.abc import Mapping
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from pavlov.common.bids import pavlov_version
from pavlov.common.files import FileProblem, read_regular
from pavlov.protocols.kinds import KINDS
from pavlov.task.log import LogError

__all__ = [
    "SessionRecord",
    "add_participant",
    "now_iso",
    "package_versions",
    "participant_row",
    "write_dataset_description",
]

#: participants.tsv holds one short row per participant: a larger file is not one.
MAX_PARTICIPANTS_BYTES = 64 << 20

#: Packages whose versions are recorded with every session.
VERSIONED_PACKAGES = (
    "pavlov",
    "psychopy",
    "numpy",
    "pandas",
    "scipy",
    "pyglet",
    "psychtoolbox",
    "pyserial",
    "PyYAML",
)


def now_iso() -> str:
    """The current local time as ISO 8601 with the UTC offset, to milliseconds."""
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="milliseconds")


def package_versions() -> dict[str, str]:
    """Python and package versions (``n/a`` for packages not installed)."""
    versions = {"python": platform.python_version(), "platform": platform.platform()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "n/a"
    return versions


def schedule_header(protocol, schedule, run: int) -> dict:
    """The first fields of a session record: pavlov's version, the protocol (path, sha256,
    text, warnings), who and which session/run, the seed and the counterbalancing cell. Shared by
    ``pavlov run`` and ``pavlov simulate``, whose records must agree."""
    cell = schedule.cell
    return {
        "pavlov_version": pavlov_version(),
        "protocol_path": protocol.path,
        "protocol_sha256": protocol.sha256,
        "protocol_text": protocol.text,
        # What the loader warned about (a rating open after the US): the data carry it.
        "protocol_warnings": list(protocol.warnings),
        "study": protocol.study,
        "task": protocol.task,
        "participant": schedule.participant,
        "session": schedule.session,
        "run": run,
        "seed": schedule.seed,
        "arm": "blinded" if protocol.blinded else schedule.arm,
        "cell": {
            "index": cell.index,
            "n_cells": cell.n_cells,
            "cs": dict(cell.cs),
            "contexts": dict(cell.contexts),
            "order": cell.order,
            # A circle's GS roles have two stimuli each (cs names the first).
            **(
                {"faces": {role: list(pair) for role, pair in cell.faces.items()}}
                if cell.faces
                else {}
            ),
        },
        "schedule_files": schedule_files(protocol, schedule.session),
    }


def schedule_files(protocol, session: str) -> dict[str, str]:
    """The sha256 of every file besides the protocol that shapes ``session``'s schedule
    (its phases' fixed ``orders:`` files, read again when the schedule is built, and their
    startle probe sounds, whose length places and times the probes), by path relative to
    the protocol's folder; ``--resume`` refuses a run whose files changed.

    Raises
    ------
    LogError
        If such a file cannot be read.
    """
    folder = Path(protocol.path).resolve().parent
    hashes: dict[str, str] = {}
    for name in protocol.session(session).phases:
        phase = protocol.phases[name]
        for path in (*KINDS[phase.type].orders(phase), *_probe_sounds(phase)):
            try:
                digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            except OSError as error:
                raise LogError(
                    f"{path}: cannot read a file the schedule is built from: "
                    f"{error.strerror or error}"
                ) from None
            hashes[os.path.relpath(path, folder)] = digest
    return hashes


def _probe_sounds(phase) -> tuple[str, ...]:
    # A trial phase's probes block (ProbeSpec.sound) or a startle_habituation phase's own
    # sound: either way an absolute path, read when the protocol is loaded.
    spec = phase.spec
    probes = getattr(spec, "probes", None)
    sound = getattr(probes, "sound", None) or getattr(spec, "sound", None)
    return (sound,) if isinstance(sound, str) and sound else ()


def schedule_record(schedule) -> list[dict]:
    """The planned events of a schedule as the session record stores them (``schedule``):
    one home for ``pavlov run`` and ``pavlov simulate``, whose records must agree."""
    return [
        {
            "phase": e.phase,
            "kind": e.kind,
            "index": e.index,
            "onset": e.onset,
            "duration": e.duration,
            "iti": e.iti,
            "cs": e.cs,
            "stimulus": e.stimulus,
            "reinforced": e.reinforced,
            "context": e.context,
        }
        for e in schedule.events
    ]


def _dump(data: Mapping) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n").encode("utf-8")


def _write_all(fd: int, data: bytes) -> None:
    # os.write may write less than asked (a nearly full disk): loop, never leave half a file.
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.fsync(fd)


def _write_temp(path: Path, data: bytes) -> Path:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        _write_all(fd, data)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    return tmp


def _overwrite_in_place(path: Path, data: bytes) -> None:
    """Last resort on a full disk: rewrite an existing file in the blocks it already has."""
    fd = os.open(path, os.O_WRONLY)
    try:
        _write_all(fd, data)
        os.ftruncate(fd, len(data))
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = _write_temp(path, data)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _exclusive_write(path: Path, data: bytes) -> bool:
    """Write ``path`` complete or not at all; False (untouched) if it already exists."""
    tmp = _write_temp(path, data)
    try:
        os.link(tmp, path)  # atomic, and fails if the name exists
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)
    _fsync_dir(path.parent)
    return True


class SessionRecord:
    """The ``_session.json`` provenance sidecar of one run.

    Parameters
    ----------
    path : Path
        The sidecar file.
    data : dict
        Its current content.
    """

    def __init__(self, path: Path, data: dict) -> None:
        self.path = Path(path)
        self.data = data

    @classmethod
    def create(cls, path: str | os.PathLike, data: Mapping) -> SessionRecord:
        """Write a new sidecar; refuse to overwrite an existing one.

        Raises
        ------
        LogError
            If the file exists or cannot be written.
        """
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            created = _exclusive_write(path, _dump(data))
        except OSError as error:
            raise LogError(f"{path}: cannot write the session sidecar: {error.strerror}") from None
        if not created:
            raise LogError(
                f"{path}: this run already has a session record; use --resume to continue "
                "it or --run N for a new run"
            )
        return cls(path, dict(data))

    @classmethod
    def open(cls, path: str | os.PathLike) -> SessionRecord:
        """Read an existing sidecar (to resume its run).

        Raises
        ------
        LogError
            If it is missing or not JSON.
        """
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise LogError(f"{path}: nothing to resume (no session record for this run)") from None
        except (OSError, ValueError) as error:
            raise LogError(f"{path}: cannot read the session record: {error}") from None
        if not isinstance(data, dict):
            raise LogError(f"{path}: expected a JSON object, got {type(data).__name__}")
        return cls(path, data)

    def update(self, **changes: object) -> None:
        """Merge ``changes`` into the record and rewrite it atomically.

        If the folder vanished it is created again; on a full disk, where no temporary
        copy fits, the file is rewritten in place as a last resort.

        Raises
        ------
        LogError
            If the record cannot be written (``disk full`` named when that is why).
        """
        self.data.update(changes)
        data = _dump(self.data)
        try:
            try:
                _atomic_write(self.path, data)
            except FileNotFoundError:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                _atomic_write(self.path, data)
        except OSError as error:
            if error.errno in (errno.ENOSPC, errno.EDQUOT):
                try:
                    _overwrite_in_place(self.path, data)
                    return
                except OSError:
                    pass
                raise LogError(
                    f"{self.path}: disk full: cannot update the session record"
                ) from None
            raise LogError(
                f"{self.path}: cannot update the session record: {error.strerror}"
            ) from None

    def finish(self, **fields: object) -> None:
        """Record how the session ended (adds ``ended``)."""
        self.update(ended=now_iso(), **fields)


def write_dataset_description(root: str | os.PathLike, study: str) -> Path:
    """Create ``dataset_description.json`` at the dataset root if it does not exist."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    path = root / "dataset_description.json"
    if not path.exists():
        version = pavlov_version()
        content = {
            "Name": study,
            "BIDSVersion": "1.9.0",
            "DatasetType": "raw",
            "GeneratedBy": [{"Name": "pavlov", "Version": version}],
        }
        _exclusive_write(path, _dump(content))
    return path


def add_participant(
    root: str | os.PathLike, participant: str, columns: Mapping[str, str] | None = None
) -> Path:
    """Add ``sub-<participant>`` to ``participants.tsv`` (created if needed), once, with
    ``columns`` (e.g. ``arm`` and ``group``): a missing column is added (``n/a`` for the
    other participants), and this participant's cells are set.

    Raises
    ------
    LogError
        If an existing file cannot be read, is not UTF-8 text or has no
        ``participant_id`` column.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    path = root / "participants.tsv"
    label = f"sub-{participant}"
    columns = dict(columns or {})
    first = "\t".join(["participant_id", *columns]) + "\n"
    first += "\t".join([label, *columns.values()]) + "\n"
    if not path.exists() and _exclusive_write(path, first.encode()):
        return path
    lines = _participant_lines(path) or []
    header = lines[0].split("\t") if lines else []
    if "participant_id" not in header:
        raise LogError(f"{path}: expected a participant_id column, got {header}")
    rows = [line.split("\t") for line in lines[1:]]
    rows = [row + ["n/a"] * (len(header) - len(row)) for row in rows]
    for name in columns:
        if name not in header:
            header.append(name)
            rows = [[*row, "n/a"] for row in rows]
    column = header.index("participant_id")
    row = next((r for r in rows if r[column] == label), None)
    changed = row is None or any(row[header.index(k)] != v for k, v in columns.items())
    if row is None:
        row = [label if i == column else "n/a" for i in range(len(header))]
        rows.append(row)
    for name, value in columns.items():
        row[header.index(name)] = value
    if changed:
        text = "\n".join(["\t".join(header), *("\t".join(r) for r in rows)]) + "\n"
        _atomic_write(path, text.encode("utf-8"))
    return path


def participant_records(data: str | os.PathLike, participant: str) -> list[tuple[Path, dict]]:
    """The run records (``_session.json``) of every earlier run of ``participant`` under
    ``data``, in path order, with their paths; records that cannot be read as a JSON object
    are left out (the checks that read these skip them; the run itself checks its own)."""
    records = []
    for path in sorted(Path(data).glob(f"sub-{participant}/ses-*/*/*_session.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(record, dict):
            records.append((path, record))
    return records


def participant_row(root: str | os.PathLike, participant: str) -> dict[str, str]:
    """This participant's cells in ``participants.tsv`` (empty when absent), ``n/a`` cells
    left out: what earlier sessions recorded (e.g. the ``arm``)."""
    path = Path(root) / "participants.tsv"
    lines = _participant_lines(path)
    if lines is None:
        return {}
    header = lines[0].split("\t") if lines else []
    for line in lines[1:]:
        cells = dict(zip(header, line.split("\t")))
        if cells.get("participant_id") == f"sub-{participant}":
            return {k: v for k, v in cells.items() if v not in ("", "n/a")}
    return {}


def _participant_lines(path: Path) -> list[str] | None:
    """The non-blank lines of ``participants.tsv`` (None when there is none).

    Read bounded (a FIFO or a device in its place is refused, not read forever) and as
    UTF-8 (a BOM allowed): a file saved in another encoding is a one-line error before
    the run creates anything, never a half-rewritten file.
    """
    try:
        data = read_regular(path, MAX_PARTICIPANTS_BYTES)
    except FileNotFoundError:
        return None
    except FileProblem as problem:
        raise LogError(f"{path}: cannot read participants.tsv: {problem}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise LogError(
            f"{path}: line {line}: not UTF-8 text (byte 0x{data[error.start]:02x}); "
            "save it as UTF-8 (tab-separated)"
        ) from None
    return [line for line in text.splitlines() if line.strip()]
