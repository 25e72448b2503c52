"""Serial backends against a real pseudo-terminal peer: bytes and timing on the wire."""

from __future__ import annotations

import itertools
import time

import pytest

from pavlov.task.devices.base import DeviceError
from pavlov.task.devices.serial_backend import SerialLines, SerialScanner
from pavlov.task.devices.spec import build_devices


def _wait(shock, limit=3.0):
    end = time.perf_counter() + limit
    while shock.busy():
        assert time.perf_counter() < end
        time.sleep(0.001)


def _runs(values, code):
    """Number of separate high runs of ``code`` (a pulse is code ... 0)."""
    return sum(1 for a, b in zip([0, *values], values) if b == code and a != code)


def test_session_trains_on_the_wire(pty_peer, real_clock):
    """Via build_devices: one train per US, the configured pulse count, last byte 0."""
    devices = build_devices(shock=f"serial:{pty_peer.path}", clock=real_clock)
    shock = devices.shock
    shock.open()
    for trial in range(3):
        shock.deliver(0.005, 0.012, 4, f"acquisition/{trial + 1}")
        _wait(shock)
        time.sleep(0.02)  # an ITI: the peer sees the trains apart
    records = shock.delivered()
    devices.close()
    values = pty_peer.values()
    assert [len(r.pulses) for r in records] == [4, 4, 4]
    assert values[0] == 0 and values[-1] == 0
    assert set(values) == {0, 1}
    assert _runs(values, 1) == 12
    # Trains apart, on the backend's own schedule (wall-clock gaps on the wire are the
    # CPU's business): each train's edges are 12 ms apart, and it ends before the next.
    for record in records:
        steps = [b - a for a, b in itertools.pairwise(record.planned)]
        assert steps == pytest.approx([0.012] * 3, abs=1e-9)
    for before, after in itertools.pairwise(records):
        assert before.pulses[-1][1] < after.planned[0]


def test_pulse_widths_on_the_wire(pty_peer, real_clock):
    """The peer sees five pulses, each high then low, at the backend's planned edges or
    later (the schedule is exact; the jitter on a shared CPU is the benchmark's to show)."""
    lines = SerialLines(pty_peer.path)
    from pavlov.task.devices.lines import PulseTrainShock

    shock = PulseTrainShock(lines, 1, real_clock, "ttl")
    shock.open()
    shock.deliver(0.01, 0.03, 5, "x")
    _wait(shock)
    (record,) = shock.delivered()
    shock.close()
    time.sleep(0.05)
    rx = pty_peer.received[1:]  # after the opening 0
    highs = [t for t, v in rx if v == 1]
    lows = [t for t, v in rx if v == 0][:5]
    assert len(highs) == 5 and len(lows) == 5
    assert all(high < low for high, low in zip(highs, lows, strict=True))
    steps = [b - a for a, b in itertools.pairwise(record.planned)]
    assert steps == pytest.approx([0.03] * 4, abs=1e-9)
    assert all(rise >= p for (rise, _), p in zip(record.pulses, record.planned, strict=True))


def test_scanner_chars_become_pulses(pty_peer, real_clock):
    """Each trigger character is one pulse stamped on arrival; other bytes are ignored."""
    scanner = SerialScanner(pty_peer.path, 115200, "5", real_clock)
    pty_peer.send(b"5")  # before start(): discarded
    time.sleep(0.02)
    scanner.start()
    sent = []
    for chunk in (b"5", b"x5", b"\n5"):
        sent.append(time.perf_counter())
        pty_peer.send(chunk)
        time.sleep(0.03)
    pulses = []
    end = time.perf_counter() + 1
    while len(pulses) < 3 and time.perf_counter() < end:
        pulses += scanner.poll()
        time.sleep(0.005)
    scanner.close()
    assert len(pulses) == 3
    assert pulses == sorted(pulses)
    for stamp, at in zip(pulses, sent):
        assert at <= stamp < at + 0.1


def test_scanner_peer_vanishes(pty_peer, real_clock):
    """When the interface disappears, poll raises DeviceError naming the port and what to check."""
    scanner = SerialScanner(pty_peer.path, 115200, "5", real_clock, name=f"serial:{pty_peer.path}")
    scanner.start()
    pty_peer.vanish()
    end = time.perf_counter() + 2
    with pytest.raises(DeviceError, match=rf"{pty_peer.path}.*check the cable"):
        while time.perf_counter() < end:
            scanner.poll()
            time.sleep(0.01)
    scanner.close()


def test_ttl_box_vanishes_mid_train(pty_peer, real_clock):
    """A box unplugged mid-session: DeviceError naming the port, set_low/close never raise."""
    from pavlov.task.devices.lines import PulseTrainShock

    shock = PulseTrainShock(SerialLines(pty_peer.path), 1, real_clock, f"serial:{pty_peer.path}")
    shock.open()
    shock.deliver(0.005, 0.02, 50, "acquisition/3")
    time.sleep(0.05)
    pty_peer.vanish()
    end = time.perf_counter() + 3
    with pytest.raises(DeviceError, match=rf"serial:{pty_peer.path}.*acquisition/3.*check"):
        while time.perf_counter() < end:
            shock.busy()
            time.sleep(0.005)
    shock.set_low()
    records = shock.delivered()  # the cut train is still reported, for the log
    assert len(records) == 1 and 0 < len(records[0].pulses) < 50
    with pytest.raises(DeviceError):
        shock.delivered()
    with pytest.raises(DeviceError):
        shock.deliver(0.005, 0.02, 1, "next")
    shock.close()
    shock.close()


def test_open_missing_port_names_it():
    """Opening a path that does not exist says which and what to check."""
    with pytest.raises(DeviceError, match=r"serial:/dev/nonexistent-tty.*dialout"):
        SerialLines("/dev/nonexistent-tty")


def test_shared_ttl_box_or_of_both(pty_peer, real_clock):
    """Shock and markers on one TTL box: markers never lower a pulse or raise the shock bit."""
    devices = build_devices(
        shock=f"serial:{pty_peer.path}", markers=f"serial:{pty_peer.path}", clock=real_clock
    )
    devices.shock.open()
    devices.markers.open()
    devices.shock.deliver(0.03, 0.06, 2, "us")
    time.sleep(0.01)
    devices.markers.send(20, "USp")
    _wait(devices.shock)
    time.sleep(0.02)
    devices.close()
    values = pty_peer.values()
    assert 21 in values  # shock bit held while the marker is up
    assert values[-1] == 0
    assert _runs([v & 1 for v in values], 1) == 2


def test_a_ttl_box_is_held_by_one_process_at_a_time(pty_peer):
    """Two sessions on one TTL box (e.g. two data folders, one participant): the second
    cannot open it while the first holds it; the box is free again after close."""
    import pytest

    from pavlov.task.devices.base import DeviceError
    from pavlov.task.devices.serial_backend import SerialLines

    first = SerialLines(pty_peer.path)
    with pytest.raises(DeviceError, match="exclusively lock"):
        SerialLines(pty_peer.path)
    first.close()
    SerialLines(pty_peer.path).close()
