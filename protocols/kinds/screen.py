"""What is on the participant's screen for one frame: a :class:`Scene`.

Kinds present themselves by handing scenes to the injected display, so the description of
a screen lives here, below both the kinds and the task's displays (which draw it).
"""

from __future__ import annotations

import typing
from dataclasses import dataclass

if typing.TYPE_CHECKING:
    from pavlov.protocols.model import RatingSpec

__all__ = [
    "QUESTION_HEIGHT",
    "QUESTION_Y",
    "RATING_TOP",
    "SCALE_Y",
    "ChoiceView",
    "RatingView",
    "Scene",
    "format_clock",
]

# Where a rating is drawn, in PsychoPy height units (0 the centre, up positive). The displays
# draw it here and the loader warns when a CS drawn with it would cover it, so both read it
# from this one place.
#: The rating scale's line.
SCALE_Y = -0.3
#: The centre of the rating's question, above the line.
QUESTION_Y = SCALE_Y + 0.08
#: The height of the question's letters.
QUESTION_HEIGHT = 0.035
#: The highest point of a rating: the top of its question's (first) line.
RATING_TOP = QUESTION_Y + QUESTION_HEIGHT / 2


@dataclass(frozen=True)
class RatingView:
    """A rating scale on screen.

    Attributes
    ----------
    spec : RatingSpec
        Question, ends, anchors, input.
    marker : float or None
        Where the marker is (scale units), None before the participant moves it.
    answered : bool
        True once the answer is given (the display may highlight it).
    placed : bool
        True when the marker was placed by a click but not yet confirmed.
    """

    spec: RatingSpec
    marker: float | None = None
    answered: bool = False
    placed: bool = False


@dataclass(frozen=True)
class ChoiceView:
    """A question with options side by side (a questionnaire's choices, or CS pictures).

    The options sit where the points of a rating scale of ``len(options)`` points would
    (left end to right end), so a mouse pointer picks an option as it picks a scale point.

    Attributes
    ----------
    question : str
        Shown above the options.
    labels : tuple of str
        Text options, left to right; empty when the options are pictures.
    pictures : tuple of str
        CS identities shown as the options, left to right; empty for text options.
    keys : tuple of str
        The key that picks each option (shown with it); empty for mouse input.
    marker : int or None
        0-based index of the option highlighted (pointed at, placed or answered).
    answered : bool
        True once the answer is given.
    placed : bool
        True when an option was picked by a click but not yet confirmed.
    """

    question: str
    labels: tuple[str, ...] = ()
    pictures: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    marker: int | None = None
    answered: bool = False
    placed: bool = False

    @property
    def size(self) -> int:
        """Number of options."""
        return len(self.pictures) or len(self.labels)


@dataclass(frozen=True)
class Scene:
    """Everything on screen for one frame, back to front.

    Attributes
    ----------
    context : str or None
        Context identity drawn as the background.
    cs : str or None
        Visual CS identity drawn in the centre.
    fixation : bool
        A fixation cross in the centre.
    us_image : str or None
        Name of an image US drawn over the CS.
    text : str or None
        Text in the centre (instructions, messages).
    countdown : str or None
        Time left, e.g. ``"09:58"``, below the text.
    rating : RatingView or None
        A rating scale in the lower half.
    choice : ChoiceView or None
        A question with options side by side (questionnaires).
    """

    context: str | None = None
    cs: str | None = None
    fixation: bool = False
    us_image: str | None = None
    text: str | None = None
    countdown: str | None = None
    rating: RatingView | None = None
    choice: ChoiceView | None = None


def format_clock(seconds: float) -> str:
    """``mm:ss`` (or ``h:mm:ss``) for a non-negative number of seconds, rounded up."""
    total = max(0, int(-(-seconds // 1)))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"
