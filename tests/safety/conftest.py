"""Fixtures of the safety tests: the bundled protocols and their sessions, and the fast
session harness of ``tests/fast_session.py``.

Budgets: ``HYPOTHESIS_PROFILE=long`` (or ``-m long``, see ``SAFETY.md``) runs the long
versions of the fuzzing and shock-invariant tests.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fast_session import MemoryLog, run_fast
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


@pytest.fixture(scope="session")
def fast():
    """The fast session harness (:func:`run_fast`)."""
    return run_fast


@pytest.fixture(scope="session")
def memory_log():
    """The in-memory log class."""
    return MemoryLog
