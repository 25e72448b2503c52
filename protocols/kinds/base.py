"""What a phase kind is, and what it is given: the contract every kind module fulfils.

A phase kind (:class:`Kind`) declares its keys, reads its frozen spec, expands a phase
into scheduled events, counts its shocks and names the files it needs. The events it
schedules are of event kinds (:class:`EventKind`), each presented by exactly one module:
an event kind names its log rows and marker codes and presents itself through an injected
:class:`Stage` (the run loop's frame stepping, keys, markers and rows), so no kind imports
the task package.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from pavlov.protocols.kinds.keys import Key
from pavlov.protocols.model import FileNeed

if typing.TYPE_CHECKING:
    from pathlib import Path

    from pavlov.common.yamlio import Node
    from pavlov.protocols.events import Cell, Event
    from pavlov.protocols.kinds.screen import Scene
    from pavlov.protocols.model import (
        ITISpec,
        Phase,
        PhaseSpec,
        Protocol,
        RatingSpec,
        ScannerSpec,
        Source,
        StimulusSpec,
        USSpec,
    )
    from pavlov.protocols.randomize import Stream
    from pavlov.protocols.reader import Section

__all__ = [
    "EventKind",
    "FileNeed",
    "Kind",
    "Marker",
    "Participant",
    "Presented",
    "ReadContext",
    "Row",
    "Stage",
    "base_row",
]


def base_row(event: Event, trial_type: str) -> dict[str, object]:
    """The columns every row of an event has."""
    return {
        "trial_type": trial_type,
        "phase": event.phase,
        "phase_type": event.phase_type,
        "trial": event.index,
        "context": event.context,
        "iti": event.iti if trial_type in ("cs", "us") else None,
    }


@dataclass(frozen=True)
class Row:
    """A ``trial_type`` of the events log, as ``task/LOG.md`` lists it."""

    trial_type: str
    doc: str


@dataclass(frozen=True)
class Marker:
    """A marker event name and its default code (1–255, even: bit 0 is the shock line)."""

    name: str
    code: int
    doc: str


# -- reading ---------------------------------------------------------------------------


class ReadContext(typing.Protocol):
    """What the loader offers a kind's reader: the protocol read so far and shared readers."""

    @property
    def shown(self) -> str:
        """The protocol file as messages show it."""
        ...

    @property
    def folder(self) -> Path:
        """The protocol's folder (files are resolved beside it first)."""
        ...

    @property
    def cs_roles(self) -> tuple[str, ...]:
        """The protocol's CS roles."""
        ...

    @property
    def cs(self) -> Mapping[str, StimulusSpec]:
        """The protocol's CS identities by name."""
        ...

    @property
    def us(self) -> Mapping[str, USSpec]:
        """The protocol's USs by name."""
        ...

    @property
    def scanner(self) -> ScannerSpec | None:
        """The protocol's scanner block, if any."""
        ...

    def source(self, line: int) -> Source:
        """The protocol file's ``Source`` at ``line``."""
        ...

    def read_file(self, section: Section, name: str, kind: str, template: bool = False) -> str:
        """Resolve and check an image or sound file."""
        ...

    def read_iti(
        self, section: Section, name: str, default: object = ..., n_events: int | None = None
    ) -> ITISpec | None:
        """Read an ITI key."""
        ...

    def read_context_role(self, section: Section) -> str | None:
        """Read the ``context`` key."""
        ...

    def read_phase_us(self, section: Section, required: bool) -> str | None:
        """Read the ``us`` key (the only US when absent)."""
        ...

    def check_role(self, section: Section, node: Node, key: str) -> str:
        """Check a node names a CS role."""
        ...

    def warn(self, section: Section, name: str, text: str) -> None:
        """Record a warning about key ``name`` of ``section`` (loading goes on)."""
        ...


# -- presenting ------------------------------------------------------------------------


class RatingAnswer(typing.Protocol):
    """A rating given (see :class:`pavlov.task.responder.Answer`)."""

    value: float
    time: float


class RatingProgress(typing.Protocol):
    """Where a rating stands this frame (see :class:`pavlov.task.responder.RatingState`)."""

    @property
    def answer(self) -> typing.Any: ...

    @property
    def pending(self) -> typing.Any: ...

    @property
    def marker(self) -> float | None: ...


class Participant(typing.Protocol):
    """The participant as a kind sees it (real keys, or a simulated participant)."""

    def start_rating(self, event: Event, spec: RatingSpec, onset: float) -> None:
        """A scale for ``event`` appeared at clock time ``onset``."""
        ...

    def poll_rating(self, now: float, keys: Sequence[tuple[str, float]]) -> RatingProgress:
        """The rating's state at clock time ``now``."""
        ...

    def ready(self, now: float, keys: Sequence[tuple[str, float]], shown: float) -> bool:
        """True when the participant asks to leave a screen shown at ``shown``."""
        ...

    def observe(self, event: Event, us_delivered: bool) -> None:
        """The trial (or unsignalled US) ``event`` ended."""
        ...


class Stage(typing.Protocol):
    """What the run loop gives a kind that presents an event.

    Times are clock seconds unless a name says log seconds; ``speed`` divides every
    protocol duration. ``frame`` draws, flips, polls keys (``keys``) and scanner pulses,
    and raises when the experimenter presses Escape.
    """

    protocol: Protocol
    speed: float
    period: float
    keys: list[tuple[str, float]]
    pulses: int
    scanning: bool

    @property
    def participant(self) -> Participant:
        """The participant (real keys, or simulated)."""
        ...

    def frame(self, scene: Scene) -> float:
        """Draw ``scene``, flip, poll keys; return the flip's clock time."""
        ...

    def frames(self, seconds: float | None, minimum: int = 0) -> int:
        """Refreshes that ``seconds`` of protocol time last."""
        ...

    def refresh_index(self, t: float, t0: float, f: int) -> int:
        """Index of the refresh a flip at ``t`` showed, counting from ``t0``."""
        ...

    def to_log(self, t: float) -> float:
        """Clock time → log time."""
        ...

    def to_clock(self, planned: float) -> float:
        """Log time → clock time."""
        ...

    def mark(self, name: str, label: str, on_flip: bool = True) -> None:
        """Send the marker ``name`` (after the next flip by default)."""
        ...

    def on_flip(self, function: Callable[..., object], *args: object) -> None:
        """Call ``function(*args)`` right after the next flip."""
        ...

    def play_sound(self, sound: str) -> None:
        """Start a loaded sound now."""
        ...

    def stop(self, sound: str) -> None:
        """Stop a sound."""
        ...

    def start_us(self, event: Event, label: str, planned: float | None = None) -> str | None:
        """Start ``event``'s US on the next flip; return the train label for a shock.

        ``planned`` is the clock time of the flip the US was scheduled on (None: the next
        flip). The guard's window is counted from it, so a loop that reaches the US late
        (a stall before the US flip) cannot carry the shock with it past the window.
        """
        ...

    def stim_file(self, kind: str, name: str | None) -> str | None:
        """The ``stim_file`` of a CS (``cs``) or US (``us``)."""
        ...

    def script(self, phase: str) -> tuple[str | None, str | None]:
        """A script phase's sound key and ``stim_file`` (None, None without the file)."""
        ...

    def note(self, t: float, row: dict[str, object]) -> None:
        """Log a row that is not an event's own (an experimenter key) at clock time ``t``."""
        ...

    def message(self, text: str) -> None:
        """Tell the experimenter."""
        ...

    def tick(self, note: str = "") -> None:
        """Refresh the experimenter's console (rate-limited)."""
        ...

    def rated(self, event: Event, value: float | None) -> None:
        """Count a rating window for the console."""
        ...


@dataclass
class Presented:
    """What presenting an event produced.

    Attributes
    ----------
    rows : list of (float, dict)
        Its log rows with their clock times, the event's own row first.
    train : str or None
        The label of a shock train started, whose report completes ``us_row``.
    us_row : dict or None
        The row the train's pulse times go into.
    end : float or None
        For self-paced events, the clock time they really ended (later events move by
        the overrun); None when the event kept its planned duration.
    then : callable or None
        What the event still presents once it is complete (a trial's ITI startle
        probes): the run loop queues ``rows`` for writing first, so that a completed
        event is never held back from the disk by what follows it, then calls
        ``then()``, which returns the rows of what it presented (logged after them).
    """

    rows: list[tuple[float, dict[str, object]]]
    train: str | None = None
    us_row: dict[str, object] | None = None
    end: float | None = None
    then: Callable[[], list[tuple[float, dict[str, object]]]] | None = None


# -- simulating ------------------------------------------------------------------------


class Learner(typing.Protocol):
    """A simulated participant (see :class:`pavlov.task.simulated_participant.SimulatedParticipant`)."""

    def enter(self, event: Event) -> None:
        """A trial (or unsignalled US) begins."""
        ...

    def value(self, stimulus: str | None) -> float:
        """The learnt expectation of the US for a CS identity."""
        ...

    def observe(self, event: Event, us_delivered: bool) -> None:
        """The trial ended, with or without a US."""
        ...

    def rate(self, event: Event, spec: RatingSpec) -> tuple[float | None, float]:
        """The rating given and its response time (None: missed)."""
        ...

    def continue_after(self) -> float:
        """Seconds the participant takes to continue past an instruction screen."""
        ...


class Rehearsal(typing.Protocol):
    """What ``pavlov simulate`` gives a kind that simulates an event without a display:
    every screen lasts its planned time on a 60-Hz display, the participant is a learner."""

    @property
    def protocol(self) -> Protocol:
        """The protocol."""
        ...

    @property
    def scanner(self) -> ScannerSpec | None:
        """The scanner, in a scanner session."""
        ...

    @property
    def learner(self) -> Learner:
        """The simulated participant."""
        ...

    def stim_file(self, kind: str, name: str | None) -> str | None:
        """The ``stim_file`` of a CS (``cs``) or US (``us``)."""
        ...

    def script(self, phase: str) -> tuple[str | None, str | None]:
        """A script phase's sound key and ``stim_file``."""
        ...

    def shock(self, us_row: dict[str, object], name: str | None, onset: float) -> None:
        """Fill a shock US row with the train's pulse times, as a delivered train reports."""
        ...


@dataclass
class Simulated:
    """What simulating an event produced.

    Attributes
    ----------
    row : dict
        The event's own row (``onset`` is filled in by the caller unless set).
    extra : list of dict
        Its other rows (a trial's ``us`` row), with their onsets.
    end : float or None
        Self-paced events: the log time they ended.
    onset : float or None
        When the event really started, if not at its planned onset (a pulse-paced rest).
    response : tuple of (float, float or None), optional
        For the simulated physiology: the learner's expectation at onset and the log time
        of a delivered US.
    probes : list of (float, float)
        For the simulated blink EMG: each startle probe's log time and the learner's
        expectation of the US then.
    """

    row: dict[str, object]
    extra: list[dict[str, object]] = field(default_factory=list)
    end: float | None = None
    onset: float | None = None
    response: tuple[float, float | None] | None = None
    probes: list[tuple[float, float]] = field(default_factory=list)


def simulate_fixed(trial_type: str) -> Callable[[Rehearsal, Event, float], Simulated]:
    """The simulation of an event that simply lasts its planned duration."""

    def simulate(sim: Rehearsal, event: Event, onset: float) -> Simulated:
        row = base_row(event, trial_type)
        row.update(duration=event.duration)
        return Simulated(row)

    return simulate


# -- kinds -----------------------------------------------------------------------------


@dataclass(frozen=True)
class EventKind:
    """A kind of scheduled event, presented by one module.

    Attributes
    ----------
    name : str
        The event's ``kind`` (``trial``, ``wait``, ...).
    row : str
        The ``trial_type`` of the row that stands for the event in the log.
    rows : tuple of Row
        Every ``trial_type`` the event writes, with its documentation.
    markers : tuple of Marker
        The marker events it sends, with default codes.
    present : callable
        ``present(stage, event, planned) -> Presented``.
    counts_as_trial : bool
        A trial in the console's count (CS trials and unsignalled USs).
    needs_rows : callable
        ``needs_rows(event) -> trial types`` that must all be logged for the event to be
        done (resume); the main row by default.
    describe_event : callable
        ``describe_event(event) -> str``: one line for the experimenter's console
        (``<kind> <index>`` by default).
    simulate : callable
        ``simulate(rehearsal, event, onset) -> Simulated``: the rows the event would log
        with a simulated participant and no display (``pavlov simulate``); the event
        lasting its planned duration when None.
    key_column : str
        The log column that holds the event's ``index`` on its rows (``trial``; a probe,
        whose ``trial`` is the trial it falls in or ``n/a``, has its number in ``value``):
        with ``phase`` and ``trial_type`` it finds the event's rows when resuming.
    """

    name: str
    row: str
    rows: tuple[Row, ...]
    markers: tuple[Marker, ...]
    present: Callable[[Stage, Event, float], Presented]
    counts_as_trial: bool = False
    needs_rows: Callable[[Event], tuple[str, ...]] | None = None
    describe_event: Callable[[Event], str] | None = None
    simulate: Callable[[Rehearsal, Event, float], Simulated] | None = None
    key_column: str = "trial"

    def rehearse(self, sim: Rehearsal, event: Event, onset: float) -> Simulated:
        """Simulate ``event`` (see ``simulate``)."""
        return (self.simulate or simulate_fixed(self.row))(sim, event, onset)

    def done_rows(self, event: Event) -> tuple[str, ...]:
        """The ``trial_type`` of every row a complete ``event`` has in the log."""
        return self.needs_rows(event) if self.needs_rows is not None else (self.row,)

    def describe(self, event: Event) -> str:
        """One line for the experimenter's console."""
        if self.describe_event is not None:
            return self.describe_event(event)
        return f"{event.kind} {event.index}"


#: Decimal places kept for generated ITIs and onsets (1 ms).
PRECISION = 3

#: The refresh period a rehearsal without a display assumes (60 Hz).
REHEARSAL_FRAME = 1.0 / 60.0


@dataclass(frozen=True)
class Expansion:
    """What a kind needs to expand a phase into events.

    Attributes
    ----------
    protocol : Protocol
    session : str
        The session's name.
    cell : Cell
        The participant's counterbalancing cell.
    stream : Stream
        The phase's own random stream.
    base : Mapping[str, object]
        The fields every event of the phase shares (session, phase, phase_type, context).
    """

    protocol: Protocol
    session: str
    cell: Cell
    stream: Stream
    base: Mapping[str, typing.Any] = field(default_factory=dict)

    def itis(self, spec: ITISpec | None, n: int) -> list[float]:
        """Draw ``n`` ITIs as ``spec`` says, from the phase's stream."""
        if spec is None:
            return [0.0] * n
        if spec.kind == "fixed":
            return [spec.values[0]] * n
        if spec.kind == "sequence":
            return list(spec.values[:n])
        stream = self.stream
        if spec.kind == "choice":
            return [spec.values[stream.below(len(spec.values))] for _ in range(n)]
        if spec.kind == "uniform":
            low, high = spec.values
            return [round(stream.uniform(low, high), PRECISION) for _ in range(n)]
        first, last = (int(v) for v in spec.values)  # trs: whole TRs
        tr = spec.tr or 0.0
        return [round((first + stream.below(last - first + 1)) * tr, PRECISION) for _ in range(n)]


class Kind:
    """A phase kind. Subclasses set the class attributes and override what they have.

    Attributes
    ----------
    name : str
        The phase ``type`` in protocol files.
    doc : str
        One line for the README.
    keys : tuple of Key
        Every key a phase of this kind accepts besides ``type`` (``instructions``
        included when the kind shows instructions before it).
    event_kinds : tuple of EventKind
        The event kinds this module presents.
    reinforced : bool
        True when its trials may be reinforced.
    instructions_first : bool
        The phase's ``instructions:`` are a screen before it (a wait or rest shows them
        as its own text instead).
    instructions_key : str
        The key holding the phase's instructions (``text`` for an instruction screen,
        where it is required).
    """

    name: str = ""
    doc: str = ""
    keys: tuple[Key, ...] = ()
    event_kinds: tuple[EventKind, ...] = ()
    reinforced: bool = False
    instructions_first: bool = True
    instructions_key: str = "instructions"

    def read(self, ctx: ReadContext, section: Section, instructions: str | None) -> PhaseSpec:
        """Read and check the kind's keys from a phase mapping (whose ``instructions``, if
        any, the loader has read); return its frozen spec."""
        raise NotImplementedError

    def expand(self, phase: Phase, x: Expansion) -> list[Event]:
        """The phase's events, each with ``onset`` = the gap before it (0 or a lead-in)."""
        raise NotImplementedError

    def context(self, phase: Phase) -> str | None:
        """The phase's context role, if it has one."""
        role = getattr(phase.spec, "context", None)
        return role if isinstance(role, str) else None

    def orders(self, phase: Phase) -> tuple[str, ...]:
        """The phase's fixed order files (the counterbalancing cell picks one)."""
        orders = getattr(phase.spec, "orders", ())
        return tuple(orders)

    def shocks(self, phase: Phase, us: Mapping[str, USSpec]) -> int:
        """Shock USs one run of the phase delivers (for ``safety.max_shocks``)."""
        return 0

    def files(self, phase: Phase) -> tuple[FileNeed, ...]:
        """Files the phase itself needs (a script), beyond the protocol's CS and US files."""
        return ()

    def scanner_locked(self, phase: Phase) -> bool:
        """True when the phase needs a scanner session (TR-locked ITIs, pulse starts)."""
        return getattr(getattr(phase.spec, "iti", None), "kind", None) == "trs"

    def used_keys(self, phase: Phase) -> tuple[str, ...]:
        """Keyboard keys the phase listens to (a scanner pulse key must not be one)."""
        rating = phase.rating
        return rating.keys if rating is not None else ()

    def scales(self, phase: Phase) -> tuple[RatingSpec, ...]:
        """Every rating scale the phase shows (displays prepare them)."""
        rating = phase.rating
        return (rating,) if rating is not None else ()

    def texts(self, phase: Phase) -> tuple[str, ...]:
        """Every text the phase puts on the participant's screen (displays prepare them)."""
        return (phase.instructions,) if phase.instructions else ()
