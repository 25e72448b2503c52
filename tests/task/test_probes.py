"""Startle probes played: the run loop sounds each probe on its frame with marker 70 and logs
it as LOG.md says, ``pavlov simulate`` logs the same rows and simulated blink EMG, and
``--resume`` finds a probe by its number."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from fast_session import run_fast

from pavlov.protocols import build_schedule, load_protocol
from pavlov.stimuli.resolve import STIMULI_ROOT
from pavlov.task.display import FrameClock, RecordingDisplay
from pavlov.task.log import EventLog, run_paths
from pavlov.task.runner import resume_point
from pavlov.task.simulate import learner_for, simulate_run_physio, write_session

SPEED = 10.0

PROTOCOL = """\
pavlov: 1
study: Startle run
task: startle
seed: 9
cs:
  roles: [CS+, CS-]
  stimuli:
    blue: {shape: square, color: "#0000ff"}
    yellow: {shape: square, color: "#e8c800"}
us:
  shock:
    type: shock
    train: {pulse_width: 0.002, interval: 0.02, count: 5}
    duration: 0.1
safety:
  max_shocks: 4
  max_train_duration: 0.5
phases:
  startle:
    type: startle_habituation
    probes: 2
    iti: 3
    lead_in: 1
  acquisition:
    type: acquisition
    trials: 4
    reinforced: {CS+: 2}
    cs_duration: 4
    iti: {uniform: [6, 8]}
    probes: {at: 2, share: 0.5, iti: 2, min_interval: 3}
sessions:
  - name: day1
    phases: [startle, acquisition]
"""


@pytest.fixture
def protocol(tmp_path):
    path = tmp_path / "startle.yaml"
    path.write_text(PROTOCOL, encoding="utf-8")
    return load_protocol(path)


def play(root: Path, protocol, speed: float = SPEED):
    """The session on the run loop, logged to disk as `pavlov run --simulate` lays it out."""
    schedule = build_schedule(protocol, "01", "day1")
    paths = run_paths(root, "01", "day1", protocol.task, 1, False)
    paths.directory.mkdir(parents=True)
    learner = learner_for(protocol, schedule, None)
    learner.speed = speed
    display = RecordingDisplay(FrameClock())
    log = EventLog.create(paths.events)
    try:
        run = run_fast(
            protocol, "day1", "01", speed=speed, display=display, log=log, responder=learner,
            stimuli=True,
        )  # fmt: skip
    finally:
        log.close()
    if run.error is not None:
        raise run.error
    with open(paths.events, encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream, delimiter="\t"))
    return run, paths, rows


def test_run_loop_sounds_marks_and_logs_each_probe_on_its_frame(protocol, tmp_path):
    """Every scheduled probe is logged once as a probe row: in a CS at exactly `at` after
    the CS onset with the trial's role, alone with n/a; its sound starts and marker 70 is
    sent right after the flip of its onset, and its number is in value."""
    run, _, rows = play(tmp_path, protocol)
    assert run.result.end_reason == "completed"
    probes = [r for r in rows if r["trial_type"] == "probe"]
    planned = run.schedule.probes
    assert len(probes) == len(planned) == 2 + 4 + 2
    cs_onset = {
        (r["phase"], r["trial"]): float(r["onset"]) for r in rows if r["trial_type"] == "cs"
    }
    for row, plan in zip(probes, planned, strict=True):
        assert (row["phase"], row["value"]) == (plan.phase, str(plan.number))
        assert float(row["duration"]) == 0.05
        assert row["stim_file"] == "probes/startle_noise_50ms.wav"
        if plan.trial is None:
            assert row["trial"] == row["cs"] == row["stimulus"] == "n/a"
            assert abs(float(row["onset"]) - plan.onset) <= SPEED / 60  # a refresh
        else:
            assert (row["trial"], row["cs"]) == (str(plan.trial), plan.cs)
            # on the CS's own refresh grid: 2 s after its onset, exactly
            assert float(row["onset"]) - cs_onset[(row["phase"], row["trial"])] == pytest.approx(2)
    zero, base = run.result.zero, run.schedule.events[0].onset  # log time of clock zero
    sounds = [base + (t - zero) * SPEED for t, key in run.display.played if "script:" in key]
    marks = [base + (m.time - zero) * SPEED for m in run.markers.sent if m.code == 70]
    onsets = [float(r["onset"]) for r in probes]
    assert sounds == pytest.approx(onsets, abs=1e-3)
    assert marks == pytest.approx(onsets, abs=1e-3)
    assert {k for _, k in run.display.played if k.startswith("script:")} == {
        "script:startle",
        "script:acquisition",
    }


def test_simulate_logs_the_same_probes_and_writes_blink_emg(protocol, tmp_path):
    """`pavlov simulate` writes the run loop's probe rows (same trials, roles, numbers;
    onsets a frame apart at most) and an EMG recording beside the log, as `run --simulate`
    does from its log; the startle analysis reads both."""
    from pavlov.analysis.startle import load_probes

    _, paths, loop_rows = play(tmp_path / "loop", protocol)
    schedule = build_schedule(protocol, "01", "day1")
    result = write_session(tmp_path / "sim", protocol, schedule)
    sim_rows = [r for r in result.rows if r["trial_type"] == "probe"]
    loop_probes = [r for r in loop_rows if r["trial_type"] == "probe"]

    def identity(row):
        return tuple(str(row.get(k) if row.get(k) is not None else "n/a")
                     for k in ("phase", "trial", "cs", "value"))  # fmt: skip

    assert [identity(r) for r in sim_rows] == [identity(r) for r in loop_probes]
    for a, b in zip(sim_rows, loop_probes):
        assert abs(a["onset"] - float(b["onset"])) <= 2 * SPEED / 60
    assert len(result.probes) == 8
    alone = [v for (t, v), r in zip(result.probes, sim_rows) if r["trial"] is None]
    assert alone == [0.0] * 4
    assert list((tmp_path / "sim").rglob("*_recording-emg_physio.tsv.gz"))
    written = simulate_run_physio(paths, protocol, schedule)
    assert any(p.name.endswith("_recording-emg_physio.tsv.gz") for p in written)
    for root in (tmp_path / "sim", tmp_path / "loop"):
        scored = load_probes(root)
        assert len(scored) == 8 and scored["startle"].notna().sum() >= 6
        assert set(scored["cs"]) == {"CS+", "CS-", "ITI"}


def test_resume_finds_the_next_probe_by_its_number(protocol, tmp_path):
    """A log that holds the first habituation probe resumes at the second (probe rows have
    no trial number: their number in value identifies them)."""
    _, _, rows = play(tmp_path, protocol)
    schedule = build_schedule(protocol, "01", "day1")
    first = next(i for i, r in enumerate(rows) if r["trial_type"] == "probe")
    point = resume_point(schedule, rows[: first + 1])
    assert schedule.events[point.start_index].kind == "probe"
    assert schedule.events[point.start_index].index == 2
    after = next(i for i, r in enumerate(rows) if r["trial_type"] == "cs")
    point = resume_point(schedule, rows[:after])
    assert schedule.events[point.start_index].phase == "acquisition"


def test_bundled_generalisation_study_simulates_to_startle_outputs(tmp_path):
    """fear_generalisation.yaml (startle habituation, probes in every phase) simulated and
    analysed: startle.csv holds every scheduled probe, potentiation is written per phase with
    the habituation probes first, and the CS+ is potentiated over the ITI more than the CS−
    in acquisition (the simulated learner's expectation drives the blink)."""
    import argparse

    import pandas as pd

    from pavlov.analysis.cli import register

    bundled = Path(__file__).resolve().parents[2] / "protocols" / "fear_generalisation.yaml"
    protocol = load_protocol(bundled)
    data, out = tmp_path / "data", tmp_path / "res"
    schedule = build_schedule(protocol, "01", "day1")
    write_session(data, protocol, schedule)
    for path in data.rglob("*_recording-scr_physio.*"):
        path.unlink()  # the ratings are the response: SCR scoring is not what this checks
    parser = argparse.ArgumentParser(prog="pavlov")
    register(parser.add_subparsers())
    args = parser.parse_args(["analyze", str(data), "--out", str(out), "--models", "--no-figures"])
    assert args.func(args) == 0
    probes = pd.read_csv(out / "startle.csv")
    assert len(probes) == len(schedule.probes) == 56
    table = pd.read_csv(out / "startle_potentiation.csv")
    assert list(table.sort_values("phase_order").phase) == [
        "startle_habituation", "preacquisition", "acquisition", "generalisation",
    ]  # fmt: skip
    acquisition = table[table.phase == "acquisition"].iloc[0]
    assert acquisition.potentiation_cs_plus > acquisition.potentiation_cs_minus


@pytest.mark.display
def test_psychopy_display_opens_each_phase_probe_at_its_volume(xvfb, tmp_path):
    """In a real PsychoPy window, load opens each phase's probe sound (the habituation's at
    its volume, the acquisition's at full) and a probe started on a flip plays after it."""
    from pavlov.stimuli.check import prepare_stimuli
    from pavlov.task.psychopy_display import PsychopyDisplay, SilentSound

    path = tmp_path / "startle.yaml"
    path.write_text(PROTOCOL.replace("    lead_in: 1\n", "    lead_in: 1\n    volume: 0.5\n"))
    protocol = load_protocol(path)
    schedule = build_schedule(protocol, "01", "day1")
    played: list = []
    opened = {}

    def factory(file, volume):
        opened[str(file)] = [*opened.get(str(file), []), volume]
        return SilentSound(str(file), volume, played)

    display = PsychopyDisplay(None, fullscr=False, size=(320, 240), sound_factory=factory)
    try:
        display.load(protocol, schedule, prepare_stimuli(protocol, schedule))
        noise = str(STIMULI_ROOT / "probes" / "startle_noise_50ms.wav")
        assert sorted(opened[noise]) == [0.5, 1.0]
        display.call_on_flip(display.play, "script:startle")
        assert not played
        display.flip()
        assert [(kind, file) for kind, file, _ in played] == [("play", noise)]
    finally:
        display.close()


def test_a_trial_is_logged_when_it_ends_not_after_its_iti_probe(protocol, monkeypatch):
    """Each trial's rows go to the log writer within a few frames of the trial's end (its
    CS and US over), also when its ITI holds a startle probe: a trial kept open until that
    probe (up to 3/4 of the ITI, 4.5 s here) is lost by a kill -9, a crash or an X server
    death in the meantime, and `--resume` then shows the participant the CS+ again (its US
    refused by the ledger). Seen with `pavlov run` and a pty TTL box: 2 s after the first
    US the events log had no row (without ITI probes it had the trial). Played at speed 1
    on the frame clock; the submit time is taken on the run loop's thread."""
    from pavlov.task.log import LogWriter

    clock = FrameClock()
    submitted: dict[tuple[str, int], float] = {}
    original = LogWriter.submit

    def submit(self, rows, counts_event):
        for row in rows:
            if row.get("trial_type") == "cs":
                submitted.setdefault((row["phase"], row["trial"]), clock.now())
        return original(self, rows, counts_event)

    monkeypatch.setattr(LogWriter, "submit", submit)
    run = run_fast(protocol, "day1", "01", speed=1.0, display=RecordingDisplay(clock))
    assert run.error is None and run.result.end_reason == "completed"
    trials = [e for e in run.schedule.events if e.kind == "trial"]
    late = {}
    for event in trials:
        row = next(
            r for r in run.log.rows
            if r["trial_type"] == "cs" and r["phase"] == event.phase and r["trial"] == event.index
        )  # fmt: skip
        # Submit time minus the trial's end in log time (one constant offset for all).
        ends = row["onset"] + event.duration
        late[event.index] = submitted[(event.phase, event.index)] - run.result.zero - ends
    probed = {e.index for e in trials if any(at >= e.duration for at in e.probes)}
    assert probed and set(late) - probed  # trials with and without an ITI probe
    prompt = min(late.values())  # a trial without an ITI probe: written as it ends
    delays = {i: round(seconds - prompt, 3) for i, seconds in late.items()}
    assert all(seconds < 0.25 for seconds in delays.values()), (delays, probed)


class _EscapeThenNo(RecordingDisplay):
    """A recording display whose experimenter presses Escape at flip ``at``, then n."""

    def __init__(self, clock, at: int) -> None:
        super().__init__(clock)
        self.at = at

    def poll_keys(self):
        keys = super().poll_keys()
        if len(self.frames) in (self.at, self.at + 3):
            keys.append(("escape" if len(self.frames) == self.at else "n", self.clock.now()))
        return keys


def test_escape_while_a_trial_waits_for_its_iti_probe_does_not_replay_the_trial(protocol):
    """Escape, then n, after a trial ended but before its ITI probe: the trial, logged
    already, is not shown again (one cs row), its ITI probe is skipped (not logged, the
    console says so) and the session completes."""
    first = run_fast(protocol, "day1", "01", speed=SPEED, display=RecordingDisplay(FrameClock()))
    event = next(
        e for e in first.schedule.events if e.kind == "trial" and any(a >= e.duration for a in e.probes)
    )  # fmt: skip
    cs = next(
        r for r in first.log.rows
        if r["trial_type"] == "cs" and (r["phase"], r["trial"]) == (event.phase, event.index)
    )  # fmt: skip
    # Log time halfway between the CS's end and the ITI probe, as a flip number.
    halfway = cs["onset"] + (event.duration + max(event.probes)) / 2
    clock_time = first.result.zero + (halfway - first.schedule.events[0].onset) / SPEED
    number = next(i for i, (t, _) in enumerate(first.display.frames) if t >= clock_time)

    run = run_fast(protocol, "day1", "01", speed=SPEED, display=_EscapeThenNo(FrameClock(), number))
    assert run.error is None and run.result.end_reason == "completed"
    shown = [
        r for r in run.log.rows
        if r["trial_type"] == "cs" and (r["phase"], r["trial"]) == (event.phase, event.index)
    ]  # fmt: skip
    assert len(shown) == 1
    probes = [r["value"] for r in run.log.rows if r["trial_type"] == "probe"]
    skipped = (event.probe or 0) + len(event.probes) - 1  # the trial's ITI probe: its last
    assert skipped not in probes and len(probes) == len(run.schedule.probes) - 1
    assert any("ITI probe skipped" in m for m in run.console.messages)
