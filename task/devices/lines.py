"""Digital output lines, and the shock and marker devices built on them.

Every wired backend (serial TTL box, parallel port, LabJack) reduces to eight output
lines set together by writing one value: :class:`OutputLines`. On top of that, two
generic devices do the timing, once for every backend:

- :class:`PulseTrainShock` (a :class:`~pavlov.task.devices.base.ShockDevice`) times a
  pulse train on its own thread, busy-waiting on ``time.perf_counter`` for sub-millisecond
  edges and sleeping through long gaps, and records every edge with the session clock;
- :class:`LineMarkers` (a :class:`~pavlov.task.devices.base.MarkerOutput`) writes a code,
  and lowers it ``pulse_width`` seconds later on its own thread, so ``send`` never blocks
  the frame loop for the width.

Shock and markers may share one port (ReactExtMRI wires the stimulator to one pin of the
parallel port that carries the BIOPAC markers). :class:`SharedLines` arbitrates: each
user gets a :meth:`~SharedLines.channel` owning a disjoint set of bits, and the value
written to the port is the OR of every channel's state, so a marker never lowers a shock
pulse in progress and no marker code can ever raise a shock line.

Pulse widths are physical: they are timed in real seconds whatever the session's speed.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import time
import typing

from pavlov.task.devices.base import Clock, DeviceError, SafetyError, TrainRecord
from pavlov.task.devices.limits import check_code, check_train

__all__ = [
    "LineMarkers",
    "MaskedLines",
    "OutputLines",
    "PulseTrainShock",
    "RecordingLines",
    "SharedLines",
    "wait_until",
]

#: Sleep through waits longer than this, then busy-wait the rest (seconds). The OS may
#: wake a sleeping thread a millisecond or two late; the busy-wait absorbs that.
SPIN = 0.002


class OutputLines(typing.Protocol):
    """Eight digital output lines, set together."""

    name: str

    def write(self, value: int) -> None:
        """Set the lines to ``value`` (bit n = line n). Raise DeviceError on failure."""
        ...

    def close(self) -> None:
        """Release the device (without writing). Never raises."""
        ...


def wait_until(deadline: float, stop: threading.Event | None = None) -> bool:
    """Wait until ``time.perf_counter()`` reaches ``deadline``.

    Sleeps (interruptibly, on ``stop``) until :data:`SPIN` before the deadline, then
    busy-waits. Returns False if ``stop`` was set before the deadline.
    """
    while True:
        left = deadline - time.perf_counter()
        if stop is not None and stop.is_set():
            return False
        if left <= 0:
            return True
        if left > SPIN:
            if stop is not None:
                stop.wait(left - SPIN)
            else:
                time.sleep(left - SPIN)


class RecordingLines:
    """Output lines that only remember what was written, with ``perf_counter`` times.

    Used by ``pavlov devices check`` dry runs and by tests; ``fail_after`` makes the
    n-th write (1-based) and every later one raise DeviceError, as a device unplugged
    mid-session would.
    """

    def __init__(self, name: str = "recording", fail_after: int | None = None) -> None:
        self.name = name
        self.fail_after = fail_after
        self.writes: list[tuple[float, int]] = []
        self.closed = False
        self._lock = threading.Lock()

    def write(self, value: int) -> None:
        """Record ``value``; raise DeviceError once ``fail_after`` writes were made."""
        with self._lock:
            if self.fail_after is not None and len(self.writes) + 1 >= self.fail_after:
                raise DeviceError(f"{self.name}: write failed (simulated fault); check the cable")
            self.writes.append((time.perf_counter(), value))

    def close(self) -> None:
        """Mark closed."""
        self.closed = True


class SharedLines:
    """Let several users (a shock line and marker lines) share one port safely.

    Parameters
    ----------
    lines : OutputLines
        The port.

    Notes
    -----
    Each :meth:`channel` owns a set of bits; masks must not overlap. Every write puts
    the OR of all channels' states on the port under one lock. The port is closed when
    the last channel closes.
    """

    def __init__(self, lines: OutputLines) -> None:
        self.lines = lines
        self.name = lines.name
        # Guards the state below; never held across a write. Re-entrant: a signal handler
        # that lowers the line may interrupt this thread inside it.
        self._lock = threading.RLock()
        self._states: dict[int, int] = {}  # channel id -> its current bits
        self._owned = 0
        self._channels: list[MaskedLines] = []
        self._queue: collections.deque[int] = collections.deque()  # values not yet written
        self._writing = False  # a thread is writing the queue to the port
        self._failed: DeviceError | None = None

    def channel(self, mask: int, name: str | None = None) -> MaskedLines:
        """Return lines that own the bits of ``mask`` (1–255) on the shared port.

        Raises
        ------
        ValueError
            If ``mask`` is out of range or overlaps a channel already given out.
        """
        if isinstance(mask, bool) or not isinstance(mask, int) or not 1 <= mask <= 255:
            raise ValueError(f"line mask must be 1-255, got {mask!r}")
        with self._lock:
            if mask & self._owned:
                raise ValueError(
                    f"{self.name}: lines {mask_lines(mask & self._owned)} are already used "
                    "by another device on this port; give shock and markers separate lines"
                )
            self._owned |= mask
            channel = MaskedLines(self, mask, name or self.name)
            self._states[id(channel)] = 0
            self._channels.append(channel)
            return channel

    def _write(self, channel: MaskedLines, value: int) -> None:
        # A write to the port can take long (a serial flush waits for the byte to leave,
        # up to its write timeout): a caller that finds a write in flight queues its
        # value and returns, and the writing thread writes the queue in order before it
        # returns. So neither a marker nor set_low waits behind the shock's write, no
        # value is lost (a short marker is still seen), and the last value written is
        # always the channels' current OR.
        with self._lock:
            if self._failed is not None:
                raise self._failed
            self._states[id(channel)] = value
            combined = 0
            for state in self._states.values():
                combined |= state
            self._queue.append(combined)
            if self._writing:
                return
            self._writing = True
        self._drain()

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._writing = False
                    return
                value = self._queue.popleft()
            try:
                self.lines.write(value)
            except Exception as error:
                failed = (
                    error
                    if isinstance(error, DeviceError)
                    else DeviceError(f"{self.name}: {error}")
                )
                with self._lock:
                    self._failed = failed
                    self._queue.clear()
                    self._writing = False
                raise failed from None

    def _release(self, channel: MaskedLines) -> None:
        with self._lock:
            self._states.pop(id(channel), None)
            if not self._states:
                with contextlib.suppress(Exception):
                    self.lines.close()


class MaskedLines:
    """One user's lines on a :class:`SharedLines` port (from :meth:`SharedLines.channel`)."""

    def __init__(self, shared: SharedLines, mask: int, name: str) -> None:
        self.shared = shared
        self.mask = mask
        self.name = name
        self._closed = False

    def write(self, value: int) -> None:
        """Set this channel's lines; ``value`` may only use bits of the channel's mask."""
        if value & ~self.mask:
            raise ValueError(
                f"{self.name}: value {value} would drive lines {mask_lines(value & ~self.mask)}, "
                f"which this device does not own (it owns {mask_lines(self.mask)})"
            )
        self.shared._write(self, value)

    def close(self) -> None:
        """Release this channel (the port closes with its last channel). Never raises."""
        if self._closed:
            return
        self._closed = True
        self.shared._release(self)


def mask_lines(mask: int) -> str:
    """Return the bits of ``mask`` as ``D0, D3`` style line names."""
    return ", ".join(f"D{bit}" for bit in range(8) if mask >> bit & 1) or "none"


def _safe_low(lines: OutputLines) -> DeviceError | None:
    # Drive the lines low, never raising: the caller is already on a safety path.
    try:
        lines.write(0)
    except Exception as error:  # set_low/close must never raise
        return error if isinstance(error, DeviceError) else DeviceError(f"{lines.name}: {error}")
    return None


class PulseTrainShock:
    """A shock stimulator driven by TTL pulses on output lines.

    Parameters
    ----------
    lines : OutputLines
        The port the stimulator's trigger input is wired to.
    shock_mask : int
        The bit(s) wired to the stimulator (1–255). Only these are raised for a pulse.
    clock : Clock
        Session clock; edge times are recorded on it.
    name : str
        Name used in logs and messages, e.g. ``serial:/dev/ttyUSB0``.

    Notes
    -----
    Trains run on a daemon thread. A write error stops the train, drives the line low
    (if the device still answers) and is stored; the next :meth:`deliver` or :meth:`busy`
    raises it, and :meth:`delivered` returns the cut train and then raises it.
    """

    def __init__(self, lines: OutputLines, shock_mask: int, clock: Clock, name: str) -> None:
        if isinstance(shock_mask, bool) or not isinstance(shock_mask, int):
            raise ValueError(f"shock_mask must be a whole number 1-255, got {shock_mask!r}")
        if not 1 <= shock_mask <= 255:
            raise ValueError(f"shock_mask must be a whole number 1-255, got {shock_mask!r}")
        self.lines = lines
        self.shock_mask = shock_mask
        self.clock = clock
        self.name = name
        # Two locks: ``_io`` is held across a write to the port (which can take up to the
        # write timeout); ``_state`` guards the fields below and is never held across I/O,
        # so set_low (called from the frame loop, a signal path or another thread) never
        # waits for a write in flight.
        self._io = threading.Lock()
        # Re-entrant: a signal handler (running on the frame loop's thread) may call
        # set_low while that thread is inside deliver.
        self._state = threading.RLock()
        # Bumped by every set_low: a train started before it (or while it ran) never
        # raises the line again. A per-train stop event only wakes that train's waits.
        self._generation = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._opened = False
        self._error: DeviceError | None = None
        self._done: list[TrainRecord] = []

    def open(self) -> None:
        """Drive the lines low; after this trains may be delivered."""
        with self._io:
            self.lines.write(0)
        with self._state:
            self._opened = True

    def deliver(self, width: float, interval: float, count: int, label: str) -> None:
        """Start a train of ``count`` pulses now, timed on a thread; return at once.

        A :meth:`set_low` from any thread that starts after this call began cancels the
        train (it is refused, or its remaining pulses are never raised).
        """
        with self._state:
            generation = self._generation
        check_train(width, interval, count)
        self._raise_error()
        with self._state:
            if not self._opened:
                raise SafetyError(
                    f"refused pulse train {label!r}: shock device {self.name} is not open"
                )
            if self._thread is not None and self._thread.is_alive():
                raise SafetyError(
                    f"refused pulse train {label!r}: shock device {self.name} is still delivering "
                    "the previous train"
                )
            if generation != self._generation:
                raise SafetyError(
                    f"refused pulse train {label!r}: shock device {self.name} was set low "
                    "while the train was being started"
                )
            stop = self._stop = threading.Event()
            requested = self.clock.now()
            self._thread = threading.Thread(
                target=self._run,
                args=(float(width), float(interval), int(count), label, requested),
                kwargs={"generation": generation, "stop": stop},
                name=f"pavlov-shock-{self.name}",
                daemon=True,
            )
            self._thread.start()

    def busy(self) -> bool:
        """True while a train is running; raises a stored device error."""
        self._raise_error()
        thread = self._thread
        return thread is not None and thread.is_alive()

    def delivered(self) -> list[TrainRecord]:
        """Trains finished (or cut) since the last call; then any stored device error."""
        with self._state:
            done, self._done = self._done, []
        if not done:
            self._raise_error()
        return done

    def set_low(self) -> None:
        """Stop any train and drive the line low now. Safe from any thread; never raises
        and never waits for a write in flight (the thread writing lowers the line as soon
        as its write returns)."""
        with self._state:
            self._generation += 1
            self._stop.set()
        if self._io.acquire(blocking=False):
            try:
                self._store(_safe_low(self.lines))
            finally:
                self._io.release()

    def close(self) -> None:
        """Stop any train, drive every line low and release the port. Never raises."""
        self.set_low()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=1.0)
        with self._state:
            was_open, self._opened = self._opened, False
        with self._io:
            if was_open:
                _safe_low(self.lines)
            with contextlib.suppress(Exception):
                self.lines.close()

    def _store(self, error: DeviceError | None) -> None:
        if error is not None:
            with self._state:
                if self._error is None:
                    self._error = error

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _cancelled(self, generation: int) -> bool:
        with self._state:
            return generation != self._generation

    def _pulse(
        self, generation: int, stop: threading.Event, width: float
    ) -> tuple[float, float] | None:
        """Raise the line, hold it ``width`` s (less after a set_low), lower it; return the
        (rise, fall) clock times, or None when a set_low came before the line was raised."""
        with self._io:
            if self._cancelled(generation):
                return None
            self.lines.write(self.shock_mask)
            rise = self.clock.now()
            rise_real = time.perf_counter()
        # Checked after the write returned: a set_low during it found the port busy and
        # could not write 0, so the line is lowered here at once.
        if not self._cancelled(generation):
            wait_until(rise_real + width, stop)
        with self._io:
            self.lines.write(0)  # also after a set_low: writing 0 twice is harmless
            return rise, self.clock.now()

    def _run(
        self,
        width: float,
        interval: float,
        count: int,
        label: str,
        requested: float,
        *,
        generation: int,
        stop: threading.Event,
    ) -> None:
        pulses: list[tuple[float, float]] = []
        # The schedule of rising edges on the session clock: clock read first, so the
        # offset can only err early and a written edge is never before its planned time.
        offset = self.clock.now() - time.perf_counter()
        start = time.perf_counter()
        planned = tuple(start + offset + k * interval for k in range(count))
        try:
            for k in range(count):
                if not wait_until(start + k * interval, stop):
                    break
                pulse = self._pulse(generation, stop, width)
                if pulse is None:
                    break
                pulses.append(pulse)
                if self._cancelled(generation):
                    break
        except Exception as error:  # any failure must leave the line low
            message = (
                f"shock device {self.name}: pulse train {label!r} stopped after "
                f"{len(pulses)} of {count} pulses: {error}"
            )
            with self._io:
                _safe_low(self.lines)
            self._store(DeviceError(message))
        finally:
            with self._state:
                self._done.append(TrainRecord(label, requested, tuple(pulses), planned))


class LineMarkers:
    """Marker codes on output lines: the code, ``pulse_width`` seconds, then 0.

    Parameters
    ----------
    lines : OutputLines
        The port wired to the physiology recorder's digital inputs.
    clock : Clock
        Session clock; ``send`` returns the time on it.
    pulse_width : float
        Seconds each code is held (the recorder must sample at least twice in it).
    name : str
        Name used in logs and messages.

    Notes
    -----
    A code sent while the previous one is still up first lowers the lines for
    ``min(pulse_width, 1 ms)`` so the recorder sees two events, not one changed value.
    """

    #: Longest low gap forced between two back-to-back codes, seconds.
    GAP = 0.001

    def __init__(self, lines: OutputLines, clock: Clock, pulse_width: float, name: str) -> None:
        if not (isinstance(pulse_width, int | float) and 0 < pulse_width <= 1.0):
            raise ValueError(f"marker pulse_width must be > 0 and <= 1 s, got {pulse_width!r}")
        self.lines = lines
        self.clock = clock
        self.pulse_width = float(pulse_width)
        self.name = name
        self._cond = threading.Condition()
        self._fall_at: float | None = None  # perf_counter time the current code is lowered
        self._open = False
        self._error: DeviceError | None = None
        self._thread: threading.Thread | None = None

    def open(self) -> None:
        """Drive the lines low and start the thread that ends each code."""
        with self._cond:
            self.lines.write(0)
            self._open = True
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._lower_loop, name=f"pavlov-markers-{self.name}", daemon=True
                )
                self._thread.start()

    def send(self, code: int, label: str) -> float:
        """Write ``code`` now; return the clock time it was written. Lowered on a thread."""
        check_code(code)
        with self._cond:
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            if not self._open:
                raise DeviceError(
                    f"marker {code} ({label}) not sent: marker output {self.name} is not open"
                )
            if self._fall_at is not None:
                self.lines.write(0)
                wait_until(time.perf_counter() + min(self.GAP, self.pulse_width))
            try:
                self.lines.write(code)
            except DeviceError as error:
                raise DeviceError(f"marker {code} ({label}) not sent: {error}") from None
            written = self.clock.now()
            self._fall_at = time.perf_counter() + self.pulse_width
            self._cond.notify_all()
            return written

    def close(self) -> None:
        """Drive the lines low, stop the thread and release the port. Never raises."""
        with self._cond:
            was_open = self._open
            self._open = False
            self._fall_at = None
            if was_open:
                _safe_low(self.lines)
            self._cond.notify_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=1.0)
        with contextlib.suppress(Exception):
            self.lines.close()

    def _lower_loop(self) -> None:
        with self._cond:
            while self._open:
                if self._fall_at is None:
                    self._cond.wait()
                    continue
                left = self._fall_at - time.perf_counter()
                if left > 0:
                    self._cond.wait(left)
                    continue
                self._fall_at = None
                error = _safe_low(self.lines)
                if error is not None:
                    self._error = DeviceError(f"marker output {self.name}: {error}")
