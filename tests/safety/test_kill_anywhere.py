"""Kill anywhere (issue 6, item 1): SIGKILL a running session at many moments; every time
the log parses, holds every event the process had finished writing, and the resumed session
ends with every scheduled event exactly once.

A chain of processes (``session_child.py``: the fast path with the real EventLog and
SessionRecord, paced on the wall clock) plays a short protocol with many 1-s trials; each
process is killed, the next resumes. Kill moments are drawn from a fixed seed among three
kinds: a random time after start, the moment a log append begins (``W n`` announced, the
write and fsync still to come), and the moment a shock train starts (``S label``). How we
know where we hit: a write kill counts as *inside the write* when the child never
announced its end (``D n``); a US kill counts as *during the US* when the US's trial is
not in the log afterwards (the process died between the train's start and the trial's
write). The test asserts at least 30 kills, and that both kinds were really hit.
"""

from __future__ import annotations

import os
import random
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

from pavlov.protocols import build_schedule, load_protocol
from pavlov.protocols.kinds import MAIN_ROW_TYPES
from pavlov.task.log import EventLog
from pavlov.task.runner import resume_point

CHILD = Path(__file__).resolve().parent / "session_child.py"
KILLS = 36
PROTOCOL = """\
pavlov: 1
study: kill anywhere
task: kill
seed: 11
cs:
  roles: [CS+, CS-]
  stimuli:
    blue: {shape: square, color: blue}
    yellow: {shape: circle, color: yellow}
us:
  shock:
    type: shock
    train: {pulse_width: 0.002, interval: 0.02, count: 10}
safety:
  max_shocks: 40
  max_train_duration: 0.5
phases:
  acquisition:
    type: acquisition
    trials: 24
    reinforced: {CS+: 12}
    cs_duration: 1
    iti: 1
    constraints: {max_run: 3}
  extinction:
    type: extinction
    trials: 16
    cs_duration: 1
    iti: 1
"""


class Child:
    """One session process and the lines it announced."""

    def __init__(self, protocol: Path, data: Path, participant: str, mode: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(CHILD), str(protocol), str(data), participant, mode, "0.001"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        self.lines: list[str] = []
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.process.stdout, selectors.EVENT_READ)
        self.buffer = b""

    def next_line(self, timeout: float = 30.0) -> str | None:
        """The next announced line (None at end of output)."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            if not self.selector.select(max(deadline - time.monotonic(), 0)):
                raise AssertionError(f"child silent for {timeout} s: {self.lines[-3:]}")
            chunk = os.read(self.process.stdout.fileno(), 4096)
            if not chunk:
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        self.lines.append(line.decode())
        return self.lines[-1]

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        rest = self.process.stdout.read()
        self.lines += (self.buffer + rest).decode().split()
        self.process.stdout.close()
        self.process.stderr.close()

    def finish(self) -> str:
        out, err = self.process.communicate(timeout=60)
        self.lines += (self.buffer + out).decode().splitlines()
        assert self.process.returncode == 0, err.decode()[-2000:]
        return self.lines[-1]


def done_events(rows) -> set[tuple[str, str, str]]:
    return {(r["phase"], r["trial_type"], r["trial"]) for r in rows}


def check_after_kill(schedule, events: Path, acknowledged: int) -> int:
    """The log parses, holds the acknowledged appends; return the events it holds."""
    raw = events.read_bytes()
    complete = raw[: raw.rfind(b"\n") + 1].decode().splitlines()
    assert complete, "the header was lost"
    header = complete[0].split("\t")
    rows = [dict(zip(header, line.split("\t"))) for line in complete[1:]]
    assert all(len(line.split("\t")) == len(header) for line in complete[1:])
    point = resume_point(schedule, rows)  # raises on a gap, a duplicate or a foreign event
    # Appends the child reported as done are whole events on disk: the first `point` events.
    assert point.start_index >= acknowledged_events(schedule, acknowledged), (
        point.start_index,
        acknowledged,
    )
    return point.start_index


def acknowledged_events(schedule, appends: int) -> int:
    # One append per completed event (rows of pulses/keys ride along with the next event).
    return min(appends, len(schedule.events))


def test_kill_anywhere_then_resume(tmp_path):
    """36 SIGKILLs at random moments, inside writes and during USs: nothing lost or doubled."""
    rng = random.Random(20240611)
    protocol_path = tmp_path / "kill.yaml"
    protocol_path.write_text(PROTOCOL)
    protocol = load_protocol(protocol_path)
    kills = {"time": 0, "write": 0, "us": 0}
    hits = {"inside write": 0, "during US": 0}
    progress = []
    session_no = 0
    data = None
    schedule = None
    child = None
    finished_sessions = 0
    while sum(kills.values()) < KILLS:
        if child is None:
            session_no += 1
            participant = f"k{session_no}"
            data = tmp_path / participant
            data.mkdir()
            schedule = build_schedule(protocol, participant, protocol.sessions[0].name)
            mode = "new"
        else:
            mode = "resume"
        child = Child(protocol_path, data, participant, mode)
        assert child.next_line() == "START"
        kind = rng.choice(["time", "write", "write", "us"])
        target = rng.randint(1, 4)
        start = time.monotonic()
        delay = rng.uniform(0.02, 0.4)
        seen = {"W": 0, "S": 0}
        last_w = last_s = None
        ended = False
        while True:
            if kind == "time" and time.monotonic() - start >= delay:
                break
            line = child.next_line()
            if line is None or line.startswith("END"):
                ended = True
                break
            tag, _, value = line.partition(" ")
            if tag in seen:
                seen[tag] += 1
            if tag == "W":
                last_w = value
            if tag == "S":
                last_s = value
            if kind == "write" and tag == "W" and seen["W"] >= target:
                break
            if kind == "us" and tag == "S" and seen["S"] >= target:
                break
        if ended:  # the session finished before the kill moment: check it, start another
            assert child.finish().startswith("END completed")
            finished_sessions += 1
            child = None
            continue
        child.kill()
        kills[kind] += 1
        acknowledged = sum(1 for line in child.lines if line.startswith("D "))
        n_done = check_after_kill(schedule, data / "events.tsv", acknowledged)
        progress.append(n_done / len(schedule.events))
        if kind == "write" and f"D {last_w}" not in child.lines:
            hits["inside write"] += 1
        if kind == "us" and last_s is not None:
            phase, index = last_s.split("/")
            rows = EventLog.reopen(data / "events.tsv")[1]
            if (phase, "cs", index) not in done_events(rows):
                hits["during US"] += 1
    # Finish the last session by resuming, then check every session played so far.
    child = Child(protocol_path, data, participant, "resume")
    assert child.finish().startswith("END completed")
    for number in range(1, session_no + 1):
        folder = tmp_path / f"k{number}"
        schedule = build_schedule(protocol, f"k{number}", protocol.sessions[0].name)
        rows = EventLog.reopen(folder / "events.tsv")[1]
        keys = [
            (r["phase"], r["trial_type"], r["trial"])
            for r in rows
            if r["trial_type"] in MAIN_ROW_TYPES.values()
        ]
        assert len(keys) == len(set(keys)), "an event was logged twice"
        expected = {(e.phase, MAIN_ROW_TYPES[e.kind], str(e.index)) for e in schedule.events}
        expected |= {(e.phase, "us", str(e.index)) for e in schedule.trials if e.us_onset}
        assert set(keys) == expected, "an event is missing"
    assert sum(kills.values()) >= 30
    assert hits["inside write"] >= 1 and hits["during US"] >= 1, hits
    assert min(progress) < 0.2 and max(progress) > 0.6  # kills spread over the session
    print(f"kills {kills}, hits {hits}, sessions {session_no}")


def test_us_given_before_a_kill_is_never_given_again(tmp_path):
    """Killed right after a shock, before its trial reached the log, the resumed process
    refuses that US (the shock ledger has it): every reinforced US reaches the device exactly
    once over both processes, and the log says why the replayed trial had none."""
    protocol_path = tmp_path / "kill.yaml"
    protocol_path.write_text(PROTOCOL)
    protocol = load_protocol(protocol_path)
    data = tmp_path / "r1"
    data.mkdir()
    schedule = build_schedule(protocol, "r1", protocol.sessions[0].name)
    child = Child(protocol_path, data, "r1", "new")
    assert child.next_line() == "START"
    shocked = None
    while shocked is None:
        line = child.next_line()
        assert line is not None and not line.startswith("END"), child.lines[-3:]
        if line.startswith("S "):
            shocked = line[2:]
    child.kill()
    first = [line[2:] for line in child.lines if line.startswith("S ")]
    phase, index = shocked.split("/")
    _, rows = EventLog.reopen(data / "events.tsv")
    logged = {(r["phase"], r["trial"]) for r in rows if r["trial_type"] == "cs"}
    assert (phase, index) not in logged, "the kill came after the trial was logged"

    child = Child(protocol_path, data, "r1", "resume")
    assert child.next_line() == "START"
    assert child.finish() == "END completed"
    second = [line[2:] for line in child.lines if line.startswith("S ")]

    reinforced = sorted(f"{e.phase}/{e.index}" for e in schedule.events if e.reinforced)
    assert shocked not in second
    assert sorted(first + second) == reinforced
    ledger = (data / "shocks.tsv").read_text().splitlines()
    assert sorted(line.split("\t")[0] for line in ledger) == reinforced
    _, rows = EventLog.reopen(data / "events.tsv")
    replayed = [
        r for r in rows if r["trial_type"] == "us" and (r["phase"], r["trial"]) == (phase, index)
    ]
    assert len(replayed) == 1
    assert "already delivered once" in replayed[0]["value"]
