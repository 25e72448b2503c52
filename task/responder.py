"""Who answers ratings and moves past instruction screens: the ``Responder`` interface.

The run loop asks a responder, frame by frame, for rating answers and for the "continue"
press on instruction screens, and tells it what happened on each trial. The real
participant (:class:`ParticipantResponder`) reads keys and the mouse through the display;
:class:`pavlov.task.simulated_participant.SimulatedParticipant` answers from a learning
model. Times are clock seconds.
"""

from __future__ import annotations

import typing
from collections.abc import Sequence
from dataclasses import dataclass

if typing.TYPE_CHECKING:
    from pavlov.protocols.events import Event
    from pavlov.protocols.model import RatingSpec
    from pavlov.task.display import Display

__all__ = [
    "CONFIRM_KEYS",
    "CONTINUE_KEY",
    "Answer",
    "ParticipantResponder",
    "RatingState",
    "Responder",
]

#: Key the participant presses to leave an instruction screen.
CONTINUE_KEY = "space"


#: Keys that confirm a slider rating placed with the mouse.
CONFIRM_KEYS = ("space", "return")
#: Mouse travel (in scale half-widths) that counts as the first move of a slider.
MOVE_THRESHOLD = 0.01


@dataclass(frozen=True)
class Answer:
    """A rating given: ``value`` on the scale, at clock time ``time``.

    Attributes
    ----------
    value : float
        Where the answer is on the scale.
    time : float
        Clock time the value was given (the key press, or the last slider click).
    first_move : float or None
        Clock time the slider first moved (None for key ratings).
    confirmed : float or None
        Clock time the answer was confirmed (the key itself for key ratings; None for a
        slider placed but not confirmed before the window ended).
    """

    value: float
    time: float
    first_move: float | None = None
    confirmed: float | None = None


@dataclass(frozen=True)
class RatingState:
    """Where a rating stands this frame.

    Attributes
    ----------
    marker : float or None
        Where to draw the marker; None while it is hidden (before the first move).
    answer : Answer or None
        The confirmed answer; the rating window closes once it is given.
    pending : Answer or None
        A slider value placed by a click but not confirmed yet: it still changes with
        the next click, and counts as the answer if the window ends first.
    """

    marker: float | None = None
    answer: Answer | None = None
    pending: Answer | None = None


class Responder(typing.Protocol):
    """Answers ratings, advances instruction screens, learns from trials."""

    def start_rating(self, event: Event, spec: RatingSpec, onset: float) -> None:
        """A scale for ``event`` appeared at clock time ``onset``."""
        ...

    def poll_rating(self, now: float, keys: Sequence[tuple[str, float]]) -> RatingState:
        """The rating's state at clock time ``now``, given this frame's keys."""
        ...

    def ready(self, now: float, keys: Sequence[tuple[str, float]], shown: float) -> bool:
        """True when the participant asks to leave a screen shown at clock time ``shown``."""
        ...

    def observe(self, event: Event, us_delivered: bool) -> None:
        """The trial (or unsignalled US) ``event`` ended, with or without a US."""
        ...


class ParticipantResponder:
    """A real participant: number keys or a mouse slider, and the space bar to continue.

    A slider follows the field's practice against anchoring: its marker is hidden until
    the participant moves the mouse (the pointer is centred when the scale appears), a
    click places it and another click moves it, and space (or return) confirms it. A
    value placed but not confirmed when the window ends is the answer. Clicks are taken
    from the window's button-press events, so a click shorter than a frame still counts.

    Parameters
    ----------
    display : Display
        Source of the mouse position for slider ratings.
    continue_key : str
        Key that leaves instruction screens.
    """

    def __init__(self, display: Display, continue_key: str = CONTINUE_KEY) -> None:
        self.display = display
        self.continue_key = continue_key
        self._spec: RatingSpec | None = None
        self._answer: Answer | None = None
        self._pending: Answer | None = None
        self._start_x = 0.0
        self._moved: float | None = None

    def start_rating(self, event: Event, spec: RatingSpec, onset: float) -> None:
        """Begin listening for an answer on ``spec`` (a slider starts hidden, centred)."""
        self._spec = spec
        self._answer = None
        self._pending = None
        self._moved = None
        if spec.input != "keys":
            # Centre the pointer so no rating starts from the previous answer, and drop
            # clicks made before the scale appeared.
            self.display.centre_pointer()
            self._start_x, _ = self.display.pointer()

    def poll_rating(self, now: float, keys: Sequence[tuple[str, float]]) -> RatingState:
        """Keys: the first scale key answers. Slider: move, click to place, space to confirm."""
        spec = self._spec
        if spec is None:
            return RatingState()
        if self._answer is not None:
            return RatingState(self._answer.value, self._answer)
        if spec.input == "keys":
            for name, time in keys:
                if name in spec.keys:
                    value = spec.low + spec.keys.index(name) * _key_step(spec)
                    self._answer = Answer(float(value), time, confirmed=time)
                    return RatingState(self._answer.value, self._answer)
            return RatingState()
        x, clicks = self.display.pointer()
        x = min(max(x, -1.0), 1.0)
        if self._moved is None and (clicks or abs(x - self._start_x) > MOVE_THRESHOLD):
            self._moved = min([now, *clicks])
        marker = spec.low + (x + 1.0) / 2.0 * (spec.high - spec.low)
        if clicks:
            self._pending = Answer(float(marker), clicks[-1], first_move=self._moved)
        if self._pending is not None:
            confirm = [time for name, time in keys if name in CONFIRM_KEYS]
            if confirm:
                pending = self._pending
                self._answer = Answer(pending.value, pending.time, pending.first_move, confirm[0])
                return RatingState(self._answer.value, self._answer)
            return RatingState(self._pending.value, pending=self._pending)
        return RatingState(marker if self._moved is not None else None)

    def ready(self, now: float, keys: Sequence[tuple[str, float]], shown: float) -> bool:
        """True when the continue key was pressed."""
        return any(name == self.continue_key for name, _ in keys)

    def observe(self, event: Event, us_delivered: bool) -> None:
        """A real participant needs no feedback from the runner."""


def _key_step(spec: RatingSpec) -> float:
    # Keys map evenly onto low..high (e.g. keys 1-9 onto 0-100 gives steps of 12.5).
    if len(spec.keys) < 2:
        return 0.0
    return (spec.high - spec.low) / (len(spec.keys) - 1)
