"""Readers of user files check the kind and size before reading (issue 15 item 16):
`pavlov validate /dev/zero` read 6.4 GB in 6 s; /dev/urandom, a FIFO and a 10-GB sparse
file ran past 20 s. Each is now one line, at once, with nothing read."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from pavlov.analysis.errors import TableError
from pavlov.analysis.table import read_delimited
from pavlov.protocols.errors import ProtocolError
from pavlov.protocols.loader import load_protocol
from pavlov.task.devices.lab import LabFileError, load_lab


@pytest.fixture
def hostile(tmp_path):
    """/dev/zero, /dev/urandom, a FIFO (no writer) and a 10-GB sparse file."""
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    sparse = tmp_path / "sparse.yaml"
    with open(sparse, "wb") as handle:
        handle.truncate(10 * 2**30)
    return {
        "/dev/zero": "a device or special file, not a regular file",
        "/dev/urandom": "a device or special file, not a regular file",
        str(fifo): "a FIFO, not a regular file",
        str(sparse): "10,737,418,240 bytes",
    }


def test_protocol_lab_and_table_readers_refuse_special_and_huge_files(hostile):
    """Protocol, lab file and table readers: one line naming the kind or size, nothing read."""
    started = time.monotonic()
    for path, got in hostile.items():
        for reader, error in ((load_protocol, ProtocolError), (load_lab, LabFileError)):
            with pytest.raises(error, match=rf"^{path}:1: expected .*, got {got}$"):
                reader(path)
        with pytest.raises(TableError) as caught:
            read_delimited(path)
        message = str(caught.value)
        assert "\n" not in message
        assert "regular file" in message or "bytes" in message, message
    assert time.monotonic() - started < 10


def test_validate_dev_zero_is_one_line_and_quick(tmp_path):
    """The command as the user types it: one line, exit 2, no memory blow-up."""
    proc = subprocess.run(
        [sys.executable, "-m", "pavlov.task.cli", "validate", "/dev/zero"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "/dev/zero:1: expected a protocol file, got a device or special file, not a regular file"
    )
