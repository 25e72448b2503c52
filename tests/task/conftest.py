"""Fixtures of the runner's tests: an Xvfb display started by the tests themselves, and
helpers that run the fake-display loop on the bundled protocols."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROTOCOLS = REPO / "protocols"


def _free_display() -> int:
    for number in range(90, 200):
        if (
            not Path(f"/tmp/.X{number}-lock").exists()
            and not Path(f"/tmp/.X11-unix/X{number}").exists()
        ):
            return number
    raise RuntimeError("no free X display number in 90..199")


@pytest.fixture(scope="session")
def xvfb(tmp_path_factory):
    """Start ``Xvfb :N -screen 0 1024x768x24`` once; yield the environment to run under it."""
    if shutil.which("Xvfb") is None:
        pytest.fail("Xvfb is not installed (apt-get install xvfb); the display tests need it")
    number = _free_display()
    process = subprocess.Popen(
        ["Xvfb", f":{number}", "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    socket = Path(f"/tmp/.X11-unix/X{number}")
    deadline = time.monotonic() + 10
    while not socket.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"Xvfb :{number} did not start")
        time.sleep(0.05)
    home = tmp_path_factory.mktemp("home")
    env = dict(os.environ, DISPLAY=f":{number}", HOME=str(home), PAVLOV_DEBUG="")
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
