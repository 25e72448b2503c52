"""Safety caps enforced in the device layer, whatever the protocol loader let through.

:class:`ShockGuard` wraps any :class:`~pavlov.task.devices.base.ShockDevice`. The run
loop arms one window per scheduled US (:meth:`ShockGuard.arm`); a train is delivered
only inside an armed window, only once per window and once per label, only while the session has shocks
left under ``max_shocks``, and only if it is no longer than ``max_train_duration``.
Every refusal raises :class:`~pavlov.task.devices.base.SafetyError` and is kept in
:meth:`ShockGuard.refusals` for the log.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
import threading
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from pavlov.common.errors import PavlovError
from pavlov.task.devices.base import Clock, SafetyError, ShockDevice, TrainRecord
from pavlov.task.devices.limits import check_train

__all__ = [
    "Caps",
    "LedgerError",
    "Refusal",
    "SessionBusy",
    "SessionLock",
    "SessionStop",
    "ShockCaps",
    "ShockGuard",
    "ShockLedger",
    "guard_shock",
]


class SessionStop(SafetyError):
    """A train was refused and the session must stop (the run loop ends it once the trial
    is logged)."""


class LedgerError(SessionStop):
    """The shock ledger cannot be written or read: the train is refused and the session
    must stop (a US that cannot be recorded could be repeated after a crash)."""


class SessionBusy(PavlovError, RuntimeError):
    """Another process holds the session's lock (it is running this participant's session)."""

    exit_status = 2


def _lock_exclusive(fd: int) -> None:
    """Take an exclusive, non-blocking lock on ``fd`` (flock; msvcrt on Windows)."""
    if sys.platform == "win32":  # no flock: lock the first byte instead
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


class SessionLock:
    """An exclusive ``fcntl.flock`` on one participant's session, held for a whole run.

    Two ``pavlov run`` processes for the same participant and session (a frozen window and
    a second terminal, two runs at once) would each read the shock ledgers once and both
    deliver. The lock is taken before any device opens and released when the process ends
    (the kernel drops it on any death, SIGKILL included), so at most one process at a time
    can give this participant's shocks of this session.

    Parameters
    ----------
    path : path-like
        The lock file (created, with its folder, if missing; never deleted: deleting a
        lock file another process is waiting on would let two processes in).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self) -> SessionLock:
        """Take the lock, or raise :class:`SessionBusy` naming the holder's PID."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as error:
            raise SessionBusy(
                f"{self.path}: cannot create the session lock: {error.strerror or error}"
            ) from None
        try:
            _lock_exclusive(fd)
        except OSError as error:
            holder = ""
            with contextlib.suppress(OSError, ValueError):
                holder = os.pread(fd, 64, 0).decode("ascii", "replace").split()[0]
            os.close(fd)
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                who = f"process {holder}" if holder.isdigit() else "another process"
                raise SessionBusy(
                    f"{self.path}: this session is already running in {who} (pavlov run); "
                    "end it first: two processes would both give shocks"
                ) from None
            raise SessionBusy(
                f"{self.path}: cannot lock the session: {error.strerror or error}"
            ) from None
        if self._names_other(fd):
            # Deleted or replaced between our open and our flock: that file locks nothing.
            os.close(fd)
            return self.acquire()
        with contextlib.suppress(OSError):  # the PID is informative only
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def _names_other(self, fd: int) -> bool:
        """True if the lock's path no longer names the file open at ``fd``."""
        try:
            here, there = os.fstat(fd), os.stat(self.path)
        except OSError:
            return True
        return (here.st_dev, here.st_ino) != (there.st_dev, there.st_ino)

    def problem(self) -> str | None:
        """Why this lock no longer keeps other processes out, else None: its file was
        deleted or replaced (``rm``, a symlink, the data folder removed), so a second
        ``pavlov run`` would lock a new file and run this session too."""
        if self._fd is None:
            return f"{self.path}: the session lock is not held"
        if self._names_other(self._fd):
            return (
                f"{self.path}: the session lock file was deleted or replaced during the "
                "session; another pavlov run could give this session's shocks too"
            )
        return None

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def release(self) -> None:
        """Release the lock. Safe to call more than once."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.close(fd)  # closing the descriptor drops the flock


@dataclass(frozen=True)
class Refusal:
    """A train the guard refused: clock ``time``, the caller's ``label``, and why."""

    time: float
    label: str
    reason: str


class ShockLedger:
    """An append-only record of every train a :class:`ShockGuard` lets through.

    One line per train, ``label<TAB>clock time``, written with a single ``os.write`` right
    before the device is triggered. It is not fsynced (that would stall the frame loop):
    the kernel keeps the line when the process is killed (SIGKILL, a crash), so a resumed
    run knows every US already delivered, including one whose trial never reached the
    events log. Only a power cut can lose it; the fsynced events log still holds every
    logged US then.

    The per-session cap counts the trains of every ledger of the participant's session
    (``siblings``: the ledgers of the session's other runs), re-read before each train.

    Parameters
    ----------
    path : path-like
        The ledger file; created if missing, appended to if it exists.
    siblings : callable, optional
        Returns the ledger files of the same participant and session (any run; this one
        may be among them). Default: this ledger only.

    Raises
    ------
    LedgerError
        If the ledger cannot be opened (e.g. its path is a folder).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        siblings: Callable[[], Iterable[Path]] | None = None,
    ) -> None:
        self.path = Path(path)
        self.siblings = siblings
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd: int | None = os.open(
                self.path,
                os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NONBLOCK,
                0o644,
            )
            try:
                self._content = bytearray(self._read(self._fd))
            except OSError:
                os.close(self._fd)
                raise
        except OSError as error:
            raise LedgerError(
                f"{self.path}: cannot open the shock ledger: {error.strerror or error}"
            ) from None

    @staticmethod
    def _read(fd: int) -> bytes:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            # /dev/zero or a FIFO would be read forever.
            raise OSError(errno.EINVAL, "not a regular file")
        return os.pread(fd, info.st_size, 0) if info.st_size else b""

    @classmethod
    def _read_path(cls, path: Path) -> bytes:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        try:
            return cls._read(fd)
        finally:
            os.close(fd)

    @staticmethod
    def _parse(data: bytes) -> list[str]:
        text = data.decode("utf-8", errors="replace")
        return [line.split("\t", 1)[0] for line in text.splitlines() if line.strip()]

    def labels(self) -> list[str]:
        """Labels of the trains recorded so far, oldest first (a torn last line counts)."""
        return self._parse(self._read_path(self.path))

    def session_count(self) -> int:
        """Trains recorded in every ledger of this participant's session (this one included).

        Raises OSError if a ledger cannot be read.
        """
        paths = {os.path.realpath(self.path): self.path}
        if self.siblings is not None:
            for other in self.siblings():
                paths.setdefault(os.path.realpath(other), Path(other))
        total = 0
        for real, path in paths.items():
            if real == os.path.realpath(self.path):
                total += len(self.labels())
            else:
                try:
                    total += len(self._parse(self._read_path(Path(path))))
                except FileNotFoundError:
                    continue  # listed, then removed: it holds no train of this session
        return total

    def record(self, label: str, time: float) -> None:
        """Append one train; raises OSError if the line cannot be written.

        If the ledger's path no longer names the open file (the data folder was deleted
        or moved during the session), the whole ledger is written again at its path, so a
        resumed run still knows every train, and OSError is raised: the session stops.
        """
        if self._fd is None:
            raise OSError(f"{self.path}: the shock ledger is closed")
        line = f"{label}\t{time:.6f}\n".encode()
        if os.write(self._fd, line) != len(line):
            raise OSError(f"{self.path}: short write to the shock ledger")
        self._content += line
        try:
            there = os.path.samestat(os.fstat(self._fd), os.stat(self.path))
        except OSError:
            there = False
        if not there:
            # This train is refused (the session stops): the rewritten ledger omits it.
            del self._content[len(self._content) - len(line) :]
            self._rewrite()

    def _rewrite(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as error:
            raise OSError(
                f"{self.path}: the data folder vanished and the shock ledger cannot be "
                f"written again ({error.strerror or error})"
            ) from None
        try:
            known = self._read(fd)
            # Keep anything already there; add what it lacks.
            missing = self._content[len(known) :] if self._content.startswith(known) else b""
            if not self._content.startswith(known):
                missing = self._content
            os.write(fd, bytes(missing))
            os.fsync(fd)
        except OSError as error:
            os.close(fd)
            raise OSError(
                f"{self.path}: the data folder vanished and the shock ledger cannot be "
                f"written again ({error.strerror or error})"
            ) from None
        old, self._fd = self._fd, fd
        if old is not None:
            with contextlib.suppress(OSError):
                os.close(old)
        raise OSError(
            f"{self.path}: the data folder vanished during the session; the shock ledger "
            "was written again here"
        )

    def close(self) -> None:
        """Close the file. Safe to call more than once.

        If the path no longer names the open file (the data folder was deleted during the
        session and the session stopped for another reason first), the ledger is written
        again at its path before closing, so a resumed run knows every train.
        """
        if self._fd is None:
            return
        try:
            there = os.path.samestat(os.fstat(self._fd), os.stat(self.path))
        except OSError:
            there = False
        if not there:
            with contextlib.suppress(OSError):
                self._rewrite()
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


class ShockGuard:
    """A shock device that refuses any train not scheduled or over a cap.

    Parameters
    ----------
    device : ShockDevice
        The device that delivers accepted trains.
    max_shocks : int
        Most trains one session may deliver (>= 0).
    max_train_duration : float
        Longest train, first rising to last falling edge, seconds (> 0).
    clock : Clock
        Session clock; windows and refusals use its times.
    """

    def __init__(
        self, device: ShockDevice, max_shocks: int, max_train_duration: float, clock: Clock
    ) -> None:
        if isinstance(max_shocks, bool) or not isinstance(max_shocks, int) or max_shocks < 0:
            raise ValueError(f"max_shocks must be a whole number >= 0, got {max_shocks!r}")
        if not (isinstance(max_train_duration, int | float) and max_train_duration > 0):
            raise ValueError(f"max_train_duration must be > 0 s, got {max_train_duration!r}")
        self.device = device
        self.name = device.name
        self.max_shocks = max_shocks
        self.max_train_duration = float(max_train_duration)
        self.clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, float]] = {}
        self._refusals: list[Refusal] = []
        self._count = 0  # trains of this run (ledger included)
        self._session = 0  # trains of the participant's session, every run (ledgers)
        self._ledger: ShockLedger | None = None
        self._has_ledger = False
        # Labels already delivered: re-arming one (an event replayed after Escape, n) must
        # not give the same scheduled US twice.
        self._used: set[str] = set()
        self._precondition: Callable[[], str | None] | None = None

    def require(self, precondition: Callable[[], str | None]) -> None:
        """Refuse every train (:class:`SessionStop`: the session stops) while
        ``precondition()`` returns a reason; ``pavlov run`` checks that its watchdog lives
        and that it still holds the session lock."""
        self._precondition = precondition

    @property
    def shocks_delivered(self) -> int:
        """Trains accepted so far in this run (with a ledger: by every process of the run)."""
        return self._count

    def arm(self, label: str, start: float, end: float) -> None:
        """Allow one train labelled ``label`` between clock times ``start`` and ``end``."""
        if not end >= start:
            raise ValueError(
                f"US window {label!r} must end at or after its start, got {start}..{end}"
            )
        with self._lock:
            self._windows[label] = (float(start), float(end))

    def use_ledger(self, ledger: ShockLedger) -> None:
        """Count the trains ``ledger`` already holds, and record every new one there.

        On ``--resume`` (and for another run of the same session) this makes ``max_shocks``
        cumulative over the participant's session — every run and every process — and
        refuses a US that an earlier, killed process of this run already delivered. The
        ledgers are read again before each train.

        Raises
        ------
        LedgerError
            If a ledger cannot be read.
        """
        with self._lock:
            try:
                labels = ledger.labels()
                session = ledger.session_count()
            except OSError as error:
                raise LedgerError(
                    f"{ledger.path}: cannot read the shock ledger: {error.strerror or error}"
                ) from None
            for label in labels:
                self._used.add(label)
            self._count = len(labels)
            self._session = session
            self._ledger = ledger
            self._has_ledger = True

    @property
    def has_ledger(self) -> bool:
        """True when trains are counted from (and recorded in) a shock ledger (also after
        :meth:`close`)."""
        return self._has_ledger

    @property
    def session_shocks(self) -> int:
        """Trains of the participant's session so far (every run, per the ledgers)."""
        return max(self._session, self._count)

    def refusals(self) -> list[Refusal]:
        """Every refusal so far, oldest first."""
        with self._lock:
            return list(self._refusals)

    def deliver(self, width: float, interval: float, count: int, label: str) -> None:
        """Deliver the train if it is scheduled now and within the caps; else refuse.

        Raises
        ------
        SafetyError
            The train was refused (the session may go on).
        LedgerError
            The ledger could not be read or written: refused, and the session must stop.
        """
        now = self.clock.now()
        with self._lock:
            lost = self._precondition() if self._precondition is not None else None
            if lost is not None:
                # No watchdog: a train started now could not be ended if this process died;
                # no lock: another process may be giving this session's shocks too.
                self._refusals.append(Refusal(now, label, lost))
                raise SessionStop(f"refused shock {label!r} on {self.name}: {lost}")
            ledger = self._ledger
            if ledger is not None:
                # Read again before each train: whatever else wrote to this participant's
                # ledgers (no other process can while the session lock is held) counts.
                try:
                    self._used.update(ledger.labels())
                    self._session = ledger.session_count()
                except OSError as error:
                    reason = f"the shock ledger could not be read ({error})"
                    self._refusals.append(Refusal(now, label, reason))
                    raise LedgerError(f"refused shock {label!r} on {self.name}: {reason}") from None
            refused = self._check(width, interval, count, label, now)
            if refused is not None:
                self._refusals.append(Refusal(now, label, refused))
                raise SafetyError(f"refused shock {label!r} on {self.name}: {refused}")
            # The window is used up before the device is touched: a failing device
            # must not get a second try at the same US.
            del self._windows[label]
            if ledger is not None:
                try:
                    ledger.record(label, now)
                except OSError as error:
                    # A train that cannot be recorded could be repeated after a crash.
                    reason = f"it could not be recorded in the shock ledger ({error})"
                    self._refusals.append(Refusal(now, label, reason))
                    raise LedgerError(f"refused shock {label!r} on {self.name}: {reason}") from None
                self._session += 1
            self._used.add(label)
            self._count += 1
        self.device.deliver(width, interval, count, label)

    def _check(
        self, width: float, interval: float, count: int, label: str, now: float
    ) -> str | None:
        try:
            check_train(width, interval, count)
        except SafetyError as error:
            return str(error).removeprefix("refused pulse train: ")
        duration = (count - 1) * interval + width
        if duration > self.max_train_duration + 1e-9:
            return (
                f"train of {duration:.4g} s is longer than the cap max_train_duration "
                f"{self.max_train_duration:g} s"
            )
        if self._count >= self.max_shocks:
            return f"the session already had max_shocks {self.max_shocks} shocks"
        if self._ledger is not None and self._session >= self.max_shocks:
            return (
                f"the participant's session already had max_shocks {self.max_shocks} shocks "
                f"over all its runs ({self._session} in the shock ledgers)"
            )
        window = self._windows.get(label)
        if window is None:
            return "no scheduled US is armed with this label"
        if label in self._used:
            return f"the US {label!r} was already delivered once this session"
        start, end = window
        if not start <= now <= end:
            return (
                f"clock time {now:.3f} s is outside the scheduled US window {start:.3f}-{end:.3f} s"
            )
        return None

    def busy(self) -> bool:
        """True while the device delivers a train."""
        return self.device.busy()

    def delivered(self) -> list[TrainRecord]:
        """Trains completed since the last call."""
        return self.device.delivered()

    def set_low(self) -> None:
        """Stop any train and drive the line low now. Never raises."""
        self.device.set_low()

    def open(self) -> None:
        """Open the device with every line low."""
        self.device.open()

    def close(self) -> None:
        """Close windows and the device. Never raises."""
        with self._lock:
            self._windows.clear()
            ledger, self._ledger = self._ledger, None
        self.device.close()
        if ledger is not None:
            with contextlib.suppress(OSError):  # close() never raises: the line is low
                ledger.close()


class ShockCaps(typing.Protocol):
    """The two caps a guard enforces (a protocol's ``safety`` block, or a work-up's)."""

    @property
    def max_shocks(self) -> int:
        """Most trains."""
        ...

    @property
    def max_train_duration(self) -> float:
        """Longest train, first rising to last falling edge, seconds."""
        ...


@dataclass(frozen=True)
class Caps:
    """Caps given directly (``pavlov calibrate``: its ``max_steps`` test shocks)."""

    max_shocks: int
    max_train_duration: float


@typing.overload
def guard_shock(
    device: ShockDevice, caps: ShockCaps, clock: Clock, *, source: str = ...
) -> ShockGuard: ...
@typing.overload
def guard_shock(
    device: ShockDevice, caps: None, clock: Clock, *, source: str = ...
) -> typing.NoReturn: ...
def guard_shock(
    device: ShockDevice, caps: ShockCaps | None, clock: Clock, *, source: str = "the protocol"
) -> ShockGuard:
    """Put ``device`` behind a :class:`ShockGuard` with ``caps``: the one place a guard is
    built, for ``pavlov run``, the run loop and ``pavlov calibrate``.

    Parameters
    ----------
    device : ShockDevice
        The raw device (its trains keep their physical timing at any ``--speed``).
    caps : ShockCaps or None
        The protocol's ``safety`` block (or the work-up's caps).
    clock : Clock
        Session clock.
    source : str
        What the caps come from, for the message (the protocol's path).

    Raises
    ------
    SafetyError
        Without caps: no shock device is ever driven without them.
    """
    if caps is None:
        raise SafetyError(
            f"{source}: refusing to drive shock device {device.name}: the protocol has no "
            "safety block (max_shocks, max_train_duration)"
        )
    return ShockGuard(device, caps.max_shocks, caps.max_train_duration, clock)
