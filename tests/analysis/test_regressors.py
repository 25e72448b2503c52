"""Tests of the fMRI regressor files (pavlov.analysis.fmri) written by `pavlov analyze`, on
scanner sessions played by the runner (onset 0 = first stored volume)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pavlov.analysis.fit import fit_models, regressors
from pavlov.analysis.fmri import lowest_bic_model, regressor_files, summed_bic
from pavlov.analysis.load import load_sessions, load_trials
from pavlov.analysis.models import predict

TASK = "pavlovrev"  # aversive_pavlovian_fmri's task label


def analyze(*argv):
    """`pavlov analyze ...` through the top-level CLI, in process."""
    from pavlov.task.cli import main

    return main(["analyze", *map(str, argv)])


@pytest.fixture(scope="module")
def scans(tmp_path_factory, simulate):
    """Three participants' 7T scan sessions (dummy volumes, then reversal learning)."""
    root = tmp_path_factory.mktemp("scan") / "data"
    for seed, participant in enumerate(("1", "2", "3"), start=1):
        simulate.run(root, "aversive_pavlovian_fmri", participant, "scan", seed=seed)
    return root


@pytest.fixture(scope="module")
def written(scans, tmp_path_factory):
    """`pavlov analyze DATA --out DIR --models rw hybrid` (regressors of every model)."""
    out = tmp_path_factory.mktemp("scan_out") / "out"
    assert analyze(scans, "--out", out, "--models", "rw", "hybrid", "--n-starts", "3",
                   "--no-figures") == 0  # fmt: skip
    return out


def regressor_path(out, participant, model):
    folder = out / "regressors" / f"sub-{participant}" / "ses-scan"
    return folder / f"sub-{participant}_ses-scan_task-{TASK}_run-1_desc-{model}_regressors.tsv"


def read_log(scans, participant):
    path = scans / f"sub-{participant}" / "ses-scan" / "func"
    (events,) = path.glob("*_events.tsv")
    return pd.read_csv(events, sep="\t", na_values="n/a", keep_default_na=False)


def test_one_file_and_sidecar_per_run_and_model(written):
    """Every participant has a TSV + JSON per fitted model, named after its run's log."""
    files = sorted(p.relative_to(written).as_posix() for p in (written / "regressors").rglob("*"))
    files = [f for f in files if f.endswith((".tsv", ".json"))]
    expected = sorted(
        str(regressor_path(written, p, m).relative_to(written).with_suffix(suffix).as_posix())
        for p in ("1", "2", "3")
        for m in ("rw", "hybrid")
        for suffix in (".tsv", ".json")
    )
    assert files == expected


def test_onsets_are_the_logs_cs_and_outcome_times(written, scans):
    """V at each CS onset for the CS duration, δ at the logged US/omission time (duration 0),
    in the log's time base, whose zero is the first stored volume."""
    log = read_log(scans, "1")
    pulses = log[log["trial_type"] == "pulse"]
    assert (pulses["onset"] < 0).any() and (pulses["onset"] == 0).sum() == 1  # dummies first
    table = pd.read_csv(regressor_path(written, "1", "rw"), sep="\t", keep_default_na=False)
    assert list(table.columns) == [
        "onset", "duration", "trial_type", "value", "phase", "trial", "cs", "cs_type",
        "stimulus", "reinforced",
    ]  # fmt: skip
    cs = log[log["trial_type"] == "cs"]
    us = log[log["trial_type"] == "us"]
    assert set(us["event_type"]) == {"USp", "USo", "USm"}
    v = table[table["trial_type"] == "V"]
    delta = table[table["trial_type"] == "delta"]
    np.testing.assert_allclose(v["onset"], cs["onset"], atol=1e-6)
    np.testing.assert_allclose(v["duration"], cs["duration"], atol=1e-6)
    np.testing.assert_allclose(delta["onset"], us["onset"], atol=1e-6)
    assert (delta["duration"] == 0).all()
    assert (
        v[["phase", "trial", "cs"]].values.tolist() == cs[["phase", "trial", "cs"]].values.tolist()
    )
    assert table["onset"].is_monotonic_increasing
    assert set(table["trial_type"]) == {"V", "delta"}  # rw has no informative alpha


def test_values_follow_the_fitted_model(written, scans):
    """V and δ equal an independent run of the fitted rw model over the stimulus sequence;
    hybrid files add the associability."""
    fits = pd.read_csv(written / "model_fits.csv", dtype={"participant": str})
    log = read_log(scans, "2")
    cs = log[log["trial_type"] == "cs"]
    alpha = fits.query("participant == '2' and model == 'rw'")["alpha"].item()
    expected = predict("rw", {"alpha": alpha}, cs["stimulus"], cs["reinforced"])
    table = pd.read_csv(regressor_path(written, "2", "rw"), sep="\t")
    np.testing.assert_allclose(table.loc[table["trial_type"] == "V", "value"], expected["v"], 1e-6)
    np.testing.assert_allclose(
        table.loc[table["trial_type"] == "delta", "value"], expected["delta"], atol=1e-6
    )
    hybrid = pd.read_csv(regressor_path(written, "2", "hybrid"), sep="\t")
    assert hybrid["trial_type"].tolist()[:3] == ["V", "alpha", "delta"]
    alphas = hybrid.loc[hybrid["trial_type"] == "alpha", "value"]
    assert alphas.between(0, 1).all() and alphas.nunique() > 5


def test_sidecar_describes_model_parameters_and_selection(written):
    """The JSON names the model, the participant's parameters, the summed BICs and whether
    this model wins, and describes every TSV column and trial_type level."""
    fits = pd.read_csv(written / "model_fits.csv", dtype={"participant": str})
    sums = fits.groupby("model")["bic"].sum()
    best = sums.idxmin()
    for model in ("rw", "hybrid"):
        path = regressor_path(written, "3", model)
        meta = json.loads(path.with_suffix(".json").read_text())
        row = fits.query("participant == '3' and model == @model").iloc[0]
        assert meta["Model"] == model
        for name, value in meta["Parameters"].items():
            assert value == pytest.approx(row[name])
        assert meta["ModelSelection"]["LowestSummedBIC"] == best
        assert meta["ModelSelection"]["IsLowestSummedBIC"] == (model == best)
        assert meta["ModelSelection"]["SummedBIC"][model] == pytest.approx(sums[model])
        assert meta["FitResponse"] == "rating"
        columns = pd.read_csv(path, sep="\t", nrows=0).columns
        assert all(column in meta for column in columns)
        assert set(meta["trial_type"]["Levels"]) == set(pd.read_csv(path, sep="\t")["trial_type"])
        assert meta["Sources"][0].endswith("sub-3_ses-scan_task-pavlovrev_run-1_events.tsv")
    html = (written / "report.html").read_text()
    assert "fMRI parametric regressors" in html
    assert f"Lowest summed BIC: {best}" in html


def test_best_writes_only_the_winner_and_none_writes_nothing(scans, tmp_path):
    """--regressors best writes the lowest-summed-BIC model only; none writes no folder."""
    out = tmp_path / "best"
    assert analyze(scans, "--out", out, "--models", "rw", "rw2", "--n-starts", "2",
                   "--regressors", "best", "--no-figures") == 0  # fmt: skip
    fits = pd.read_csv(out / "model_fits.csv")
    best = fits.groupby("model")["bic"].sum().idxmin()
    names = {p.name.split("_desc-")[1] for p in (out / "regressors").rglob("*.tsv")}
    assert names == {f"{best}_regressors.tsv"}
    out = tmp_path / "none"
    assert analyze(scans, "--out", out, "--models", "rw", "--n-starts", "2", "--regressors",
                   "none", "--no-figures") == 0  # fmt: skip
    assert not (out / "regressors").exists()


def test_sessions_get_their_own_files_and_learning_carries_over(tmp_path, simulate):
    """Two sessions of one participant: one file each (own time base); day 2's first V is
    what day 1 left, not the initial 0.5; habituation δ sits at CS offset (no US row)."""
    root = tmp_path / "data"
    simulate.run(root, "fear_extinction_recall", "7", "day1", seed=7)
    simulate.run(root, "fear_extinction_recall", "7", "day2", seed=7)
    trials = load_trials(root)
    fits = fit_models(trials, models=("rw",), n_starts=2)
    files, notes = regressor_files(trials, fits, load_sessions(root))
    assert notes == []
    assert [f.path.parent.name for f in files] == ["ses-day1", "ses-day2"]
    day1, day2 = (f.table for f in files)
    full = regressors(trials, fits, "rw")
    last_day1 = full[(full["session"] == "day1") & (full["trial_type"] == "V")]
    first_day2 = day2[day2["trial_type"] == "V"].iloc[0]
    assert first_day2["value"] != pytest.approx(0.5)
    assert first_day2["onset"] < last_day1["onset"].max()  # each run has its own zero
    hab = day1[(day1["phase"] == "habituation")]
    v = hab[hab["trial_type"] == "V"]
    d = hab[hab["trial_type"] == "delta"]
    np.testing.assert_allclose(d["onset"].to_numpy(), (v["onset"] + v["duration"]).to_numpy())


def test_trial_tables_get_a_note_not_files(youth_table, tmp_path):
    """Regressors asked of a trial table (no onsets or task): no files, the report says why."""
    out = tmp_path / "out"
    assert analyze(youth_table, "--out", out, "--response-name", "scr", "--models", "rw",
                   "--n-starts", "1", "--no-figures", "--regressors", "all") == 0  # fmt: skip
    assert not (out / "regressors").exists()
    assert (
        "fMRI regressors not written: they need session logs" in (out / "report.html").read_text()
    )


def test_summed_bic_compares_models_on_the_same_participants():
    """A participant missing a BIC in one model is left out of every model's sum."""
    fits = pd.DataFrame(
        {
            "participant": ["a", "b", "a", "b"],
            "model": ["rw", "rw", "hybrid", "hybrid"],
            "bic": [10.0, 5.0, 8.0, np.nan],
        }
    )
    assert summed_bic(fits) == {"rw": 10.0, "hybrid": 8.0}
    assert lowest_bic_model(fits) == "hybrid"
    assert lowest_bic_model(fits.assign(bic=np.nan)) is None


def test_default_writes_regressors_for_scanner_runs_only(bids_data, scans, tmp_path):
    """By default a behavioural study (beh/ logs) gets no regressor files and a scanner
    study (func/) gets them; --regressors all writes them for behavioural runs too."""
    assert not list(Path(bids_data).rglob("func")) and list(Path(scans).rglob("func"))
    out = tmp_path / "beh"
    assert (
        analyze(bids_data, "--out", out, "--models", "rw", "--n-starts", "1", "--no-figures") == 0
    )
    assert not (out / "regressors").exists()
    out = tmp_path / "scan"
    assert analyze(scans, "--out", out, "--models", "rw", "--n-starts", "1", "--no-figures") == 0
    assert list((out / "regressors").rglob("*_regressors.tsv"))
    out = tmp_path / "all"
    assert analyze(bids_data, "--out", out, "--models", "rw", "--n-starts", "1",
                   "--no-figures", "--regressors", "all") == 0  # fmt: skip
    written = list((out / "regressors").rglob("*_regressors.tsv"))
    assert len(written) == len(list(Path(bids_data).rglob("*_events.tsv")))


def test_hierarchical_fits_give_regressors_from_posterior_means(scans):
    """With a hierarchical fit, V follows the posterior-mean rate, and the sidecar says so,
    with the 94 % HDI and the PSIS-LOO model ranking instead of BIC (no sampling here: the
    fit table is built by hand)."""
    trials = load_trials(scans)
    sessions = load_sessions(scans)
    fits = pd.DataFrame(
        {
            "participant": ["1", "2", "3"],
            "model": "rw",
            "fit": "hierarchical",
            "alpha": [0.2, 0.35, 0.5],
            "alpha_hdi_low": [0.1, 0.2, 0.3],
            "alpha_hdi_high": [0.3, 0.5, 0.7],
            "sigma": 0.1,
            "n_obs": 40,
        }
    )
    fits.attrs.update(
        fit="hierarchical", response="rating", v0=0.5, best_loo="rw", elpd_loo={"rw": -12.5}
    )
    files, notes = regressor_files(trials, fits, sessions)
    assert len(files) == 3 and notes == []
    item = next(f for f in files if f.path.name.startswith("sub-2_"))
    meta = item.sidecar
    assert "hierarchical Bayesian fit" in meta["Description"]
    assert "posterior-mean" in meta["Description"]
    assert meta["Parameters"] == {"alpha": 0.35}
    assert meta["ParameterHDI94"] == {"alpha": [0.2, 0.5]}
    assert meta["ModelSelection"]["Criterion"].startswith("PSIS-LOO")
    assert meta["ModelSelection"]["IsHighestElpdLoo"] is True
    log = read_log(scans, "2")
    cs = log[log["trial_type"] == "cs"]
    expected = predict("rw", {"alpha": 0.35}, cs["stimulus"], cs["reinforced"])
    values = item.table.loc[item.table["trial_type"] == "V", "value"]
    np.testing.assert_allclose(values, expected["v"], atol=1e-6)
