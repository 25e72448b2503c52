"""Recordings made in tests from a session's log: what a lab's recorder would have saved.

The recorder's clock is ``recorder = (log - offset) / scale`` (``scale`` holds a crystal's
drift and a rehearsal's ``--speed``); the markers are the codes pavlov sent (M-BIDS event
type → code), with sub-millisecond jitter; the skin conductance is a tonic level plus an
SCR of known amplitude after every CS (CS+ larger than CS-) and every delivered US.

Writers: BrainVision with ``pybv``, XDF from the format's specification (no writer library
exists), BIOPAC .acq by rewriting the samples of the real AcqKnowledge file shipped in
``tests/data/biopac`` (bioread reads .acq but cannot write it), CSV with pandas.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

CODES = {"CSpr": 10, "CSpu": 12, "CSm": 14, "USp": 20, "USo": 22, "USm": 24}
#: Amplitudes (µS) of the synthetic SCRs.
AMPLITUDE = {"CSpr": 0.6, "CSpu": 0.6, "CSm": 0.15, "USp": 1.0}


@dataclass
class Synthetic:
    """A synthetic recording in the recorder's clock."""

    rate: float
    start: float  # recorder time of the first sample
    scr: np.ndarray
    marker_times: np.ndarray  # recorder seconds
    marker_codes: np.ndarray
    offset: float
    scale: float


def read_log(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", na_values="n/a", keep_default_na=False)


def scr_shape(t: np.ndarray) -> np.ndarray:
    """A unit-peak SCR (bi-exponential), 0 before t = 0."""
    t = np.clip(t, 0, None)
    shape = np.exp(-t / 2.0) - np.exp(-t / 0.75)
    return shape / 0.3487  # peak of exp(-t/2) - exp(-t/0.75)


def synthesize(
    log: pd.DataFrame,
    *,
    rate: float = 500.0,
    offset: float = -7.25,
    scale: float = 1.0 + 40e-6,
    jitter: float = 0.0002,
    seed: int = 0,
    span: float | None = None,
) -> Synthetic:
    """Markers and skin conductance for ``log`` (an events table), in the recorder's clock."""
    rng = np.random.default_rng(seed)
    rows = log[log.trial_type.isin(["cs", "us"]) & log.event_type.isin(list(CODES))]
    onsets = rows.onset.to_numpy(dtype=float)
    types = rows.event_type.to_numpy()
    marker_log = onsets + rng.uniform(-jitter, jitter, len(onsets))
    marker_rec = (marker_log - offset) / scale
    end_log = (span if span is not None else onsets.max() + 30.0) + offset
    n = int((end_log - offset) / scale * rate)
    rec_t = np.arange(n) / rate
    log_t = offset + scale * rec_t
    scr = 4.0 + 0.002 * log_t + rng.normal(0, 0.002, n)
    for onset, kind in zip(onsets, types):
        if kind in AMPLITUDE:
            latency = 2.0 if kind.startswith("CS") else 1.5
            scr += AMPLITUDE[kind] * scr_shape(log_t - onset - latency)
    return Synthetic(rate, 0.0, scr, marker_rec, np.array([CODES[k] for k in types]), offset, scale)


def marker_levels(syn: Synthetic, n: int, rate: float, width: float = 0.002) -> np.ndarray:
    """A digital marker channel: the code for ``width`` seconds from each marker's sample."""
    levels = np.zeros(n)
    for t, code in zip(syn.marker_times, syn.marker_codes):
        i = round(float(t - syn.start) * rate)
        levels[i : i + max(1, int(width * rate))] = code
    return levels


def write_brainvision(syn: Synthetic, folder: Path, name: str = "rec") -> Path:
    import pybv

    samples = np.round(syn.marker_times * syn.rate).astype(int)
    events = np.column_stack([samples, syn.marker_codes, np.ones_like(samples)])
    # pybv scales voltages from volts to the unit named, and writes other units as given.
    data = np.vstack([syn.scr, np.zeros_like(syn.scr)])
    pybv.write_brainvision(
        data=data,
        sfreq=syn.rate,
        ch_names=["GSR_MR_100_xx", "EMG"],
        fname_base=name,
        folder_out=str(folder),
        events=events,
        unit=["µS", "µV"],
        fmt="binary_float32",
        resolution=1e-4,
    )
    return folder / f"{name}.vhdr"


def write_csv(syn: Synthetic, path: Path) -> Path:
    levels = marker_levels(syn, len(syn.scr), syn.rate)
    pd.DataFrame({"EDA": syn.scr, "trigger": levels}).to_csv(path, index=False)
    return path


# --- XDF ------------------------------------------------------------------------------


def _chunk(tag: int, content: bytes) -> bytes:
    length = len(content) + 2
    return struct.pack("<BQ", 8, length) + struct.pack("<H", tag) + content


def _varlen(value: int) -> bytes:
    return struct.pack("<BI", 4, value)


def write_xdf(syn: Synthetic, path: Path, *, clock: float = 5000.0) -> Path:
    """An XDF file (spec 1.0) with a skin-conductance stream and an int32 marker stream,
    time stamps in an LSL-like clock (``clock`` + recorder seconds)."""
    out = bytearray(b"XDF:")
    out += _chunk(1, b'<?xml version="1.0"?><info><version>1.0</version></info>')
    scr_header = (
        '<?xml version="1.0"?><info><name>GSR</name><type>EDA</type>'
        "<channel_count>1</channel_count>"
        f"<nominal_srate>{syn.rate}</nominal_srate><channel_format>float32</channel_format>"
        "<created_at>0</created_at><desc><channels><channel><label>GSR</label>"
        "<unit>microsiemens</unit></channel></channels></desc></info>"
    )
    marker_header = (
        '<?xml version="1.0"?><info><name>pavlov-markers</name><type>Markers</type>'
        "<channel_count>1</channel_count><nominal_srate>0</nominal_srate>"
        "<channel_format>int32</channel_format><created_at>0</created_at></info>"
    )
    out += _chunk(2, struct.pack("<I", 1) + scr_header.encode())
    out += _chunk(2, struct.pack("<I", 2) + marker_header.encode())
    stamps = clock + syn.start + np.arange(len(syn.scr)) / syn.rate
    for first in range(0, len(stamps), 1000):
        block = bytearray(struct.pack("<I", 1) + _varlen(len(stamps[first : first + 1000])))
        for t, v in zip(stamps[first : first + 1000], syn.scr[first : first + 1000]):
            block += struct.pack("<Bd", 8, t) + struct.pack("<f", v)
        out += _chunk(3, bytes(block))
    block = bytearray(struct.pack("<I", 2) + _varlen(len(syn.marker_times)))
    for t, code in zip(syn.marker_times, syn.marker_codes):
        block += struct.pack("<Bd", 8, clock + t) + struct.pack("<i", int(code))
    out += _chunk(3, bytes(block))
    for stream, first, last, count in (
        (1, stamps[0], stamps[-1], len(stamps)),
        (2, clock + syn.marker_times[0], clock + syn.marker_times[-1], len(syn.marker_times)),
    ):
        footer = (
            f'<?xml version="1.0"?><info><first_timestamp>{first}</first_timestamp>'
            f"<last_timestamp>{last}</last_timestamp><sample_count>{count}</sample_count>"
            "<clock_offsets></clock_offsets></info>"
        )
        out += _chunk(6, struct.pack("<I", stream) + footer.encode())
    path.write_bytes(bytes(out))
    return path


# --- BIOPAC .acq ----------------------------------------------------------------------


def write_acq(source: Path, target: Path, syn: Synthetic) -> Path:
    """Rewrite the real AcqKnowledge file's samples: its float64 derived-EDA channel becomes
    a digital-input channel carrying the markers (renamed in the header), its EDA channel
    the synthetic skin conductance. Layout (interleaving of channels at their frequency
    dividers) is computed with bioread's own functions, and the result read back by bioread."""
    import bioread
    from bioread import data_reader, reader

    raw = bytearray(source.read_bytes())
    with open(source, "rb") as handle:
        r = reader.Reader(handle)
        r._read_headers()
        start = r.data_start_offset
    acq = bioread.read_file(str(source))
    channels = acq.channels
    # Which channel owns each data byte, following bioread's chunk layout exactly.
    owner = []
    remaining = np.array([c.data_length for c in channels])
    pattern = data_reader.chunk_byte_pattern(channels, 1 << 20)
    while remaining.sum() > 0:
        chunk = data_reader.chunk_pattern(pattern, remaining)
        owner.append(chunk)
        remaining -= np.bincount(chunk, minlength=len(channels))
    owner = np.concatenate(owner)
    names = [c.name for c in channels]
    marker_index = names.index("EDA filtered, differentiated")
    eda_index = names.index("EDA - GSR100C")
    rate = channels[eda_index].samples_per_second
    n = len(channels[eda_index].data)
    # Markers: float64 big-endian, the code as the level.
    levels = marker_levels(syn, len(channels[marker_index].data), rate)
    positions = start + np.flatnonzero(owner == marker_index)
    payload = np.asarray(levels, dtype=">f8").tobytes()
    _scatter(raw, positions, payload)
    # Skin conductance: int16 raw = (value - offset) / scale, as AcqKnowledge stores it.
    channel = channels[eda_index]
    values = np.interp(np.arange(n) / rate, np.arange(len(syn.scr)) / syn.rate, syn.scr)
    counts = np.round((values - channel.raw_offset) / channel.raw_scale_factor)
    positions = start + np.flatnonzero(owner == eda_index)
    _scatter(raw, positions, counts.astype(">i2").tobytes())
    old = b"EDA filtered, differentiated"
    new = b"Digital input".ljust(len(old), b"\0")
    assert raw.count(old) >= 1  # the channel label (and its description)
    raw = raw.replace(old, new)
    target.write_bytes(bytes(raw))
    return target


def _scatter(raw: bytearray, positions: np.ndarray, payload: bytes) -> None:
    buffer = np.frombuffer(raw, dtype=np.uint8)
    data = np.frombuffer(payload, dtype=np.uint8)
    buffer[positions[: len(data)]] = data[: len(positions)]
