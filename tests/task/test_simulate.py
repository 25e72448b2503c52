"""Tests of pavlov.task.simulate: `pavlov simulate` against the run loop of `run --simulate`."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pavlov.protocols import build_schedule, load_protocol
from pavlov.task.simulate import write_session

PROTOCOLS = Path(__file__).resolve().parents[2] / "protocols"
BUNDLED = sorted(p.stem for p in PROTOCOLS.glob("*.yaml"))
SPEED = 1.0  # the run loop at real speed on a frame clock: a session takes about a second


def runner_session(root: Path, protocol, participant: str, session: str):
    """Play a session with the run loop exactly as `pavlov run --simulate` wires it (simulated
    participant seeded by the schedule and replaying earlier sessions, simulated scanner,
    shock and markers), on a recording display and frame clock instead of a window."""
    from fast_session import run_fast

    from pavlov.task.log import EventLog, run_paths
    from pavlov.task.simulate import learner_for

    schedule = build_schedule(protocol, participant, session)
    scanner = protocol.scanner if protocol.session(session).scanner else None
    paths = run_paths(root, participant, session, protocol.task, 1, scanner is not None)
    paths.directory.mkdir(parents=True)
    learner = learner_for(protocol, schedule, None)
    learner.speed = SPEED
    log = EventLog.create(paths.events)
    try:
        run = run_fast(
            protocol, session, participant, speed=SPEED, log=log, responder=learner, stimuli=True
        )
    finally:
        log.close()
    if run.error is not None:
        raise run.error
    return paths.events


def read_rows(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, encoding="utf-8", newline="") as stream:
        reader = csv.DictReader(stream, delimiter="\t")
        return list(reader.fieldnames), list(reader)


IDENTITY = ("trial_type", "event_type", "phase", "phase_type", "trial", "cs", "cs_type",
            "stimulus", "reinforced", "us", "context", "stim_file")  # fmt: skip


@pytest.mark.parametrize("name", BUNDLED)
def test_simulate_logs_what_the_run_loop_logs(name, tmp_path):
    """For every bundled protocol and session: the same columns, the same rows in the same
    order with the same event types, CS identities, reinforcement and ratings (the learner
    is the same), the same schedule in the sidecar; onsets differ by frame timing only."""
    protocol = load_protocol(PROTOCOLS / f"{name}.yaml")
    for session in (s.name for s in protocol.sessions):
        schedule = build_schedule(protocol, "demo", session)
        ours = write_session(tmp_path / "sim", protocol, schedule, physio=False)
        assert ours.rows
        loop = runner_session(tmp_path / "loop", protocol, "demo", session)
        simulated = loop.parent.relative_to(tmp_path / "loop")
        sim_path = tmp_path / "sim" / simulated / loop.name
        columns, sim_rows = read_rows(sim_path)
        loop_columns, loop_rows = read_rows(loop)
        assert columns == loop_columns
        a = [r for r in sim_rows if r["trial_type"] != "pulse"]
        b = [r for r in loop_rows if r["trial_type"] != "pulse"]
        assert [tuple(r[c] for c in IDENTITY) for r in a] == [
            tuple(r[c] for c in IDENTITY) for r in b
        ]
        assert [r["rating"] for r in a] == [r["rating"] for r in b]
        # frames (1/60 s) are the only difference: self-paced screens end on a refresh, a
        # frame or two apart from the planned times, and later onsets move with them
        for x, y in zip(a, b):
            assert abs(float(x["onset"]) - float(y["onset"])) < 0.25, (x, y)
        pulses = [sum(r["trial_type"] == "pulse" for r in rows) for rows in (sim_rows, loop_rows)]
        assert abs(pulses[0] - pulses[1]) <= 2
        sidecar = json.loads(
            sim_path.with_name(sim_path.name.replace("events.tsv", "session.json")).read_text()
        )
        assert sidecar["schedule"][0]["onset"] == schedule.events[0].onset
        assert len(sidecar["schedule"]) == len(schedule.events)
        assert sidecar["end_reason"] == "completed"


def test_simulate_command_writes_a_study_that_analyze_reads(tmp_path):
    """`pavlov simulate` with two groups writes participants.tsv with groups and skin
    conductance beside every log; `pavlov analyze` then scores SCR by itself (day 1 of
    retrieval-extinction has no online ratings) and compares the groups."""
    data, out = tmp_path / "data", tmp_path / "out"
    pavlov = str(Path(sys.executable).with_name("pavlov"))
    done = subprocess.run(
        [pavlov, "simulate", str(PROTOCOLS / "retrieval_extinction.yaml"), "--participants", "6",
         "--sessions", "day1", "--groups", "placebo=0", "drug=0.5", "--data", str(data)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # piped: no progress bar
    groups = (data / "participants.tsv").read_text().split()
    assert groups[:2] == ["participant_id", "group"] and groups.count("drug") == 3
    assert len(list(data.rglob("*_recording-scr_physio.tsv.gz"))) == 6
    from bids_validator import errors

    assert errors(data) == []  # a valid BIDS dataset, physiology included
    done = subprocess.run(
        [pavlov, "analyze", str(data), "--out", str(out), "--models", "rw", "--no-figures"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "response scr" in done.stdout
    curves = (out / "curves_by_block.csv").read_text()
    assert "placebo" in curves and "drug" in curves
    again = subprocess.run(
        [pavlov, "simulate", str(PROTOCOLS / "retrieval_extinction.yaml"), "--participants", "1",
         "--data", str(data)], capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert again.returncode != 0 and "never overwritten" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1


def test_absurd_workers_start_no_more_processes_than_participants(tmp_path):
    """`--workers 100000` for 2 participants: at most 2 processes, done in seconds (was: a
    fork pool started all 100,000 workers and the command never ended)."""
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("pavlov")),
            "simulate",
            str(PROTOCOLS / "retrieval_extinction.yaml"),
            "--participants",
            "2",
            "--workers",
            "100000",
            "--no-physio",
            "--data",
            str(tmp_path / "data"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "data").glob("sub-*"))) == 2


@pytest.mark.parametrize("effect", ["1e308", "101", "-1", "nan", "inf"])
def test_absurd_group_effects_are_one_line_usage_errors(tmp_path, effect):
    """`--groups a=1e308` (was accepted), -1, nan: exit 2, one line, nothing written."""
    from pavlov.common.errors import PavlovError
    from pavlov.task.simulate import SimulateUsageError, _groups

    with pytest.raises(
        SimulateUsageError, match=r"^--groups: expected NAME=EFFECT .* <= 100"
    ) as bad:
        _groups([f"a={effect}"])
    assert isinstance(bad.value, PavlovError) and bad.value.exit_status == 2
    assert _groups(["a=0", "b=100"]) == [("a", 0.0), ("b", 100.0)]


def test_simulate_plays_each_participants_arm(tmp_path):
    """`pavlov simulate` of a protocol with arms plays each participant's arm (by number)
    and writes it to participants.tsv as arm and group, as `pavlov run` does."""
    import pandas as pd

    from pavlov.task.cli import main

    data = tmp_path / "data"
    argv = ["simulate", str(PROTOCOLS / "retrieval_extinction.yaml"), "--first", "3",
            "--participants", "3", "--sessions", "day2", "--no-physio", "--data", str(data)]  # fmt: skip
    assert main(argv) == 0
    table = pd.read_csv(data / "participants.tsv", sep="\t", dtype=str).set_index("participant_id")
    assert list(table["arm"]) == ["no_reminder", "no_reminder", "reminder_10min"]
    assert list(table["group"]) == list(table["arm"])
    phases = {
        p: set(pd.read_csv(next(data.glob(f"sub-{p}/ses-day2/beh/*_events.tsv")), sep="\t").phase)
        for p in ("003", "005")
    }
    assert "reminder" not in phases["003"] and "reminder" in phases["005"]


def test_empty_codes_is_a_usage_error(tmp_path):
    """`simulate --codes ""` (an unset variable) is one usage line and exit 2, not an
    unblinded study written by participant number."""
    pavlov = str(Path(sys.executable).with_name("pavlov"))
    done = subprocess.run(
        [pavlov, "simulate", str(PROTOCOLS / "ketamine_reconsolidation.yaml"),
         "--participants", "2", "--codes", "", "--data", str(tmp_path / "data")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and "--codes: expected a file, got ''" in done.stderr
    assert not (tmp_path / "data").exists()
