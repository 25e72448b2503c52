"""Fast tests of the run loop (pavlov.task.runner) on a recording display and a frame clock."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from shock_wire import refuses_a_train

from pavlov.common.errors import PavlovError
from pavlov.protocols import build_schedule, load_protocol
from pavlov.stimuli.check import prepare_stimuli
from pavlov.task.console import RecordingConsole
from pavlov.task.devices.base import SafetyError
from pavlov.task.devices.safety import guard_shock
from pavlov.task.devices.simulated import SimulatedMarkers, SimulatedScanner, SimulatedShock
from pavlov.task.display import FrameClock, RecordingDisplay
from pavlov.task.log import EventLog
from pavlov.task.responder import RatingState
from pavlov.task.runner import (
    ScannerTimeout,
    SessionAbort,
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
    has_shock = any(us.kind == "shock" for us in protocol.us.values())
    shock = SimulatedShock(clock, speed=speed) if has_shock else None
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
    assert not run.shock.busy() and refuses_a_train(run.shock)
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
    assert refuses_a_train(run.shock)


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
    with pytest.raises(PavlovError, match=r"^nothing to resume: every scheduled event is already"):
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
    # The infusion session has no CS trial (exposure starts the next day): its post-phase
    # ratings come after the wait.
    later = run.log[(run.log.trial_type == "rating")]
    assert len(later) and (later.onset_error.abs() < 1.0).all()  # moved up by the skipped time


def test_dropped_frames_are_counted(tmp_path):
    """A slow flip during a trial is counted on that trial's row, and every drop in the record."""
    clock = FrameClock()
    display = RecordingDisplay(clock, slow_frames={500: 2, 900: 1})
    run = play(tmp_path, "retrieval_extinction", "day1", speed=5.0, display=display)
    # Flip 900 (75 s of log time at speed 5) falls in acquisition trial 1's CS; flip 500
    # (42 s) between logged events, so only the record counts it.
    log = run.log
    first = log[(log.trial_type == "cs") & (log.phase == "acquisition") & (log.trial == 1)]
    assert list(first.dropped_frames) == [1]
    assert log.dropped_frames.fillna(0).sum() <= 3
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


def test_guard_requires_caps(tmp_path):
    """Driving a bare shock device without the protocol's safety caps is refused, by the
    guard's one builder and by the run loop given a bare device, before any frame."""
    protocol = load_protocol(PROTOCOLS / "retrieval_extinction.yaml")
    protocol = dataclasses.replace(protocol, safety=None)
    shock = SimulatedShock(FrameClock())
    with pytest.raises(SafetyError, match="no safety block"):
        guard_shock(shock, protocol.safety, FrameClock(), source=protocol.path)
    display = RecordingDisplay(FrameClock())
    run = play(tmp_path, "retrieval_extinction", "day1", protocol=protocol, display=display)
    assert isinstance(run.error, SafetyError) and display.frames == []


def long_train_protocol(tmp_path):
    """retrieval_extinction with a 1-s shock train (50 pulses at 50 Hz), longer than a
    rehearsal's ITI at --speed 40."""
    text = (PROTOCOLS / "retrieval_extinction.yaml").read_text()
    text = text.replace("interval: 0.02, count: 10}", "interval: 0.02, count: 50}")
    text = text.replace("    duration: 0.2\n", "    duration: 1.0\n", 1)
    text = text.replace("max_train_duration: 0.5", "max_train_duration: 1.5")
    path = tmp_path / "long_train.yaml"
    path.write_text(text)
    return load_protocol(path)


def test_rehearsal_shock_runs_on_the_session_clock(tmp_path):
    """At --speed 40 a simulated 1-s train takes 1/40 s, so no trial after a shock starts
    late, and the USp row still says the real train's length and edges."""
    protocol = long_train_protocol(tmp_path)
    run = play(tmp_path, None, "day1", speed=40.0, protocol=protocol)
    assert run.result.end_reason == "completed"
    main = main_rows(run.log)
    frame = 40.0 / 60  # one refresh, in protocol seconds
    assert main.onset_error.abs().max() <= frame / 2 + 1e-6
    shocks = run.log[(run.log.trial_type == "us") & (run.log.event_type == "USp")]
    assert len(shocks) == 6
    assert shocks.duration.to_numpy() == pytest.approx(0.02 * 49 + 0.002)
    edges = [float(t) for t in shocks.iloc[0].value.split(";")]
    assert len(edges) == 50
    assert edges[1] - edges[0] == pytest.approx(0.02)
    assert edges[0] == pytest.approx(shocks.iloc[0].onset)


def test_wait_lasts_its_duration_despite_dropped_frames(tmp_path):
    """A 600-s wait with dropped frames still lasts 600 s (refreshes, not flips, are counted),
    and the ITIs after it are not eaten: every later event keeps its planned onset."""
    clock = FrameClock()
    protocol = load_protocol(PROTOCOLS / "retrieval_extinction.yaml")
    schedule = build_schedule(protocol, "demo", "day2")
    wait = next(e for e in schedule.events if e.kind == "wait")
    speed = 40.0
    first = int(wait.onset / speed * 60) + 30
    display = RecordingDisplay(clock, slow_frames={first + 10 * k: 5 for k in range(40)})
    run = play(tmp_path, "retrieval_extinction", "day2", speed=speed, display=display)
    row = run.log[run.log.trial_type == "wait"].iloc[0]
    frame = speed / 60
    assert abs(row.duration - 600.0) <= 2 * frame
    main = main_rows(run.log)
    assert main.onset_error.abs().max() <= frame / 2 + 1e-6
    after = main[(main.onset > row.onset) & main.planned_onset.notna()]
    planned = [e.onset for e in schedule.events if e.onset > wait.onset]
    assert len(after) == len(planned) > 10
    # The slip of the self-paced screens before the wait, and none added by the wait.
    slip = row.planned_onset - wait.onset
    assert (after.planned_onset - np.array(planned)).tolist() == pytest.approx(
        [slip] * len(planned), abs=1e-6
    )
    itis = after.onset.diff().dropna().to_numpy()
    assert itis == pytest.approx(np.diff(planned), abs=frame)


def texts_during(run, kind):
    """Texts on screen while the events of ``kind`` were shown (from the display's scenes)."""
    rows = run.log[run.log.trial_type == kind]
    texts = set()
    for onset, duration in zip(rows.onset, rows.duration, strict=True):
        for t, scene in run.display.frames:
            log_t = (t - run.result.zero) * 40.0
            if onset <= log_t < onset + duration and scene.text:
                texts.add(scene.text)
    return texts


def test_wait_shows_the_protocols_text(tmp_path):
    """retrieval_extinction's wait shows its own text (not a hard-coded "Please wait")."""
    run = play(tmp_path, "retrieval_extinction", "day2", speed=40.0)
    wait = [s for _, s in run.display.frames if s.countdown is not None]
    assert wait and {s.text for s in wait} == {
        "Please rest quietly. The next part starts in a few minutes."
    }
    ket = play(tmp_path / "k", "ketamine_reconsolidation", "infusion", speed=40.0)
    wait = [s for _, s in ket.display.frames if s.countdown is not None]
    assert {s.text for s in wait} == {"Please rest quietly during the infusion."}


def test_instructions_show_only_the_protocols_words(tmp_path):
    """An instruction screen shows the protocol's text and nothing added under it."""
    run = play(tmp_path, "retrieval_extinction", "day1", speed=40.0)
    texts = {s.text for _, s in run.display.frames if s.text}
    instructions = {p.instructions for p in run.protocol.phases.values() if p.instructions}
    assert texts and texts <= instructions


def test_rest_shows_its_text_or_a_cross(tmp_path):
    """The fMRI protocol's baseline rest shows its "+" text; its end rest (no text) a cross."""
    run = play(tmp_path, "aversive_pavlovian_fmri", "scan", speed=10.0)
    rest = run.log[run.log.trial_type == "rest"]
    zero = run.result.zero
    for (_, row), expect in zip(rest.iterrows(), ["+", None], strict=True):
        scenes = [
            s
            for t, s in run.display.frames
            if row.onset <= (t - zero) * 10.0 < row.onset + row.duration - 1
        ]
        assert scenes and {s.text for s in scenes} == {expect}
        assert all(s.fixation == (expect is None) for s in scenes)


def test_instructions_advance_time_ends_without_a_key(tmp_path):
    """An ``advance: time`` instruction screen ends after its duration with no key."""
    text = (PROTOCOLS / "aversive_pavlovian_fmri.yaml").read_text()
    text = text.replace("    duration: 3\n", "    duration: 3\n    advance: time\n", 1)
    path = tmp_path / "timed.yaml"
    path.write_text(text)
    run = play(tmp_path, None, "scan", speed=10.0, protocol=load_protocol(path), responder=Never())
    row = run.log[run.log.trial_type == "instructions"].iloc[0]
    assert row.duration == pytest.approx(3.0, abs=0.5)


class Never(Silent):
    """A participant who never presses the continue key."""

    def ready(self, now, keys, shown):
        return False


def test_console_shows_the_current_trial_ratings_and_next_shock(tmp_path):
    """The console counts the trial playing (1/N during trial 1), names the phase of an
    instruction screen, shows ratings and missed ratings, the next shock, and no pulse
    count without a scanner."""
    run = play(tmp_path, "fear_extinction_recall", "day1", speed=10.0)
    statuses = run.console.statuses
    first = next(s for s in statuses if s.what.startswith("trial 1:"))
    assert first.trial == 1 and first.phase
    assert all(s.trial >= 1 for s in statuses if s.what.startswith("trial"))
    instructions = [s for s in statuses if s.what.startswith("instructions")]
    assert instructions and all(s.phase for s in instructions)
    assert not any(s.scanner for s in statuses)
    assert any(s.next_us.startswith("shock (") for s in statuses)
    rated = run.log[(run.log.trial_type == "cs") & run.log.rating.notna()]
    last = statuses[-1]
    assert last.ratings > 0
    assert last.missed_ratings == last.ratings - len(rated)
    assert last.last_rating
    from pavlov.task.console import status_rows

    labels = [label for label, _ in status_rows(last)]
    assert "pulses" not in labels and "rating" in labels
    scan = play(tmp_path / "s", "aversive_pavlovian_fmri", "scan", speed=10.0)
    assert "pulses" in [label for label, _ in status_rows(scan.console.statuses[-1])]


class Clicker(RecordingDisplay):
    """A mouse that moves right at the 3rd poll of each scale and clicks at the 6th;
    space at the 9th when ``confirm``."""

    def __init__(self, clock, confirm):
        super().__init__(clock)
        self.confirm = confirm
        self.polls = 0

    def centre_pointer(self):
        super().centre_pointer()
        self.polls = -1

    def pointer(self):
        self.polls += 1
        now = self.clock.now()
        if self.polls < 3:
            return 0.0, []
        return 0.5, [now - 0.001] if self.polls == 6 else []

    def poll_keys(self):
        keys = super().poll_keys()
        if self.frames and self.frames[-1][1].text:
            keys.append(("space", self.clock.now()))  # past the instruction screens
        if self.confirm and self.polls == 8:
            keys.append(("space", self.clock.now()))
        return keys


@pytest.mark.parametrize("confirm", [False, True])
def test_slider_times_are_logged(tmp_path, confirm):
    """Logged slider ratings carry the first move, the placement and the confirmation (n/a
    when the window ended first: the placed value is the rating)."""
    from pavlov.task.responder import ParticipantResponder

    display = Clicker(FrameClock(), confirm)
    run = play(
        tmp_path,
        "fear_extinction_recall",
        "day1",
        speed=10.0,
        display=display,
        responder=ParticipantResponder(display),
    )
    rated = run.log[run.log.trial_type == "cs"]
    assert len(rated) > 0 and list(rated.rating) == pytest.approx([7.5] * len(rated))
    assert (rated.rating_move > 0).all() and (rated.rating_move < rated.rating_rt).all()
    if confirm:
        assert (rated.rating_confirm > rated.rating_rt).all()
    else:
        assert rated.rating_confirm.isna().all()


def test_log_writes_run_during_the_iti_and_finish_before_the_next_trial(tmp_path):
    """With every trial's write slowed to 50 ms, the frame loop flips ITI frames during each
    write (it waits only at the next onset), and no CS is shown while a write is in flight."""
    clock = FrameClock()
    display = RecordingDisplay(clock)
    changed = threading.Condition()
    state = {"flips": 0, "offsets": 0, "started": 0, "writing": False, "was_cs": False}
    shown_while_writing = []
    draw, flip = display.draw, display.flip

    def drawn(scene):
        state["scene"] = scene
        draw(scene)

    def flipped():
        with changed:
            # The recording display flips in microseconds: after a CS ends, give its
            # write (submitted a few frames later) time to start before the next flip,
            # as a real screen's 16-ms frames would.
            changed.wait_for(lambda: state["started"] >= state["offsets"], timeout=0.02)
        t = flip()
        with changed:
            cs = state["scene"].cs is not None
            if state["was_cs"] and not cs:
                state["offsets"] += 1
            state["was_cs"] = cs
            if state["writing"] and cs:
                shown_while_writing.append(t)
            state["flips"] += 1
            changed.notify_all()
        return t

    display.draw, display.flip = drawn, flipped
    log = EventLog.create(tmp_path / "events.tsv")
    append = log.append
    overlapped = []

    def slow_append(rows):
        if not any(row.get("trial_type") == "cs" for row in rows):
            return append(rows)
        with changed:
            state["started"] += 1
            state["writing"] = True
            before = state["flips"]
            changed.notify_all()
        time.sleep(0.05)
        with changed:
            # A frame loop that waits for this write cannot flip during it.
            overlapped.append(changed.wait_for(lambda: state["flips"] > before, timeout=0.5))
        append(rows)
        with changed:
            state["writing"] = False
        return None

    log.append = slow_append
    run = play(tmp_path, "fear_extinction_recall", "day2", speed=20.0, display=display, log=log)
    assert run.result.end_reason == "completed"
    trials = len(run.log[run.log.trial_type == "cs"])
    assert len(overlapped) == trials > 0
    assert all(overlapped)
    assert shown_while_writing == []
