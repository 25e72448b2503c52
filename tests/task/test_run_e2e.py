"""End to end: ``pavlov run --simulate`` in a real PsychoPy window under Xvfb, log vs schedule."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from sessions_e2e import cs_rows

from pavlov.protocols import build_schedule, load_protocol

PROTOCOLS = Path(__file__).resolve().parents[2] / "protocols"
# (protocol, session, speed), kept near 10 s of wall clock. Every bundled protocol's log is
# checked against its schedule in process (tests/task/test_runner.py, test_log_matches_schedule);
# one case here shows that the real window, process and files agree with it.
CASES = [("retrieval_extinction", "day1", 60)]

pytestmark = pytest.mark.display


def pavlov(env, *args, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "pavlov.task.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )


def events_file(data: Path) -> Path:
    (path,) = data.glob("sub-*/ses-*/*/*_events.tsv")
    return path


@pytest.mark.parametrize(("name", "session", "speed"), CASES)
def test_simulated_session_log_matches_schedule(xvfb, tmp_path, name, session, speed):
    """A simulated session at high speed logs every trial, US rows on reinforced trials only,
    US onset = CS onset + US offset within one frame (plus dropped ones), increasing onsets."""
    data = tmp_path / "data"
    proc = pavlov(
        xvfb,
        "run",
        str(PROTOCOLS / f"{name}.yaml"),
        "--participant",
        "demo",
        "--session",
        session,
        "--simulate",
        "--speed",
        str(speed),
        "--windowed",
        "--data",
        str(data),
    )
    assert proc.returncode == 0, proc.stderr
    protocol = load_protocol(PROTOCOLS / f"{name}.yaml")
    schedule = build_schedule(protocol, "demo", session)
    log = pd.read_csv(events_file(data), sep="\t", na_values="n/a", keep_default_na=False)
    record = json.loads(next(data.glob("sub-*/ses-*/*/*_session.json")).read_text())
    assert record["end_reason"] == "completed"
    assert record["completed_events"] == len(schedule.events)
    cs = log[log.trial_type == "cs"]
    trials = schedule.trials
    assert list(zip(cs.phase, cs.trial)) == [(e.phase, e.index) for e in trials]
    assert list(cs.reinforced) == [int(e.reinforced) for e in trials]
    outcome = log[(log.trial_type == "us") & log.cs.notna()]
    usp = outcome[outcome.event_type == "USp"]
    assert len(usp) == sum(e.reinforced for e in trials)
    frame = record["frame_period"] * speed
    merged = outcome.merge(cs, on=["phase", "trial"], suffixes=("", "_cs"))
    offsets = {(e.phase, e.index): e.us_onset for e in trials if e.us_onset is not None}
    for _, row in merged.iterrows():
        expected = offsets[(row.phase, row.trial)]
        # One frame, plus any frames the (shared, loaded) machine dropped in that trial:
        # a stall delays the flip it happens on, which the row's dropped_frames records.
        allowed = frame * (1 + row.dropped_frames_cs) + 1e-3
        assert abs(row.onset - row.onset_cs - expected) <= allowed
    assert log.onset.is_monotonic_increasing
    assert (data / "dataset_description.json").exists()
    assert "sub-demo" in (data / "participants.tsv").read_text()
    # simulated skin conductance beside the log, which analyze finds and scores by itself
    (physio,) = data.glob("sub-*/ses-*/*/*_recording-scr_physio.tsv.gz")
    assert json.loads(physio.with_name(physio.name[:-7] + ".json").read_text())["Columns"]
    if name == "retrieval_extinction":  # day 1 has no online ratings: SCR is the response
        out = tmp_path / "out"
        done = pavlov(xvfb, "analyze", str(data), "--out", str(out), "--models", "--no-figures")
        assert done.returncode == 0, done.stderr
        assert "response scr" in done.stdout
        curves = pd.read_csv(out / "curves_by_block.csv")
        assert curves["mean"].notna().any()


def day1_args(data: Path) -> list[str]:
    """`pavlov run` arguments for a fast simulated day 1 of the retrieval-extinction study."""
    protocol = str(PROTOCOLS / "retrieval_extinction.yaml")
    return [
        "run",
        protocol,
        "-p",
        "demo",
        "-s",
        "day1",
        "--simulate",
        "--speed",
        "40",
        "--windowed",
        "--data",
        str(data),
    ]


def test_kill_then_resume_completes_without_duplicates(xvfb, tmp_path):
    """kill -9 mid-session leaves a parseable log; --resume finishes with no dup or gap."""
    data = tmp_path / "data"
    args = day1_args(data)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pavlov.task.cli", *args],
        env=xvfb,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        files = list(data.glob("sub-*/ses-*/*/*_events.tsv"))
        if files and cs_rows(files[0]) >= 8:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    path = events_file(data)
    partial = pd.read_csv(path, sep="\t", na_values="n/a", keep_default_na=False)
    schedule = build_schedule(
        load_protocol(PROTOCOLS / "retrieval_extinction.yaml"), "demo", "day1"
    )
    n_cs = (partial.trial_type == "cs").sum()
    assert 8 <= n_cs < len(schedule.trials)
    again = pavlov(xvfb, *args)
    assert again.returncode == 5 and "already has data" in again.stderr
    resumed = pavlov(xvfb, *args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    log = pd.read_csv(path, sep="\t", na_values="n/a", keep_default_na=False)
    cs = log[log.trial_type == "cs"]
    assert list(zip(cs.phase, cs.trial)) == [(e.phase, e.index) for e in schedule.trials]
    record = json.loads(next(data.glob("sub-*/ses-*/*/*_session.json")).read_text())
    assert record["end_reason"] == "completed" and len(record["resumes"]) == 1
    done = pavlov(xvfb, *args, "--resume")
    assert done.returncode == 5 and "already complete" in done.stderr


def test_sigterm_ends_cleanly(xvfb, tmp_path):
    """SIGTERM mid-session: the record says so and the log holds the completed trials."""
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pavlov.task.cli", *day1_args(data)],
        env=xvfb,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        files = list(data.glob("sub-*/ses-*/*/*_events.tsv"))
        if files and cs_rows(files[0]) >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143
    assert "Traceback" not in err
    record = json.loads(next(data.glob("sub-*/ses-*/*/*_session.json")).read_text())
    assert record["end_reason"] == "aborted: SIGTERM"
    log = pd.read_csv(events_file(data), sep="\t", na_values="n/a", keep_default_na=False)
    assert (log.trial_type == "cs").sum() >= 3
