"""A watchdog process that drives the shock line low when the session process dies.

Python's ``finally`` blocks and signal handlers set the line low on every exit path they
see (Escape, errors, SIGTERM, SIGQUIT, ...), but some deaths bypass Python: SIGKILL (the
OOM killer, ``kill -9``), a segfault in a driver, or Xlib's fatal IO error handler, which
calls C ``exit()`` when the X server goes away. A train thread that had just raised the
line then never lowers it.

``pavlov run`` therefore starts this small process (:func:`start_watchdog`) before the
session, in a session of its own (so Ctrl-C, Ctrl-\\ or a closed terminal reaching the
process group do not kill it), and waits until it says it ignores the signals that would
end it (the session does not start without a watchdog on a real shock line). It reads a pipe
from the session process. When the session ends cleanly the parent writes ``ok`` and the
watchdog exits untouched. When the pipe reaches end-of-file without ``ok`` — the kernel
closes the parent's end whatever killed it — the watchdog opens the shock's port with
the same backend the session used (pyserial, ``psychopy.parallel``, LabJackPython),
writes 0 and exits. Ports that only one process may hold (a parallel port under ppdev, a
LabJack) are free by then; the open is retried for :data:`RETRY` seconds.

What it cannot cover (a power cut, a killed watchdog, a stimulator that latches) is in
SAFETY.md's residual risks.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

from pavlov.task.devices.base import DeviceError

__all__ = [
    "READY_TIMEOUT",
    "RETRY",
    "Watchdog",
    "drive_low",
    "main",
    "start_watchdog",
    "watching",
]

#: Seconds the watchdog keeps trying to open a port the dead process may still hold.
RETRY = 3.0
#: Seconds ``pavlov run`` waits for the watchdog to be ready (its Python starting up).
READY_TIMEOUT = 30.0

# Signals the watchdog survives: the ones a terminal or an experimenter's kill sends to the
# whole group, and the other default-terminating ones.
_IGNORED = (
    "SIGINT",
    "SIGQUIT",
    "SIGHUP",
    "SIGTERM",
    "SIGUSR1",
    "SIGUSR2",
    "SIGALRM",
    "SIGPIPE",
    "SIGVTALRM",
    "SIGPROF",
    "SIGIO",
    "SIGPWR",
    "SIGXCPU",
    "SIGXFSZ",
)


class Watchdog:
    """The parent's handle on a running watchdog process."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process

    def problem(self) -> str | None:
        """Why the watchdog cannot lower the line any more (it has ended), else None."""
        status = self.process.poll()
        if status is None:
            return None
        return (
            f"the watchdog process {self.process.pid} that lowers the line if pavlov dies "
            f"has ended (exit status {status}); no shock is given without it"
        )

    def disarm(self) -> None:
        """The session ended cleanly (line low, devices closed): let the watchdog go."""
        if self.process.stdin is None:
            return
        with contextlib.suppress(OSError, ValueError):
            self.process.stdin.write(b"ok\n")
            self.process.stdin.flush()
        self.close()

    def close(self) -> None:
        """Close the pipe (without ``ok`` the watchdog drives the line low) and reap it."""
        with contextlib.suppress(OSError, ValueError):
            if self.process.stdin is not None:
                self.process.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=RETRY + 2)


def start_watchdog(spec: str | None, shock_code: int) -> Watchdog | None:
    """Start the watchdog for shock device ``spec`` (None for a simulated shock).

    Parameters
    ----------
    spec : str or None
        The shock's device spec (``serial:/dev/ttyACM0``, ``parallel:/dev/parport0``, ...);
        None or ``simulated`` for none.
    shock_code : int
        The shock line bit(s), recorded in the watchdog's message.
    """
    if not spec or spec.startswith("simulated"):
        return None
    payload = json.dumps({"spec": spec, "code": shock_code})
    process = subprocess.Popen(
        [sys.executable, "-m", "pavlov.task.devices.watchdog", payload],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        start_new_session=os.name == "posix",
        close_fds=True,
        creationflags=getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0),
    )
    # The watchdog says "ready" once it ignores the signals that would end it and has
    # loaded its backend; only then may the line go high.
    ready = b""
    if process.stdout is not None and os.name != "posix":
        ready = process.stdout.readline()  # no select() on Windows pipes
    elif process.stdout is not None:
        deadline = time.monotonic() + READY_TIMEOUT
        while b"\n" not in ready and time.monotonic() < deadline:
            if not select.select([process.stdout], [], [], 0.1)[0]:
                continue
            chunk = os.read(process.stdout.fileno(), 64)
            if not chunk:
                break
            ready += chunk
        process.stdout.close()
    if not ready.startswith(b"ready"):
        with contextlib.suppress(OSError):
            process.kill()
        process.wait()
        raise DeviceError(
            f"shock device {spec}: the watchdog process that lowers the line if pavlov dies "
            f"did not start within {READY_TIMEOUT:g} s; the session does not run without it"
        )
    return Watchdog(process)


@contextlib.contextmanager
def watching(spec: str | None, shock_code: int) -> Iterator[Watchdog | None]:
    """Run the block with a watchdog on the shock line ``spec`` (none for a simulated one).

    A clean end of the block stands the watchdog down; an exception (or a death) leaves it
    to drive the line low.
    """
    watchdog = start_watchdog(spec, shock_code)
    clean = False
    try:
        yield watchdog
        clean = True
    finally:
        if watchdog is not None:
            if clean:
                watchdog.disarm()
            else:
                watchdog.close()


def drive_low(spec: str, retry: float = RETRY) -> None:
    """Open the port ``spec`` names with its usual backend, write 0, close it.

    Raises the last error if the port cannot be opened within ``retry`` seconds.
    """
    from pavlov.task.devices.spec import open_lines, parse_spec

    parsed = parse_spec("shock", spec)
    deadline = time.monotonic() + retry
    while True:
        try:
            lines = open_lines(parsed)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)
    try:
        lines.write(0)
    finally:
        lines.close()


def _preload(spec: str) -> None:
    """Import the backend now, so that lowering the line later takes milliseconds."""
    with contextlib.suppress(Exception):
        from pavlov.task.devices.spec import LINE_BACKENDS

        backend = LINE_BACKENDS.get(spec.split(":", 1)[0])
        if backend is not None:
            importlib.import_module(backend.library)


def main(argv: list[str]) -> int:
    """Wait for the session process; drive the line low unless it said ``ok``."""
    for name in _IGNORED:
        number = getattr(signal, name, None)
        if number is not None:
            with contextlib.suppress(OSError, ValueError):
                signal.signal(number, signal.SIG_IGN)
    config = json.loads(argv[0])
    _preload(config["spec"])
    with contextlib.suppress(OSError):
        os.write(1, b"ready\n")
        os.close(1)
    received = b""
    while True:
        try:
            chunk = os.read(0, 64)
        except InterruptedError:
            continue
        except OSError:
            break
        if not chunk:
            break
        received += chunk
    if b"ok" in received:
        return 0
    try:
        drive_low(config["spec"])
    except Exception as error:
        print(
            f"pavlov watchdog: the session process died and the shock line {config['spec']} "
            f"could not be driven low ({error}); check the stimulator now",
            file=sys.stderr,
        )
        return 1
    print(
        f"pavlov watchdog: the session process died; shock line {config['spec']} driven low",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
