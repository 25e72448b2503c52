"""Shared test doubles for the device tests: a pty peer, fake libraries, a fake clock."""

from __future__ import annotations

import contextlib
import os
import select
import sys
import threading
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


class PtyPeer:
    """The far end of a pseudo-terminal: plays a TTL box (reads) or a scanner (writes)."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        self.path = os.ttyname(self.slave)
        self.received: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()  # a read and its bookkeeping happen together
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self.master], [], [], 0.02)
                if not ready:
                    continue
                with self._lock:
                    data = os.read(self.master, 1024)
                    now = time.perf_counter()
                    self.received.extend((now, byte) for byte in data)
            except OSError:
                return

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def values(self, settle: float = 0.05) -> list[int]:
        """Every byte received, once nothing written so far is left unread: on a busy
        machine the reader thread may run late, and a fixed wait lost the last pulse."""
        time.sleep(settle)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with self._lock:
                try:
                    pending, _, _ = select.select([self.master], [], [], 0)
                except (OSError, ValueError):
                    break
                if not pending:
                    break
            time.sleep(0.005)
        return [value for _, value in self.received]

    def vanish(self) -> None:
        """Close both ends, as when the USB adapter is pulled."""
        self._stop.set()
        self._thread.join(timeout=1)
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.master = self.slave = -1

    def close(self) -> None:
        if self.master != -1:
            self.vanish()


@pytest.fixture
def pty_peer():
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
