"""ShockGuard: trains only inside an armed US window, under the session and train caps."""

from __future__ import annotations

import pytest

from pavlov.task.devices.base import SafetyError
from pavlov.task.devices.safety import ShockGuard
from pavlov.task.devices.simulated import SimulatedShock


@pytest.fixture
def guarded(fake_clock):
    device = SimulatedShock(fake_clock)
    guard = ShockGuard(device, max_shocks=2, max_train_duration=0.1, clock=fake_clock)
    guard.open()
    return guard, device, fake_clock


def test_scheduled_us_is_delivered(guarded):
    """A train inside its armed window reaches the device."""
    guard, _device, clock = guarded
    clock.t = 10.0
    guard.arm("acquisition/1", 9.9, 10.2)
    guard.deliver(0.005, 0.01, 5, "acquisition/1")
    clock.t = 11.0
    assert [r.label for r in guard.delivered()] == ["acquisition/1"]
    assert guard.shocks_delivered == 1


def test_unscheduled_us_refused_and_recorded(guarded):
    """A train with no armed window is refused, recorded, and never reaches the device."""
    guard, device, clock = guarded
    with pytest.raises(SafetyError, match="no scheduled US"):
        guard.deliver(0.005, 0.01, 1, "stray")
    assert [(r.label, r.time) for r in guard.refusals()] == [("stray", 0.0)]
    clock.t = 5
    assert device.delivered() == []


def test_outside_window_refused(guarded):
    """A train after its window closed is refused with the window's times."""
    guard, _, clock = guarded
    guard.arm("a", 1.0, 1.5)
    clock.t = 2.0
    with pytest.raises(SafetyError, match=r"outside the scheduled US window 1\.000-1\.500"):
        guard.deliver(0.005, 0.01, 1, "a")


def test_one_train_per_window(guarded):
    """A window is used up by its train: a second train for the same US is refused."""
    guard, _, clock = guarded
    guard.arm("a", 0.0, 5.0)
    guard.deliver(0.005, 0.01, 1, "a")
    clock.t = 1.0
    with pytest.raises(SafetyError, match="no scheduled US"):
        guard.deliver(0.005, 0.01, 1, "a")


def test_max_shocks(guarded):
    """After max_shocks trains, even a scheduled one is refused."""
    guard, _, clock = guarded
    for k in range(3):
        guard.arm(f"t{k}", clock.t, clock.t + 1)
        if k < 2:
            guard.deliver(0.005, 0.01, 1, f"t{k}")
            clock.t += 2
    with pytest.raises(SafetyError, match="max_shocks 2"):
        guard.deliver(0.005, 0.01, 1, "t2")
    assert len(guard.refusals()) == 1


def test_train_too_long(guarded):
    """A train longer than max_train_duration is refused before the device is touched."""
    guard, device, _ = guarded
    guard.arm("a", 0.0, 1.0)
    with pytest.raises(SafetyError, match=r"longer than the cap max_train_duration 0\.1"):
        guard.deliver(0.005, 0.01, 20, "a")
    assert guard.shocks_delivered == 0
    assert not device.busy()


def test_bad_caps():
    """Caps must be sensible numbers."""
    with pytest.raises(ValueError, match="max_shocks"):
        ShockGuard(SimulatedShock(None), -1, 1.0, None)
    with pytest.raises(ValueError, match="max_train_duration"):
        ShockGuard(SimulatedShock(None), 1, 0, None)


def test_ledger_records_each_train_before_the_device_fires(guarded, tmp_path):
    """Every delivered train is a line in the ledger, written before the device is touched."""
    from pavlov.task.devices.safety import ShockLedger

    guard, device, _clock = guarded
    ledger = ShockLedger(tmp_path / "shocks.tsv")
    guard.use_ledger(ledger)
    seen_at_delivery = []
    original = device.deliver

    def deliver(*args):
        seen_at_delivery.append(ledger.labels())
        original(*args)

    device.deliver = deliver
    guard.arm("acquisition/2", 0.0, 1.0)
    guard.deliver(0.005, 0.01, 2, "acquisition/2")
    assert seen_at_delivery == [["acquisition/2"]]
    guard.close()
    assert (tmp_path / "shocks.tsv").read_text() == "acquisition/2\t0.000000\n"


def test_resumed_guard_never_repeats_a_delivered_us(fake_clock, tmp_path):
    """A new process reading the ledger refuses a US an earlier process delivered, and
    counts it against max_shocks."""
    from pavlov.task.devices.safety import ShockLedger

    first = ShockGuard(SimulatedShock(fake_clock), 2, 0.1, fake_clock)
    first.open()
    first.use_ledger(ShockLedger(tmp_path / "shocks.tsv"))
    first.arm("acquisition/1", 0.0, 1.0)
    first.deliver(0.005, 0.01, 1, "acquisition/1")
    # The process is killed here: no close(), the line is already in the file.
    second = ShockGuard(SimulatedShock(fake_clock), 2, 0.1, fake_clock)
    second.open()
    second.use_ledger(ShockLedger(tmp_path / "shocks.tsv"))
    assert second.shocks_delivered == 1
    second.arm("acquisition/1", 0.0, 1.0)
    with pytest.raises(SafetyError, match="already delivered once"):
        second.deliver(0.005, 0.01, 1, "acquisition/1")
    second.arm("acquisition/4", 0.0, 1.0)
    second.deliver(0.005, 0.01, 1, "acquisition/4")
    second.arm("acquisition/6", 0.0, 1.0)
    with pytest.raises(SafetyError, match="max_shocks 2"):
        second.deliver(0.005, 0.01, 1, "acquisition/6")


def test_unrecordable_train_is_refused(guarded, tmp_path):
    """If the ledger cannot be written, the train is refused rather than risk a repeat."""
    from pavlov.task.devices.safety import ShockLedger

    guard, device, clock = guarded
    ledger = ShockLedger(tmp_path / "shocks.tsv")
    guard.use_ledger(ledger)
    ledger.close()
    guard.arm("a", 0.0, 1.0)
    with pytest.raises(SafetyError, match="could not be recorded in the shock ledger"):
        guard.deliver(0.005, 0.01, 1, "a")
    clock.t = 2.0
    assert device.delivered() == []
    assert not device.line_high()
