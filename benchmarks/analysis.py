"""Benchmark: 1,000 sessions × 120 trials → learning curves + Rescorla–Wagner fits.

Goal: ≤ 10 s wall on 2 cores and ≤ 1 GiB peak memory for curves (by trial and by block,
participant and group level) plus RW fits to every participant's ratings. Also timed,
outside the goal: indices and loading the same data from 1,000 BIDS events logs.

Run: ``python benchmarks/analysis.py [--participants N] [--starts S] [--no-load]``.
Prints each stage's wall time and the process's peak resident memory.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pavlov.analysis.curves import group_curves, participant_curves
from pavlov.analysis.fit import fit_models
from pavlov.analysis.indices import compute_indices
from pavlov.analysis.load import finish_trials, load_trials

PHASES = (
    ("acquisition", "acquisition", True),
    ("extinction", "extinction", False),
    ("recall", "recall", False),
)
TRIALS_PER_CS = 20  # 3 phases × 2 CSs × 20 = 120 trials


def simulate(n: int, seed: int = 0) -> pd.DataFrame:
    """Tidy trials of ``n`` simulated RW learners (α ~ U(0.05, 0.6), ratings 0–10 + noise)."""
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
    frame = pd.DataFrame(
        {
            "participant": np.repeat([f"{i + 1:04d}" for i in range(n)], order.shape[1]),
            "group": np.repeat(np.where(np.arange(n) % 2, "placebo", "drug"), order.shape[1]),
            "session": "1",
            "phase": phase,
            "phase_type": phase,
            "trial": np.tile(np.tile(np.arange(1, per_phase + 1), 3), n),
            "cs_type": np.where(order.ravel() == 0, "CS+", "CS-"),
            "reinforced": reinforced.ravel(),
            "rating": rating.ravel(),
            "_position": np.tile(np.arange(order.shape[1]), n).astype(float),
        }
    )
    return finish_trials(frame)


def write_logs(trials: pd.DataFrame, root: Path) -> None:
    """Write the trials as BIDS events logs (cs rows only), one per participant."""
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
    for participant, rows in trials.groupby("participant", sort=False):
        folder = root / f"sub-{participant}" / "ses-1" / "beh"
        folder.mkdir(parents=True)
        log = pd.DataFrame(
            {
                "onset": np.arange(len(rows)) * 16.0,
                "duration": 6.0,
                "trial_type": "cs",
                "event_type": np.where(
                    rows["cs_type"] == "CS-", "CSm", np.where(rows["reinforced"], "CSpr", "CSpu")
                ),
                "phase": rows["phase"],
                "phase_type": rows["phase_type"],
                "trial": rows["trial"],
                "cs": rows["cs"],
                "cs_type": rows["cs_type"],
                "stimulus": "n/a",
                "reinforced": rows["reinforced"].astype(int),
                "rating": rows["rating"],
                "rating_rt": 1.0,
                "iti": 10.0,
            }
        )[columns]
        log.to_csv(
            folder / f"sub-{participant}_ses-1_task-bench_events.tsv",
            sep="\t",
            index=False,
            na_rep="n/a",
        )


def peak_rss_mib() -> float:
    """Peak resident set size of this process, MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / (1024 if sys.platform == "darwin" else 1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=1000)
    parser.add_argument("--starts", type=int, default=10, help="fit starts per participant")
    parser.add_argument("--no-load", action="store_true", help="skip the BIDS loading stage")
    args = parser.parse_args(argv)

    trials = simulate(args.participants)
    print(
        f"data: {trials['participant'].nunique()} sessions x "
        f"{len(trials) // trials['participant'].nunique()} trials = {len(trials)} rows"
    )
    timings = {}
    start = time.perf_counter()
    for by in ("trial", "block"):
        per = participant_curves(trials, "rating", by=by, block_size=2)
        group_curves(per)
    timings["curves (trial + block, participant + group)"] = time.perf_counter() - start
    mark = time.perf_counter()
    fits = fit_models(trials, models=("rw",), response="rating", n_starts=args.starts, seed=0)
    timings[f"RW fits ({args.starts} starts)"] = time.perf_counter() - mark
    goal = time.perf_counter() - start
    mark = time.perf_counter()
    compute_indices(trials, "rating", k=2)
    timings["indices (not in goal)"] = time.perf_counter() - mark
    if not args.no_load:
        with tempfile.TemporaryDirectory() as folder:
            write_logs(trials, Path(folder))
            mark = time.perf_counter()
            loaded = load_trials(folder)
            timings[f"load {args.participants} BIDS logs (not in goal)"] = (
                time.perf_counter() - mark
            )
            assert len(loaded) == len(trials)
    for name, seconds in timings.items():
        print(f"{name:48s} {seconds:7.2f} s")
    print(f"{'curves + RW fits (goal <= 10 s)':48s} {goal:7.2f} s")
    print(f"{'peak RSS (goal <= 1024 MiB)':48s} {peak_rss_mib():7.0f} MiB")
    print(
        f"fitted {fits['alpha'].notna().sum()} participants; median alpha "
        f"{fits['alpha'].median():.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
