"""Skin conductance responses (SCR) from raw physiology: preparation, QC, scoring, transforms.

Recipes and defaults follow analysis.md §1:

- **Preparation**: :func:`lowpass` (Butterworth, zero-phase; PsPM uses 1st order at
  5 Hz) and :func:`downsample` (block averaging as EzySCR, or polyphase resampling).
- **Quality control** (:func:`quality_flags`, PsPM ``pspm_scr_pp`` defaults): valid range
  0.05–60 µS, |slope| < 10 µS/s, clipping (window 100 samples, step 10, threshold 0.1),
  artefacts expanded by ±0.5 s; :func:`missing_epochs` tabulates them. A window that
  overlaps a bad sample scores ``NaN``, never 0.
- **Trough-to-peak** (:func:`score_epoch`, EzySCR rules): the trough lies inside the
  latency window, the peak follows it and may fall in a later window; troughs and peaks
  come from peak/trough detection with a 0.02-µS hysteresis (:func:`detect_extrema`); the
  largest response wins (overlapping responses are not added); rises below 0.02 µS score
  0; peaks ≥ 25 µS are artefacts (``NaN``). Windows for a CS of any duration come from
  :func:`latency_windows` (FIR 1–4 s, SIR 4 s–CS offset+1 s, TIR offset+1–offset+4 s;
  in trace conditioning ``pavlov analyze`` places them by the US onset instead of the offset).
- **Baseline-to-peak** (:func:`score_baseline_to_peak`, LaBar 1998 / Schiller 2010): the
  maximum in 0.5–4.5 s minus the mean of the 2 s before CS onset; below 0.02 µS → 0.
- **Transforms** (:func:`transform`): square root, log1p, range correction, division by
  the mean US response, within-participant z; the chain is returned and logged.
- :func:`score_events` scores every ``cs`` row of a BIDS events table from a
  ``*_physio.tsv.gz`` recording and records every setting in ``Series.attrs``.

Times are seconds; ``t`` arrays of an epoch are relative to CS onset.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pavlov.analysis.errors import AnalysisError
from pavlov.analysis.physio import Physio, read_physio
from pavlov.common.errors import suggest

__all__ = [
    "EZYSCR_WINDOWS",
    "TRANSFORMS",
    "PreparedSignal",
    "SCRError",
    "Transformed",
    "detect_extrema",
    "downsample",
    "latency_windows",
    "lowpass",
    "missing_epochs",
    "prepare_signal",
    "quality_flags",
    "score_baseline_to_peak",
    "score_epoch",
    "score_events",
    "transform",
]

#: EzySCR's default windows for a 6-s CS (seconds after CS onset).
EZYSCR_WINDOWS: Mapping[str, tuple[float, float]] = {
    "FIR": (1.0, 4.0),
    "SIR": (4.0, 7.0),
    "TIR": (7.0, 10.0),
}

#: Minimum trough-to-peak rise counted as a response (µS).
MIN_RESPONSE = 0.02

#: Longest rise time of a response, onset to peak (s): SCR rise times are 1-3 s
#: (Boucsein 2012); a longer climb is tonic drift.
MAX_RISE = 4.0

#: Peaks at or above this are artefacts (µS), scored NaN (EzySCR writes -99).
MAX_PEAK = 25.0

#: Steps :func:`transform` understands.
TRANSFORMS = ("sqrt", "log1p", "range", "us", "z")

#: Scoring methods of :func:`score_events`.
METHODS = ("ttp", "btp")


class SCRError(AnalysisError):
    """Bad input to SCR scoring (one-line message)."""


# --- windows -------------------------------------------------------------------------


def latency_windows(cs_duration: float = 6.0) -> dict[str, tuple[float, float]]:
    """Return the FIR/SIR/TIR windows for a CS of ``cs_duration`` seconds.

    FIR and TIR stay 3 s long (1–4 s after CS onset; 1–4 s after CS offset) and SIR
    stretches between them (analysis.md §1.2). For a 6-s CS these are EzySCR's
    defaults, :data:`EZYSCR_WINDOWS`.

    Raises
    ------
    SCRError
        If the CS is shorter than 3 s (FIR and SIR would overlap the offset response).
    """
    d = float(cs_duration)
    if not math.isfinite(d) or d < 3.0:
        raise SCRError(f"cs_duration: expected at least 3 s for FIR/SIR/TIR windows, got {d!r}")
    return {"FIR": (1.0, 4.0), "SIR": (4.0, d + 1.0), "TIR": (d + 1.0, d + 4.0)}


# --- preparation ---------------------------------------------------------------------


def lowpass(sc: np.ndarray, fs: float, cutoff: float = 5.0, order: int = 1) -> np.ndarray:
    """Zero-phase Butterworth low-pass filter (PsPM default: 1st order, 5 Hz).

    Missing samples (NaN) are bridged by linear interpolation for filtering and put back
    as NaN afterwards, so a gap does not spread over the whole recording.

    Parameters
    ----------
    sc : array of float
        Skin conductance, µS.
    fs : float
        Sampling rate, Hz.
    cutoff : float
        Cut-off frequency, Hz; must be below ``fs / 2``.
    order : int
        Filter order.
    """
    sc = np.asarray(sc, dtype=float)
    if not 0 < cutoff < fs / 2:
        raise SCRError(f"cutoff: expected 0 < cutoff < {fs / 2:g} Hz (fs/2), got {cutoff!r}")
    missing = np.isnan(sc)
    if missing.all():
        return sc.copy()
    filled = _bridge(sc, missing)
    # Imported here: scipy.signal imports scipy.stats (about a second), which an analysis
    # of ratings alone never needs.
    from scipy import signal

    sos = signal.butter(order, cutoff, btype="low", fs=fs, output="sos")
    padlen = min(3 * (2 * len(sos) + 1), max(len(filled) - 1, 0))
    out = signal.sosfiltfilt(sos, filled, padlen=padlen)
    out[missing] = np.nan
    return out


def downsample(sc: np.ndarray, fs: float, target: float) -> tuple[np.ndarray, float]:
    """Reduce the sampling rate to ``target`` Hz.

    An integer ratio uses block averaging (EzySCR: 1000 → 50 Hz), which is also the
    anti-aliasing; other ratios use polyphase resampling (``scipy.signal.resample_poly``).
    Filter first (:func:`lowpass`) when the signal has power above ``target / 2``.

    Returns
    -------
    values : array of float
    fs : float
        The new rate (``target``).
    """
    sc = np.asarray(sc, dtype=float)
    if not 0 < target <= fs:
        raise SCRError(f"target: expected a rate in (0, {fs:g}] Hz, got {target!r}")
    ratio = fs / target
    if abs(ratio - round(ratio)) < 1e-9:
        step = round(ratio)
        n = len(sc) // step
        return sc[: n * step].reshape(n, step).mean(axis=1), float(target)
    from fractions import Fraction

    from scipy import signal

    frac = Fraction(target / fs).limit_denominator(1000)
    out = signal.resample_poly(_bridge(sc, np.isnan(sc)), frac.numerator, frac.denominator)
    return out, float(fs * frac.numerator / frac.denominator)


def _bridge(sc: np.ndarray, missing: np.ndarray) -> np.ndarray:
    if not missing.any():
        return sc.copy()
    index = np.arange(len(sc))
    return np.interp(index, index[~missing], sc[~missing])


# --- quality control -----------------------------------------------------------------


def quality_flags(
    sc: np.ndarray,
    fs: float,
    *,
    valid_range: tuple[float, float] = (0.05, 60.0),
    max_slope: float = 10.0,
    clip_window: int = 100,
    clip_step: int = 10,
    clip_threshold: float = 0.1,
    expand: float = 0.5,
    min_island: float = 0.0,
) -> pd.DataFrame:
    """Flag bad samples of a skin-conductance recording (PsPM ``pspm_scr_pp`` defaults).

    Parameters
    ----------
    sc : array of float
        µS.
    fs : float
        Hz.
    valid_range : (float, float)
        Samples outside [low, high] µS are bad (``range``).
    max_slope : float
        Samples whose |slope| to the next sample is ≥ this many µS/s are bad (``slope``).
    clip_window, clip_step : int
        Clipping is judged in windows of ``clip_window`` samples moved by ``clip_step``.
    clip_threshold : float
        A window is clipped when more than this share of its samples sit exactly at the
        window's maximum or minimum (a saturated amplifier gives flat tops/bottoms).
    expand : float
        Seconds added before and after every bad stretch.
    min_island : float
        Good stretches shorter than this (seconds) between bad ones are also bad.

    Returns
    -------
    pandas.DataFrame
        One row per sample, bool columns ``range``, ``slope``, ``clipping``, ``missing``
        (NaN input) and ``bad`` (their union, expanded, islands removed).
    """
    sc = np.asarray(sc, dtype=float)
    n = len(sc)
    missing = np.isnan(sc)
    with np.errstate(invalid="ignore"):
        out_of_range = ~missing & ((sc < valid_range[0]) | (sc > valid_range[1]))
        step = np.abs(np.diff(sc)) * fs
        steep = np.zeros(n, dtype=bool)
        fast = step >= max_slope
        steep[:-1] |= fast
        steep[1:] |= fast
    clipped = np.zeros(n, dtype=bool)
    if n >= clip_window and clip_window > 1:
        starts = np.arange(0, n - clip_window + 1, clip_step)
        windows = np.lib.stride_tricks.sliding_window_view(sc, clip_window)[starts]
        with np.errstate(invalid="ignore"):
            at_max = (windows == np.nanmax(windows, axis=1, keepdims=True)).mean(axis=1)
            at_min = (windows == np.nanmin(windows, axis=1, keepdims=True)).mean(axis=1)
        for start in starts[(at_max > clip_threshold) | (at_min > clip_threshold)]:
            clipped[start : start + clip_window] = True
    bad = missing | out_of_range | steep | clipped
    pad = round(expand * fs)
    if pad > 0 and bad.any():
        bad = np.convolve(bad.astype(np.int8), np.ones(2 * pad + 1, dtype=np.int8), "same") > 0
    if min_island > 0 and bad.any():
        bad = _fill_islands(bad, round(min_island * fs))
    return pd.DataFrame(
        {
            "range": out_of_range,
            "slope": steep,
            "clipping": clipped,
            "missing": missing,
            "bad": bad,
        }
    )


def _fill_islands(bad: np.ndarray, shortest: int) -> np.ndarray:
    bad = bad.copy()
    edges = np.flatnonzero(np.diff(np.r_[1, bad.astype(np.int8), 1]))
    # good runs are [edges[2k], edges[2k+1]) when the padded sequence starts bad
    for start, stop in zip(edges[::2], edges[1::2]):
        if start > 0 and stop < len(bad) and stop - start < shortest:
            bad[start:stop] = True
    return bad


def missing_epochs(time: np.ndarray, bad: np.ndarray) -> pd.DataFrame:
    """Tabulate stretches of bad samples as ``onset``, ``offset``, ``duration`` (seconds).

    Parameters
    ----------
    time : array of float
        Seconds of every sample.
    bad : array of bool
        The ``bad`` column of :func:`quality_flags`.
    """
    time = np.asarray(time, dtype=float)
    bad = np.asarray(bad, dtype=bool)
    edges = np.diff(np.r_[0, bad.astype(np.int8), 0])
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1) - 1
    period = float(np.median(np.diff(time))) if len(time) > 1 else 0.0
    onset = time[starts]
    offset = time[stops] + period
    return pd.DataFrame({"onset": onset, "offset": offset, "duration": offset - onset})


# --- detection and scoring -----------------------------------------------------------


def detect_extrema(sc: np.ndarray, delta: float = MIN_RESPONSE) -> tuple[np.ndarray, np.ndarray]:
    """Peak/trough detection with hysteresis ``delta`` (the "peakdet" algorithm).

    A maximum is accepted once the signal has fallen ``delta`` below it, a minimum once it
    has risen ``delta`` above it, so wiggles smaller than ``delta`` are ignored. Extrema
    still pending at the end of the signal are accepted too (the last rise may be cut).

    Returns
    -------
    troughs, peaks : arrays of int
        Sample indices, each in increasing order; troughs and peaks alternate.
    """
    sc = np.asarray(sc, dtype=float)
    troughs: list[int] = []
    peaks: list[int] = []
    if len(sc) == 0:
        return np.array(troughs, dtype=int), np.array(peaks, dtype=int)
    lo_i = hi_i = 0
    lo = hi = sc[0]
    looking = 0  # 0 undecided, 1 looking for a peak (after a trough), -1 for a trough
    for i, v in enumerate(sc.tolist()):
        if v > hi:
            hi, hi_i = v, i
        if v < lo:
            lo, lo_i = v, i
        if looking >= 0 and v <= hi - delta and (looking == 1 or hi_i >= lo_i):
            if looking == 0 and lo_i < hi_i:
                troughs.append(lo_i)
            peaks.append(hi_i)
            looking = -1
            lo, lo_i = v, i
        elif looking <= 0 and v >= lo + delta:
            if looking == 0 and hi_i < lo_i:
                peaks.append(hi_i)
            troughs.append(lo_i)
            looking = 1
            hi, hi_i = v, i
    if looking == 1 and hi_i > troughs[-1]:
        peaks.append(hi_i)
    return np.array(troughs, dtype=int), np.array(peaks, dtype=int)


def score_epoch(
    t: np.ndarray,
    sc: np.ndarray,
    window: tuple[float, float],
    *,
    min_response: float = MIN_RESPONSE,
    max_peak: float = MAX_PEAK,
    peak_limit: float | None = None,
    max_rise: float | None = MAX_RISE,
    bad: np.ndarray | None = None,
    detail: bool = False,
) -> float | dict:
    """Trough-to-peak score of one latency window of one epoch (EzySCR rules).

    Parameters
    ----------
    t : array of float
        Seconds relative to CS onset, increasing.
    sc : array of float
        Skin conductance, µS.
    window : (float, float)
        Start and end (seconds after CS onset) in which the trough must lie.
    min_response : float
        Smallest rise counted as a response (µS); also the detection hysteresis.
    max_peak : float
        Peaks at or above this level (µS) make the score NaN (artefact).
    peak_limit : float, optional
        Latest time (s after CS onset) a peak may have; the end of the epoch when None.
    max_rise : float, optional
        Longest rise from a response's onset to its peak (s); slower climbs are tonic
        drift, not a response (None: no limit).
    bad : array of bool, optional
        Bad samples (:func:`quality_flags`); a window touching one scores NaN.
    detail : bool
        Return a dict with ``score``, ``trough_index``, ``peak_index``, ``trough``,
        ``peak`` instead of the score alone.

    Returns
    -------
    float or dict
        µS; 0 when no rise of at least ``min_response`` starts in the window, NaN when
        the window has missing or bad data or the peak is an artefact.
    """
    t = np.asarray(t, dtype=float)
    sc = np.asarray(sc, dtype=float)
    if t.shape != sc.shape or t.ndim != 1:
        raise SCRError(f"t and sc: expected equal 1-D arrays, got shapes {t.shape}, {sc.shape}")
    start, stop = float(window[0]), float(window[1])
    if not start < stop:
        raise SCRError(f"window: expected start < end, got {window!r}")
    end = len(t) if peak_limit is None else int(np.searchsorted(t, peak_limit, side="right"))
    first = int(np.searchsorted(t, start, side="left"))
    last = int(np.searchsorted(t, stop, side="right"))  # window samples are [first, last)
    result = {"score": math.nan, "trough_index": -1, "peak_index": -1}
    result.update(trough=math.nan, peak=math.nan)
    if first >= last or last > end or t[0] > start or t[-1] < stop:
        return result if detail else math.nan  # the epoch does not cover the window
    segment = sc[first:end]
    if np.isnan(segment).any() or (bad is not None and np.asarray(bad)[first:end].any()):
        return result if detail else math.nan
    troughs, _ = detect_extrema(segment, min_response)
    # The window's first sample starts a rise too when the signal climbs out of the window
    # start (EzySCR places such troughs at the window edge).
    candidates = np.unique(np.r_[0, troughs[troughs < last - first]])
    later = np.r_[troughs, len(segment)]
    best = (0.0, -1, -1)
    inside = last - first  # segment samples [0, inside) are in the window
    for i in candidates:
        j = later[later > i][0]  # the rise lasts until the next accepted trough
        p = i + int(np.argmax(segment[i : j + 1 if j < len(segment) else j]))
        rising = segment[i : min(p, inside - 1) + 1]
        q = i + len(rising) - 1 - int(np.argmin(rising[::-1]))  # the last lowest sample
        # A rise can hold several overlapping responses (the next starts before the last
        # has fallen 0.02 µS): split it where its slope dips and climbs again, and score
        # each part that starts inside the window on its own (the largest wins; parts
        # are never added).
        onsets = _response_onsets(t[first:end], segment, q, p, min_response)
        for k, onset in enumerate(onsets):
            if onset >= inside and k:
                break
            stop = onsets[k + 1] if k + 1 < len(onsets) else p
            if max_rise is not None:  # a response peaks within max_rise s of its onset
                begin = _rise_start(t[first:end], segment, onset, stop)
                latest = int(np.searchsorted(t[first:end], t[first + begin] + max_rise, "right"))
                stop = min(stop, max(latest - 1, onset))
            top = onset + int(np.argmax(segment[onset : stop + 1]))
            rise = segment[top] - segment[onset]
            if rise > best[0]:
                best = (rise, onset, top)
    rise, q, p = best
    if p >= 0 and segment[p] >= max_peak:
        score = math.nan
    else:
        score = float(rise) if rise >= min_response else 0.0
    if not detail:
        return score
    result.update(score=score, trough_index=first + q if q >= 0 else -1)
    result.update(peak_index=first + p if p >= 0 else -1)
    if p >= 0:
        result.update(trough=float(segment[q]), peak=float(segment[p]))
    return result


def _rise_start(t: np.ndarray, sc: np.ndarray, start: int, stop: int) -> int:
    """Where the climb from ``start`` to ``stop`` really begins: the first sample whose
    slope reaches a tenth of the climb's steepest (a drifting baseline before it is not
    part of the response)."""
    if stop - start < 3:
        return start
    slope = np.gradient(sc[start : stop + 1], t[start : stop + 1])
    steep = slope.max()
    if not steep > 0:
        return start
    return start + int(np.argmax(slope >= 0.1 * steep))


def _response_onsets(
    t: np.ndarray, sc: np.ndarray, trough: int, peak: int, min_response: float
) -> list[int]:
    """Onsets of the responses within one rise from ``trough`` to ``peak``.

    The first onset is the trough. A later response starts where the slope (smoothed over
    0.2 s) has a local minimum below half of its maxima before and after it; each part
    must rise by ``min_response`` µS or more, so noise does not split a response.
    """
    if peak - trough < 4:
        return [trough]
    x = t[trough : peak + 1]
    y = sc[trough : peak + 1]
    slope = np.gradient(y, x)
    dt = float(np.median(np.diff(x)))
    width = min(max(1, round(0.2 / dt)), len(slope) // 2)
    if width > 1:
        slope = np.convolve(slope, np.ones(width) / width, mode="same")
    onsets = [0]
    for m in range(1, len(slope) - 1):
        if not (slope[m] < slope[m - 1] and slope[m] <= slope[m + 1]):
            continue
        before = slope[onsets[-1] : m].max(initial=0.0)
        after = slope[m + 1 :].max(initial=0.0)
        if before <= 0 or after <= 0 or slope[m] > 0.5 * min(before, after):
            continue
        if y[m] - y[onsets[-1]] < min_response or y[m:].max() - y[m] < min_response:
            continue
        onsets.append(m)
    return [trough + o for o in onsets]


def score_baseline_to_peak(
    t: np.ndarray,
    sc: np.ndarray,
    window: tuple[float, float] = (0.5, 4.5),
    *,
    baseline: tuple[float, float] = (-2.0, 0.0),
    min_response: float = MIN_RESPONSE,
    max_peak: float = MAX_PEAK,
    bad: np.ndarray | None = None,
) -> float:
    """Baseline-to-peak score (LaBar 1998 / Schiller 2010; analysis.md §1.3).

    The maximum SC in ``window`` minus the mean SC in ``baseline`` (both seconds relative
    to CS onset); scores below ``min_response`` are 0; NaN when either interval is not
    covered, has missing or bad samples, or the peak is ≥ ``max_peak``.
    """
    t = np.asarray(t, dtype=float)
    sc = np.asarray(sc, dtype=float)
    if t.shape != sc.shape or t.ndim != 1:
        raise SCRError(f"t and sc: expected equal 1-D arrays, got shapes {t.shape}, {sc.shape}")
    if t[0] > baseline[0] or t[-1] < window[1]:
        return math.nan
    base = (t >= baseline[0]) & (t < baseline[1])
    span = (t >= window[0]) & (t <= window[1])
    if not base.any() or not span.any():
        return math.nan
    used = base | span
    if np.isnan(sc[used]).any() or (bad is not None and np.asarray(bad)[used].any()):
        return math.nan
    peak = float(sc[span].max())
    if peak >= max_peak:
        return math.nan
    score = peak - float(sc[base].mean())
    return score if score >= min_response else 0.0


# --- events --------------------------------------------------------------------------


@dataclass(frozen=True)
class PreparedSignal:
    """A recording's skin-conductance channel, filtered and quality-checked once, so that
    several :func:`score_events` calls on one run (CS and US responses) share the work.

    Attributes
    ----------
    recording : Physio
        The recording it came from.
    channel : str
        The skin-conductance column.
    sc : array of float
        µS, after the low-pass filter (when one applied).
    bad : array of bool or None
        :func:`quality_flags`' ``bad`` column; None without quality checks.
    lowpass_hz, qc, qc_options
        The settings it was prepared with (as :func:`score_events` takes them).
    """

    recording: Physio
    channel: str
    sc: np.ndarray
    bad: np.ndarray | None
    lowpass_hz: float | None
    qc: bool
    qc_options: Mapping[str, Any] | None


def prepare_signal(
    physio: str | os.PathLike | Physio,
    *,
    channel: str = "scr",
    lowpass_hz: float | None = 5.0,
    qc: bool = True,
    qc_options: Mapping[str, Any] | None = None,
) -> PreparedSignal:
    """Filter and quality-check a recording's skin conductance once (see
    :func:`score_events` for the parameters)."""
    recording = physio if isinstance(physio, Physio) else read_physio(physio)
    fs = recording.sampling_frequency
    sc = recording.channel(channel)
    if lowpass_hz is not None and lowpass_hz < fs / 2:
        sc = lowpass(sc, fs, lowpass_hz)
    bad = quality_flags(sc, fs, **dict(qc_options or {}))["bad"].to_numpy() if qc else None
    return PreparedSignal(recording, channel, sc, bad, lowpass_hz, qc, qc_options)


def score_events(
    events: pd.DataFrame,
    physio: str | os.PathLike | Physio | PreparedSignal,
    *,
    window: str | tuple[float, float] = "FIR",
    method: str = "ttp",
    channel: str = "scr",
    cs_duration: float | None = None,
    lowpass_hz: float | None = 5.0,
    min_response: float = MIN_RESPONSE,
    max_peak: float = MAX_PEAK,
    peak_after: float = 5.0,
    baseline: tuple[float, float] = (-2.0, 0.0),
    qc: bool = True,
    qc_options: Mapping[str, Any] | None = None,
) -> pd.Series:
    """Score the SCR of every ``cs`` row of a BIDS events table.

    Parameters
    ----------
    events : pandas.DataFrame
        BIDS events (``onset``, ``duration``, ``trial_type``, ...), onsets in the same time
        base as the recording's ``StartTime``.
    physio : path-like, Physio or PreparedSignal
        ``*_physio.tsv.gz`` (with its JSON sidecar), a recording already read, or one
        already filtered and checked (:func:`prepare_signal`; its ``channel``,
        ``lowpass_hz``, ``qc`` and ``qc_options`` must then be the ones given here).
    window : str or (float, float)
        ``FIR``, ``SIR``, ``TIR`` (from :func:`latency_windows` of each row's CS
        duration, or ``cs_duration``), or explicit seconds after CS onset.
    method : str
        ``ttp`` trough-to-peak (:func:`score_epoch`) or ``btp`` baseline-to-peak
        (:func:`score_baseline_to_peak`; default window 0.5–4.5 s when ``window`` is a name).
    channel : str
        Skin-conductance column of the recording.
    cs_duration : float, optional
        CS duration for named windows; each row's ``duration`` when None.
    lowpass_hz : float or None
        Butterworth (1st order, zero phase) cut-off applied first; None to skip. Skipped
        automatically when it is not below the Nyquist frequency.
    min_response, max_peak : float
        µS; see :func:`score_epoch`.
    peak_after : float
        ``ttp``: a peak may fall up to this many seconds after the window end.
    baseline : (float, float)
        ``btp``: baseline interval, seconds relative to CS onset.
    qc : bool
        Apply :func:`quality_flags`; windows touching a bad sample score NaN.
    qc_options : mapping, optional
        Keyword arguments for :func:`quality_flags`.

    Returns
    -------
    pandas.Series
        µS, indexed like ``events``; NaN on rows that are not ``cs`` rows and on trials
        the recording does not cover. ``attrs["scoring"]`` records every setting.
    """
    for column in ("onset", "duration", "trial_type"):
        if column not in events.columns:
            hint = suggest(column, [str(c) for c in events.columns])
            tail = f". Did you mean '{hint}'?" if hint else ""
            raise SCRError(
                f"events: expected a column '{column}', got {list(events.columns)}{tail}"
            )
    if method not in METHODS:
        raise SCRError(f"method: expected one of {', '.join(METHODS)}, got {method!r}")
    if not isinstance(physio, PreparedSignal):
        prepared = prepare_signal(
            physio, channel=channel, lowpass_hz=lowpass_hz, qc=qc, qc_options=qc_options
        )
    else:
        prepared = physio
        given = (channel, lowpass_hz, qc, dict(qc_options or {}))
        made = (prepared.channel, prepared.lowpass_hz, prepared.qc, dict(prepared.qc_options or {}))
        if given != made:
            raise SCRError(
                f"physio: a signal prepared with channel, lowpass_hz, qc, qc_options = {made}, "
                f"got {given}"
            )
    recording, sc, bad = prepared.recording, prepared.sc, prepared.bad
    fs = recording.sampling_frequency
    time = recording.time
    onsets = pd.to_numeric(events["onset"], errors="coerce").to_numpy(dtype=float)
    durations = pd.to_numeric(events["duration"], errors="coerce").to_numpy(dtype=float)
    is_cs = events["trial_type"].astype(str).to_numpy() == "cs"
    scores = np.full(len(events), np.nan)
    for row in np.flatnonzero(is_cs & np.isfinite(onsets)):
        span = _resolve_window(window, method, cs_duration or durations[row])
        if method == "ttp":
            lo, hi = span[0], span[1] + peak_after
        else:
            lo, hi = min(baseline[0], span[0]), span[1]
        i0 = int(np.searchsorted(time, onsets[row] + lo - 1.0 / fs, side="left"))
        i1 = int(np.searchsorted(time, onsets[row] + hi + 1.0 / fs, side="right"))
        t = time[i0:i1] - onsets[row]
        if len(t) < 2:
            continue
        epoch_bad = None if bad is None else bad[i0:i1]
        if method == "ttp":
            scores[row] = score_epoch(
                t,
                sc[i0:i1],
                span,
                min_response=min_response,
                max_peak=max_peak,
                peak_limit=span[1] + peak_after,
                bad=epoch_bad,
            )
        else:
            scores[row] = score_baseline_to_peak(
                t,
                sc[i0:i1],
                span,
                baseline=baseline,
                min_response=min_response,
                max_peak=max_peak,
                bad=epoch_bad,
            )
    result = pd.Series(scores, index=events.index, name="scr")
    result.attrs["scoring"] = {
        "physio": recording.path,
        "channel": channel,
        "sampling_frequency": fs,
        "method": method,
        "window": window,
        "cs_duration": cs_duration,
        "lowpass_hz": lowpass_hz if lowpass_hz is not None and lowpass_hz < fs / 2 else None,
        "min_response": min_response,
        "max_peak": max_peak,
        "peak_after": peak_after if method == "ttp" else None,
        "baseline": baseline if method == "btp" else None,
        "qc": dict(qc_options or {}) if qc else None,
        "unit": "uS",
    }
    return result


def _resolve_window(
    window: str | tuple[float, float], method: str, cs_duration: float
) -> tuple[float, float]:
    if not isinstance(window, str):
        lo, hi = (float(x) for x in window)
        if not lo < hi:
            raise SCRError(f"window: expected start < end seconds, got {window!r}")
        return lo, hi
    if method == "btp":
        return (0.5, 4.5)
    if window == "FIR":
        # The first interval, 1-4 s after CS onset, does not depend on how long the CS is:
        # a short CS (2 s) or a rehearsal at --speed, whose logged durations are whole
        # frames times the speed, is still scored (SIR and TIR need the CS to last 3 s).
        return EZYSCR_WINDOWS["FIR"]
    if not np.isfinite(cs_duration):
        raise SCRError(
            f"window {window!r}: expected a CS duration (events 'duration' or cs_duration), "
            f"got {cs_duration!r}"
        )
    spans = latency_windows(cs_duration)
    if window not in spans:
        hint = suggest(window, spans)
        tail = f". Did you mean '{hint}'?" if hint else ""
        raise SCRError(f"window: expected FIR, SIR, TIR or (start, end), got {window!r}{tail}")
    return spans[window]


# --- transforms ----------------------------------------------------------------------


@dataclass(frozen=True)
class Transformed:
    """Transformed scores and the chain of steps that made them (for the audit log).

    Attributes
    ----------
    values : pandas.Series
    chain : tuple of str
        One description per step, in order.
    """

    values: pd.Series
    chain: tuple[str, ...]


def transform(
    values: pd.Series,
    steps: Sequence[str],
    *,
    groups: pd.Series | None = None,
    us: pd.Series | None = None,
    reference: pd.Series | None = None,
) -> Transformed:
    """Apply SCR transforms in order (analysis.md §1.5), per participant.

    Parameters
    ----------
    values : pandas.Series
        Scores, µS (non-negative for ``sqrt`` and ``log1p``).
    steps : sequence of str
        Any of :data:`TRANSFORMS`, in order:

        - ``sqrt``: square root;
        - ``log1p``: log(1 + x);
        - ``range``: divide by the group's maximum score (Lykken & Venables);
        - ``us``: divide by the group's mean US response, after the earlier steps
          (Homan's ``scrsqrtrc`` is ``["sqrt", "us"]``);
        - ``z``: subtract the mean and divide by the SD (ddof 1) of the group's
          ``reference`` rows (all rows when None), as ReactExtMRI does.
    groups : pandas.Series, optional
        Participant of every row; one group when None.
    us : pandas.Series, optional
        Per row, the US response in µS where one was measured (NaN elsewhere); it goes
        through the same steps as ``values``. Required by the ``us`` step. When the scored
        response of reinforced trials is the US response (Homan), pass
        ``values.where(reinforced)``.
    reference : pandas.Series of bool, optional
        Rows defining the mean and SD of ``z``.

    Returns
    -------
    Transformed

    Raises
    ------
    SCRError
        On an unknown step, negative scores for ``sqrt``/``log1p``, or a group whose
        divisor is 0 or missing.
    """
    x = pd.to_numeric(values, errors="coerce").astype(float)
    index = x.index
    groups = pd.Series(0, index=index) if groups is None else pd.Series(groups, index=index)
    if us is not None:
        u = pd.to_numeric(pd.Series(us, index=index), errors="coerce").astype(float)
    else:
        u = None
    ref = (
        pd.Series(True, index=index)
        if reference is None
        else pd.Series(reference, index=index).astype(bool)
    )
    chain: list[str] = []
    for step in steps:
        if step not in TRANSFORMS:
            hint = suggest(step, TRANSFORMS)
            tail = f". Did you mean '{hint}'?" if hint else ""
            raise SCRError(
                f"transform: expected one of {', '.join(TRANSFORMS)}, got {step!r}{tail}"
            )
        if step in ("sqrt", "log1p"):
            if (x < 0).any() or (u is not None and (u < 0).any()):
                raise SCRError(f"transform {step}: expected scores >= 0, got {x.min():g}")
            fn = np.sqrt if step == "sqrt" else np.log1p
            x = fn(x)
            u = None if u is None else fn(u)
            chain.append(step)
        elif step == "range":
            divisor = x.groupby(groups).transform("max")
            x = _divide(x, divisor, "range (group maximum)", groups)
            if u is not None:
                u = u / divisor
            chain.append("range: divide by the participant's maximum score")
        elif step == "us":
            if u is None or u.isna().all():
                raise SCRError("transform us: expected US responses (us=...), got none")
            divisor = u.groupby(groups).transform("mean")
            x = _divide(x, divisor, "us (mean US response)", groups)
            u = u / divisor
            done = [c.split(":")[0] for c in chain]
            chain.append(
                "us: divide by the participant's mean US response"
                + (f" (after {', '.join(done)})" if done else "")
            )
        else:  # z
            ref_x = x.where(ref)
            mean = ref_x.groupby(groups).transform("mean")
            sd = ref_x.groupby(groups).transform("std")
            x = _divide(x - mean, sd, "z (SD of reference rows)", groups)
            chain.append(
                "z: within-participant z-score"
                + (" on reference rows" if reference is not None else " on all rows")
            )
    out = x.rename(values.name)
    out.attrs["transform"] = list(chain)
    return Transformed(values=out, chain=tuple(chain))


def _divide(x: pd.Series, divisor: pd.Series, what: str, groups: pd.Series) -> pd.Series:
    bad = (divisor == 0) | divisor.isna()
    if bad.any():
        group = groups[bad].iloc[0]
        raise SCRError(
            f"transform {what}: expected a non-zero divisor for every participant, "
            f"got {divisor[bad].iloc[0]!r} for {group!r}"
        )
    return x / divisor
