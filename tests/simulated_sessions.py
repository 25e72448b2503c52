"""Simulated datasets of every bundled protocol, made once per test run (``pavlov run --simulate``
in a real PsychoPy window under an Xvfb the tests start), for the tests that need a real
session's log and dataset layout (BIDS validation, physiology import)."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sessions_e2e import run_command, start_xvfb

from pavlov.protocols import build_schedule, load_protocol

REPO = Path(__file__).resolve().parents[1]
PROTOCOLS = sorted((REPO / "protocols").glob("*.yaml"))

#: Wall-clock seconds each simulated session should take (speed = its length / this).
TARGET_SECONDS = 2.0


def simulate_protocol(protocol: Path, data: Path, env: dict, participant: str = "demo") -> Path:
    """Run every session of ``protocol`` for one participant into ``data``; return ``data``."""
    loaded = load_protocol(protocol)
    for session in loaded.sessions:
        length = build_schedule(loaded, participant, session.name).events[-1].onset
        speed = max(60, round(length / TARGET_SECONDS))
        proc = subprocess.run(
            run_command(
                protocol,
                data,
                "--session",
                session.name,
                "--speed",
                str(speed),
                participant=participant,
            ),
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
    process, env = start_xvfb(200)
    try:
        with ThreadPoolExecutor(2) as pool:
            jobs = {
                p.stem: pool.submit(simulate_protocol, p, root / p.stem, env) for p in PROTOCOLS
            }
            return {name: job.result() for name, job in jobs.items()}
    finally:
        process.terminate()
        process.wait(timeout=10)
