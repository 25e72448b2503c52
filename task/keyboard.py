"""The keyboard through PsychoPy's psychtoolbox (ptb) backend: participant keys and scanner pulses.

One :class:`KeyboardInput` owns the (singleton) PsychoPy keyboard device and drains it
once per call; key presses are split into scanner pulses (the sync key, e.g. ``5`` from a
USB trigger box) and everything else, so a response box on the same USB bus never
answers a rating with a pulse, and a pulse is never lost to a key poll. Times are key-down
times on ``psychopy.logging.defaultClock`` — the base of ``win.flip()`` (psychopy.md §3, §4).

:class:`KeyTrigger` is the :class:`~pavlov.task.devices.base.ScannerTrigger` on top of it.
:func:`check_keyboard` is the start-up self-test against the silent dead keyboard (P4).
"""

from __future__ import annotations

import sys
from collections import deque

from pavlov.task.devices.base import DeviceError

__all__ = ["KeyTrigger", "KeyboardInput", "PsychopyClock", "check_keyboard"]


class PsychopyClock:
    """The PsychoPy time base (``logging.defaultClock``): flips and ptb key times share it."""

    def __init__(self) -> None:
        from psychopy import logging

        self._get = logging.defaultClock.getTime

    def now(self) -> float:
        """Seconds on PsychoPy's default clock."""
        return self._get()


class KeyboardInput:
    """All key presses from the ptb keyboard, split into sync pulses and other keys.

    Parameters
    ----------
    sync_key : str or None
        Key name of the scanner trigger (e.g. ``"5"``); None when no scanner is used.
    backend : str
        PsychoPy keyboard backend; ``ptb`` (the default) timestamps key-down in the C queue.

    Raises
    ------
    DeviceError
        If the ptb keyboard is unavailable (the dead-keyboard case, P4).
    """

    def __init__(self, sync_key: str | None = None, backend: str = "ptb") -> None:
        from psychopy import logging
        from psychopy.hardware import keyboard

        if backend == "ptb" and not keyboard.havePTB:
            raise DeviceError(
                "keyboard: the psychtoolbox keyboard is not available (psychtoolbox.hid failed "
                "to import; on Linux install libjack-jackd2-0), so no key would ever arrive"
            )
        self._keyboard = keyboard.Keyboard(backend=backend)
        self._device = self._keyboard.device
        self._reset = logging.defaultClock.getLastResetTime
        self.sync_key = sync_key
        self._keys: deque[tuple[str, float]] = deque()
        self._pulses: deque[float] = deque()
        self._down: dict[int, object] = {}
        self.backend = self._keyboard.getBackend()

    def _drain(self) -> None:
        device = self._device
        device.dispatchMessages()
        responses = device.responses
        if not responses:
            return
        seen: set[int] = set()
        for press in list(responses):
            # A press is queued at key-down and again at key-up (same object, now with a
            # duration): count it once, by identity, within and across polls.
            ident = id(press)
            if ident in seen:
                continue
            seen.add(ident)
            if ident in self._down:
                if getattr(press, "duration", None) is not None:
                    del self._down[ident]
                continue
            if getattr(press, "duration", None) is None:
                self._down[ident] = press
            name = press.value if press.value is not None else press.name
            time = float(press.tDown)
            if self.sync_key is not None and name == self.sync_key:
                self._pulses.append(time)
            else:
                self._keys.append((str(name), time))
        responses.clear()

    def poll_keys(self) -> list[tuple[str, float]]:
        """Non-pulse keys pressed since the last call, as (name, key-down time)."""
        self._drain()
        if not self._keys:
            return []
        keys = list(self._keys)
        self._keys.clear()
        return keys

    def poll_pulses(self) -> list[float]:
        """Key-down times of sync keys since the last call."""
        self._drain()
        if not self._pulses:
            return []
        pulses = list(self._pulses)
        self._pulses.clear()
        return pulses

    def clear(self) -> None:
        """Forget every key pressed so far."""
        self._drain()
        self._keys.clear()
        self._pulses.clear()


class KeyTrigger:
    """Scanner pulses arriving as key presses (USB trigger box in keyboard mode).

    Parameters
    ----------
    keyboard : KeyboardInput
        The shared keyboard (its ``sync_key`` is the pulse key).
    """

    def __init__(self, keyboard: KeyboardInput) -> None:
        if keyboard.sync_key is None:
            raise ValueError("KeyTrigger needs a KeyboardInput with a sync_key")
        self.keyboard = keyboard
        self.name = f"keyboard key '{keyboard.sync_key}'"
        self._started = False

    def start(self) -> None:
        """Drop pulses that came before now, then start reporting."""
        self.keyboard.poll_pulses()
        self._started = True

    def poll(self) -> list[float]:
        """Pulse times since the last poll."""
        return self.keyboard.poll_pulses() if self._started else []

    def close(self) -> None:
        """Stop reporting pulses."""
        self._started = False


def check_keyboard(display, keyboard: KeyboardInput, timeout: float = 60.0, say=None) -> float:
    """Self-test: ask the experimenter to press space, and wait for it (P4).

    The request is the experimenter's business: it goes to ``say`` (the console), while
    the participant's screen shows only a fixation cross.

    Parameters
    ----------
    display : Display
        Shows the request.
    keyboard : KeyboardInput
        The keyboard under test.
    timeout : float
        Seconds to wait.
    say : callable, optional
        Shows one line to the experimenter (the console's ``message``); default: stderr.

    Returns
    -------
    float
        Key-down time of the press.

    Raises
    ------
    DeviceError
        If no key arrives in time (a silently dead keyboard).
    """
    from pavlov.task.display import Scene

    if say is None:

        def say(text: str) -> None:
            print(f"pavlov: {text}", file=sys.stderr, flush=True)

    say(f"keyboard check: press space (within {timeout:g} s) to start")
    scene = Scene(fixation=True)
    keyboard.clear()
    display.draw(scene)
    start = display.flip()
    now = start
    while now - start < timeout:
        display.draw(scene)
        now = display.flip()
        for name, time in keyboard.poll_keys():
            if name == "space":
                return time
    raise DeviceError(
        f"keyboard: no key press arrived in {timeout:g} s on the {keyboard.backend} backend; "
        "check that the keyboard is plugged in and that psychtoolbox can read it (P4)"
    )
