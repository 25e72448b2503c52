"""Helpers of the end-to-end tests that run the real ``pavlov run`` in a subprocess under an
Xvfb the tests start themselves: the X server, the command, and reading what it wrote."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd


def start_xvfb(first: int = 90) -> tuple[subprocess.Popen, dict[str, str]]:
    """Start ``Xvfb :N -screen 0 1024x768x24`` on the first free N >= ``first``.

    Returns the process and an environment that runs programs under it. Raises
    RuntimeError (one line) when Xvfb is missing or does not start.
    """
    if shutil.which("Xvfb") is None:
        raise RuntimeError(
            "Xvfb is not installed (apt-get install xvfb); the display tests need it"
        )
    # Parallel test workers (pytest-xdist's gw0, gw1, ...) search disjoint ranges, so two
    # of them never race for one display number.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    first += 1000 * int(worker.removeprefix("gw") or 0)
    number = next(
        (
            n
            for n in range(first, first + 110)
            if not Path(f"/tmp/.X{n}-lock").exists() and not Path(f"/tmp/.X11-unix/X{n}").exists()
        ),
        None,
    )
    if number is None:
        raise RuntimeError(f"no free X display number in {first}..{first + 109}")
    process = subprocess.Popen(
        ["Xvfb", f":{number}", "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not Path(f"/tmp/.X11-unix/X{number}").exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"Xvfb :{number} did not start")
        time.sleep(0.05)
    return process, dict(os.environ, DISPLAY=f":{number}", PAVLOV_DEBUG="")


def run_command(protocol: Path, data: Path, *extra: str, participant: str = "01") -> list[str]:
    """``pavlov run PROTOCOL --participant P --simulate --windowed --data DATA EXTRA...``."""
    return [
        sys.executable,
        "-m",
        "pavlov.task.cli",
        "run",
        str(protocol),
        "--participant",
        participant,
        "--simulate",
        "--windowed",
        "--data",
        str(data),
        *extra,
    ]


def read_log(data: Path) -> tuple[pd.DataFrame, dict]:
    """The one session's events log and session record under ``data``."""
    (events,) = data.glob("sub-*/ses-*/*/*_events.tsv")
    (session,) = data.glob("sub-*/ses-*/*/*_session.json")
    log = pd.read_csv(events, sep="\t", na_values="n/a", keep_default_na=False)
    return log, json.loads(session.read_text())


def cs_rows(events: Path) -> int:
    """Complete ``cs`` rows in an events log that is being written."""
    lines = events.read_text().split("\n")[1:-1]
    return sum(1 for line in lines if line.split("\t")[2:3] == ["cs"])
