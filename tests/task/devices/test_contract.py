"""One contract suite for every shock and marker implementation.

Each backend runs against its real peer or a fake of its library at the library
boundary: simulated (clock-driven), serial (a pseudo-terminal), parallel port (psychopy's
real ``parallel`` module over a fake pyparallel), LabJack U3 (a fake ``u3``) and LSL
(a fake ``pylsl``, markers only).
"""

from __future__ import annotations

import itertools
import time

import pytest

from pavlov.task.devices.base import SafetyError
from pavlov.task.devices.lines import LineMarkers, PulseTrainShock
from pavlov.task.devices.simulated import SimulatedMarkers, SimulatedShock

SHOCK = 1  # shock code / line


class Wire:
    """What reached each device's lines, oldest first: the shock's, and the markers'."""

    def __init__(self, shock, markers) -> None:
        self.shock, self.markers = shock, markers


def _simulated(request, clock):
    shock, markers = SimulatedShock(clock), SimulatedMarkers(clock)

    def shock_wire():
        # The simulated lines are low from the start.
        return [0] + [
            value for record in shock.trains for _ in record.pulses for value in (SHOCK, 0)
        ]

    def marker_wire():
        return [0] + [value for sent in markers.sent for value in (sent.code, 0)]

    return shock, markers, Wire(shock_wire, marker_wire)


def _serial(request, clock):
    from pavlov.task.devices.serial_backend import SerialLines

    shock_peer = request.getfixturevalue("pty_peer")
    marker_peer = type(shock_peer)()
    request.addfinalizer(marker_peer.close)
    shock = PulseTrainShock(SerialLines(shock_peer.path), SHOCK, clock, "serial")
    markers = LineMarkers(SerialLines(marker_peer.path), clock, 0.005, "serial")
    return shock, markers, Wire(shock_peer.values, marker_peer.values)


def _parallel(request, clock):
    fake = request.getfixturevalue("fake_parallel")
    from pavlov.task.devices.parallel_backend import ParallelLines

    shock = PulseTrainShock(ParallelLines("/dev/parport0"), SHOCK, clock, "parallel")
    markers = LineMarkers(ParallelLines("/dev/parport1"), clock, 0.005, "parallel")
    first, second = fake.instances
    return (
        shock,
        markers,
        Wire(lambda: [v for _, v in first.writes], lambda: [v for _, v in second.writes]),
    )


def _labjack(request, clock):
    request.getfixturevalue("fake_u3")
    from pavlov.task.devices.labjack_backend import LabJackU3

    u3 = LabJackU3()
    shock = PulseTrainShock(u3.lines("FIO", 0x10), 0x10, clock, "labjack:FIO4")
    markers = LineMarkers(u3.lines("EIO", 0xFF), clock, 0.005, "labjack:EIO")
    device = u3.device

    def changes(values):
        # The port's state history, one entry per change (a write of the same value is none).
        return [v for i, v in enumerate(values) if i == 0 or v != values[i - 1]]

    return (
        shock,
        markers,
        Wire(
            lambda: changes([state[0] >> 4 & 1 for _, state in device.history]),
            lambda: changes([state[1] for _, state in device.history]),
        ),
    )


SHOCK_BACKENDS = {
    "simulated": _simulated,
    "serial": _serial,
    "parallel": _parallel,
    "labjack": _labjack,
}


@pytest.fixture(params=sorted(SHOCK_BACKENDS))
def backend(request, real_clock):
    shock, markers, wire = SHOCK_BACKENDS[request.param](request, real_clock)
    yield request.param, shock, markers, wire
    shock.close()
    markers.close()


def _wait(shock, limit=2.0):
    end = time.perf_counter() + limit
    while shock.busy():
        assert time.perf_counter() < end, "train never finished"
        time.sleep(0.001)


def test_one_train_per_deliver_with_the_pulse_count(backend):
    """A delivered train is one record of `count` ordered pulses, and the line ends low."""
    _name, shock, _markers, wire = backend
    shock.open()
    shock.deliver(0.004, 0.01, 5, "acquisition/1")
    assert shock.busy()
    _wait(shock)
    records = shock.delivered()
    assert [r.label for r in records] == ["acquisition/1"]
    pulses = records[0].pulses
    assert len(pulses) == 5
    for (rise, fall), (next_rise, _) in itertools.pairwise(pulses):
        assert rise < fall <= next_rise
    assert shock.delivered() == []
    shock.close()
    values = wire.shock()
    assert values[0] == 0 and values[-1] == 0
    assert values.count(SHOCK) == 5


def test_lines_low_on_open_and_close(backend):
    """Opening writes 0 before anything else; closing leaves 0 as the last value."""
    _name, shock, markers, wire = backend
    shock.open()
    markers.open()
    shock.close()
    markers.close()
    assert wire.shock() and set(wire.shock()) == {0}
    assert wire.markers() and set(wire.markers()) == {0}


def test_deliver_refused_when_not_open(backend):
    """A train on a device never opened is refused."""
    _, shock, _, _ = backend
    with pytest.raises(SafetyError, match="not open"):
        shock.deliver(0.005, 0.01, 1, "x")


def test_deliver_refused_while_busy(backend):
    """A second train while one runs is refused, naming the device."""
    _, shock, _, _ = backend
    shock.open()
    shock.deliver(0.005, 0.05, 4, "a")
    with pytest.raises(SafetyError, match="still delivering"):
        shock.deliver(0.005, 0.01, 1, "b")
    shock.set_low()


def test_bad_train_refused(backend):
    """Trains no stimulator can deliver (width <= 0, interval <= width) are refused."""
    _, shock, _, _ = backend
    shock.open()
    with pytest.raises(SafetyError, match="pulse width must be > 0"):
        shock.deliver(0.0, 0.01, 2, "x")
    with pytest.raises(SafetyError, match="longer than the pulse width"):
        shock.deliver(0.01, 0.01, 2, "x")


def test_set_low_cuts_the_train(backend):
    """set_low mid-train stops it: fewer pulses than asked, line low afterwards."""
    _name, shock, _, wire = backend
    shock.open()
    shock.deliver(0.005, 0.05, 20, "long")
    time.sleep(0.03)
    shock.set_low()
    _wait(shock)
    (record,) = shock.delivered()
    assert 1 <= len(record.pulses) < 20
    shock.close()
    assert wire.shock()[-1] == 0


def test_close_twice_never_raises(backend):
    """close is idempotent."""
    _, shock, markers, _ = backend
    shock.open()
    markers.open()
    shock.close()
    shock.close()
    markers.close()
    markers.close()


def test_marker_code_then_zero(backend):
    """A marker is its code then 0; send returns the clock time of the write."""
    _name, _shock, markers, wire = backend
    markers.open()
    before = time.perf_counter()
    written = markers.send(42, "CSpr")
    after = time.perf_counter()
    assert before <= written <= after
    time.sleep(0.03)
    markers.close()
    values = wire.markers()
    assert 42 in values
    assert values[-1] == 0
    assert values[values.index(42) + 1] == 0


def test_marker_code_range(backend):
    """Codes outside 1-255 are refused."""
    _, _, markers, _ = backend
    markers.open()
    for bad in (0, 256, -1, True):
        with pytest.raises(ValueError, match="1-255"):
            markers.send(bad, "x")


def test_lsl_markers_contract(fake_pylsl, real_clock):
    """LSL markers push one int sample per code and refuse sends when closed."""
    from pavlov.task.devices.lsl_backend import LSLMarkers

    markers = LSLMarkers(real_clock)
    with pytest.raises(Exception, match="not open"):
        markers.send(10, "CSpr")
    markers.open()
    t = markers.send(10, "CSpr")
    assert t <= real_clock.now()
    (outlet,) = fake_pylsl.StreamOutlet.instances
    assert outlet.samples == [[10]]
    assert outlet.info[1] == "Markers"
    with pytest.raises(ValueError, match="1-255"):
        markers.send(300, "x")
    markers.close()
    markers.close()


def test_lsl_missing_says_how_to_install(monkeypatch, real_clock):
    """Without pylsl the error says `pip install pavlov[lsl]`."""
    import sys

    from pavlov.task.devices.base import DeviceError
    from pavlov.task.devices.lsl_backend import LSLMarkers

    monkeypatch.setitem(sys.modules, "pylsl", None)
    with pytest.raises(DeviceError, match=r"pip install pavlov\[lsl\]"):
        LSLMarkers(real_clock)


def test_lsl_push_failure_is_device_error(fake_pylsl, real_clock):
    """A failing outlet raises DeviceError naming the stream."""
    from pavlov.task.devices.base import DeviceError
    from pavlov.task.devices.lsl_backend import LSLMarkers

    markers = LSLMarkers(real_clock, stream="lab-markers")
    markers.open()
    fake_pylsl.StreamOutlet.instances[0].fail = True
    with pytest.raises(DeviceError, match="lsl:lab-markers"):
        markers.send(10, "x")


@pytest.mark.parametrize("name", ["serial", "parallel", "labjack"])
def test_train_schedule_on_the_backends_clock(request, real_clock, name):
    """A line backend aims its rising edges at first edge + k intervals on the session
    clock (exactly), writes each pulse high then low, and never before its planned time;
    how late it is depends on the CPU and is left to the benchmark."""
    shock, markers, wire = SHOCK_BACKENDS[name](request, real_clock)
    try:
        shock.open()
        shock.deliver(0.002, 0.02, 5, "schedule")
        _wait(shock)
        (record,) = shock.delivered()
    finally:
        shock.close()
        markers.close()
    assert len(record.planned) == 5 and len(record.pulses) == 5
    steps = [b - a for a, b in itertools.pairwise(record.planned)]
    assert steps == pytest.approx([0.02] * 4, abs=1e-9)
    assert all(rise >= planned for (rise, _), planned in zip(record.pulses, record.planned))
    assert all(rise < fall for rise, fall in record.pulses)
    values, deadline = wire.shock(), time.monotonic() + 5
    while values.count(1) < 5 and time.monotonic() < deadline:
        values = wire.shock()  # a pty peer reads in its own thread: give it the time it needs
    assert values.count(1) == 5
    highs = [i for i, v in enumerate(values) if v == 1]
    assert all(values[i + 1] == 0 for i in highs)  # each pulse high, then low
