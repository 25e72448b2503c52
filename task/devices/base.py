"""The interfaces every device implementation satisfies.

The run loop receives its clock, scanner trigger, shock device and marker output as
objects of these types (inject, don't patch). Each has a simulated implementation used by
``--simulate`` and the tests, and real ones (serial, parallel port, LabJack, LSL) in their
own modules, which alone import device libraries.

All times are seconds on the injected clock's base (for the PsychoPy runner,
``psychopy.core.getTime``, the same base as flip and key times).
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field

from pavlov.common.errors import PavlovError


class DeviceError(PavlovError, OSError):
    """A device could not be opened, written or read.

    The message names the device, what was being done, and what to check.
    """

    exit_status = 3


class SafetyError(PavlovError, RuntimeError):
    """A shock was refused: outside a scheduled US, over a cap, or on a closed device."""

    exit_status = 4


class Clock(typing.Protocol):
    """A monotonic clock in seconds."""

    def now(self) -> float:
        """Seconds on the clock's base."""
        ...


@dataclass(frozen=True)
class TrainRecord:
    """A pulse train as actually delivered.

    Attributes
    ----------
    label : str
        What the train was for (e.g. ``acquisition/7``), given by the caller.
    requested : float
        Clock time the train was asked for.
    pulses : tuple of (float, float)
        (rising edge, falling edge) clock times of every pulse, as written to the device.
    planned : tuple of float
        Clock times the backend aimed each rising edge at (its own schedule: the first
        edge plus k intervals); empty for devices that do not schedule edges themselves.
        Written edges are never before them; by how much they are after is jitter.
    """

    label: str
    requested: float
    pulses: tuple[tuple[float, float], ...] = field(default_factory=tuple)
    planned: tuple[float, ...] = field(default_factory=tuple)

    @property
    def onset(self) -> float | None:
        """Time of the first rising edge, or None if no pulse was written."""
        return self.pulses[0][0] if self.pulses else None


class ScannerTrigger(typing.Protocol):
    """Scanner sync pulses in."""

    name: str

    def start(self) -> None:
        """Start listening (pulses before this are not reported)."""
        ...

    def poll(self) -> list[float]:
        """Return the clock times of pulses received since the last poll, oldest first."""
        ...

    def close(self) -> None:
        """Stop listening and release the device."""
        ...


class ShockDevice(typing.Protocol):
    """Pulse trains out to a shock stimulator.

    ``deliver`` must not block the frame loop for the train's length: implementations
    time the train on their own thread (or hardware) and report it in ``delivered``.
    Every implementation keeps the shock line low on ``open``, ``close`` and ``set_low``.
    """

    name: str

    def open(self) -> None:
        """Open the device with every line low."""
        ...

    def deliver(self, width: float, interval: float, count: int, label: str) -> None:
        """Start a train of ``count`` pulses of ``width`` s, onset to onset ``interval`` s."""
        ...

    def busy(self) -> bool:
        """True while a train is being delivered."""
        ...

    def delivered(self) -> list[TrainRecord]:
        """Completed trains since the last call, oldest first."""
        ...

    def set_low(self) -> None:
        """Stop any train and drive the shock line low now (safe from any thread)."""
        ...

    def close(self) -> None:
        """Drive every line low and release the device. Safe to call more than once."""
        ...


class MarkerOutput(typing.Protocol):
    """Event codes out to a physiology recorder."""

    name: str

    def open(self) -> None:
        """Open the output with every line low."""
        ...

    def send(self, code: int, label: str) -> float:
        """Send ``code`` (1–255) now; return the clock time it was written."""
        ...

    def close(self) -> None:
        """Drive every line low and release the output. Safe to call more than once."""
        ...
