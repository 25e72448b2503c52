"""Import a recorder's file into a session: align it by pavlov's markers, write BIDS physio.

:func:`import_physio` reads the recording (:mod:`pavlov.analysis.recorders`), aligns its
clock to the run's log (:mod:`pavlov.analysis.align`), and returns the chosen channels as
:class:`~pavlov.analysis.physio.Physio` recordings in the log's time base: no resampling,
the fitted clock map moves ``StartTime`` and scales ``SamplingFrequency``. :func:`write_imported`
writes them beside the events file as ``<stem>_recording-<label>_physio.tsv.gz`` + ``.json``
(the skin-conductance channel becomes the column ``scr`` of ``recording-scr``, which
``pavlov analyze`` scores by itself).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pavlov.analysis.align import Alignment, align, expected_markers
from pavlov.analysis.physio import Physio, PhysioError, write_physio
from pavlov.analysis.recorders import Channel, Recording, RecordingError, read_recording

__all__ = ["ImportResult", "find_events", "import_physio", "scr_channel", "write_imported"]

#: A skin-conductance channel, by name or unit.
SCR_NAME = re.compile(r"\b(eda|gsr|scr|skin|conductance|galvanic)\b", re.IGNORECASE)
SCR_UNIT = re.compile(r"^(µ|μ|u|micro)\s*s(iemens)?$", re.IGNORECASE)
#: Derived channels a recorder computes (not the recorded signal).
DERIVED = re.compile(r"filter|different|deriv|phasic|tonic|smooth", re.IGNORECASE)


@dataclass(frozen=True)
class ImportResult:
    """What an import made.

    Attributes
    ----------
    recordings : dict of str to Physio
        BIDS ``recording-<label>`` → channels in the log's time base (one per sampling rate).
    alignment : Alignment
    recording : Recording
        The file as read.
    events : Path
        The run's events file.
    speed : float
        The run's ``--speed`` (1 for a real session), to express drift.
    sources : dict
        ``recording-<label>`` → column → the recorder's channel name.
    """

    recordings: dict[str, Physio]
    alignment: Alignment
    recording: Recording
    events: Path
    speed: float = 1.0
    sources: dict | None = None


def find_events(path: str | Path) -> Path:
    """The one ``*_events.tsv`` at ``path`` (the file, or a session folder holding one run).

    Raises
    ------
    PhysioError
        None or several.
    """
    path = Path(path)
    if path.is_file():
        if not path.name.endswith("_events.tsv"):
            raise PhysioError(
                f"--events {path}: expected a session's _events.tsv, got another file"
            )
        return path
    if not path.is_dir():
        raise PhysioError(
            f"--events {path}: expected an events file or session folder, got nothing"
        )
    found = sorted(p for p in path.rglob("*_events.tsv") if "derivatives" not in p.parts)
    if len(found) != 1:
        raise PhysioError(
            f"--events {path}: expected the folder of one run (one _events.tsv), found "
            f"{len(found)}; name the run's events file"
        )
    return found[0]


def scr_channel(recording: Recording) -> Channel:
    """The skin-conductance channel: by name (EDA, GSR, SCR ...) or unit (µS), raw not derived.

    Raises
    ------
    RecordingError
        None, or several (name one with ``--channel``).
    """
    found = [
        c
        for c in recording.channels
        if (SCR_NAME.search(c.name) or SCR_UNIT.match(c.unit.strip()))
        and not DERIVED.search(c.name)
    ]
    if len(found) == 1:
        return found[0]
    what = "no skin-conductance channel" if not found else f"several ({[c.name for c in found]})"
    raise RecordingError(
        f"{recording.path}: found {what} among {recording.names}; name it with --channel 'NAME=scr'"
    )


def _column_name(name: str) -> str:
    text = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").lower()
    return text or "channel"


def _selection(recording: Recording, channels: Sequence[str] | None) -> list[tuple[Channel, str]]:
    if not channels:
        return [(scr_channel(recording), "scr")]
    chosen = []
    for spec in channels:
        name, _, column = spec.partition("=")
        channel = recording.channel(name.strip())
        if not column:
            looks_scr = SCR_NAME.search(channel.name) or SCR_UNIT.match(channel.unit.strip())
            column = "scr" if looks_scr and not DERIVED.search(channel.name) else _column_name(name)
        if not re.fullmatch(r"[A-Za-z0-9_]+", column):
            raise RecordingError(
                f"--channel {spec!r}: expected NAME or NAME=COLUMN (letters, digits, _), got "
                f"column {column!r}"
            )
        chosen.append((channel, column))
    columns = [c for _, c in chosen]
    if len(set(columns)) != len(columns):
        raise RecordingError(f"--channel: expected distinct columns, got {columns}")
    return chosen


def _unit(unit: str, column: str) -> str:
    if SCR_UNIT.match(unit.strip()) or (column == "scr" and not unit):
        return "uS"
    return {"microsiemens": "uS", "millivolts": "mV", "volts": "V"}.get(unit.lower(), unit)


def import_physio(
    recording_path: str | Path,
    events: str | Path,
    *,
    channels: Sequence[str] | None = None,
    marker_channel: str | None = None,
    sampling_rate: float | None = None,
    tolerance: float = 0.02,
) -> ImportResult:
    """Read a recording and align it to a run's log.

    Parameters
    ----------
    recording_path : path-like
        ``.acq``, ``.vhdr``, ``.xdf`` or ``.csv``.
    events : path-like
        The run's ``_events.tsv`` or its session folder.
    channels : sequence of str, optional
        ``NAME`` or ``NAME=COLUMN``; the skin-conductance channel (as ``scr``) when None.
    marker_channel : str, optional
        The channel with the markers (``.acq``/``.csv``), found by name when None.
    sampling_rate : float, optional
        CSV only.
    tolerance : float
        Largest residual of a paired marker, seconds.

    Raises
    ------
    RecordingError, AlignmentError, PhysioError
        One line each.
    """
    from pavlov.analysis.load import read_events, read_sidecar

    events_path = find_events(events)
    recording = read_recording(
        recording_path, marker_channel=marker_channel, sampling_rate=sampling_rate
    )
    chosen = _selection(recording, channels)
    frame = read_events(events_path)
    sidecar = read_sidecar(
        events_path.with_name(events_path.name[: -len("_events.tsv")] + "_session.json")
    )
    devices = sidecar.get("devices")
    if not isinstance(devices, dict):
        devices = {}
    codes = devices.get("marker_codes") if isinstance(devices.get("marker_codes"), dict) else None
    speed = float(sidecar.get("speed") or 1.0)
    onsets, codes_sent, labels = expected_markers(frame, codes)
    alignment = align(
        onsets,
        codes_sent,
        recording.marker_times,
        recording.marker_codes,
        log_labels=labels,
        tolerance=tolerance,
        what=f"{recording.path} (markers: {recording.marker_source}) vs {events_path.name}",
    )
    groups: dict[float, list[tuple[Channel, str]]] = {}
    for channel, column in chosen:
        groups.setdefault(channel.rate, []).append((channel, column))
    out: dict[str, Physio] = {}
    for members in groups.values():
        columns = [c for _, c in members]
        label = "scr" if "scr" in columns else re.sub(r"[^A-Za-z0-9]", "", columns[0])
        first = members[0][0]
        length = min(len(c.data) for c, _ in members)
        data = pd.DataFrame({col: ch.data[:length] for ch, col in members})
        out[label] = Physio(
            data=data,
            sampling_frequency=first.rate / alignment.scale,
            start_time=float(alignment.to_log(first.start)),
            path=recording.path,
            units={col: _unit(ch.unit, col) for ch, col in members},
        )
    sources = {
        label: {col: ch.name for ch, col in members} for label, members in zip(out, groups.values())
    }
    return ImportResult(out, alignment, recording, events_path, speed, sources)


def write_imported(result: ImportResult, *, overwrite: bool = False) -> list[Path]:
    """Write each recording beside the events file as BIDS physio; return the data files.

    Raises
    ------
    PhysioError
        If a target exists (existing data is never overwritten unless asked).
    """
    stem = result.events.name[: -len("_events.tsv")]
    targets = {
        label: result.events.with_name(f"{stem}_recording-{label}_physio.tsv.gz")
        for label in result.recordings
    }
    for target in targets.values():
        if target.exists() and not overwrite:
            raise PhysioError(
                f"{target}: already exists; existing data is never overwritten (remove it, or "
                "pass --overwrite)"
            )
    written = []
    for label, physio in result.recordings.items():
        extra = {
            "Manufacturer": result.recording.manufacturer or "n/a",
            "Source": Path(result.recording.path).name,
            "SourceFormat": result.recording.format,
            "SourceChannels": (result.sources or {}).get(label),
            "ClockAlignment": {
                "Description": "log_time = Offset + Scale * recorder_time, fitted by least "
                "squares on pavlov's CS/US marker codes (pavlov physio import)",
                "MarkerSource": result.recording.marker_source,
                **result.alignment.report(),
            },
        }
        extra = {k: v for k, v in extra.items() if v is not None}
        for column in physio.columns:
            if column == "scr":
                extra[column] = {
                    "Description": "skin conductance",
                    "Units": physio.units.get(column, "uS"),
                }
        written.append(
            write_physio(
                targets[label],
                physio.data,
                physio.sampling_frequency,
                start_time=physio.start_time,
                units=physio.units,
                extra=extra,
            )
        )
    return written
