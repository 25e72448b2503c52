"""The CS-trial phases: ``habituation``, ``acquisition``, ``extinction``, ``recall`` and
``renewal`` (one module: they share every key and differ only in whether trials may be
reinforced), and the ``trial`` event: a CS with its US or omission and an online rating.

A trial is made of timed components, as a PsychoPy Builder routine is: the CS
(:class:`CSComponent`), the US or its omission (:class:`OutcomeComponent`) and the online
rating (:class:`RatingComponent`). Each says what it queues before the flip that shows a
refresh, what it adds to the scene, what it records after the flip, and when it is done;
the trial ends when every component is. A startle probe in the ITI after the CS is presented
once the trial's rows are on their way to the disk (:attr:`Presented.then`).
"""

from __future__ import annotations

import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pavlov.protocols.errors import ProtocolError, ScheduleError
from pavlov.protocols.events import Event
from pavlov.protocols.kinds.base import (
    EventKind,
    Expansion,
    Kind,
    Marker,
    Presented,
    RatingProgress,
    ReadContext,
    Rehearsal,
    Row,
    Simulated,
    Stage,
)
from pavlov.protocols.kinds.keys import REQUIRED, Key, read_key
from pavlov.protocols.kinds.present import base_row, cs_row, rating_columns
from pavlov.protocols.kinds.probe import (
    PROBE,
    PROBE_KEYS,
    ProbeComponent,
    ProbeSpec,
    number_probes,
    place_probes,
    probe_counts,
    probe_row,
    read_probes,
    shortest_iti,
)
from pavlov.protocols.kinds.screen import RatingView, Scene
from pavlov.protocols.kinds.shared import (
    CONTEXT,
    INSTRUCTIONS,
    ITI,
    LEAD_IN,
    US,
    rating_key,
    read_rating,
)
from pavlov.protocols.model import (
    GS_TYPE,
    FileNeed,
    ITISpec,
    Phase,
    PhaseSpec,
    RatingSpec,
    USSpec,
    continuum_distance,
    cs_type,
    is_gs,
)
from pavlov.protocols.orders import FixedOrder, read_order
from pavlov.protocols.randomize import Stream, constrained_trials
from pavlov.protocols.reader import Section, describe
from pavlov.stimuli.resolve import near_name, resolve

__all__ = [
    "TRIAL",
    "Constraints",
    "TrialKind",
    "TrialSpec",
    "cs_event_type",
    "present_trial",
]


@dataclass(frozen=True)
class Constraints:
    """Pseudo-randomisation rules for a phase's trial order (field.md §3.5).

    Attributes
    ----------
    max_run : int
        At most this many trials of the same CS in a row.
    first_reinforced : bool
        The first trial of every reinforced CS role is reinforced.
    spread_reinforced : bool
        Reinforced trials of each role are split evenly over the first and second half
        of that role's trials (the odd one, if any, goes to a half chosen by the seed).
    start_with_pair : bool
        The first two trials are one CS+ and one CS- (in a seeded order).
    max_run_type : int or None
        At most this many trials of one CS type in a row (every CS+ role counts as CS+).
    max_reinforced_run : int or None
        At most this many reinforced trials in a row.
    order : str
        ``random`` (drawn as from an urn) or ``miniblocks`` (each block of trials holds
        every role ``block_size`` times, shuffled within).
    block_size : int
        Trials of each role per mini-block.
    """

    max_run: int = 2
    first_reinforced: bool = True
    spread_reinforced: bool = True
    start_with_pair: bool = False
    max_run_type: int | None = None
    max_reinforced_run: int | None = None
    order: str = "random"
    block_size: int = 1

    def describe(self) -> str:
        """The order rules in words, for messages."""
        rules = [f"max_run {self.max_run}"]
        if self.max_run_type is not None:
            rules.append(f"max_run_type {self.max_run_type}")
        if self.max_reinforced_run is not None:
            rules.append(f"max_reinforced_run {self.max_reinforced_run}")
        if self.order == "miniblocks":
            rules.append(f"miniblocks of {self.block_size} per role")
        if self.start_with_pair:
            rules.append("a first CS+/CS- pair")
        return ", ".join(rules)


@dataclass(frozen=True)
class TrialSpec(PhaseSpec):
    """A phase of CS trials.

    Attributes
    ----------
    trials : Mapping[str, int]
        CS role → number of trials.
    reinforced : Mapping[str, int]
        CS role → number of reinforced trials (acquisition only).
    cs_duration : float
        Seconds each CS is shown.
    us : str or None
        Name of the US delivered on reinforced trials.
    us_onset : float or None
        Seconds after CS onset the US starts (co-terminating by default; after the CS's
        offset in trace conditioning).
    trace_interval : float or None
        Trace conditioning: seconds from CS offset to US onset (None: delay conditioning).
    iti : ITISpec or None
        ITI after every trial (None when the order files give them).
    lead_in : float
        Fixation before the first trial, seconds.
    context : str or None
        Context role shown around every stimulus of the phase.
    constraints : Constraints
        Order rules for generated orders.
    orders : tuple of str
        Fixed trial orders (CSV files, absolute paths); with several, the counterbalancing
        cell picks one.
    swap_roles : tuple of str or None
        Two CS roles whose stimuli trade places in this phase (reversal learning).
    rating : RatingSpec or None
        Online expectancy rating on every CS trial.
    probes : ProbeSpec or None
        Acoustic startle probes in the phase's CSs and ITIs.
    """

    trials: Mapping[str, int] = field(default_factory=dict)
    reinforced: Mapping[str, int] = field(default_factory=dict)
    cs_duration: float = 0.0
    us: str | None = None
    us_onset: float | None = None
    trace_interval: float | None = None
    iti: ITISpec | None = None
    lead_in: float = 0.0
    context: str | None = None
    constraints: Constraints = field(default_factory=Constraints)
    orders: tuple[str, ...] = ()
    swap_roles: tuple[str, str] | None = None
    rating: RatingSpec | None = None
    probes: ProbeSpec | None = None


CONSTRAINT_KEYS = (
    Key(
        "max_run",
        "integer",
        "at most this many trials of one CS in a row",
        default=2,
        ge=1,
        le=1000,
        what="a number of trials",
        type_doc="whole ≥ 1",
    ),
    Key(
        "first_reinforced",
        "boolean",
        "the first trial of each reinforced role is reinforced",
        default=None,
        default_doc="true when the phase has reinforced trials",
    ),
    Key(
        "spread_reinforced",
        "boolean",
        "reinforced trials split evenly over the first and second half of the role's "
        "trials (an odd one to a seeded half)",
        default=True,
    ),
    Key(
        "start_with_pair", "boolean", "the first two trials are one CS+ and one CS−", default=False
    ),
    Key(
        "max_run_type",
        "integer",
        "at most this many trials of one CS type in a row: every CS+ role counts as CS+ (with "
        "`CS+R` and `CS+NR`, `max_run` alone allows long runs of CS+ trials), every CS− role "
        "as CS−, every GS as GS",
        default=None,
        ge=1,
        le=1000,
        what="a number of trials",
        type_doc="whole ≥ 1",
        default_doc="no limit",
    ),
    Key(
        "max_reinforced_run",
        "integer",
        "at most this many reinforced trials in a row (any roles)",
        default=None,
        ge=1,
        le=1000,
        what="a number of trials",
        type_doc="whole ≥ 1",
        default_doc="no limit",
    ),
    Key(
        "order",
        "choice",
        "`random`: drawn as from an urn; `miniblocks`: every block of trials holds each role "
        "`block_size` times, in a random order within the block (the roles' trial counts must "
        "be equal multiples of `block_size`). Not the phase's `order` (fixed order files)",
        enum=("random", "miniblocks"),
        default="random",
    ),
    Key(
        "block_size",
        "integer",
        "trials of each role per mini-block (`order: miniblocks` only)",
        default=1,
        ge=1,
        le=1000,
        what="a number of trials",
        type_doc="whole ≥ 1",
    ),
)

KEYS = (
    INSTRUCTIONS,
    Key(
        "trials",
        "counts",
        "trials per CS role",
        type_doc="whole ≥ 1, or mapping role → whole ≥ 0 naming every role (0 for none)",
        default_doc="required unless `order`",
    ),
    Key(
        "reinforced",
        "counts",
        "reinforced trials per CS+ role, at most its trial count (never a GS role). **Only "
        "in acquisition and generalisation**: other phases are unreinforced by design",
        default=None,
        type_doc="mapping CS+ role → whole",
    ),
    Key(
        "reinforcement_rate",
        "counts",
        "alternative to `reinforced`: count = rate × trials, rounded half up",
        default=None,
        type_doc="mapping CS+ role → 0–1",
    ),
    Key("cs_duration", "number", "", gt=0, le=60, what="seconds", type_doc="seconds, 0 < x ≤ 60"),
    US,
    Key(
        "us_onset",
        "number",
        "the US must start at or after CS onset and end by the end of the CS (delay "
        "conditioning; a CS shorter than its US is rejected); also the time of the omission "
        "(`USo`) and CS− (`USm`) events. Not in habituation; not with `trace_interval`",
        default=None,
        ge=0,
        what="seconds after CS onset",
        type_doc="seconds after CS onset",
        default_doc="`cs_duration − us.duration` (co-terminating)",
    ),
    Key(
        "trace_interval",
        "number",
        "trace conditioning: the US (and the omission and CS− time points) starts this long "
        "after the CS's offset (fixation in between); the ITI follows the end of the US. Instead "
        "of `us_onset`; not in habituation",
        default=None,
        gt=0,
        le=60,
        what="seconds after CS offset",
        type_doc="seconds after CS offset, 0 < x ≤ 60",
        default_doc="none (delay conditioning)",
    ),
    ITI,
    LEAD_IN,
    CONTEXT,
    Key(
        "constraints",
        "block",
        "order rules for generated orders",
        default=None,
        keys=CONSTRAINT_KEYS,
    ),
    Key(
        "order",
        "files",
        "fixed trial order(s) instead of generated ones; with several, the counterbalancing "
        "cell picks one. Columns `cs`, `reinforced` (1/0), optional `iti`; one row per "
        "trial. `trials`/`reinforced`, if given, must match. Each run's session record keeps "
        "the files' sha256: `--resume` refuses a run whose order file changed",
        default=None,
        type_doc="CSV file, or a list of them",
    ),
    Key(
        "swap_roles",
        "roles",
        "their stimuli trade places in this phase (uninstructed reversal)",
        default=None,
        type_doc="two CS roles",
    ),
    rating_key("an online expectancy rating on every trial (below)", required=False),
    Key(
        "probes",
        "block",
        "acoustic startle probes in a share of each role's trials and in ITIs (below)",
        default=None,
        keys=PROBE_KEYS,
        type_doc="probes block",
    ),
)


# -- presenting: a trial's components ---------------------------------------------------


class CSComponent:
    """The CS: shown for ``n_cs`` refreshes (a sound CS plays over a fixation cross)."""

    def __init__(self, stage: Stage, event: Event, label: str) -> None:
        spec = stage.protocol.cs.get(event.stimulus or "")
        self.stage, self.event, self.label = stage, event, label
        self.sound = spec is not None and spec.kind == "sound"
        self.n = stage.frames(event.duration, minimum=1)
        visual = None if self.sound else event.stimulus
        self.on = Scene(context=event.context, cs=visual, fixation=self.sound)
        self.off = Scene(context=event.context, fixation=True)
        self.stopped = False
        self.offset: float | None = None

    def before(self, f: int) -> None:
        if f == 0:
            self.stage.mark(self.event.event_type or "CSm", self.label)
            if self.sound:
                self.stage.on_flip(self.stage.play_sound, f"cs:{self.event.stimulus}")
        if self.sound and f >= self.n and not self.stopped:
            self.stopped = True
            self.stage.on_flip(self.stage.stop, f"cs:{self.event.stimulus}")

    def dress(self, f: int, scene: Scene) -> Scene:
        return self.on if f < self.n else self.off

    def after(self, t: float, i: int) -> None:
        if self.offset is None and i >= self.n:
            self.offset = t

    def done(self, i: int, f: int) -> bool:
        return i >= self.n


class OutcomeComponent:
    """The US on a reinforced trial, else the time it would have come (``USo``/``USm``)."""

    def __init__(self, stage: Stage, event: Event, label: str) -> None:
        self.stage, self.event, self.label = stage, event, label
        us = stage.protocol.us.get(event.us or "")
        self.k = stage.frames(event.us_onset) if event.us_onset is not None else None
        self.n = stage.frames(event.us_duration, minimum=1) if us is not None else 0
        shown = us is not None and us.kind == "image" and event.reinforced
        self.image = us.name if (us is not None and shown) else None
        self.started = False
        self.train: str | None = None
        self.t0: float | None = None
        self.onset: float | None = None
        self.offset: float | None = None
        self.last = 0.0

    def before(self, f: int) -> None:
        if self.k is not None and f >= self.k and not self.started:
            self.started = True
            if self.event.reinforced:
                # The flip the US was planned on: the guard's window counts from it, not
                # from whenever a stalled loop gets here.
                planned = None if self.t0 is None else self.t0 + self.k * self.stage.period
                self.train = self.stage.start_us(self.event, self.label, planned)
            else:
                self.stage.mark(self.event.outcome_type or "USo", self.label)

    def dress(self, f: int, scene: Scene) -> Scene:
        if self.image is not None and self.started and self.k is not None and f < self.k + self.n:
            return Scene(context=scene.context, cs=scene.cs, us_image=self.image)
        return scene

    def after(self, t: float, i: int) -> None:
        self.last = t
        if self.t0 is None:
            self.t0 = t  # the CS onset flip: refresh 0 of the trial
        if self.started and self.onset is None:
            self.onset = t
        ends = self.k + self.n if self.k is not None else None
        if self.onset is not None and self.offset is None and ends is not None and i >= ends:
            self.offset = t

    def done(self, i: int, f: int) -> bool:
        if self.k is None:
            return True
        return i >= self.k + (self.n if self.event.reinforced else 1)

    def row(self, t0: float) -> tuple[float, dict[str, object]] | None:
        """The ``us`` row (delivered, omitted, or the CS- time point), with its time."""
        if self.k is None:
            return None
        event, stage = self.event, self.stage
        row = outcome_row(event)
        if event.reinforced:
            row["us"] = event.us
            row["stim_file"] = stage.stim_file("us", event.us)
        onset = self.onset
        if onset is None:
            # A display stall jumped past the whole US (and the CS): the US is not given
            # late, at a time the design does not have; its row says so.
            onset = t0 + self.k * stage.period
            if event.reinforced:
                row["value"] = "not delivered: the display stalled past the US onset"
                stage.message(f"{self.label}: US not delivered (display stall)")
        elif event.reinforced:
            row["duration"] = ((self.offset or self.last) - onset) * stage.speed
        return onset, row


class RatingComponent:
    """An online rating: the scale from ``onset`` for ``window`` (or until answered);
    once answered it stays on screen, marked, until the CS ends."""

    def __init__(self, stage: Stage, event: Event, label: str, spec: RatingSpec, n_cs: int):
        self.stage, self.event, self.label, self.spec = stage, event, label, spec
        self.k = stage.frames(spec.onset)
        self.n = stage.frames(spec.window, minimum=1)
        self.n_cs = n_cs
        self.state: RatingProgress | None = None
        self.answer: object | None = None
        self.onset: float | None = None
        self.open = False

    def before(self, f: int) -> None:
        self.open = self.k <= f < self.k + self.n and self.answer is None
        if self.shown(f) and self.onset is None:
            self.stage.mark("rating", self.label)

    def shown(self, f: int) -> bool:
        return self.open or (self.answer is not None and f < self.n_cs)

    def dress(self, f: int, scene: Scene) -> Scene:
        if not self.shown(f):
            return scene
        state = self.state
        view = RatingView(
            self.spec,
            state.marker if state else None,
            self.answer is not None,
            placed=state is not None and state.pending is not None,
        )
        return Scene(scene.context, scene.cs, scene.fixation, scene.us_image, rating=view)

    def after(self, t: float, i: int) -> None:
        if self.open and self.onset is None:
            self.onset = t
            self.stage.participant.start_rating(self.event, self.spec, t)
        if self.open:
            self.state = self.stage.participant.poll_rating(t, self.stage.keys)
            if self.state.answer is not None:
                self.answer = self.state.answer
                self.stage.mark("response", self.label)

    def done(self, i: int, f: int) -> bool:
        if self.answer is None and f >= self.k + self.n and self.state is not None:
            self.answer = self.state.pending  # placed, not confirmed: the window's end takes it
        return self.answer is not None or f >= self.k + self.n

    def columns(self) -> dict[str, object]:
        answer = self.answer
        self.stage.rated(self.event, getattr(answer, "value", None) if answer else None)
        return rating_columns(self.stage, answer, self.onset or 0.0)  # type: ignore[arg-type]


def cs_event_type(role: str, reinforced: bool) -> str:
    """The ``event_type`` of a trial of ``role``: ``CSpr``/``CSpu`` for a CS+ (reinforced
    or not), ``GS`` for a generalisation stimulus, ``CSm`` for a CS−."""
    kind = cs_type(role)
    if kind == "CS+":
        return "CSpr" if reinforced else "CSpu"
    return GS_TYPE if kind == GS_TYPE else "CSm"


def outcome_row(event: Event) -> dict[str, object]:
    """The columns of a trial's ``us`` row: the US, its omission, or the CS- time point."""
    row = base_row(event, "us")
    row.update(
        event_type=event.outcome_type,
        cs=event.cs,
        cs_type=event.cs_type,
        stimulus=event.stimulus,
        reinforced=event.reinforced,
        iti=None,
    )
    return row


def present_trial(stage: Stage, event: Event, planned: float) -> Presented:
    """A CS (with its US or omission, and an online rating if asked), then its offset.

    The trial is complete, and its rows due, when its CS, US and rating are over; a startle
    probe in the ITI after it is presented by :attr:`Presented.then`, once the run loop has
    queued the trial's rows (a kill before that probe must not lose the trial).
    """
    label = f"{event.phase}/{event.index}"
    cs = CSComponent(stage, event, label)
    outcome = OutcomeComponent(stage, event, label)
    rating_spec = stage.protocol.phases[event.phase].rating if event.online_rating else None
    rating = RatingComponent(stage, event, label, rating_spec, cs.n) if rating_spec else None
    probes = [ProbeComponent(stage, event, k, label) for k in range(len(event.probes))]
    Part = CSComponent | OutcomeComponent | RatingComponent | ProbeComponent
    in_iti = [probe for k, probe in enumerate(probes) if event.probes[k] >= event.duration]
    for k, probe in enumerate(probes):
        # Never two probes on one refresh, nor an ITI probe on the CS's last (at a high
        # --speed a whole trial can fit in a refresh or two).
        if probe in in_iti:
            probe.k = max(probe.k, cs.n)
        if k:
            probe.k = max(probe.k, probes[k - 1].k + 1)
    components: list[Part] = [
        cs,
        outcome,
        *probes,
    ]
    if rating is not None:
        components.append(rating)
    t0: float | None = None
    t = 0.0
    f = 0

    def show(shown: Sequence[Part], until: Sequence[Part]) -> None:
        # Refreshes of the ``shown`` components until those in ``until`` are done.
        nonlocal t0, t, f
        while True:
            # Before the flip that shows refresh ``f``: queue what starts on it.
            scene = Scene()
            for component in shown:
                component.before(f)
                scene = component.dress(f, scene)
            t = stage.frame(scene)
            if t0 is None:
                t0 = t
            i = stage.refresh_index(t, t0, f)
            for component in shown:
                component.after(t, i)
            f = i + 1
            if all([component.done(i, f) for component in until]):
                return

    # An ITI probe due while the US or the rating still runs sounds with them.
    show(components, [component for component in components if component not in in_iti])
    assert t0 is not None  # show() flips at least once
    stage.participant.observe(event, event.reinforced)
    row = cs_row(stage, event)
    row["duration"] = ((cs.offset or t) - t0) * stage.speed
    if rating is not None:
        row.update(rating.columns())
    rows = [(t0, row)]
    us = outcome.row(t0)
    if us is not None:
        rows.append(us)
    later = [probe for probe in in_iti if probe.onset is None]
    rows.extend(probe.row(t0) for probe in probes if probe not in later)
    then = None
    if later:
        start = t0

        def then() -> list[tuple[float, dict[str, object]]]:
            # The CS's offset screen with the probes; not the US: its row is taken (a
            # stall that skipped it must not start it now, late and unlogged).
            show([cs, *later], later)
            return [probe.row(start) for probe in later]

    return Presented(rows, train=outcome.train, us_row=us[1] if us is not None else None, then=then)


def simulate_trial(sim: Rehearsal, event: Event, onset: float) -> Simulated:
    """A trial as the learner lives it: its expectation at CS onset, a rating, the US."""
    learner = sim.learner
    learner.enter(event)
    value = learner.value(event.stimulus)
    rating = sim.protocol.phases[event.phase].rating if event.online_rating else None
    row = cs_row(sim, event)
    row["duration"] = event.duration
    if rating is not None:
        answer, rt = learner.rate(event, rating)
        row["rating"] = answer
        row["rating_rt"] = rt if answer is not None else None
    learner.observe(event, event.reinforced)
    us_at = None
    extra = []
    if event.us_onset is not None:
        us_row = outcome_row(event)
        us_row.update(onset=onset + event.us_onset, duration=0.0)
        if event.reinforced:
            us_at = onset + event.us_onset
            us_row["us"] = event.us
            us_row["stim_file"] = sim.stim_file("us", event.us)
            us_row["duration"] = event.us_duration or 0.0
            sim.shock(us_row, event.us, us_at)
        extra.append(us_row)
    probes = []
    if event.probes:
        _, stim_file = sim.script(event.phase)
        for k, at in enumerate(event.probes):
            probe = probe_row(event, k)
            probe.update(onset=onset + at, stim_file=stim_file)
            extra.append(probe)
            # in the CS the learner expects what the CS predicts; alone, no US
            probes.append((onset + at, value if at < event.duration else 0.0))
    return Simulated(row, extra, response=(value, us_at), probes=probes)


def _trial_rows(event: Event) -> tuple[str, ...]:
    # A trial with a US time has its cs and its us row (the US, or its omission).
    return ("cs", "us") if event.us_onset is not None else ("cs",)


def _describe(event: Event) -> str:
    return f"trial {event.index}: {event.cs} ({event.stimulus})" + (
        " + US" if event.reinforced else ""
    )


TRIAL = EventKind(
    "trial",
    row="cs",
    rows=(
        Row(
            "cs",
            "a CS presentation (`event_type` CSpr, CSpu, CSm, or GS for a generalisation stimulus)",
        ),
        Row("us", "the US delivered (USp), omitted (USo) or the matching CS− or GS time (USm)"),
        *PROBE.rows,
    ),
    markers=(
        Marker("CSpr", 10, "CS onset, CS+ reinforced on this trial"),
        Marker("CSpu", 12, "CS onset, CS+ unreinforced on this trial"),
        Marker("CSm", 14, "CS onset, CS-"),
        Marker("GS", 16, "CS onset, a generalisation stimulus (GS1…GSn; never reinforced)"),
        Marker("USp", 20, "US onset (shock train start, or sound/image US)"),
        Marker("USo", 22, "omitted US: the time a CS+ US would have come"),
        Marker("USm", 24, "the matching time on a CS- trial"),
        Marker("rating", 30, "rating scale shown"),
        Marker("response", 32, "rating answered"),
        *PROBE.markers,
    ),
    present=present_trial,
    counts_as_trial=True,
    needs_rows=_trial_rows,
    describe_event=_describe,
    simulate=simulate_trial,
)


# -- reading and scheduling --------------------------------------------------------------


class TrialKind(Kind):
    """A phase of CS trials; ``reinforced`` says whether its trials may be reinforced."""

    keys = KEYS
    event_kinds = (TRIAL,)

    def __init__(self, name: str, doc: str, reinforced: bool = False) -> None:
        self.name = name
        self.doc = doc
        self.reinforced = reinforced

    def read(self, ctx: ReadContext, section: Section, instructions: str | None) -> TrialSpec:
        cs_duration = read_key(section, _key("cs_duration"))
        if self.name == "generalisation" and not any(is_gs(r) for r in ctx.cs_roles):
            section.fail(
                "type",
                "a phase type other than generalisation in a protocol without GS roles "
                "(cs.roles lists none)",
                "'generalisation'",
            )
        orders = _read_orders(ctx, section)
        trials = _read_role_counts(ctx, section, "trials", orders)
        reinforced = _read_reinforced(ctx, section, trials, orders)
        for order in orders:
            counted = order.trial_counts()
            if section.has("trials") and counted != {r: n for r, n in trials.items() if n}:
                raise ProtocolError(
                    ctx.shown,
                    section.line_of("order"),
                    section.sub("order"),
                    f"an order matching trials ({_counts(trials)})",
                    f"{order.path} with {_counts(counted)}",
                )
            if section.has("reinforced") and order.reinforced_counts() != {
                r: n for r, n in reinforced.items() if n
            }:
                raise ProtocolError(
                    ctx.shown,
                    section.line_of("order"),
                    section.sub("order"),
                    f"an order matching reinforced ({_counts(reinforced)})",
                    f"{order.path} with {_counts(order.reinforced_counts())}",
                )
        if reinforced and not self.reinforced:
            name = (
                "reinforced"
                if section.has("reinforced")
                else ("reinforcement_rate" if section.has("reinforcement_rate") else "order")
            )
            section.fail(
                name,
                f"no reinforced trials in a phase of type {self.name} "
                f"(only in {' and '.join(REINFORCED_TYPES)})",
                _counts(reinforced),
            )
        us = ctx.read_phase_us(section, required=bool(reinforced))
        us_onset = _read_us_onset(ctx, section, us, cs_duration, self.name)
        trace = _read_trace(section, us_onset)
        if trace is not None:
            us_onset = round(cs_duration + trace, 6)
        n_events = sum(trials.values()) if not orders else max(len(o.rows) for o in orders)
        iti: ITISpec | None
        if orders and any(o.has_iti for o in orders):
            if not all(o.has_iti for o in orders):
                section.fail("order", "order files that all give ITIs, or none", "a mix")
            if section.has("iti"):
                section.fail(
                    "iti",
                    "no iti when the order files give the ITIs",
                    describe(section.node("iti")),
                )
            iti = None
        else:
            iti = ctx.read_iti(section, "iti", n_events=n_events)
        constraints = _read_constraints(section, trials, reinforced)
        if iti is not None and iti.kind == "trs" and iti.tr:
            _check_tr_lock(ctx, section, cs_duration, trace, us_onset, us, iti.tr)
        swap = _read_swap(ctx, section)
        rating = read_rating(
            ctx,
            section,
            online_cs_duration=cs_duration,
            required=False,
            us_onset=us_onset,
            us_given=bool(reinforced),
        )
        probes = read_probes(ctx, section, cs_duration, trials)
        if probes is not None:
            # a trace trial's ITI starts after its US time, not at CS offset
            span = cs_duration
            if trace is not None and us is not None and us_onset is not None:
                span = us_onset + ctx.us[us].duration
            _check_probes(section, probes, trials, reinforced, orders, iti, constraints, span)
        return TrialSpec(
            trials=trials,
            reinforced=reinforced,
            cs_duration=cs_duration,
            us=us,
            us_onset=us_onset,
            trace_interval=trace,
            iti=iti,
            lead_in=read_key(section, LEAD_IN),
            context=ctx.read_context_role(section),
            constraints=constraints,
            orders=tuple(o.path for o in orders),
            swap_roles=swap,
            rating=rating,
            probes=probes,
        )

    def expand(self, phase: Phase, x: Expansion) -> list[Event]:
        spec = phase.spec
        assert isinstance(spec, TrialSpec)
        cell, stream = x.cell, x.stream
        roles_to_stimuli = dict(cell.cs)
        if spec.swap_roles:
            a, b = spec.swap_roles
            roles_to_stimuli[a], roles_to_stimuli[b] = cell.cs[b], cell.cs[a]
        if spec.orders:
            order = read_order(spec.orders[cell.order % len(spec.orders)], x.protocol.cs_roles)
            roles = [row.cs for row in order.rows]
            reinforced = [row.reinforced for row in order.rows]
            itis = (
                [typing.cast(float, row.iti) for row in order.rows]
                if order.has_iti
                else x.itis(spec.iti, len(roles))
            )
        else:
            try:
                roles, reinforced = _generate(
                    spec.trials, spec.reinforced, spec.constraints, stream
                )
            except ScheduleError as error:
                raise ScheduleError(f"phase {phase.name}: {error}") from None
            itis = x.itis(spec.iti, len(roles))
        us = x.protocol.us[spec.us] if spec.us else None
        events: list[Event] = []
        shown: dict[str, int] = {}  # trials of each role so far (a circle's GS alternate faces)
        for i, (role, hit, iti) in enumerate(zip(roles, reinforced, itis)):
            stimulus = roles_to_stimuli[role]
            if role in cell.faces:
                # A GS on a circle: its two stimuli in turn, so each is shown as often.
                stimulus = cell.faces[role][shown.get(role, 0) % 2]
            shown[role] = shown.get(role, 0) + 1
            kind = cs_type(role)
            event_type = cs_event_type(role, hit)
            events.append(
                Event(
                    **x.base,
                    kind="trial",
                    index=i + 1,
                    onset=spec.lead_in if i == 0 else 0.0,
                    duration=spec.cs_duration,
                    iti=iti,
                    cs=role,
                    cs_type=kind,
                    stimulus=stimulus,
                    reinforced=hit,
                    us=us.name if (hit and us) else None,
                    us_onset=spec.us_onset,
                    us_duration=us.duration if (us and spec.us_onset is not None) else None,
                    event_type=event_type,
                    online_rating=spec.rating is not None,
                    distance=continuum_distance(x.protocol.cs_roles, role),
                )
            )
        if spec.probes is not None:
            # Drawn after the order and the ITIs: adding probes reshuffles no trial.
            try:
                span = events[0].span if events else spec.cs_duration
                probed, in_iti = place_probes(roles, itis, span, spec.probes, stream)
            except ScheduleError as error:
                raise ScheduleError(f"phase {phase.name}: {error}") from None
            events = number_probes(events, probed, in_iti, spec.probes)
        return events

    def files(self, phase: Phase) -> tuple[FileNeed, ...]:
        spec = phase.spec
        if isinstance(spec, TrialSpec) and spec.probes is not None:
            key = f"phases.{phase.name}.probes.sound"
            return (FileNeed(key, "sound", spec.probes.sound, volume=spec.probes.volume),)
        return ()

    def shocks(self, phase: Phase, us: Mapping[str, USSpec]) -> int:
        spec = phase.spec
        assert isinstance(spec, TrialSpec)
        if spec.us is None or us[spec.us].kind != "shock":
            return 0
        return sum(spec.reinforced.values())


#: The trial phase kinds, in the order the README lists them.
TRIAL_KINDS = (
    TrialKind("habituation", "CS trials before conditioning, never reinforced"),
    TrialKind("acquisition", "CS trials, some CS+ trials reinforced", reinforced=True),
    TrialKind("extinction", "CS trials without US"),
    TrialKind("recall", "CS trials without US, testing extinction recall"),
    TrialKind("renewal", "CS trials without US, in another context"),
    TrialKind(
        "generalisation",
        "a generalisation test: CS+, CS− and GS1…GSn trials; CS+ trials may stay reinforced "
        "(so that the test does not extinguish them), GS trials never",
        reinforced=True,
    ),
)
REINFORCED_TYPES = tuple(k.name for k in TRIAL_KINDS if k.reinforced)


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{r}: {n}" for r, n in counts.items() if n) or "none"


def _key(name: str) -> Key:
    return next(k for k in KEYS if k.name == name)


def _check_tr_lock(
    ctx: ReadContext,
    section: Section,
    cs_duration: float,
    trace: float | None,
    us_onset: float | None,
    us: str | None,
    tr: float,
) -> None:
    """Warn when TR-locked ITIs cannot keep onsets on volumes: the trial itself (CS, or CS,
    trace and US) is not a whole number of TRs."""
    span = cs_duration
    if trace is not None and us_onset is not None and us is not None:
        span = us_onset + ctx.us[us].duration
    if abs(span / tr - round(span / tr)) > 1e-6:
        what = "CS + trace + US" if span != cs_duration else "CS"
        ctx.warn(
            section,
            "trace_interval" if span != cs_duration else "cs_duration",
            f"a trial ({what}) of {span:g} s, not a whole number of TRs ({tr:g} s): with "
            "iti: trs the onsets drift off the volumes",
        )


def _read_trace(section: Section, us_onset: float | None) -> float | None:
    """The trace interval, if the phase is trace conditioning (its US time is after the CS)."""
    if not section.has("trace_interval"):
        return None
    if us_onset is None:
        section.fail(
            "trace_interval",
            "no trace_interval in a phase without a US (habituation, or no US in the protocol)",
            describe(section.node("trace_interval")),
        )
    if section.has("us_onset"):
        section.fail(
            "trace_interval",
            "either us_onset (delay conditioning: the US within the CS) or trace_interval "
            "(trace conditioning: the US after the CS), not both",
            "both",
        )
    # Required once present: `trace_interval:` left empty (YAML null) is not "absent".
    return float(read_key(section, _key("trace_interval"), REQUIRED))


def _read_us_onset(
    ctx: ReadContext, section: Section, us: str | None, cs_duration: float, kind: str
) -> float | None:
    if us is not None and kind != "habituation":
        us_spec = ctx.us[us]
        if section.has("trace_interval") and not section.has("us_onset"):
            # Trace conditioning: the US comes after the CS, so it may outlast the CS; the
            # caller places it at CS offset + trace interval.
            return float(cs_duration)
        us_onset = read_key(section, _key("us_onset"), cs_duration - us_spec.duration)
        if us_onset < 0:
            # The default onset (co-terminating) of a US longer than the CS would come
            # before the CS and outlast it.
            section.fail(
                "cs_duration",
                f"a CS at least as long as its US ('{us}' lasts {us_spec.duration:g} s)",
                f"{cs_duration:g} s",
            )
        if us_onset + us_spec.duration > cs_duration + 1e-9:
            section.fail(
                "us_onset" if section.has("us_onset") else "cs_duration",
                f"the US to end by the end of the CS ({cs_duration:g} s; US '{us}' lasts "
                f"{us_spec.duration:g} s)",
                f"a US ending at {us_onset + us_spec.duration:g} s",
            )
        return float(us_onset)
    if section.has("us_onset"):
        section.fail(
            "us_onset", "no us_onset in a phase without a US", describe(section.node("us_onset"))
        )
    return None


#: Generated orders checked for probe placement at load (seeds 0, 1, … of the check).
PROBE_CHECK_DRAWS = 8


def _check_probes(
    section: Section,
    probes: ProbeSpec,
    trials: dict[str, int],
    reinforced: dict[str, int],
    orders: list[FixedOrder],
    iti: ITISpec | None,
    constraints: Constraints,
    span: float,
) -> None:
    """Fail when a participant's order could not keep the probes' ``min_interval``.

    The spacing is not order-independent: with ``share`` < 1 a probed trial's neighbours
    depend on where each role's trials fall, and ITI probes fit around the trial probes.
    So placement is tried on every order the counterbalancing gives a participant (each
    fixed order file, with its own ITIs or else the shortest the ``iti`` can draw) and,
    for generated orders (drawn per participant, too many to list), on
    :data:`PROBE_CHECK_DRAWS` draws with the shortest ITIs. A min_interval no draw can keep
    is a mistake of the file, not of one participant's seed; a participant whose own draw
    still cannot keep it gets a one-line schedule error.
    """
    shortest = shortest_iti(iti)
    patterns: list[tuple[FixedOrder | None, list[str], list[float]]] = []
    for fixed in orders:
        roles = [row.cs for row in fixed.rows]
        if fixed.has_iti:
            itis = [typing.cast(float, row.iti) for row in fixed.rows]
        else:
            itis = [shortest] * len(roles)
        patterns.append((fixed, roles, itis))
    if not orders:
        for seed in range(PROBE_CHECK_DRAWS):
            roles = _generate(trials, reinforced, constraints, Stream(seed))[0]
            patterns.append((None, roles, [shortest] * len(roles)))
    for order, roles, itis in patterns:
        try:
            place_probes(roles, itis, span, probes, Stream(0))
        except ScheduleError:
            block = section.section("probes", None)
            n_trial = sum(probe_counts(trials, probes.share).values())
            if order is None:
                where = f"its shortest ITIs ({shortest:g} s, trials of {span:g} s)"
            else:
                number = orders.index(order) + 1
                where = (
                    f"order {number} of {len(orders)} ({Path(order.path).name}; ITIs from "
                    f"{min(itis):g} s, trials of {span:g} s)"
                )
            block.fail(
                "min_interval" if block.has("min_interval") else "iti",
                f"a min_interval the phase can keep with {where}",
                f"{probes.min_interval:g} s for {n_trial} trial and {probes.iti} ITI probes",
            )


def _read_swap(ctx: ReadContext, section: Section) -> tuple[str, str] | None:
    if not section.has("swap_roles"):
        return None
    nodes = section.sequence("swap_roles", what="two CS roles") or []
    if len(nodes) != 2:
        section.fail("swap_roles", "two CS roles", describe(section.node("swap_roles")))
    a, b = (
        ctx.check_role(section, n, f"{section.sub('swap_roles')}[{i}]") for i, n in enumerate(nodes)
    )
    if a == b:
        section.fail("swap_roles", "two different CS roles", describe(section.node("swap_roles")))
    if is_gs(a) or is_gs(b):
        # A GS's picture is its place on the continuum; swapping would give it another.
        section.fail(
            "swap_roles", "two CS roles (not GS roles)", describe(section.node("swap_roles"))
        )
    return a, b


def _read_orders(ctx: ReadContext, section: Section) -> list[FixedOrder]:
    node = section.node("order")
    if node is None:
        return []
    nodes = node.value if node.is_sequence else [node]
    if not nodes:
        section.fail("order", "a CSV file or a list of CSV files", "an empty list")
    orders = []
    for i, item in enumerate(nodes):
        key = section.sub("order") + (f"[{i}]" if node.is_sequence else "")
        written = section.check_text(item, key, "the path of a CSV order file")
        path = resolve(written, ctx.folder)
        if path is None:
            raise ProtocolError(
                ctx.shown,
                item.line,
                key,
                "an existing CSV order file",
                f"'{written}'",
                near_name(written, ctx.folder),
            )
        orders.append(read_order(path, ctx.cs_roles, shown=written))
    return orders


def _read_role_counts(
    ctx: ReadContext, section: Section, name: str, orders: list[FixedOrder]
) -> dict[str, int]:
    node = section.node(name)
    if node is None or node.value is None:
        if orders:
            return orders[0].trial_counts()
        section.fail(
            name, "a number of trials per CS, or a mapping role: trials (required)", "nothing"
        )
    if not node.is_mapping:
        n = section.integer(name, ge=1, le=1000, what="a number of trials per CS")
        return {role: n for role in ctx.cs_roles}
    counts_section = section.section(name, ctx.cs_roles)
    assert counts_section is not None
    missing = [role for role in ctx.cs_roles if not counts_section.has(role)]
    if missing:
        # A role left out was silently 0 once: a forgotten CS− gave a phase without one.
        section.fail(
            name,
            f"a count for every CS role ({', '.join(ctx.cs_roles)}; 0 for none)",
            f"none for {', '.join(missing)}",
        )
    counts = {
        role: counts_section.integer(role, ge=0, le=1000, what="a number of trials")
        for role in ctx.cs_roles
    }
    if not any(counts.values()):
        section.fail(name, "at least one trial", "0 trials")
    return counts


def _read_reinforced(
    ctx: ReadContext, section: Section, trials: dict[str, int], orders: list[FixedOrder]
) -> dict[str, int]:
    if section.has("reinforced") and section.has("reinforcement_rate"):
        section.fail(
            "reinforcement_rate", "either reinforced or reinforcement_rate, not both", "both"
        )
    reinforceable = tuple(r for r in ctx.cs_roles if cs_type(r) == "CS+")
    for name in ("reinforced", "reinforcement_rate"):
        node = section.node(name)
        if node is not None and node.is_mapping and node.key_lines is not None:
            for role in node.value:
                if is_gs(role):
                    # A generalisation stimulus measures what spreads from the CS+: a US on
                    # it would make it a CS+ of its own.
                    raise ProtocolError(
                        ctx.shown,
                        node.key_lines[role],
                        f"{section.sub(name)}.{role}",
                        "a CS+ role (a generalisation stimulus is never reinforced)",
                        f"'{role}'",
                    )
    out: dict[str, int] = {}
    if section.has("reinforced"):
        counts_section = section.section("reinforced", reinforceable)
        assert counts_section is not None
        for role in counts_section.items:
            n = counts_section.integer(role, ge=0, what="a number of reinforced trials")
            if n > trials.get(role, 0):
                counts_section.fail(
                    role, f"at most the {role} trial count ({trials.get(role, 0)})", str(n)
                )
            if n:
                out[role] = n
        return out
    if section.has("reinforcement_rate"):
        rates = section.section("reinforcement_rate", reinforceable)
        assert rates is not None
        for role in rates.items:
            rate = rates.number(role, ge=0, le=1, what="a rate from 0 to 1")
            n = int(rate * trials.get(role, 0) + 0.5)  # round half up, documented
            if rate > 0 and n == 0:
                rates.fail(
                    role,
                    f"a rate giving at least one reinforced trial of {trials.get(role, 0)}",
                    f"{rate:g}",
                )
            if n:
                out[role] = n
        return out
    if orders:
        return orders[0].reinforced_counts()
    return {}


def _generate(
    trials: Mapping[str, int], reinforced: Mapping[str, int], c: Constraints, stream: Stream
) -> tuple[list[str], list[bool]]:
    """A generated order and its reinforced trials (see
    :func:`~pavlov.protocols.randomize.constrained_trials`)."""
    return constrained_trials(
        {r: n for r, n in trials.items() if n},
        reinforced,
        max_run=c.max_run,
        start_with_pair=c.start_with_pair,
        first_reinforced=c.first_reinforced,
        spread_reinforced=c.spread_reinforced,
        stream=stream,
        max_run_type=c.max_run_type,
        max_reinforced_run=c.max_reinforced_run,
        block=c.block_size if c.order == "miniblocks" else None,
    )


def _constraint(name: str) -> Key:
    return next(k for k in CONSTRAINT_KEYS if k.name == name)


def _read_constraints(
    section: Section, trials: dict[str, int], reinforced: dict[str, int]
) -> Constraints:
    block = section.section("constraints", tuple(k.name for k in CONSTRAINT_KEYS), None)
    default = Constraints(first_reinforced=bool(reinforced))
    if block is None:
        constraints = default
    else:
        constraints = Constraints(
            max_run=read_key(block, _constraint("max_run")),
            first_reinforced=block.boolean("first_reinforced", default.first_reinforced),
            spread_reinforced=read_key(block, _constraint("spread_reinforced")),
            start_with_pair=read_key(block, _constraint("start_with_pair")),
            max_run_type=read_key(block, _constraint("max_run_type")),
            max_reinforced_run=read_key(block, _constraint("max_reinforced_run")),
            order=read_key(block, _constraint("order")),
            block_size=read_key(block, _constraint("block_size")),
        )
    counts = [n for n in trials.values() if n]
    total, largest = sum(counts), max(counts)
    where = "constraints" if block is not None else "trials"
    if largest > constraints.max_run * (total - largest + 1):
        section.fail(
            where,
            f"trial counts that can keep max_run {constraints.max_run} (at most "
            f"{constraints.max_run * (total - largest + 1)} trials of one CS with "
            f"{total - largest} others)",
            f"{largest} trials of one CS",
        )
    if block is not None:
        _check_new_constraints(block, constraints, trials, reinforced)
    if constraints.start_with_pair:
        types = {cs_type(r) for r, n in trials.items() if n}
        if not {"CS+", "CS-"} <= types:
            assert block is not None
            block.fail(
                "start_with_pair",
                "false (the phase needs both CS+ and CS- trials for a first pair)",
                "true",
            )
    # The order search is exhaustive: if it fails for one seed it fails for all. The
    # reinforced-run rule is kept by redrawing, so a few seeds are tried.
    seeds = range(3) if constraints.max_reinforced_run is not None else range(1)
    try:
        for seed in seeds:
            _generate(trials, reinforced, constraints, Stream(seed))
    except ScheduleError:
        section.fail(
            where,
            f"trial counts that allow an order keeping {constraints.describe()}",
            _counts(trials) + (f" ({_counts(reinforced)} reinforced)" if reinforced else ""),
        )
    return constraints


def _check_new_constraints(
    block: Section, c: Constraints, trials: dict[str, int], reinforced: dict[str, int]
) -> None:
    """Say why the type-run, reinforced-run and mini-block rules cannot hold, when a count
    shows it (the order search would only say that they do not)."""
    if block.has("block_size") and c.order != "miniblocks":
        block.fail("block_size", "no block_size without order: miniblocks", str(c.block_size))
    if c.order == "miniblocks":
        used = {r: n for r, n in trials.items() if n}
        if len(set(used.values())) != 1 or next(iter(used.values())) % c.block_size:
            block.fail(
                "order",
                f"equal trial counts for every role, each a multiple of block_size "
                f"({c.block_size}), for miniblocks",
                _counts(trials),
            )
    if c.max_run_type is not None:
        pooled: dict[str, int] = {}
        for role, n in trials.items():
            pooled[cs_type(role)] = pooled.get(cs_type(role), 0) + n
        total, largest = sum(pooled.values()), max(pooled.values())
        kind = max(pooled, key=lambda k: pooled[k])
        if largest > c.max_run_type * (total - largest + 1):
            block.fail(
                "max_run_type",
                f"at most {c.max_run_type * (total - largest + 1)} {kind} trials with "
                f"{total - largest} others (max_run_type {c.max_run_type})",
                f"{largest} {kind} trials",
            )
    if c.max_reinforced_run is not None:
        hits, total = sum(reinforced.values()), sum(trials.values())
        if hits > c.max_reinforced_run * (total - hits + 1):
            block.fail(
                "max_reinforced_run",
                f"at most {c.max_reinforced_run * (total - hits + 1)} reinforced trials with "
                f"{total - hits} unreinforced (max_reinforced_run {c.max_reinforced_run})",
                f"{hits} reinforced trials",
            )
