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
