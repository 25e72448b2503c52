"""Align a recorder's clock to a session log's by pavlov's own marker codes.

The log says which marker went out when: every ``cs`` row sent its M-BIDS code (``CSpr``,
``CSpu``, ``CSm``) on the flip that showed the CS, every ``us`` row its ``USp``/``USo``/
``USm`` code on the US flip, and its ``onset`` is that flip's time. The recorder saw the
same codes at times of its own clock. :func:`align` pairs the two sequences (by code order,
then by time), fits ``log = offset + scale × recorder`` by least squares (``scale`` holds
the drift between the two crystals, and the ``--speed`` of a rehearsal), and reports the
residual jitter and the markers either side could not pair.

It **refuses** rather than guesses (:class:`AlignmentError`, one line): when fewer than
``min_matched`` of the log's markers find a recorded marker of the same code within
``tolerance`` of the fit — a recording of another session, run or participant.

The codes are read from the run's ``_session.json`` (``devices.marker_codes``, what the
lab file set); :data:`DEFAULT_MARKER_CODES` (pavlov's defaults) when there is none.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pandas as pd

from pavlov.analysis.physio import PhysioError
from pavlov.protocols.kinds import markers

__all__ = [
    "ALIGN_EVENTS",
    "DEFAULT_MARKER_CODES",
    "Alignment",
    "AlignmentError",
    "align",
    "expected_markers",
]

#: Events whose markers are sent on the flip their log row's onset is: the anchors.
ALIGN_EVENTS = ("CSpr", "CSpu", "CSm", "USp", "USo", "USm")

#: pavlov's default marker codes of the events alignment uses, as the phase kinds declare
#: them (:func:`pavlov.protocols.kinds.markers`, the same table the runner sends from).
DEFAULT_MARKER_CODES: Mapping[str, int] = MappingProxyType(
    {event: code for event, code in markers().items() if event in ALIGN_EVENTS}
)

#: Largest drift between two clocks that the first, coarse pairing allows (parts per one).
MAX_DRIFT = 5e-4


class AlignmentError(PhysioError):
    """The recording's markers do not match the log's (one-line message)."""


@dataclass(frozen=True)
class Alignment:
    """A fitted map from the recorder's clock to the log's, and how well it fits.

    Attributes
    ----------
    offset, scale : float
        ``log_time = offset + scale * recorder_time``.
    n_log : int
        Markers the log implies (CS and US rows with a code).
    n_recorded : int
        Recorded markers with one of those codes.
    log_index, recorder_index : numpy.ndarray
        Paired markers: positions in the log's and the recording's marker lists.
    residuals : numpy.ndarray
        Log onset minus fitted time of each pair, in the recorder's seconds (the log's
        divided by ``scale``, so a rehearsal's are physical seconds too).
    unmatched_log : list of (float, str)
        Log markers with no recorded partner: onset and event type.
    unmatched_recorder : list of (float, int)
        Recorded markers with no log partner: recorder time and code.
    """

    offset: float
    scale: float
    n_log: int
    n_recorded: int
    log_index: np.ndarray
    recorder_index: np.ndarray
    residuals: np.ndarray
    unmatched_log: list
    unmatched_recorder: list

    def to_log(self, recorder_time):
        """Map recorder seconds to log seconds."""
        return self.offset + self.scale * np.asarray(recorder_time, dtype=float)

    @property
    def matched(self) -> int:
        """Number of paired markers."""
        return len(self.log_index)

    @property
    def jitter_sd(self) -> float:
        """Standard deviation of the residuals, seconds."""
        return float(np.std(self.residuals)) if len(self.residuals) else float("nan")

    @property
    def jitter_max(self) -> float:
        """Largest absolute residual, seconds."""
        return float(np.max(np.abs(self.residuals))) if len(self.residuals) else float("nan")

    def summary(self, speed: float = 1.0) -> str:
        """One line: pairs, offset, drift (against ``speed``), jitter, unmatched."""
        drift = (self.scale / speed - 1.0) * 1e6
        clock = (
            f"drift {drift:+.1f} ppm"
            if abs(drift) < 1e4
            else f"clock ratio {self.scale:.6f} (the run's --speed is {speed:g})"
        )
        return (
            f"{self.matched} of {self.n_log} CS/US markers of the log paired; offset "
            f"{self.offset:+.4f} s, {clock}, residual jitter SD "
            f"{self.jitter_sd * 1e3:.3f} ms (max {self.jitter_max * 1e3:.3f} ms); unmatched: "
            f"{len(self.unmatched_log)} in the log, {len(self.unmatched_recorder)} in the recording"
        )

    def report(self) -> dict:
        """JSON-ready description, for the physio sidecar."""
        return {
            "Offset": self.offset,
            "Scale": self.scale,
            "MarkersInLog": self.n_log,
            "MarkersRecorded": self.n_recorded,
            "MarkersPaired": self.matched,
            "ResidualJitterSD": self.jitter_sd,
            "ResidualJitterMax": self.jitter_max,
            "UnmatchedInLog": [[round(t, 4), e] for t, e in self.unmatched_log],
            "UnmatchedInRecording": [[round(t, 4), int(c)] for t, c in self.unmatched_recorder],
        }


def expected_markers(
    events: pd.DataFrame, codes: Mapping[str, int] | None = None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The markers a session's log implies: CS and US rows with their codes.

    Parameters
    ----------
    events : pandas.DataFrame
        The run's events (``onset``, ``trial_type``, ``event_type``).
    codes : Mapping[str, int], optional
        Event → code (the run's ``devices.marker_codes``); defaults when None. A code of 0
        means no marker was sent for that event.

    Returns
    -------
    onsets, codes, event_types
    """
    table = dict(DEFAULT_MARKER_CODES)
    if codes:
        table.update({k: int(v) for k, v in codes.items() if k in DEFAULT_MARKER_CODES})
    kinds = events["trial_type"].astype(str).to_numpy()
    labels = (
        events["event_type"].astype(str).to_numpy()
        if "event_type" in events.columns
        else np.full(len(events), "")
    )
    keep = np.isin(kinds, ["cs", "us"]) & np.array([table.get(e, 0) > 0 for e in labels])
    if "value" in events.columns:
        # A US the display stall skipped was never sent (its row says so).
        keep &= ~events["value"].astype(str).str.startswith("not delivered").to_numpy()
    onsets = events["onset"].to_numpy(dtype=float)[keep]
    chosen = labels[keep]
    return onsets, np.array([table[e] for e in chosen], dtype=np.int64), list(chosen)


def align(
    log_times: np.ndarray,
    log_codes: np.ndarray,
    recorder_times: np.ndarray,
    recorder_codes: np.ndarray,
    *,
    log_labels: list[str] | None = None,
    tolerance: float = 0.02,
    min_matched: float = 0.8,
    what: str = "recording",
) -> Alignment:
    """Pair a log's markers with a recording's and fit the recorder clock to the log clock.

    Parameters
    ----------
    log_times, log_codes : array
        The log's markers (:func:`expected_markers`).
    recorder_times, recorder_codes : array
        Every marker in the recording (codes the log does not use are left out here).
    log_labels : list of str, optional
        Event types of the log's markers, for the report.
    tolerance : float
        Largest |residual| of a pair after the fit, seconds of the recorder's clock.
    min_matched : float
        Share of the log's markers that must pair, else the recording is refused.
    what : str
        Name of the recording in messages.

    Raises
    ------
    AlignmentError
        When the sequences do not match.
    """
    log_times = np.asarray(log_times, dtype=float)
    log_codes = np.asarray(log_codes, dtype=np.int64)
    used = np.isin(recorder_codes, np.unique(log_codes))
    rec_all_times = np.asarray(recorder_times, dtype=float)
    rec_index = np.flatnonzero(used)
    rec_times = rec_all_times[rec_index]
    rec_codes = np.asarray(recorder_codes, dtype=np.int64)[rec_index]
    labels = log_labels or [str(c) for c in log_codes]
    n_log = len(log_times)
    if n_log < 4:
        raise AlignmentError(
            f"{what}: the log has {n_log} CS/US markers; at least 4 are needed to align a clock"
        )
    if len(rec_times) < 4:
        raise AlignmentError(
            f"{what}: expected the log's marker codes {sorted(set(log_codes.tolist()))} in the "
            f"recording, found {len(rec_times)} of them; a recording of another session, or "
            "markers not wired to the recorder?"
        )
    best = None
    for offset, scale, centre in _candidates(log_times, log_codes, rec_times, rec_codes):
        # Coarse: far from the markers the fit came from, allow for drift of the clocks.
        pairs = _pair(log_times, log_codes, rec_times, rec_codes, offset, scale, tolerance, centre)
        if best is None or len(pairs[0]) > len(best[0]):
            best = pairs
    log_pos, rec_pos = best if best is not None else (np.array([], int), np.array([], int))
    offset = scale = float("nan")
    for _ in range(3):  # refit on the pairs, pair again with the tighter fit
        if len(log_pos) < 4:
            break
        scale, offset = np.polyfit(rec_times[rec_pos], log_times[log_pos], 1)
        log_pos, rec_pos = _pair(
            log_times, log_codes, rec_times, rec_codes, offset, scale, tolerance
        )
    if len(log_pos) < max(4, min_matched * n_log) or not np.isfinite(scale) or scale <= 0:
        raise AlignmentError(
            f"{what}: its markers do not match the log's: {len(log_pos)} of {n_log} CS/US "
            f"markers pair within {tolerance * 1e3:g} ms under any clock fit (at least "
            f"{min_matched:.0%} needed); a recording of another session or run? Nothing written"
        )
    # In the recorder's seconds: its clock is the physical one (the log's are protocol
    # seconds, --speed times longer in a rehearsal).
    residuals = (log_times[log_pos] - (offset + scale * rec_times[rec_pos])) / scale
    lost_log = sorted(set(range(n_log)) - set(log_pos.tolist()))
    lost_rec = sorted(set(range(len(rec_times))) - set(rec_pos.tolist()))
    return Alignment(
        offset=float(offset),
        scale=float(scale),
        n_log=n_log,
        n_recorded=len(rec_times),
        log_index=log_pos,
        recorder_index=rec_index[rec_pos],
        residuals=residuals,
        unmatched_log=[(float(log_times[i]), labels[i]) for i in lost_log],
        unmatched_recorder=[(float(rec_times[i]), int(rec_codes[i])) for i in lost_rec],
    )


def _candidates(log_times, log_codes, rec_times, rec_codes):
    """Clock fits to try: from runs of identical codes in both sequences (longest first)."""
    if len(log_codes) == len(rec_codes) and np.array_equal(log_codes, rec_codes):
        scale, offset = np.polyfit(rec_times, log_times, 1)
        yield offset, scale, float(np.mean(rec_times))
        return
    matcher = difflib.SequenceMatcher(None, log_codes.tolist(), rec_codes.tolist(), autojunk=False)
    blocks = sorted(
        (b for b in matcher.get_matching_blocks() if b.size >= 4), key=lambda b: -b.size
    )
    for block in blocks[:8]:
        a = log_times[block.a : block.a + block.size]
        b = rec_times[block.b : block.b + block.size]
        if np.ptp(b) <= 0:
            continue
        scale, offset = np.polyfit(b, a, 1)
        # Within a short block the scale is poorly known; try it and the plain ratios
        # (1, or a rehearsal's whole --speed) through the block's centre.
        yield offset, scale, float(b.mean())
        for guess in {1.0, float(round(scale))}:
            if guess > 0:
                yield a.mean() - guess * b.mean(), guess, float(b.mean())


def _pair(log_times, log_codes, rec_times, rec_codes, offset, scale, tolerance, centre=None):
    """Pair each log marker with the nearest recorded marker of its code within tolerance,
    each recorded marker used once, in time order. With ``centre`` (recorder seconds) the
    window widens by :data:`MAX_DRIFT` per second away from it."""
    predicted = (log_times - offset) / scale  # recorder time each log marker should have
    order = np.argsort(rec_times)
    log_pos, rec_pos, taken = [], [], set()
    for i, (t, code) in enumerate(zip(predicted, log_codes)):
        j = int(np.searchsorted(rec_times[order], t))
        best, best_error = None, None
        for k in range(j - 3, j + 4):
            if 0 <= k < len(order):
                index = int(order[k])
                if index in taken or rec_codes[index] != code:
                    continue
                error = abs(rec_times[index] - t)
                window = tolerance
                if centre is not None:
                    window += MAX_DRIFT * abs(t - centre)
                if error <= window and (best_error is None or error < best_error):
                    best, best_error = index, error
        if best is not None:
            taken.add(best)
            log_pos.append(i)
            rec_pos.append(best)
    return np.array(log_pos, dtype=int), np.array(rec_pos, dtype=int)
