"""Read recordings as the lab's recorders save them: channels plus the marker codes they saw.

One reader per format, each a thin layer over the library the field uses for it, imported
only when a file of that format is read (``pip install pavlov[physio]``):

============  ==========================  ===================================================
format        library                     where the markers are
============  ==========================  ===================================================
``.acq``      ``bioread`` (BIOPAC)        a digital-input channel (codes as levels, or one
                                          channel per bit), else journal event markers whose
                                          text ends in a code
``.vhdr``     MNE-Python (BrainVision)    the ``.vmrk`` markers (``Stimulus/S 10`` → 10)
``.xdf``      ``pyxdf`` (LabRecorder)     a stream of type ``Markers`` (one code a sample)
``.csv``      pandas                      a column named ``marker``, ``trigger``, ``code``
                                          or ``stim`` (rising changes to a non-zero code)
============  ==========================  ===================================================

Every time here is in the **recorder's** clock (seconds); :mod:`pavlov.analysis.align` maps
it to the session log's. Problems come out as one line (:class:`RecordingError`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pavlov.analysis.physio import PhysioError, PhysioFileError
from pavlov.common.errors import suggest

__all__ = [
    "FORMATS",
    "Channel",
    "Recording",
    "RecordingError",
    "decode_marker_channel",
    "read_recording",
]

#: File suffix → format name.
FORMATS = {".acq": "acq", ".vhdr": "brainvision", ".xdf": "xdf", ".xdfz": "xdf", ".csv": "csv"}

#: Channel names taken as a marker (digital input) channel when none is named.
MARKER_NAME = re.compile(r"digital|trigger|marker|\bstim|\bstp\b|\bttl\b|event", re.IGNORECASE)

#: CSV column names that hold marker codes.
CSV_MARKER_COLUMNS = ("marker", "markers", "trigger", "code", "codes", "stim")


class RecordingError(PhysioError):
    """A recording cannot be read, or lacks what the import needs (one-line message)."""


@dataclass(frozen=True)
class Channel:
    """One equally sampled channel.

    Attributes
    ----------
    name : str
        The recorder's name for it (``EDA - GSR100C``).
    data : numpy.ndarray
        Samples, float.
    rate : float
        Samples per second.
    start : float
        Recorder time of the first sample, seconds.
    unit : str
        As the recorder states it (``microsiemens``, ``µS``), ``''`` when unknown.
    """

    name: str
    data: np.ndarray
    rate: float
    start: float = 0.0
    unit: str = ""


@dataclass(frozen=True)
class Recording:
    """A recording: its channels and the marker codes it holds, in the recorder's clock.

    Attributes
    ----------
    path : str
    format : str
        ``acq``, ``brainvision``, ``xdf`` or ``csv``.
    channels : tuple of Channel
        Signal channels (the marker channel excluded).
    marker_times : numpy.ndarray
        Recorder seconds of each marker onset.
    marker_codes : numpy.ndarray
        The code of each marker (int).
    marker_source : str
        Where the markers came from, for messages (``channel 'Digital input'``).
    manufacturer : str
        For the BIDS sidecar (``BIOPAC``, ``Brain Products``, ``''``).
    """

    path: str
    format: str
    channels: tuple[Channel, ...]
    marker_times: np.ndarray
    marker_codes: np.ndarray
    marker_source: str
    manufacturer: str = ""

    @property
    def names(self) -> list[str]:
        """Channel names, in file order."""
        return [c.name for c in self.channels]

    def channel(self, name: str) -> Channel:
        """The channel called ``name``.

        Raises
        ------
        RecordingError
            Naming the channels there are and the nearest name.
        """
        for channel in self.channels:
            if channel.name == name:
                return channel
        hint = suggest(name, self.names)
        tail = f". Did you mean '{hint}'?" if hint else ""
        raise RecordingError(
            f"{self.path}: --channel: expected one of {self.names}, got {name!r}{tail}"
        )


def read_recording(
    path: str | Path,
    *,
    marker_channel: str | None = None,
    sampling_rate: float | None = None,
) -> Recording:
    """Read a recording of any supported format (chosen by the file's suffix).

    Parameters
    ----------
    path : path-like
        ``.acq``, ``.vhdr``, ``.xdf``/``.xdfz`` or ``.csv``.
    marker_channel : str, optional
        The channel holding the marker codes (``.acq``, ``.csv``); found by its name when None.
    sampling_rate : float, optional
        Samples per second of a CSV (required there, refused elsewhere).

    Raises
    ------
    PhysioFileError
        No such file.
    RecordingError
        Unknown format, unreadable file, missing library, no markers.
    """
    path = Path(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise RecordingError(
            f"{path}: expected a recording ending {', '.join(FORMATS)}, got {path.suffix or 'no suffix'!r}"
        )
    if not path.is_file():
        raise PhysioFileError(f"{path}: expected a recording, got no such file")
    if kind == "csv":
        if sampling_rate is None:
            raise RecordingError(f"{path}: a CSV recording needs --sampling-rate HZ")
        return _read_csv(path, sampling_rate, marker_channel)
    if sampling_rate is not None:
        raise RecordingError(
            f"{path}: --sampling-rate: only for CSV recordings (a {kind} file states its rate)"
        )
    if kind == "acq":
        return _read_acq(path, marker_channel)
    if marker_channel is not None:
        raise RecordingError(
            f"{path}: --markers-channel: only for .acq and .csv recordings (a {kind} file "
            "keeps its markers apart)"
        )
    if kind == "brainvision":
        return _read_brainvision(path)
    return _read_xdf(path)


def _library(name: str, path: Path, what: str):
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        raise RecordingError(
            f"{path}: reading {what} needs the {name} package: pip install 'pavlov[physio]'"
        ) from None


def decode_marker_channel(
    values: np.ndarray, rate: float, start: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Turn a marker channel (the code as its level, 0 between markers) into onsets and codes.

    A marker starts where the rounded level changes to a non-zero value; its time is that
    sample's. Levels are rounded to whole numbers, so a channel in volts from a DAC that
    puts the code on its output reads the same as a digital one.

    Returns
    -------
    times, codes : numpy.ndarray
    """
    levels = np.rint(np.nan_to_num(np.asarray(values, dtype=float))).astype(np.int64)
    previous = np.concatenate([[0], levels[:-1]])
    onsets = np.flatnonzero((levels != previous) & (levels != 0))
    return start + onsets / float(rate), levels[onsets]


def _bits_to_levels(channels: list[Channel]) -> np.ndarray:
    """Combine one channel per digital line (``... 0`` … ``... 7``) into code levels."""
    numbers = [int(re.findall(r"(\d+)\D*$", c.name)[0]) for c in channels]
    base = 0 if 0 in numbers else 1
    length = min(len(c.data) for c in channels)
    levels = np.zeros(length, dtype=np.int64)
    for channel, number in zip(channels, numbers):
        data = np.nan_to_num(channel.data[:length].astype(float))
        high = data > (np.nanmax(data) + np.nanmin(data)) / 2 if np.ptp(data) > 0 else data > 0
        levels |= high.astype(np.int64) << (number - base)
    return levels


def _split_markers(
    path: Path, channels: list[Channel], marker_channel: str | None
) -> tuple[list[Channel], np.ndarray | None, np.ndarray | None, str]:
    """Pick the marker channel(s) out of ``channels``; return signals, times, codes, source."""
    if marker_channel is not None:
        chosen = [c for c in channels if c.name == marker_channel]
        if not chosen:
            hint = suggest(marker_channel, [c.name for c in channels])
            tail = f". Did you mean '{hint}'?" if hint else ""
            raise RecordingError(
                f"{path}: --markers-channel: expected one of {[c.name for c in channels]}, "
                f"got {marker_channel!r}{tail}"
            )
    else:
        chosen = [c for c in channels if MARKER_NAME.search(c.name)]
    if not chosen:
        return channels, None, None, ""
    rest = [c for c in channels if c not in chosen]
    if len(chosen) > 1 and all(re.search(r"\d+\D*$", c.name) for c in chosen):
        levels = _bits_to_levels(chosen)
        times, codes = decode_marker_channel(levels, chosen[0].rate, chosen[0].start)
        source = f"digital lines {', '.join(repr(c.name) for c in chosen)}"
    else:
        if len(chosen) > 1:
            raise RecordingError(
                f"{path}: several channels look like markers ({[c.name for c in chosen]}); "
                "name one with --markers-channel"
            )
        times, codes = decode_marker_channel(chosen[0].data, chosen[0].rate, chosen[0].start)
        source = f"channel {chosen[0].name!r}"
    return rest, times, codes, source


def _text_code(text: str) -> int | None:
    """The code at the end of a marker's text (``S 10``, ``Stimulus/S 10``, ``10``)."""
    match = re.search(r"(\d+)\s*$", str(text))
    if match is None:
        return None
    code = int(match.group(1))
    return code if 0 < code < 65536 else None


def _journal_code(text: str) -> int | None:
    """The code of an AcqKnowledge journal marker that names one (``10``, ``Digital input 10``).

    Free-text labels such as ``Deep Breath 1`` are notes, not codes.
    """
    match = re.fullmatch(
        r"(?:(?:s|code|marker|trigger|digital(?: input)?|stim\w*)\s*[:=]?\s*)?(\d+)",
        str(text).strip(),
        flags=re.IGNORECASE,
    )
    return _text_code(match.group(1)) if match else None


def _read_acq(path: Path, marker_channel: str | None) -> Recording:
    bioread = _library("bioread", path, "BIOPAC .acq files")
    try:
        acq = bioread.read_file(str(path))
    except Exception as error:  # bioread raises many types on a damaged or foreign file
        raise RecordingError(f"{path}: expected a BIOPAC AcqKnowledge file, got {error}") from None
    channels = [
        Channel(
            name=str(c.name).strip(),
            data=np.asarray(c.data, dtype=float),
            rate=float(c.samples_per_second),
            unit=str(c.units or "").strip(),
        )
        for c in acq.channels
    ]
    signals, times, codes, source = _split_markers(path, channels, marker_channel)
    if times is None:
        base = float(acq.samples_per_second)
        found = [
            (m.sample_index / base, _journal_code(m.text))
            for m in acq.event_markers
            if _journal_code(m.text) is not None
        ]
        if found:
            times = np.array([t for t, _ in found])
            codes = np.array([c for _, c in found], dtype=np.int64)
            source = "journal event markers"
    return _finish(path, "acq", signals, times, codes, source, "BIOPAC")


def _read_brainvision(path: Path) -> Recording:
    mne = _library("mne", path, "BrainVision files")
    try:
        raw = mne.io.read_raw_brainvision(str(path), preload=True, verbose="error")
    except Exception as error:
        raise RecordingError(f"{path}: expected a BrainVision header file, got {error}") from None
    rate = float(raw.info["sfreq"])
    data = raw.get_data()
    units = getattr(raw, "_orig_units", {}) or {}
    channels = []
    for index, name in enumerate(raw.ch_names):
        unit = str(units.get(name, ""))
        # MNE stores every channel in SI units (µV → V, and µS likewise): undo that so a
        # skin-conductance channel comes back in the µS it was recorded in.
        prefix = {"µ": 1e6, "μ": 1e6, "u": 1e6, "m": 1e3, "n": 1e9}  # micro sign, Greek mu
        scale = prefix.get(unit[:1], 1.0) if len(unit) > 1 else 1.0
        channels.append(Channel(name=name, data=data[index] * scale, rate=rate, unit=unit))
    found = [
        (float(onset), _text_code(text))
        for onset, text in zip(raw.annotations.onset, raw.annotations.description)
        if _text_code(text) is not None and not str(text).startswith("New Segment")
    ]
    times = np.array([t for t, _ in found])
    codes = np.array([c for _, c in found], dtype=np.int64)
    return _finish(
        path, "brainvision", channels, times, codes, "BrainVision markers", "Brain Products"
    )


def _read_xdf(path: Path) -> Recording:
    import logging

    pyxdf = _library("pyxdf", path, "XDF files")
    quiet = logging.getLogger("pyxdf")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # its notes on clock segments are not the user's business
    try:
        streams, _ = pyxdf.load_xdf(str(path))
    except Exception as error:
        raise RecordingError(f"{path}: expected an XDF file, got {error}") from None
    finally:
        quiet.setLevel(level)
    channels: list[Channel] = []
    times = codes = None
    source = ""
    for stream in streams:
        info = stream["info"]
        name = _first(info.get("name"))
        kind = _first(info.get("type")).lower()
        stamps = np.asarray(stream["time_stamps"], dtype=float)
        values = stream["time_series"]
        rate = float(_first(info.get("nominal_srate")) or 0)
        if kind == "markers" or rate == 0:
            found = [
                (t, _text_code(v[0] if isinstance(v, list | tuple | np.ndarray) else v))
                for t, v in zip(stamps, values)
            ]
            found = [(t, c) for t, c in found if c is not None]
            if found and times is None:
                times = np.array([t for t, _ in found])
                codes = np.array([c for _, c in found], dtype=np.int64)
                source = f"XDF marker stream {name!r}"
            continue
        if len(stamps) < 2:
            continue
        array = np.asarray(values, dtype=float).reshape(len(stamps), -1)
        # The rate the samples actually came at, in the clock their time stamps are in.
        effective = (len(stamps) - 1) / (stamps[-1] - stamps[0])
        labels = _xdf_labels(info, array.shape[1])
        for index, label in enumerate(labels):
            full = label if len(streams) == 1 else f"{name}/{label}"
            unit = _xdf_unit(info, index)
            channels.append(
                Channel(name=full, data=array[:, index], rate=effective, start=stamps[0], unit=unit)
            )
    return _finish(path, "xdf", channels, times, codes, source, "")


def _first(value) -> str:
    while isinstance(value, list):
        value = value[0] if value else ""
    return "" if value is None else str(value)


def _xdf_channel_entries(info) -> list:
    try:
        return info["desc"][0]["channels"][0]["channel"]
    except (KeyError, IndexError, TypeError):
        return []


def _xdf_labels(info, count: int) -> list[str]:
    entries = _xdf_channel_entries(info)
    labels = [_first(e.get("label")) for e in entries[:count] if isinstance(e, dict)]
    if len(labels) != count or not all(labels):
        return [f"ch{i + 1}" for i in range(count)]
    return labels


def _xdf_unit(info, index: int) -> str:
    entries = _xdf_channel_entries(info)
    if index < len(entries) and isinstance(entries[index], dict):
        return _first(entries[index].get("unit"))
    return ""


def _read_csv(path: Path, rate: float, marker_channel: str | None) -> Recording:
    if isinstance(rate, bool) or not math.isfinite(rate) or rate <= 0:
        raise RecordingError(f"{path}: --sampling-rate: expected a positive number, got {rate!r}")
    try:
        frame = pd.read_csv(path)
    except (ValueError, OSError, UnicodeDecodeError) as error:
        raise RecordingError(f"{path}: expected a CSV with a header row, got {error}") from None
    channels = []
    for column in frame.columns:
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.isna().all():
            continue  # a text column (time stamps as text): not a channel
        channels.append(Channel(name=str(column), data=values.to_numpy(dtype=float), rate=rate))
    if marker_channel is None:
        named = [c.name for c in channels if c.name.strip().lower() in CSV_MARKER_COLUMNS]
        marker_channel = named[0] if named else None
    signals, times, codes, source = _split_markers(path, channels, marker_channel)
    return _finish(path, "csv", signals, times, codes, source, "")


def _finish(path, kind, channels, times, codes, source, manufacturer) -> Recording:
    if times is None or len(times) == 0:
        raise RecordingError(
            f"{path}: expected pavlov's marker codes in the recording ({_where(kind)}), "
            "found none; without them it cannot be aligned to the log"
        )
    if not channels:
        raise RecordingError(f"{path}: expected signal channels besides the markers, got none")
    order = np.argsort(times, kind="stable")
    return Recording(
        path=str(path),
        format=kind,
        channels=tuple(channels),
        marker_times=np.asarray(times, dtype=float)[order],
        marker_codes=np.asarray(codes, dtype=np.int64)[order],
        marker_source=source,
        manufacturer=manufacturer,
    )


def _where(kind: str) -> str:
    return {
        "acq": "a digital-input channel, or journal markers ending in a code; name it with "
        "--markers-channel",
        "brainvision": "the .vmrk file's Stimulus markers",
        "xdf": "a stream of type Markers",
        "csv": f"a column named {' / '.join(CSV_MARKER_COLUMNS[:4])}, or --markers-channel",
    }[kind]
