"""Fixtures of the safety tests: the bundled protocols and their sessions, and a fast
session harness (recording display, frame clock,
simulated devices behind the real :class:`~pavlov.task.devices.safety.ShockGuard`).

Budgets: ``HYPOTHESIS_PROFILE=long`` (or ``-m long``, see ``SAFETY.md``) runs the long
versions of the fuzzing and shock-invariant tests.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parents[2]
PROTOCOLS = REPO / "protocols"
BUNDLED = sorted(PROTOCOLS.glob("*.yaml"))

# CI: a few hundred examples per fuzz target, each bounded in time. The long profile is the
# documented separate run (thousands of examples).
settings.register_profile(
    "ci",
    max_examples=200,
    deadline=2000,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "long",
    max_examples=5000,
    deadline=5000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_collection_modifyitems(config, items):
    # The long budgets run only when asked for with -m long; otherwise they are deselected
    # (not skipped): CI runs the same tests with the CI budgets (marker in pyproject.toml).
    if "long" in (config.option.markexpr or ""):
        return
    kept = [item for item in items if "long" not in item.keywords]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if "long" in i.keywords])
        items[:] = kept


def bundled_sessions() -> list[tuple[str, str]]:
    """(protocol name, session name) of every session of every bundled protocol."""
    from pavlov.protocols import load_protocol

    out = []
    for path in BUNDLED:
        protocol = load_protocol(path)
        out.extend((path.stem, s.name) for s in protocol.sessions)
    return out


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
) -> FastRun:
    """Play one session on the fast path; never raises (the error is kept on the run).

    ``shock`` is the raw device (default a SimulatedShock on the display's clock);
    ``ledger`` a shock ledger the guard counts and records in (as `pavlov run` does);
    ``before(ledger, guard)`` runs just before the session starts.
    """
    from pavlov.protocols import build_schedule
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
        )
    except BaseException as error:  # the tests check what was raised
        run.error = error
    return run


@pytest.fixture(scope="session")
def fast():
    """The fast session harness (:func:`run_fast`)."""
    return run_fast


@pytest.fixture(scope="session")
def memory_log():
    """The in-memory log class."""
    return MemoryLog
