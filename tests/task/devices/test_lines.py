"""Threads of the line devices (pavlov.task.devices.lines), on a pty TTL box recording every
byte: a write in flight never makes set_low or a marker wait, and set_low always wins."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time

import pytest

from pavlov.task.devices.base import SafetyError
from pavlov.task.devices.lines import LineMarkers, PulseTrainShock, SharedLines
from pavlov.task.devices.serial_backend import SerialLines


class HeldLines:
    """Lines whose writes of a value with ``bit`` set wait for ``release`` first, as a
    serial write and flush stuck until its write timeout (0.5 s) would."""

    def __init__(self, inner, bit: int) -> None:
        self.inner = inner
        self.name = inner.name
        self.bit = bit
        self.held = threading.Event()  # a write is waiting
        self.release = threading.Event()

    def write(self, value: int) -> None:
        if value & self.bit and not self.release.is_set():
            self.held.set()
            self.release.wait(10)
        self.inner.write(value)

    def close(self) -> None:
        self.inner.close()


def _returns_while_held(call) -> bool:
    """Run ``call`` on a thread; True if it returned while the held write still waits."""
    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(timeout=3)
    return not thread.is_alive()


def _finish(shock) -> None:
    deadline = time.monotonic() + 5
    while shock.busy():
        assert time.monotonic() < deadline, "train never finished"
        time.sleep(0.001)


def test_set_low_never_waits_for_a_write_in_flight(pty_peer, real_clock):
    """set_low returns while the train's write is stuck; once it returns the train ends with
    the line low: one pulse on the wire, last byte 0."""
    lines = HeldLines(SerialLines(pty_peer.path), 1)
    shock = PulseTrainShock(lines, 1, real_clock, "serial")
    shock.open()
    shock.deliver(0.01, 0.02, 5, "acquisition/1")
    assert lines.held.wait(5)
    try:
        assert _returns_while_held(shock.set_low), "set_low waited for the stuck write"
    finally:
        lines.release.set()
    _finish(shock)
    (record,) = shock.delivered()
    assert len(record.pulses) <= 1
    values = pty_peer.values()
    assert values.count(1) <= 1 and values[-1] == 0
    shock.close()


def test_marker_and_set_low_on_a_shared_port_never_wait_for_the_shocks_write(pty_peer, real_clock):
    """On one port, a marker sent and set_low called while the shock's write is stuck both
    return at once; the marker still reaches the wire, and the last byte is 0."""
    port = SharedLines(HeldLines(SerialLines(pty_peer.path), 1))
    shock = PulseTrainShock(port.channel(1, "shock"), 1, real_clock, "shock")
    markers = LineMarkers(port.channel(0xFE, "markers"), real_clock, 0.005, "markers")
    shock.open()
    markers.open()
    shock.deliver(0.01, 0.02, 5, "acquisition/1")
    assert port.lines.held.wait(5)
    try:
        assert _returns_while_held(lambda: markers.send(4, "CS+")), "the marker waited"
        assert _returns_while_held(shock.set_low), "set_low waited for the stuck write"
    finally:
        port.lines.release.set()
    _finish(shock)
    markers.close()
    shock.close()
    values = pty_peer.values()
    assert any(v & 4 for v in values), values
    assert values[-1] == 0
    assert not any(v & 1 for v in values[values.index(max(values, key=lambda v: v & 1)) + 2 :])


class _LowDuringStart(PulseTrainShock):
    """A shock whose deliver, after it began and before it takes its lock, lets another
    thread run a whole set_low: the interleaving a race can only hit by chance, forced."""

    race = True

    def _raise_error(self) -> None:
        if self.race:
            self.race = False
            other = threading.Thread(target=self.set_low)
            other.start()
            other.join()
        super()._raise_error()


def test_set_low_during_deliver_start_is_never_undone(real_clock):
    """A set_low from another thread that runs while deliver is starting its train wins every
    time: deliver refuses the train and the line never rises (deterministic: the old code,
    which cleared the stop latch after that point, delivered the whole train)."""
    lines = _TimedLines()
    shock = _LowDuringStart(lines, 1, real_clock, "recording")
    shock.open()
    lines.writes.clear()
    try:
        with pytest.raises(SafetyError, match="set low while the train was being started"):
            shock.deliver(0.0005, 0.001, 3, "t/1")
        _finish(shock)
    finally:
        shock.close()
    assert [value for _, value in lines.writes if value] == []
    assert shock.delivered() == []


def test_set_low_racing_deliver_always_wins(real_clock):
    """A set_low that starts while deliver is starting a train cancels that train: over many
    races with thread switches forced every microsecond, no pulse ever rises after a set_low
    that began after deliver did."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    lines = _TimedLines()
    shock = PulseTrainShock(lines, 1, real_clock, "recording")
    shock.open()
    late = []
    try:
        for k in range(300):
            go = threading.Barrier(2)
            started: dict[str, float] = {}

            def deliver(k=k, go=go, started=started):
                go.wait()
                started["deliver"] = real_clock.now()
                with contextlib.suppress(SafetyError):  # refused because set_low won: fine
                    shock.deliver(0.0005, 0.001, 2, f"t/{k}")

            def lower(k=k, go=go, started=started):
                go.wait()
                for _ in range(k % 7 * 10):
                    pass
                started["low"] = real_clock.now()
                shock.set_low()
                started["low_done"] = real_clock.now()

            threads = [threading.Thread(target=deliver), threading.Thread(target=lower)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            _finish(shock)
            shock.delivered()
            if started["deliver"] < started["low"]:
                late += [t for t, v in lines.writes if v and t > started["low_done"]]
            lines.writes.clear()
    finally:
        sys.setswitchinterval(previous)
        shock.close()
    assert late == []


class _TimedLines:
    """Lines that record (session-clock time, value) of every write."""

    name = "recording"

    def __init__(self) -> None:
        self.writes: list[tuple[float, int]] = []

    def write(self, value: int) -> None:
        self.writes.append((time.perf_counter(), value))

    def close(self) -> None:
        pass


def test_a_signal_handler_lowering_the_line_mid_train_never_deadlocks(pty_peer, real_clock):
    """Adversarial: SIGALRM every 3 ms calls set_low on the frame loop's own thread while
    that thread delivers, polls and lowers trains: it never deadlocks (the state lock is
    re-entrant, set_low never waits for the port), and the wire ends low."""
    shock = PulseTrainShock(SerialLines(pty_peer.path), 1, real_clock, "serial")
    shock.open()
    busy = []

    def lower(*_):
        # A handler still running when the next SIGALRM comes (a loaded CPU) must not nest
        # without bound (RecursionError); what is tested is the frame loop's own thread
        # lowering the line while it holds the shock's locks.
        if busy:
            return
        busy.append(True)
        try:
            shock.set_low()
        finally:
            busy.clear()

    previous = signal.signal(signal.SIGALRM, lower)
    signal.setitimer(signal.ITIMER_REAL, 0.003, 0.003)
    try:
        for k in range(40):
            with contextlib.suppress(SafetyError):  # refused: a set_low came first
                shock.deliver(0.002, 0.004, 3, f"t/{k}")
            _finish(shock)
            shock.delivered()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    shock.close()
    assert pty_peer.values()[-1] == 0


def test_two_threads_lowering_during_a_train_leave_the_line_low(pty_peer, real_clock):
    """Adversarial: two threads calling set_low 200 times each while trains run: no
    deadlock, every train ends, the last byte on the wire is 0."""
    shock = PulseTrainShock(SerialLines(pty_peer.path), 1, real_clock, "serial")
    shock.open()
    stop = threading.Event()

    def hammer():
        for _ in range(200):
            shock.set_low()
            time.sleep(0.0005)
        stop.set()

    threads = [threading.Thread(target=hammer) for _ in range(2)]
    for thread in threads:
        thread.start()
    while not stop.is_set():
        with contextlib.suppress(SafetyError):
            shock.deliver(0.001, 0.002, 5, "t")
        _finish(shock)
        shock.delivered()
    for thread in threads:
        thread.join(timeout=5)
        assert not thread.is_alive()
    shock.close()
    assert pty_peer.values()[-1] == 0
