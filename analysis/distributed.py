"""Scale-out of ``pavlov analyze`` on Dask: per-run work on a cluster's workers.

The participant level of a study is independent run by run: reading an events log,
scoring its skin-conductance recording (the costly part at 1 kHz), turning it into trial
rows. With ``--workers N`` (a local cluster of N worker processes) or ``--scheduler
ADDRESS`` (an existing Dask scheduler, e.g. one that ``dask-jobqueue`` started on a SLURM
cluster), runs are loaded in batches, one batch per task
(:func:`pavlov.analysis.load.load_run` per run); the worker writes each run's tables as
Parquet under ``OUT/derivatives/runs/`` and returns them, and the client builds the group
outputs from them exactly as the serial command does
(:func:`pavlov.analysis.load.combine_runs`), so the results are identical. The learning
models are fitted on the workers too, started before the group outputs are computed and cut
into pieces of about equal cost (each participant's starts are seeded by the seed and the
model).

``OUT`` must be on a file system that the workers and the client share (on a cluster, the
project or scratch space, not a node's ``/tmp``).
"""

from __future__ import annotations

import contextlib
import os
import typing
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from pavlov.analysis.errors import AnalysisError

if typing.TYPE_CHECKING:
    from pavlov.analysis.load import LogFile

__all__ = [
    "LOCAL_WORKER_CONFIG",
    "RUNS_FOLDER",
    "batch_size",
    "cluster",
    "fit_models",
    "load_study",
    "start_fits",
]

#: Where the per-run derivatives go, under the output folder.
RUNS_FOLDER = Path("derivatives") / "runs"

#: Dask settings of the workers of a local cluster (``--workers``).
#:
#: - ``MALLOC_TRIM_THRESHOLD_`` is not set in the workers' environment (Dask sets it to
#:   64 KiB by default). Setting it turns off glibc's adaptive mmap threshold, so every
#:   array over 128 KiB (a run's 1-kHz recording holds several MiB) is mapped fresh and
#:   unmapped when freed: measured ~3x the page faults and +44 ms of system CPU per run
#:   compared with the serial command. Workers then keep glibc's defaults, as the serial
#:   command does.
#: - The workers' statistical profiler (a thread sampling every task's stack every
#:   10 ms, for the dashboard, which a local run does not show) is off.
LOCAL_WORKER_CONFIG = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.worker.profile.enabled": False,
}


@contextlib.contextmanager
def cluster(workers: int | None = None, scheduler: str | None = None) -> Iterator[object]:
    """A ``dask.distributed.Client``: of a new local cluster of ``workers`` processes (one
    thread each), or of the scheduler at ``scheduler``; closed on exit.

    Raises
    ------
    AnalysisError
        Dask is not installed, or the scheduler cannot be reached.
    """
    try:
        import dask
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise AnalysisError(
            "--workers/--scheduler: Dask is not installed; pip install 'pavlov[dask]'"
        ) from None
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as error:
            raise AnalysisError(
                f"--scheduler {scheduler}: cannot reach the Dask scheduler ({error})"
            ) from None
        try:
            yield client
        finally:
            client.close()
        return
    # Workers are single-threaded processes: the per-run work is Python and numpy on
    # small arrays, which threads would serialise on the GIL.
    with dask.config.set(LOCAL_WORKER_CONFIG):
        local = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=40,
        )
    client = Client(local)
    try:
        yield client
    finally:
        client.close()
        local.close()


def _run_task(
    items: list[tuple[LogFile, int]], folder: str, scoring=None
) -> list[tuple[pd.DataFrame, pd.DataFrame | None]]:
    """On a worker: load a batch of runs; write each run's trial (and rating) rows as
    Parquet and return the frames themselves (the client then reads nothing back)."""
    from pavlov.analysis.frame import python_strings
    from pavlov.analysis.load import load_run

    python_strings()  # as the client does (the same values, less overhead)
    runs = []
    for log, rank in items:
        trials, ratings = load_run(log, rank, scoring=scoring)
        base = Path(folder) / log.stem
        _write_parquet(trials, f"{base}_trials.parquet")
        if ratings is not None:
            _write_parquet(ratings, f"{base}_ratings.parquet")
        runs.append((trials, ratings))
    return runs


def _write_parquet(frame: pd.DataFrame, path: str) -> None:
    # written beside, then renamed: a half-written derivative never has the final name
    temp = f"{path}.{os.getpid()}.tmp"
    frame.to_parquet(temp, index=False)
    os.replace(temp, path)


#: Most runs in one Dask task. A task costs the scheduler, the worker and the client a few
#: milliseconds and a run ~0.1 s at 1 kHz, so runs go in batches; small enough batches that
#: the last ones leave no worker idle for long.
MAX_BATCH = 16


def batch_size(n_runs: int, n_threads: int) -> int:
    """Runs per task: about 16 tasks per worker thread, at most :data:`MAX_BATCH`."""
    return max(1, min(MAX_BATCH, n_runs // (16 * max(1, n_threads))))


def load_study(
    path: str | Path,
    out: str | Path,
    client,
    response_name: str = "rating",
    scoring: dict | None = None,
    batch: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`pavlov.analysis.load.load_study` with the runs loaded on Dask workers.

    Writes ``OUT/derivatives/runs/<run>_trials.parquet`` (and ``_ratings.parquet``) per
    run. Trial tables have nothing to distribute and are read here. ``batch`` runs go in
    one task (default: :func:`batch_size` for the cluster's worker threads).
    """
    from pavlov.analysis import load

    if load.is_trial_table(path):
        return load.load_study(path, response_name)
    logs = load.find_logs(path)
    ranks = load._session_ranks(logs)
    folder = Path(out) / RUNS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    size = batch or batch_size(len(logs), sum(client.nthreads().values()))
    batches = [[(log, ranks[log]) for log in logs[i : i + size]] for i in range(0, len(logs), size)]
    futures = client.map(
        _run_task,
        batches,
        [str(folder)] * len(batches),
        [scoring] * len(batches),
        pure=False,
        key=[f"pavlov-runs-{batch[0][0].stem}" for batch in batches],
    )
    runs = [run for batch in client.gather(futures) for run in batch]
    groups = load.read_groups(load.find_participants_tsv(Path(path)))
    return load.combine_runs(runs, groups, path)


def fit_models(client, trials: pd.DataFrame, **options) -> pd.DataFrame:
    """:func:`pavlov.analysis.fit.fit_models` with the fits run as tasks on Dask workers
    (:func:`start_fits`; the same fits)."""
    return start_fits(client, trials, **options).result()


def start_fits(client, trials: pd.DataFrame, **options):
    """:func:`pavlov.analysis.fit.start_fits` on a Dask cluster: each model's participants
    go to the workers in pieces of about equal cost (the hybrid in four), started at once
    so that they run while the client computes the group outputs. A participant's fit is
    the same in any piece (its starts are seeded by the seed and the model), so the
    results equal the serial command's."""
    from pavlov.analysis import fit

    return fit.start_fits(trials, client=client, **options)
