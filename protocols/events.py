"""What a schedule is made of: planned events, the counterbalancing cell, the schedule.

A schedule says everything the runner must do and when; the runner decides nothing the
schedule already says. Onsets are planned, in seconds from the start of the session
(the first counted scanner pulse in the scanner), assuming self-paced screens
(instructions, ratings) take their nominal duration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

#: Kinds of scheduled event.
#:
#: - ``trial``: a CS (possibly reinforced) followed by its ITI;
#: - ``us``: an unsignalled US (reinstatement) followed by its ITI;
#: - ``instructions``: a text screen (advanced by the participant after ``duration``);
#: - ``rating``: a post-phase rating of one CS;
#: - ``wait``: a timed interval with a countdown (and experimenter event keys);
#: - ``rest``: a block that waits (for the scanner, or for ``duration``);
#: - ``script``: narrative audio playback (script-driven imagery);
#: - ``probe``: an acoustic startle probe alone (a ``startle_habituation`` phase);
#: - ``questionnaire``: one questionnaire item (a scale, choices, or a choice of CS pictures).
EVENT_KINDS = (
    "trial",
    "us",
    "instructions",
    "rating",
    "wait",
    "rest",
    "script",
    "probe",
    "questionnaire",
)

#: M-BIDS fear-conditioning labels (bachlab/M-BIDS) used in ``event_type``, and ``GS`` for
#: a generalisation stimulus (which M-BIDS does not name).
EVENT_TYPES = ("CSpr", "CSpu", "CSm", "GS", "USp", "USo", "USm")


@dataclass(frozen=True)
class Event:
    """One planned item of a session.

    Attributes
    ----------
    session : str
        Session label.
    phase : str
        Phase name (the log's ``phase`` column).
    phase_type : str
        The phase's type (habituation, acquisition, ...).
    kind : str
        One of :data:`EVENT_KINDS`.
    index : int
        1-based position among the events of the same kind in the phase (the log's
        ``trial`` column for trials and unsignalled USs).
    onset : float
        Planned onset, seconds from session start.
    duration : float
        Seconds the event lasts (the CS for a trial; the US for ``us``; the nominal or
        minimum duration for the others).
    iti : float
        Seconds from the end of this event (:attr:`span`: a trace-conditioning trial ends
        with its US time) to the next event's onset (fixation).
    cs : str or None
        CS role (``CS+``, ``CS-``, ``CS+R`` ...) for trials and ratings.
    cs_type : str or None
        ``CS+``, ``CS-``, or ``GS`` for a generalisation stimulus.
    stimulus : str or None
        The CS identity playing the role for this participant (e.g. ``blue``).
    reinforced : bool
        True when a US follows (trials) or is the event (``us``).
    us : str or None
        Name of the US delivered (reinforced trials and ``us`` events).
    us_onset : float or None
        Trials: seconds after CS onset when the US is (or, on unreinforced trials, would
        have been) delivered; after ``duration`` in trace conditioning (CS offset + the
        trace interval). None when the phase has no US.
    us_duration : float or None
        Seconds the US lasts.
    context : str or None
        Context stimulus identity shown during the event.
    event_type : str or None
        M-BIDS label of the CS (``CSpr``/``CSpu``/``CSm``) or of an unsignalled US (``USp``).
    online_rating : bool
        True when the phase asks for an expectancy rating during this trial.
    distance : float or None
        Generalisation designs: the trial's distance from the CS+ along the stimulus
        continuum, 0 (CS+) to 1 (CS−), GSk at k / (n + 1). None without GS roles.
    probes : tuple of float
        Seconds after the event's onset when acoustic startle probes sound: a trial's probe
        in its CS (before ``duration``) and a noise-alone probe in its ITI (after it); a
        ``probe`` event's own, 0.
    probe : int or None
        The number of the event's first probe among its phase's probes (1, 2, … in time
        order, probes in CSs and in ITIs alike; the next probe of the event is ``probe +
        1``); None without probes.
    probe_length : float
        Seconds each of its probes lasts (the probe sound's length).
    item : str or None
        Questionnaire events: the item's ``id``.
    choices : tuple of str
        Picture-choice questionnaire items: the CS roles shown, left to right (a seeded
        order per participant, so no role always sits on the same side).
    pictures : tuple of str
        The CS identities playing those roles for this participant, in the same order.
    """

    session: str
    phase: str
    phase_type: str
    kind: str
    index: int
    onset: float
    duration: float
    iti: float = 0.0
    cs: str | None = None
    cs_type: str | None = None
    stimulus: str | None = None
    reinforced: bool = False
    us: str | None = None
    us_onset: float | None = None
    us_duration: float | None = None
    context: str | None = None
    event_type: str | None = None
    online_rating: bool = False
    distance: float | None = None
    probes: tuple[float, ...] = ()
    probe: int | None = None
    probe_length: float = 0.0
    item: str | None = None
    choices: tuple[str, ...] = ()
    pictures: tuple[str, ...] = ()

    @property
    def span(self) -> float:
        """Seconds from onset to the end of the event: its ``duration``, or, for a trial
        whose US time comes after the CS (trace conditioning), the end of the US time
        (on every trial, reinforced or not, so trial types keep one timing)."""
        if self.kind == "trial" and self.us_onset is not None:
            us_end = self.us_onset + (self.us_duration or 0.0)
            if us_end > self.duration + 1e-9:
                return us_end
        return self.duration

    @property
    def outcome_type(self) -> str | None:
        """M-BIDS label of a trial's outcome: ``USp`` delivered, ``USo`` omitted on a CS+,
        ``USm`` the matching time point on a CS-; None when the trial has no US time."""
        if self.kind != "trial" or self.us_onset is None:
            return None
        if self.reinforced:
            return "USp"
        return "USo" if self.cs_type == "CS+" else "USm"


@dataclass(frozen=True)
class Probe:
    """A startle probe of a schedule (:attr:`Schedule.probes`).

    Attributes
    ----------
    phase : str
    number : int
        Its number among the phase's probes (time order).
    trial : int or None
        The trial it falls in; None in an ITI (or a startle habituation phase).
    cs, cs_type, stimulus : str or None
        That trial's role, type and stimulus.
    onset : float
        Planned onset, seconds from session start.
    duration : float
        The probe sound's length, seconds.
    context : str or None
    """

    phase: str
    number: int
    trial: int | None
    cs: str | None
    cs_type: str | None
    stimulus: str | None
    onset: float
    duration: float
    context: str | None = None


@dataclass(frozen=True)
class Cell:
    """A counterbalancing cell: which stimulus plays which role, and which fixed order.

    Attributes
    ----------
    index : int
        0-based cell number (``participant number mod n_cells``).
    n_cells : int
        Number of cells in the protocol's table.
    cs : Mapping[str, str]
        CS role → CS identity.
    contexts : Mapping[str, str]
        Context role → context identity.
    order : int
        0-based index of the fixed order used by phases that list several orders.
    faces : Mapping[str, tuple[str, ...]]
        Generalisation stimuli on a circle (``cs.circle``): GS role → its two CS identities,
        the one k steps clockwise from the CS+ (also its ``cs`` entry) and the one k steps
        the other way; empty otherwise.
    """

    index: int
    n_cells: int
    cs: Mapping[str, str]
    contexts: Mapping[str, str]
    order: int = 0
    faces: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Schedule:
    """The full plan of one participant's session.

    Attributes
    ----------
    study, task : str
        From the protocol.
    protocol_path, protocol_sha256 : str
        Provenance of the protocol file.
    participant : str
        Participant ID as given.
    session : str
        Session label.
    cell : Cell
        Counterbalancing cell.
    seed : int
        The seed that generated this session's orders and ITIs.
    events : tuple of Event
        Every planned event, in order.
    arm : str or None
        The participant's between-subject arm (None without arms, or when blinded).
    """

    study: str
    task: str
    protocol_path: str
    protocol_sha256: str
    participant: str
    session: str
    cell: Cell
    seed: int
    events: tuple[Event, ...]
    arm: str | None = None

    @property
    def duration(self) -> float:
        """Planned seconds from session start to the end of the last event's ITI."""
        if not self.events:
            return 0.0
        last = self.events[-1]
        return last.onset + last.span + last.iti

    @property
    def trials(self) -> tuple[Event, ...]:
        """The CS trials, in order."""
        return tuple(e for e in self.events if e.kind == "trial")

    @property
    def probes(self) -> tuple[Probe, ...]:
        """Every startle probe, in time order: in a CS (with its trial) or alone (an ITI's,
        or a ``probe`` event's)."""
        out = []
        for e in self.events:
            for k, at in enumerate(e.probes):
                inside = e.kind == "trial" and at < e.duration
                out.append(
                    Probe(
                        e.phase,
                        (e.probe or 0) + k,
                        e.index if inside else None,
                        e.cs if inside else None,
                        e.cs_type if inside else None,
                        e.stimulus if inside else None,
                        round(e.onset + at, 3),
                        e.probe_length,
                        e.context,
                    )
                )
        return tuple(out)

    def phase_events(self, phase: str) -> tuple[Event, ...]:
        """The events of one phase, in order."""
        return tuple(e for e in self.events if e.phase == phase)
