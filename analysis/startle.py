"""Fear-potentiated startle: blink EMG scored around acoustic startle probes.

The orbicularis oculi EMG is scored per probe as Blumenthal et al. (2005, Psychophysiology
42:1) recommend:

1. **band-pass** 28–500 Hz (4th-order Butterworth, zero phase; a high-pass alone when 500 Hz
   is not below 95 % of the Nyquist frequency, e.g. at 1 kHz), which removes movement and
   ECG from the EMG;
2. **rectify** (absolute value);
3. **smooth** with a centred moving average (10 ms);
4. **baseline**: the mean of the smoothed EMG 0–20 ms after probe onset (no blink starts
   that early); **peak**: its maximum 20–120 ms after probe onset; **magnitude** = peak −
   baseline;
5. **non-response**: a magnitude below the response threshold scores **0** (magnitude, not
   amplitude: non-responses are averaged in). The threshold is 3 × the run's noise level
   (the median over its probes of the baseline), or an absolute value in the channel's
   units;
6. **artefacts**, scored missing (NaN) with the reason in ``artefact``: ``no data`` (the
   epoch is not fully recorded, or has missing samples), ``early`` (the EMG already rises
   by more than the threshold within 0–20 ms: a blink under way, not a reflex to the probe),
   ``baseline`` (the baseline is above 3 × the run's noise level: ongoing activity or
   noise);
7. **T-scores** within participant over the participant's scored probes (non-responses as
   0): ``startle = 50 + 10 × z``, so that people with large and small blinks weigh the
   same.

Each probe is in a CS trial (its role: ``CS+``, ``CS-``, ``CS+R``, ``GS2`` ...) or in an
ITI (``cs`` = ``ITI``: noise-alone probes). **Potentiation** is the startle in a CS minus
the ITI startle of the same phase (CS+ − ITI, CS− − ITI); CS+ − CS− is the differential
potentiation.

Inputs (``task/LOG.md``): a run's ``trial_type`` ``probe`` rows (``onset``, ``phase``, the
``trial`` and ``cs`` it falls in, ``n/a`` in an ITI) and its EMG channel (``emg``) in a BIDS
recording beside the log (``_recording-emg_physio.tsv.gz``, or any ``_recording-<label>``
whose sidecar lists the channel, e.g. from ``pavlov physio import``); or another tool's
per-probe table (:func:`read_probe_table`), or a trial table's ``startle`` column
(:func:`probes_from_trials`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pavlov.analysis.errors import AnalysisError, TableError
from pavlov.analysis.physio import Physio, PhysioError

__all__ = [
    "ITI",
    "PROBE_COLUMNS",
    "StartleScoring",
    "add_to_trials",
    "describe_scoring",
    "finish_probes",
    "group_startle",
    "load_probes",
    "participant_startle",
    "potentiation",
    "potentiation_tests",
    "probe_events",
    "probes_from_trials",
    "read_probe_table",
    "score_probes",
    "t_scores",
]

#: ``cs`` (and ``cs_type``) of a probe presented in an inter-trial interval.
ITI = "ITI"

#: ``trial_type`` of probe rows in the log.
PROBE = "probe"

#: Columns of the per-probe table (``startle.csv``), in order.
PROBE_COLUMNS = (
    "participant",
    "group",
    "session",
    "run",
    "phase",
    "phase_type",
    "phase_order",
    "probe",
    "trial",
    "cs",
    "cs_type",
    "onset",
    "probe_latency",
    "baseline",
    "peak",
    "peak_latency",
    "magnitude",
    "response",
    "artefact",
    "startle",
)

#: Default EMG channel name, and the names taken for it when it is absent (``emg1`` ...).
EMG_CHANNEL = "emg"
_EMG_NAMES = re.compile(r"^emg\d*$", re.IGNORECASE)


@dataclass(frozen=True)
class StartleScoring:
    """How blink EMG is scored (defaults: Blumenthal et al. 2005).

    Attributes
    ----------
    low, high : float
        Band-pass edges, Hz (a high-pass at ``low`` alone when ``high`` is not below 95 %
        of the Nyquist frequency).
    order : int
        Butterworth order (applied forwards and backwards: zero phase).
    smooth : float
        Width of the centred moving average after rectification, seconds.
    baseline : (float, float)
        Baseline window, seconds after probe onset.
    window : (float, float)
        Peak window, seconds after probe onset.
    threshold : float or None
        Smallest magnitude that counts as a blink, in the channel's units; None: ``relative``
        × the run's noise level.
    relative : float
        The threshold as a multiple of the run's noise level (the median baseline).
    baseline_limit : float
        A baseline above this multiple of the run's noise level is an artefact.
    pad : float
        Seconds of signal filtered either side of the scored span (edge effects).
    """

    low: float = 28.0
    high: float = 500.0
    order: int = 4
    smooth: float = 0.010
    baseline: tuple[float, float] = (0.0, 0.020)
    window: tuple[float, float] = (0.020, 0.120)
    threshold: float | None = None
    relative: float = 3.0
    baseline_limit: float = 3.0
    pad: float = 0.5


def describe_scoring(scoring: StartleScoring, source: str) -> str:
    """The scoring in words, for the report's methods."""
    s = scoring
    threshold = (
        f"{s.threshold:g} (channel units)"
        if s.threshold is not None
        else f"{s.relative:g} × the run's noise level (median 0–20 ms baseline)"
    )
    return (
        f"blink EMG from {source}: {s.order}th-order Butterworth band-pass {s.low:g}–{s.high:g} "
        "Hz (zero phase; high-pass only where the rate cannot carry the upper edge), "
        f"rectified, {s.smooth * 1000:g}-ms moving average; magnitude = peak "
        f"{s.window[0] * 1000:g}–{s.window[1] * 1000:g} ms after probe onset minus the mean "
        f"{s.baseline[0] * 1000:g}–{s.baseline[1] * 1000:g} ms; non-responses (below "
        f"{threshold}) scored 0; artefacts (no data, a rise within the baseline, a baseline "
        f"above {s.baseline_limit:g} × the noise level) missing; T-scores within participant "
        "(Blumenthal et al. 2005)"
    )


def _sos(rate: float, scoring: StartleScoring) -> np.ndarray:
    from scipy import signal

    nyquist = rate / 2
    if scoring.low >= 0.95 * nyquist:
        raise AnalysisError(
            f"startle: expected EMG sampled above {scoring.low / 0.95 * 2:g} Hz for a "
            f"{scoring.low:g}-Hz high-pass (1000 Hz or more is recommended), got {rate:g} Hz"
        )
    if scoring.high < 0.95 * nyquist:
        return signal.butter(
            scoring.order, [scoring.low, scoring.high], btype="bandpass", fs=rate, output="sos"
        )
    return signal.butter(scoring.order, scoring.low, btype="highpass", fs=rate, output="sos")


def process(epochs: np.ndarray, rate: float, scoring: StartleScoring) -> np.ndarray:
    """Band-pass, rectify and smooth EMG epochs (one per row), as the module describes."""
    from scipy import signal
    from scipy.ndimage import uniform_filter1d

    filtered = signal.sosfiltfilt(_sos(rate, scoring), epochs, axis=-1)
    width = max(1, round(scoring.smooth * rate))
    return uniform_filter1d(np.abs(filtered), width, axis=-1, mode="nearest")


def score_probes(
    recording: Physio,
    onsets: Iterable[float],
    *,
    channel: str = EMG_CHANNEL,
    scoring: StartleScoring | None = None,
) -> pd.DataFrame:
    """Score the blink to each probe of one recording.

    Parameters
    ----------
    recording : Physio
        The EMG recording, in the probes' time base.
    onsets : iterable of float
        Probe onsets, seconds.
    channel : str
        The EMG channel.
    scoring : StartleScoring, optional
        Defaults when None.

    Returns
    -------
    pandas.DataFrame
        One row per probe, in order: ``baseline``, ``peak``, ``peak_latency`` (s after
        probe onset), ``magnitude`` (0 for a non-response, NaN for an artefact),
        ``response`` (bool; False for artefacts) and ``artefact`` (``''``, ``no data``,
        ``early`` or ``baseline``); ``noise`` and ``threshold`` give the run's noise level
        and the response threshold used.
    """
    s = scoring or StartleScoring()
    rate = recording.sampling_frequency
    samples = recording.channel(channel)
    onsets = np.asarray(list(onsets), dtype=float)
    n = len(onsets)
    pad = round(s.pad * rate)
    b0, b1 = (round(t * rate) for t in s.baseline)
    w0, w1 = (round(t * rate) for t in s.window)
    span = pad + w1 + 1 + pad
    first = np.rint((onsets - recording.start_time) * rate).astype(int) - pad
    inside = (first >= 0) & (first + span <= len(samples))
    epochs = np.full((n, span), np.nan)
    if inside.any():
        index = first[inside, None] + np.arange(span)
        epochs[inside] = samples[index]
    valid = inside & np.isfinite(epochs).all(axis=1)
    scores = {k: np.full(n, np.nan) for k in ("baseline", "peak", "peak_latency", "magnitude")}
    response = np.zeros(n, dtype=bool)
    artefact = np.where(valid, "", "no data").astype(object)
    noise = threshold = np.nan
    if valid.any():
        smooth = process(epochs[valid], rate, s)[:, pad:]  # column 0 = probe onset
        base = smooth[:, b0:b1].mean(axis=1)
        rise = smooth[:, b0:b1].max(axis=1) - smooth[:, b0]
        peak_at = w0 + smooth[:, w0 : w1 + 1].argmax(axis=1)
        peak = smooth[np.arange(len(smooth)), peak_at]
        noise = float(np.median(base))
        threshold = s.threshold if s.threshold is not None else s.relative * noise
        flag = np.where(
            rise > threshold, "early", np.where(base > s.baseline_limit * noise, "baseline", "")
        )
        size = peak - base
        blink = (size >= threshold) & (size > 0) & (flag == "")
        scores["baseline"][valid] = base
        scores["peak"][valid] = peak
        scores["peak_latency"][valid] = peak_at / rate
        scores["magnitude"][valid] = np.where(flag != "", np.nan, np.where(blink, size, 0.0))
        response[valid] = blink
        artefact[valid] = flag
    return pd.DataFrame(
        {**scores, "response": response, "artefact": artefact, "noise": noise,
         "threshold": threshold}
    )  # fmt: skip


def t_scores(values: pd.Series, groups: pd.Series) -> pd.Series:
    """``50 + 10 z`` within each group (participant): mean 50, SD 10 (ddof 1) over the
    group's finite values; NaN stays NaN, and a group with < 2 values or no spread is NaN."""
    grouped = values.groupby(groups, sort=False)
    mean = grouped.transform("mean")
    sd = grouped.transform("std")
    return (50.0 + 10.0 * (values - mean) / sd.where(sd > 0)).astype(float)


def probe_events(events: pd.DataFrame, name: str = "events.tsv") -> pd.DataFrame:
    """A run's probe rows (``trial_type`` ``probe``, task/LOG.md) as probes.

    Returns
    -------
    pandas.DataFrame
        ``phase, phase_type, trial, cs, cs_type, onset, probe_latency, _position``:
        ``trial`` NaN and ``cs``/``cs_type`` ``ITI`` for a probe in an inter-trial
        interval; ``probe_latency`` is seconds from the trial's CS onset.

    Raises
    ------
    TableError
        Malformed trial numbers, or a trial that has no ``cs`` row.
    """
    from pavlov.analysis.frame import role_type
    from pavlov.analysis.table import parse_numeric, require_columns

    rows = events[events["trial_type"].to_numpy() == PROBE]
    if rows.empty:
        return pd.DataFrame()
    require_columns(events, name, ("phase", "trial", "cs"))
    trial = parse_numeric(rows, "trial", name, integer=True, positive=True)
    in_trial = np.isfinite(trial)
    cs_rows = events[events["trial_type"].to_numpy() == "cs"]
    cs_at = dict(zip(zip(cs_rows["phase"], cs_rows["trial"].astype(str)), cs_rows["onset"]))
    roles = rows["cs"].astype(str).to_numpy(dtype=object)
    kinds = rows["cs_type"].astype(str).to_numpy(dtype=object) if "cs_type" in rows else roles
    latency = np.full(len(rows), np.nan)
    for i, (phase, number) in enumerate(zip(rows["phase"], rows["trial"].astype(str))):
        if not in_trial[i]:
            continue
        if (phase, number) not in cs_at:
            raise TableError(
                name,
                int(rows.index[i]),
                "trial",
                f"a trial of phase {phase} with a cs row (the trial the probe falls in)",
                f"trial {number}",
            )
        latency[i] = rows["onset"].iloc[i] - cs_at[(phase, number)]
        if roles[i] == "":
            raise TableError(
                name, int(rows.index[i]), "cs", "the role of the probe's trial", "empty"
            )
    cs = np.where(in_trial, roles, ITI)
    kind = np.array(
        [role_type(r, k[:3] if k else r[:3]) if t else ITI for r, k, t in zip(cs, kinds, in_trial)],
        dtype=object,
    )
    return pd.DataFrame(
        {
            "phase": rows["phase"].to_numpy(dtype=object),
            "phase_type": rows["phase_type"].to_numpy(dtype=object) if "phase_type" in rows else "",
            "trial": trial,
            "cs": cs,
            "cs_type": kind,
            "onset": rows["onset"].to_numpy(dtype=float),
            "probe_latency": latency,
            "_position": np.arange(len(rows), dtype=float),
        }
    )


def find_emg(log, channel: str | None = None) -> tuple[Path, str] | None:
    """The run's recording that holds its EMG channel, and the channel's name.

    Looks at ``<stem>_recording-<label>_physio.tsv.gz`` beside the log and in sibling
    folders (``recording-emg`` first), reading only their JSON sidecars: the first whose
    ``Columns`` hold ``channel`` (by default ``emg``, else ``emg1``, ``EMG`` ...).
    """
    from pavlov.analysis.physio import sidecar_path

    folder = log.path.parent
    pattern = f"{log.stem}_recording-*_physio.tsv.gz"
    found = [*folder.glob(pattern), *folder.parent.glob(f"*/{pattern}")]
    found = sorted(dict.fromkeys(found), key=lambda p: ("_recording-emg_" not in p.name, str(p)))
    for path in found:
        try:
            columns = json.loads(sidecar_path(path).read_text(encoding="utf-8"))["Columns"]
        except (OSError, ValueError, KeyError, TypeError):
            continue  # read_physio says what is wrong if this recording is the one used
        if not isinstance(columns, list):
            continue
        if channel is not None:
            if channel in columns:
                return path, channel
            continue
        if EMG_CHANNEL in columns:
            return path, EMG_CHANNEL
        named = [c for c in columns if isinstance(c, str) and _EMG_NAMES.match(c)]
        if named:
            return path, named[0]
    return None


def load_probes(
    path: str | Path,
    *,
    channel: str | None = None,
    scoring: StartleScoring | None = None,
    notes: list | None = None,
    logs: list | None = None,
) -> pd.DataFrame:
    """Score every probe of the session logs under ``path`` from their EMG recordings.

    Runs without probe rows are skipped; a run with probes but no EMG recording adds a
    line to ``notes``. ``logs``: :func:`pavlov.analysis.load.find_logs` of ``path``, when
    the caller has them already.

    Returns
    -------
    pandas.DataFrame
        The per-probe table (:func:`finish_probes`), empty when no run has scored probes.
    """
    from pavlov.analysis.load import (
        _session_ranks,
        find_logs,
        find_participants_tsv,
        read_events,
        read_groups,
    )
    from pavlov.analysis.physio import read_physio

    logs = find_logs(path) if logs is None else logs
    ranks = _session_ranks(logs)
    parts = []
    missing = []
    for log in logs:
        if b"\tprobe\t" not in log.path.read_bytes():  # most runs: no probes, no parsing
            continue
        events = read_events(log.path)
        probes = probe_events(events, str(log.path))
        if probes.empty:
            continue
        found = find_emg(log, channel)
        if found is None:
            missing.append(log.path.name)
            continue
        recording = read_physio(found[0])
        try:
            scored = score_probes(recording, probes["onset"], channel=found[1], scoring=scoring)
        except PhysioError as error:
            raise AnalysisError(str(error)) from None
        probes = pd.concat([probes, scored.drop(columns=["noise", "threshold"])], axis=1)
        probes["participant"] = log.participant
        probes["session"] = log.session
        probes["run"] = log.run
        probes["_position"] = ranks[log] * 1e9 + probes["_position"]
        parts.append(probes)
    if missing and channel is not None:
        raise AnalysisError(
            f"--emg-channel {channel}: expected a recording with that channel beside each run "
            f"with startle probes, got none for {missing[0]}"
            + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
        )
    if missing and notes is not None:
        notes.append(
            f"Startle not scored for {len(missing)} run(s) with probes but no EMG recording "
            f"(channel emg): {', '.join(missing[:3])}" + (" ..." if len(missing) > 3 else "")
        )
    if not parts:
        return pd.DataFrame(columns=list(PROBE_COLUMNS))
    frame = pd.concat(parts, ignore_index=True)
    groups = read_groups(find_participants_tsv(Path(path)))
    frame["group"] = frame["participant"].map(lambda p: groups.get(p, ""))
    return finish_probes(frame)


def finish_probes(frame: pd.DataFrame, phase_order: dict | None = None) -> pd.DataFrame:
    """Complete a probe frame: defaults, order, probe numbers, T-scores.

    Parameters
    ----------
    frame : pandas.DataFrame
        At least ``participant, phase, cs, cs_type, magnitude`` (and ``_position`` for the
        order, else row order).
    phase_order : dict, optional
        Phase → order (the trials' own, so that figures agree); else the probes' own.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`PROBE_COLUMNS`; ``startle`` is the within-participant T-score of
        ``magnitude``; ``probe`` counts the role's probes within the participant's
        session and phase.
    """
    from pavlov.analysis.frame import natural_key
    from pavlov.analysis.load import phase_order as order_of

    out = frame.copy()
    for column in ("group", "session", "run", "phase_type", "artefact"):
        if column not in out.columns:
            out[column] = ""
        out[column] = out[column].astype(object).where(out[column].notna(), "").astype(str)
    for column in PROBE_COLUMNS:
        if column not in out.columns:
            out[column] = np.nan
    if "_position" not in out.columns:
        out["_position"] = np.arange(len(out), dtype=float)
    out["participant"] = out["participant"].astype(str)
    rank = {p: i for i, p in enumerate(sorted(pd.unique(out["participant"]), key=natural_key))}
    out["_rank"] = out["participant"].map(rank)
    out = out.sort_values(["_rank", "_position"], kind="stable")
    own = order_of(out) if len(out) else pd.Series(dtype=int)
    if phase_order:
        known = out["phase"].map(phase_order)
        # A phase of probes alone (startle habituation) has no trials, so no order of its
        # own: one whose probes come before every trial phase's goes first (order below
        # the first), any other after the trial phases
        first = out.groupby("phase", sort=False)["_position"].min()
        starts = [first[p] for p in first.index if p in phase_order]
        early = [p for p in first.sort_values().index if p not in phase_order and starts
                 and first[p] < min(starts)]  # fmt: skip
        low = min(phase_order.values())
        ahead = {p: low - len(early) + i for i, p in enumerate(early)}
        known = known.fillna(out["phase"].map(ahead))
        out["phase_order"] = known.fillna(own + max(phase_order.values())).astype(int)
    else:
        out["phase_order"] = own
    out["probe"] = out.groupby(["participant", "session", "phase", "cs"]).cumcount() + 1
    out["trial"] = pd.array(out["trial"].to_numpy(dtype=float), dtype="Int64")  # n/a in ITIs
    out["magnitude"] = out["magnitude"].astype(float)
    out["startle"] = t_scores(out["magnitude"], out["participant"])
    return out[list(PROBE_COLUMNS)].reset_index(drop=True)


def read_probe_table(path: str | Path) -> pd.DataFrame:
    """Another tool's scored probes: one row per probe.

    Columns ``participant``, ``phase``, ``trial`` (the trial the probe falls in; empty or
    ``n/a`` in an ITI), ``cs`` (its role; ``ITI`` or empty in an ITI) and ``startle`` (the
    blink magnitude, any unit; empty when missing), and optionally ``session``, ``group``,
    ``cs_type`` and ``probe_onset`` (seconds). Magnitudes are T-scored within participant
    (values that are T-scores already stay as they are).

    Returns
    -------
    pandas.DataFrame
        The per-probe table (:func:`finish_probes`).

    Raises
    ------
    TableError
        Naming the file, row and column of the first malformed cell.
    """
    from pavlov.analysis.frame import role_type
    from pavlov.analysis.table import (
        missing_mask,
        parse_labels,
        parse_numeric,
        read_delimited,
        require_columns,
    )

    name = str(path)
    raw = read_delimited(path)
    require_columns(raw, name, ("participant", "phase", "trial", "cs", "startle"))
    trial = parse_numeric(raw, "trial", name, integer=True, positive=True)
    roles = raw["cs"].astype(str)
    roles = roles.where(~missing_mask(roles), ITI).to_numpy(dtype=object)
    in_iti = ~np.isfinite(trial)
    bad = (roles == ITI) != in_iti
    if bad.any():
        at = int(np.flatnonzero(bad)[0])
        raise TableError(
            name,
            int(raw.index[at]),
            "cs",
            "a role with a trial number, or ITI with an empty trial",
            f"{roles[at]!r} with trial {raw['trial'].iloc[at] or 'empty'}",
        )
    kinds = raw["cs_type"].astype(str).to_numpy() if "cs_type" in raw.columns else None
    cs_type = [
        ITI if r == ITI else role_type(r, kinds[i] if kinds is not None else r[:3])
        for i, r in enumerate(roles)
    ]
    for at, (role, kind) in enumerate(zip(roles, cs_type)):
        if kind not in ("CS+", "CS-", "GS", ITI):
            raise TableError(
                name,
                int(raw.index[at]),
                "cs",
                "a CS role (CS+, CS-, CS+R, GS1 ...) or ITI",
                repr(role),
            )
    frame = pd.DataFrame(
        {
            "participant": parse_labels(raw, "participant", name),
            "phase": parse_labels(raw, "phase", name),
            "trial": trial,
            "cs": roles,
            "cs_type": cs_type,
            "magnitude": parse_numeric(raw, "startle", name),
            "onset": parse_numeric(raw, "probe_onset", name)
            if "probe_onset" in raw.columns
            else np.nan,
        }
    )
    for column in ("session", "group"):
        if column in raw.columns:
            values = raw[column].astype(str)
            frame[column] = values.where(~missing_mask(values), "").to_numpy(dtype=object)
    frame["artefact"] = np.where(np.isfinite(frame["magnitude"]), "", "missing")
    return finish_probes(frame)


def probes_from_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """A trial table's ``startle`` column (a magnitude per trial) as probes, one per trial
    with a value (no ITI probes: potentiation needs a per-probe table)."""
    rows = trials[trials["startle"].notna()] if "startle" in trials.columns else trials.iloc[:0]
    frame = rows[
        ["participant", "group", "session", "run", "phase", "phase_type", "trial", "cs", "cs_type"]
    ].assign(magnitude=rows["startle"].to_numpy(dtype=float), onset=rows["onset"].to_numpy())
    order = dict(zip(trials["phase"], trials["phase_order"]))
    return finish_probes(frame.assign(_position=np.arange(len(frame), dtype=float)), order)


def add_to_trials(trials: pd.DataFrame, probes: pd.DataFrame) -> pd.DataFrame:
    """The trials with a ``startle`` column: the T-score of the probe in each trial (the
    mean when a trial has several), NaN for trials without one."""
    inside = probes[probes["cs"] != ITI].copy()
    inside["trial"] = inside["trial"].astype(int)
    # a probe table without sessions or runs matches the trials of any session or run
    keys = ["participant", "phase", "trial"]
    for key in ("session", "run"):
        inside[key] = inside[key].astype(str)
        if (inside[key] != "").any():
            keys.insert(1, key)
    means = inside.groupby(keys, sort=False)["startle"].mean().rename("_startle")
    out = trials.drop(columns=["startle"], errors="ignore")
    joined = out.join(means, on=keys)
    return out.assign(startle=joined["_startle"].to_numpy())


def participant_startle(
    probes: pd.DataFrame, by: str = "block", block_size: int | None = None
) -> pd.DataFrame:
    """Per-participant startle curves by CS role and ITI.

    Parameters
    ----------
    probes : pandas.DataFrame
        The per-probe table.
    by : {'block', 'phase'}
        Blocks of ``block_size`` probes of each role within a phase, or whole phases
        (``block`` 1).
    block_size : int, optional
        Probes of each role per block (2 when None).

    Returns
    -------
    pandas.DataFrame
        ``participant, group, phase, phase_order, block, cs, value`` (mean T-score), roles
        in the order CS+ roles, CS− roles, GS roles, ITI.
    """
    if by not in ("block", "phase"):
        raise AnalysisError(f"by: expected block or phase, got {by!r}")
    size = block_size or 2
    data = probes.dropna(subset=["startle"])
    block = 1 if by == "phase" else (data["probe"].astype(int) - 1) // size + 1
    data = data.assign(block=block)
    keys = ["participant", "group", "phase", "phase_order", "block", "cs"]
    out = data.groupby(keys, sort=False)["startle"].mean().rename("value").reset_index()
    rank = _role_rank(probes)
    order = {p: i for i, p in enumerate(pd.unique(probes["participant"]))}
    out["_p"] = out["participant"].map(order)
    out["_r"] = out["cs"].map(rank)
    out = out.sort_values(["_p", "phase_order", "block", "_r"], kind="stable")
    return out.drop(columns=["_p", "_r"]).reset_index(drop=True)


def _role_rank(probes: pd.DataFrame) -> dict:
    first = probes.drop_duplicates("cs")
    kind = {"CS+": 0, "CS-": 1, "GS": 2, ITI: 3}
    ranked = sorted(
        zip(first["cs"], first["cs_type"]), key=lambda rk: (kind.get(rk[1], 4), str(rk[0]))
    )
    return {role: i for i, (role, _) in enumerate(ranked)}


def group_startle(per: pd.DataFrame) -> pd.DataFrame:
    """Group startle curves (:func:`pavlov.analysis.curves.group_curves`: n, mean, SEM and
    the Cousineau–Morey within-subject SEM) from :func:`participant_startle`."""
    from pavlov.analysis.curves import group_curves

    if per.empty:
        return pd.DataFrame(
            columns=[
                "group",
                "phase",
                "phase_order",
                "block",
                "cs",
                "n",
                "mean",
                "sem",
                "sem_within",
            ]
        )
    return group_curves(per)


#: Columns of :func:`potentiation`.
POTENTIATION_COLUMNS = (
    "participant",
    "group",
    "phase",
    "phase_order",
    "startle_cs_plus",
    "startle_cs_minus",
    "startle_iti",
    "potentiation_cs_plus",
    "potentiation_cs_minus",
    "differential",
)


def potentiation(probes: pd.DataFrame) -> pd.DataFrame:
    """Per participant and phase: mean startle T-score in CS+ trials, CS− trials and ITIs,
    and the potentiation CS+ − ITI, CS− − ITI and CS+ − CS− (GS probes are left out)."""
    data = probes.dropna(subset=["startle"])
    data = data[data["cs_type"].isin(["CS+", "CS-", ITI])]
    keys = ["participant", "group", "phase", "phase_order"]
    wide = data.groupby([*keys, "cs_type"], sort=False)["startle"].mean().unstack("cs_type")
    for kind in ("CS+", "CS-", ITI):
        if kind not in wide.columns:
            wide[kind] = np.nan
    out = pd.DataFrame(
        {
            "startle_cs_plus": wide["CS+"],
            "startle_cs_minus": wide["CS-"],
            "startle_iti": wide[ITI],
            "potentiation_cs_plus": wide["CS+"] - wide[ITI],
            "potentiation_cs_minus": wide["CS-"] - wide[ITI],
            "differential": wide["CS+"] - wide["CS-"],
        }
    ).reset_index()
    out = out.sort_values(
        ["participant", "phase_order"],
        key=lambda c: (
            c.map({p: i for i, p in enumerate(pd.unique(probes["participant"]))})
            if c.name == "participant"
            else c
        ),
        kind="stable",
    )
    return out[list(POTENTIATION_COLUMNS)].reset_index(drop=True)


def potentiation_tests(table: pd.DataFrame) -> pd.DataFrame:
    """Per phase, paired t-tests of CS+ vs ITI, CS− vs ITI and CS+ vs CS− startle
    (:func:`pavlov.analysis.inference.paired_test`: d_z, 95 % CI; no test below n = 10)."""
    from pavlov.analysis.inference import paired_test

    rows = []
    pairs = (
        ("CS+ − ITI", "startle_cs_plus", "startle_iti"),
        ("CS− − ITI", "startle_cs_minus", "startle_iti"),
        ("CS+ − CS−", "startle_cs_plus", "startle_cs_minus"),
    )
    for phase, part in table.sort_values("phase_order", kind="stable").groupby("phase", sort=False):
        for label, a, b in pairs:
            result = paired_test(part[a], part[b])
            if result["n"]:
                rows.append({"phase": phase, "comparison": label, **result})
    columns = ["phase", "comparison", "n", "mean_1", "mean_2", "difference", "ci_low",
               "ci_high", "t", "df", "p", "effect_size", "effect", "note"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)
