"""Safety caps enforced in the device layer, whatever the protocol loader let through.

:class:`ShockGuard` wraps any :class:`~pavlov.task.devices.base.ShockDevice`. The run
loop arms one window per scheduled US (:meth:`ShockGuard.arm`); a train is delivered
only inside an armed window, only once per window and once per label, only while the session has shocks
left under ``max_shocks``, and only if it is no longer than ``max_train_duration``.
Every refusal raises :class:`~pavlov.task.devices.base.SafetyError` and is kept in
:meth:`ShockGuard.refusals` for the log.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from pavlov.task.devices.base import Clock, SafetyError, ShockDevice, TrainRecord
from pavlov.task.devices.simulated import check_train

__all__ = ["Refusal", "ShockGuard"]


@dataclass(frozen=True)
class Refusal:
    """A train the guard refused: clock ``time``, the caller's ``label``, and why."""

    time: float
    label: str
    reason: str


class ShockGuard:
    """A shock device that refuses any train not scheduled or over a cap.

    Parameters
    ----------
    device : ShockDevice
        The device that delivers accepted trains.
    max_shocks : int
        Most trains one session may deliver (>= 0).
    max_train_duration : float
        Longest train, first rising to last falling edge, seconds (> 0).
    clock : Clock
        Session clock; windows and refusals use its times.
    """

    def __init__(
        self, device: ShockDevice, max_shocks: int, max_train_duration: float, clock: Clock
    ) -> None:
        if isinstance(max_shocks, bool) or not isinstance(max_shocks, int) or max_shocks < 0:
            raise ValueError(f"max_shocks must be a whole number >= 0, got {max_shocks!r}")
        if not (isinstance(max_train_duration, int | float) and max_train_duration > 0):
            raise ValueError(f"max_train_duration must be > 0 s, got {max_train_duration!r}")
        self.device = device
        self.name = device.name
        self.max_shocks = max_shocks
        self.max_train_duration = float(max_train_duration)
        self.clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, float]] = {}
        self._refusals: list[Refusal] = []
        self._count = 0
        # Labels already delivered: re-arming one (an event replayed after Escape, n) must
        # not give the same scheduled US twice.
        self._used: set[str] = set()

    @property
    def shocks_delivered(self) -> int:
        """Trains accepted so far this session."""
        return self._count

    def arm(self, label: str, start: float, end: float) -> None:
        """Allow one train labelled ``label`` between clock times ``start`` and ``end``."""
        if not end >= start:
            raise ValueError(
                f"US window {label!r} must end at or after its start, got {start}..{end}"
            )
        with self._lock:
            self._windows[label] = (float(start), float(end))

    def disarm(self, label: str) -> None:
        """Close the window for ``label`` (no error if none is open)."""
        with self._lock:
            self._windows.pop(label, None)

    def refusals(self) -> list[Refusal]:
        """Every refusal so far, oldest first."""
        with self._lock:
            return list(self._refusals)

    def deliver(self, width: float, interval: float, count: int, label: str) -> None:
        """Deliver the train if it is scheduled now and within the caps; else refuse."""
        now = self.clock.now()
        with self._lock:
            reason = self._check(width, interval, count, label, now)
            if reason is not None:
                self._refusals.append(Refusal(now, label, reason))
                raise SafetyError(f"refused shock {label!r} on {self.name}: {reason}")
            # The window is used up before the device is touched: a failing device
            # must not get a second try at the same US.
            del self._windows[label]
            self._used.add(label)
            self._count += 1
        self.device.deliver(width, interval, count, label)

    def _check(
        self, width: float, interval: float, count: int, label: str, now: float
    ) -> str | None:
        try:
            check_train(width, interval, count)
        except SafetyError as error:
            return str(error).removeprefix("refused pulse train: ")
        duration = (count - 1) * interval + width
        if duration > self.max_train_duration + 1e-9:
            return (
                f"train of {duration:.4g} s is longer than the cap max_train_duration "
                f"{self.max_train_duration:g} s"
            )
        if self._count >= self.max_shocks:
            return f"the session already had max_shocks {self.max_shocks} shocks"
        window = self._windows.get(label)
        if window is None:
            return "no scheduled US is armed with this label"
        if label in self._used:
            return f"the US {label!r} was already delivered once this session"
        start, end = window
        if not start <= now <= end:
            return (
                f"clock time {now:.3f} s is outside the scheduled US window {start:.3f}-{end:.3f} s"
            )
        return None

    def busy(self) -> bool:
        """True while the device delivers a train."""
        return self.device.busy()

    def delivered(self) -> list[TrainRecord]:
        """Trains completed since the last call."""
        return self.device.delivered()

    def set_low(self) -> None:
        """Stop any train and drive the line low now. Never raises."""
        self.device.set_low()

    def open(self) -> None:
        """Open the device with every line low."""
        self.device.open()

    def close(self) -> None:
        """Close windows and the device. Never raises."""
        with self._lock:
            self._windows.clear()
        self.device.close()
