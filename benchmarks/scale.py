"""Benchmark: a simulated study with 1-kHz skin conductance, analysed serially and on Dask.

1. ``pavlov simulate PROTOCOL --participants N --sessions S --data DIR`` (logs, sidecars and
   a 1-kHz skin-conductance recording per session);
2. ``pavlov analyze DIR --out OUT`` pinned to one CPU (``taskset -c 0``: serial), the same
   as typed (forked processes on every CPU), and ``pavlov analyze DIR --out OUT --workers W``
   (a local Dask cluster of W worker processes), each in a subprocess.

Prints wall time, CPU time (user + system, all processes) and peak RSS of each command, the
throughput ratio (serial wall / Dask wall; issue 10 asks ≥ 1.7 with 2 workers on 2 cores),
the CPU ratio (Dask / serial: a proxy that other jobs on the machine do not distort), the
per-session cost, and the time that 10^5 sessions would take on C such workers
(per-session cost × 10^5 / C).

Run: ``.venv/bin/python benchmarks/scale.py [--participants 1000] [--workers 2]``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import analysis as timing
from analysis import run_timed

PROTOCOLS = Path(__file__).resolve().parents[1] / "protocols"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--protocol", default=str(PROTOCOLS / "retrieval_extinction.yaml"))
    parser.add_argument("--session", default="day1")
    parser.add_argument("extra", nargs="*", help="further analyze options (after --)")
    args = parser.parse_args(argv)
    pavlov = str(Path(sys.executable).with_name("pavlov"))
    n = args.participants
    with tempfile.TemporaryDirectory(prefix="pavlov-scale-") as folder:
        data = Path(folder) / "data"
        wall, peak = run_timed(
            [pavlov, "simulate", args.protocol, "--participants", str(n), "--sessions",
             args.session, "--data", str(data)]
        )  # fmt: skip
        size = sum(p.stat().st_size for p in data.rglob("*_physio.tsv.gz")) / 2**20
        print(f"pavlov simulate: {n} sessions in {wall:.1f} s (peak RSS {peak:.0f} MiB; "
              f"{size:.0f} MiB of 1-kHz skin conductance)")  # fmt: skip
        walls, cpus = {}, {}
        # serial: the command pinned to one CPU (it then loads and fits in one process);
        # default: as typed on this machine (forked processes on every CPU it may use)
        runs = (
            ("serial", ["taskset", "-c", "0"], []),
            ("default", [], []),
            (f"{args.workers} workers", [], ["--workers", str(args.workers)]),
        )
        for label, prefix, more in runs:
            out = Path(folder) / "out"
            shutil.rmtree(out, ignore_errors=True)
            command = [*prefix, pavlov, "analyze", str(data), "--out", str(out), *more]
            wall, peak = run_timed([*command, *args.extra])
            walls[label] = wall
            cpu = cpus[label] = timing.LAST_CPU[0]
            print(f"pavlov analyze, {label:10s}: {wall:7.1f} s wall, {cpu:7.1f} s CPU, peak RSS "
                  f"{peak:5.0f} MiB, {wall / n * 1000:6.1f} ms wall per session")  # fmt: skip
    serial, _, parallel = walls.values()
    per_session = serial / n
    print(
        f"throughput ratio (serial / {args.workers} workers): {serial / parallel:.2f} (goal >= 1.7)"
    )
    # Load-independent proxy: the CPU the Dask run spends (all its processes) over the
    # serial run's; W workers can at best reach W / that ratio when the machine is idle.
    cpu_serial, _, cpu_parallel = cpus.values()
    print(
        f"CPU ratio ({args.workers} workers / serial, all processes): "
        f"{cpu_parallel / cpu_serial:.2f}; best possible throughput on {args.workers} idle "
        f"CPUs: {args.workers * cpu_serial / cpu_parallel:.2f}"
    )
    print(f"per-session cost, serial: {per_session * 1000:.0f} ms; 10^5 sessions: "
          f"{per_session * 1e5 / 3600:.1f} h on 1 worker, "
          f"{per_session * 1e5 / 100 / 60:.0f} min on 100 workers")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
