"""Scale-out of ``pavlov analyze`` on Dask: per-run work on a cluster's workers.

The participant level of a study is independent run by run: reading an events log,
scoring its skin-conductance recording (the costly part at 1 kHz), turning it into trial
rows. With ``--workers N`` (a local cluster of N worker processes) or ``--scheduler
ADDRESS`` (an existing Dask scheduler, e.g. one that ``dask-jobqueue`` started on a SLURM
cluster), each run is one task (:func:`pavlov.analysis.load.load_run`) whose result is
written as Parquet under ``OUT/derivatives/runs/`` by the worker; the client reads the
small per-run tables back and builds the group outputs exactly as the serial command does
(:func:`pavlov.analysis.load.combine_runs`), so the results are identical. Each learning
model is fitted on a worker too (the models' fits are independent and seeded per model).

``OUT`` must be on a file system that the workers and the client share (on a cluster, the
project or scratch space, not a node's ``/tmp``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from pavlov.analysis.errors import AnalysisError

__all__ = ["RUNS_FOLDER", "cluster", "fit_models", "load_study"]

#: Where the per-run derivatives go, under the output folder.
RUNS_FOLDER = Path("derivatives") / "runs"


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


def _run_task(log, rank: int, folder: str, scoring=None) -> tuple[str, str | None]:
    """On a worker: load one run, write its trial (and rating) rows as Parquet."""
    from pavlov.analysis.frame import python_strings
    from pavlov.analysis.load import load_run

    python_strings()  # as the client does (the same values, less overhead)

    trials, ratings = load_run(log, rank, scoring=scoring)
    base = Path(folder) / log.stem
    trials_path = f"{base}_trials.parquet"
    _write_parquet(trials, trials_path)
    ratings_path = None
    if ratings is not None:
        ratings_path = f"{base}_ratings.parquet"
        _write_parquet(ratings, ratings_path)
    return trials_path, ratings_path


def _write_parquet(frame: pd.DataFrame, path: str) -> None:
    # written beside, then renamed: a half-written derivative never has the final name
    temp = f"{path}.{os.getpid()}.tmp"
    frame.to_parquet(temp, index=False)
    os.replace(temp, path)


def load_study(
    path: str | Path,
    out: str | Path,
    client,
    response_name: str = "rating",
    scoring: dict | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`pavlov.analysis.load.load_study` with each run loaded on a Dask worker.

    Writes ``OUT/derivatives/runs/<run>_trials.parquet`` (and ``_ratings.parquet``) per
    run. Trial tables have nothing to distribute and are read here.
    """
    from pavlov.analysis import load

    if load.is_trial_table(path):
        return load.load_study(path, response_name)
    logs = load.find_logs(path)
    ranks = load._session_ranks(logs)
    folder = Path(out) / RUNS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    futures = client.map(
        _run_task,
        logs,
        [ranks[log] for log in logs],
        [str(folder)] * len(logs),
        [scoring] * len(logs),
        pure=False,
        key=[f"pavlov-run-{log.stem}" for log in logs],
    )
    runs = []
    for trials_path, ratings_path in client.gather(futures):
        trials = pd.read_parquet(trials_path)
        ratings = pd.read_parquet(ratings_path) if ratings_path else None
        runs.append((trials, ratings))
    groups = load.read_groups(load.find_participants_tsv(Path(path)))
    return load.combine_runs(runs, groups, path)


def fit_models(client, trials: pd.DataFrame, **options) -> pd.DataFrame:
    """:func:`pavlov.analysis.fit.fit_models` with each model fitted on a Dask worker
    (each model's starts are seeded by the seed and the model: the same fits)."""
    from pavlov.analysis import fit

    models = tuple(options.pop("models"))
    futures = [
        client.submit(fit.fit_models, trials, models=(model,), workers=1, pure=False, **options)
        for model in models
    ]
    parts = client.gather(futures)
    return fit.combine_fits(parts, models)
