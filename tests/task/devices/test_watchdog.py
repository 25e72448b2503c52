"""The watchdog that lowers the shock line when the session process dies (SAFETY.md H1).

End-to-end (SIGKILL and a killed X server mid-pulse, a real pty on the wire) in
``tests/task/test_run_safety_e2e.py``; here: each backend's line driven low by
:func:`drive_low` (parallel port and LabJack through fakes of their libraries), and the
process's contract: ``ok`` leaves the line alone, EOF without it lowers the line, and the
signals a terminal sends to the group do not kill it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from pavlov.task.devices.watchdog import drive_low, start_watchdog


def test_drive_low_writes_zero_through_each_backend(pty_peer, fake_parallel, fake_u3):
    """Serial (a pty), parallel port (pyparallel fake), LabJack (u3 fake): the port is
    opened with the session's own backend and set to 0."""
    drive_low(f"serial:{pty_peer.path}")
    assert pty_peer.values() == [0]
    drive_low("parallel:/dev/parport0")
    (port,) = fake_parallel.instances
    assert port.writes[-1][1] == 0
    drive_low("labjack:FIO0")
    (device,) = fake_u3.U3.instances
    assert device.history and all(value == 0 for value in device.history[-1][1][:1])


def test_watchdog_process_lowers_the_line_on_eof_only(pty_peer):
    """`ok` then EOF: nothing written; EOF alone (the parent died): one 0 on the wire. The
    group's SIGINT/SIGHUP/SIGTERM do not stop it (it runs in its own session)."""
    quiet = start_watchdog(f"serial:{pty_peer.path}", 1)
    quiet.disarm()
    assert quiet.process.returncode == 0 and pty_peer.values() == []
    dog = start_watchdog(f"serial:{pty_peer.path}", 1)
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGQUIT):
        os.kill(dog.process.pid, sig)
    assert dog.process.poll() is None
    assert os.getsid(dog.process.pid) != os.getsid(0)
    dog.close()
    assert dog.process.returncode == 0
    assert pty_peer.values() == [0]


def test_simulated_shock_needs_no_watchdog():
    """A simulated stimulator has no line: no process is started."""
    assert start_watchdog("simulated", 1) is None


def test_watchdog_reports_a_line_it_cannot_lower(tmp_path):
    """A port that cannot be opened: the watchdog says so on stderr and exits 1."""
    payload = json.dumps({"spec": "serial:/dev/nonexistent-pavlov", "code": 1})
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pavlov.task.devices import watchdog as w; w.RETRY = 0.1; "
            "sys.exit(w.main(sys.argv[1:]))",
            payload,
        ],
        input=b"",
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert b"could not be driven low" in proc.stderr and b"check the stimulator" in proc.stderr


def test_watching_stands_down_on_a_clean_end_and_lowers_the_line_on_an_error(pty_peer):
    """`pavlov calibrate` and `devices check` run inside `watching`: a clean end writes
    nothing, an error (or a death) leaves the watchdog to write 0."""
    import pytest

    from pavlov.task.devices.watchdog import watching

    with watching(f"serial:{pty_peer.path}", 1) as dog:
        assert dog is not None and dog.process.poll() is None
    assert dog.process.returncode == 0 and pty_peer.values() == []
    with pytest.raises(RuntimeError), watching(f"serial:{pty_peer.path}", 1) as dog:
        raise RuntimeError("the work-up failed")
    assert pty_peer.values() == [0]
