"""The fast session harness: one session played on a recording display and a frame clock,
with simulated devices behind the real :class:`~pavlov.task.devices.safety.ShockGuard` (the
one place the tests wire ``run_session`` with simulated devices)."""

from __future__ import annotations

import dataclasses


class MemoryLog:
    """An events log kept in memory (the fast path: no disk, same ``append`` contract)."""

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.closed = False

    def append(self, rows) -> None:
        self.rows.extend(dict(r) for r in rows)

    def close(self) -> None:
        self.closed = True


@dataclasses.dataclass
class FastRun:
    """What a fast session did: the devices and log to check afterwards."""

    protocol: object
    schedule: object
    speed: float
    clock: object
    display: object
    shock: object  # the raw SimulatedShock (what reached the "wire")
    guard: object  # the ShockGuard in front of it
    markers: object
    console: object
    log: object
    result: object = None
    error: BaseException | None = None


def run_fast(
    protocol,
    session: str,
    participant: str = "p1",
    *,
    speed: float = 50.0,
    display=None,
    trigger=None,
    log=None,
    record=None,
    responder=None,
    scanner_kwargs: dict | None = None,
    start_index: int = 0,
    time_base: float | None = None,
    shock=None,
    ledger=None,
    before=None,
    stimuli: bool = False,
) -> FastRun:
    """Play one session on the fast path; never raises (the error is kept on the run).

    ``shock`` is the raw device (default a SimulatedShock on the display's clock);
    ``ledger`` a shock ledger the guard counts and records in (as `pavlov run` does);
    ``before(ledger, guard)`` runs just before the session starts; ``stimuli`` resolves and
    checks the protocol's stimulus files first (as `pavlov run` does).
    """
    from pavlov.protocols import build_schedule
    from pavlov.stimuli.check import prepare_stimuli
    from pavlov.task.console import RecordingConsole
    from pavlov.task.devices.safety import guard_shock
    from pavlov.task.devices.simulated import SimulatedMarkers, SimulatedScanner, SimulatedShock
    from pavlov.task.display import FrameClock, RecordingDisplay
    from pavlov.task.runner import run_session
    from pavlov.task.simulated_participant import SimulatedParticipant

    schedule = build_schedule(protocol, participant, session)
    clock = display.clock if display is not None else FrameClock()
    display = display if display is not None else RecordingDisplay(clock)
    scanner = protocol.scanner if protocol.session(session).scanner else None
    if scanner is not None and trigger is None:
        trigger = SimulatedScanner(clock, scanner.tr / speed, **(scanner_kwargs or {}))
    has_shock = any(us.kind == "shock" for us in protocol.us.values())
    if has_shock and shock is None:
        shock = SimulatedShock(clock)
    guard = guard_shock(shock, protocol.safety, clock) if has_shock else None
    if guard is not None and ledger is not None:
        guard.use_ledger(ledger)
    if before is not None:
        before(ledger, guard)
    markers = SimulatedMarkers(clock)
    console = RecordingConsole()
    log = log if log is not None else MemoryLog()
    run = FastRun(protocol, schedule, speed, clock, display, shock, guard, markers, console, log)
    try:
        run.result = run_session(
            schedule,
            protocol,
            display=display,
            clock=clock,
            trigger=trigger if scanner is not None else None,
            shock=guard,
            markers=markers,
            responder=responder or SimulatedParticipant(schedule.seed, speed),
            log=log,
            console=console,
            speed=speed,
            scanner=scanner,
            record=record,
            start_index=start_index,
            time_base=time_base,
            completed_before=start_index,
            stimuli=prepare_stimuli(protocol, schedule) if stimuli else None,
        )
    except BaseException as error:  # the tests check what was raised
        run.error = error
    return run
