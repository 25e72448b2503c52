"""Timing designs in the run loop: rating windows that close at the US and trace
conditioning, played on the fast-session harness (recording display, frame clock, simulated
devices) and in the windowless rehearsal."""

from __future__ import annotations

import itertools

from fast_session import run_fast

from pavlov.protocols import load_protocol
from pavlov.task.simulated_participant import LearnerParameters, SimulatedParticipant

PROTOCOL = """\
pavlov: 1
study: Timing designs
task: timing
seed: 5
cs:
  roles: [CS+, CS-]
  stimuli:
    blue: {image: cs/blue_square.png}
    yellow: {image: cs/yellow_square.png}
us:
  shock:
    type: shock
    train: {pulse_width: 0.002, interval: 0.02, count: 10}
safety:
  max_shocks: 10
  max_train_duration: 0.5
phases:
  acquisition:
    type: acquisition
    trials: 8
    reinforced: {CS+: 4}
    cs_duration: 4
    iti: 1
    rating: {onset: 2}
sessions:
  - {name: day1, day: 0, phases: [acquisition]}
"""


def _load(tmp_path, text=PROTOCOL):
    path = tmp_path / "timing.yaml"
    path.write_text(text, encoding="utf-8")
    return load_protocol(path)


def test_online_rating_is_never_answered_after_the_us(tmp_path):
    """With the default window (closing at the US, 1.818 s after the scale), a slow simulated
    participant's answers all come before the US onset; later ones are missed, not logged."""
    protocol = _load(tmp_path)
    assert protocol.phases["acquisition"].rating.window == 1.818
    slow = LearnerParameters(rt_median=1.75, rt_sigma=0.06, miss_rate=0.0)
    run = run_fast(protocol, "day1", speed=4, responder=SimulatedParticipant(3, 4, slow))
    assert run.error is None, run.error
    rows = run.log.rows
    cs = [r for r in rows if r["trial_type"] == "cs"]
    us = {r["trial"]: r for r in rows if r["trial_type"] == "us"}
    answered = [r for r in cs if r["rating"] is not None]
    assert answered and len(answered) < len(cs)  # some in time, some too slow
    for row in answered:
        answer = row["onset"] + 2 + row["rating_rt"]
        assert answer < us[row["trial"]]["onset"], (row, us[row["trial"]])


def test_trace_trial_gives_the_us_after_the_gap_and_the_iti_after_the_us(tmp_path):
    """With trace_interval 2, the CS is shown for its 4 s only, the shock train starts 2 s
    after the CS's last frame (to the frame), the log's us rows come after the gap on every
    trial, and the next trial starts an ITI after the US time ends."""
    text = PROTOCOL.replace("    rating: {onset: 2}\n", "    trace_interval: 2\n")
    protocol = _load(tmp_path, text)
    speed = 4
    frame = speed / 60  # protocol seconds per refresh
    run = run_fast(protocol, "day1", speed=speed)
    assert run.error is None, run.error
    rows = run.log.rows
    cs = [r for r in rows if r["trial_type"] == "cs"]
    us = {r["trial"]: r for r in rows if r["trial_type"] == "us"}
    assert len(cs) == 16 and set(us) == {r["trial"] for r in cs}
    for row in cs:
        assert abs(row["duration"] - 4.0) < frame / 2  # the cs row is the CS alone
        assert abs(us[row["trial"]]["onset"] - row["onset"] - 6.0) < frame / 2
    starts = [r["onset"] for r in cs]
    # CS 4 s + trace 2 s + US time 0.182 s + ITI 1 s: the schedule's onsets, kept.
    assert all(abs(b - a - 7.182) < frame for a, b in itertools.pairwise(starts))
    # On the screen: each CS is one run of 4 s of refreshes; the shock train of a
    # reinforced trial starts 2 s (clock: 2 / speed) after the CS's last refresh ended.
    flips = run.display.frames
    offsets = [
        flips[k + 1][0]
        for k in range(len(flips) - 1)
        if flips[k][1].cs is not None and flips[k + 1][1].cs is None
    ]
    onsets = [
        flips[k][0] for k in range(1, len(flips)) if flips[k][1].cs and not flips[k - 1][1].cs
    ]
    assert len(onsets) == len(offsets) == 16
    assert all(abs((b - a) * speed - 4.0) < frame / 2 for a, b in zip(onsets, offsets))
    trains = run.shock.trains
    assert len(trains) == 4
    for train in trains:
        offset = max(t for t in offsets if t < train.pulses[0][0])
        assert abs((train.pulses[0][0] - offset) * speed - 2.0) < frame


def test_windowless_simulation_places_the_trace_us_like_the_run_loop(tmp_path):
    """`pavlov simulate`'s rehearsal logs a trace trial's us row 6 s after its CS (4 s CS +
    2 s trace) and its next CS at the scheduled onset after the US and the ITI."""
    from pavlov.protocols import build_schedule
    from pavlov.task.simulate import simulate_session

    protocol = _load(
        tmp_path, PROTOCOL.replace("    rating: {onset: 2}\n", "    trace_interval: 2\n")
    )
    schedule = build_schedule(protocol, "01", "day1")
    rows = simulate_session(protocol, schedule).rows
    cs = [r for r in rows if r["trial_type"] == "cs"]
    us = {r["trial"]: r for r in rows if r["trial_type"] == "us"}
    assert [r["onset"] for r in cs] == [e.onset for e in schedule.trials]
    assert all(us[r["trial"]]["onset"] == r["onset"] + 6.0 for r in cs)
    assert all(r["duration"] == 4.0 for r in cs)
    assert abs(schedule.duration - 16 * 7.182) < 1e-6


def test_session_record_keeps_the_protocol_warnings(tmp_path):
    """A session of a protocol with a warning (a rating window open past the US) records the
    warning line in its _session.json, so the data say how they were collected."""
    import json

    from pavlov.protocols import build_schedule
    from pavlov.task.simulate import write_session

    protocol = _load(
        tmp_path, PROTOCOL.replace("rating: {onset: 2}", "rating: {onset: 2, window: 2}")
    )
    (warning,) = protocol.warnings
    assert "rating.window: warning: " in warning
    write_session(tmp_path / "data", protocol, build_schedule(protocol, "01", "day1"), physio=False)
    (record,) = (tmp_path / "data").rglob("*_session.json")
    assert json.loads(record.read_text())["protocol_warnings"] == [warning]


def test_bundled_trace_protocol_simulates_and_analyses_end_to_end(tmp_path):
    """trace_conditioning.yaml through `pavlov simulate` and `pavlov analyze --exclude
    unaware`: every acquisition and extinction trial's US time comes 7 s after its CS onset
    (a 4-s CS, then a 3-s trace), each participant hears the 10 noise bursts, the expectancy
    ratings separate the CS+ from the CS- by the end of acquisition, and the debrief is
    analysed (awareness.csv, every item summarised, the timing question by its texts)."""
    import subprocess
    import sys
    from pathlib import Path

    import pandas as pd

    bundled = Path(__file__).resolve().parents[2] / "protocols" / "trace_conditioning.yaml"
    data, out = tmp_path / "data", tmp_path / "out"

    def pavlov(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "pavlov.task.cli", *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )

    done = pavlov("simulate", str(bundled), "--participants", "3", "--data", str(data))
    assert done.returncode == 0, done.stderr
    logs = sorted(data.rglob("*_events.tsv"))
    assert len(logs) == 3
    for path in logs:
        log = pd.read_csv(path, sep="\t", na_values="n/a", keep_default_na=False)
        cs = log[log.trial_type == "cs"]
        us = log[(log.trial_type == "us") & log.phase.isin(["acquisition", "extinction"])]
        trials = cs.merge(us, on=["phase", "trial"], suffixes=("", "_us"))
        assert len(trials) == 56  # 40 acquisition + 16 extinction trials, each with a US time
        assert ((trials.onset_us - trials.onset - 7.0).abs() < 1e-6).all()
        assert (trials.duration == 4.0).all()  # the cs row is the CS alone
        assert list(us.event_type).count("USp") == 10
        assert set(us[us.event_type == "USp"].us) == {"noise"}
    done = pavlov(
        "analyze", str(data), "--out", str(out), "--response", "rating", "--exclude", "unaware",
        "--no-figures",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    curves = pd.read_csv(out / "curves_by_block.csv")
    acquisition = curves[curves.phase == "acquisition"]
    last = acquisition[acquisition.block == acquisition.block.max()].set_index("cs_type")
    assert last.loc["CS+", "mean"] > last.loc["CS-", "mean"] + 2  # on the 0-10 scale
    awareness = pd.read_csv(out / "awareness.csv")
    assert len(awareness) == 3 and awareness.aware.all()
    summary = pd.read_csv(out / "questionnaire_summary.csv").set_index("item")
    assert list(summary.index) == [
        "us_unpleasant", "aware", "noise_time", "valence_csplus", "valence_csminus",
    ]  # fmt: skip
    assert (summary.answered == 3).all()
    assert summary.loc["noise_time", "form"] == "choices"
    assert "after the square had gone" in summary.loc["noise_time", "answers"]
