"""Reading a user's file without trusting it: only a regular file, only up to a limit.

``pavlov validate /dev/zero`` used to read 6.4 GB in 6 s before its size check; a FIFO
or ``/dev/urandom`` never ended. Every reader of user files (protocols, lab files, trial
tables, stimuli) checks the kind and size of the file first, here.
"""

from __future__ import annotations

import errno
import os
import stat

__all__ = ["FileProblem", "read_regular", "write_new"]


class FileProblem(Exception):
    """The path is not a readable regular file within the limit; ``str()`` says what it is."""


def describe_kind(mode: int) -> str:
    """``a folder``, ``a FIFO``, ``a device or special file`` for a non-regular ``st_mode``."""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO, not a regular file"
    return "a device or special file, not a regular file"


def read_regular(path: str | os.PathLike[str], limit: int) -> bytes:
    """Return the bytes of the regular file ``path``, at most ``limit`` of them.

    Raises
    ------
    FileNotFoundError
        If nothing is there.
    FileProblem
        A folder, FIFO, device or socket (nothing is read from it), or a file larger than
        ``limit`` bytes (its message is ``N bytes``), or an unreadable file.
    """
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as error:
        if error.errno == errno.EISDIR:
            raise FileProblem("a directory") from None
        raise FileProblem(error.strerror or str(error)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileProblem(describe_kind(info.st_mode))
        if info.st_size > limit:
            raise FileProblem(f"{info.st_size:,} bytes")
        chunks = []
        left = limit + 1  # the file may have grown since fstat
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > limit:
            raise FileProblem(f"more than {limit:,} bytes")
        return data
    except OSError as error:
        raise FileProblem(error.strerror or str(error)) from None
    finally:
        os.close(fd)


def write_new(path: str | os.PathLike[str], data: bytes) -> None:
    """Write a new file complete or not at all; never replace an existing one.

    The bytes go to a temporary file beside ``path`` first (fsynced), which is then linked
    to ``path``: the link fails when the name exists, so existing data is never overwritten,
    and a crash leaves either the whole file or none.

    Raises
    ------
    FileExistsError
        If ``path`` exists (nothing is written).
    OSError
        If the folder is missing or not writable.
    """
    import tempfile

    folder = os.path.dirname(os.path.abspath(path))
    handle, temp = tempfile.mkstemp(dir=folder, prefix=".pavlov-", suffix=".tmp")
    try:
        os.fchmod(handle, 0o666 & ~_umask())
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.link(temp, path)
    finally:
        os.unlink(temp)


def _umask() -> int:
    # Read-and-restore: the only portable way to learn the process umask.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
