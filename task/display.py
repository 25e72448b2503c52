"""What the run loop asks of a screen (``Display``), and a recording fake of it.

The run loop never draws directly: each frame it hands the display a :class:`Scene` (a
small frozen description of what is on screen, defined with the phase kinds in
:mod:`pavlov.protocols.kinds.screen`) and flips. The PsychoPy implementation
(:mod:`pavlov.task.psychopy_display`) turns scenes into stimuli; :class:`RecordingDisplay`
keeps them, with a :class:`FrameClock` that advances exactly one frame per flip, so the
run loop's frame arithmetic can be tested exactly and fast without a window.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import dataclass, field

from pavlov.protocols.kinds.screen import RatingView, Scene

if typing.TYPE_CHECKING:
    from pavlov.protocols.events import Schedule
    from pavlov.protocols.model import Protocol
    from pavlov.stimuli.check import SessionStimuli

__all__ = [
    "Display",
    "FrameClock",
    "RatingView",
    "RecordingDisplay",
    "Scene",
    "script_sound",
]


def script_sound(phase: str) -> str:
    """The sound key of the file a phase plays itself: its narrative script, or its startle
    probe (``script:<phase>``; each phase's own, at its own volume)."""
    return f"script:{phase}"


class Display(typing.Protocol):
    """A screen that shows one :class:`Scene` per frame, plus keys, mouse and sound.

    Sound keys: ``cs:<identity>`` (sound CSs), ``us:<name>`` (sound USs) and
    ``script:<phase>`` (a phase's own sound: a narrative script or startle probes, see
    :func:`script_sound`).
    """

    frame_period: float
    """Seconds per frame (measured refresh, or the nominal one without vsync)."""

    def load(self, protocol: Protocol, schedule: Schedule, stimuli: SessionStimuli | None) -> None:
        """Prepare every stimulus the schedule uses (before the first frame)."""
        ...

    def draw(self, scene: Scene) -> None:
        """Draw ``scene`` into the back buffer."""
        ...

    def flip(self) -> float:
        """Show the back buffer at the next refresh; return the clock time of that refresh."""
        ...

    def call_on_flip(self, function: Callable[..., object], *args: object) -> None:
        """Call ``function(*args)`` right after the next flip."""
        ...

    def poll_keys(self) -> list[tuple[str, float]]:
        """Keys pressed since the last poll, as (name, clock time), oldest first."""
        ...

    def pointer(self) -> tuple[float, list[float]]:
        """Horizontal mouse position (-1 left to 1 right of the scale) and the clock times
        of left-button presses since the last call (presses between frames included)."""
        ...

    def centre_pointer(self) -> None:
        """Move the mouse pointer to the centre of the scale."""
        ...

    def play(self, sound: str) -> None:
        """Start a loaded sound now (use ``call_on_flip`` to lock it to a frame)."""
        ...

    def stop(self, sound: str) -> None:
        """Stop a sound if it is playing."""
        ...

    def record_frame_intervals(self, on: bool) -> None:
        """Start (or stop) counting dropped frames."""
        ...

    def dropped_frames(self) -> int:
        """Frames dropped since counting started."""
        ...

    def close(self) -> None:
        """Close the window and release sounds. Safe to call more than once."""
        ...


class FrameClock:
    """A fake clock that moves only when told: ``advance`` by a frame on every fake flip.

    Parameters
    ----------
    start : float
        Initial time, seconds.
    """

    def __init__(self, start: float = 100.0) -> None:
        self.time = float(start)

    def now(self) -> float:
        """Current fake time."""
        return self.time

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.time += seconds


@dataclass
class RecordingDisplay:
    """A display that records every flip's scene and time, driven by a :class:`FrameClock`.

    Parameters
    ----------
    clock : FrameClock
        Advanced by ``frame_period`` at each flip (plus ``slow_frames`` extra periods on
        the listed frame numbers, to simulate dropped frames).
    frame_period : float
        Seconds per frame.
    keys : dict of int to list of str
        Keys "pressed" just before the given frame number (0-based flip count).
    keys_at : list of (float, str)
        Keys pressed at clock times (delivered at the first poll after that time).
    slow_frames : dict of int to int
        Flip number → extra frames that flip takes (a dropped frame).
    mouse_at : list of (float, float, bool)
        Scripted mouse: from clock time ``t`` the pointer is at ``x`` (-1..1); ``True``
        adds a left click at ``t``. :meth:`centre_pointer` puts it at 0 until the next
        scripted move.

    Attributes
    ----------
    frames : list of (float, Scene)
        Flip time and scene of every flip.
    played, stopped : list of (float, str)
        Sound starts/stops with the time of the flip they were locked to (or of the call).
    """

    clock: FrameClock
    frame_period: float = 1 / 60
    keys: dict[int, list[str]] = field(default_factory=dict)
    keys_at: list[tuple[float, str]] = field(default_factory=list)
    slow_frames: dict[int, int] = field(default_factory=dict)
    mouse_at: list[tuple[float, float, bool]] = field(default_factory=list)
    frames: list[tuple[float, Scene]] = field(default_factory=list)
    played: list[tuple[float, str]] = field(default_factory=list)
    stopped: list[tuple[float, str]] = field(default_factory=list)
    loaded: bool = False
    closed: bool = False
    recording: bool = False
    _scene: Scene | None = None
    _on_flip: list[tuple[Callable[..., object], tuple]] = field(default_factory=list)
    _dropped: int = 0
    _last_flip: float | None = None
    _pointer_x: float = 0.0
    _pointer_polled: float = float("-inf")

    def load(self, protocol: Protocol, schedule: Schedule, stimuli: SessionStimuli | None) -> None:
        """Remember that stimuli were prepared."""
        self.loaded = True

    def draw(self, scene: Scene) -> None:
        """Keep the scene for the next flip."""
        self._scene = scene

    def flip(self) -> float:
        """Advance the clock to the next refresh, record the scene, run on-flip calls."""
        number = len(self.frames)
        extra = self.slow_frames.get(number, 0)
        if self._last_flip is None:
            self.clock.advance(self.frame_period)
        else:  # land on the refresh grid even if the caller spent time between flips
            self.clock.time = self._last_flip + self.frame_period * (1 + extra)
            if extra and self.recording:
                self._dropped += extra
        now = self.clock.time
        self._last_flip = now
        self.frames.append((now, self._scene or Scene()))
        self._scene = None
        calls, self._on_flip = self._on_flip, []
        for function, args in calls:
            function(*args)
        return now

    def call_on_flip(self, function: Callable[..., object], *args: object) -> None:
        """Run ``function(*args)`` after the next flip."""
        self._on_flip.append((function, args))

    def poll_keys(self) -> list[tuple[str, float]]:
        """Scripted keys due now."""
        now = self.clock.now()
        out = [(k, now) for k in self.keys.pop(len(self.frames), [])]
        due = [(t, k) for t, k in self.keys_at if t <= now]
        self.keys_at = [(t, k) for t, k in self.keys_at if t > now]
        out.extend((k, t) for t, k in due)
        return out

    def pointer(self) -> tuple[float, list[float]]:
        """The scripted pointer position now, and scripted clicks since the last call."""
        now = self.clock.now()
        clicks = []
        for t, x, click in self.mouse_at:
            if self._pointer_polled < t <= now:
                self._pointer_x = x
                if click:
                    clicks.append(t)
        self._pointer_polled = now
        return self._pointer_x, clicks

    def centre_pointer(self) -> None:
        """Put the fake pointer in the middle."""
        self._pointer_x = 0.0

    def play(self, sound: str) -> None:
        """Record a sound start."""
        self.played.append((self.clock.now(), sound))

    def stop(self, sound: str) -> None:
        """Record a sound stop."""
        self.stopped.append((self.clock.now(), sound))

    def record_frame_intervals(self, on: bool) -> None:
        """Start or stop counting slow flips as dropped frames."""
        self.recording = on

    def dropped_frames(self) -> int:
        """Dropped frames counted so far."""
        return self._dropped

    def close(self) -> None:
        """Mark closed."""
        self.closed = True
