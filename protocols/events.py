"""What a schedule is made of: planned events, the counterbalancing cell, the schedule.

A schedule says everything the runner must do and when; the runner decides nothing the
schedule already says. Onsets are planned, in seconds from the start of the session
(the first counted scanner pulse in the scanner), assuming self-paced screens
(instructions, ratings) take their nominal duration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

#: Kinds of scheduled event.
#:
#: - ``trial``: a CS (possibly reinforced) followed by its ITI;
#: - ``us``: an unsignalled US (reinstatement) followed by its ITI;
#: - ``instructions``: a text screen (advanced by the participant after ``duration``);
#: - ``rating``: a post-phase rating of one CS;
#: - ``wait``: a timed interval with a countdown (and experimenter event keys);
#: - ``rest``: a block that waits (for the scanner, or for ``duration``);
#: - ``script``: narrative audio playback (script-driven imagery).
EVENT_KINDS = ("trial", "us", "instructions", "rating", "wait", "rest", "script")

#: M-BIDS fear-conditioning labels (bachlab/M-BIDS) used in ``event_type``.
EVENT_TYPES = ("CSpr", "CSpu", "CSm", "USp", "USo", "USm")


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
        Seconds from the end of this event to the next event's onset (fixation).
    cs : str or None
        CS role (``CS+``, ``CS-``, ``CS+R`` ...) for trials and ratings.
    cs_type : str or None
        ``CS+`` or ``CS-``.
    stimulus : str or None
        The CS identity playing the role for this participant (e.g. ``blue``).
    reinforced : bool
        True when a US follows (trials) or is the event (``us``).
    us : str or None
        Name of the US delivered (reinforced trials and ``us`` events).
    us_onset : float or None
        Trials: seconds after CS onset when the US is (or, on unreinforced trials, would
        have been) delivered. None when the phase has no US.
    us_duration : float or None
        Seconds the US lasts.
    context : str or None
        Context stimulus identity shown during the event.
    event_type : str or None
        M-BIDS label of the CS (``CSpr``/``CSpu``/``CSm``) or of an unsignalled US (``USp``).
    online_rating : bool
        True when the phase asks for an expectancy rating during this trial.
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
    """

    index: int
    n_cells: int
    cs: Mapping[str, str]
    contexts: Mapping[str, str]
    order: int = 0


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

    @property
    def duration(self) -> float:
        """Planned seconds from session start to the end of the last event's ITI."""
        if not self.events:
            return 0.0
        last = self.events[-1]
        return last.onset + last.duration + last.iti

    @property
    def trials(self) -> tuple[Event, ...]:
        """The CS trials, in order."""
        return tuple(e for e in self.events if e.kind == "trial")

    def phase_events(self, phase: str) -> tuple[Event, ...]:
        """The events of one phase, in order."""
        return tuple(e for e in self.events if e.phase == phase)
