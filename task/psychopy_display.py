"""The PsychoPy window behind the :class:`~pavlov.task.display.Display` interface.

This is the only module that imports ``psychopy.visual``. It turns each
:class:`~pavlov.task.display.Scene` into prepared PsychoPy stimuli (built once in
:meth:`PsychopyDisplay.load`, never per frame) and flips.

Refresh rate: after opening, the window flips 30 times and takes the median interval.
With vsync that is the refresh period. Without vsync (Xvfb, some VMs, a compositor
forcing it off) flips return at once (hundreds of Hz), so frame counting would not
measure time: the display then paces its flips in software at ``frame_rate`` (60 Hz by
default), records ``vsync: false``, and says so, because timing is not valid for data.
Dropped frames are counted as PsychoPy does (a flip interval over 1.2 frame periods).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import statistics
import time
import typing
from collections.abc import Callable
from pathlib import Path

from pavlov.protocols.kinds import KINDS
from pavlov.protocols.kinds.screen import QUESTION_HEIGHT, QUESTION_Y, SCALE_Y, ChoiceView
from pavlov.stimuli.errors import StimulusError
from pavlov.task.display import RatingView, Scene, script_sound

if typing.TYPE_CHECKING:
    from pavlov.protocols.events import Schedule
    from pavlov.protocols.model import Protocol, RatingSpec, StimulusSpec
    from pavlov.stimuli.check import SessionStimuli
    from pavlov.task.keyboard import KeyboardInput

__all__ = ["BACKGROUND", "PsychopyDisplay", "SilentSound", "psychopy_sound"]

#: Window background (PsychoPy rgb, -1..1): mid grey.
BACKGROUND = (0.0, 0.0, 0.0)
#: Half-width of a rating scale line, in height units.
SCALE_HALF = 0.4
#: Height of the pictures of a choice between CS pictures, in height units.
CHOICE_PICTURE = 0.25
#: Vertical centre of the options of a choice, in height units.
CHOICE_Y = 0.0
#: Flip intervals shorter than this mean there is no vsync.
NO_VSYNC_BELOW = 0.004


class SilentSound:
    """A sound that plays nothing and remembers when it was asked to (CI has no audio, P16).

    Used only by ``--simulate``; a real session without an audio device is an error.
    """

    def __init__(self, path: str, volume: float = 1.0, log: list | None = None) -> None:
        self.path = path
        self.volume = volume
        self.log = log if log is not None else []

    def play(self) -> None:
        """Note a start."""
        self.log.append(("play", self.path, time.perf_counter()))

    def stop(self) -> None:
        """Note a stop."""
        self.log.append(("stop", self.path, time.perf_counter()))


def psychopy_sound(path: str, volume: float = 1.0):
    """Open a real ``psychopy.sound.Sound``; a missing audio device is a one-line error."""
    try:
        from psychopy import sound

        return sound.Sound(str(path), volume=volume)
    except Exception as error:  # PortAudio and ptb raise assorted types
        raise StimulusError(
            f"{path}: cannot open the sound on this computer's audio device ({error}); "
            "check the audio output, or rehearse with --simulate"
        ) from None


class PsychopyDisplay:
    """A PsychoPy window showing :class:`~pavlov.task.display.Scene` objects.

    Parameters
    ----------
    keyboard : KeyboardInput
        Source of key presses (shared with the scanner trigger).
    fullscr : bool
        Full screen (lab sessions) or a window (``--windowed``).
    size : (int, int)
        Window size in pixels when not full screen.
    screen : int
        Monitor index.
    frame_rate : float
        Software pacing rate when the display has no vsync.
    sound_factory : callable
        ``(path, volume) -> object with play() and stop()``; defaults to PsychoPy sound.
    window : psychopy.visual.Window, optional
        An existing window to draw in (tests reuse one); it is not closed by :meth:`close`.

    Attributes
    ----------
    frame_period : float
        Seconds per frame.
    shown_texts : list of str
        The scene texts (instructions, wait and rest text, messages) on screen since the
        last flip; countdowns and rating scales are not included.
    vsync : bool
        Whether the flips are locked to a real refresh.
    measured_rate : float
        Flips per second measured at start-up.
    """

    def __init__(
        self,
        keyboard: KeyboardInput | None,
        *,
        fullscr: bool = True,
        size: tuple[int, int] = (1024, 768),
        screen: int = 0,
        frame_rate: float = 60.0,
        sound_factory: Callable[[str, float], object] | None = None,
        window=None,
    ) -> None:
        import pyglet

        # PsychoPy's visual modules switch pyglet's per-call glGetError check off, but only
        # after pyglet.gl is imported, when it no longer matters; it then costs a round trip
        # for every GL call of every frame. Switch it off before the first GL import.
        pyglet.options["debug_gl"] = False
        from psychopy import event, logging, visual

        # PsychoPy's console warnings (e.g. no monitor profile) are not the experimenter's
        # business; the session's own console reports what matters.
        logging.console.setLevel(logging.ERROR)
        self.keyboard = keyboard
        self.sound_factory = sound_factory or psychopy_sound
        self._own_window = window is None
        if window is None:
            window = visual.Window(
                size=size,
                fullscr=fullscr,
                screen=screen,
                units="height",
                color=BACKGROUND,
                winType="pyglet",
                allowGUI=not fullscr,
                checkTiming=False,
                waitBlanking=True,
            )
        self.win = window
        self.win.recordFrameIntervals = False
        self._mouse = event.Mouse(win=self.win, visible=not fullscr)
        self._visual = visual
        self._clock = logging.defaultClock  # the base of win.flip() times
        self.measured_rate, self.vsync = self._measure()
        self.frame_period = 1.0 / (self.measured_rate if self.vsync else frame_rate)
        # PsychoPy stimuli and sounds (untyped: PsychoPy has no type information).
        self._stims: dict[str, typing.Any] = {}
        self._contexts: dict[str, typing.Any] = {}
        self._us_images: dict[str, typing.Any] = {}
        self._sounds: dict[str, typing.Any] = {}
        self._texts: dict[str, typing.Any] = {}
        self._scales: dict[int, dict] = {}
        self._choices: dict[tuple, dict] = {}
        self._cs_specs: dict[str, tuple[StimulusSpec, str | None]] = {}
        self._countdown = visual.TextStim(
            self.win, text="", height=0.06, pos=(0, -0.15), color="white"
        )
        self._countdown_text = ""
        self._fixation = visual.ShapeStim(
            self.win, vertices="cross", size=0.05, fillColor="white", lineColor=None
        )
        self._last_flip: float | None = None
        #: Texts drawn into the back buffer since the last flip, and those the last flip
        #: showed: what the participant reads (the run's tests check it, under Xvfb).
        self.drawn_texts: list[str] = []
        self.shown_texts: list[str] = []
        self._recording = False
        self._dropped = 0
        self._threshold = 1.2 * self.frame_period
        self.closed = False

    # -- set-up -----------------------------------------------------------------------

    def _measure(self) -> tuple[float, bool]:
        times = [self.win.flip() for _ in range(30)]
        intervals = [b - a for a, b in itertools.pairwise(times)]
        median = statistics.median(intervals)
        if median < NO_VSYNC_BELOW:
            return 1.0 / max(median, 1e-6), False
        return 1.0 / median, True

    def load(self, protocol: Protocol, schedule: Schedule, stimuli: SessionStimuli | None) -> None:
        """Build a stimulus for every CS, context and US the schedule uses; open sounds."""
        visual = self._visual
        files = stimuli
        used_cs = {e.stimulus for e in schedule.events if e.stimulus}
        used_cs |= {picture for e in schedule.events for picture in e.pictures}
        used_contexts = {e.context for e in schedule.events if e.context}
        used_us = {e.us for e in schedule.events if e.us}
        for name in sorted(used_cs):
            spec = protocol.cs[name]
            path = _path(files.cs.get(name) if files else spec.file)
            self._cs_specs[name] = (spec, path)
            if spec.kind == "sound":
                self._sounds[f"cs:{name}"] = self.sound_factory(_required(path, name), 1.0)
            else:
                self._stims[name] = self._make(spec, path)
        aspect = self.win.size[0] / self.win.size[1]
        for name in sorted(used_contexts):
            spec = protocol.contexts[name]
            path = _path(files.contexts.get(name) if files else spec.file)
            if path is not None:
                self._contexts[name] = visual.ImageStim(self.win, image=path, size=(aspect, 1))
            else:
                self._contexts[name] = visual.Rect(
                    self.win, width=aspect, height=1, fillColor=spec.color, lineColor=None
                )
        for name in sorted(used_us):
            us = protocol.us[name]
            path = _path(files.us.get(name) if files else us.file)
            if us.kind == "sound":
                self._sounds[f"us:{name}"] = self.sound_factory(_required(path, name), us.volume)
            elif us.kind == "image":
                self._us_images[name] = visual.ImageStim(self.win, image=path, size=(None))
                self._fit(self._us_images[name], 0.6)
        if files is not None:
            for name, script in files.scripts.items():
                needs = protocol.phases[name].files if name in protocol.phases else ()
                volume = needs[0].volume if needs else 1.0
                self._sounds[script_sound(name)] = self.sound_factory(str(script), volume)
        for phase in protocol.phases.values():
            for scale in KINDS[phase.type].scales(phase):
                self._scale(scale)
            for text in KINDS[phase.type].texts(phase):
                self._text(text)
        for event in schedule.events:
            if event.kind == "questionnaire":
                self._choice_parts(_choice_of(protocol, event))
        for text in ("Waiting for the scanner...", "00:00"):
            self._text(text)
        self._warm_up()

    def _warm_up(self) -> None:
        # Draw everything once into the back buffer so textures and glyphs are on the GPU
        # before session zero; the first real frame of each stimulus then cannot drop.
        stims = [*self._stims.values(), *self._contexts.values(), *self._us_images.values()]
        stims.extend(self._texts.values())
        for parts in self._scales.values():
            stims.extend([parts["question"], parts["line"], parts["low"], parts["high"]])
            stims.extend(parts["keys"])
            stims.append(parts["marker"])
        for parts in self._choices.values():
            stims.extend([parts["question"], *parts["options"], *parts["keys"], parts["frame"]])
        for stim in stims:
            stim.draw()
        self._fixation.draw()
        self._countdown.draw()
        self.win.clearBuffer()

    def _make(self, spec: StimulusSpec, path: str | None):
        visual = self._visual
        size = spec.size
        if spec.kind == "image":
            stim = visual.ImageStim(self.win, image=path)
            self._fit(stim, size)
            return stim
        if spec.kind == "text":
            return visual.TextStim(
                self.win, text=spec.text or "", height=size / 2, color=spec.color or "white"
            )
        color = spec.color or "white"
        if spec.shape == "circle":
            return visual.Circle(
                self.win, radius=size / 2, edges=96, fillColor=color, lineColor=None
            )
        if spec.shape == "triangle":
            return visual.Polygon(
                self.win, edges=3, radius=size / 2, fillColor=color, lineColor=None
            )
        if spec.shape == "diamond":
            return visual.Polygon(
                self.win, edges=4, radius=size / 2, fillColor=color, lineColor=None
            )
        return visual.Rect(self.win, width=size, height=size, fillColor=color, lineColor=None)

    @staticmethod
    def _fit(stim, height: float) -> None:
        # Keep the image's aspect ratio at the requested height.
        width, tall = stim.size
        stim.size = (height * width / tall if tall else height, height)

    def _scale(self, spec: RatingSpec) -> dict:
        key = id(spec)
        parts = self._scales.get(key)
        if parts is not None:
            return parts
        visual = self._visual
        y = SCALE_Y
        parts = {
            "question": visual.TextStim(
                self.win,
                text=spec.question,
                height=QUESTION_HEIGHT,
                pos=(0, QUESTION_Y),
                wrapWidth=1.2,
            ),
            "line": visual.Line(
                self.win, start=(-SCALE_HALF, y), end=(SCALE_HALF, y), lineColor="white"
            ),
            "low": visual.TextStim(
                self.win, text=spec.anchors[0], height=0.03, pos=(-SCALE_HALF, y - 0.05)
            ),
            "high": visual.TextStim(
                self.win, text=spec.anchors[1], height=0.03, pos=(SCALE_HALF, y - 0.05)
            ),
            "marker": visual.Circle(
                self.win, radius=0.015, fillColor="orange", lineColor=None, pos=(0, y)
            ),
            "keys": [],
            "y": y,
        }
        if spec.input == "keys" and spec.keys:
            n = len(spec.keys)
            for i, name in enumerate(spec.keys):
                x = -SCALE_HALF + (2 * SCALE_HALF * i / (n - 1) if n > 1 else SCALE_HALF)
                parts["keys"].append(
                    visual.TextStim(self.win, text=name, height=0.03, pos=(x, y + 0.03))
                )
        self._scales[key] = parts
        return parts

    def _choice_parts(self, view: ChoiceView | None) -> dict:
        # Built once per question (in load), so drawing a choice creates no stimuli.
        if view is None:
            return {}
        key = (view.question, view.labels, view.pictures, view.keys)
        parts = self._choices.get(key)
        if parts is not None:
            return parts
        visual = self._visual
        n = view.size
        xs = [-SCALE_HALF + 2 * SCALE_HALF * i / (n - 1) if n > 1 else 0.0 for i in range(n)]
        gap = 2 * SCALE_HALF / max(n - 1, 1)
        options = []
        if view.pictures:
            width = height = CHOICE_PICTURE
            for name, x in zip(view.pictures, xs, strict=True):
                spec, path = self._cs_specs[name]
                stim = self._make(dataclasses.replace(spec, size=CHOICE_PICTURE), path)
                if spec.kind == "image":
                    width = max(width, stim.size[0])
                stim.pos = (x, CHOICE_Y)
                options.append(stim)
            key_y = CHOICE_Y - CHOICE_PICTURE / 2 - 0.05
        else:
            width, height = gap * 0.9, 0.12
            for label, x in zip(view.labels, xs, strict=True):
                options.append(
                    visual.TextStim(
                        self.win, text=label, height=0.035, pos=(x, CHOICE_Y), wrapWidth=width
                    )
                )
            key_y = CHOICE_Y - 0.09
        parts = {
            "question": visual.TextStim(
                self.win, text=view.question, height=0.04, pos=(0, 0.3), wrapWidth=1.2
            ),
            "options": options,
            "keys": [
                visual.TextStim(self.win, text=name, height=0.03, pos=(x, key_y))
                for name, x in zip(view.keys, xs, strict=False)
            ],
            "frame": visual.Rect(
                self.win,
                width=width + 0.04,
                height=height + 0.04,
                fillColor=None,
                lineColor="orange",
                lineWidth=4,
            ),
            "xs": xs,
        }
        self._choices[key] = parts
        return parts

    # -- frames -----------------------------------------------------------------------

    def draw(self, scene: Scene) -> None:
        """Draw the scene's parts, back to front."""
        if scene.context is not None:
            self._contexts[scene.context].draw()
        if scene.cs is not None:
            self._stims[scene.cs].draw()
        if scene.us_image is not None:
            self._us_images[scene.us_image].draw()
        if scene.fixation and scene.cs is None:
            self._fixation.draw()
        if scene.text is not None:
            self._text(scene.text).draw()
            self.drawn_texts.append(scene.text)
        if scene.countdown is not None:
            if scene.countdown != self._countdown_text:
                self._countdown.text = scene.countdown
                self._countdown_text = scene.countdown
            self._countdown.draw()
        if scene.rating is not None:
            self._draw_rating(scene.rating)
        if scene.choice is not None:
            self._draw_choice(scene.choice)

    def _text(self, text: str):
        stim = self._texts.get(text)
        if stim is None:
            stim = self._visual.TextStim(
                self.win, text=text, height=0.04, wrapWidth=1.2, color="white"
            )
            self._texts[text] = stim
        return stim

    def _draw_rating(self, view: RatingView) -> None:
        parts = self._scale(view.spec)
        for name in ("question", "line", "low", "high"):
            parts[name].draw()
        for stim in parts["keys"]:
            stim.draw()
        if view.marker is not None:
            spec = view.spec
            span = (spec.high - spec.low) or 1
            x = -SCALE_HALF + 2 * SCALE_HALF * (view.marker - spec.low) / span
            marker = parts["marker"]
            # PsychoPy's setters are slow (fillColor parses the colour: ~70 us a frame);
            # set them only when the marker moved or was answered.
            if parts.get("shown") != (x, view.answered, view.placed):
                parts["shown"] = (x, view.answered, view.placed)
                marker.pos = (x, parts["y"])
                colour = "orange"  # following the mouse
                if view.placed:
                    colour = "yellow"  # placed by a click, still adjustable
                if view.answered:
                    colour = "lime"  # confirmed
                marker.fillColor = colour
            marker.draw()

    def _draw_choice(self, view: ChoiceView) -> None:
        parts = self._choice_parts(view)
        parts["question"].draw()
        self.drawn_texts.append(view.question)
        self.drawn_texts.extend(view.labels)
        for stim in (*parts["options"], *parts["keys"]):
            stim.draw()
        if view.marker is not None:
            frame = parts["frame"]
            shown = (view.marker, view.answered, view.placed)
            if parts.get("shown") != shown:  # setters are slow: only on a change
                parts["shown"] = shown
                frame.pos = (parts["xs"][view.marker], CHOICE_Y)
                colour = "orange"  # pointed at
                if view.placed:
                    colour = "yellow"  # picked by a click, still adjustable
                if view.answered:
                    colour = "lime"  # confirmed
                frame.lineColor = colour
            frame.draw()

    def flip(self) -> float:
        """Flip (paced in software without vsync); count dropped frames; return the flip time."""
        if not self.vsync and self._last_flip is not None:
            wait = self._last_flip + self.frame_period - self._now() - 0.0005
            if wait > 0:
                time.sleep(wait)
        t = self.win.flip()
        self.shown_texts, self.drawn_texts = self.drawn_texts, []
        last, self._last_flip = self._last_flip, t
        if self._recording and last is not None and t - last > self._threshold:
            self._dropped += max(1, round((t - last) / self.frame_period) - 1)
        return t

    def _now(self) -> float:
        return self._clock.getTime()

    def call_on_flip(self, function: Callable[..., object], *args: object) -> None:
        """Run ``function(*args)`` right after the next buffer swap."""
        self.win.callOnFlip(function, *args)

    def poll_keys(self) -> list[tuple[str, float]]:
        """Keys (not scanner pulses) since the last poll."""
        return self.keyboard.poll_keys() if self.keyboard is not None else []

    def pointer(self) -> tuple[float, list[float]]:
        """Mouse x relative to the scale ends (-1..1), and left-button presses since the
        last call as clock times.

        Presses come from the window's button-press events (PsychoPy stamps each with its
        time since the last ``clickReset``), not from the button state at each frame: a
        click released before the next frame is still seen, at the time it was made.
        """
        from psychopy import event

        _, times = self._mouse.getPressed(getTime=True)
        x, _ = self._mouse.getPos()
        clicks = []
        if times[0] > 0:
            # times[0]: seconds from the last clickReset to the press; the button's clock
            # says how long ago that reset was, so the press was (elapsed - times[0]) ago.
            ago = event.mouseClick[0].getTime() - times[0]
            clicks.append(self._now() - max(0.0, ago))
        self._mouse.clickReset(buttons=(0,))
        return float(x) / SCALE_HALF, clicks

    def centre_pointer(self) -> None:
        """Put the mouse pointer on the middle of the scale line."""
        with contextlib.suppress(Exception):  # some window managers refuse warps
            self._mouse.setPos((0.0, SCALE_Y))

    def play(self, sound: str) -> None:
        """Start a loaded sound."""
        player = self._sounds.get(sound)
        if player is not None:
            player.play()

    def stop(self, sound: str) -> None:
        """Stop a loaded sound."""
        player = self._sounds.get(sound)
        if player is not None:
            player.stop()

    def record_frame_intervals(self, on: bool) -> None:
        """Count dropped frames from now on (or stop counting)."""
        self._recording = on

    def dropped_frames(self) -> int:
        """Dropped frames counted so far."""
        return self._dropped

    def screenshot(self):
        """The back buffer as a PIL image (draw a scene first)."""
        image = self.win.getMovieFrame(buffer="back")
        # getMovieFrame also keeps every frame for saveMovieFrames; we do not want them.
        self.win.movieFrames.clear()
        return image

    def close(self) -> None:
        """Stop sounds and close the window (if this display opened it)."""
        if self.closed:
            return
        self.closed = True
        for player in self._sounds.values():
            with contextlib.suppress(Exception):
                player.stop()
        if self._own_window:
            self.win.close()


def _choice_of(protocol: Protocol, event) -> ChoiceView | None:
    """The choice a questionnaire event shows (None for a scale item)."""
    from pavlov.protocols.kinds.questionnaire import item_of

    item = item_of(protocol, event)
    if item.form == "scale":
        return None
    return ChoiceView(item.text, item.choices, event.pictures, item.rating.keys)


def _required(path: str | None, name: str) -> str:
    # The loader requires a file for every sound CS and US; a None here is a bug.
    if path is None:
        raise StimulusError(f"sound {name}: no file")
    return path


def _path(value) -> str | None:
    if value is None:
        return None
    return str(Path(value))
