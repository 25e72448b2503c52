"""Benchmark: hierarchical hybrid fit of 100 participants × 120 trials, 4 chains × 1,000 draws.

Times ``pavlov analyze TABLE --fit hierarchical --models hybrid`` as a user types it, in a
subprocess: wall time, CPU time (a guide to an idle machine's wall time when the machine is
shared) and the child's peak resident memory. The whole command runs (loading,
curves, statistics, the maximum-likelihood fits and the report), so the figure is what a user
waits for; the sampler's own time (compilation, warm-up and draws) is read back from
``model_diagnostics.csv``.

Data: simulated hybrid learners (κ, η, α0 ~ U(0.05, 0.95)) on a reversal design of 120
trials (acquisition and reversal, 30 trials per CS each, CS+ reinforced on 1/3 of its
trials), SCR = 0.2 + 0.5·V + 1·α + N(0, 0.4²) (the settings of ``pavlov recover``).

Run: ``python benchmarks/hierarchical.py [--participants 100] [--chains 4] [--draws 1000]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pavlov.analysis.models import run_model

PER_CS = 30  # 2 phases × 2 CSs × 30 = 120 trials


def simulate(n: int, seed: int = 0) -> pd.DataFrame:
    """A trial table of ``n`` simulated hybrid learners on a 120-trial reversal design."""
    rng = np.random.default_rng(seed)
    rows = []
    cues, outcomes, plus = [], [], []
    for _ in range(n):
        face, us, cs_plus, phase, trial = [], [], [], [], []
        for stage, threat in (("acquisition", "faceA"), ("reversal", "faceB")):
            order = rng.permutation(np.repeat(["faceA", "faceB"], PER_CS))
            shocked = set(rng.choice(np.flatnonzero(order == threat), PER_CS // 3, replace=False))
            for t, f in enumerate(order):
                face.append(f)
                us.append(int(t in shocked))
                cs_plus.append(f == threat)
                phase.append(stage)
                trial.append(t + 1)
        cues.append([0 if f == "faceA" else 1 for f in face])
        outcomes.append(us)
        plus.append(cs_plus)
        rows.append((face, us, cs_plus, phase, trial))
    truth = {k: rng.uniform(0.05, 0.95, n) for k in ("kappa", "eta", "alpha0")}
    trace = run_model("hybrid", truth, np.array(cues), np.array(outcomes, dtype=float))
    scr = 0.2 + 0.5 * trace.v + 1.0 * trace.alpha + rng.normal(0.0, 0.4, trace.v.shape)
    frames = []
    for p, (face, us, cs_plus, phase, trial) in enumerate(rows):
        frames.append(
            pd.DataFrame(
                {
                    "participant": f"s{p + 1:03d}",
                    "phase": phase,
                    "trial": trial,
                    "cs_type": np.where(cs_plus, "CS+", "CS-"),
                    "stimulus": face,
                    "us": us,
                    "response": scr[p],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=100)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=1000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        table = Path(folder) / "trials.csv"
        simulate(args.participants).to_csv(table, index=False)
        out = Path(folder) / "out"
        pavlov = Path(sys.executable).with_name("pavlov")
        command = [
            str(pavlov),
            "analyze",
            str(table),
            "--out",
            str(out),
            "--response-name",
            "scr",
            "--models",
            "hybrid",
            "--fit",
            "hierarchical",
            "--chains",
            str(args.chains),
            "--draws",
            str(args.draws),
            "--warmup",
            str(args.warmup),
            "--regressors",
            "none",
        ]
        load = os.getloadavg()
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        peak = usage.ru_maxrss / 1024
        cpu = usage.ru_utime + usage.ru_stime
        diagnostics = pd.read_csv(out / "model_diagnostics.csv")
    row = diagnostics.iloc[0]
    print(
        f"{args.participants} participants x {4 * PER_CS} trials, hybrid, {args.chains} chains "
        f"x {args.draws} draws ({args.warmup} warm-up)"
    )
    print(
        f"pavlov analyze --fit hierarchical: {wall:.1f} s wall, {cpu:.1f} s CPU (user + "
        f"system, all threads), peak RSS {peak:.0f} MiB; load average before/after "
        f"{load[0]:.1f}/{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print(
        f"sampler (compile + warm-up + draws): {row['seconds']:.1f} s; max R-hat "
        f"{row['max_rhat']:.3f} ({row['worst_rhat']}), min bulk ESS "
        f"{row['min_ess_bulk']:.0f}, {int(row['divergences'])} divergences"
    )
    print(
        f"sampler cost (independent of load): {row['steps_per_draw']:.1f} leapfrog steps "
        f"(gradient evaluations) per draw and chain, max tree depth "
        f"{int(row['max_tree_depth'])}, step size {row['step_size']:.3f}; compilation "
        f"{row['compile_seconds']:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
