"""The far end of a pseudo-terminal, for every test where the serial wire matters.

A TTL box (it reads every byte the session writes, stamped with ``perf_counter``) or a
scanner (it writes trigger characters). The slave end stays open here too, so the pty
lives on when a session process dies (as a real box stays powered) and a byte written by
any later opener (the watchdog) is seen.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time


class PtyPeer:
    """A pty whose master end this test holds; ``path`` is the port to give the session.

    Parameters
    ----------
    close_after : float, optional
        Fault injection: both ends are closed this long after the first byte arrived, as
        when the USB adapter is pulled mid-session (``closed_at`` says when).
    """

    def __init__(self, close_after: float | None = None) -> None:
        self.master, self.slave = os.openpty()
        self.path = os.ttyname(self.slave)
        self.received: list[tuple[float, int]] = []
        self.close_after = close_after
        self.closed_at: float | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()  # a read and its bookkeeping happen together
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            if (
                self.close_after is not None
                and self.received
                and time.perf_counter() - self.received[0][0] >= self.close_after
            ):
                self.closed_at = time.perf_counter()
                self._close_fds()
                return
            try:
                ready, _, _ = select.select([self.master], [], [], 0.005)
                if not ready:
                    continue
                with self._lock:
                    data = os.read(self.master, 1024)
                    now = time.perf_counter()
                    self.received.extend((now, byte) for byte in data)
            except (OSError, ValueError):
                if self._stop.is_set() or self.master == -1:
                    return
                time.sleep(0.005)  # no opener at the moment: the box waits

    def send(self, data: bytes) -> None:
        """Write ``data`` to the session (a scanner's trigger characters)."""
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

    def wait_for(
        self, value: int, after: int = 0, timeout: float = 60.0, proc=None
    ) -> tuple[int, float]:
        """Index and time of the first byte ``value`` at or after index ``after``; fails if
        ``proc`` (the session) ends first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise AssertionError(f"the session ended first: {proc.stderr.read()}")
            for i in range(after, len(self.received)):
                if self.received[i][1] == value:
                    return i, self.received[i][0]
            time.sleep(0.002)
        raise AssertionError(f"no byte {value} on the wire after #{after}: {self.received}")

    def vanish(self) -> None:
        """Close both ends now, as when the USB adapter is pulled."""
        self._stop.set()
        self._thread.join(timeout=1)
        self._close_fds()

    def close(self) -> None:
        """Read what was written but not read yet (it is still the box's), then close."""
        self._stop.set()
        self._thread.join(timeout=2)
        if self.master != -1:
            with contextlib.suppress(OSError, ValueError):
                while select.select([self.master], [], [], 0)[0]:
                    data = os.read(self.master, 1024)
                    now = time.perf_counter()
                    self.received.extend((now, byte) for byte in data)
        self._close_fds()

    def _close_fds(self) -> None:
        for fd in (self.master, self.slave):
            if fd != -1:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.master = self.slave = -1
