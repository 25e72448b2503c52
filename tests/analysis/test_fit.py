"""Tests for pavlov.analysis.fit: per-participant MLE fits, BIC, regressors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pavlov.analysis.fit import FitError, fit_models, regressors
from pavlov.analysis.models import MODELS, predict, run_model


def make_trials(n, model="rw", response="rating", seed=0, n_trials=60, noise=None):
    """Simulated tidy trial frame on a 2-CS acquisition (50 % CS+ reinforced) + extinction."""
    rng = np.random.default_rng(seed)
    truth = {name: rng.uniform(0.05, 0.95, n) for name in MODELS[model]}
    half = n_trials // 2
    cs = np.array([rng.permutation(["CS+", "CS-"] * half) for _ in range(n)])
    plus = cs == "CS+"
    reinforced = plus & (rng.random((n, n_trials)) < 0.5) & (np.arange(n_trials) < 0.6 * n_trials)
    trace = run_model(model, truth, plus.astype(int), reinforced.astype(float), plus=plus)
    if response == "rating":
        noise = 0.15 if noise is None else noise
        y = np.round(np.clip(trace.v + rng.normal(0, noise, trace.v.shape), 0, 1) * 10)
    else:
        noise = 0.4 if noise is None else noise
        x = trace.v + (trace.alpha if model == "hybrid" else 0.0)
        y = 0.2 + x + rng.normal(0, noise, trace.v.shape)
    frame = pd.DataFrame(
        {
            "participant": np.repeat([f"p{i}" for i in range(n)], n_trials),
            "session": "day1",
            "phase": np.tile(np.where(np.arange(n_trials) < 0.6 * n_trials, "acq", "ext"), n),
            "trial": np.tile(np.arange(1, n_trials + 1), n),
            "cs": cs.ravel(),
            "cs_type": cs.ravel(),
            "reinforced": reinforced.ravel(),
            response: y.ravel(),
            "onset": np.tile(np.arange(n_trials) * 20.0, n),
            "duration": 6.0,
            "us_onset": 5.5,
        }
    )
    return frame, pd.DataFrame(truth, index=[f"p{i}" for i in range(n)])


def _profiled_loglik(model, params, frame, response, scale=10.0):
    """Log-likelihood at given parameters (sigma and beta at their optimum), per participant."""
    out = {}
    for pid, part in frame.groupby("participant", sort=False):
        p = {n: params.loc[pid, n] for n in MODELS[model]}
        trace = predict(model, p, part["cs"], part["reinforced"], plus=part["cs_type"] == "CS+")
        y = part[response].to_numpy(float)
        ok = np.isfinite(y)
        if response == "rating":
            resid = y[ok] / scale - trace["v"].to_numpy()[ok]
        else:
            cols = [np.ones(ok.sum()), trace["v"].to_numpy()[ok]]
            if model == "hybrid":
                cols.append(trace["alpha"].to_numpy()[ok])
            x = np.column_stack(cols)
            beta = np.linalg.lstsq(x, y[ok], rcond=None)[0]
            resid = y[ok] - x @ beta
        n = ok.sum()
        out[pid] = -0.5 * n * (np.log(2 * np.pi * (resid @ resid) / n) + 1)
    return pd.Series(out)


def test_rw_alpha_recovered_from_ratings():
    """RW alpha from 0-10 ratings with SD 1.5 points: r(true, estimated) ≥ 0.9."""
    frame, truth = make_trials(40, "rw", "rating", seed=1)
    fits = fit_models(frame, models=("rw",), response="rating")
    assert np.corrcoef(truth["alpha"], fits["alpha"])[0, 1] >= 0.9
    assert fits.attrs["rating_scale"] == (0.0, 10.0)


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("response", ["rating", "scr"])
def test_fit_is_at_least_as_good_as_the_truth(model, response):
    """The maximised log-likelihood is never below the log-likelihood at the true parameters."""
    frame, truth = make_trials(12, model, response, seed=2)
    fits = fit_models(
        frame, models=(model,), response=response, n_starts=10, rating_model="identity"
    )
    at_truth = _profiled_loglik(model, truth, frame, response)
    at_fit = _profiled_loglik(model, fits.set_index("participant"), frame, response)
    found = fits.set_index("participant")["loglik"]
    np.testing.assert_allclose(found, at_fit, atol=1e-3)  # reported loglik is the real one
    assert (found >= at_truth - 1e-6).all()


def test_output_columns_and_bic():
    """One row per participant and model; BIC = k ln n - 2 loglik with k counted right."""
    frame, _ = make_trials(5, "rw", "scr", seed=3)
    fits = fit_models(frame, response="scr", n_starts=3)
    assert list(fits.columns[:2]) == ["participant", "model"]
    assert len(fits) == 15 and set(fits["model"]) == {"rw", "rw2", "hybrid"}
    for col in ("alpha", "alpha_plus", "kappa", "eta", "alpha0", "beta0", "beta_v", "beta_alpha"):
        assert col in fits.columns
    expected_k = {"rw": 1 + 2 + 1, "rw2": 2 + 2 + 1, "hybrid": 3 + 3 + 1}
    assert (fits["n_params"] == fits["model"].map(expected_k)).all()
    bic = fits["n_params"] * np.log(fits["n_obs"]) - 2 * fits["loglik"]
    np.testing.assert_allclose(fits["bic"], bic)
    assert fits.loc[fits["model"] == "rw", "alpha_plus"].isna().all()


def test_missing_responses_are_skipped_but_learned_from():
    """NaN ratings leave the likelihood but the model still updates on those trials."""
    frame, truth = make_trials(30, "rw", "rating", seed=4)
    holes = frame.copy()
    holes.loc[holes.index % 3 == 0, "rating"] = np.nan
    fits = fit_models(holes, models=("rw",))
    assert (fits["n_obs"] == 40).all()
    assert np.corrcoef(truth["alpha"], fits["alpha"])[0, 1] >= 0.85
    reg = regressors(holes, fits)
    first = holes[holes["participant"] == "p0"]
    expected = predict("rw", {"alpha": fits["alpha"].iloc[0]}, first["cs"], first["reinforced"])
    got = reg[(reg["participant"] == "p0") & (reg["trial_type"] == "V")]["value"]
    np.testing.assert_allclose(got.to_numpy(), expected["v"].to_numpy())


def test_stimulus_identity_is_what_learns():
    """In a reversal, values follow the stimulus, not the role it plays."""
    frame, truth = make_trials(25, "rw", "rating", seed=5, n_trials=80)
    # second half: the stimuli swap roles; simulate ratings per stimulus identity
    rng = np.random.default_rng(5)
    rows = []
    for pid, part in frame.groupby("participant", sort=False):
        part = part.copy()
        late = part["trial"] > 40
        part["stimulus"] = np.where((part["cs"] == "CS+") ^ late, "blue", "red")
        part["reinforced"] = (part["stimulus"] == np.where(late, "red", "blue")) & (
            rng.random(len(part)) < 0.5
        )
        part["cs"] = np.where(part["stimulus"] == np.where(late, "red", "blue"), "CS+", "CS-")
        part["cs_type"] = part["cs"]
        v = predict("rw", {"alpha": truth.loc[pid, "alpha"]}, part["stimulus"], part["reinforced"])
        part["rating"] = np.round(
            np.clip(v["v"].to_numpy() + rng.normal(0, 0.1, len(part)), 0, 1) * 10
        )
        rows.append(part)
    reversal = pd.concat(rows, ignore_index=True)
    with_identity = fit_models(reversal, models=("rw",))
    by_role = fit_models(reversal.drop(columns="stimulus"), models=("rw",))
    assert np.corrcoef(truth["alpha"], with_identity["alpha"])[0, 1] >= 0.9
    assert with_identity["loglik"].sum() > by_role["loglik"].sum()


def test_empty_stimulus_falls_back_to_cs():
    """An empty stimulus column (unknown identities) means: learn per CS role."""
    frame, _ = make_trials(4, "rw", "rating", seed=6)
    a = fit_models(frame, models=("rw",), n_starts=2)
    b = fit_models(frame.assign(stimulus=""), models=("rw",), n_starts=2)
    np.testing.assert_allclose(a["alpha"], b["alpha"])


def test_too_few_observations_give_nan():
    """A participant with fewer ratings than parameters gets NaN, not a fake estimate."""
    frame, _ = make_trials(3, "rw", "rating", seed=7)
    frame.loc[(frame["participant"] == "p1") & (frame["trial"] > 2), "rating"] = np.nan
    fits = fit_models(frame, models=("rw",), n_starts=2).set_index("participant")
    assert np.isnan(fits.loc["p1", "alpha"]) and fits.loc["p1", "n_obs"] == 2
    assert np.isfinite(fits.loc["p0", "alpha"])


def test_bad_input_is_one_line():
    """Missing columns, unknown models/responses, bad starts and off-scale ratings are refused."""
    frame, _ = make_trials(2, "rw", "rating", seed=8)
    with pytest.raises(FitError, match=r"expected a column 'reinforced'.*Did you mean"):
        fit_models(frame.rename(columns={"reinforced": "reinforce"}))
    with pytest.raises(FitError, match="Did you mean 'hybrid'"):
        fit_models(frame, models=("hybird",))
    with pytest.raises(FitError, match="response: expected one of rating, scr"):
        fit_models(frame, response="pupil")
    with pytest.raises(FitError, match="n_starts: expected a whole number"):
        fit_models(frame, n_starts=0)
    with pytest.raises(FitError, match="expected values within rating_scale 0-5"):
        fit_models(frame, rating_scale=(0, 5))
    with pytest.raises(FitError, match="expected true/false"):
        fit_models(frame.assign(reinforced="maybe"))


def test_regressors_layout():
    """Regressors: V and alpha at CS onset, delta at the US time, values from the fit."""
    frame, _ = make_trials(3, "hybrid", "scr", seed=9, n_trials=20)
    fits = fit_models(frame, models=("rw", "hybrid"), response="scr", n_starts=3)
    reg = regressors(frame, fits, model="hybrid")
    assert list(reg.columns[:4]) == ["onset", "duration", "trial_type", "value"]
    assert len(reg) == 3 * len(frame)
    first = reg.iloc[:3]
    assert first["trial_type"].tolist() == ["V", "alpha", "delta"]
    assert first["onset"].tolist() == [0.0, 0.0, 5.5]
    assert first["duration"].tolist() == [6.0, 6.0, 0.0]
    p0 = fits[(fits["participant"] == "p0") & (fits["model"] == "hybrid")].iloc[0]
    part = frame[frame["participant"] == "p0"]
    expected = predict(
        "hybrid", {n: p0[n] for n in MODELS["hybrid"]}, part["cs"], part["reinforced"]
    )
    got = reg[(reg["participant"] == "p0") & (reg["trial_type"] == "alpha")]["value"]
    np.testing.assert_allclose(got.to_numpy(), expected["alpha"].to_numpy())
    best = fits.groupby("model")["bic"].sum().idxmin()
    assert set(regressors(frame, fits)["model"]) == {best}
    with pytest.raises(FitError, match="expected an 'onset' column"):
        regressors(frame.drop(columns="onset"), fits)
    with pytest.raises(FitError, match="expected one of the fitted models"):
        regressors(frame, fits, model="rw2")


def _compressed_ratings(n, model, seed):
    """RW/hybrid learners whose ratings span only part of a 0-10 scale (each participant
    maps V to [low, high] with low in 0-3 and high in 6-10), rounded to whole points."""
    rng = np.random.default_rng(seed)
    frame, truth = make_trials(n, model=model, seed=seed)
    trace_frame, _ = make_trials(n, model=model, seed=seed, noise=0.0)
    v = trace_frame["rating"].to_numpy() / 10  # noiseless values, rounded to 0.1
    low = np.repeat(rng.uniform(0, 0.3, n), len(frame) // n)
    high = np.repeat(rng.uniform(0.6, 1.0, n), len(frame) // n)
    noisy = np.clip(low + (high - low) * v + rng.normal(0, 0.1, len(v)), 0, 1)
    return frame.assign(rating=np.round(noisy * 10)), truth


def test_linear_rating_model_recovers_rates_when_the_scale_is_not_used_fully():
    """Ratings that use only part of the scale: the linear observation model (the default)
    recovers the learning rate far better than V + noise on the declared scale."""
    frame, truth = _compressed_ratings(80, "rw", 1)
    scores = {}
    for observation in ("linear", "identity"):
        fits = fit_models(
            frame, ("rw",), "rating", n_starts=5, rating_scale=(0, 10), rating_model=observation
        ).set_index("participant")
        scores[observation] = np.corrcoef(truth["alpha"], fits.loc[truth.index, "alpha"])[0, 1]
    assert scores["linear"] > 0.85
    assert scores["linear"] > scores["identity"] + 0.2
    default = fit_models(frame, ("rw",), "rating", n_starts=5, rating_scale=(0, 10))
    assert default.attrs["rating_model"] == "linear"
    assert {"beta0", "beta_v"} <= set(default.columns)


def test_at_bound_flags_rates_at_the_edge():
    """A participant whose ratings stay at the initial value 0.5 is fitted with a learning
    rate at 0 (V never moves): at_bound says so; learners are not flagged."""
    frame, _ = make_trials(3, seed=2)
    still = frame["participant"] == "p0"
    frame.loc[still, "rating"] = 5.0 + np.tile([0.0, 0.5, -0.5, 0.0], 15)
    fits = fit_models(
        frame, ("rw",), "rating", n_starts=3, rating_scale=(0, 10), rating_model="identity"
    ).set_index("participant")
    assert fits["at_bound"].dtype == bool
    assert fits.loc["p0", "alpha"] < 1e-3
    assert fits.loc["p0", "at_bound"] and fits.loc["p0", "at_bound_params"] == "alpha"
    assert not fits.loc[["p1", "p2"], "at_bound"].any()


def test_constant_ratings_say_why_no_model_is_fitted():
    """Every rating 5 (the scale comes from the data): the message says the ratings do not
    vary, not `rating_scale: expected low < high, got (5.0, 5.0)`."""
    frame, _ = make_trials(1, n_trials=20)
    frame["rating"] = 5.0
    with pytest.raises(
        FitError, match=r"^rating: expected ratings that vary .* got every rating 5;"
    ):
        fit_models(frame, ("rw",), "rating", n_starts=1)


def test_models_fitted_in_processes_give_the_serial_result():
    """Two worker processes give exactly the serial fits (the hybrid's participants fitted
    in four pieces), and a model's fit does not depend on which other models are fitted
    with it (each draws its starts from seed and model)."""
    frame, _ = make_trials(6, "hybrid", "rating", seed=11, n_trials=30)
    serial = fit_models(frame, models=("rw", "hybrid"), n_starts=2, workers=1)
    parallel = fit_models(frame, models=("rw", "hybrid"), n_starts=2, workers=2)
    pd.testing.assert_frame_equal(serial, parallel)
    alone = fit_models(frame, models=("hybrid",), n_starts=2, workers=1)
    together = serial[serial["model"] == "hybrid"][alone.columns].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone, together)


def test_started_fits_give_fit_models_result_and_cancel_ends_their_processes():
    """start_fits runs the fits in forked processes and its result() is exactly
    fit_models'; cancel() ends the processes of fits still running."""
    import multiprocessing as mp

    from pavlov.analysis.fit import start_fits

    frame, _ = make_trials(6, "hybrid", "rating", seed=11, n_trials=30)
    serial = fit_models(frame, models=("rw", "hybrid"), n_starts=2, workers=1)
    pending = start_fits(frame, models=("rw", "hybrid"), n_starts=2, workers=2)
    pd.testing.assert_frame_equal(pending.result(), serial)
    assert pending.result() is pending.result()  # collected once
    abandoned = start_fits(frame, models=("rw", "hybrid"), n_starts=2, workers=2)
    assert mp.active_children()
    abandoned.cancel()
    for child in mp.active_children():
        child.join(timeout=10)
    assert not mp.active_children()


def test_bad_fit_options_fail_before_any_process_starts():
    """start_fits checks its options at once, with one line, and starts no process."""
    import multiprocessing as mp

    from pavlov.analysis.fit import start_fits

    frame, _ = make_trials(2, "rw", "rating", n_trials=20)
    with pytest.raises(FitError, match=r"^n_starts: expected a whole number >= 1, got 0$"):
        start_fits(frame, models=("rw", "hybrid"), n_starts=0, workers=2)
    assert not mp.active_children()
