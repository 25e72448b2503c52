"""Benchmark: what the design lets any fit recover, by an oracle on the same simulated data.

The hierarchical fit's targets (issue 11: RW α recovery r ≥ 0.95 from SCR, hybrid-generated
participants preferred to RW by ≥ 80 %) are only reachable if the design carries that much
information. This script computes the best any estimator can do on the data of
``pavlov recover`` (``aversive_pavlovian_fmri.yaml``, 69 trials, SCR noise SD 0.4, rates
uniform in 0.05–0.95): an *oracle* that knows the generative model, the true population
distribution of the rates (uniform) and the shared observation parameters, and computes each
participant's exact posterior on a grid of the rates.

- **RW α**: the posterior mean of α given the true β0 = 0.2, βv = 1 and σ; its correlation
  with the true α is the ceiling of any estimator's recovery r (the posterior mean minimises
  the expected squared error).
- **model recovery**: each model's shared observation parameters (β, σ) are set to their
  maximum marginal likelihood over the sample (the rates integrated over their uniform
  prior), then each participant goes to the model with the higher marginal likelihood
  (equal prior odds): the Bayes classifier, whose accuracy no per-participant criterion
  (LOO, BIC, ...) can beat on average.

- **model recovery, population fitted** (``--fitted-population``): the same comparison with
  each model's population of rates not known but fitted (logit-normal, independent rates, as
  the hierarchical fit's; with the shared β and σ, by maximum marginal likelihood on a grid
  evenly spaced in logit over ±5; the maximum is polished until it stops rising). A fit must
  estimate the population, and a population fitted to hybrid learners lets the RW model adapt
  to them too, so this is what a hierarchical fit with logit-normal populations can be
  compared with (the maximum-likelihood plug-in, not a bound on every fit). Its group means are
  unbounded: a mean beyond ±5 puts the population on the grid's edge (every κ = 0.993, as
  maximum likelihood does for the hybrid fitted to seed 0's RW learners), which a fit with a
  prior on the group means does not reach.

Each figure is the mean (and SD) over ``--samples`` simulated samples of ``--participants``
(seeds 1, 2, ...; the README's recovery runs use seed 0), for the design as it is and for
variations: fitting all 69 trials (the simulator adds no US response to reinforced trials,
real SCR does), lower noise, and the schedule run twice.

Run: ``python benchmarks/identifiability.py [--participants 100] [--samples 5]
[--fitted-population]``.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp

from pavlov.analysis.fit import _prepare
from pavlov.analysis.models import MODELS, run_model
from pavlov.analysis.recovery import PARAMETER_RANGE, SCR_BETA, simulate_trials
from pavlov.protocols import load_protocol

PROTOCOL = Path(__file__).resolve().parents[1] / "protocols" / "aversive_pavlovian_fmri.yaml"
GRID = {"rw": 181, "hybrid": 14}  # grid points per rate (uniform prior's midpoints)
LOGIT_SPAN = 5.0  # a fitted population's grid: logit −5…5, rates 0.007–0.993


def grid(model: str, fitted: bool = False) -> np.ndarray:
    """(G, k) rate combinations at the midpoints of the uniform prior's cells, or
    (``fitted``) evenly spaced on the logit scale over ±``LOGIT_SPAN``, for a fitted
    logit-normal population."""
    n = GRID[model]
    if fitted:
        logits = -LOGIT_SPAN + (np.arange(n) + 0.5) * 2 * LOGIT_SPAN / n
        axis = 1.0 / (1.0 + np.exp(-logits))
    else:
        low, high = PARAMETER_RANGE
        axis = low + (np.arange(n) + 0.5) * (high - low) / n
    return np.array(list(itertools.product(axis, repeat=len(MODELS[model]))))


def design(model, rates, cues, outcomes, plus, scr_model):
    """Regressors (P, T, k) of ``scr_model``'s observation model for one rate set per participant."""
    params = {name: rates[:, j] for j, name in enumerate(MODELS[model])}
    trace = run_model(model, params, cues, outcomes, plus=plus)
    columns = [np.ones_like(trace.v), trace.v]
    if scr_model == "hybrid":
        columns.append(trace.alpha)
    return np.nan_to_num(np.stack(columns, axis=-1))


def statistics(model, cues, outcomes, plus, y, observed, fitted=False):
    """Sufficient statistics of the Gaussian likelihood on every grid point and participant.

    Returns ``XX`` (G, P, k, k), ``Xy`` (G, P, k), ``yy`` (P,), ``n`` (P,) over the
    observed trials, and the grid (G, k).
    """
    points = grid(model, fitted)
    n_part = cues.shape[0]
    weight = observed.astype(float)
    yz = np.where(observed, y, 0.0)
    xx, xy = [], []
    for chunk in np.array_split(np.arange(len(points)), max(1, len(points) // 128)):
        rates = np.repeat(points[chunk], n_part, axis=0)
        tile = (len(chunk), 1)
        x = design(
            model, rates, np.tile(cues, tile), np.tile(outcomes, tile), np.tile(plus, tile), model
        )
        x = x.reshape(len(chunk), n_part, *x.shape[1:])
        xx.append(np.einsum("gptk,gptl,pt->gpkl", x, x, weight))
        xy.append(np.einsum("gptk,pt->gpk", x, yz * weight))
    return {
        "XX": np.concatenate(xx),
        "Xy": np.concatenate(xy),
        "yy": (yz**2).sum(axis=1),
        "n": weight.sum(axis=1),
        "grid": points,
    }


def loglik(stats, beta, sigma):
    """(G, P) log-likelihood of every grid point and participant for shared β and σ."""
    ssr = (
        stats["yy"][None]
        - 2 * stats["Xy"] @ beta
        + np.einsum("gpkl,k,l->gp", stats["XX"], beta, beta)
    )
    return -0.5 * ssr / sigma**2 - stats["n"][None] * (np.log(sigma) + 0.5 * np.log(2 * np.pi))


def marginal(stats, beta, sigma):
    """(P,) log marginal likelihood: the rates integrated over their uniform prior."""
    ll = loglik(stats, beta, sigma)
    return logsumexp(ll, axis=0) - np.log(ll.shape[0])


def best_shared(stats, k):
    """Shared β and σ maximising the sample's marginal likelihood (the group level, known)."""

    def cost(theta):
        return -marginal(stats, theta[:k], np.exp(theta[k])).sum()

    # several starts (the simulator's β of either model among them): the surface of the
    # hybrid's three β has more than one basin
    starts = [np.zeros(k), *(np.resize(np.asarray(b, float), k) for b in SCR_BETA.values())]
    fits = [
        minimize(cost, np.r_[s, np.log(0.5)], method="Nelder-Mead", options={"maxiter": 4000})
        for s in starts
    ]
    theta = polish(cost, min(fits, key=lambda f: f.fun).x)
    return theta[:k], float(np.exp(theta[k]))


def population_marginal(stats, beta, sigma, mu, tau):
    """(P,) log marginal likelihood with the rates integrated over a logit-normal population
    (independent rates, logit means ``mu``, SDs ``tau``) on the logit grid."""
    logits = np.log(stats["grid"] / (1.0 - stats["grid"]))
    log_w = (-0.5 * ((logits - mu) / tau) ** 2).sum(axis=1)
    log_w -= logsumexp(log_w)
    return logsumexp(loglik(stats, beta, sigma) + log_w[:, None], axis=0)


def best_population(stats, k, n_rates):
    """Shared β, σ and the rates' logit-normal population maximising the marginal
    likelihood: the group level a hierarchical fit estimates, without knowing the truth."""

    def cost(theta):
        beta, sigma = theta[:k], np.exp(theta[k])
        mu, tau = theta[k + 1 : k + 1 + n_rates], np.exp(theta[k + 1 + n_rates :])
        return -population_marginal(stats, beta, sigma, mu, tau).sum()

    starts = [np.zeros(k), *(np.resize(np.asarray(b, float), k) for b in SCR_BETA.values())]
    fits = [
        minimize(
            cost,
            np.r_[s, np.log(0.5), np.zeros(n_rates), np.zeros(n_rates)],
            method="Nelder-Mead",
            options={"maxiter": 6000, "maxfev": 6000},
        )
        for s in starts
    ]
    return polish(cost, min(fits, key=lambda f: f.fun).x)


def polish(cost, theta: np.ndarray) -> np.ndarray:
    """Restart Nelder–Mead from its own result, then BFGS, until the cost stops falling.

    One Nelder–Mead run stops where its simplex has collapsed, which in these ridged
    surfaces is often short of the maximum: on seed 1's RW fit to hybrid learners it
    stopped at τ = 1.23 with the marginal log-likelihood 7.7 below τ = 0.8's. A population
    that is not the maximum misstates the ceiling (there, 78 % model recovery instead of
    71 %).
    """
    best = cost(theta)
    for _ in range(20):
        start = best
        for method, options in (
            ("Nelder-Mead", {"maxiter": 6000, "maxfev": 6000, "xatol": 1e-6, "fatol": 1e-8}),
            ("BFGS", {"gtol": 1e-6}),
        ):
            fit = minimize(cost, theta, method=method, options=options)
            if fit.fun < best:  # against the best so far, so a step never goes back
                theta, best = fit.x, float(fit.fun)
        if start - best < 1e-6:
            break
    return theta


def simulate(protocol, model, n, noise, seed, repeat):
    """Schedules of ``n`` simulated participants, true rates, and SCR (as pavlov recover)."""
    trials, truth = simulate_trials(protocol, model, n, noise, "scr", seed)
    data = _prepare(trials, "scr", None)
    cues, outcomes, plus = (np.tile(data[k], (1, repeat)) for k in ("cues", "outcomes", "plus"))
    rates = truth[list(MODELS[model])].to_numpy()
    if repeat == 1:  # pavlov recover's own data
        return cues, outcomes, plus, data["y"], rates
    x = design(model, rates, cues, outcomes, plus, model)
    rng = np.random.default_rng(seed + 10_000)
    y = x @ np.asarray(SCR_BETA[model]) + rng.normal(0.0, noise, cues.shape)
    return cues, outcomes, plus, y, rates


def evaluate(protocol, n, noise, seed, repeat, all_trials, rw_only=False, fitted_population=False):
    """Oracle RW-α r, hybrid rate r's and per-participant model recovery of one sample
    (``rw_only``: RW-α r alone, which needs no grid over the hybrid's three rates)."""
    out = {}
    models = ("rw",) if rw_only else ("rw", "hybrid")
    for generating in models:
        cues, outcomes, plus, y, rates = simulate(protocol, generating, n, noise, seed, repeat)
        observed = cues >= 0
        if not all_trials:
            observed &= outcomes == 0
        stats = {m: statistics(m, cues, outcomes, plus, y, observed) for m in models}
        # the generating model's posterior means with the true shared parameters
        truth = stats[generating]
        ll = loglik(truth, np.asarray(SCR_BETA[generating]), noise)
        weights = np.exp(ll - logsumexp(ll, axis=0))
        means = weights.T @ truth["grid"]  # (P, k)
        for j, name in enumerate(MODELS[generating]):
            out[f"{generating} {name} r"] = np.corrcoef(rates[:, j], means[:, j])[0, 1]
        if rw_only:
            break
        evidence = {
            m: marginal(stats[m], *best_shared(stats[m], 3 if m == "hybrid" else 2))
            for m in ("rw", "hybrid")
        }
        other = "rw" if generating == "hybrid" else "hybrid"
        out[f"{generating} -> {generating}"] = float(
            np.mean(evidence[generating] > evidence[other])
        )
        if fitted_population:
            # the same comparison with each model's rate population fitted (logit-normal,
            # as the hierarchical fit's) instead of known: what a fit can hope for
            fitted = {}
            for m in ("rw", "hybrid"):
                k, n_rates = (3, 3) if m == "hybrid" else (2, 1)
                st = statistics(m, cues, outcomes, plus, y, observed, fitted=True)
                theta = best_population(st, k, n_rates)
                fitted[m] = population_marginal(
                    st,
                    theta[:k],
                    np.exp(theta[k]),
                    theta[k + 1 : k + 1 + n_rates],
                    np.exp(theta[k + 1 + n_rates :]),
                )
            out[f"{generating} -> {generating}, population fitted"] = float(
                np.mean(fitted[generating] > fitted[other])
            )
        if generating == "hybrid":
            # which hybrid learners look like RW: associability that barely moves (small η)
            wrong = evidence["hybrid"] <= evidence["rw"]
            for label, who in (("misread", wrong), ("read right", ~wrong)):
                out[f"hybrid {label}: median eta"] = (
                    float(np.median(rates[who, 1])) if who.any() else np.nan
                )
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=100)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument(
        "--rw-only", action="store_true", help="RW α recovery only, for every variant (fast)"
    )
    parser.add_argument(
        "--seed", type=int, help="one sample of this seed, as designed (e.g. 0: the README's)"
    )
    parser.add_argument(
        "--fitted-population",
        action="store_true",
        help="also compare models with each model's rate population fitted (logit-normal)",
    )
    args = parser.parse_args(argv)
    protocol = load_protocol(PROTOCOL)
    variants = [
        ("as designed: 57 unreinforced trials, noise SD 0.4", 0.4, 1, False),
        ("all 69 trials in the likelihood", 0.4, 1, True),
        ("noise SD 0.2", 0.2, 1, False),
        ("noise SD 0.1", 0.1, 1, False),
        ("schedule run twice (114 unreinforced trials)", 0.4, 2, False),
    ]
    seeds = range(1, args.samples + 1)
    if args.seed is not None:
        variants, seeds = variants[:1], [args.seed]
    for label, noise, repeat, all_trials in variants:
        runs = [
            evaluate(
                protocol,
                args.participants,
                noise,
                seed,
                repeat,
                all_trials,
                args.rw_only,
                args.fitted_population,
            )
            for seed in seeds
        ]
        print(f"{label} ({len(seeds)} sample(s) x {args.participants} participants)")
        for key in runs[0]:
            values = np.array([r[key] for r in runs])
            spread = f" (SD {np.nanstd(values, ddof=1):.3f})" if len(values) > 1 else ""
            print(f"  {key:32s} {np.nanmean(values):.3f}{spread}")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
