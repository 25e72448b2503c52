"""Fixtures shared by several rooms' tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def simulated_datasets(tmp_path_factory):
    """A simulated dataset of every bundled protocol (all its sessions), made once per test
    run; tests copy what they change."""
    from simulated_sessions import simulate_all

    return simulate_all(tmp_path_factory.mktemp("simulated"))
