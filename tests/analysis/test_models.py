"""Tests for pavlov.analysis.models: RW, RW with two rates, hybrid RW/Pearce-Hall."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pavlov.analysis.models import MODELS, ModelError, encode_cues, predict, run_model
from testdata import SHIPPED

HOMAN = SHIPPED / "homan2019"


def test_rw_by_hand():
    """RW: V starts at v0, moves by alpha * delta, only for the presented CS."""
    out = predict("rw", {"alpha": 0.5}, ["A", "B", "A", "A"], [1, 0, 0, 1], v0=0.0)
    assert out["v"].tolist() == pytest.approx([0.0, 0.0, 0.5, 0.25])
    assert out["delta"].tolist() == pytest.approx([1.0, 0.0, -0.5, 0.75])
    assert out["alpha"].tolist() == pytest.approx([0.5] * 4)


def test_rw2_uses_the_rate_of_the_trials_cs_type():
    """rw2 learns CS+ trials with alpha_plus and CS- trials with alpha_minus."""
    out = predict(
        "rw2",
        {"alpha_plus": 0.5, "alpha_minus": 0.1},
        ["A", "B", "A", "B"],
        [1, 0, 1, 0],
        plus=[True, False, True, False],
        v0=0.5,
    )
    assert out["v"].tolist() == pytest.approx([0.5, 0.5, 0.75, 0.45])
    same = predict(
        "rw2", {"alpha_plus": 0.3, "alpha_minus": 0.3}, "ABAB", [1, 0, 0, 1], plus=[1, 0, 1, 0]
    )
    assert same["v"].tolist() == pytest.approx(
        predict("rw", {"alpha": 0.3}, "ABAB", [1, 0, 0, 1])["v"]
    )


def test_hybrid_by_hand():
    """Hybrid: V moves by kappa * alpha_t * delta; alpha_t+1 = eta |delta| + (1 - eta) alpha_t."""
    k, e, a0 = 0.5, 0.4, 0.8
    out = predict("hybrid", {"kappa": k, "eta": e, "alpha0": a0}, ["A", "A", "B"], [1, 0, 1])
    v1, d1 = 0.5, 0.5
    v2 = v1 + k * a0 * d1
    a2 = e * abs(d1) + (1 - e) * a0
    assert out["v"].tolist() == pytest.approx([v1, v2, 0.5])
    assert out["alpha"].tolist() == pytest.approx([a0, a2, a0])  # B keeps its own alpha
    assert out["delta"].tolist() == pytest.approx([d1, -v2, 0.5])


def test_padding_does_not_update():
    """Cue -1 (padding) yields NaN and leaves the real trials unchanged."""
    cues = np.array([[0, -1, 0, 1], [0, 0, 1, -1]])
    trace = run_model("rw", {"alpha": [0.3, 0.3]}, cues, np.array([[1, 1, 0, 0], [1, 0, 0, 0]]))
    assert np.isnan(trace.v[0, 1]) and np.isnan(trace.v[1, 3])
    assert trace.v[0, 2] == pytest.approx(0.5 + 0.3 * 0.5)


def test_batch_equals_single_runs():
    """A batch of parameter sets gives the same traces as one run each."""
    rng = np.random.default_rng(3)
    cues = rng.integers(0, 3, 30)
    outcomes = rng.random(30) < 0.4
    kappa = np.array([0.2, 0.6, 0.9])
    batch = run_model("hybrid", {"kappa": kappa, "eta": 0.3, "alpha0": 0.7}, cues, outcomes)
    for i, value in enumerate(kappa):
        one = run_model("hybrid", {"kappa": value, "eta": 0.3, "alpha0": 0.7}, cues, outcomes)
        np.testing.assert_allclose(batch.v[i], one.v[0])


@pytest.mark.parametrize("model", list(MODELS))
def test_gradients_match_finite_differences(model):
    """Forward sensitivities dV/dθ and dα/dθ equal finite differences."""
    rng = np.random.default_rng(1)
    cues = rng.integers(0, 3, 40)
    outcomes = (rng.random(40) < 0.4).astype(float)
    plus = cues == 0
    params = {n: rng.uniform(0.1, 0.9, 4) for n in MODELS[model]}
    trace = run_model(model, params, cues, outcomes, plus=plus, gradient=True)
    for j, name in enumerate(MODELS[model]):
        moved = dict(params)
        moved[name] = params[name] + 1e-7
        shifted = run_model(model, moved, cues, outcomes, plus=plus)
        np.testing.assert_allclose((shifted.v - trace.v) / 1e-7, trace.dv[..., j], atol=1e-5)
        np.testing.assert_allclose(
            (shifted.alpha - trace.alpha) / 1e-7, trace.dalpha[..., j], atol=1e-5
        )


def test_encode_cues_in_order_of_appearance():
    """Labels are coded 0, 1, ... as they first appear."""
    assert encode_cues(["b", "a", "b", "c"]).tolist() == [0, 1, 0, 2]


def test_errors_are_one_line():
    """Unknown models, missing or out-of-range parameters and length mismatches are refused."""
    with pytest.raises(ModelError, match="Did you mean 'hybrid'"):
        predict("hybird", {"alpha": 0.1}, "AB", [0, 1])
    with pytest.raises(ModelError, match=r"params\.alpha: expected a number in"):
        predict("rw", {"alpha": 1.5}, "AB", [0, 1])
    with pytest.raises(ModelError, match="expected 2 values like cues"):
        predict("rw", {"alpha": 0.5}, "AB", [0, 1, 1])
    with pytest.raises(ModelError, match="plus: expected the CS"):
        run_model("rw2", {"alpha_plus": 0.1, "alpha_minus": 0.1}, np.array([0, 1]), [0, 1])
    with pytest.raises(ModelError, match="got no eta"):
        run_model("hybrid", {"kappa": 0.1, "alpha0": 0.1}, np.array([0, 1]), [0, 1])


# --- Homan et al. 2019: Stan per-trial values -----------------------------------------------


@pytest.fixture(scope="module")
def homan():
    """Per participant: face sequence, shocks, and the Stan rw and hybrid values (pivoted)."""
    scr = pd.read_csv(HOMAN / "ptsd_scr.csv")
    stan = {
        name: pd.read_csv(HOMAN / f"ptsd_bayes_stan_{name}.csv.gz")
        for name in ("rw", "hybridalphav")
    }
    complete = scr.groupby("id").size()
    ids = sorted(set(stan["rw"]["id"]) & set(complete[complete == 69].index))
    out = {}
    for pid in ids:
        seq = scr[scr["id"] == pid].sort_values("trial")
        face = np.where(seq["stim"].str.startswith("CSplus"), "A", "B")
        shock = seq["stim"].str.endswith("US").to_numpy(dtype=float)
        tables = {
            k: v[v["id"] == pid].pivot(index="trial", columns="param", values="value")
            for k, v in stan.items()
        }
        out[pid] = (face, shock, tables["rw"], tables["hybridalphav"])
    return out


def test_homan_rw_values(homan):
    """Our RW, fed each participant's Stan alpha (V0 = 0.5), reproduces the Stan V.

    The Stan values are posterior means of V, not V at the posterior-mean alpha, so they
    differ slightly (Jensen); measured over 89 × 69 trials: mean |ΔV| 0.005, max 0.044.
    """
    errors = []
    for face, shock, rw, _ in homan.values():
        out = predict("rw", {"alpha": rw["alpha"].iloc[0]}, face, shock, v0=0.5)
        errors.append(np.abs(out["v"].to_numpy() - rw["v"].to_numpy()))
        np.testing.assert_allclose(out["delta"], shock - out["v"])
    errors = np.concatenate(errors)
    assert len(homan) >= 85
    assert errors.mean() < 0.01 and errors.max() < 0.05


def test_homan_hybrid_values(homan):
    """Our hybrid (alpha_1 fitted, V_1 = 0.5, pre-trial alpha) reproduces Stan V and alpha.

    Measured: V mean |Δ| 0.011 (max 0.077), alpha mean |Δ| 0.017 (max 0.151); per
    participant r(V) ≥ 0.989.
    """
    v_err, a_err, r = [], [], []
    for face, shock, _, hyb in homan.values():
        params = {"kappa": hyb["kappa"].iloc[0], "eta": hyb["eta"].iloc[0]}
        params["alpha0"] = hyb["alpha"].iloc[0]
        out = predict("hybrid", params, face, shock, v0=0.5)
        v_err.append(np.abs(out["v"].to_numpy() - hyb["v"].to_numpy()))
        a_err.append(np.abs(out["alpha"].to_numpy() - hyb["alpha"].to_numpy()))
        r.append(np.corrcoef(out["v"], hyb["v"])[0, 1])
    v_err, a_err = np.concatenate(v_err), np.concatenate(a_err)
    assert v_err.mean() < 0.015 and v_err.max() < 0.08
    assert a_err.mean() < 0.025 and a_err.max() < 0.16
    assert min(r) > 0.98


def test_homan_one_step_updates(homan):
    """Trial to trial, the Stan values follow our update equations to within 0.02.

    Each face's next V is V + kappa * alpha * delta and its next alpha is
    eta |delta| + (1 - eta) alpha, with the Stan values of the current trial plugged in.
    """
    worst_v = worst_a = 0.0
    for face, _, _, hyb in homan.values():
        kappa, eta = hyb["kappa"].iloc[0], hyb["eta"].iloc[0]
        for f in ("A", "B"):
            rows = hyb[face == f]
            v, d, a = (rows[c].to_numpy() for c in ("v", "delta", "alpha"))
            worst_v = max(worst_v, np.abs(v[1:] - (v[:-1] + kappa * a[:-1] * d[:-1])).max())
            worst_a = max(
                worst_a, np.abs(a[1:] - (eta * np.abs(d[:-1]) + (1 - eta) * a[:-1])).max()
            )
    assert worst_v < 0.02 and worst_a < 0.02
