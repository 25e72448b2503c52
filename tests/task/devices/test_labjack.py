"""LabJack U3 lines over a fake ``u3`` module, including LabJackPython's errors."""

from __future__ import annotations

import itertools
import time

import pytest

from pavlov.task.devices.base import DeviceError
from pavlov.task.devices.labjack_backend import LabJackU3, parse_lines
from pavlov.task.devices.spec import build_devices


def test_parse_lines():
    """Single lines, ranges and whole ports map to (port, mask)."""
    assert parse_lines("FIO4") == ("FIO", 0x10)
    assert parse_lines("fio3-6") == ("FIO", 0x78)
    assert parse_lines("EIO") == ("EIO", 0xFF)
    assert parse_lines("CIO") == ("CIO", 0x0F)
    for bad in ("FIO8", "CIO4", "DAC0", "FIO6-3"):
        with pytest.raises(ValueError, match="FIO0-7"):
            parse_lines(bad)


def test_configured_low_before_output(fake_u3):
    """Lines are made digital and set low before they become outputs; other lines untouched."""
    u3 = LabJackU3()
    u3.lines("FIO", 0x0C)
    device = u3.device
    assert device.analog["FIOAnalog"] == 0x03  # FIO2-3 made digital, FIO0-1 still analog
    assert device.history[0][1] == (0, 0, 0)
    assert device.dir_history == [(0x0C, 0, 0)]


def test_train_on_a_fio_line(fake_u3, real_clock):
    """labjack:FIO4 raises only FIO4 for each pulse and ends low."""
    devices = build_devices(shock="labjack:FIO4", markers="labjack:EIO", clock=real_clock)
    devices.shock.open()
    devices.markers.open()
    devices.shock.deliver(0.003, 0.008, 3, "us")
    devices.markers.send(20, "USp")
    while devices.shock.busy():
        time.sleep(0.001)
    time.sleep(0.03)
    devices.close()
    (device,) = fake_u3.U3.instances
    fio = [state[0] for _, state in device.history]
    assert set(fio) == {0, 0x10}
    rises = sum(1 for a, b in itertools.pairwise(fio) if b and not a)
    assert rises == 3
    assert device.history[-1][1] == (0, 0, 0)
    assert 20 in [state[1] for _, state in device.history]
    assert device.closed


def test_exodriver_missing(fake_u3):
    """The AttributeError of a missing Exodriver becomes a DeviceError saying so."""
    fake_u3.U3.open_error = AttributeError("'NoneType' object has no attribute 'LJUSB_OpenDevice'")
    with pytest.raises(DeviceError, match=r"LabJack U3: could not open.*Exodriver"):
        LabJackU3()


def test_no_device(fake_u3):
    """LabJackException on open (no U3 attached) names the device and the cable."""
    fake_u3.U3.open_error = fake_u3.LabJackException(0, "Couldn't open device. Is it connected?")
    with pytest.raises(DeviceError, match=r"Is it connected.*USB cable"):
        LabJackU3()


def test_write_error_mid_train(fake_u3, real_clock):
    """A LabJackException while writing stops the train with a DeviceError; set_low never raises."""
    from pavlov.task.devices.lines import PulseTrainShock

    u3 = LabJackU3()
    shock = PulseTrainShock(u3.lines("FIO", 0x10), 0x10, real_clock, "labjack:FIO4")
    shock.open()
    u3.device.fail_after = len(u3.device.history) + 3
    shock.deliver(0.002, 0.005, 10, "acquisition/4")
    time.sleep(0.1)
    with pytest.raises(DeviceError, match=r"labjack:FIO4.*acquisition/4.*LJUSB_Write"):
        shock.busy()
    shock.set_low()
    shock.close()


def test_values_outside_mask_refused(fake_u3):
    """Writing bits the lines do not own is a programming error, refused."""
    lines = LabJackU3().lines("FIO", 0x10)
    with pytest.raises(ValueError, match="outside its mask"):
        lines.write(0x01)
