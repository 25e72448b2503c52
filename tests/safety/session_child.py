"""A session process for the kill-anywhere test (run as a script, killed with SIGKILL).

``python session_child.py PROTOCOL DATA PARTICIPANT new|resume PACE``

Plays one session of PROTOCOL on the fast path (recording display, frame clock) with the
real EventLog and SessionRecord under DATA, sleeping PACE seconds per flip so the test can
kill it at wall-clock moments. On stdout it announces, one line each and flushed:
``START``, ``W n`` before the n-th log append, ``D n`` after it returned (on disk, fsynced),
``S label`` when a shock train starts, ``END reason``. The resume path is the one
``pavlov run --resume`` takes: reopen the log, find the resume point, cut an incomplete
event, continue.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from pavlov.protocols import build_schedule, load_protocol
from pavlov.task.console import RecordingConsole
from pavlov.task.devices.safety import ShockLedger, guard_shock
from pavlov.task.devices.simulated import SimulatedMarkers, SimulatedShock
from pavlov.task.display import FrameClock, RecordingDisplay
from pavlov.task.log import EventLog
from pavlov.task.runner import reopen_for_resume, run_session
from pavlov.task.sidecar import SessionRecord
from pavlov.task.simulated_participant import SimulatedParticipant


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


class AnnouncingLog:
    """The real EventLog, announcing each append before and after it."""

    def __init__(self, log: EventLog) -> None:
        self.log = log
        self.n = 0

    def append(self, rows) -> None:
        self.n += 1
        say(f"W {self.n}")
        self.log.append(rows)
        say(f"D {self.n}")

    def close(self) -> None:
        self.log.close()


class AnnouncingShock(SimulatedShock):
    def deliver(self, width, interval, count, label):
        super().deliver(width, interval, count, label)
        say(f"S {label}")


class PacedDisplay(RecordingDisplay):
    """Flips take ``pace`` seconds of wall clock (the frame clock still moves one frame)."""

    def __init__(self, clock, pace: float) -> None:
        super().__init__(clock)
        self.pace = pace

    def flip(self) -> float:
        time.sleep(self.pace)
        return super().flip()

    def mouse(self):
        return 0.0, False


def main(argv: list[str]) -> int:
    protocol_path, data, participant, mode, pace = argv
    protocol = load_protocol(protocol_path)
    session = protocol.sessions[0].name
    schedule = build_schedule(protocol, participant, session)
    folder = Path(data)
    events, sidecar = folder / "events.tsv", folder / "session.json"
    start, base, before = 0, None, 0
    if mode == "new":
        log = EventLog.create(events)
        record = SessionRecord.create(sidecar, {"end_reason": "running"})
    else:
        record = SessionRecord.open(sidecar)
        log, _, point = reopen_for_resume(events, schedule)  # as `pavlov run --resume` does
        start, base, before = point.start_index, point.time_base, point.start_index
        record.update(end_reason="running")
    clock = FrameClock()
    shock = AnnouncingShock(clock)
    guard = guard_shock(shock, protocol.safety, clock)
    guard.use_ledger(ShockLedger(folder / "shocks.tsv"))  # as `pavlov run` does
    say("START")
    wrapped = AnnouncingLog(log)
    try:
        result = run_session(
            schedule,
            protocol,
            display=PacedDisplay(clock, float(pace)),
            clock=clock,
            trigger=None,
            shock=guard,
            markers=SimulatedMarkers(clock),
            responder=SimulatedParticipant(schedule.seed, 10.0),
            log=wrapped,
            console=RecordingConsole(),
            speed=10.0,
            start_index=start,
            time_base=base,
            record=record,
            completed_before=before,
        )
    finally:
        log.close()
    say(f"END {result.end_reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
