"""Shared test doubles for the device tests: a pty peer, fake libraries, a fake clock."""

from __future__ import annotations

import sys
import time
import types
from typing import ClassVar

import pytest


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, t: float = 0.0) -> None:
        self.t = t

    def now(self) -> float:
        return self.t


class RealClock:
    """``perf_counter`` as the session clock."""

    def now(self) -> float:
        return time.perf_counter()


@pytest.fixture
def pty_peer():
    # Imported here: test_devices_e2e's launcher loads this file outside pytest, for its
    # fake libraries only, where the tests folder is not importable.
    from pty_peer import PtyPeer

    peer = PtyPeer()
    yield peer
    peer.close()


# -- fake libraries at the library boundary ---------------------------------------------


class FakeParallelPort:
    """pyparallel's ``Parallel`` as psychopy.parallel's Linux wrapper uses it."""

    instances: ClassVar[list[FakeParallelPort]] = []
    open_error: BaseException | None = None

    def __init__(self, port) -> None:
        if FakeParallelPort.open_error is not None:
            raise FakeParallelPort.open_error
        self.device = port
        self.writes: list[tuple[float, int]] = []
        self.fail_after: int | None = None
        self.closed = False
        FakeParallelPort.instances.append(self)

    def setData(self, value: int) -> None:
        if self.fail_after is not None and len(self.writes) >= self.fail_after:
            # What ppdev's ioctl raises when the port goes away.
            raise OSError(5, "Input/output error")
        self.writes.append((time.perf_counter(), value))

    def PPRDATA(self) -> int:
        return self.writes[-1][1] if self.writes else 0

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake_parallel(monkeypatch, tmp_path):
    """Install a fake ``parallel`` (pyparallel) module under the real psychopy.parallel."""
    monkeypatch.setenv("HOME", str(tmp_path))
    module = types.ModuleType("parallel")
    module.Parallel = FakeParallelPort
    FakeParallelPort.instances = []
    FakeParallelPort.open_error = None
    monkeypatch.setitem(sys.modules, "parallel", module)
    return FakeParallelPort


class LabJackException(Exception):
    """LabJackPython's exception (ec, errorString)."""

    def __init__(self, ec=0, errorString=""):
        super().__init__(errorString)
        self.errorCode = ec
        self.errorString = errorString


class FakeU3Device:
    """``u3.U3``: keeps the FIO/EIO/CIO state and direction as the device would."""

    open_error: BaseException | None = None
    instances: ClassVar[list[FakeU3Device]] = []

    def __init__(self, **kwargs) -> None:
        if FakeU3Device.open_error is not None:
            raise FakeU3Device.open_error
        self.state = [0, 0, 0]
        self.direction = [0, 0, 0]
        self.analog = {"FIOAnalog": 0x0F, "EIOAnalog": 0}
        self.history: list[tuple[float, tuple[int, int, int]]] = []
        self.dir_history: list[tuple[int, int, int]] = []
        self.fail_after: int | None = None
        self.closed = False
        FakeU3Device.instances.append(self)

    def configIO(self, **kwargs):
        self.analog.update({k: v for k, v in kwargs.items() if k in self.analog})
        return dict(self.analog)

    def getFeedback(self, *commands):
        for command in commands:
            if self.fail_after is not None and len(self.history) >= self.fail_after:
                raise LabJackException(-1, "Could not write to the device (LJUSB_Write failed)")
            target = self.state if command.kind == "state" else self.direction
            for i in range(3):
                mask = command.mask[i]
                target[i] = (target[i] & ~mask) | (command.values[i] & mask)
            if command.kind == "state":
                self.history.append((time.perf_counter(), tuple(self.state)))
            else:
                self.dir_history.append(tuple(self.direction))
        return [None] * len(commands)

    def close(self) -> None:
        self.closed = True


class _PortStateWrite:
    kind = "state"

    def __init__(self, State, WriteMask=(0xFF, 0xFF, 0xFF)):
        self.values, self.mask = list(State), list(WriteMask)


class _PortDirWrite:
    kind = "dir"

    def __init__(self, Direction, WriteMask=(0xFF, 0xFF, 0xFF)):
        self.values, self.mask = list(Direction), list(WriteMask)


@pytest.fixture
def fake_u3(monkeypatch):
    """Install a fake LabJackPython ``u3`` module."""
    module = types.ModuleType("u3")
    module.U3 = FakeU3Device
    module.PortStateWrite = _PortStateWrite
    module.PortDirWrite = _PortDirWrite
    module.LabJackException = LabJackException
    FakeU3Device.open_error = None
    FakeU3Device.instances = []
    monkeypatch.setitem(sys.modules, "u3", module)
    return module


class FakeOutlet:
    instances: ClassVar[list[FakeOutlet]] = []

    def __init__(self, info) -> None:
        self.info = info
        self.samples: list[list[int]] = []
        self.fail = False
        FakeOutlet.instances.append(self)

    def push_sample(self, sample, timestamp=0.0, pushthrough=True):
        if self.fail:
            raise RuntimeError("liblsl: outlet lost")
        self.samples.append(list(sample))


@pytest.fixture
def fake_pylsl(monkeypatch):
    """Install a fake ``pylsl`` module."""
    module = types.ModuleType("pylsl")
    module.IRREGULAR_RATE = 0.0
    module.StreamInfo = lambda *args: args
    module.StreamOutlet = FakeOutlet
    FakeOutlet.instances = []
    monkeypatch.setitem(sys.modules, "pylsl", module)
    return module


@pytest.fixture
def fake_clock():
    """A clock moved by hand."""
    return FakeClock()


@pytest.fixture
def real_clock():
    """``perf_counter`` as the session clock."""
    return RealClock()
