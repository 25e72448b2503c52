"""LabJack U3 output lines (LabJackPython's ``u3`` module).

Lines are named as on the device: FIO0–FIO7 (screw terminals), EIO0–EIO7 and CIO0–CIO3
(DB-15). A line spec is one line (``FIO4``), a range (``FIO3-6``) or a whole port
(``EIO``, its eight lines carrying byte codes, as ``psychopy.hardware.labjacks.U3.setData``
does). Writes use the U3's ``PortStateWrite`` feedback command with a write mask, so a
device writes only its own lines and two devices can share one U3.

Opening a U3 needs LabJackPython (``pip install LabJackPython``) and, on Linux and macOS,
the Exodriver C library (``liblabjackusb``), built from source with libusb; without it the
library imports with a warning and every open fails. T4/T7 devices need ``labjack-ljm``
and are not supported here.
"""

from __future__ import annotations

import contextlib
import importlib
import re
import threading
from typing import Any

from pavlov.task.devices.base import DeviceError

__all__ = ["PORTS", "LabJackLines", "LabJackU3", "parse_lines"]

#: Port name → (index in PortStateWrite's 3-byte lists, number of lines).
PORTS = {"FIO": (0, 8), "EIO": (1, 8), "CIO": (2, 4)}

_CHECK = (
    "check the USB cable, that no other program has the U3 open, LabJackPython is installed "
    "(pip install LabJackPython) and, on Linux/macOS, the Exodriver (liblabjackusb)"
)
_LINE = re.compile(r"^(FIO|EIO|CIO)(?:(\d)(?:-(\d))?)?$")


def parse_lines(text: str) -> tuple[str, int]:
    """Return (port, mask) for a line spec: ``FIO4``, ``FIO3-6`` or ``EIO``.

    Raises
    ------
    ValueError
        Naming the allowed forms and what was given.
    """
    match = _LINE.match(str(text).strip().upper())
    allowed = "FIO0-7, EIO0-7, CIO0-3, a range such as FIO3-6, or a whole port FIO, EIO or CIO"
    if not match:
        raise ValueError(f"LabJack line must be {allowed}, got {text!r}")
    port, first, last = match.groups()
    size = PORTS[port][1]
    if first is None:
        return port, (1 << size) - 1
    low = int(first)
    high = int(last) if last is not None else low
    if not low <= high < size:
        raise ValueError(f"LabJack line must be {allowed}, got {text!r}")
    mask = 0
    for bit in range(low, high + 1):
        mask |= 1 << bit
    return port, mask


class LabJackU3:
    """One opened U3, shared by every :class:`LabJackLines` on it.

    Parameters
    ----------
    u3_module : module, optional
        LabJackPython's ``u3`` (imported when None); tests inject a fake.
    serial : int, optional
        Open the U3 with this serial number (first found when None).
    """

    def __init__(self, u3_module: Any = None, serial: int | None = None) -> None:
        if u3_module is None:
            try:
                u3_module = importlib.import_module("u3")  # only this backend imports it
            except ImportError:
                raise DeviceError(f"LabJack U3: LabJackPython is not installed; {_CHECK}") from None
        self.u3 = u3_module
        self.name = "labjack" if serial is None else f"labjack:{serial}"
        self.lock = threading.Lock()
        self._users = 0
        try:
            if serial is None:
                self.device = u3_module.U3()
            else:
                self.device = u3_module.U3(firstFound=False, serial=serial)
        except Exception as error:
            # LabJackException when no U3 answers; AttributeError ('NoneType' object has no
            # attribute 'LJUSB_OpenDevice') when the Exodriver is missing.
            raise DeviceError(f"LabJack U3: could not open ({error}); {_CHECK}") from None

    def lines(self, port: str, mask: int, name: str | None = None) -> LabJackLines:
        """Return output lines for ``mask`` bits of ``port``, driven low first."""
        return LabJackLines(self, port, mask, name)

    def _acquire(self) -> None:
        with self.lock:
            self._users += 1

    def _release(self) -> None:
        with self.lock:
            self._users -= 1
            last = self._users <= 0
        if last:
            with contextlib.suppress(Exception):
                self.device.close()


class LabJackLines:
    """Lines of one U3 port used as digital outputs.

    On creation the lines are made digital (FIO/EIO analogue bits cleared), set low, and
    only then switched to output, so they never go high while being configured.

    Parameters
    ----------
    u3 : LabJackU3
        The opened device.
    port : str
        ``FIO``, ``EIO`` or ``CIO``.
    mask : int
        The lines used (bit n = line n of the port); ``write`` values are masked with it.
    name : str, optional
        Name for messages; default ``labjack:PORT`` with the lines.
    """

    def __init__(self, u3: LabJackU3, port: str, mask: int, name: str | None = None) -> None:
        if port not in PORTS:
            raise ValueError(f"LabJack port must be one of {', '.join(PORTS)}, got {port!r}")
        index, size = PORTS[port]
        if not 1 <= mask < (1 << size):
            raise ValueError(f"LabJack {port} line mask must be 1-{(1 << size) - 1}, got {mask!r}")
        self.u3 = u3
        self.port = port
        self.mask = mask
        self.name = name or f"labjack:{port}:{mask:#04x}"
        self._index = index
        self._closed = False
        module, device = u3.u3, u3.device
        try:
            with u3.lock:
                if port in ("FIO", "EIO"):
                    config = device.configIO()
                    key = f"{port}Analog"
                    analog = int(config.get(key, 0)) if isinstance(config, dict) else 0
                    if analog & mask:
                        device.configIO(**{key: analog & ~mask})
                device.getFeedback(module.PortStateWrite(State=[0, 0, 0], WriteMask=self._masks()))
                device.getFeedback(
                    module.PortDirWrite(Direction=self._masks(), WriteMask=self._masks())
                )
        except Exception as error:
            raise DeviceError(
                f"LabJack U3 {self.name}: could not configure the lines as outputs ({error}); "
                f"{_CHECK}"
            ) from None
        u3._acquire()

    def _masks(self, value: int | None = None) -> list[int]:
        out = [0, 0, 0]
        out[self._index] = self.mask if value is None else value
        return out

    def write(self, value: int) -> None:
        """Set this port's lines in ``mask`` to the bits of ``value``."""
        if value & ~self.mask:
            raise ValueError(
                f"LabJack U3 {self.name}: value {value} uses lines outside its mask "
                f"{self.mask:#04x}"
            )
        if self._closed:
            raise DeviceError(f"LabJack U3 {self.name}: write of {value} after close")
        state = self._masks(value)
        try:
            with self.u3.lock:
                self.u3.device.getFeedback(
                    self.u3.u3.PortStateWrite(State=state, WriteMask=self._masks())
                )
        except Exception as error:
            raise DeviceError(
                f"LabJack U3 {self.name}: could not write {value} ({error}); {_CHECK}"
            ) from None

    def close(self) -> None:
        """Release the lines (the U3 closes with its last user). Never raises."""
        if self._closed:
            return
        self._closed = True
        self.u3._release()
