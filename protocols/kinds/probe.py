"""Acoustic startle probes: the ``probes:`` block of trial phases, where its probes go
(:func:`place_probes`), the probe sounding inside a trial (:class:`ProbeComponent`, in the
CS or in the ITI after it) and the ``probe`` event (a probe alone, as a startle
habituation phase gives them).

Every probe is a ``probe`` row of the log (``task/LOG.md``): ``trial``, ``cs``, ``cs_type``
and ``stimulus`` of the trial whose CS it sounds in, ``n/a`` for a noise-alone probe;
``value`` its number among the phase's probes. Its marker is ``probe`` (code 70).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pavlov.protocols.errors import ScheduleError
from pavlov.protocols.events import Event
from pavlov.protocols.kinds.base import (
    PRECISION,
    EventKind,
    Marker,
    Presented,
    ReadContext,
    Rehearsal,
    Row,
    Simulated,
    Stage,
    base_row,
)
from pavlov.protocols.kinds.keys import Key, read_key
from pavlov.protocols.kinds.present import hold
from pavlov.protocols.kinds.screen import Scene
from pavlov.protocols.model import ITISpec
from pavlov.protocols.randomize import Stream
from pavlov.protocols.reader import Section
from pavlov.stimuli.resolve import SOUND_SUFFIXES, STIMULI_ROOT, sound_duration

__all__ = [
    "DEFAULT_SOUND",
    "PROBE",
    "PROBE_KEYS",
    "ProbeComponent",
    "ProbeSpec",
    "place_probes",
    "probe_counts",
    "probe_row",
    "read_probes",
    "read_sound",
    "shortest_iti",
]

#: The bundled probe: 50 ms of white noise with an instantaneous rise (stimuli/generate.py).
DEFAULT_SOUND = "probes/startle_noise_50ms.wav"

#: Placements tried before a phase's probes are declared impossible for a seed.
ATTEMPTS = 200


@dataclass(frozen=True)
class ProbeSpec:
    """A trial phase's startle probes.

    Attributes
    ----------
    at : float
        Seconds after CS onset a probed trial's probe sounds.
    share : float
        Share of each CS role's trials probed (count = share × trials, rounded half up).
    iti : int
        Noise-alone probes, each in another ITI.
    min_interval : float
        Least seconds between two probes' onsets.
    sound : str
        The probe's sound file (absolute path).
    duration : float
        The sound's length, seconds.
    volume : float
        Playback volume, 0–1.
    """

    at: float = 0.0
    share: float = 1.0
    iti: int = 0
    min_interval: float = 0.0
    sound: str = ""
    duration: float = 0.05
    volume: float = 1.0


SOUND = Key(
    "sound",
    "file",
    "the probe's sound (WAV, FLAC, Ogg or MP3: its length, read from the file, is the "
    "probe's duration)",
    default=None,
    type_doc="sound file",
    default_doc=f"`{DEFAULT_SOUND}` (bundled: 50-ms white noise, instantaneous rise)",
)
VOLUME = Key(
    "volume",
    "number",
    "playback volume; set the level (about 100 dB(A) at the ear) with the amplifier and a "
    "sound-level meter",
    default=1.0,
    gt=0,
    le=1,
    what="a volume (a silent probe startles no one)",
    type_doc="0 < x ≤ 1",
)

#: The ``probes:`` block of trial phases.
PROBE_KEYS: tuple[Key, ...] = (
    Key(
        "at",
        "number",
        "when a probed trial's probe sounds; it must end by the end of the CS",
        ge=0,
        what="seconds after CS onset",
        type_doc="seconds after CS onset",
    ),
    Key(
        "share",
        "number",
        "share of each CS role's trials probed (count = share × the role's trials, rounded "
        "half up), split evenly over the phase's first and second half (an odd one to a "
        "seeded half)",
        default=1.0,
        ge=0,
        le=1,
        what="a share from 0 to 1",
        type_doc="0–1",
    ),
    Key(
        "iti",
        "integer",
        "noise-alone probes, each in another ITI at a seeded time in the middle half of it, "
        "split evenly over the phase's halves",
        default=0,
        ge=0,
        le=1000,
        what="a number of ITI probes",
        type_doc="whole ≥ 0",
    ),
    Key(
        "min_interval",
        "number",
        "least time between two probes' onsets; checked when loading on every fixed order "
        "counterbalancing gives (with its ITIs) and on 8 generated orders (with the shortest "
        "ITIs)",
        default=0.0,
        ge=0,
        le=600,
        what="seconds",
        type_doc="seconds",
        default_doc="0",
    ),
    SOUND,
    VOLUME,
)


def read_sound(ctx: ReadContext, section: Section) -> tuple[str, float]:
    """The probe sound (``sound``, else the bundled one) and its length in seconds."""
    path = ctx.read_file(section, "sound", "sound") if section.has("sound") else None
    path = path or str(STIMULI_ROOT / DEFAULT_SOUND)
    length = sound_duration(path)
    if length is None:
        # The schedule needs the length before PsychoPy opens the file.
        section.fail(
            "sound",
            f"a sound file whose length can be read ({', '.join(SOUND_SUFFIXES)}; its length "
            "is the probe's duration)",
            f"'{path}'",
        )
    if not 0 < length <= 1:
        section.fail("sound", "a probe sound of at most 1 s", f"{path} lasting {length:g} s")
    return path, length


def probe_counts(trials: Mapping[str, int], share: float) -> dict[str, int]:
    """Probed trials per CS role: share × trials, rounded half up."""
    return {role: int(share * n + 0.5) for role, n in trials.items() if n}


def shortest_iti(spec: ITISpec | None, fallback: Sequence[float] = ()) -> float:
    """The shortest ITI a spec can draw (the order files' shortest without one)."""
    if spec is None:
        return min(fallback, default=0.0)
    if spec.kind == "trs":
        return spec.values[0] * (spec.tr or 0.0)
    return min(spec.values)


def read_probes(
    ctx: ReadContext, parent: Section, cs_duration: float, trials: Mapping[str, int]
) -> ProbeSpec | None:
    """Read a trial phase's ``probes`` block (placement is checked by the phase's reader).

    Raises
    ------
    ProtocolError
        On the first mistake, in one line.
    """
    block = parent.section("probes", tuple(k.name for k in PROBE_KEYS), None)
    if block is None:
        return None
    at = read_key(block, PROBE_KEYS[0])
    share = read_key(block, PROBE_KEYS[1])
    iti = read_key(block, PROBE_KEYS[2])
    min_interval = read_key(block, PROBE_KEYS[3])
    sound, length = read_sound(ctx, block)
    if at + length > cs_duration + 1e-9:
        block.fail(
            "at",
            f"seconds after CS onset with the probe ({length:g} s) ending by the end of the CS "
            f"({cs_duration:g} s): at most {cs_duration - length:g}",
            f"{at:g}",
        )
    n_trials = sum(trials.values())
    if iti > n_trials:
        block.fail("iti", f"at most one probe per ITI ({n_trials} ITIs)", str(iti))
    if not sum(probe_counts(trials, share).values()) and not iti:
        block.fail(
            "share" if block.has("share") else "iti",
            "at least one probe (a share giving a probed trial, or ITI probes)",
            f"share {share:g} of {n_trials} trials and iti {iti}",
        )
    return ProbeSpec(at, share, iti, min_interval, sound, length, read_key(block, VOLUME))


# -- placement -------------------------------------------------------------------------


def _halves(n: int, k: int, sizes: tuple[int, int], stream: Stream) -> list[int]:
    # k split evenly over two halves of ``sizes`` items, an odd one to a seeded half, the
    # excess of a half too small moved to the other
    quota = [k // 2, k // 2]
    if k % 2:
        quota[stream.below(2)] += 1
    for a, b in ((0, 1), (1, 0)):
        excess = quota[a] - sizes[a]
        if excess > 0:
            quota[a] -= excess
            quota[b] += excess
    return quota


def _free(low: float, high: float, taken: Sequence[float], gap: float) -> list[tuple[float, float]]:
    # [low, high] without (t - gap, t + gap) around each taken time
    spans = [(low, high)] if high >= low else []
    for t in taken:
        cut = []
        for a, b in spans:
            if t + gap <= a or t - gap >= b:
                cut.append((a, b))
                continue
            if t - gap >= a:
                cut.append((a, t - gap))
            if t + gap <= b:
                cut.append((t + gap, b))
        spans = [(a, b) for a, b in cut if b >= a]
    return spans


def _draw(spans: list[tuple[float, float]], stream: Stream) -> float:
    total = sum(b - a for a, b in spans)
    if total <= 0:
        return spans[0][0]
    pick = stream.random() * total
    for a, b in spans:
        if pick <= b - a:
            return a + pick
        pick -= b - a
    return spans[-1][1]


def place_probes(
    roles: Sequence[str],
    itis: Sequence[float],
    span: float,
    spec: ProbeSpec,
    stream: Stream,
) -> tuple[set[int], dict[int, float]]:
    """Where a phase's probes go: the probed trials and the ITI probes.

    Each CS role's probed trials are drawn from its trials in the phase's first and second
    half (positions below ``(n + 1) // 2`` are the first half) in equal numbers; then each
    ITI probe goes into another ITI, drawn from the ITIs of both halves in equal numbers,
    at a time drawn uniformly from the middle half of the ITI; every two probes' onsets are
    at least ``min_interval`` apart. A draw that cannot keep it is drawn again (up to
    :data:`ATTEMPTS` times).

    Parameters
    ----------
    roles, itis : sequence
        The phase's trials in order: their CS roles and the ITI after each.
    span : float
        Seconds from a trial's onset to its ITI (the CS; in trace conditioning, to the end
        of the US time).
    spec : ProbeSpec
    stream : Stream
        The phase's random stream (drawn from after its order and ITIs).

    Returns
    -------
    (set of int, dict of int to float)
        0-based positions of the probed trials; position → seconds after that trial's CS
        onset of the probe in its ITI.

    Raises
    ------
    ScheduleError
        When no draw keeps ``min_interval``.
    """
    n = len(roles)
    onsets = [0.0, *itertools.accumulate(span + iti for iti in itis[:-1])]
    half = (n + 1) // 2
    counts = probe_counts({r: roles.count(r) for r in dict.fromkeys(roles)}, spec.share)
    gap, length = spec.min_interval, spec.duration
    for _ in range(ATTEMPTS):
        chosen: set[int] = set()
        for role, k in counts.items():
            positions = [i for i, r in enumerate(roles) if r == role]
            parts = ([i for i in positions if i < half], [i for i in positions if i >= half])
            quota = _halves(len(positions), k, (len(parts[0]), len(parts[1])), stream)
            for part, q in zip(parts, quota):
                chosen.update(stream.sample(part, q))
        times = sorted(onsets[i] + spec.at for i in chosen)
        if any(b - a < gap - 1e-9 for a, b in itertools.pairwise(times)):
            continue
        in_iti: dict[int, float] = {}
        parts = (list(range(half)), list(range(half, n)))
        quota = _halves(n, spec.iti, (len(parts[0]), len(parts[1])), stream)
        for part, q in zip(parts, quota):
            for i in stream.shuffled(part):
                if q == 0:
                    break
                offset = onsets[i] + span
                low = offset + itis[i] / 4
                high = offset + 3 * itis[i] / 4 - length
                # 1 ms inside every bound, so that onsets rounded to 1 ms keep them
                spans = _free(low + 0.001, high - 0.001, [*times, *in_iti.values()], gap + 0.001)
                if not spans:
                    continue
                in_iti[i] = round(_draw(spans, stream), PRECISION)
                q -= 1
            if q:
                break
        else:
            return chosen, {i: round(t - onsets[i], PRECISION) for i, t in in_iti.items()}
    raise ScheduleError(
        f"no placement of {sum(counts.values())} trial and {spec.iti} ITI probes keeps "
        f"min_interval {gap:g} s (lower share, iti or min_interval, or lengthen the ITIs)"
    )


def number_probes(
    events: list[Event], probed: set[int], in_iti: Mapping[int, float], spec: ProbeSpec
) -> list[Event]:
    """The phase's trial events with their probes, numbered in time order."""
    from dataclasses import replace

    at = spec.at
    out = []
    number = 1
    for i, event in enumerate(events):
        times = ((at,) if i in probed else ()) + ((in_iti[i],) if i in in_iti else ())
        if times:
            out.append(replace(event, probes=times, probe=number, probe_length=spec.duration))
            number += len(times)
        else:
            out.append(event)
    return out


# -- presenting ------------------------------------------------------------------------


def probe_row(event: Event, k: int) -> dict[str, object]:
    """The ``probe`` row of an event's ``k``-th probe (0-based): in its CS, the trial's
    role and stimulus; alone (an ITI's, a ``probe`` event's), ``n/a``."""
    row = base_row(event, "probe")
    inside = event.kind == "trial" and event.probes[k] < event.duration
    row.update(
        trial=event.index if inside else None,
        cs=event.cs if inside else None,
        cs_type=event.cs_type if inside else None,
        stimulus=event.stimulus if inside else None,
        duration=event.probe_length,
        value=(event.probe or 0) + k,
    )
    return row


class ProbeComponent:
    """A trial's startle probe: the sound starts on the flip that shows its refresh, at
    ``at`` seconds after CS onset (in the CS, or in the ITI after it)."""

    def __init__(self, stage: Stage, event: Event, k: int, label: str) -> None:
        self.stage, self.event, self.k_probe, self.label = stage, event, k, label
        self.key, self.stim_file = stage.script(event.phase)
        self.k = stage.frames(event.probes[k])
        self.started = False
        self.onset: float | None = None

    def before(self, f: int) -> None:
        if f >= self.k and not self.started:
            self.started = True
            self.stage.mark("probe", f"{self.label} probe {(self.event.probe or 0) + self.k_probe}")
            if self.key:
                self.stage.on_flip(self.stage.play_sound, self.key)

    def dress(self, f: int, scene: Scene) -> Scene:
        return scene

    def after(self, t: float, i: int) -> None:
        if self.started and self.onset is None:
            self.onset = t

    def done(self, i: int, f: int) -> bool:
        return self.onset is not None

    def row(self, t0: float) -> tuple[float, dict[str, object]]:
        """The probe's row with its time (its planned refresh if a stall skipped it)."""
        row = probe_row(self.event, self.k_probe)
        row["stim_file"] = self.stim_file
        onset = self.onset if self.onset is not None else t0 + self.k * self.stage.period
        return onset, row


def present_probe(stage: Stage, event: Event, planned: float) -> Presented:
    """A probe alone: fixation, the sound on the first refresh, fixation for its length."""
    key, stim_file = stage.script(event.phase)
    stage.mark("probe", f"{event.phase} probe {event.index}")
    if key:
        stage.on_flip(stage.play_sound, key)
    scene = Scene(context=event.context, fixation=True)
    n = stage.frames(event.duration, minimum=1)
    times, _ = hold(stage, scene, n, origin=stage.to_clock(planned))
    row = probe_row(event, 0)
    row["stim_file"] = stim_file
    return Presented([(times[0], row)])


def simulate_probe(sim: Rehearsal, event: Event, onset: float) -> Simulated:
    """A probe alone: no CS, so the expectation of a US is 0."""
    row = probe_row(event, 0)
    row["stim_file"] = sim.script(event.phase)[1]
    return Simulated(row, probes=[(onset, 0.0)])


def _needs(event: Event) -> tuple[str, ...]:
    return ("probe",)


#: A probe alone (a startle habituation phase's); a trial's probes are its components.
PROBE = EventKind(
    "probe",
    row="probe",
    rows=(
        Row(
            "probe",
            "an acoustic startle probe: `trial`, `cs` … of the trial whose CS it sounds in, "
            "`n/a` when alone (an ITI, startle habituation); `value` its number in the phase",
        ),
    ),
    markers=(Marker("probe", 70, "acoustic startle probe onset"),),
    present=present_probe,
    describe_event=lambda event: f"startle probe {event.index}",
    simulate=simulate_probe,
    key_column="value",
)
