"""The pieces every presenter uses: the drop-aware screen and the common log columns.

:func:`hold` is the one way a timed screen is shown: a screen of ``n`` refreshes ends at
the first refresh at or after its clock time, however many frames the display lost
(counting flips instead made a 600-s wait last 675 s on a busy machine).
"""

from __future__ import annotations

import typing
from collections.abc import Callable

from pavlov.protocols.kinds.screen import Scene

if typing.TYPE_CHECKING:
    from pavlov.protocols.events import Event
    from pavlov.protocols.kinds.base import RatingAnswer, Stage

__all__ = ["base_row", "cs_row", "hold", "rating_columns"]


def hold(
    stage: Stage,
    scene: Scene | Callable[[int], Scene],
    n: int,
    closing: Scene | None = None,
    stop: Callable[[float], bool] | None = None,
    start: float | None = None,
    close_early: bool = True,
    origin: float | None = None,
) -> tuple[list[float], float]:
    """Show a screen for refreshes ``0 .. n-1``, then ``closing`` on refresh ``n``.

    Parameters
    ----------
    stage : Stage
        The run loop.
    scene : Scene or callable
        The screen, or a function of the refresh index that gives it (a countdown).
    n : int
        Refreshes the screen lasts (at least 1).
    closing : Scene, optional
        What replaces it (the same scene when None).
    stop : callable, optional
        Called with each flip's time after the flip; True ends the screen early (an
        experimenter key, an answer).
    start : float, optional
        The clock time of a flip that already showed the screen's first refresh (a rest
        that began at a scanner pulse).
    close_early : bool
        When ``stop`` ends the screen, show ``closing`` on the next refresh (True) or
        end on the flip that stopped it (False).
    origin : float, optional
        The clock time refresh 0 is due (the event's planned onset): refreshes are counted
        from it, so a screen whose first flip came late still ends at its clock time and
        the next event's onset is kept. From the first flip when None.

    Returns
    -------
    (list of float, float)
        The flip times of the screen (the first is its onset) and the clock time it ended
        (the closing flip, or the late flip that already passed the end).
    """
    times: list[float] = [] if start is None else [start]
    index = len(times)  # the next refresh to show
    if origin is not None and start is not None:
        index = max(index, stage.refresh_index(start, origin, 0) + 1)
    while index < n:
        t = stage.frame(scene(index) if callable(scene) else scene)
        times.append(t)
        first = times[0] if origin is None else origin
        index = stage.refresh_index(t, first, index)
        stopped = stop is not None and stop(t)
        if index >= n:
            return times, t  # a stall jumped past the end: this flip is the end
        if stopped:
            if not close_early:
                return times, t
            break
        index += 1
    end = stage.frame(closing if closing is not None else (scene(n) if callable(scene) else scene))
    return times, end


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


class Files(typing.Protocol):
    """Anything that names a stimulus's ``stim_file`` (a :class:`Stage`, a rehearsal)."""

    def stim_file(self, kind: str, name: str | None) -> str | None: ...


def cs_row(files: Files, event: Event) -> dict[str, object]:
    """The columns of a CS row (a trial's main row)."""
    row = base_row(event, "cs")
    row.update(
        event_type=event.event_type,
        cs=event.cs,
        cs_type=event.cs_type,
        stimulus=event.stimulus,
        reinforced=event.reinforced,
        stim_file=files.stim_file("cs", event.stimulus),
    )
    return row


def rating_columns(stage: Stage, answer: RatingAnswer | None, onset: float) -> dict[str, object]:
    """``rating`` and its times (protocol seconds from scale onset) for the log."""

    def since(t: float | None) -> float | None:
        return (t - onset) * stage.speed if t is not None else None

    if answer is None:
        return {"rating": None, "rating_rt": None}
    return {
        "rating": answer.value,
        "rating_rt": since(answer.time),
        "rating_move": since(getattr(answer, "first_move", None)),
        "rating_confirm": since(getattr(answer, "confirmed", None)),
    }
