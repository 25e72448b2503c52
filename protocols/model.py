"""The validated content of a protocol file, as frozen dataclasses.

Nothing here reads files or checks values: :mod:`pavlov.protocols.loader` builds these
objects only after every check has passed, so any instance is a valid protocol.
Every object remembers the file and line it came from (``source``), so later stages
(scheduling, stimulus resolution) report problems in the user's file.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

CS_KINDS = ("image", "shape", "text", "sound")
US_KINDS = ("shock", "sound", "image")
SHAPES = ("square", "circle", "triangle", "diamond")
ITI_KINDS = ("fixed", "uniform", "choice", "sequence", "trs")
RATING_INPUTS = ("keys", "slider")


@dataclass(frozen=True)
class Source:
    """Where a value came from: the protocol file and the 1-based line."""

    file: str
    line: int


@dataclass(frozen=True)
class StimulusSpec:
    """One physical stimulus: a CS identity or a context background.

    Attributes
    ----------
    name : str
        The identity's name in the protocol (e.g. ``blue``).
    kind : str
        One of :data:`CS_KINDS` (contexts use ``image`` or ``shape`` with ``square``).
    file : str or None
        Absolute path of the image or sound file (``image`` and ``sound`` kinds).
    shape, color, text : str or None
        For ``shape`` (shape and colour) and ``text`` (text and colour) kinds.
    size : float
        Height of the stimulus as a fraction of the screen height.
    """

    name: str
    kind: str
    source: Source
    file: str | None = None
    shape: str | None = None
    color: str | None = None
    text: str | None = None
    size: float = 0.4


@dataclass(frozen=True)
class PulseTrain:
    """A shock as the stimulator receives it: ``count`` TTL pulses, onset to onset ``interval``.

    All values are in seconds.
    """

    pulse_width: float
    interval: float
    count: int

    @property
    def duration(self) -> float:
        """Seconds from the first rising edge to the last falling edge."""
        return (self.count - 1) * self.interval + self.pulse_width


@dataclass(frozen=True)
class USSpec:
    """An unconditioned stimulus.

    Attributes
    ----------
    name : str
        Its name in the protocol (e.g. ``shock``).
    kind : str
        One of :data:`US_KINDS`.
    duration : float
        Seconds the US lasts (for a shock, at least the train's duration).
    train : PulseTrain or None
        For shocks.
    file : str or None
        Absolute path of the sound or image file.
    volume : float
        For sounds, 0–1.
    """

    name: str
    kind: str
    duration: float
    source: Source
    train: PulseTrain | None = None
    file: str | None = None
    volume: float = 1.0


@dataclass(frozen=True)
class ITISpec:
    """How inter-trial intervals are drawn.

    ``kind`` is one of :data:`ITI_KINDS`:

    - ``fixed``: ``values == (seconds,)``;
    - ``uniform``: ``values == (low, high)``, seconds, drawn uniformly;
    - ``choice``: each ITI drawn from ``values`` with equal probability;
    - ``sequence``: ``values`` used in order, one per trial;
    - ``trs``: ``values == (low, high)`` whole numbers of TRs, drawn uniformly, times ``tr``.
    """

    kind: str
    values: tuple[float, ...]
    tr: float | None = None


@dataclass(frozen=True)
class RatingSpec:
    """An expectancy (or CS) rating.

    Attributes
    ----------
    question : str
        Text shown above the scale.
    low, high : int
        Ends of the scale (inclusive).
    anchors : tuple of str
        Labels of the low and high ends.
    input : str
        ``keys`` (number keys ``keys``) or ``slider`` (mouse slider).
    keys : tuple of str
        Keys mapped to ``low..high`` in order (``keys`` input).
    onset : float
        Online ratings: seconds after CS onset the scale appears.
    window : float
        Seconds the participant has to answer; an unanswered rating is logged ``n/a``.
    feared_end : str
        ``high`` or ``low``: the end a feared CS is rated towards (``low`` for a valence
        scale whose low end is unpleasant); the simulated participant answers by it.
    """

    question: str
    low: int
    high: int
    anchors: tuple[str, str]
    input: str
    keys: tuple[str, ...]
    onset: float
    window: float
    source: Source
    feared_end: str = "high"


@dataclass(frozen=True)
class PhaseSpec:
    """What a phase of one kind says beyond its name and type: each kind module
    (:mod:`pavlov.protocols.kinds`) defines a frozen subclass with its own fields."""


class FileNeed(typing.NamedTuple):
    """A file a phase needs: its protocol key, ``image`` or ``sound``, the path as written
    (``{participant}`` is replaced per participant), the longest it may play (s), and the
    volume a sound plays at (0–1)."""

    key: str
    kind: str
    template: str
    longest: float | None = None
    volume: float = 1.0


@dataclass(frozen=True)
class Phase:
    """One phase of a session.

    Attributes
    ----------
    name : str
        Unique name, used as the ``phase`` column of the log.
    type : str
        The phase kind (:data:`pavlov.protocols.kinds.PHASE_TYPES`).
    source : Source
        Where the phase is defined.
    instructions : str or None
        Text shown before the phase starts; ``instructions`` phases show only this.
    spec : PhaseSpec
        The kind's own settings (e.g. :class:`pavlov.protocols.kinds.trial.TrialSpec`).
    files : tuple of FileNeed
        Files the phase itself needs (a script), as its kind names them; the loader fills
        it so that the stimulus check, a room below, need not know the kinds.
    """

    name: str
    type: str
    source: Source
    instructions: str | None = None
    spec: PhaseSpec = field(default_factory=PhaseSpec)
    files: tuple[FileNeed, ...] = ()

    @property
    def rating(self) -> RatingSpec | None:
        """The rating the phase asks for (online, on every trial, or post-phase), if any."""
        rating = getattr(self.spec, "rating", None)
        return rating if isinstance(rating, RatingSpec) else None


@dataclass(frozen=True)
class SessionSpec:
    """A visit (day): an ordered list of phase names.

    Attributes
    ----------
    name : str
        BIDS session label (letters and digits), e.g. ``day1``.
    day : int
        Days after the first session (0 for the first).
    phases : tuple of str
        Phase names in the order they run.
    scanner : bool
        Whether the session runs in the scanner (needs a ``scanner`` block).
    """

    name: str
    day: int
    phases: tuple[str, ...]
    scanner: bool
    source: Source


@dataclass(frozen=True)
class ScannerSpec:
    """Scanner settings. ``sync`` is a trigger spec such as ``key:5``."""

    tr: float
    dummy_volumes: int
    sync: str
    timeout: float
    source: Source


@dataclass(frozen=True)
class SafetyCaps:
    """Hard limits, enforced when loading and again in the device layer.

    Attributes
    ----------
    max_shocks : int
        Most shock USs one session may deliver.
    max_train_duration : float
        Longest allowed pulse train, seconds.
    """

    max_shocks: int
    max_train_duration: float
    source: Source


@dataclass(frozen=True)
class CalibrationSpec:
    """The shock work-up (field.md §3.8): an experimenter-driven ascending series.

    Attributes
    ----------
    scale : tuple of int
        Rating scale the participant uses for each test shock, e.g. ``(1, 10)``.
    target : int
        Rating at which the work-up stops.
    target_text : str
        The target's wording, shown to the experimenter and stored with the record.
    start_ma, step_ma, ceiling_ma : float
        Suggested dial settings in mA: first step, increment, and the highest allowed.
    max_steps : int
        Most test shocks in one work-up.
    """

    scale: tuple[int, int]
    target: int
    target_text: str
    start_ma: float
    step_ma: float
    ceiling_ma: float
    max_steps: int
    source: Source


@dataclass(frozen=True)
class Counterbalancing:
    """Which factors are counterbalanced across participants.

    ``cs`` and ``contexts`` are ``permute`` (every assignment of stimuli to roles is a
    cell) or ``fixed`` (the n-th listed stimulus plays the n-th role for everyone).
    """

    cs: str = "permute"
    contexts: str = "permute"


@dataclass(frozen=True)
class ArmSpec:
    """A between-subject arm (group): a named variant of the protocol's sessions.

    Attributes
    ----------
    name : str
        The arm's name (the ``arm`` and ``group`` columns of ``participants.tsv``).
    description : str or None
        One line saying what the arm does (shown by ``pavlov schedule --counterbalancing``).
    replace : Mapping[str, str]
        Phase name → the phase this arm runs in its place, in every session.
    omit : tuple of str
        Phases this arm leaves out, and sessions it does not have.
    sessions : tuple of SessionSpec
        The arm's sessions after ``omit`` and ``replace`` (same names and days).
    """

    name: str
    description: str | None
    replace: Mapping[str, str]
    omit: tuple[str, ...]
    sessions: tuple[SessionSpec, ...]
    source: Source


@dataclass(frozen=True)
class Protocol:
    """A validated protocol file.

    Attributes
    ----------
    path : str
        Absolute path of the file.
    sha256 : str
        Hex digest of the file's bytes (logged with every session).
    text : str
        The file's text (copied into every session's sidecar).
    study : str
        Free-text study label.
    task : str
        BIDS task label (letters and digits).
    seed : int
        Study seed; every participant's orders derive from it and the participant ID.
    cs_roles : tuple of str
        Roles such as ``CS+``, ``CS-``, ``CS+R``; a role starting ``CS+`` may be reinforced.
    cs : Mapping[str, StimulusSpec]
        CS identities, in file order; counterbalancing assigns them to roles.
    us : Mapping[str, USSpec]
        USs by name.
    context_roles : tuple of str
        Context roles such as ``A``, ``B``.
    contexts : Mapping[str, StimulusSpec]
        Context backgrounds, assigned to context roles by counterbalancing.
    counterbalancing : Counterbalancing
    phases : Mapping[str, Phase]
        All phases by name, in file order.
    sessions : tuple of SessionSpec
        Sessions in order.
    scanner : ScannerSpec or None
    safety : SafetyCaps or None
        Required when any US is a shock.
    calibration : CalibrationSpec or None
        The shock work-up; a default one is used when a shock protocol gives none.
    authors : tuple of str
        Authors of the study (``Authors`` of the BIDS dataset), optional.
    license : str or None
        Licence of the data (``License`` of the BIDS dataset), optional.
    warnings : tuple of str
        What the file allows but a study rarely means (a rating window open past the US),
        one line each (``file:line: key.path: warning: ...``); ``pavlov validate``,
        ``schedule`` and ``run`` print them on stderr and carry on.
    arms : Mapping[str, ArmSpec]
        Between-subject arms by name, in file order (empty: one group).
    arm : str or None
        The arm whose sessions ``sessions`` holds (:meth:`for_arm`); None for the
        protocol as written (or an arm kept blinded).
    blinded : bool
        True for a participant whose arm is kept hidden (:meth:`blind`).
    cs_circle : bool
        The generalisation stimuli lie on a circle (``cs.circle``): ``cs`` lists them around
        it from the CS+, and each ``GSk`` has two stimuli, k steps either side of the CS+.
    """

    path: str
    sha256: str
    text: str
    study: str
    task: str
    seed: int
    cs_roles: tuple[str, ...]
    cs: Mapping[str, StimulusSpec]
    us: Mapping[str, USSpec]
    context_roles: tuple[str, ...]
    contexts: Mapping[str, StimulusSpec]
    counterbalancing: Counterbalancing
    phases: Mapping[str, Phase]
    sessions: tuple[SessionSpec, ...]
    scanner: ScannerSpec | None
    safety: SafetyCaps | None
    calibration: CalibrationSpec | None = None
    authors: tuple[str, ...] = ()
    license: str | None = None
    warnings: tuple[str, ...] = ()
    arms: Mapping[str, ArmSpec] = field(default_factory=lambda: MappingProxyType({}))
    arm: str | None = None
    blinded: bool = False
    cs_circle: bool = False

    def blind(self) -> Protocol:
        """The protocol for a participant whose arm is hidden (a blinded code list): the
        sessions every arm shares.

        Raises
        ------
        ValueError
            If two arms run different sessions (then the arm could not stay hidden from the
            experimenter anyway); the message names them.
        """
        arms = list(self.arms.values())
        for arm in arms[1:]:
            if arm.sessions != arms[0].sessions:
                raise ValueError(
                    f"arms {arms[0].name} and {arm.name} run different sessions, so the arm "
                    "cannot stay hidden; give --arm instead"
                )
        sessions = arms[0].sessions if arms else self.sessions
        return replace(self, sessions=sessions, arm=None, blinded=True)

    def for_arm(self, name: str) -> Protocol:
        """The protocol as participants of arm ``name`` run it (its sessions in place of
        the file's).

        Raises
        ------
        KeyError
            If the protocol has no such arm.
        """
        return replace(self, sessions=self.arms[name].sessions, arm=name)

    def session(self, name: str | None = None) -> SessionSpec:
        """Return the session called ``name`` (the first session when None).

        Raises
        ------
        KeyError
            If no session has that name.
        """
        if name is None:
            return self.sessions[0]
        for spec in self.sessions:
            if spec.name == name:
                return spec
        raise KeyError(name)


#: A generalisation-stimulus role: ``GS1`` ... ``GSn``, the number being the stimulus's
#: position on the continuum counted from the CS+ end.
GS_ROLE = r"GS[1-9][0-9]*"

#: The ``cs_type`` (and ``event_type``) of a generalisation stimulus.
GS_TYPE = "GS"


def is_gs(role: str) -> bool:
    """True for a generalisation-stimulus role (``GS1`` ... ``GSn``)."""
    return re.fullmatch(GS_ROLE, role) is not None


def cs_type(role: str) -> str:
    """Return ``CS+`` for a reinforceable role (``CS+``, ``CS+R``, ...), ``GS`` for a
    generalisation stimulus (``GS1`` ... ``GSn``) and ``CS-`` otherwise."""
    if role.startswith("CS+"):
        return "CS+"
    return GS_TYPE if is_gs(role) else "CS-"


def continuum(roles: Sequence[str]) -> tuple[str, ...] | None:
    """The roles of a generalisation design in continuum order, or None without GS roles.

    The continuum runs from the CS+ (position 0) through ``GS1`` ... ``GSn`` to the CS−
    (position n + 1); the loader has checked the roles are exactly these.
    """
    gs = sorted((r for r in roles if is_gs(r)), key=lambda r: int(r[2:]))
    if not gs:
        return None
    plus = [r for r in roles if cs_type(r) == "CS+"]
    minus = [r for r in roles if cs_type(r) == "CS-"]
    return (*plus, *gs, *minus)


def continuum_distance(roles: Sequence[str], role: str) -> float | None:
    """A role's distance from the CS+ along the continuum, 0 (CS+) to 1 (CS−); None when
    the protocol has no GS roles or ``role`` is not on the continuum."""
    order = continuum(roles)
    if order is None or role not in order:
        return None
    return order.index(role) / (len(order) - 1)
