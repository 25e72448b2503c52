"""End to end: runner logs + synthetic skin conductance → `pavlov analyze` scores SCR, flags
US non-responders and fits the models to SCR; also a CSV recording given with --physio."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from pavlov.analysis.load import load_trials, read_events
from pavlov.analysis.physio import write_physio

#: Participant → US response amplitude (µS); sub-4 does not respond to the US.
US_AMPLITUDE = {"1": 1.0, "2": 0.8, "3": 1.2, "4": 0.0}
FS = 100.0


@pytest.fixture(scope="module")
def study(tmp_path_factory, simulate):
    """Four participants of fear_extinction_recall day1 played by the runner, each with a
    100-Hz SCR recording (StartTime -5 s) beside the log as BIDS physio."""
    root = tmp_path_factory.mktemp("physio") / "data"
    recordings = {}
    for number, participant in enumerate(US_AMPLITUDE, start=1):
        paths = simulate.run(root, "fear_extinction_recall", participant, "day1", seed=number)
        events = read_events(paths.events)
        sc, start = simulate.scr(
            events, fs=FS, start=-5.0, us=US_AMPLITUDE[participant], seed=number
        )
        stem = paths.events.name[: -len("_events.tsv")]
        target = paths.directory / f"{stem}_recording-scr_physio.tsv.gz"
        write_physio(target, {"scr": sc}, FS, start_time=start, units={"scr": "uS"})
        recordings[participant] = (paths, sc, start)
    return root, recordings


def run_pavlov(*args, home):
    """`python -m pavlov.task.cli ...` as a real process."""
    env = dict(os.environ, HOME=str(home))
    return subprocess.run(
        [sys.executable, "-m", "pavlov.task.cli", *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def analysed(study, tmp_path_factory):
    """`pavlov analyze DATA --out DIR` on the study, run once as a subprocess."""
    root, _ = study
    out = tmp_path_factory.mktemp("physio_out") / "out"
    home = tmp_path_factory.mktemp("home")
    done = run_pavlov(
        "analyze", root, "--out", out, "--models", "rw", "hybrid", "--n-starts", "3",
        "--no-figures", home=home,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out, done


def test_scr_column_is_scored_from_the_recording(study):
    """Every CS trial inside the recording gets an SCR; CS+ in acquisition ≈ its 0.5 µS."""
    root, _ = study
    trials = load_trials(root)
    assert len(trials) == 4 * 40
    assert trials["scr"].notna().mean() > 0.95
    acq = trials[trials["phase"] == "acquisition"]
    plus = acq.loc[acq["cs_type"] == "CS+", "scr"]
    assert plus.median() == pytest.approx(0.5, rel=0.25)
    reinforced = trials[trials["reinforced"]]
    assert reinforced["us_scr"].notna().all()
    assert trials.loc[~trials["reinforced"], "us_scr"].isna().all()


def test_recording_is_read_once_per_run(study, monkeypatch):
    """score_physio reads each recording once for both the CS and the US scores."""
    from pavlov.analysis import physio, scr

    root, _ = study
    calls = []
    original = physio.read_physio

    def counting(path):
        calls.append(path)
        return original(path)

    monkeypatch.setattr(physio, "read_physio", counting)
    monkeypatch.setattr(scr, "read_physio", counting)
    load_trials(root / "sub-1")
    assert len(calls) == 1


def test_cs_plus_exceeds_cs_minus_in_acquisition(analysed):
    """curves_by_block.csv (SCR chosen by default) shows CS+ > CS- in every acquisition block."""
    out, done = analysed
    assert "response scr" in done.stdout
    curves = pd.read_csv(out / "curves_by_block.csv", keep_default_na=False)
    acq = curves[curves["phase"] == "acquisition"].pivot(
        index="block", columns="cs_type", values="mean"
    )
    assert len(acq) >= 2
    assert (acq["CS+"] > acq["CS-"] + 0.2).all()
    hab = curves[curves["phase"] == "habituation"].pivot(
        index="block", columns="cs_type", values="mean"
    )
    assert (hab["CS+"] - hab["CS-"]).abs().max() < 0.15  # same orienting response before learning


def test_us_nonresponder_flag_comes_from_us_responses(analysed):
    """The participant without US responses, and only that one, is flagged and excluded."""
    out, _ = analysed
    flags = pd.read_csv(out / "exclusion_flags.csv", dtype={"participant": str})
    flags = flags.set_index("participant")
    assert flags.loc["4", "us_nonresponder"] in (True, "True")
    assert flags.loc["4", "us_valid_share"] == 0
    for participant in ("1", "2", "3"):
        assert flags.loc[participant, "us_valid_share"] == 1
        assert flags.loc[participant, "us_nonresponder"] in (False, "False")
    assert flags.loc["4", "excluded"] in (True, "True")
    assert (flags.loc[["1", "2", "3"], "us_trials"] == 5).all()


def test_models_are_fitted_to_scr(analysed):
    """model_fits.csv has SCR fits (β columns) for every participant and both models, and
    the V weight is positive (CS+ responses track the learned value)."""
    out, _ = analysed
    fits = pd.read_csv(out / "model_fits.csv", dtype={"participant": str})
    assert set(fits["model"]) == {"rw", "hybrid"}
    assert sorted(set(fits["participant"])) == ["1", "2", "3", "4"]
    assert {"beta0", "beta_v", "beta_alpha"} <= set(fits.columns)
    assert fits["bic"].notna().all()
    assert (fits.loc[fits["model"] == "rw", "beta_v"] > 0).all()
    html = (out / "report.html").read_text()
    assert "trough-to-peak in the first interval response window" in html


def test_csv_recording_with_stated_rate(study, tmp_path, capsys):
    """--physio CSV --sampling-rate --physio-start --scr-column scores one run's SCR like the
    BIDS recording did (same samples, same time base)."""
    from pavlov.task.cli import main

    _, recordings = study
    paths, sc, start = recordings["1"]
    run = tmp_path / "run"
    run.mkdir()
    events = run / paths.events.name
    shutil.copy(paths.events, events)  # the log alone, without its BIDS recording
    csv = tmp_path / "export.csv"
    exported = pd.DataFrame({"time": start + np.arange(sc.size) / FS, "EDA": sc})
    exported.to_csv(csv, index=False, float_format="%.6f")
    args = ["--sampling-rate", "100", "--physio-start", "-5", "--scr-column", "EDA"]
    args += ["--scr-transform", "none"]  # compare the scores themselves
    out = tmp_path / "out"
    code = main(["analyze", str(events), "--out", str(out), "--physio", str(csv), *args,
                 "--models", "--no-figures"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    from_csv = pd.read_csv(out / "participants_by_trial.csv")
    from_csv = from_csv[from_csv["cs_type"] != "diff"]
    bids = load_trials(paths.events)
    assert from_csv["mean"].notna().sum() == bids["scr"].notna().sum() == 40
    by_trial = bids.groupby(["phase", "cs_type", "cs_trial"])["scr"].mean()
    got = from_csv.set_index(["phase", "cs_type", "trial"])["mean"]
    np.testing.assert_allclose(
        got.sort_index().to_numpy(),
        by_trial.rename_axis(["phase", "cs_type", "trial"]).sort_index().to_numpy(),
        atol=1e-4,
    )


def test_csv_without_rate_is_one_line(study, tmp_path, capsys):
    """A CSV recording without --sampling-rate is refused in one line, exit 2."""
    from pavlov.task.cli import main

    _, recordings = study
    paths, _, _ = recordings["2"]
    csv = tmp_path / "rec.csv"
    csv.write_text("scr\n5.0\n5.1\n")
    code = main(["analyze", str(paths.events), "--out", str(tmp_path / "o"), "--physio", str(csv)])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"pavlov: --physio {csv}: expected --sampling-rate HZ for a CSV recording "
                   "(the file does not say its rate)"]  # fmt: skip


def test_physio_for_several_runs_is_refused(study, tmp_path):
    """--physio names one run's recording; a folder of four runs is an error."""
    from pavlov.analysis.errors import AnalysisError
    from pavlov.analysis.physio import Physio

    root, _ = study
    recording = Physio(pd.DataFrame({"scr": [5.0, 5.0]}), 10.0)
    with pytest.raises(AnalysisError, match="belongs to one run, got 4 events logs"):
        load_trials(root, physio=recording)


def test_sidecar_json_is_bids(study):
    """The recording's sidecar has the REQUIRED BIDS keys with a negative StartTime."""
    _, recordings = study
    paths, _, _ = recordings["1"]
    (sidecar,) = paths.directory.glob("*_recording-scr_physio.json")
    meta = json.loads(sidecar.read_text())
    assert meta["SamplingFrequency"] == FS
    assert meta["StartTime"] == -5.0
    assert meta["Columns"] == ["scr"]


def _participant_trials(out):
    per = pd.read_csv(out / "participants_by_trial.csv", dtype={"participant": str})
    per = per[per["cs_type"] != "diff"]
    return per.set_index(["participant", "phase", "cs_type", "trial"])["mean"].sort_index()


def test_scr_options_reach_the_scoring(study, tmp_path):
    """--scr-method, --scr-window and --scr-transform change the scores analyze uses, to
    what score_events gives with those settings; the report's methods say which."""
    from pavlov.analysis.scr import score_events
    from pavlov.task.cli import main

    root, recordings = study
    base = ["analyze", str(root), "--models", "--no-figures"]
    outs = {}
    for name, extra in (
        ("default", []),
        ("raw", ["--scr-transform", "none"]),
        ("btp", ["--scr-method", "baseline", "--scr-transform", "none"]),
        ("window", ["--scr-window", "0.5,4.5", "--scr-transform", "none"]),
    ):
        outs[name] = tmp_path / name
        assert main([*base, "--out", str(outs[name]), *extra]) == 0
    raw = _participant_trials(outs["raw"])
    # sub-4 has no US response, so the default is the square root alone
    np.testing.assert_allclose(_participant_trials(outs["default"]), np.sqrt(raw), atol=1e-9)
    html = (outs["default"] / "report.html").read_text()
    assert "SCR transform" in html and "Lonsdorf et al. 2017" in html
    assert "baseline-to-peak" in (outs["btp"] / "report.html").read_text()
    paths, _, _ = recordings["1"]
    events = read_events(paths.events)
    cs = events[events["trial_type"] == "cs"]
    physio_file = paths.directory / (
        paths.events.name[: -len("_events.tsv")] + "_recording-scr_physio.tsv.gz"
    )
    for name, kwargs in (
        ("btp", {"method": "btp"}),
        ("window", {"window": (0.5, 4.5)}),
    ):
        expected = score_events(cs, physio_file, **kwargs).to_numpy()
        got = _participant_trials(outs[name]).loc["1"]
        by_trial = pd.Series(expected, index=pd.MultiIndex.from_arrays(
            [cs["phase"], cs["cs_type"], cs.groupby(["phase", "cs"]).cumcount() + 1]
        )).sort_index()  # fmt: skip
        np.testing.assert_allclose(got.to_numpy(), by_trial.dropna().to_numpy(), atol=1e-9)
        assert not np.allclose(got.to_numpy(), raw.loc["1"].to_numpy())
