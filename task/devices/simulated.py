"""Simulated scanner, shock stimulator and marker output, driven by the injected clock.

These are the devices of ``--simulate`` and of the run loop's unit tests. They never
touch hardware and never sleep: everything they report is computed from the clock, so a
fake clock that jumps gives exact, repeatable times. The clock is any object with a
``now()`` method returning seconds.

They keep what a real device would put on the wire (pulse trains, marker codes) so tests
can check it: :attr:`SimulatedShock.trains`, :attr:`SimulatedMarkers.sent`.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from pavlov.task.devices.base import Clock, DeviceError, SafetyError, TrainRecord
from pavlov.task.devices.limits import check_code, check_train

__all__ = [
    "SentMarker",
    "SimulatedMarkers",
    "SimulatedScanner",
    "SimulatedShock",
]


def train_edges(
    start: float, width: float, interval: float, count: int
) -> list[tuple[float, float]]:
    """Return the planned (rising, falling) edge times of a train starting at ``start``."""
    return [(start + k * interval, start + k * interval + width) for k in range(count)]


class SimulatedScanner:
    """A scanner that sends a sync pulse every ``tr`` seconds of the injected clock.

    Pulses come at ``t0 + start_delay + k * tr`` (k = 0, 1, ...), where ``t0`` is the clock
    time of :meth:`start`, and are reported by :meth:`poll` once the clock has passed them.

    Parameters
    ----------
    clock : Clock
        Any object with ``now()`` in seconds.
    tr : float
        Repetition time, seconds (> 0).
    start_delay : float
        Seconds from :meth:`start` to the first pulse (>= 0).
    stop_after : int or None
        The scanner stops after this many pulses (to test a scanner that stops);
        None sends pulses for ever.
    name : str
        Name used in logs and messages.
    """

    def __init__(
        self,
        clock: Clock,
        tr: float,
        start_delay: float = 0.0,
        stop_after: int | None = None,
        name: str = "simulated",
    ) -> None:
        if not (isinstance(tr, int | float) and math.isfinite(tr) and tr > 0):
            raise ValueError(f"tr must be > 0 s, got {tr!r}")
        if not (isinstance(start_delay, int | float) and start_delay >= 0):
            raise ValueError(f"start_delay must be >= 0 s, got {start_delay!r}")
        if stop_after is not None and (not isinstance(stop_after, int) or stop_after < 0):
            raise ValueError(f"stop_after must be a whole number >= 0 or None, got {stop_after!r}")
        self.clock = clock
        self.tr = float(tr)
        self.start_delay = float(start_delay)
        self.stop_after = stop_after
        self.name = name
        self._first: float | None = None
        self._next = 0  # index of the next pulse to report

    def start(self) -> None:
        """Start the pulse sequence now; pulses are counted from here."""
        self._first = self.clock.now() + self.start_delay
        self._next = 0

    def poll(self) -> list[float]:
        """Return the times of pulses the clock has passed since the last poll, oldest first."""
        if self._first is None:
            return []
        now = self.clock.now()
        # Index of the last pulse at or before now; the small tolerance keeps a fake clock
        # set exactly to a pulse time from missing it through float rounding.
        last = math.floor((now - self._first) / self.tr + 1e-9)
        if self.stop_after is not None:
            last = min(last, self.stop_after - 1)
        pulses = [self._first + k * self.tr for k in range(self._next, last + 1)]
        self._next = max(self._next, last + 1)
        return pulses

    def close(self) -> None:
        """Stop the pulse sequence."""
        self._first = None


class SimulatedShock:
    """A shock stimulator that records the trains it would deliver.

    A train asked for at clock time ``t`` has its pulses at ``t + k * interval``; it is
    :meth:`busy` until the clock passes its last falling edge, and then appears in
    :meth:`delivered`. :meth:`set_low` cuts a running train at the current clock time.

    Parameters
    ----------
    clock : Clock
        Any object with ``now()`` in seconds.
    name : str
        Name used in logs and messages.
    speed : float
        The session's speed-up: a rehearsal at ``--speed 40`` runs the simulated train on
        the session's clock, in 1/40 of its real duration, like every other duration of
        the session (a real stimulator only ever runs at speed 1). The train is still
        asked for, and checked by the guard, with its physical width and interval.

    Attributes
    ----------
    trains : list of TrainRecord
        Every train delivered or cut so far (completed ones), oldest first; edge times
        are clock times.
    """

    def __init__(self, clock: Clock, name: str = "simulated", speed: float = 1.0) -> None:
        if not (isinstance(speed, int | float) and math.isfinite(speed) and speed > 0):
            raise ValueError(f"speed must be > 0, got {speed!r}")
        self.clock = clock
        self.name = name
        self.speed = float(speed)
        self.trains: list[TrainRecord] = []
        self._lock = threading.Lock()
        self._open = False
        self._running: TrainRecord | None = None  # planned edges of the train in progress
        self._unreported: list[TrainRecord] = []

    def open(self) -> None:
        """Open the simulated device (the line is low)."""
        with self._lock:
            self._open = True

    def deliver(self, width: float, interval: float, count: int, label: str) -> None:
        """Start a train now; refuse it on a closed device or while another train runs."""
        check_train(width, interval, count)
        with self._lock:
            if not self._open:
                raise SafetyError(
                    f"refused pulse train {label!r}: shock device {self.name} is not open"
                )
            self._settle(self.clock.now())
            if self._running is not None:
                raise SafetyError(
                    f"refused pulse train {label!r}: shock device {self.name} is still "
                    f"delivering {self._running.label!r}"
                )
            now = self.clock.now()
            self._running = TrainRecord(
                label=label,
                requested=now,
                pulses=tuple(train_edges(now, width / self.speed, interval / self.speed, count)),
            )

    def busy(self) -> bool:
        """True until the clock passes the running train's last falling edge."""
        with self._lock:
            self._settle(self.clock.now())
            return self._running is not None

    def delivered(self) -> list[TrainRecord]:
        """Trains completed since the last call, oldest first."""
        with self._lock:
            self._settle(self.clock.now())
            done, self._unreported = self._unreported, []
            return done

    def line_high(self) -> bool:
        """True if the simulated shock line is high at the current clock time."""
        with self._lock:
            now = self.clock.now()
            self._settle(now)
            if self._running is None:
                return False
            return any(rise <= now < fall for rise, fall in self._running.pulses)

    def set_low(self) -> None:
        """Cut any running train at the current clock time."""
        with self._lock:
            now = self.clock.now()
            self._settle(now)
            if self._running is not None:
                cut = tuple(
                    (rise, min(fall, now)) for rise, fall in self._running.pulses if rise < now
                )
                self._finish(TrainRecord(self._running.label, self._running.requested, cut))

    def close(self) -> None:
        """Cut any running train and close. Safe to call more than once."""
        self.set_low()
        with self._lock:
            self._open = False

    def _settle(self, now: float) -> None:
        # Called with the lock held: a train whose last edge has passed is complete.
        if self._running is not None and now >= self._running.pulses[-1][1]:
            self._finish(self._running)

    def _finish(self, record: TrainRecord) -> None:
        self.trains.append(record)
        self._unreported.append(record)
        self._running = None


@dataclass(frozen=True)
class SentMarker:
    """A marker code as written: clock ``time``, ``code`` and the caller's ``label``."""

    time: float
    code: int
    label: str


class SimulatedMarkers:
    """A marker output that records every code with the clock time it was sent.

    Parameters
    ----------
    clock : Clock
        Any object with ``now()`` in seconds.
    name : str
        Name used in logs and messages.

    Attributes
    ----------
    sent : list of SentMarker
        Every code sent, oldest first.
    """

    def __init__(self, clock: Clock, name: str = "simulated") -> None:
        self.clock = clock
        self.name = name
        self.sent: list[SentMarker] = []
        self._open = False

    def open(self) -> None:
        """Open the simulated output (every line low)."""
        self._open = True

    def send(self, code: int, label: str) -> float:
        """Record ``code`` (1–255) at the current clock time and return that time."""
        check_code(code)
        if not self._open:
            raise DeviceError(
                f"marker {code} ({label}) not sent: marker output {self.name} is not open; "
                "call open() first"
            )
        now = self.clock.now()
        self.sent.append(SentMarker(now, code, label))
        return now

    def close(self) -> None:
        """Close the output. Safe to call more than once."""
        self._open = False
