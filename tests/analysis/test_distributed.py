"""Tests of pavlov.analysis.distributed: `pavlov analyze` on a real local Dask cluster."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import pytest

from pavlov.analysis.cli import register
from testdata import require_module

require_module("dask.distributed", "dask")

PROTOCOLS = Path(__file__).resolve().parents[2] / "protocols"


def analyze(*argv):
    parser = argparse.ArgumentParser(prog="pavlov")
    register(parser.add_subparsers())
    args = parser.parse_args(["analyze", *map(str, argv)])
    return args.func(args)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Eight simulated participants of retrieval-extinction day 1, two groups, with 1-kHz
    skin conductance (so the workers score SCR)."""
    from pavlov.protocols import build_schedule, load_protocol
    from pavlov.task.simulate import write_session

    root = tmp_path_factory.mktemp("study") / "data"
    protocol = load_protocol(PROTOCOLS / "retrieval_extinction.yaml")
    for i in range(1, 9):
        schedule = build_schedule(protocol, f"{i:02d}", "day1")
        write_session(root, protocol, schedule, effect=0.5 * (i % 2))
    return root


OPTIONS = ("--models", "rw", "hybrid", "--n-starts", "2", "--no-figures")


@pytest.fixture(scope="module")
def serial(study, tmp_path_factory):
    """The serial command's output folder."""
    out = tmp_path_factory.mktemp("serial") / "out"
    assert analyze(study, "--out", out, *OPTIONS) == 0
    return out


def outputs(folder: Path) -> dict[str, pd.DataFrame]:
    return {p.name: pd.read_csv(p, keep_default_na=False) for p in sorted(folder.glob("*.csv"))}


def test_local_cluster_gives_the_serial_results(study, serial, tmp_path):
    """--workers 2 (a local cluster of two worker processes) writes per-run Parquet
    derivatives and exactly the serial command's tables (SCR scored on the workers)."""
    parallel = tmp_path / "parallel"
    assert analyze(study, "--out", parallel, "--workers", "2", *OPTIONS) == 0
    runs = sorted((parallel / "derivatives" / "runs").glob("*_trials.parquet"))
    assert len(runs) == 8
    assert pd.read_parquet(runs[0])["scr"].notna().any()
    a, b = outputs(serial), outputs(parallel)
    assert list(a) == list(b) and "model_fits.csv" in a
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, obj=name)


def test_existing_scheduler_is_used(study, serial, tmp_path):
    """--scheduler ADDRESS sends the work to a running scheduler (here one with two worker
    processes, as dask-jobqueue would start) and gives the serial results."""
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:  # fmt: skip
        out = tmp_path / "remote"
        address = cluster.scheduler_address
        assert analyze(study, "--out", out, "--scheduler", address, *OPTIONS) == 0
    for name, frame in outputs(serial).items():
        pd.testing.assert_frame_equal(frame, outputs(out)[name], obj=name)


def test_batch_size_keeps_many_tasks_per_worker_and_few_runs_per_task():
    """Runs per task: one for a small study, about n / (16 x threads) for a larger one,
    never more than MAX_BATCH (so the last tasks leave no worker idle for long)."""
    from pavlov.analysis.distributed import MAX_BATCH, batch_size

    assert batch_size(8, 2) == 1
    assert batch_size(200, 2) == 6
    assert batch_size(1000, 2) == MAX_BATCH == 16
    assert batch_size(10**5, 100) == 16
    assert batch_size(0, 0) == 1


def _worker_settings():
    import os

    import dask

    return os.environ.get("MALLOC_TRIM_THRESHOLD_"), dask.config.get(
        "distributed.worker.profile.enabled"
    )


def test_local_workers_keep_default_malloc_and_batches_give_the_serial_frames(
    study, tmp_path, monkeypatch
):
    """A local cluster's workers run without Dask's MALLOC_TRIM_THRESHOLD_ (which made
    every large array a fresh mmap) and without the sampling profiler; runs loaded three
    to a task give exactly the serial trial and ratings frames."""
    from pavlov.analysis import load
    from pavlov.analysis.distributed import cluster, load_study

    # a Dask nanny started earlier in this process (the test above) leaves the variable in
    # os.environ, which workers would inherit; a command starts from the user's environment
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    with cluster(workers=2) as client:
        assert set(client.run(_worker_settings).values()) == {(None, False)}
        trials, ratings = load_study(study, tmp_path / "out", client, batch=3)
    expected_trials, expected_ratings = load.load_study(study)
    pd.testing.assert_frame_equal(trials, expected_trials, check_exact=True)
    pd.testing.assert_frame_equal(ratings, expected_ratings, check_exact=True)
    assert len(list((tmp_path / "out" / "derivatives" / "runs").glob("*_trials.parquet"))) == 8


def test_fits_start_on_the_workers_in_pieces_and_equal_the_serial_fits(study):
    """start_fits sends each model's participants to the workers as soon as it is called,
    the hybrid in four pieces and rw in one, and gives exactly the one-process fits."""
    from pavlov.analysis import load
    from pavlov.analysis.distributed import cluster, start_fits
    from pavlov.analysis.fit import fit_models

    trials, _ = load.load_study(study)
    options = {"models": ("rw", "hybrid"), "response": "scr", "n_starts": 2, "seed": 4}
    with cluster(workers=2) as client:
        pending = start_fits(client, trials, **options)
        futures = list(pending._async.values())
        assert len(futures) == 5  # rw: 1 piece, hybrid: 4
        assert all(f.status in ("pending", "finished") for f in futures)  # running already
        fits = pending.result()
    expected = fit_models(trials, workers=1, **options)
    # the same numbers; text columns may differ in string storage (pyarrow on a fresh worker)
    pd.testing.assert_frame_equal(fits, expected, check_exact=True, check_dtype=False)
