"""Benchmark: ``pavlov analyze`` as the user types it, on 1,000 sessions × 120 trials.

Goal (issue 10): every default output (curves, indices, exclusions, rm-ANOVA, default model
fits, figures, report) in ≤ 10 s wall and ≤ 1 GiB peak memory on 2 cores, for a trial table
and for the same data as 1,000 BIDS session logs (stretch: ≤ 3 s for the table).

The data are 1,000 simulated Rescorla–Wagner learners (α ~ U(0.05, 0.6), ratings 0–10 with
noise, two groups), 3 phases × 2 CSs × 20 trials. Each command runs in its own subprocess
(``pavlov analyze DATA --out DIR``, exactly as typed), timed from spawn to exit; peak memory
is the child's maximum resident set size from ``os.wait4``.

Run: ``.venv/bin/python benchmarks/analysis.py [--participants N] [--repeats R]
[-- EXTRA ANALYZE OPTIONS]``. Prints one line per command: wall seconds (each repeat, and
the best) and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

PHASES = (
    ("acquisition", "acquisition", True),
    ("extinction", "extinction", False),
    ("recall", "recall", False),
)
TRIALS_PER_CS = 20  # 3 phases × 2 CSs × 20 = 120 trials


def simulate(n: int, seed: int = 0) -> pd.DataFrame:
    """Trials of ``n`` simulated RW learners (α ~ U(0.05, 0.6), ratings 0–10 + noise)."""
    rng = np.random.default_rng(seed)
    per_phase = 2 * TRIALS_PER_CS
    order = np.array([rng.permutation(np.repeat([0, 1], TRIALS_PER_CS)) for _ in range(n * 3)])
    order = order.reshape(n, 3 * per_phase)  # 0 = CS+, 1 = CS-
    reinforced = np.zeros_like(order, dtype=bool)
    plus_acq = order[:, :per_phase] == 0
    reinforced[:, :per_phase] = plus_acq & (rng.random((n, per_phase)) < 0.5)
    alpha = rng.uniform(0.05, 0.6, n)
    values = np.zeros((n, 2))
    rating = np.empty(order.shape)
    rows = np.arange(n)
    for t in range(order.shape[1]):
        cs = order[:, t]
        v = values[rows, cs]
        rating[:, t] = v
        values[rows, cs] = v + alpha * (reinforced[:, t] - v)
    rating = np.clip(np.round(10 * rating + rng.normal(0, 1.0, rating.shape)), 0, 10)
    phase = np.tile(np.repeat([p[0] for p in PHASES], per_phase), n)
    return pd.DataFrame(
        {
            "participant": np.repeat([f"{i + 1:04d}" for i in range(n)], order.shape[1]),
            "group": np.repeat(np.where(np.arange(n) % 2, "placebo", "drug"), order.shape[1]),
            "session": "1",
            "phase": phase,
            "trial": np.tile(np.tile(np.arange(1, per_phase + 1), 3), n),
            "cs_type": np.where(order.ravel() == 0, "CS+", "CS-"),
            "us": reinforced.ravel().astype(int),
            "response": rating.ravel(),
        }
    )


def write_table(trials: pd.DataFrame, path: Path) -> None:
    """The trials as another tool's trial table (CSV)."""
    trials.to_csv(path, index=False)


def write_logs(trials: pd.DataFrame, root: Path) -> None:
    """The trials as pavlov BIDS logs: one events.tsv per participant, participants.tsv."""
    columns = [
        "onset",
        "duration",
        "trial_type",
        "event_type",
        "phase",
        "phase_type",
        "trial",
        "cs",
        "cs_type",
        "stimulus",
        "reinforced",
        "rating",
        "rating_rt",
        "iti",
    ]
    root.mkdir(parents=True)
    (root / "dataset_description.json").write_text(
        json.dumps({"Name": "bench", "BIDSVersion": "1.10.0"})
    )
    groups = trials.groupby("participant", sort=False)["group"].first()
    pd.DataFrame({"participant_id": "sub-" + groups.index, "group": groups.to_numpy()}).to_csv(
        root / "participants.tsv", sep="\t", index=False
    )
    for participant, rows in trials.groupby("participant", sort=False):
        folder = root / f"sub-{participant}" / "ses-1" / "beh"
        folder.mkdir(parents=True)
        plus = rows["cs_type"].to_numpy() == "CS+"
        log = pd.DataFrame(
            {
                "onset": np.arange(len(rows)) * 16.0,
                "duration": 6.0,
                "trial_type": "cs",
                "event_type": np.where(~plus, "CSm", np.where(rows["us"] == 1, "CSpr", "CSpu")),
                "phase": rows["phase"].to_numpy(),
                "phase_type": rows["phase"].to_numpy(),
                "trial": rows["trial"].to_numpy(),
                "cs": rows["cs_type"].to_numpy(),
                "cs_type": rows["cs_type"].to_numpy(),
                "stimulus": np.where(plus, "faceA", "faceB"),
                "reinforced": rows["us"].to_numpy(),
                "rating": rows["response"].to_numpy(),
                "rating_rt": 1.0,
                "iti": 10.0,
            }
        )[columns]
        log.to_csv(
            folder / f"sub-{participant}_ses-1_task-bench_run-1_events.tsv",
            sep="\t",
            index=False,
            na_rep="n/a",
        )


def run_timed(command: list[str]) -> tuple[float, float]:
    """Run ``command`` in a subprocess; return (wall seconds, peak RSS MiB) of that child
    (its own and its reaped children's largest; :data:`LAST_CPU` gets their CPU seconds)."""
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    error = child.stderr.read().decode()
    child.stderr.close()
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({child.returncode}): {error.strip()}")
    peak = usage.ru_maxrss / 1024 / (1024 if sys.platform == "darwin" else 1)
    LAST_CPU[0] = usage.ru_utime + usage.ru_stime
    return wall, peak


#: CPU seconds (user + system) of the last :func:`run_timed` command and its children.
LAST_CPU = [0.0]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each command (3)")
    parser.add_argument("extra", nargs="*", help="further analyze options (after --)")
    args = parser.parse_args(argv)
    pavlov = str(Path(sys.executable).with_name("pavlov"))
    with tempfile.TemporaryDirectory(prefix="pavlov-bench-") as folder:
        folder = Path(folder)
        trials = simulate(args.participants)
        table = folder / "trials.csv"
        write_table(trials, table)
        write_logs(trials, folder / "data")
        n = trials["participant"].nunique()
        print(f"data: {n} sessions x {len(trials) // n} trials = {len(trials)} rows")
        for label, data in (("trial table", table), ("BIDS logs", folder / "data")):
            walls, peaks, cpus = [], [], []
            for _ in range(args.repeats):
                out = folder / "out"
                shutil.rmtree(out, ignore_errors=True)
                wall, peak = run_timed(
                    [pavlov, "analyze", str(data), "--out", str(out), *args.extra]
                )
                walls.append(wall)
                peaks.append(peak)
                cpus.append(LAST_CPU[0])
            shown = " ".join(f"{w:.2f}" for w in walls)
            print(
                f"pavlov analyze {label:12s} wall {min(walls):6.2f} s best (runs: {shown}); "
                f"peak RSS {max(peaks):5.0f} MiB; CPU {min(cpus):.2f} s   (goal <= 10 s, "
                "<= 1024 MiB)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
