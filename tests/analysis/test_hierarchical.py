"""Tests of the hierarchical Bayesian fits (pavlov.analysis.hierarchical) and of
`pavlov analyze/recover --fit hierarchical`. Sampling runs with few draws: these tests check
the machinery (equations, intervals, diagnostics, outputs, errors), the README the numbers."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pavlov.analysis.hierarchical import (
    Diagnostics,
    HierarchicalError,
    _hdi,
    check_sampling,
)
from pavlov.analysis.models import run_model
from testdata import require_module

require_module("numpyro", "bayes")

PAVLOV = Path(sys.executable).with_name("pavlov")
PROTOCOL = Path(__file__).resolve().parents[2] / "protocols" / "aversive_pavlovian_fmri.yaml"


def pavlov(*argv, env=None):
    """Run the `pavlov` command as a user would; return the completed process."""
    return subprocess.run(
        [str(PAVLOV), *map(str, argv)], capture_output=True, text=True, env=env, timeout=600
    )


def isolated(tmp_path, body: str) -> None:
    """Run ``body`` in a fresh Python (with this module's ``simulated_groups``): JAX starts
    threads, and later tests of the suite fork worker processes, which must not inherit them."""
    script = tmp_path / "isolated.py"
    script.write_text(
        "import json\nimport numpy as np\nimport pandas as pd\n"
        "from pavlov.analysis.models import MODELS, run_model\n\n"
        + inspect.getsource(simulated_groups)
        + textwrap.dedent(body),
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=900
    )
    assert done.returncode == 0, done.stderr


def test_jax_learning_loop_matches_the_numpy_models(tmp_path):
    """The sampler's lax.scan trial loop gives the V and α of models.run_model exactly
    (rw, rw2 and hybrid; one participant padded)."""
    isolated(
        tmp_path,
        """
        import jax.numpy as jnp
        from pavlov.analysis.hierarchical import _arrays, _Inputs, _learn

        rng = np.random.default_rng(3)
        n, t = 4, 30
        cues = rng.integers(0, 3, (n, t))
        cues[0, -5:] = -1  # padding: a shorter participant
        outcomes = (rng.random((n, t)) < 0.4).astype(float)
        plus = cues == 0
        for model in MODELS:
            rates = rng.uniform(0.1, 0.9, (n, len(MODELS[model])))
            inputs = _Inputs(cues=cues, outcomes=outcomes, plus=plus, part_idx=np.zeros(1, int),
                             trial_idx=np.zeros(1, int), y=np.zeros(1), group_of=np.zeros(n, int),
                             n_groups=1, response="scr", v0=0.5)
            arrays = _arrays(inputs)
            v, a = _learn(model, jnp.asarray(rates, dtype=jnp.float32), inputs,
                          arrays["onehot"], arrays["outcomes"], arrays["plus"])
            params = {name: rates[:, j] for j, name in enumerate(MODELS[model])}
            trace = run_model(model, params, cues, outcomes, plus=plus)
            real = cues >= 0
            assert np.allclose(np.asarray(v)[real], trace.v[real], atol=1e-5), model
            assert np.allclose(np.asarray(a)[real], trace.alpha[real], atol=1e-5), model
        """,
    )


def test_beta_integrated_out_is_the_gaussian_marginal_and_its_draws_the_conjugate_posterior(
    tmp_path,
):
    """With β integrated out of the sampler, each participant's likelihood equals the
    multivariate normal density of y under N(X m, σ²I + X diag(s²) Xᵀ), and β's conditional
    draws have the conjugate posterior's mean and variances (3 participants, 3 coefficients)."""
    isolated(
        tmp_path,
        """
        import jax
        import jax.numpy as jnp
        from scipy.stats import multivariate_normal
        from pavlov.analysis.hierarchical import _beta_marginal

        rng = np.random.default_rng(0)
        counts = [20, 35, 7]  # observations of each participant, on a grid of 40 trials
        mask = np.arange(40)[None, :] < np.array(counts)[:, None]
        columns = [np.ones((3, 40)), rng.random((3, 40)), rng.random((3, 40))]
        y = np.where(mask, rng.normal(size=(3, 40)), 0.0)
        m, s = np.array([0.2, 0.5, 1.0]), np.array([0.3, 0.8, 0.5])
        sigma = np.array([0.4, 0.9, 0.6])
        f32 = lambda a: jnp.asarray(a, jnp.float32)  # noqa: E731
        arrays = {"mask": f32(mask), "y_dense": f32(y), "yy": f32((y**2).sum(axis=1)),
                  "n_obs": f32(counts)}
        marginal, draw = _beta_marginal([f32(c) for c in columns], arrays, f32(m), f32(s),
                                        f32(sigma))
        eps = rng.standard_normal((40_000, 3, 3)).astype(np.float32)
        beta = np.asarray(jax.vmap(draw)(jnp.asarray(eps)))
        for i in range(3):
            xi = np.stack([c[i, mask[i]] for c in columns], axis=1)
            yi, prior = y[i, mask[i]], np.diag(s**2)
            cov = sigma[i] ** 2 * np.eye(counts[i]) + xi @ prior @ xi.T
            exact = multivariate_normal(xi @ m, cov).logpdf(yi)
            assert abs(float(marginal[i]) - exact) < 1e-4 * abs(exact), (i, marginal[i], exact)
            post_cov = np.linalg.inv(np.linalg.inv(prior) + xi.T @ xi / sigma[i] ** 2)
            post_mean = post_cov @ (m / s**2 + xi.T @ yi / sigma[i] ** 2)
            sd = np.sqrt(np.diag(post_cov))
            assert np.all(np.abs(beta[:, i].mean(axis=0) - post_mean) < 0.03 * sd), i
            assert np.allclose(beta[:, i].std(axis=0), sd, rtol=0.03), i
        """,
    )


def test_chains_start_together_near_a_posterior_mode(tmp_path):
    """The chains' starting points lie within the ±0.1 jitter of one point, and that point
    has a far higher posterior density than the random points the mode searches began at
    (12 simulated hybrid learners, SCR)."""
    isolated(
        tmp_path,
        """
        import jax
        from pavlov.analysis.hierarchical import (
            _arrays, _initial, _Inputs, _potential, _start_near_mode,
        )

        rng = np.random.default_rng(5)
        n, t = 12, 40
        cues = rng.integers(0, 2, (n, t))
        outcomes = ((cues == 0) & (rng.random((n, t)) < 0.5)).astype(float)
        rates = {name: rng.uniform(0.1, 0.9, n) for name in MODELS["hybrid"]}
        trace = run_model("hybrid", rates, cues, outcomes)
        y = 0.2 + 0.5 * trace.v + trace.alpha + rng.normal(0, 0.4, (n, t))
        part, trial = np.nonzero(outcomes == 0)
        yz = (y[part, trial] - y[part, trial].mean()) / y[part, trial].std()
        inputs = _Inputs(cues=cues, outcomes=outcomes, plus=cues == 0, part_idx=part,
                         trial_idx=trial, y=yz, group_of=np.zeros(n, int), n_groups=1,
                         response="scr", v0=0.5)
        arrays = _arrays(inputs)
        potential = jax.vmap(_potential("hybrid", inputs, arrays))
        starts = _start_near_mode("hybrid", inputs, arrays, 4, jax.random.PRNGKey(0))
        for value in starts.values():
            value = np.asarray(value)
            assert value.shape[0] == 4
            assert np.all(value.max(axis=0) - value.min(axis=0) <= 0.2 + 1e-6)
        random = _initial("hybrid", inputs, 8, jax.random.PRNGKey(1))
        assert np.asarray(potential(starts)).max() < np.asarray(potential(random)).min() - 50
        """,
    )


def test_hdi_is_the_narrowest_interval():
    """The 94 % HDI of normal draws is ±1.88 SD; of a skewed sample it hugs the mode."""
    draws = np.random.default_rng(0).normal(2.0, 3.0, (200_000, 1))
    low, high = _hdi(draws)
    assert low[0] == pytest.approx(2.0 - 1.881 * 3.0, abs=0.05)
    assert high[0] == pytest.approx(2.0 + 1.881 * 3.0, abs=0.05)
    skewed = np.random.default_rng(0).exponential(1.0, (200_000, 1))
    low, high = _hdi(skewed)
    assert low[0] < 0.01 and high[0] == pytest.approx(-np.log(0.06), abs=0.03)


def test_participants_best_counts_the_per_participant_criterion():
    """model_comparison's participants_best counts each participant's winner by elpd_lopo
    (as recover --confusion does), not by the summed pointwise LOO terms, and leaves out a
    participant missing under a model."""
    from pavlov.analysis.hierarchical import _participants_best

    fits = pd.DataFrame(
        {
            "participant": ["01", "02", "03", "04"] * 2,
            "model": ["rw"] * 4 + ["hybrid"] * 4,
            # hybrid wins 01 by elpd_loo but loses it by elpd_lopo
            "elpd_loo": [-10.0, -12.0, -9.0, -8.0, -9.5, -11.0, -9.5, -7.0],
            "elpd_lopo": [-10.0, -12.0, -9.0, -8.0, -10.5, -11.0, -9.5, np.nan],
        }
    )
    models = pd.Series(["hybrid", "rw"])
    assert _participants_best(models, fits).tolist() == [1, 2]  # 02; 01 and 03 (04: no lopo)
    assert _participants_best(models, fits[fits["model"] == "rw"]).isna().all()


def test_diagnostics_flag_rhat_divergences_and_low_ess():
    """A fit is flagged for R-hat > 1.01, any divergence, or bulk ESS < 100 per chain."""
    good = Diagnostics("rw", 1.005, 900.0, 800.0, 0, 4, 1000, 1000, 10.0)
    assert not good.flagged and good.problems == []
    assert Diagnostics("rw", 1.02, 900.0, 800.0, 0, 4, 1000, 1000, 10.0).problems == [
        "R-hat 1.020 > 1.01"
    ]
    assert Diagnostics("rw", 1.0, 900.0, 800.0, 3, 4, 1000, 1000, 10.0).problems == [
        "3 divergent transition(s)"
    ]
    assert Diagnostics("rw", 1.0, 350.0, 800.0, 0, 4, 1000, 1000, 10.0).flagged


def test_report_notes_participants_whose_elpd_lopo_rests_on_few_draws():
    """A participant whose elpd_lopo rests on fewer than 100 effective importance draws is
    named in the report's notes, per model; none is noted when every estimate is sound."""
    from pavlov.analysis.hierarchical_report import lopo_notes

    fits = pd.DataFrame(
        {
            "participant": ["01", "02", "01", "02"],
            "model": ["rw", "rw", "hybrid", "hybrid"],
            "elpd_lopo_draws": [5000.0, 4000.0, 12.0, 3000.0],
        }
    )
    assert lopo_notes(fits) == [
        "elpd_lopo under hybrid rests on fewer than 100 effective importance draws for 1 "
        "participant(s) (01): their per-participant model comparison is unreliable."
    ]
    assert lopo_notes(fits.assign(elpd_lopo_draws=500.0)) == []


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # constant mu
def test_flag_names_the_parameter_with_the_largest_rhat():
    """A flag says which parameter failed: one participant's η whose chains disagree is
    named with the participant's label, not an index."""
    import arviz as az

    from pavlov.analysis.hierarchical import _worst

    rng = np.random.default_rng(0)
    rates = rng.normal(0.5, 0.01, (4, 200, 3, 3))
    rates[:2, :, 1, 1] += 0.2  # chains 0-1 sit in another mode for participant p2's eta
    idata = az.from_dict(
        posterior={"rates": rates, "tau": rng.normal(1, 0.1, (4, 200, 3))},
        coords={"parameter": ["kappa", "eta", "alpha0"]},
        dims={"rates": ["participant", "parameter"], "tau": ["parameter"]},
    )
    assert _worst(az.rhat(idata), ["p1", "p2", "p3"]) == "eta of participant p2"
    # one rate (RW): its name is kept; an infinite R-hat is not the one named
    one = rng.normal(0.5, 0.01, (4, 200, 3, 1))
    one[:2, :, 2, 0] += 0.2
    mu = np.zeros((4, 200, 2, 1))  # constant: R-hat NaN
    idata = az.from_dict(
        posterior={"rates": one, "mu": mu},
        coords={"parameter": ["alpha"]},
        dims={"rates": ["participant", "parameter"], "mu": ["group", "parameter"]},
    )
    assert _worst(az.rhat(idata), ["a", "b", "c"], ["A", "B"]) == "alpha of participant c"
    mu = rng.normal(0, 1, (4, 200, 2, 1))
    mu[:2, :, 1, 0] += 5
    idata = az.from_dict(
        posterior={"mu": mu},
        coords={"parameter": ["alpha"]},
        dims={"mu": ["group", "parameter"]},
    )
    assert _worst(az.rhat(idata), [], ["A", "B"]) == "mu alpha (group B)"
    d = Diagnostics("hybrid", 1.2, 900, 900, 0, 4, 200, 200, 1.0, worst_rhat="eta of p2")
    assert d.problems == ["R-hat 1.200 > 1.01 (eta of p2)"]


@pytest.mark.parametrize(
    ("chains", "draws", "warmup", "seed", "message"),
    [
        (0, 100, 100, 0, "--chains: expected a whole number >= 1, got 0"),
        (2, 5, 100, 0, "--draws: expected a whole number >= 10, got 5"),
        (2, 100, 2.5, 0, "--warmup: expected a whole number >= 10, got 2.5"),
        (2, 100, 100, -1, "--seed: expected a whole number >= 0, got -1"),
        (1, 20, 100, 0, "expected at least 40 draws in all"),
    ],
)
def test_sampler_settings_are_checked(chains, draws, warmup, seed, message):
    """Unusable sampler settings raise one line naming the option."""
    with pytest.raises(HierarchicalError, match=message.replace("+", r"\+")):
        check_sampling(chains, draws, warmup, seed)


def simulated_groups(seed=0):
    """20 RW learners rating US expectancy (0-1, noise SD 0.05) on 48 trials; group 'low'
    has typical α 0.15, group 'high' 0.6 (logit SD 0.3 within each group). Returns the
    table and each group's realised typical α (logistic of its members' mean logit)."""
    rng = np.random.default_rng(seed)
    typical = {"low": 0.15, "high": 0.6}
    rows = []
    logits = {"low": [], "high": []}
    for i in range(20):
        group = "low" if i < 10 else "high"
        logit = np.log(typical[group] / (1 - typical[group])) + 0.3 * rng.normal()
        logits[group].append(logit)
        alpha = 1 / (1 + np.exp(-logit))
        order = rng.permutation(np.repeat(["CS+", "CS-"], 24))
        us = (order == "CS+") & (rng.random(48) < 0.5)
        trace = run_model("rw", {"alpha": alpha}, (order == "CS+").astype(int), us.astype(float))
        rating = np.clip(trace.v[0] + rng.normal(0, 0.05, 48), 0, 1)
        for t in range(48):
            rows.append(
                {
                    "participant": f"p{i}",
                    "group": group,
                    "phase": "acquisition",
                    "trial": t + 1,
                    "cs": order[t],
                    "cs_type": order[t],
                    "reinforced": bool(us[t]),
                    "rating": rating[t],
                }
            )
    realised = {g: float(1 / (1 + np.exp(-np.mean(v)))) for g, v in logits.items()}
    return pd.DataFrame(rows), realised


def test_group_means_of_a_simulated_table_fall_in_their_hdis(tmp_path):
    """Known group learning rates are inside their 94 % HDIs and the group difference is
    found (its HDI excludes 0); per-participant HDIs and diagnostics come with the fit."""
    isolated(
        tmp_path,
        """
        from pavlov.analysis.hierarchical import fit_hierarchical

        trials, typical = simulated_groups()
        result = fit_hierarchical(
            trials, ["rw"], "rating", chains=2, draws=150, warmup=150, seed=1, progress=False
        )
        result.group.to_csv("group.csv", index=False)
        result.fits.to_csv("fits.csv", index=False)
        result.diagnostics_table().to_csv("diagnostics.csv", index=False)
        result.comparison.to_csv("comparison.csv", index=False)
        with open("typical.json", "w") as out:
            json.dump(typical, out)
        """,
    )
    typical = json.loads((tmp_path / "typical.json").read_text())
    group = pd.read_csv(tmp_path / "group.csv", keep_default_na=False)
    means = group[(group["parameter"] == "alpha") & (group["quantity"] == "mean")]
    assert set(means["group"]) == {"high", "low"}
    for row in means.itertuples():
        assert float(row.hdi_low) <= typical[row.group] <= float(row.hdi_high), row
    diff = group[group["quantity"] == "difference"].iloc[0]
    assert diff["group"] == "low - high"
    assert float(diff["hdi_high"]) < 0 and float(diff["p_positive"]) < 0.03
    fits = pd.read_csv(tmp_path / "fits.csv")
    assert (fits["fit"] == "hierarchical").all() and len(fits) == 20
    assert (
        (fits["alpha_hdi_low"] <= fits["alpha"]) & (fits["alpha"] <= fits["alpha_hdi_high"])
    ).all()
    table = pd.read_csv(tmp_path / "diagnostics.csv")
    assert np.isfinite(table.loc[0, ["max_rhat", "min_ess_bulk", "min_ess_tail"]]).all()
    assert table.loc[0, "divergences"] >= 0
    comparison = pd.read_csv(tmp_path / "comparison.csv")
    assert np.isfinite(comparison.loc[0, "elpd_loo"]) and comparison.loc[0, "se"] > 0


def test_ratings_use_the_linear_observation_model_unless_identity_is_asked(tmp_path):
    """Hierarchical rating fits default to the ML fits' linear model (b0 + b1*V): ratings
    squeezed into 0.2-0.7 of the scale give back group means of b0 near 0.2 and b1 near 0.5;
    `pavlov analyze --rating-model identity` fits V + noise (no b) and says so."""
    isolated(
        tmp_path,
        """
        from pavlov.analysis.hierarchical import fit_hierarchical

        trials, _ = simulated_groups()
        trials["rating"] = 0.2 + 0.5 * trials["rating"]  # a participant using part of the scale
        table = trials.rename(columns={"rating": "response"})  # a trial table's columns
        table.assign(us=table.pop("reinforced").astype(int)).to_csv("squeezed.csv", index=False)
        result = fit_hierarchical(
            trials, ["rw"], "rating", chains=2, draws=150, warmup=150, seed=2,
            rating_scale=(0.0, 1.0), progress=False, groups=False,
        )
        result.group.to_csv("group.csv", index=False)
        result.fits.to_csv("fits.csv", index=False)
        with open("attrs.json", "w") as out:
            json.dump({k: result.attrs[k] for k in ("rating_model", "observation")}, out)
        """,
    )
    attrs = json.loads((tmp_path / "attrs.json").read_text())
    assert attrs["rating_model"] == "linear" and "beta0_i + beta_v_i*V" in attrs["observation"]
    group = pd.read_csv(tmp_path / "group.csv", keep_default_na=False).set_index("parameter")
    for name, true in (("beta0", 0.2), ("beta_v", 0.5)):
        row = group.loc[name]
        assert row["quantity"] == "observation"
        # near, not exactly, the truth: the simulated ratings are clipped at the scale's ends
        assert abs(float(row["mean"]) - true) < 0.05, (name, row)
    fits = pd.read_csv(tmp_path / "fits.csv")
    assert fits["beta_v"].between(0.3, 0.7).all()
    out = tmp_path / "out"
    done = pavlov(
        "analyze", tmp_path / "squeezed.csv", "--out", out, "--response-name", "rating",
        "--rating-scale", "0", "1", "--models", "rw", "--fit", "hierarchical",
        "--rating-model", "identity", "--chains", "2", "--draws", "20", "--warmup", "20",
        "--regressors", "none",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(out / "model_fits.csv")
    bayes = table[table["fit"] == "hierarchical"]
    assert len(bayes) == 20 and bayes["alpha"].notna().all()
    assert "beta_v" not in bayes.columns or bayes["beta_v"].isna().all()
    group = pd.read_csv(out / "group_posteriors.csv", keep_default_na=False)
    assert "beta_v" not in set(group["parameter"])
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "rescaled rating ~ N(V, sigma_i^2) (identity)" in report


@pytest.mark.parametrize(
    ("model", "linear"),
    [("rw", False), ("rw", True), ("hybrid", False)],
    ids=["rw-identity", "rw-beta-integrated", "hybrid-3-rates"],
)
def test_leave_one_participant_out_elpd_integrates_over_the_population(tmp_path, model, linear):
    """elpd_lopo is each participant's log marginal likelihood given the group level: with
    known group values and posterior draws of each participant's rates from their exact
    posterior (as the importance proposal expects), it matches quadrature over the
    population of the rates, for RW (with β integrated as a Gaussian too) and for the
    hybrid's three rates."""
    isolated(
        tmp_path,
        f"""
        import itertools
        from scipy.special import logsumexp
        from scipy.stats import multivariate_normal, norm
        from pavlov.analysis.hierarchical import _arrays, _evidence, _Inputs

        model, linear = {model!r}, {linear!r}
        names = MODELS[model]
        rng = np.random.default_rng(4)
        n, t, mu, tau, sigma = 5, 40, -0.5, 0.8, 0.2
        m_beta, s_beta = np.array([0.1, 0.8]), np.array([0.1, 0.2])
        cues = rng.integers(0, 2, (n, t))
        outcomes = ((cues == 0) & (rng.random((n, t)) < 0.5)).astype(float)
        rates = 1 / (1 + np.exp(-(mu + tau * rng.normal(size=(n, len(names))))))
        v = run_model(model, dict(zip(names, rates.T)), cues, outcomes).v
        beta = m_beta + s_beta * rng.normal(size=(n, 2)) if linear else np.array([[0.0, 1.0]] * n)
        y = beta[:, :1] + beta[:, 1:] * v + rng.normal(0, sigma, (n, t))
        part, trial = np.nonzero(np.ones((n, t), bool))
        inputs = _Inputs(cues=cues, outcomes=outcomes, plus=cues == 0, part_idx=part,
                         trial_idx=trial, y=y[part, trial], group_of=np.zeros(n, int),
                         n_groups=1, response="rating", v0=0.5, linear=linear)
        points = 801 if len(names) == 1 else 31
        axis = np.linspace(mu - 6 * tau, mu + 6 * tau, points)
        logit = np.array(list(itertools.product(axis, repeat=len(names))))
        grid = 1 / (1 + np.exp(-logit))
        weights = (norm.logpdf(logit, mu, tau) + np.log(axis[1] - axis[0])).sum(axis=1)
        draws, exact, posterior = 200, [], []
        for i in range(n):
            tile = (len(grid), 1)
            vi = run_model(model, dict(zip(names, grid.T)), np.tile(cues[i], tile),
                           np.tile(outcomes[i], tile)).v
            if linear:  # y ~ N(X m, σ² I + X diag(s²) Xᵀ), X = [1, V]
                ll = np.array([multivariate_normal.logpdf(
                    y[i], m_beta[0] + m_beta[1] * row,
                    sigma**2 * np.eye(t) + s_beta[0] ** 2 + s_beta[1] ** 2 * np.outer(row, row))
                    for row in vi])
            else:
                ll = norm.logpdf(y[i], vi, sigma).sum(axis=1)
            joint = ll + weights
            exact.append(logsumexp(joint))
            p = np.exp(joint - exact[-1])
            posterior.append(logit[rng.choice(len(logit), size=draws, p=p / p.sum())])
        # every posterior draw at the known group values; σ's population 0.5 % wide
        z = {{
            "mu": np.full((1, draws, 1, len(names)), mu),
            "log_tau": np.full((1, draws, len(names)), np.log(tau)),
            "m_log_sigma": np.full((1, draws), np.log(sigma)),
            "log_s_log_sigma": np.full((1, draws), np.log(0.005)),
            "z": ((np.array(posterior).swapaxes(0, 1) - mu) / tau)[None],
            "z_log_sigma": rng.normal(size=(1, draws, n)),
        }}
        if linear:
            z["m_beta"] = np.tile(m_beta, (1, draws, 1))
            z["log_s_beta"] = np.tile(np.log(s_beta), (1, draws, 1))
        z = {{k: v.astype(np.float32) for k, v in z.items()}}
        got, effective = _evidence(model, inputs, _arrays(inputs), z, seed=0, n_hyper=50,
                                   n_inner=2000)
        for i in range(n):
            assert abs(got[i] - exact[i]) < 0.1, (i, got[i], exact[i])
        assert (effective > 1000).all(), effective
        """,
    )


def test_leave_one_participant_out_elpd_averages_over_the_group_posterior(tmp_path):
    """With group-level draws that vary, some with σ's population SD near 0 (as when every
    participant has the same noise), elpd_lopo is log mean_h p(y_i | h), p(y_i | h) by
    quadrature over α and σ: no draw of σ shared across h misses a narrow population."""
    isolated(
        tmp_path,
        """
        from scipy.special import logsumexp
        from scipy.stats import norm
        from pavlov.analysis.hierarchical import _arrays, _evidence, _Inputs

        rng = np.random.default_rng(7)
        n, t, draws = 5, 40, 60
        cues = rng.integers(0, 2, (n, t))
        outcomes = ((cues == 0) & (rng.random((n, t)) < 0.5)).astype(float)
        alpha = 1 / (1 + np.exp(-(-0.5 + 0.8 * rng.normal(size=n))))
        y = run_model("rw", {"alpha": alpha}, cues, outcomes).v + rng.normal(0, 0.2, (n, t))
        part, trial = np.nonzero(np.ones((n, t), bool))
        inputs = _Inputs(cues=cues, outcomes=outcomes, plus=cues == 0, part_idx=part,
                         trial_idx=trial, y=y[part, trial], group_of=np.zeros(n, int),
                         n_groups=1, response="rating", v0=0.5, linear=False)
        # group-level draws: μ, τ of logit α; m, s of log σ (a third with s of 1e-4)
        mu = -0.5 + 0.15 * rng.normal(size=draws)
        tau = 0.8 * np.exp(0.2 * rng.normal(size=draws))
        m = np.log(0.2) + 0.03 * rng.normal(size=draws)
        s = np.where(np.arange(draws) % 3 == 0, 1e-4, np.exp(rng.uniform(-4, -1, draws)))
        logit = np.linspace(-8, 7, 1501)
        grid = 1 / (1 + np.exp(-logit))
        nodes, node_w = np.polynomial.hermite.hermgauss(40)
        per_h, posterior = np.zeros((draws, n)), np.zeros((draws, n))
        for i in range(n):
            v = run_model("rw", {"alpha": grid}, np.tile(cues[i], (len(grid), 1)),
                          np.tile(outcomes[i], (len(grid), 1))).v
            ssr = ((y[i] - v) ** 2).sum(axis=1)
            for j in range(draws):
                log_sigma = m[j] + s[j] * np.sqrt(2) * nodes  # Gauss-Hermite over log σ
                sigma = np.exp(log_sigma)[:, None]
                ll = -t * np.log(sigma) - 0.5 * t * np.log(2 * np.pi) - ssr / (2 * sigma**2)
                ll = logsumexp(ll + np.log(node_w / np.sqrt(np.pi))[:, None], axis=0)
                joint = ll + norm.logpdf(logit, mu[j], tau[j]) + np.log(logit[1] - logit[0])
                per_h[j, i] = logsumexp(joint)
                p = np.exp(joint - per_h[j, i])
                posterior[j, i] = rng.choice(logit, p=p / p.sum())
        exact = logsumexp(per_h, axis=0) - np.log(draws)
        z = {
            "mu": mu[None, :, None, None], "log_tau": np.log(tau)[None, :, None],
            "m_log_sigma": m[None], "log_s_log_sigma": np.log(s)[None],
            "z": ((posterior - mu[:, None]) / tau[:, None])[None, :, :, None],
            "z_log_sigma": np.zeros((1, draws, n)),
        }
        z = {k: v.astype(np.float32) for k, v in z.items()}
        got, effective = _evidence("rw", inputs, _arrays(inputs), z, seed=0, n_hyper=draws,
                                   n_inner=4000)
        for i in range(n):
            assert abs(got[i] - exact[i]) < 0.02, (i, got[i], exact[i], effective[i])
        """,
    )


@pytest.fixture(scope="module")
def homan_run(homan_table, tmp_path_factory):
    """`pavlov analyze` of Homan et al. 2019 (the first 24 participants, SCR, groups A/B)
    with --fit hierarchical, 2 chains x 50 draws: returns (process, output folder)."""
    table = pd.read_csv(homan_table.path)
    keep = list(dict.fromkeys(table["participant"]))[:24]
    path = tmp_path_factory.mktemp("homan_bayes") / "homan24.csv"
    table[table["participant"].isin(keep)].to_csv(path, index=False)
    out = path.parent / "out"
    done = pavlov(
        "analyze", path, "--out", out, "--response-name", "scr", "--models", "rw",
        "--fit", "hierarchical", "--chains", "2", "--draws", "50", "--warmup", "50",
    )  # fmt: skip
    return done, out


def test_real_dataset_fitted_end_to_end_with_diagnostics_reported(homan_run):
    """Homan 2019 SCR through `pavlov analyze --fit hierarchical`: both fits in
    model_fits.csv, LOO, group posteriors with the A/B difference, diagnostics in CSV and
    report, a flagged (too short) fit named in the report, the predictive check figure."""
    done, out = homan_run
    assert done.returncode == 0, done.stderr
    fits = pd.read_csv(out / "model_fits.csv")
    assert set(fits["fit"]) == {"ml", "hierarchical"}
    bayes = fits[fits["fit"] == "hierarchical"].dropna(subset=["alpha"])
    assert len(bayes) >= 20
    assert (
        (bayes["alpha_hdi_low"] <= bayes["alpha"]) & (bayes["alpha"] <= bayes["alpha_hdi_high"])
    ).all()
    assert {"sigma", "beta0", "beta_v", "elpd_loo"} <= set(bayes.columns)
    diagnostics = pd.read_csv(out / "model_diagnostics.csv")
    row = diagnostics.iloc[0]
    assert np.isfinite(row["max_rhat"]) and np.isfinite(row["min_ess_bulk"])
    comparison = pd.read_csv(out / "model_comparison.csv")
    assert np.isfinite(comparison.loc[0, "elpd_loo"]) and comparison.loc[0, "se"] > 0
    assert "pareto_k_bad" in comparison.columns
    group = pd.read_csv(out / "group_posteriors.csv", keep_default_na=False)
    assert set(group.loc[group["quantity"] == "mean", "group"]) == {"A", "B"}
    assert "B - A" in set(group["group"])
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "Hierarchical fit diagnostics" in report and "Model comparison (PSIS-LOO" in report
    assert f"max R-hat {row['max_rhat']:.3f}" in report
    # 50 draws cannot pass the ESS check (>= 200 for 2 chains): the report must say so
    assert bool(row["flagged"])
    assert "FLAGGED" in report and "The hierarchical rw fit is flagged" in report
    assert (out / "posterior_predictive.png").stat().st_size > 10_000
    assert "posterior_predictive.png" in report


def main(*argv) -> int:
    """The `pavlov` command line in process (argparse's own errors exit through SystemExit)."""
    from pavlov.task.cli import main as pavlov_main

    try:
        return pavlov_main([str(a) for a in argv])
    except SystemExit as exit:
        return exit.code


def test_bad_sampler_options_one_line_exit_2(homan_table, tmp_path, capsys):
    """Bad or misplaced sampler options: one line on stderr, exit 2, nothing written."""
    out = tmp_path / "out"
    cases = [
        (
            ["--fit", "hierarchical", "--draws", "5"],
            "--draws: expected a whole number >= 10, got 5",
        ),
        (["--chains", "2"], "--chains: only used with --fit hierarchical, got --fit ml"),
        (
            ["--fit", "hierarchical", "--models"],
            "--fit hierarchical: expected --models to name at least one model",
        ),
    ]
    for extra, message in cases:
        assert main("analyze", homan_table.path, "--out", out, *extra) == 2, extra
        assert capsys.readouterr().err.strip().splitlines() == [f"pavlov: {message}"]
        assert not out.exists()
    # argparse's own check (not a whole number >= 1): its usage, then the one-line error
    assert (
        main("analyze", homan_table.path, "--out", out, "--fit", "hierarchical", "--chains", "0")
        == 2
    )
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "argument --chains: expected a whole number >= 1" in last and last.endswith("got '0'")
    assert main("recover", PROTOCOL, "--warmup", "50") == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "pavlov: --warmup: only used with --fit hierarchical, got --fit ml"
    ]


def test_too_few_participants_for_a_hierarchical_fit_write_nothing(homan_table, tmp_path, capsys):
    """One participant cannot be fitted hierarchically: `pavlov analyze --fit hierarchical`
    says so in one line, exits 2 and leaves no half-written output folder."""
    table = pd.read_csv(homan_table.path)
    one = tmp_path / "one.csv"
    table[table["participant"] == table["participant"].iloc[0]].to_csv(one, index=False)
    out = tmp_path / "out"
    argv = ["analyze", one, "--out", out, "--response-name", "scr", "--models", "rw"]
    assert main(*argv, "--fit", "hierarchical") == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("pavlov: trials: expected responses from at least 2 participants")
    assert not out.exists()


def test_more_draws_than_memory_holds_are_refused_before_sampling(homan_table, tmp_path, capsys):
    """An absurd --draws (10^9 x 64 chains) is refused in one line, exit 2, before any
    output is written, instead of filling the memory for hours."""
    out = tmp_path / "out"
    argv = ["analyze", homan_table.path, "--out", out, "--models", "rw", "--fit", "hierarchical"]
    assert main(*argv, "--chains", "64", "--draws", "1000000000") == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("pavlov: --chains x --draws: 64 x 1000000000 draws of 1 model(s)")
    assert line.endswith("ask for fewer draws, chains or models")
    assert not out.exists()


def test_missing_extra_is_one_line_exit_2(homan_table, tmp_path):
    """Without NumPyro installed, --fit hierarchical says how to install it (exit 2)."""
    fake = tmp_path / "fake"
    (fake / "numpyro").mkdir(parents=True)
    (fake / "numpyro" / "__init__.py").write_text("raise ImportError('not installed')\n")
    env = {**os.environ, "PYTHONPATH": str(fake)}
    out = tmp_path / "out"
    done = pavlov("analyze", homan_table.path, "--out", out, "--fit", "hierarchical", env=env)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "pavlov: --fit hierarchical: needs numpyro; install the extra with pip install "
        "'pavlov[bayes]'"
    ]
    assert not out.exists()
    done = pavlov("recover", PROTOCOL, "--fit", "hierarchical", env=env)
    assert done.returncode == 2 and "pavlov[bayes]" in done.stderr


def test_analyze_without_hierarchical_never_imports_jax():
    """`pavlov analyze` (ML fits) does not import JAX: its start-up cost stays out."""
    code = (
        "import sys; import pavlov.analysis.cli, pavlov.analysis.fit, pavlov.analysis.fmri, "
        "pavlov.analysis.models_cli; print('jax' in sys.modules, 'numpyro' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.split() == ["False", "False"]


def test_recover_hierarchical_reports_recovery_coverage_and_identifiability(tmp_path):
    """`pavlov recover --fit hierarchical` refits simulated participants hierarchically and
    prints r, HDI coverage, posterior contraction and the diagnostics; --out has the HDIs."""
    out = tmp_path / "recovery.csv"
    done = pavlov(
        "recover", PROTOCOL, "--model", "rw", "--response", "scr", "--participants", "6",
        "--fit", "hierarchical", "--chains", "2", "--draws", "20", "--warmup", "20",
        "--out", out,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "hierarchical fit, scr (noise SD 0.4), 6 participants x 69 trials" in lines[0]
    assert lines[1].split() == ["parameter", "r", "rho", "bias", "rmse", "in", "HDI",
                                "contraction", "overlap"]  # fmt: skip
    assert lines[2].split()[0] == "alpha"
    assert any(line.startswith("diagnostics: max R-hat") for line in lines)
    table = pd.read_csv(out)
    assert list(table.columns) == [
        "participant", "parameter", "true", "estimated", "hdi_low", "hdi_high", "covered"
    ]  # fmt: skip
    assert len(table) == 6
    assert (table["hdi_low"] <= table["estimated"]).all()
    assert (table["estimated"] <= table["hdi_high"]).all()
    assert (table["covered"] == table["true"].between(table["hdi_low"], table["hdi_high"])).all()


def test_recover_confusion_hierarchical_names_flagged_fits_with_their_diagnostics(tmp_path):
    """`pavlov recover --confusion --fit hierarchical` counts each simulated sample's
    participants by the model with the higher leave-one-participant-out elpd, names the
    flagged fits (20 draws cannot converge) and prints the R-hat, ESS and divergences behind
    each flag; --out has the same rows."""
    out = tmp_path / "confusion.csv"
    done = pavlov(
        "recover", PROTOCOL, "--confusion", "--models", "rw", "hybrid", "--response", "scr",
        "--participants", "4", "--fit", "hierarchical", "--chains", "2", "--draws", "20",
        "--warmup", "20", "--out", out,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[2].split() == ["simulated", "rw", "hybrid", "recovered", "sample", "winner"]
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table["simulated"]) == ["rw", "hybrid"]
    assert (table["rw"] + table["hybrid"] == table["n"]).all() and (table["n"] == 4).all()
    for row in table.itertuples():
        assert row.recovered == getattr(row, row.simulated) / row.n
        assert row.sample_winner in ("rw", "hybrid")
        assert row.flagged  # 20 draws: at least one of the two fits is flagged
        for model in row.flagged.split(", "):
            assert f"{model}: max R-hat" in row.diagnostics
        line = f"diagnostics, {row.simulated}-generated sample: {row.diagnostics}"
        assert line in lines
        printed = next(text for text in lines[3:5] if text.split()[0] == row.simulated)
        assert printed.endswith(f"(flagged: {row.flagged})")
