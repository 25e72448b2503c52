"""The CS-trial phases: ``habituation``, ``acquisition``, ``extinction``, ``recall`` and
``renewal`` (one module: they share every key and differ only in whether trials may be
reinforced), and the ``trial`` event: a CS with its US or omission and an online rating.

A trial is made of timed components, as a PsychoPy Builder routine is: the CS
(:class:`CSComponent`), the US or its omission (:class:`OutcomeComponent`) and the online
rating (:class:`RatingComponent`). Each says what it queues before the flip that shows a
refresh, what it adds to the scene, what it records after the flip, and when it is done;
the trial ends when every component is.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import dataclass, field

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
from pavlov.protocols.kinds.keys import Key, read_key
from pavlov.protocols.kinds.present import base_row, cs_row, rating_columns
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
from pavlov.protocols.model import ITISpec, Phase, PhaseSpec, RatingSpec, USSpec, cs_type
from pavlov.protocols.orders import FixedOrder, read_order
from pavlov.protocols.randomize import Stream, constrained_order, reinforced_positions
from pavlov.protocols.reader import Section, describe
from pavlov.stimuli.resolve import near_name, resolve

__all__ = [
    "TRIAL",
    "Constraints",
    "TrialKind",
    "TrialSpec",
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
    """

    max_run: int = 2
    first_reinforced: bool = True
    spread_reinforced: bool = True
    start_with_pair: bool = False


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
        Seconds after CS onset the US starts (co-terminating by default).
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
    """

    trials: Mapping[str, int] = field(default_factory=dict)
    reinforced: Mapping[str, int] = field(default_factory=dict)
    cs_duration: float = 0.0
    us: str | None = None
    us_onset: float | None = None
    iti: ITISpec | None = None
    lead_in: float = 0.0
    context: str | None = None
    constraints: Constraints = field(default_factory=Constraints)
    orders: tuple[str, ...] = ()
    swap_roles: tuple[str, str] | None = None
    rating: RatingSpec | None = None


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
)

KEYS = (
    INSTRUCTIONS,
    Key(
        "trials",
        "counts",
        "trials per CS role",
        type_doc="whole ≥ 1, or mapping role → whole ≥ 0",
        default_doc="required unless `order`",
    ),
    Key(
        "reinforced",
        "counts",
        "reinforced trials per role, at most its trial count. **Only in acquisition**: "
        "other phases are unreinforced by design",
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
        "(`USo`) and CS− (`USm`) events. Not in habituation",
        default=None,
        ge=0,
        what="seconds after CS onset",
        type_doc="seconds after CS onset",
        default_doc="`cs_duration − us.duration` (co-terminating)",
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
        self.onset: float | None = None
        self.offset: float | None = None
        self.last = 0.0

    def before(self, f: int) -> None:
        if self.k is not None and f >= self.k and not self.started:
            self.started = True
            if self.event.reinforced:
                self.train = self.stage.start_us(self.event, self.label)
            else:
                self.stage.mark(self.event.outcome_type or "USo", self.label)

    def dress(self, f: int, scene: Scene) -> Scene:
        if self.image is not None and self.started and self.k is not None and f < self.k + self.n:
            return Scene(context=scene.context, cs=scene.cs, us_image=self.image)
        return scene

    def after(self, t: float, i: int) -> None:
        self.last = t
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
    """A CS (with its US or omission, and an online rating if asked), then its offset."""
    label = f"{event.phase}/{event.index}"
    cs = CSComponent(stage, event, label)
    outcome = OutcomeComponent(stage, event, label)
    rating_spec = stage.protocol.phases[event.phase].rating if event.online_rating else None
    rating = RatingComponent(stage, event, label, rating_spec, cs.n) if rating_spec else None
    components: list[CSComponent | OutcomeComponent | RatingComponent] = [cs, outcome]
    if rating is not None:
        components.append(rating)
    t0: float | None = None
    f = 0
    while True:
        # Before the flip that shows refresh ``f``: queue what starts on it.
        scene = Scene()
        for component in components:
            component.before(f)
            scene = component.dress(f, scene)
        t = stage.frame(scene)
        if t0 is None:
            t0 = t
        i = stage.refresh_index(t, t0, f)
        for component in components:
            component.after(t, i)
        f = i + 1
        if all([component.done(i, f) for component in components]):
            break
    stage.participant.observe(event, event.reinforced)
    row = cs_row(stage, event)
    row["duration"] = ((cs.offset or t) - t0) * stage.speed
    if rating is not None:
        row.update(rating.columns())
    rows = [(t0, row)]
    us = outcome.row(t0)
    if us is not None:
        rows.append(us)
    return Presented(rows, train=outcome.train, us_row=us[1] if us is not None else None)


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
    return Simulated(row, extra, response=(value, us_at))


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
        Row("cs", "a CS presentation (`event_type` CSpr, CSpu or CSm)"),
        Row("us", "the US delivered (USp), omitted (USo) or the matching CS− time (USm)"),
    ),
    markers=(
        Marker("CSpr", 10, "CS onset, CS+ reinforced on this trial"),
        Marker("CSpu", 12, "CS onset, CS+ unreinforced on this trial"),
        Marker("CSm", 14, "CS onset, CS-"),
        Marker("USp", 20, "US onset (shock train start, or sound/image US)"),
        Marker("USo", 22, "omitted US: the time a CS+ US would have come"),
        Marker("USm", 24, "the matching time on a CS- trial"),
        Marker("rating", 30, "rating scale shown"),
        Marker("response", 32, "rating answered"),
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
        cs_duration = read_key(section, KEYS[4])
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
                f"(only in {', '.join(REINFORCED_TYPES)})",
                _counts(reinforced),
            )
        us = ctx.read_phase_us(section, required=bool(reinforced))
        us_onset = _read_us_onset(ctx, section, us, cs_duration, self.name)
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
        swap = _read_swap(ctx, section)
        rating = read_rating(ctx, section, online_cs_duration=cs_duration, required=False)
        return TrialSpec(
            trials=trials,
            reinforced=reinforced,
            cs_duration=cs_duration,
            us=us,
            us_onset=us_onset,
            iti=iti,
            lead_in=read_key(section, LEAD_IN),
            context=ctx.read_context_role(section),
            constraints=constraints,
            orders=tuple(o.path for o in orders),
            swap_roles=swap,
            rating=rating,
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
            c = spec.constraints
            try:
                roles = constrained_order(dict(spec.trials), c.max_run, c.start_with_pair, stream)
            except ScheduleError as error:
                raise ScheduleError(f"phase {phase.name}: {error}") from None
            reinforced = [False] * len(roles)
            for role, n in spec.reinforced.items():
                positions = [i for i, r in enumerate(roles) if r == role]
                chosen = reinforced_positions(
                    len(positions), n, c.first_reinforced, c.spread_reinforced, stream
                )
                for k in chosen:
                    reinforced[positions[k]] = True
            itis = x.itis(spec.iti, len(roles))
        us = x.protocol.us[spec.us] if spec.us else None
        events = []
        for i, (role, hit, iti) in enumerate(zip(roles, reinforced, itis)):
            kind = cs_type(role)
            event_type = ("CSpr" if hit else "CSpu") if kind == "CS+" else "CSm"
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
                    stimulus=roles_to_stimuli[role],
                    reinforced=hit,
                    us=us.name if (hit and us) else None,
                    us_onset=spec.us_onset,
                    us_duration=us.duration if (us and spec.us_onset is not None) else None,
                    event_type=event_type,
                    online_rating=spec.rating is not None,
                )
            )
        return events

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
)
REINFORCED_TYPES = tuple(k.name for k in TRIAL_KINDS if k.reinforced)


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{r}: {n}" for r, n in counts.items() if n) or "none"


def _read_us_onset(
    ctx: ReadContext, section: Section, us: str | None, cs_duration: float, kind: str
) -> float | None:
    if us is not None and kind != "habituation":
        us_spec = ctx.us[us]
        us_onset = read_key(section, KEYS[6], cs_duration - us_spec.duration)
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
    counts = {
        role: counts_section.integer(role, 0, ge=0, le=1000, what="a number of trials")
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


def _read_constraints(
    section: Section, trials: dict[str, int], reinforced: dict[str, int]
) -> Constraints:
    block = section.section("constraints", tuple(k.name for k in CONSTRAINT_KEYS), None)
    default = Constraints(first_reinforced=bool(reinforced))
    if block is None:
        constraints = default
    else:
        constraints = Constraints(
            max_run=read_key(block, CONSTRAINT_KEYS[0]),
            first_reinforced=block.boolean("first_reinforced", default.first_reinforced),
            spread_reinforced=read_key(block, CONSTRAINT_KEYS[2]),
            start_with_pair=read_key(block, CONSTRAINT_KEYS[3]),
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
    if constraints.start_with_pair:
        types = {cs_type(r) for r, n in trials.items() if n}
        if types != {"CS+", "CS-"}:
            assert block is not None
            block.fail(
                "start_with_pair",
                "false (the phase needs both CS+ and CS- trials for a first pair)",
                "true",
            )
    try:  # the search is exhaustive: if it fails for one seed it fails for all
        constrained_order(
            {r: n for r, n in trials.items() if n},
            constraints.max_run,
            constraints.start_with_pair,
            Stream(0),
        )
    except ScheduleError:
        section.fail(
            where,
            f"trial counts that allow an order keeping max_run {constraints.max_run}"
            + (" and starting with a CS+/CS- pair" if constraints.start_with_pair else ""),
            _counts(trials),
        )
    return constraints
