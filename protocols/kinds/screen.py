"""What is on the participant's screen for one frame: a :class:`Scene`.

Kinds present themselves by handing scenes to the injected display, so the description of
a screen lives here, below both the kinds and the task's displays (which draw it).
"""

from __future__ import annotations

import typing
from dataclasses import dataclass

if typing.TYPE_CHECKING:
    from pavlov.protocols.model import RatingSpec

__all__ = ["RatingView", "Scene", "format_clock"]


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
    """

    context: str | None = None
    cs: str | None = None
    fixation: bool = False
    us_image: str | None = None
    text: str | None = None
    countdown: str | None = None
    rating: RatingView | None = None


def format_clock(seconds: float) -> str:
    """``mm:ss`` (or ``h:mm:ss``) for a non-negative number of seconds, rounded up."""
    total = max(0, int(-(-seconds // 1)))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"
