"""Fixtures of the runner's tests: an Xvfb display started by the tests themselves, and
helpers that run the fake-display loop on the bundled protocols."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sessions_e2e import start_xvfb

REPO = Path(__file__).resolve().parents[2]
PROTOCOLS = REPO / "protocols"


@pytest.fixture(scope="session")
def xvfb(tmp_path_factory):
    """Start ``Xvfb :N -screen 0 1024x768x24`` once; yield the environment to run under it."""
    try:
        process, env = start_xvfb(90)
    except RuntimeError as error:
        pytest.fail(str(error))
    home = tmp_path_factory.mktemp("home")
    env["HOME"] = str(home)
    old = {k: os.environ.get(k) for k in ("DISPLAY", "HOME")}
    os.environ["DISPLAY"] = env["DISPLAY"]
    os.environ["HOME"] = env["HOME"]
    try:
        yield env
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        process.terminate()
        process.wait(timeout=10)
