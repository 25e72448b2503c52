"""Simulated physiology for rehearsals and simulated studies: skin conductance, blink EMG.

Skin conductance (µS, 1 kHz) is the sum of

- a **tonic level** (2–12 µS across participants) with a slow linear drift and a
  low-frequency random wander (skin conductance level changes over minutes);
- **phasic responses** with the canonical SCR shape, a bi-exponential rise and recovery
  (rise time constant 0.75 s, recovery 2 s: peak 1.18 s after response onset; Alexander
  et al. 2005, the shape PsPM's canonical SCRF approximates), one per CS whose amplitude
  follows the simulated learner's expectation of the US (``orienting + gain × V``) and one
  per delivered US (larger), each with a latency jittered within the first-interval
  window (CS: 1.0–2.0 s to response onset; US: 1.0–1.6 s) and a log-normal
  trial-to-trial amplitude variation;
- white measurement **noise** (SD 0.005 µS);
- a share of **non-responders** (15 %, drawn per participant): tonic level and noise only,
  as in the 10–20 % of participants most conditioning studies exclude.

Blink EMG (µV, 1 kHz) around startle probes, when a protocol has them: a baseline of
white noise and, after each probe, a burst of band-limited noise (onset 30–50 ms,
about 80 ms long) whose amplitude grows with the expectation of the US (fear-potentiated
startle; a probe alone, in an ITI, has expectation 0).

Files are BIDS physio (``..._recording-scr_physio.tsv.gz`` + ``.json`` with
``SamplingFrequency``, ``StartTime`` in the events' time base, ``Columns``, units) beside the
events file, the layout ``pavlov analyze`` reads (``task/LOG.md``).
"""

from __future__ import annotations

import functools
import gzip
import json
import math
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

if typing.TYPE_CHECKING:
    from pavlov.task.log import RunPaths

__all__ = [
    "SCRParameters",
    "TrialResponse",
    "blink_emg",
    "format_columns",
    "probes_from_log",
    "scr_kernel",
    "skin_conductance",
    "write_bids_physio",
    "write_simulated_physio",
]


@dataclass(frozen=True)
class TrialResponse:
    """What the simulated physiology needs of one CS trial or unsignalled US.

    Attributes
    ----------
    onset : float
        CS onset (or the US onset of an unsignalled US), log seconds.
    value : float
        The learner's expectation of the US (associative value, 0–1) when the CS came on.
    us_onset : float or None
        Log seconds of a delivered US, else None.
    """

    onset: float
    value: float
    us_onset: float | None


#: Samples per second of the simulated recordings.
RATE = 1000.0


@dataclass(frozen=True)
class SCRParameters:
    """Parameters of the simulated skin conductance (see the module docstring)."""

    tau_rise: float = 0.75
    tau_decay: float = 2.0
    orienting: float = 0.05
    cs_gain: float = 0.6
    us_amplitude: float = 1.0
    cs_latency: tuple[float, float] = (1.0, 2.0)
    us_latency: tuple[float, float] = (1.0, 1.6)
    variability: float = 0.3
    noise: float = 0.005
    nonresponder_share: float = 0.15
    tonic: tuple[float, float] = (2.0, 12.0)
    drift: float = 0.5
    lead: float = 5.0
    tail: float = 15.0


def scr_kernel(rate: float = RATE, p: SCRParameters | None = None) -> np.ndarray:
    """The canonical SCR shape at ``rate``, peak 1, from response onset to 20 s."""
    p = p or SCRParameters()
    t = np.arange(int(20 * rate)) / rate
    shape = np.exp(-t / p.tau_decay) - np.exp(-t / p.tau_rise)
    return shape / shape.max()


@dataclass(frozen=True)
class SimulatedSCR:
    """A simulated skin conductance recording and its known parts."""

    scr: np.ndarray
    start_time: float
    responder: bool
    cs_amplitudes: np.ndarray
    us_amplitudes: np.ndarray


def skin_conductance(
    responses: Sequence[TrialResponse],
    end: float,
    *,
    seed: int | Sequence[int],
    rate: float = RATE,
    p: SCRParameters | None = None,
    responder: bool | None = None,
) -> SimulatedSCR:
    """Simulate skin conductance for a session's trials.

    Parameters
    ----------
    responses : sequence of TrialResponse
        Each CS's onset and expectation, and the delivered USs.
    end : float
        Session end (log seconds); the recording runs ``p.tail`` s past it.
    seed : int or sequence of int
        Seeds everything random (the same seed gives the same recording).
    responder : bool, optional
        Force a responder (True) or non-responder (False); drawn from the seed when None.

    Returns
    -------
    SimulatedSCR
        The samples (µS), the time of the first one, and the true peak amplitudes.
    """
    from scipy.ndimage import uniform_filter1d

    p = p or SCRParameters()
    rng = np.random.default_rng(seed)
    if responder is None:
        responder = bool(rng.random() >= p.nonresponder_share)
    start = min([0.0, *(r.onset for r in responses)]) - p.lead
    n = math.ceil((end + p.tail - start) * rate)
    impulses = np.zeros(n)
    cs_amp = np.zeros(len(responses))
    us_amp = np.full(len(responses), np.nan)
    for i, r in enumerate(responses):
        jitter = rng.lognormal(0.0, p.variability, 2)
        latency = rng.uniform(*p.cs_latency)
        if responder:
            cs_amp[i] = (p.orienting + p.cs_gain * r.value) * jitter[0]
        index = round((r.onset + latency - start) * rate)
        if 0 <= index < n:
            impulses[index] += cs_amp[i]
        if r.us_onset is not None:
            us_amp[i] = p.us_amplitude * jitter[1] if responder else 0.0
            index = round((r.us_onset + rng.uniform(*p.us_latency) - start) * rate)
            if 0 <= index < n:
                impulses[index] += us_amp[i]
    # responses are few and far apart: add the kernel at each (cheaper than convolving)
    kernel = scr_kernel(rate, p)
    phasic = np.zeros(n)
    for index in np.flatnonzero(impulses):
        stop = min(n, index + len(kernel))
        phasic[index:stop] += impulses[index] * kernel[: stop - index]
    level = rng.uniform(*p.tonic)
    minutes = n / rate / 60
    # slow wander: a random walk at 1 Hz, smoothed and interpolated to the sample rate
    steps = max(int(n / rate), 2)
    walk = np.cumsum(rng.normal(0.0, 0.01, steps))
    walk = uniform_filter1d(walk, 30, mode="nearest")  # same length, even for short runs
    wander = np.interp(np.arange(n) / rate, np.arange(steps), walk)
    drift = rng.normal(0.0, p.drift) * np.linspace(0.0, minutes / 20, n)
    tonic = np.maximum(level + drift + wander, 0.5)
    scr = tonic + phasic + rng.normal(0.0, p.noise, n)
    return SimulatedSCR(np.maximum(scr, 0.0), start, responder, cs_amp, us_amp)


def blink_emg(
    probes: Sequence[tuple[float, float]],
    start: float,
    n: int,
    *,
    seed: int | Sequence[int],
    rate: float = RATE,
    baseline: float = 2.0,
    blink: float = 40.0,
    potentiation: float = 1.0,
) -> np.ndarray:
    """Raw blink (orbicularis oculi) EMG in µV around startle probes.

    Parameters
    ----------
    probes : sequence of (onset, value)
        Probe onsets (log seconds) and the learner's expectation of the US then (0–1).
    start : float
        Log time of the first sample.
    n : int
        Samples.
    baseline : float
        SD of the resting EMG (µV).
    blink : float
        Peak amplitude of the blink burst at expectation 0 (µV); at expectation V it is
        ``blink × (1 + potentiation × V)``.
    """
    rng = np.random.default_rng(seed)
    emg = rng.normal(0.0, baseline, n)
    width = int(0.08 * rate)
    window = np.hanning(width)
    for onset, value in probes:
        at = round((onset + rng.uniform(0.03, 0.05) - start) * rate)
        if at < 0 or at + width > n:
            continue
        amplitude = blink * (1.0 + potentiation * value) * rng.lognormal(0.0, 0.2)
        burst = rng.normal(0.0, 1.0, width)
        burst = np.convolve(burst, np.ones(3) / 3, mode="same")  # band-limit: no DC spikes
        emg[at : at + width] += amplitude * window * burst / max(np.abs(burst).max(), 1e-9)
    return emg


@functools.cache
def _digit_table(digits: int, pad: bool) -> np.ndarray:
    """Row ``v`` holds ``v`` as ``digits`` ASCII digits (leading zeros as 0 bytes unless
    ``pad``, the units digit always shown)."""
    values = np.arange(10**digits)
    table = np.zeros((10**digits, digits), dtype=np.uint8)
    for j in range(digits):
        place = 10 ** (digits - 1 - j)
        shown = pad | (values >= place) | (j == digits - 1)
        table[:, j] = np.where(shown, ord("0") + (values // place) % 10, 0)
    return table


def format_columns(columns: Sequence[np.ndarray], decimals: Sequence[int]) -> bytes:
    """Tab-separated lines of numbers with fixed decimals, built with numpy lookup tables
    (no per-value Python formatting: a million samples take milliseconds). NaN is ``n/a``."""
    n = len(columns[0])
    pieces: list[np.ndarray] = []
    nan_any = []
    for k, (values, d) in enumerate(zip(columns, decimals)):
        values = np.asarray(values, dtype=float)
        missing = ~np.isfinite(values)
        scaled = np.rint(np.abs(np.where(missing, 0.0, values)) * 10**d).astype(np.int64)
        whole, frac = np.divmod(scaled, 10**d)
        digits = max(1, len(str(int(whole.max(initial=0)))))
        negative = (values < 0) & (scaled > 0)
        parts = [np.where(negative, ord("-"), 0).astype(np.uint8)[:, None]]
        if digits <= 5:
            parts.append(_digit_table(digits, False)[whole])
        else:  # very large values: one digit at a time
            for j in range(digits):
                place = 10 ** (digits - 1 - j)
                shown = (whole >= place) | (j == digits - 1)
                parts.append(np.where(shown, ord("0") + (whole // place) % 10, 0)[:, None])
        if d:
            parts.append(np.full((n, 1), ord("."), dtype=np.uint8))
            parts.append(_digit_table(d, True)[frac])
        end = ord("\n") if k == len(columns) - 1 else ord("\t")
        parts.append(np.full((n, 1), end, dtype=np.uint8))
        pieces.extend(p.astype(np.uint8, copy=False) for p in parts)
        nan_any.append(missing)
    table = np.concatenate(pieces, axis=1)
    data = table[table != 0].tobytes()
    if any(m.any() for m in nan_any):  # rare: rebuild those lines with n/a
        lines = data.decode().split("\n")
        for i in np.flatnonzero(np.any(nan_any, axis=0)):
            cells = lines[i].split("\t")
            for k, m in enumerate(nan_any):
                if m[i]:
                    cells[k] = "n/a"
            lines[i] = "\t".join(cells)
        data = "\n".join(lines).encode()
    return data


def write_bids_physio(
    path: Path,
    columns: dict[str, np.ndarray],
    units: dict[str, str],
    start_time: float,
    *,
    rate: float = RATE,
    decimals: Sequence[int],
    extra: dict | None = None,
) -> Path:
    """Write ``..._physio.tsv.gz`` (no header) and its ``.json`` sidecar, each atomically."""
    from pavlov.task.sidecar import _atomic_write

    meta = {
        "SamplingFrequency": rate,
        "StartTime": round(float(start_time), 6),
        "Columns": list(columns),
        **{name: {"Units": unit} for name, unit in units.items()},
        **(extra or {}),
    }
    body = format_columns(list(columns.values()), decimals)
    _atomic_write(path, gzip.compress(body, compresslevel=1, mtime=0))
    json_path = path.with_name(path.name[: -len(".tsv.gz")] + ".json")
    _atomic_write(json_path, (json.dumps(meta, indent=2) + "\n").encode())
    return path


def write_simulated_physio(
    paths: RunPaths,
    responses: Sequence[TrialResponse],
    end: float,
    *,
    seed: int,
    probes: Sequence[tuple[float, float]] = (),
) -> list[Path]:
    """Write a run's simulated skin conductance (and blink EMG when there are probes)
    beside its events file; return the files written."""
    stem = paths.events.name[: -len("_events.tsv")]
    scr = skin_conductance(responses, end, seed=[seed, 0x5C])
    description = (
        "Simulated by pavlov (no participant): tonic level with drift, canonical SCRs "
        "whose amplitude follows the simulated learner's expectation of the US, US "
        "responses, latency jitter, white noise"
    )
    written = [
        write_bids_physio(
            paths.directory / f"{stem}_recording-scr_physio.tsv.gz",
            {"scr": scr.scr},
            {"scr": "uS"},
            scr.start_time,
            decimals=[4],
            extra={
                "Description": description,
                "SimulatedResponder": scr.responder,
                "Manufacturer": "pavlov (simulated)",
            },
        )
    ]
    if probes:
        emg = blink_emg(probes, scr.start_time, len(scr.scr), seed=[seed, 0xE3])
        written.append(
            write_bids_physio(
                paths.directory / f"{stem}_recording-emg_physio.tsv.gz",
                {"emg": emg},
                {"emg": "uV"},
                scr.start_time,
                decimals=[2],
                extra={"Description": "Simulated blink EMG (orbicularis oculi) by pavlov"},
            )
        )
    return written


def responses_from_log(events: Path, values: Sequence[float]) -> tuple[list, float]:
    """Trial responses of a logged run (``cs`` and unsignalled ``us`` rows, in order) with
    the learner's expectations ``values``; and the run's end (last row's end)."""
    import csv

    with open(events, encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream, delimiter="\t"))
    trials = []
    us_at: dict[tuple[str, str], float] = {}
    end = 0.0
    for row in rows:
        onset = _number(row.get("onset"))
        if onset is None:
            continue
        end = max(end, onset + (_number(row.get("duration")) or 0.0))
        kind = row.get("trial_type")
        if kind == "cs":
            trials.append(("cs", row, onset))
        elif kind == "us" and row.get("event_type") == "USp":
            if row.get("cs") in ("", "n/a", None):
                trials.append(("us", row, onset))
            elif not str(row.get("value", "")).startswith(("refused", "not delivered")):
                us_at[(row["phase"], row["trial"])] = onset
    out = []
    for (kind, row, onset), value in zip(trials, values):
        if kind == "us":
            out.append(TrialResponse(onset, 1.0, onset))
        else:
            out.append(TrialResponse(onset, value, us_at.get((row["phase"], row["trial"]))))
    return out, end


def probes_from_log(events: Path, responses: Sequence[TrialResponse]) -> list[tuple[float, float]]:
    """The startle probes of a logged run (``probe`` rows) with the learner's expectation
    then: the expectation of the trial whose CS the probe sounds in (the trial that started
    last before it), 0 for a probe alone."""
    import bisect
    import csv

    with open(events, encoding="utf-8", newline="") as stream:
        rows = [r for r in csv.DictReader(stream, delimiter="\t") if r.get("trial_type") == "probe"]
    starts = [r.onset for r in responses]
    out = []
    for row in rows:
        onset = _number(row.get("onset"))
        if onset is None:
            continue
        value = 0.0
        at = bisect.bisect_right(starts, onset + 1e-9) - 1
        if row.get("cs") not in ("", "n/a", None) and at >= 0:
            value = responses[at].value
        out.append((onset, value))
    return out


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None
