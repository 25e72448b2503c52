"""The shock ledger and the session lock (SAFETY.md H1, issue 15 items 1, 5, 7, 9, 11, 15).

Sessions run on the fast path (recording display, frame clock, simulated stimulator behind
the real :class:`~pavlov.task.devices.safety.ShockGuard`) with the real ledger, log and
record on a real filesystem.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from fast_session import run_fast
from shock_wire import refuses_a_train

from pavlov.protocols import build_schedule, load_protocol
from pavlov.task.devices.base import SafetyError
from pavlov.task.devices.safety import (
    LedgerError,
    SessionBusy,
    SessionLock,
    SessionStop,
    ShockGuard,
    ShockLedger,
)
from pavlov.task.devices.simulated import SimulatedShock
from pavlov.task.display import FrameClock, RecordingDisplay
from pavlov.task.log import EventLog, run_paths
from pavlov.task.runner import reopen_for_resume
from pavlov.task.sidecar import SessionRecord

PROTOCOL = Path(__file__).resolve().parents[2] / "protocols" / "retrieval_extinction.yaml"
SPEED = 20.0


class HookDisplay(RecordingDisplay):
    """Calls ``hook(display)`` after every flip."""

    def __init__(self, clock, hook=None) -> None:
        super().__init__(clock)
        self.hook = hook

    def flip(self) -> float:
        t = super().flip()
        if self.hook is not None:
            self.hook(self)
        return t


def session(data: Path, run: int = 1, *, resume: bool = False, hook=None, before=None):
    """Play retrieval_extinction day1 as `pavlov run` does (ledger of every run of the
    session); return (result or error, shock, paths)."""
    protocol = load_protocol(PROTOCOL)
    schedule = build_schedule(protocol, "p1", "day1")
    paths = run_paths(data, "p1", "day1", protocol.task, run, False)
    start, base = 0, None
    if resume:
        record = SessionRecord.open(paths.session_json)
        log, _, point = reopen_for_resume(paths.events, schedule)
        start, base = point.start_index, point.time_base
    else:
        log = EventLog.create(paths.events)
        record = SessionRecord.create(paths.session_json, {"end_reason": "running"})
    try:
        outcome = run_fast(
            protocol,
            "day1",
            speed=SPEED,
            display=HookDisplay(FrameClock(), hook),
            log=log,
            record=record,
            start_index=start,
            time_base=base,
            ledger=ShockLedger(paths.shocks, paths.session_ledgers),
            before=before,
        )
    finally:
        log.close()
    return outcome.error or outcome.result, outcome.shock, paths


def usp_rows(paths) -> pd.DataFrame:
    log = pd.read_csv(paths.events, sep="\t", keep_default_na=False)
    return log[(log.trial_type == "us") & (log.event_type == "USp")]


def test_unwritable_ledger_stops_the_session_and_logs_the_us_as_not_given(tmp_path):
    """A ledger that cannot be written refuses the US and stops the session like a full log
    (it used to go on refusing every US); the US row says refused, with no duration."""
    outcome, shock, paths = session(tmp_path, before=lambda ledger, guard: ledger.close())
    assert isinstance(outcome, LedgerError)
    assert "could not be recorded in the shock ledger" in str(outcome)
    assert shock.trains == [] and not shock.line_high() and refuses_a_train(shock)
    record = json.loads(paths.session_json.read_text())
    assert record["end_reason"].startswith("error: refused shock")
    usp = usp_rows(paths)
    assert len(usp) == 1 and usp.value.iloc[0].startswith("refused:")
    assert float(usp.duration.iloc[0]) == 0.0
    # The analysis counts that trial as unreinforced (what the participant got).
    from pavlov.analysis.load import events_to_trials, read_events

    trials = events_to_trials(read_events(paths.events))
    refused = trials[(trials.phase == usp.phase.iloc[0]) & (trials.trial == usp.trial.iloc[0])]
    assert not refused.reinforced.iloc[0]


def test_resumed_record_counts_each_shock_once(tmp_path):
    """After a stop and --resume, `shocks_delivered` equals the ledger (it was the earlier
    record's count plus a guard count that already held the ledger: 13 for 8)."""
    state = {}

    def hook(display):
        guard = state["guard"]
        if not state.get("stopped") and guard.shocks_delivered >= 2 and not guard.busy():
            state["stopped"] = True
            raise RuntimeError("stopped for the test")

    def before(ledger, guard):
        state["guard"] = guard

    first, shock, paths = session(tmp_path, hook=hook, before=before)
    assert isinstance(first, RuntimeError) and shock.trains
    given = len(paths.shocks.read_text().splitlines())
    assert json.loads(paths.session_json.read_text())["shocks_delivered"] == given
    second, shock, paths = session(tmp_path, resume=True)
    assert second.end_reason == "completed"
    ledger = paths.shocks.read_text().splitlines()
    assert len(ledger) == len(set(ledger)) > given
    assert json.loads(paths.session_json.read_text())["shocks_delivered"] == len(ledger)


def test_cap_counts_every_run_of_the_session(tmp_path):
    """max_shocks is per participant and session: a second --run N starts from the
    first run's trains (a third run of 2 USs with a cap of 4 gave 6 trains)."""
    _, _, paths = session(tmp_path, 1)
    given = len(paths.shocks.read_text().splitlines())
    caps = load_protocol(PROTOCOL).safety
    assert given > caps.max_shocks / 2  # so two runs would pass the cap
    _, shock, paths2 = session(tmp_path, 2)
    assert len(shock.trains) == caps.max_shocks - given
    refused = [v for v in usp_rows(paths2).value if v.startswith("refused")]
    assert refused and all("over all its runs" in v for v in refused)


def test_vanished_folder_keeps_every_train_in_the_ledger(tmp_path):
    """`rm -rf` of the data folder mid-session: the ledger is written again in full and the
    session stops; --resume never repeats a US (the ledger used to keep 5 of 8 trains)."""
    state = {}

    def hook(display):
        shock = state["guard"]
        if not state.get("gone") and shock.shocks_delivered >= 2 and not shock.busy():
            state["gone"] = True
            state["labels"] = list(state["ledger"]._parse(bytes(state["ledger"]._content)))
            shutil.rmtree(tmp_path / "sub-p1")

    def before(ledger, guard):
        state["ledger"], state["guard"] = ledger, guard

    outcome, shock, paths = session(tmp_path, hook=hook, before=before)
    assert isinstance(outcome, Exception)
    assert "vanished" in str(outcome)
    on_disk = ShockLedger(paths.shocks).labels()
    assert on_disk == [t.label for t in shock.trains]
    assert set(state["labels"]) <= set(on_disk)


def test_ledger_that_is_a_folder_or_a_device_is_one_line(tmp_path):
    """A ledger path that is a folder, or /dev/zero, is a one-line error (was internal)."""
    (tmp_path / "dir").mkdir()
    for path in (tmp_path / "dir", Path("/dev/zero")):
        with pytest.raises(LedgerError, match="cannot open the shock ledger") as caught:
            ShockLedger(path)
        assert "\n" not in str(caught.value)


def test_session_lock_is_exclusive_and_names_the_holder(tmp_path):
    """A second lock on the session fails at once naming the holder's PID; the kernel
    releases the lock with the holder."""
    path = tmp_path / "sub-1" / "ses-1" / ".pavlov.lock"
    first = SessionLock(path).acquire()
    with pytest.raises(SessionBusy, match=rf"already running in process {os.getpid()}"):
        SessionLock(path).acquire()
    first.release()
    second = SessionLock(path).acquire()
    assert second.held
    second.release()


def test_lock_file_deleted_or_replaced_stops_the_next_train(tmp_path):
    """The session's lock file deleted (`rm`, the data folder removed) or replaced by a
    symlink during a session: a second process could lock a new file and run the session
    too, so the holder's guard refuses its next train and the session stops (was: both
    processes ran the session)."""
    path = tmp_path / "sub-1" / "ses-1" / ".pavlov.lock"
    for replace in (Path.unlink, lambda p: os.replace(p.with_name("x"), p)):
        first = SessionLock(path).acquire()
        assert first.problem() is None
        path.with_name("x").symlink_to(tmp_path / "elsewhere")
        replace(path)
        assert "deleted or replaced" in first.problem()
        second = SessionLock(path).acquire()  # the kernel lock is on the old file
        clock = FrameClock()
        guard = ShockGuard(SimulatedShock(clock), 2, 0.5, clock)
        guard.open()
        guard.require(first.problem)
        guard.arm("a/1", 0.0, 1.0)
        with pytest.raises(SessionStop, match="deleted or replaced"):
            guard.deliver(0.005, 0.01, 1, "a/1")
        assert guard.shocks_delivered == 0 and len(guard.refusals()) == 1
        first.release()
        second.release()
        path.with_name("x").unlink(missing_ok=True)
        path.unlink(missing_ok=True)


def test_guard_rereads_the_ledger_before_each_train(tmp_path):
    """A train written to the session's ledgers by anyone else since the guard started
    counts against the cap before the next train."""
    clock = FrameClock()
    guard = ShockGuard(SimulatedShock(clock), 2, 0.5, clock)
    guard.open()
    other = tmp_path / "run-2_shocks.tsv"
    ledger = ShockLedger(tmp_path / "run-1_shocks.tsv", lambda: [other])
    guard.use_ledger(ledger)
    other.write_text("a/1\t0.1\na/2\t0.2\n")
    guard.arm("a/3", 0.0, 1.0)
    with pytest.raises(SafetyError, match="max_shocks 2 shocks over all its runs"):
        guard.deliver(0.005, 0.01, 1, "a/3")


def test_another_run_refuses_an_earlier_runs_ledger_that_lost_delivered_uss(tmp_path):
    """Run 1's ledger deleted, emptied or made a device after run 1: `--run 2` (and 3)
    counted too few shocks, 6 trains against a cap of 4. Every other run's log is checked
    against its ledger before a run starts: one line, nothing written."""
    from pavlov.task.log import LogError
    from pavlov.task.run_cli import _check_session_ledgers

    _, _, first = session(tmp_path)
    second = run_paths(tmp_path, "p1", "day1", load_protocol(PROTOCOL).task, 2, False)
    _check_session_ledgers(second)  # complete: fine
    kept = first.shocks.read_bytes()
    for damage in (Path.unlink, lambda p: p.write_text(""), lambda p: p.write_text("x\n")):
        damage(first.shocks)
        with pytest.raises(LogError, match=r"run-1_shocks.tsv: the shock ledger lacks \d US"):
            _check_session_ledgers(second)
        first.shocks.unlink(missing_ok=True)
    first.shocks.symlink_to("/dev/null")
    with pytest.raises(LogError, match="cannot read the shock ledger: not a regular file"):
        _check_session_ledgers(second)
    first.shocks.unlink()
    first.shocks.write_bytes(kept)
    _check_session_ledgers(second)
    assert not second.events.exists()


def test_resume_refuses_a_ledger_that_lost_delivered_uss(tmp_path):
    """A ledger deleted or cut after a session: the log's delivered USs are missing from
    it, and a resume would count too few shocks; `pavlov run --resume` refuses in one line."""
    from pavlov.task.log import LogError
    from pavlov.task.run_cli import _check_ledger_against_log

    _, _, paths = session(tmp_path)
    rows = EventLog.reopen(paths.events)[1]
    ledger = ShockLedger(paths.shocks)
    _check_ledger_against_log(ledger, rows)  # complete: fine
    ledger.close()
    lines = paths.shocks.read_text().splitlines()
    paths.shocks.write_text("\n".join(lines[1:]) + "\n")
    with pytest.raises(LogError, match=r"the shock ledger lacks 1 US\(s\) the log shows delivered"):
        _check_ledger_against_log(ShockLedger(paths.shocks), rows)
