"""Parallel-port output lines through ``psychopy.parallel``.

The eight data lines D0–D7 are DB-25 pins 2–9 (``setData(1)`` raises pin 2). On Linux
PsychoPy drives the port with pyparallel over ``ppdev``: the port is a device node such
as ``/dev/parport0``, and needs ``pip install pyparallel``, ``sudo rmmod lp; sudo
modprobe ppdev`` and membership of the ``lp`` group. On Windows the port is an I/O
address such as ``0x378`` (inpout32/inpoutx64 or dlportio must be installed).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from typing import Any

from pavlov.task.devices.base import DeviceError

__all__ = ["ParallelLines", "port_address"]

_CHECK_LINUX = (
    "check that pyparallel is installed (pip install pyparallel), the ppdev module is loaded "
    "(sudo rmmod lp; sudo modprobe ppdev) and you may write the device (group lp)"
)
_CHECK_WINDOWS = (
    "check the port address in Device Manager and that inpoutx64 or dlportio is installed"
)


def port_address(text: str, platform: str | None = None) -> str | int:
    """Return the parallel port ``text`` names, in the form PsychoPy takes on ``platform``.

    Parameters
    ----------
    text : str
        ``/dev/parportN`` (Linux), or an I/O address ``0x378`` / ``888`` (Windows).
    platform : str, optional
        ``sys.platform`` by default.

    Returns
    -------
    str or int
        The device node (Linux) or the address (Windows).

    Raises
    ------
    ValueError
        If ``text`` is not a port this platform can open, saying what to write instead.
    """
    platform = sys.platform if platform is None else platform
    text = str(text).strip()
    if platform.startswith("linux"):
        if text.startswith("/dev/"):
            return text
        raise ValueError(
            f"on Linux a parallel port is a device node such as /dev/parport0, got {text!r}"
        )
    try:
        return int(text, 0)
    except ValueError:
        raise ValueError(
            f"a parallel port is an I/O address such as 0x378 or 888, got {text!r}"
        ) from None


class ParallelLines:
    """The parallel port's eight data lines.

    Parameters
    ----------
    address : str or int
        As returned by :func:`port_address`.
    name : str, optional
        Name for messages; default ``parallel:ADDRESS``.
    port_factory : callable, optional
        ``address -> port`` with ``setData``; default ``psychopy.parallel.ParallelPort``.
    """

    def __init__(
        self,
        address: str | int,
        name: str | None = None,
        port_factory: Callable[[str | int], Any] | None = None,
    ) -> None:
        self.address = address
        self.name = name or f"parallel:{address}"
        check = _CHECK_LINUX if isinstance(address, str) else _CHECK_WINDOWS
        self._check = check
        try:
            if port_factory is None:
                from psychopy import parallel  # only this backend imports psychopy.parallel

                port_factory = parallel.ParallelPort
            self._port = port_factory(address)
        except ModuleNotFoundError as error:
            raise DeviceError(
                f"parallel port {self.name}: could not open, module {error.name!r} is missing; "
                f"{check}"
            ) from None
        except Exception as error:
            # OSError (no such node, permission), or PsychoPy's plain Exception when
            # pyparallel is broken: all mean the port cannot be used.
            raise DeviceError(
                f"parallel port {self.name}: could not open ({error}); {check}"
            ) from None
        self._closed = False

    def write(self, value: int) -> None:
        """Put ``value`` on D0–D7."""
        if self._closed:
            raise DeviceError(f"parallel port {self.name}: write of {value} after close")
        try:
            self._port.setData(value)
        except Exception as error:
            raise DeviceError(
                f"parallel port {self.name}: could not write {value} ({error}); {self._check}"
            ) from None

    def close(self) -> None:
        """Release the port. Never raises."""
        if self._closed:
            return
        self._closed = True
        # PsychoPy's Linux wrapper has no close; its pyparallel port (``.port``) does.
        inner = getattr(self._port, "port", None)
        with contextlib.suppress(Exception):
            if inner is not None and hasattr(inner, "close"):
                inner.close()
            elif hasattr(self._port, "close"):
                self._port.close()
        self._port = None
