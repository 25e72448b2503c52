"""Fast tests of the run loop (pavlov.task.runner) on a recording display and a frame clock."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest

from pavlov.protocols import build_schedule, load_protocol
from pavlov.stimuli.check import prepare_stimuli
from pavlov.task.console import RecordingConsole
from pavlov.task.devices.simulated import SimulatedMarkers, SimulatedScanner, SimulatedShock
from pavlov.task.display import FrameClock, RecordingDisplay
from pavlov.task.log import EventLog
from pavlov.task.responder import RatingState
from pavlov.task.runner import (
    ScannerTimeout,
    SessionAbort,
    guard_shock,
    resume_point,
    run_session,
)
from pavlov.task.sidecar import SessionRecord
from pavlov.task.simulated_participant import SimulatedParticipant

PROTOCOLS = Path(__file__).resolve().parents[2] / "protocols"
SESSIONS = [
    ("retrieval_extinction", "day1"),
    ("retrieval_extinction", "day2"),
    ("retrieval_extinction", "day3"),
    ("aversive_pavlovian_fmri", "scan"),
    ("fear_extinction_recall", "day1"),
    ("fear_extinction_recall", "day2"),
    ("ketamine_reconsolidation", "infusion"),
    ("ketamine_reconsolidation", "followup30"),
]


@dataclasses.dataclass
class Run:
    protocol: object
    schedule: object
    result: object
    log: pd.DataFrame
    display: RecordingDisplay
    shock: SimulatedShock | None
    markers: SimulatedMarkers
    console: RecordingConsole
    record: SessionRecord
    path: Path


def play(
    tmp_path,
    name,
    session,
    speed=5.0,
    display=None,
    responder=None,
    protocol=None,
    start_index=0,
    time_base=None,
    log=None,
    scanner_stop=None,
):
    protocol = protocol or load_protocol(PROTOCOLS / f"{name}.yaml")
    schedule = build_schedule(protocol, "demo", session)
    clock = display.clock if display is not None else FrameClock()
    display = display or RecordingDisplay(clock)
    scanner = protocol.scanner if protocol.session(session).scanner else None
    trigger = (
        SimulatedScanner(clock, protocol.scanner.tr / speed, stop_after=scanner_stop)
        if scanner
        else None
    )
    shock = SimulatedShock(clock) if protocol.safety else None
    markers = SimulatedMarkers(clock)
    console = RecordingConsole()
    path = tmp_path / "events.tsv"
    log = log or EventLog.create(path)
    record_path = tmp_path / "session.json"
    record = (
        SessionRecord.open(record_path)
        if record_path.exists()
        else SessionRecord.create(record_path, {"end_reason": "running"})
    )
    result = error = None
    try:
        result = run_session(
            schedule,
            protocol,
            display=display,
            clock=clock,
            trigger=trigger,
            shock=shock,
            markers=markers,
            responder=responder or SimulatedParticipant(1, speed),
            log=log,
            console=console,
            speed=speed,
            scanner=scanner,
            record=record,
            stimuli=prepare_stimuli(protocol, schedule),
            start_index=start_index,
            time_base=time_base,
            completed_before=start_index,
        )
    except BaseException as caught:  # the caller checks what was raised
        error = caught
    finally:
        log.close()
    frame = pd.read_csv(path, sep="\t", na_values="n/a", keep_default_na=False)
    run = Run(protocol, schedule, result, frame, display, shock, markers, console, record, path)
    if error is not None:
        run.error = error
    return run


def main_rows(frame):
    return frame[~frame.trial_type.isin(["pulse", "event"])]


@pytest.mark.parametrize(("name", "session"), SESSIONS)
def test_log_matches_schedule(tmp_path, name, session):
    """Every scheduled event is logged once, in order, with US rows exactly on CS+US trials."""
    run = play(tmp_path, name, session)
    assert run.result.end_reason == "completed"
    kinds = {"trial": "cs", "us": "us"}
    expected = [(e.phase, kinds.get(e.kind, e.kind), e.index) for e in run.schedule.events]
    log = run.log
    main = log[~log.trial_type.isin(["pulse", "event"])]
    main = main[~((main.trial_type == "us") & main.cs.notna())]  # outcome rows of trials
    assert list(zip(main.phase, main.trial_type, main.trial)) == expected
    assert log.onset.is_monotonic_increasing
    period = run.display.frame_period * 5.0
    trials = [e for e in run.schedule.events if e.kind == "trial"]
    cs_rows = log[log.trial_type == "cs"].reset_index(drop=True)
    outcome = log[(log.trial_type == "us") & log.cs.notna()].reset_index(drop=True)
    with_us = [e for e in trials if e.us_onset is not None]
    assert len(outcome) == len(with_us)
    assert list(cs_rows.reinforced) == [int(e.reinforced) for e in trials]
    for e, (_, row) in zip(with_us, outcome.iterrows()):
        cs = cs_rows[(cs_rows.phase == row.phase) & (cs_rows.trial == row.trial)].iloc[0]
        assert row.event_type == e.outcome_type
        assert abs(row.onset - cs.onset - e.us_onset) <= period / 2 + 1e-6
        assert (row.event_type == "USp") == bool(e.reinforced)
    if run.shock is not None:
        assert len(run.shock.trains) == sum(e.reinforced for e in run.schedule.events)


def test_planned_onsets_and_frames_are_exact(tmp_path):
    """Every CS lands on its planned onset (within a frame) and lasts its frames exactly."""
    run = play(tmp_path, "aversive_pavlovian_fmri", "scan", speed=1.0)
    cs = run.log[run.log.trial_type == "cs"]
    planned = [e.onset for e in run.schedule.events if e.kind == "trial"]
    slip = cs.planned_onset.iloc[0] - planned[0]
    assert (cs.planned_onset - pd.Series(planned, index=cs.index) - slip).abs().max() < 1e-3
    assert cs.onset_error.abs().max() <= run.display.frame_period + 1e-4  # log has 4 decimals
    assert cs.onset_error.abs().median() <= 1e-4
    assert (cs.duration - 4.0).abs().max() < 1e-3  # 240 frames of 1/60 s


def test_scanner_zero_is_first_stored_volume(tmp_path):
    """Session zero is pulse dummy+1; every pulse is a row; dummies have negative onsets."""
    run = play(tmp_path, "aversive_pavlovian_fmri", "scan", speed=10.0)
    pulses = run.log[run.log.trial_type == "pulse"]
    dummies = run.protocol.scanner.dummy_volumes
    assert list(pulses.value.astype(int)[: dummies + 2]) == list(range(1, dummies + 3))
    assert (pulses.onset.iloc[:dummies] < 0).all()
    assert pulses.onset.iloc[dummies] == pytest.approx(0.0, abs=1e-6)
    assert len(pulses) == run.result.pulses
    assert json.loads(run.record.path.read_text())["scanner_pulses"] == run.result.pulses


def test_scanner_timeout_is_one_clear_error(tmp_path):
    """A scanner that never pulses ends the session with a ScannerTimeout naming the trigger."""
    protocol = load_protocol(PROTOCOLS / "aversive_pavlovian_fmri.yaml")
    protocol = dataclasses.replace(
        protocol, scanner=dataclasses.replace(protocol.scanner, timeout=2.0)
    )
    run = play(tmp_path, "aversive_pavlovian_fmri", "scan", protocol=protocol, scanner_stop=0)
    assert isinstance(run.error, ScannerTimeout)
    assert "no scanner pulse on simulated within 2 s" in str(run.error)
    assert run.record.data["end_reason"].startswith("error: no scanner pulse")


class KeysAt(RecordingDisplay):
    """A recording display that presses keys at given flip numbers and can raise there."""

    def __init__(self, clock, presses=None, raise_at=None):
        super().__init__(clock)
        self.presses = presses or {}
        self.raise_at = raise_at

    def poll_keys(self):
        number = len(self.frames)
        if self.raise_at is not None and number == self.raise_at:
            raise SessionAbort("aborted: SIGTERM")
        return [(k, self.clock.now()) for k in self.presses.pop(number, [])]


def test_escape_confirmed_ends_cleanly(tmp_path):
    """Escape then y: shock line low and closed, completed trials on disk, record says escape."""
    clock = FrameClock()
    display = KeysAt(clock, {3000: ["escape"], 3005: ["y"]})
    run = play(tmp_path, "retrieval_extinction", "day1", speed=1.0, display=display)
    assert run.result.end_reason == "aborted: escape"
    assert run.record.data["end_reason"] == "aborted: escape"
    assert not run.shock.busy() and not run.shock._open
    done = run.result.completed_events
    assert 0 < done < len(run.schedule.events)
    assert len(main_rows(run.log)[lambda d: ~((d.trial_type == "us") & d.cs.notna())]) == done
    assert "escape pressed" in run.console.messages[
        -3 if len(run.console.messages) > 2 else 0
    ] or any("escape" in m for m in run.console.messages)


def test_escape_cancelled_restarts_event(tmp_path):
    """Escape then n: the interrupted event is played again and the session completes."""
    clock = FrameClock()
    display = KeysAt(clock, {3000: ["escape"], 3005: ["n"]})
    run = play(tmp_path, "retrieval_extinction", "day1", speed=1.0, display=display)
    assert run.result.end_reason == "completed"
    cs = run.log[run.log.trial_type == "cs"]
    assert not cs.duplicated(["phase", "trial"]).any()
    assert len(cs) == len(run.schedule.trials)


def test_signal_abort_is_recorded_and_reraised(tmp_path):
    """A SessionAbort from a signal handler is re-raised after a clean end."""
    clock = FrameClock()
    display = KeysAt(clock, raise_at=4000)
    run = play(tmp_path, "retrieval_extinction", "day1", speed=1.0, display=display)
    assert isinstance(run.error, SessionAbort)
    data = json.loads(run.record.path.read_text())
    assert data["end_reason"] == "aborted: SIGTERM"
    assert data["completed_events"] == len(
        main_rows(run.log)[lambda d: ~((d.trial_type == "us") & d.cs.notna())]
    )
    assert not run.shock._open


def test_resume_completes_without_duplicates(tmp_path):
    """An aborted session resumed from the log ends with every event exactly once."""
    clock = FrameClock()
    first = play(
        tmp_path, "fear_extinction_recall", "day1", speed=2.0, display=KeysAt(clock, raise_at=9000)
    )
    assert isinstance(first.error, SessionAbort)
    log, rows = EventLog.reopen(first.path)
    point = resume_point(first.schedule, rows)
    assert point.start_index == first.record.data["completed_events"]
    second = play(
        tmp_path,
        "fear_extinction_recall",
        "day1",
        speed=2.0,
        start_index=point.start_index,
        time_base=point.time_base,
        log=log,
    )
    assert second.result.end_reason == "completed"
    cs = second.log[second.log.trial_type == "cs"]
    assert len(cs) == len(first.schedule.trials) and not cs.duplicated(["phase", "trial"]).any()
    assert second.log.onset.is_monotonic_increasing
    assert (second.log.value == "resumed").sum() == 1


def test_resume_point_drops_a_torn_trial(tmp_path):
    """A trial whose US row is missing counts as not done, and its rows are dropped."""
    run = play(tmp_path, "retrieval_extinction", "day1", speed=5.0)
    rows = pd.read_csv(run.path, sep="\t", dtype=str, keep_default_na=False).to_dict("records")
    cut = next(
        i for i, r in enumerate(rows) if r["trial_type"] == "us" and r["phase"] == "acquisition"
    )
    point = resume_point(run.schedule, rows[:cut])
    assert point.keep_rows == cut - 1
    assert run.schedule.events[point.start_index].kind == "trial"


def test_resume_of_a_finished_log_is_refused(tmp_path):
    """Resuming a session whose log has every event is a one-line error."""
    run = play(tmp_path, "ketamine_reconsolidation", "followup30", speed=5.0)
    rows = pd.read_csv(run.path, sep="\t", dtype=str, keep_default_na=False).to_dict("records")
    with pytest.raises(Exception, match="nothing to resume"):
        resume_point(run.schedule, rows)


class Silent:
    """A participant who never answers and continues at once."""

    def start_rating(self, event, spec, onset):
        pass

    def poll_rating(self, now, keys):
        return RatingState()

    def ready(self, now, keys, shown):
        return True

    def observe(self, event, us_delivered):
        pass


def test_missed_ratings_are_na_and_answers_have_rt(tmp_path):
    """Online ratings are logged with an RT; a missed rating is n/a."""
    run = play(tmp_path, "fear_extinction_recall", "day1", speed=2.0)
    cs = run.log[run.log.trial_type == "cs"]
    answered = cs[cs.rating.notna()]
    assert len(answered) > 0 and (answered.rating_rt > 0).all()
    assert (answered.rating_rt < 4.0).all()
    silent = play(tmp_path / "s", "fear_extinction_recall", "day1", speed=2.0, responder=Silent())
    assert silent.log[silent.log.trial_type == "cs"].rating.isna().all()


def test_wait_keys_are_logged_and_end_key_ends_the_wait(tmp_path):
    """Experimenter keys during a wait become event rows; F12 ends the wait early."""
    clock = FrameClock()
    protocol = load_protocol(PROTOCOLS / "ketamine_reconsolidation.yaml")
    schedule = build_schedule(protocol, "demo", "infusion")
    wait = next(e for e in schedule.events if e.kind == "wait")
    speed = 10.0
    start_frame = int(wait.onset / speed * 60) + 200
    display = KeysAt(clock, {start_frame: ["i"], start_frame + 50: ["f12"]})
    run = play(tmp_path, "ketamine_reconsolidation", "infusion", speed=speed, display=display)
    events = run.log[run.log.trial_type == "event"]
    assert "infusion_start" in set(events.value)
    assert "wait ended early" in set(events.value)
    row = run.log[run.log.trial_type == "wait"].iloc[0]
    assert row.duration < wait.duration / 2 and row.value == "ended early"
    later = run.log[(run.log.trial_type == "cs")]
    assert (later.onset_error.abs() < 1.0).all()  # the schedule moved up by the skipped time


def test_dropped_frames_are_counted(tmp_path):
    """A slow flip during a trial is counted on that trial's row and in the record."""
    clock = FrameClock()
    display = RecordingDisplay(clock, slow_frames={500: 2, 900: 1})
    run = play(tmp_path, "retrieval_extinction", "day1", speed=5.0, display=display)
    assert run.log.dropped_frames.sum() >= 0
    assert run.result.dropped_frames == 3
    assert json.loads(run.record.path.read_text())["dropped_frames"] == 3


def test_shock_cap_refusal_is_logged_not_fatal(tmp_path):
    """A train over the session cap is refused by the guard, logged, and the session goes on."""
    protocol = load_protocol(PROTOCOLS / "retrieval_extinction.yaml")
    protocol = dataclasses.replace(
        protocol, safety=dataclasses.replace(protocol.safety, max_shocks=2)
    )
    run = play(tmp_path, "retrieval_extinction", "day1", protocol=protocol)
    assert run.result.end_reason == "completed"
    assert len(run.shock.trains) == 2
    usp = run.log[run.log.event_type == "USp"]
    assert usp.value.str.startswith("refused").sum() == len(usp) - 2
    assert len(run.record.data["shock_refusals"]) == len(usp) - 2


def test_markers_follow_events(tmp_path):
    """Markers are sent for session start, every CS onset and every outcome."""
    run = play(tmp_path, "retrieval_extinction", "day1")
    codes = [m.code for m in run.markers.sent]
    assert codes[0] == 60 and codes[-1] == 62
    n_trials = len(run.schedule.trials)
    assert sum(c in (10, 12, 14) for c in codes) == n_trials


def test_guard_requires_caps():
    """Driving a bare shock device without the protocol's safety caps is refused."""
    protocol = load_protocol(PROTOCOLS / "retrieval_extinction.yaml")
    protocol = dataclasses.replace(protocol, safety=None)
    with pytest.raises(Exception, match="no safety block"):
        guard_shock(SimulatedShock(FrameClock()), protocol, FrameClock())
