"""Serial devices (pyserial): a TTL box's output lines, and a scanner's sync characters.

- :class:`SerialLines`: a TTL box (Brain Products TriggerBox, the usual Arduino sketch)
  where writing one byte sets its eight output lines. A pulse is the code, the width,
  then ``0``, all timed by the host (:class:`~pavlov.task.devices.lines.PulseTrainShock`,
  :class:`~pavlov.task.devices.lines.LineMarkers`).
- :class:`SerialScanner`: a scanner interface that sends one character per volume; a
  reader thread stamps each with the session clock as it arrives.

Arduino boards with auto-reset restart when the port opens; pavlov clears DTR before
opening to avoid it, but a board that resets anyway ignores bytes for about 2 s. Run
``pavlov devices check`` before the participant arrives.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from typing import Any

from pavlov.task.devices.base import Clock, DeviceError

__all__ = ["DEFAULT_BAUD", "SerialLines", "SerialScanner", "open_serial"]

#: Baud rate used when a spec gives none.
DEFAULT_BAUD = 115200

_CHECK = (
    "check the cable, that the device is powered, the path (ls /dev/serial/by-id/) "
    "and permissions (group dialout)"
)


def open_serial(
    path: str,
    baud: int,
    *,
    what: str,
    timeout: float | None,
    write_timeout: float | None,
    exclusive: bool = False,
) -> Any:
    """Open ``path`` with pyserial, raw 8N1, DTR low; raise DeviceError on failure.

    Parameters
    ----------
    path : str
        Device path (``/dev/ttyUSB0``, ``COM3``) or a pyserial URL.
    baud : int
        Baud rate.
    what : str
        What the port is, for messages (``TTL box``, ``scanner trigger``).
    timeout, write_timeout : float or None
        pyserial read and write timeouts, seconds.
    exclusive : bool
        Lock the port (``flock``) so that no other process can open it while this one
        holds it: a second pavlov session (another data folder, ``devices check``) must
        not drive the same stimulator.
    """
    import serial  # only this backend imports pyserial

    try:
        port = serial.serial_for_url(path, do_not_open=True)
        port.baudrate = baud
        port.bytesize = serial.EIGHTBITS
        port.parity = serial.PARITY_NONE
        port.stopbits = serial.STOPBITS_ONE
        port.timeout = timeout
        port.write_timeout = write_timeout
        port.dtr = False  # no Arduino auto-reset where the driver honours it
        if exclusive and os.name == "posix":  # Windows ports are exclusive already
            port.exclusive = True
        port.open()
    except (serial.SerialException, OSError, ValueError) as error:
        raise DeviceError(
            f"{what} serial:{path}: could not open at {baud} baud ({error}); {_CHECK}"
        ) from None
    return port


class SerialLines:
    """A serial TTL box: each byte written sets its eight output lines.

    Parameters
    ----------
    path : str
        Serial device path.
    baud : int
        Baud rate (the box's setting; the TriggerBox ignores it).
    name : str, optional
        Name for messages; default ``serial:PATH``.
    write_timeout : float
        Seconds a write may block before the box is declared gone.
    port_factory : callable, optional
        ``(path, baud) -> port`` with pyserial's ``write``/``flush``/``close``; tests
        and unusual adapters inject it. Default: :func:`open_serial`.
    """

    def __init__(
        self,
        path: str,
        baud: int = DEFAULT_BAUD,
        name: str | None = None,
        write_timeout: float = 0.5,
        port_factory: Callable[[str, int], Any] | None = None,
    ) -> None:
        self.path = path
        self.baud = baud
        self.name = name or f"serial:{path}"
        if port_factory is None:
            self._port = open_serial(
                path, baud, what="TTL box", timeout=0, write_timeout=write_timeout, exclusive=True
            )
        else:
            self._port = port_factory(path, baud)
        self._closed = False

    def write(self, value: int) -> None:
        """Write ``value`` as one byte and wait until it has left the host."""
        if self._closed:
            raise DeviceError(f"TTL box {self.name}: write of {value} after close")
        try:
            self._port.write(bytes((value,)))
            self._port.flush()
        except Exception as error:  # pyserial raises SerialException, OSError, timeouts
            raise DeviceError(
                f"TTL box {self.name}: could not write {value} ({error}); {_CHECK}"
            ) from None

    def close(self) -> None:
        """Close the port. Never raises."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self._port.close()


class SerialScanner:
    """Scanner sync pulses as characters on a serial port, one per volume.

    Parameters
    ----------
    path : str
        Serial device path.
    baud : int
        Baud rate.
    char : str
        The character the scanner interface sends per volume (e.g. ``5``); other bytes
        are ignored.
    clock : Clock
        Session clock; each character is stamped when the reader thread receives it.
    name : str, optional
        Name for messages; default ``serial:PATH``.
    port_factory : callable, optional
        ``(path, baud) -> port`` (pyserial-like, ``read`` with a short timeout).
    """

    def __init__(
        self,
        path: str,
        baud: int,
        char: str,
        clock: Clock,
        name: str | None = None,
        port_factory: Callable[[str, int], Any] | None = None,
    ) -> None:
        encoded = char.encode("latin-1") if isinstance(char, str) else bytes(char)
        if len(encoded) != 1:
            raise ValueError(f"scanner trigger character must be one character, got {char!r}")
        self.path = path
        self.char = encoded
        self.clock = clock
        self.name = name or f"serial:{path}"
        if port_factory is None:
            self._port = open_serial(
                path, baud, what="scanner trigger", timeout=0.05, write_timeout=None
            )
        else:
            self._port = port_factory(path, baud)
        self._lock = threading.Lock()
        self._pulses: list[float] = []
        self._error: DeviceError | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Discard anything received so far and start stamping pulses."""
        if self._thread is not None and self._thread.is_alive():
            return
        try:
            self._port.reset_input_buffer()
        except Exception as error:
            raise DeviceError(
                f"scanner trigger {self.name}: could not start listening ({error}); {_CHECK}"
            ) from None
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._read_loop, name=f"pavlov-scanner-{self.name}", daemon=True
        )
        self._thread.start()

    def poll(self) -> list[float]:
        """Times of pulses received since the last poll; then a stored read error."""
        with self._lock:
            pulses, self._pulses = self._pulses, []
            error = self._error
        if error is not None and not pulses:
            raise error
        return pulses

    def close(self) -> None:
        """Stop listening and close the port. Never raises."""
        self._stop.set()
        with contextlib.suppress(Exception):
            self._port.cancel_read()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=1.0)
        with contextlib.suppress(Exception):
            self._port.close()

    def _read_loop(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._port.read(max(1, self._port.in_waiting))
            except Exception as error:  # the port vanished or failed
                if self._stop.is_set():
                    return
                with self._lock:
                    self._error = DeviceError(
                        f"scanner trigger {self.name}: stopped receiving pulses ({error}); {_CHECK}"
                    )
                return
            if not data:
                continue
            now = self.clock.now()
            hits = data.count(self.char)
            if hits:
                with self._lock:
                    self._pulses.extend([now] * hits)
