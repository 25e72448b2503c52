"""Safety caps enforced in the device layer, whatever the protocol loader let through.

:class:`ShockGuard` wraps any :class:`~pavlov.task.devices.base.ShockDevice`. The run
loop arms one window per scheduled US (:meth:`ShockGuard.arm`); a train is delivered
only inside an armed window, only once per window and once per label, only while the session has shocks
left under ``max_shocks``, and only if it is no longer than ``max_train_duration``.
Every refusal raises :class:`~pavlov.task.devices.base.SafetyError` and is kept in
:meth:`ShockGuard.refusals` for the log.
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from pavlov.task.devices.base import Clock, SafetyError, ShockDevice, TrainRecord
from pavlov.task.devices.simulated import check_train

__all__ = ["Refusal", "ShockGuard", "ShockLedger"]


@dataclass(frozen=True)
class Refusal:
    """A train the guard refused: clock ``time``, the caller's ``label``, and why."""

    time: float
    label: str
    reason: str


class ShockLedger:
    """An append-only record of every train a :class:`ShockGuard` lets through.

    One line per train, ``label<TAB>clock time``, written with a single ``os.write`` right
    before the device is triggered. It is not fsynced (that would stall the frame loop):
    the kernel keeps the line when the process is killed (SIGKILL, a crash), so a resumed
    run knows every US already delivered, including one whose trial never reached the
    events log. Only a power cut can lose it; the fsynced events log still holds every
    logged US then.

    Parameters
    ----------
    path : path-like
        The ledger file; created if missing, appended to if it exists.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def labels(self) -> list[str]:
        """Labels of the trains recorded so far, oldest first (a torn last line counts)."""
        text = self.path.read_bytes().decode("utf-8", errors="replace")
        return [line.split("\t", 1)[0] for line in text.splitlines() if line.strip()]

    def record(self, label: str, time: float) -> None:
        """Append one train; raises OSError if the line cannot be written."""
        if self._fd is None:
            raise OSError(f"{self.path}: the shock ledger is closed")
        line = f"{label}\t{time:.6f}\n".encode()
        if os.write(self._fd, line) != len(line):
            raise OSError(f"{self.path}: short write to the shock ledger")

    def close(self) -> None:
        """Close the file. Safe to call more than once."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


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
        self._ledger: ShockLedger | None = None
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

    def use_ledger(self, ledger: ShockLedger) -> None:
        """Count the trains ``ledger`` already holds, and record every new one there.

        On ``--resume`` this makes ``max_shocks`` cumulative over the run's processes and
        refuses a US that an earlier, killed process already delivered.
        """
        with self._lock:
            for label in ledger.labels():
                self._used.add(label)
                self._count += 1
            self._ledger = ledger

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
            if self._ledger is not None:
                try:
                    self._ledger.record(label, now)
                except OSError as error:
                    # A train that cannot be recorded could be repeated after a crash.
                    reason = f"it could not be recorded in the shock ledger ({error})"
                    self._refusals.append(Refusal(now, label, reason))
                    raise SafetyError(f"refused shock {label!r} on {self.name}: {reason}") from None
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
            ledger, self._ledger = self._ledger, None
        self.device.close()
        if ledger is not None:
            with contextlib.suppress(OSError):  # close() never raises: the line is low
                ledger.close()
