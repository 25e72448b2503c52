"""Every way a session can end early ends safely (issue 6, item 2).

Exception inside a trial, Escape, SIGTERM, a device error, a full disk and a vanished data
folder: each ends with the shock line low, the log on disk holding every completed event
(and nothing half-written), the sidecar saying why, and one line for the experimenter.
The sessions run on the fast path (recording display, frame clock) with the real
``EventLog`` and ``SessionRecord`` on a real filesystem; the fault is injected through the
display (it fires inside a flip, i.e. inside a trial) or through the devices.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from pavlov.protocols import load_protocol
from pavlov.protocols.kinds import MAIN_ROW_TYPES
from pavlov.task.devices.base import DeviceError
from pavlov.task.devices.simulated import SimulatedShock
from pavlov.task.display import FrameClock, RecordingDisplay
from pavlov.task.log import EventLog, LogError
from pavlov.task.run_cli import _signals_end_session
from pavlov.task.runner import SessionAbort, resume_point
from pavlov.task.sidecar import SessionRecord

PROTOCOL = Path(__file__).resolve().parents[2] / "protocols" / "retrieval_extinction.yaml"


class FaultDisplay(RecordingDisplay):
    """A recording display that calls ``fault(display)`` after every flip (it may raise)."""

    def __init__(self, clock, fault) -> None:
        super().__init__(clock)
        self.fault = fault

    def flip(self) -> float:
        t = super().flip()
        self.fault(self)
        return t


class FailingShock(SimulatedShock):
    """A stimulator whose connection is lost at its ``fail_at``-th train."""

    def __init__(self, clock, fail_at: int) -> None:
        super().__init__(clock)
        self.fail_at = fail_at
        self.calls = 0

    def deliver(self, width, interval, count, label):
        self.calls += 1
        if self.calls == self.fail_at:
            raise DeviceError(f"shock device {self.name}: serial port /dev/ttyACM0 vanished")
        super().deliver(width, interval, count, label)


def run_to_fault(fast, folder: Path, fault=None, *, display=None, speed=20.0, shock=None):
    """Play retrieval_extinction day1 into ``folder`` with a fault; return (run, paths)."""
    protocol = load_protocol(PROTOCOL)
    folder.mkdir(parents=True, exist_ok=True)
    events = folder / "events.tsv"
    log = EventLog.create(events)
    record = SessionRecord.create(folder / "session.json", {"end_reason": "running"})
    clock = FrameClock()
    display = display or FaultDisplay(clock, fault)
    if shock is not None:
        run = _run_with_shock(fast, protocol, display, log, record, speed, shock(display.clock))
    else:
        run = fast(protocol, "day1", display=display, log=log, record=record, speed=speed)
    log.close()
    return run, events, folder / "session.json"


def _run_with_shock(fast, protocol, display, log, record, speed, shock):
    # The harness builds its own simulated shock; this one swaps in a failing stimulator.
    from pavlov.protocols import build_schedule
    from pavlov.task.console import RecordingConsole
    from pavlov.task.devices.simulated import SimulatedMarkers
    from pavlov.task.runner import guard_shock, run_session
    from pavlov.task.simulated_participant import SimulatedParticipant

    run = fast.__globals__["FastRun"](
        protocol,
        build_schedule(protocol, "p1", "day1"),
        speed,
        display.clock,
        display,
        shock,
        guard_shock(shock, protocol, display.clock, speed),
        SimulatedMarkers(display.clock),
        RecordingConsole(),
        log,
    )
    try:
        run.result = run_session(
            run.schedule,
            protocol,
            display=display,
            clock=display.clock,
            trigger=None,
            shock=run.guard,
            markers=run.markers,
            responder=SimulatedParticipant(1, speed),
            log=log,
            console=run.console,
            speed=speed,
            record=record,
        )
    except BaseException as error:
        run.error = error
    return run


def check_saved(run, events: Path, sidecar: Path, reason_prefix: str) -> dict:
    """Line low; log parses and holds exactly the completed events; sidecar says why."""
    shock = run.shock
    assert not shock.line_high() and not shock.busy() and not shock._open
    _, rows = EventLog.reopen(events)
    record = json.loads(sidecar.read_text())
    assert record["end_reason"].startswith(reason_prefix), record["end_reason"]
    done = record["completed_events"]
    assert 0 < done < len(run.schedule.events)
    # The logged events are the schedule's first `done` events, each complete, in order.
    point = resume_point(run.schedule, rows)
    assert point.start_index == done and point.keep_rows == len(rows)
    main = [r for r in rows if r["trial_type"] in MAIN_ROW_TYPES.values() and r["cs"] == "n/a"]
    main += [r for r in rows if r["trial_type"] == "cs"]
    assert len(main) == done
    return record


def cli_lines(capsys, error: BaseException) -> tuple[int, list[str]]:
    """What ``pavlov`` prints for ``error`` raised by a command: (status, stderr lines)."""
    from pavlov.task.cli import main

    def command(args):
        raise error

    parser = argparse.ArgumentParser(prog="pavlov")
    sub = parser.add_subparsers()
    sub.add_parser("run").set_defaults(func=command)
    capsys.readouterr()
    status = main(["run"], parser=parser)
    err = capsys.readouterr().err
    return status, err.splitlines()


def during_us(after: int = 1):
    """A fault trigger: true on the flip where the ``after``-th train is on the wire."""
    seen: set[str] = set()

    def when(display, shock) -> bool:
        running = getattr(shock, "_running", None)
        if running is not None:
            seen.add(running.label)
        return running is not None and len(seen) >= after

    return when


def test_exception_inside_a_trial_during_a_us(fast, tmp_path, capsys):
    """A crash while a shock train runs: line low at once, log + sidecar saved, one line."""
    box = {}
    trigger = during_us(2)

    def fault(display):
        shock = box["shock"]
        if trigger(display, shock) and not box.get("fired"):
            box["fired"] = True
            box["high"] = shock.line_high() or shock.busy()
            raise RuntimeError("video driver returned an invalid frame")

    def make_shock(clock):
        box["shock"] = SimulatedShock(clock)
        return box["shock"]

    run, events, sidecar = run_to_fault(fast, tmp_path / "d", fault, shock=make_shock)
    assert isinstance(run.error, RuntimeError) and box["high"]
    record = check_saved(run, events, sidecar, "error: RuntimeError: video driver")
    now = run.clock.now()
    assert all(fall <= now for _, fall in run.shock.trains[-1].pulses)  # the train was cut
    status, lines = cli_lines(capsys, run.error)
    assert status == 1 and len(lines) == 1 and "RuntimeError: video driver" in lines[0]
    assert record["shocks_delivered"] == len(run.shock.trains)


def test_escape_confirmed_ends_cleanly(fast, tmp_path):
    """Escape then y mid-session: line low, completed events saved, sidecar 'aborted: escape'."""
    box = {"n": 0}

    def fault(display):
        box["n"] += 1
        if box["n"] == 700:
            display.keys[len(display.frames)] = ["escape"]
        if box["n"] == 705:
            display.keys[len(display.frames)] = ["y"]

    run, events, sidecar = run_to_fault(fast, tmp_path / "d", fault, speed=5.0)
    assert run.error is None and run.result.end_reason == "aborted: escape"
    check_saved(run, events, sidecar, "aborted: escape")
    last = run.console.messages[-1]
    assert "\n" not in last and last.startswith("session aborted: escape")


def test_sigterm_during_a_us(fast, tmp_path):
    """A real SIGTERM while a train runs: SessionAbort, line low, saved, sidecar says SIGTERM."""
    box = {}
    trigger = during_us(1)

    def fault(display):
        if not box.get("sent") and trigger(display, box["shock"]):
            box["sent"] = True
            os.kill(os.getpid(), signal.SIGTERM)  # the handler raises in this (main) thread

    def make_shock(clock):
        box["shock"] = SimulatedShock(clock)
        return box["shock"]

    with _signals_end_session():
        run, events, sidecar = run_to_fault(fast, tmp_path / "d", fault, shock=make_shock)
    assert isinstance(run.error, SessionAbort) and run.error.code == 128 + signal.SIGTERM
    check_saved(run, events, sidecar, "aborted: SIGTERM")
    assert run.console.messages[-1].startswith("session aborted: SIGTERM")


def test_device_error_stops_the_session_with_one_line(fast, tmp_path, capsys):
    """The stimulator vanishes at its 3rd train: session stops, line low, saved, one line."""
    run, events, sidecar = run_to_fault(
        fast, tmp_path / "d", lambda d: None, shock=lambda clock: FailingShock(clock, 3)
    )
    assert isinstance(run.error, DeviceError)
    check_saved(run, events, sidecar, "error: shock device simulated: serial port")
    status, lines = cli_lines(capsys, run.error)
    assert status == DeviceError.exit_status and len(lines) == 1
    assert lines[0] == "pavlov: shock device simulated: serial port /dev/ttyACM0 vanished"


def test_vanished_data_folder_is_written_again_and_the_session_stops(fast, tmp_path, capsys):
    """The data folder is deleted mid-session: the log and sidecar are written again in
    full at their path, the session stops, and the message says what happened."""
    folder = tmp_path / "data" / "sub-1"
    box = {"n": 0}

    def fault(display):
        box["n"] += 1
        if box["n"] == 400:
            shutil.rmtree(folder)

    run, events, sidecar = run_to_fault(fast, folder, fault)
    assert isinstance(run.error, LogError)
    message = str(run.error)
    assert "the data folder vanished during the session" in message and str(events) in message
    record = check_saved(run, events, sidecar, "error: ")
    assert "vanished" in record["end_reason"]
    status, lines = cli_lines(capsys, run.error)
    assert status == 5 and len(lines) == 1 and "--resume" in lines[0]


def test_enospc_from_the_os_is_disk_full_and_leaves_no_partial_row(tmp_path):
    """A write that fails with ENOSPC (/dev/full) raises 'disk full' naming the file."""
    path = tmp_path / "events.tsv"
    log = EventLog.create(path)
    log.append([{"onset": 1.0, "trial_type": "cs"}])
    real, log._fd = log._fd, os.open("/dev/full", os.O_WRONLY)
    with pytest.raises(LogError, match=rf"^{path}: disk full: .* with 1 rows saved"):
        log.append([{"onset": 2.0, "trial_type": "cs"}])
    os.close(log._fd)
    log._fd = real
    log.close()
    assert path.read_text().count("\n") == 2


@pytest.fixture
def small_disk(tmp_path):
    """A 256 KiB tmpfs mounted for the test (root only); unmounted afterwards."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); /dev/full test covers it")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_stops_the_session_with_data_and_sidecar_saved(fast, small_disk, capsys):
    """On a real full filesystem: 'disk full' naming the log, every completed event saved,
    no torn row, the sidecar updated with the reason, line low."""
    folder = small_disk / "data"
    box = {"n": 0}

    def fault(display):
        box["n"] += 1
        if box["n"] == 300:  # fill the disk mid-session
            fd = os.open(small_disk / "filler", os.O_WRONLY | os.O_CREAT)
            try:
                while os.write(fd, b"x" * 4096):
                    pass
            except OSError:
                pass
            finally:
                os.close(fd)

    run, events, sidecar = run_to_fault(fast, folder, fault)
    assert isinstance(run.error, LogError)
    message = str(run.error)
    assert message.startswith(f"{events}: disk full")
    record = check_saved(run, events, sidecar, "error: ")
    assert "disk full" in record["end_reason"]
    assert not list(folder.glob(".*.tmp"))  # no temporary sidecar left behind
    status, lines = cli_lines(capsys, run.error)
    assert status == 5 and len(lines) == 1 and "disk full" in lines[0]


def test_every_terminating_signal_ends_the_session_and_ctrl_z_cannot_pause_it():
    """Inside a session every catchable terminating signal (SIGQUIT, SIGUSR1, SIGALRM, the
    real-time ones...) raises SessionAbort naming it, and Ctrl-Z (SIGTSTP), SIGTTIN and
    SIGTTOU are ignored: a stopped process would hold the line high. Before, only SIGTERM
    and SIGHUP were handled."""
    from pavlov.task.run_cli import END_SIGNALS

    assert {signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM} <= set(END_SIGNALS)
    assert signal.SIGRTMIN in END_SIGNALS and signal.SIGKILL not in END_SIGNALS
    for sig in (signal.SIGQUIT, signal.SIGUSR2, signal.SIGRTMIN + 3):
        with _signals_end_session():
            for stop in (signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU):
                assert signal.getsignal(stop) == signal.SIG_IGN
            with pytest.raises(SessionAbort) as caught:
                os.kill(os.getpid(), sig)
            assert caught.value.code == 128 + sig
            os.kill(os.getpid(), sig)  # a second signal does not interrupt the clean-up
    for sig in (signal.SIGTSTP, signal.SIGQUIT):
        assert signal.getsignal(sig) == signal.SIG_DFL


def test_a_second_signal_of_another_kind_cannot_cut_the_clean_up():
    """SIGTERM then Ctrl-C, or Ctrl-C then SIGTERM, in quick succession: only the first
    ends the session (SessionAbort or KeyboardInterrupt), the second is ignored while the
    record is saved (was: Ctrl-C after SIGTERM cut the clean-up, `end_reason: running`)."""
    with _signals_end_session():
        with pytest.raises(SessionAbort):
            os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)  # no KeyboardInterrupt inside the clean-up
    with _signals_end_session():
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_a_signal_a_library_swallowed_still_ends_the_session_and_stops_every_train():
    """SIGTERM during start-up landed inside pyglet's library loading, which catches every
    exception: the session then ran to completion with its shocks. The signal stays
    pending: `pavlov run` raises it before the session starts and the guard refuses every
    train after it."""
    from pavlov.task.devices.safety import SessionStop, ShockGuard
    from pavlov.task.display import FrameClock
    from pavlov.task.run_cli import _signal_problem

    with _signals_end_session() as pending:
        assert pending() is None and _signal_problem(pending) is None
        try:  # noqa: SIM105 (as pyglet.lib.load_library does around find_library)
            os.kill(os.getpid(), signal.SIGTERM)
        except BaseException:
            pass
        assert isinstance(pending(), SessionAbort) and pending().code == 128 + signal.SIGTERM
        clock = FrameClock()
        guard = ShockGuard(SimulatedShock(clock), 2, 0.5, clock)
        guard.open()
        guard.require(lambda: _signal_problem(pending))
        guard.arm("a/1", 0.0, 1.0)
        with pytest.raises(SessionStop, match=r"session is ending \(aborted: SIGTERM\)"):
            guard.deliver(0.005, 0.01, 1, "a/1")
        assert guard.shocks_delivered == 0
