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
    "CONTINUE_KEY",
    "Answer",
    "ParticipantResponder",
    "RatingState",
    "Responder",
]

#: Key the participant presses to leave an instruction screen.
CONTINUE_KEY = "space"


@dataclass(frozen=True)
class Answer:
    """A rating given: ``value`` on the scale, at clock time ``time``."""

    value: float
    time: float


@dataclass(frozen=True)
class RatingState:
    """Where a rating stands this frame: the marker to draw and the answer, once given."""

    marker: float | None = None
    answer: Answer | None = None


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
        self._was_down = True

    def start_rating(self, event: Event, spec: RatingSpec, onset: float) -> None:
        """Begin listening for an answer on ``spec``."""
        self._spec = spec
        self._answer = None
        self._was_down = True  # a button held from before the scale does not answer it

    def poll_rating(self, now: float, keys: Sequence[tuple[str, float]]) -> RatingState:
        """Keys: the first scale key answers. Slider: the marker follows the mouse, a click answers."""
        spec = self._spec
        if spec is None:
            return RatingState()
        if self._answer is not None:
            return RatingState(self._answer.value, self._answer)
        if spec.input == "keys":
            for name, time in keys:
                if name in spec.keys:
                    value = spec.low + spec.keys.index(name) * _key_step(spec)
                    self._answer = Answer(float(value), time)
                    return RatingState(self._answer.value, self._answer)
            return RatingState()
        x, down = self.display.mouse()
        marker = spec.low + (min(max(x, -1.0), 1.0) + 1.0) / 2.0 * (spec.high - spec.low)
        pressed = down and not self._was_down
        self._was_down = down
        if pressed:
            self._answer = Answer(float(marker), now)
            return RatingState(marker, self._answer)
        return RatingState(marker)

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
