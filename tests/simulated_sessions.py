"""Simulated datasets of every bundled protocol, made once per test run (``pavlov run --simulate``
in a real PsychoPy window under an Xvfb the tests start), for the tests that need a real
session's log and dataset layout (BIDS validation, physiology import)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pavlov.protocols import build_schedule, load_protocol

REPO = Path(__file__).resolve().parents[1]
PROTOCOLS = sorted((REPO / "protocols").glob("*.yaml"))

#: Wall-clock seconds each simulated session should take (speed = its length / this).
TARGET_SECONDS = 2.0


def start_xvfb() -> tuple[subprocess.Popen, dict]:
    """Start Xvfb on a free display; return the process and an environment using it."""
    if shutil.which("Xvfb") is None:
        raise RuntimeError("Xvfb is not installed (apt-get install xvfb)")
    for number in range(200, 300):
        if (
            not Path(f"/tmp/.X{number}-lock").exists()
            and not Path(f"/tmp/.X11-unix/X{number}").exists()
        ):
            break
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


def simulate_protocol(protocol: Path, data: Path, env: dict, participant: str = "demo") -> Path:
    """Run every session of ``protocol`` for one participant into ``data``; return ``data``."""
    loaded = load_protocol(protocol)
    for session in loaded.sessions:
        length = build_schedule(loaded, participant, session.name).events[-1].onset
        speed = max(60, round(length / TARGET_SECONDS))
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pavlov.task.cli",
                "run",
                str(protocol),
                "--participant",
                participant,
                "--session",
                session.name,
                "--simulate",
                "--speed",
                str(speed),
                "--windowed",
                "--data",
                str(data),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{protocol.name} {session.name}: {proc.stderr.strip()[-500:]}")
    return data


def simulate_all(root: Path) -> dict[str, Path]:
    """One dataset per bundled protocol under ``root``, two protocols at a time."""
    process, env = start_xvfb()
    try:
        with ThreadPoolExecutor(2) as pool:
            jobs = {
                p.stem: pool.submit(simulate_protocol, p, root / p.stem, env) for p in PROTOCOLS
            }
            return {name: job.result() for name, job in jobs.items()}
    finally:
        process.terminate()
        process.wait(timeout=10)
