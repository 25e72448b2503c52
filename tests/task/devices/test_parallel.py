"""Parallel port through psychopy.parallel over a fake pyparallel, including its errors."""

from __future__ import annotations

import sys
import time

import pytest

from pavlov.task.devices.base import DeviceError
from pavlov.task.devices.parallel_backend import ParallelLines, port_address
from pavlov.task.devices.spec import build_devices


def test_port_address_per_platform():
    """Linux takes device nodes; Windows takes I/O addresses in hex or decimal."""
    assert port_address("/dev/parport0", "linux") == "/dev/parport0"
    assert port_address("0x378", "win32") == 888
    assert port_address("888", "win32") == 888
    with pytest.raises(ValueError, match="/dev/parport0"):
        port_address("0x378", "linux")
    with pytest.raises(ValueError, match="0x378"):
        port_address("LPT1", "win32")


def test_writes_reach_setdata(fake_parallel, real_clock):
    """A train through build_devices writes 0, then code/0 per pulse, ending on 0."""
    devices = build_devices(shock="parallel:/dev/parport0", clock=real_clock)
    devices.shock.open()
    devices.shock.deliver(0.003, 0.008, 3, "us")
    while devices.shock.busy():
        time.sleep(0.001)
    devices.close()
    (port,) = fake_parallel.instances
    assert port.device == "/dev/parport0"
    assert [v for _, v in port.writes] == [0, 1, 0, 1, 0, 1, 0, 0, 0]
    assert port.closed


def test_missing_pyparallel(monkeypatch, tmp_path):
    """Without pyparallel the error names the missing module and how to install it."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setitem(sys.modules, "parallel", None)
    with pytest.raises(DeviceError, match=r"parallel:/dev/parport0.*pip install pyparallel"):
        ParallelLines("/dev/parport0")


def test_permission_denied(fake_parallel):
    """The OSError pyparallel raises on open becomes DeviceError naming the port and ppdev/lp."""
    fake_parallel.open_error = PermissionError(13, "Permission denied", "/dev/parport0")
    with pytest.raises(DeviceError, match=r"/dev/parport0.*Permission denied.*group lp"):
        ParallelLines("/dev/parport0")


def test_port_gone_mid_train(fake_parallel, real_clock):
    """An ioctl error mid-train stops it with a DeviceError naming the port; close never raises."""
    from pavlov.task.devices.lines import PulseTrainShock

    lines = ParallelLines("/dev/parport0")
    shock = PulseTrainShock(lines, 1, real_clock, "parallel:/dev/parport0")
    shock.open()
    fake_parallel.instances[0].fail_after = 4
    shock.deliver(0.002, 0.005, 10, "acquisition/2")
    time.sleep(0.1)
    with pytest.raises(DeviceError, match=r"parallel:/dev/parport0.*acquisition/2.*Input/output"):
        shock.busy()
    shock.set_low()
    shock.close()
