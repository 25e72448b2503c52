"""Hierarchical Bayesian fits of the learning models (NumPyro NUTS; ArviZ diagnostics and LOO).

Per-participant maximum likelihood (:mod:`pavlov.analysis.fit`) cannot identify the hybrid
model from one visit's SCR: estimates pile up at the bounds and κ barely correlates with the
truth. Fitting every participant at once with group-level priors lets each participant
borrow strength from the others (partial pooling; Homan et al. 2019 fitted their hybrid
models this way in Stan). :func:`fit_hierarchical` does that for ``rw``, ``rw2`` and
``hybrid`` with the same learning equations as :mod:`pavlov.analysis.models`.

Model
-----
For participant ``i`` and learning rate ``r`` (all rates in (0, 1))::

    rate_ir = logistic(μ_r[g_i] + τ_r · z_ir),   z_ir ~ N(0, 1)   (non-centred)
    μ_r[g] ~ N(0, 1.5),   τ_r ~ HalfNormal(1)

``g_i`` is the participant's group when the data have two or more groups (a ``group``
column, e.g. from ``participants.tsv``), so each group has its own mean on the logit scale
and the posterior of every difference between group means is reported; without groups
there is one mean.

Observation models, as in the maximum-likelihood fits (:mod:`pavlov.analysis.fit`):

- **ratings**, ``rating_model="linear"`` (the default, as for ``fit_models``):
  ``N(β0_i + βv_i·V_t, σ_i²)`` with per-participant β, so a participant who uses only part
  of the scale is not read as a slow learner; ``rating_model="identity"``: the rating
  rescaled to [0, 1] is ``N(V_t, σ_i²)``;
- **SCR**: ``N(β0_i + βv_i·V_t [+ βα_i·α_t for hybrid], σ_i²)`` with per-participant β.
  The SCR (and a linearly modelled rating) is standardised over the whole sample before
  fitting (so one set of priors suits µS, √µS, z-scores or any rating scale) and the β and
  σ are reported back in the data's units.

The observation parameters are pooled too (``β_ij = m_j + s_j·z_ij``, ``log σ_i = m_σ +
s_σ·z_i``): pooling only the learning rates leaves the β free to absorb what the rates
should explain (analysis.md §4). Priors on the standardised scale: ``m_j ~ N(0, 2)``,
``s_j ~ HalfNormal(1)``, ``m_σ ~ N(0, 1)`` (ratings: ``N(−1.5, 1)``), ``s_σ ~
HalfNormal(0.5)``. The per-participant β are integrated out of the posterior that NUTS
explores: given the rates and σ the response is linear in β and β's population is Gaussian,
so each participant's likelihood with β integrated is a Gaussian in closed form
(:func:`_beta_marginal`), and β is drawn afterwards from its exact conditional posterior for
every kept draw. The joint draws are of the same posterior; the sampler no longer has to
cross the ridges where β and the rates trade off (βα·α against α0 and η, βv·V against κ),
has 3 fewer dimensions per participant for the hybrid, and ``elpd_lopo`` integrates β
exactly instead of by Monte Carlo.

Trials: the model learns from every trial; the likelihood uses the trials with a response,
and for SCR only the unreinforced ones by default (the response to a delivered US
contaminates the CS response; analysis.md §1.3), as the maximum-likelihood fits do.

Sampling and checks
-------------------
NUTS (NumPyro's kernel, target acceptance 0.9) with ``chains`` chains of ``warmup`` +
``draws`` iterations on the log posterior written out in JAX (no model tracing: the model is
compiled once for sampling and once for the derived quantities, which matters because
compilation, not sampling, dominates small fits). The trial loop is a ``jax.lax.scan``
vectorised over participants; the chains are vmapped, and split over CPU devices with
``pmap`` when several cores are free (:func:`configure_devices`). Every fit reports the
largest R-hat, the smallest bulk and tail ESS and the number of divergent transitions; a
fit with R-hat > 1.01, a divergence or a bulk ESS below 100 per chain is *flagged*
(``Diagnostics.flagged``) and the report says so. Models are compared by PSIS-LOO on the
trial-level likelihood (``model_comparison``), with the count of Pareto k > 0.7 (where the
LOO estimate is unreliable).

Identifiability: for every rate the prior of one participant's rate (the population
distribution implied by the hyperpriors) is compared with that participant's posterior:
``contraction = 1 − var(posterior) / var(prior)`` (0: the data taught nothing) and the
overlap of the two densities (1: identical), averaged over participants. A parameter the
design cannot identify shows a posterior that still looks like its prior.

JAX and NumPyro are imported only when a hierarchical fit runs (``pip install
pavlov[bayes]``); :func:`require` says in one line when they are missing.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pavlov.analysis.errors import AnalysisError
from pavlov.analysis.fit import RATING_MODELS, RESPONSES, _prepare
from pavlov.analysis.models import MODELS, ModelError, check_model

__all__ = [
    "HDI_PROB",
    "Diagnostics",
    "HierarchicalError",
    "HierarchicalFit",
    "check_data",
    "check_sampling",
    "fit_hierarchical",
    "participant_winners",
    "require",
]

#: Probability mass of the reported highest-density intervals.
HDI_PROB = 0.94

#: Largest acceptable R-hat (Vehtari et al. 2021).
RHAT_LIMIT = 1.01

#: Smallest acceptable bulk ESS per chain.
ESS_PER_CHAIN = 100

#: Pareto k above which a PSIS-LOO term is unreliable.
PARETO_K_LIMIT = 0.7

#: Posterior-mode searches, and Adam steps of each, that place the chains' starting points.
START_SEARCHES, START_STEPS = 8, 300

#: Group-level posterior draws, and importance draws per participant, behind ``elpd_lopo``.
EVIDENCE_DRAWS = (500, 2000)

#: The importance proposal behind ``elpd_lopo``: the t's degrees of freedom, and the share
#: and widening of the defensive (population) component.
PROPOSAL_DF, DEFENSIVE_SHARE, DEFENSIVE_WIDTH = 4, 0.2, 1.5

_MU_SD = 1.5  # logit-scale prior SD of the group means of the rates
_TAU_SD = 1.0  # half-normal scale of the between-participant logit SD
_BETA_LABELS = ("beta0", "beta_v", "beta_alpha")


class HierarchicalError(AnalysisError):
    """Options or data that a hierarchical fit cannot use, or the extra is missing (one line)."""


def require() -> None:
    """Raise :class:`HierarchicalError` (one line) unless NumPyro, JAX and ArviZ import."""
    missing = []
    for name in ("jax", "numpyro", "arviz"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise HierarchicalError(
            f"--fit hierarchical: needs {', '.join(missing)}; install the extra with "
            "pip install 'pavlov[bayes]'"
        )


def check_sampling(chains: Any, draws: Any, warmup: Any, seed: Any) -> None:
    """Raise :class:`HierarchicalError` (one line, naming the option) for unusable settings."""
    for flag, value, low in (
        ("--chains", chains, 1),
        ("--draws", draws, 10),
        ("--warmup", warmup, 10),
        ("--seed", seed, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
            raise HierarchicalError(f"{flag}: expected a whole number >= {low}, got {value!r}")
    if chains * draws < 40:
        raise HierarchicalError(
            f"--chains x --draws: expected at least 40 draws in all for diagnostics, "
            f"got {chains} x {draws}"
        )


@dataclass(frozen=True)
class Diagnostics:
    """Convergence of one model's fit.

    Attributes
    ----------
    model : str
    max_rhat, min_ess_bulk, min_ess_tail : float
        Over every parameter of the model (group and participant level).
    divergences : int
        Divergent transitions after warm-up, over all chains.
    chains, draws, warmup : int
    seconds : float
        Wall time of compilation, warm-up, sampling and the derived quantities.
    steps_per_draw : float
        Mean leapfrog steps (gradient evaluations) per kept iteration and chain: the
        sampler's cost independent of the machine's speed and load.
    max_tree_depth : int
        Deepest NUTS tree of a kept iteration (depth d means up to 2^d − 1 steps).
    step_size : float
        Adapted step size (mean over chains).
    compile_seconds : float
        Wall time spent compiling the sampler.
    worst_rhat : str
        The parameter with the largest R-hat, e.g. ``eta of participant 44``: a participant
        whose posterior has two modes the chains cross seldom shows here.
    """

    model: str
    max_rhat: float
    min_ess_bulk: float
    min_ess_tail: float
    divergences: int
    chains: int
    draws: int
    warmup: int
    seconds: float
    steps_per_draw: float = math.nan
    max_tree_depth: int = 0
    step_size: float = math.nan
    compile_seconds: float = math.nan
    worst_rhat: str = ""

    @property
    def problems(self) -> list[str]:
        """Why the fit is flagged (empty when it is not)."""
        out = []
        if math.isfinite(self.max_rhat) and self.max_rhat > RHAT_LIMIT:  # NaN: one chain
            where = f" ({self.worst_rhat})" if self.worst_rhat else ""
            out.append(f"R-hat {self.max_rhat:.3f} > {RHAT_LIMIT}{where}")
        if self.divergences:
            out.append(f"{self.divergences} divergent transition(s)")
        if self.min_ess_bulk < ESS_PER_CHAIN * self.chains:
            out.append(f"bulk ESS {self.min_ess_bulk:.0f} < {ESS_PER_CHAIN * self.chains}")
        return out

    @property
    def flagged(self) -> bool:
        """True when R-hat, divergences or ESS say the posterior may be wrong."""
        return bool(self.problems)


@dataclass
class HierarchicalFit:
    """Everything a hierarchical fit of several models produced.

    Attributes
    ----------
    fits : pandas.DataFrame
        Per participant and model: ``participant, model, fit`` (``hierarchical``), every
        rate's posterior mean with ``<rate>_hdi_low``/``_hdi_high`` (94 % HDI), the
        posterior means of ``sigma`` and (SCR) ``beta0, beta_v[, beta_alpha]`` in the data's
        units, ``elpd_loo`` (the participant's summed PSIS-LOO terms), ``elpd_lopo`` (the
        log predictive density of the participant's data given the group level alone:
        leave-one-participant-out, see :func:`participant_winners`), ``elpd_lopo_draws``
        (the effective number of importance draws behind it, of 1,000,000; below about
        100 the estimate rests on a few draws), ``n_obs``.
    group : pandas.DataFrame
        ``group_posteriors.csv``: ``model, parameter, quantity, group, mean, sd, hdi_low,
        hdi_high, p_positive, r_hat, ess_bulk, contraction, overlap``. ``quantity`` is
        ``mean`` (the rate of a typical participant, logistic(μ)), ``sd`` (τ, logit scale),
        ``difference`` (group mean minus the first group's, rate scale) or ``observation``.
    comparison : pandas.DataFrame
        ``model_comparison.csv``: ``model, rank, elpd_loo, se, p_loo, elpd_diff, dse,
        weight, n_obs, pareto_k_bad, warning, participants_best`` (how many participants'
        data the model predicts best by ``elpd_lopo``, :func:`participant_winners`).
    diagnostics : dict of str to Diagnostics
    predictions : dict of str to pandas.DataFrame
        Posterior predictive per observed trial: ``row`` (index into the trial frame),
        ``observed``, ``predicted`` (mean), ``draw`` columns of replicated responses.
    pointwise : dict of str to ndarray
        PSIS-LOO elpd of every observation, aligned with ``observations``.
    observations : pandas.DataFrame
        ``participant``, ``row`` of every observation entering the likelihood.
    attrs : dict
        Settings (response, chains, draws, warm-up, seed, v0, observation model, groups).
    """

    fits: pd.DataFrame
    group: pd.DataFrame
    comparison: pd.DataFrame
    diagnostics: dict[str, Diagnostics]
    predictions: dict[str, pd.DataFrame]
    pointwise: dict[str, np.ndarray]
    observations: pd.DataFrame
    attrs: dict = field(default_factory=dict)

    def diagnostics_table(self) -> pd.DataFrame:
        """One row per model: the numbers of :class:`Diagnostics` and ``flagged``/``problems``."""
        rows = []
        for d in self.diagnostics.values():
            rows.append(
                {
                    "model": d.model,
                    "max_rhat": d.max_rhat,
                    "worst_rhat": d.worst_rhat,
                    "min_ess_bulk": d.min_ess_bulk,
                    "min_ess_tail": d.min_ess_tail,
                    "divergences": d.divergences,
                    "chains": d.chains,
                    "draws": d.draws,
                    "warmup": d.warmup,
                    "seconds": d.seconds,
                    "compile_seconds": d.compile_seconds,
                    "steps_per_draw": d.steps_per_draw,
                    "max_tree_depth": d.max_tree_depth,
                    "step_size": d.step_size,
                    "flagged": d.flagged,
                    "problems": "; ".join(d.problems),
                }
            )
        return pd.DataFrame(rows)


# --- entry point ----------------------------------------------------------------------


def fit_hierarchical(
    trials: pd.DataFrame,
    models: Sequence[str] = ("rw", "hybrid"),
    response: str = "scr",
    *,
    chains: int = 4,
    draws: int = 1000,
    warmup: int = 1000,
    seed: int = 0,
    v0: float = 0.5,
    rating_scale: tuple[float, float] | None = None,
    exclude_reinforced: bool | None = None,
    rating_model: str = "linear",
    groups: bool = True,
    progress: bool | None = None,
    predictive_draws: int = 200,
) -> HierarchicalFit:
    """Fit learning models to all participants at once, with group-level priors.

    Parameters
    ----------
    trials : pandas.DataFrame
        The tidy trial frame (as for :func:`pavlov.analysis.fit.fit_models`), optionally
        with a ``group`` column ("" = no group).
    models : sequence of str
        Any of ``rw``, ``rw2``, ``hybrid``.
    response : str
        ``rating`` or ``scr``.
    chains, draws, warmup : int
        NUTS chains, kept draws per chain and warm-up iterations per chain.
    seed : int
        Seeds the sampler (and the prior draws of the identifiability check).
    v0 : float
        Initial value of every CS.
    rating_scale : (float, float), optional
        Ends of the rating scale (as for ``fit_models``).
    exclude_reinforced : bool, optional
        Leave reinforced trials out of the likelihood; default True for SCR, False for
        ratings. The model learns from them either way.
    rating_model : {'linear', 'identity'}
        Ratings' observation model, as for :func:`pavlov.analysis.fit.fit_models`:
        ``linear`` (β0 + βv·V + noise, per-participant β) or ``identity`` (V + noise on the
        rating rescaled to [0, 1]). Not used for SCR.
    groups : bool
        Give each group its own group means when the data have two or more groups.
    progress : bool, optional
        Show a progress display on stderr; by default only when stderr is a terminal.
    predictive_draws : int
        Posterior draws used for the posterior predictive check.

    Returns
    -------
    HierarchicalFit
    """
    require()
    if response not in RESPONSES:
        raise HierarchicalError(
            f"response: expected one of {', '.join(RESPONSES)}, got {response!r}"
        )
    models = tuple(dict.fromkeys(models))
    if not models:
        raise HierarchicalError("models: expected at least one model, got none")
    for model in models:
        try:
            check_model(model)
        except ModelError as error:
            raise HierarchicalError(str(error)) from None
    if rating_model not in RATING_MODELS:
        raise HierarchicalError(
            f"rating_model: expected one of {', '.join(RATING_MODELS)}, got {rating_model!r}"
        )
    linear = response == "scr" or rating_model == "linear"
    check_sampling(chains, draws, warmup, seed)
    configure_devices(chains)
    if exclude_reinforced is None:
        exclude_reinforced = response == "scr"
    data, observed, fitted = _observed(trials, response, rating_scale, exclude_reinforced)
    _check_memory(models, int(observed.sum()), len(fitted), chains, draws)
    everyone = data["participants"]
    participants = [everyone[i] for i in fitted]
    group_of, group_names = _groups(trials, data, groups)
    group_of = group_of[fitted]
    rows = np.full(data["y"].shape, -1, dtype=np.int64)
    rows[data["row_of"], data["position"]] = np.arange(len(trials))
    rows, observed = rows[fitted], observed[fitted]
    part_idx, trial_idx = np.nonzero(observed)
    y = data["y"][fitted][part_idx, trial_idx]
    if linear:
        centre, scale = float(np.mean(y)), float(np.std(y))
        scale = scale if scale > 0 else 1.0
    else:
        centre, scale = 0.0, 1.0
    inputs = _Inputs(
        cues=data["cues"][fitted],
        outcomes=data["outcomes"][fitted],
        plus=data["plus"][fitted],
        part_idx=part_idx,
        trial_idx=trial_idx,
        y=(y - centre) / scale,
        group_of=group_of,
        n_groups=len(group_names),
        response=response,
        v0=v0,
        linear=linear,
    )
    observations = pd.DataFrame(
        {"participant": [participants[i] for i in part_idx], "row": rows[part_idx, trial_idx]}
    )
    show = sys.stderr.isatty() if progress is None else progress
    fits, group_rows, diagnostics, predictions, pointwise, idatas = [], [], {}, {}, {}, {}
    for index, model in enumerate(models):
        result = _fit_one(
            model,
            inputs,
            chains=chains,
            draws=draws,
            warmup=warmup,
            seed=seed + index,
            show=show,
            n_predictive=predictive_draws,
            names=participants,
            groups=group_names,
        )
        idata, samples, diag = result
        idatas[model] = idata
        diagnostics[model] = diag
        loo = _loo(idata)
        pointwise[model] = loo.loo_i.values if loo is not None else np.full(len(y), np.nan)
        table = _participant_table(
            model, samples, participants, part_idx, pointwise[model], response, centre, scale
        )
        table["elpd_lopo"] = samples.pop("elpd_lopo")  # like elpd_loo: standardised units
        table["elpd_lopo_draws"] = samples.pop("elpd_lopo_draws")
        table = table.set_index("participant").reindex(everyone).rename_axis("participant")
        table = table.reset_index().assign(model=model, fit="hierarchical")
        table["n_obs"] = table["n_obs"].fillna(0).astype(int)
        fits.append(table)
        group_rows.append(
            _group_table(model, idata, samples, group_names, response, centre, scale, seed)
        )
        predictions[model] = _predictive(samples, rows[part_idx, trial_idx], y, centre, scale)
    fit_frame = pd.concat(fits, ignore_index=True)
    comparison = _comparison(idatas, fit_frame)
    observation = (
        "rating: rescaled rating ~ N(V, sigma_i^2) (identity)"
        if not linear
        else "rating ~ N(beta0_i + beta_v_i*V, sigma_i^2) (linear), beta and sigma pooled "
        "across participants"
        if response == "rating"
        else "scr ~ N(beta0_i + beta_v_i*V [+ beta_alpha_i*alpha for hybrid], sigma_i^2), "
        "beta and sigma pooled across participants"
    )
    attrs = {
        "fit": "hierarchical",
        "response": response,
        "chains": chains,
        "draws": draws,
        "warmup": warmup,
        "seed": seed,
        "v0": v0,
        "rating_scale": data["scale"],
        "exclude_reinforced": bool(exclude_reinforced),
        "rating_model": rating_model if response == "rating" else None,
        "observation": observation,
        "groups": list(group_names) if len(group_names) > 1 else [],
        "hdi_prob": HDI_PROB,
    }
    fit_frame.attrs.update(attrs)
    return HierarchicalFit(
        fits=fit_frame,
        group=pd.concat(group_rows, ignore_index=True),
        comparison=comparison,
        diagnostics=diagnostics,
        predictions=predictions,
        pointwise=pointwise,
        observations=observations,
        attrs=attrs,
    )


def check_data(
    trials: pd.DataFrame,
    response: str,
    exclude_reinforced: bool | None = None,
    models: Sequence[str] = (),
    chains: int = 4,
    draws: int = 1000,
) -> None:
    """Raise :class:`HierarchicalError` (one line) when ``trials`` cannot be fitted
    hierarchically: fewer than 2 participants with a usable ``response``, fewer than 3
    such trials each on average, or more kept draws of ``models`` than this machine's
    memory holds. ``pavlov analyze`` checks this before it writes anything, so a doomed
    ``--fit hierarchical`` leaves no half-written output folder."""
    if exclude_reinforced is None:
        exclude_reinforced = response == "scr"
    _, observed, fitted = _observed(trials, response, None, exclude_reinforced)
    _check_memory(models, int(observed.sum()), len(fitted), chains, draws)


def _check_memory(models: Sequence[str], n_obs: int, n_part: int, chains: int, draws: int):
    """Refuse, in one line, more kept draws than this machine's memory holds."""
    need = _draw_bytes(models, n_obs, n_part, chains, draws)
    have = _memory_bytes()
    if have and need > have:
        raise HierarchicalError(
            f"--chains x --draws: {chains} x {draws} draws of {len(models)} model(s) would "
            f"keep about {need / 2**30:,.0f} GiB of posterior draws (the log-likelihood of "
            f"{n_obs} observations each); this machine has {have / 2**30:,.0f} GiB: ask for "
            "fewer draws, chains or models"
        )


def _draw_bytes(models: Sequence[str], n_obs: int, n_part: int, chains: int, draws: int) -> float:
    """Rough memory the kept draws of ``models`` take: every draw keeps each observation's
    log-likelihood and each participant's rates, β, σ and z-scores, which ArviZ and
    PSIS-LOO copy in float64 (about three copies at the peak). For 100 × 120 hybrid
    learners, 4 × 1,000 draws: 0.9 GB, against a measured peak of 2 GB with JAX's own."""
    per_draw = sum(n_obs + n_part * (2 * len(MODELS[m]) + 5) for m in models if m in MODELS)
    return float(chains) * draws * per_draw * 8 * 3


def _memory_bytes() -> int:
    """Physical memory of this machine (0 where the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def _observed(trials, response, rating_scale, exclude_reinforced):
    """The padded data, which responses enter the likelihood, and which participants have
    any (participants without one carry no information about anything but the priors:
    they stay out of the sampler and get NaN estimates, as in the ML fits)."""
    data = _prepare(trials, response, rating_scale)
    observed = np.isfinite(data["y"])
    if exclude_reinforced:
        observed &= data["outcomes"] == 0
    fitted = np.flatnonzero(observed.any(axis=1))
    if len(fitted) < 2 or observed.sum() < 3 * len(fitted):
        raise HierarchicalError(
            f"trials: expected responses from at least 2 participants, on 3 or more trials "
            f"each on average, got {int(observed.sum())} from {len(fitted)}"
        )
    return data, observed, fitted


def participant_winners(result: HierarchicalFit, criterion: str = "elpd_lopo") -> pd.Series:
    """Each participant's best model (index: participant).

    ``criterion`` ``elpd_lopo`` (the default): the highest log predictive density of the
    participant's data given the group level alone (leave one participant out, the
    participant's parameters integrated over the population); ``elpd_loo``: the highest
    sum of the participant's pointwise PSIS-LOO terms.
    """
    return _winners(result.fits, criterion)


def _participants_best(models: pd.Series, fits: pd.DataFrame) -> pd.Series:
    """How many participants each of ``models`` predicts best (NaN with one model).

    Counted by the per-participant criterion, ``elpd_lopo``, as :func:`participant_winners`
    and ``pavlov recover --confusion`` count: summed pointwise LOO terms judge each trial
    given the participant's own other trials, which favours the larger model.
    """
    if fits["model"].nunique() < 2:
        return pd.Series(np.nan, index=models.index)
    best = _winners(fits, "elpd_lopo").value_counts()
    return models.map(best).fillna(0).astype(int)


def _winners(fits: pd.DataFrame, criterion: str) -> pd.Series:
    """Each participant's model with the highest ``criterion`` (participants with a
    missing value under any model are left out)."""
    table = fits.pivot(index="participant", columns="model", values=criterion)
    return table.dropna().idxmax(axis=1)


# --- the NumPyro model ----------------------------------------------------------------


@dataclass(frozen=True)
class _Inputs:
    cues: np.ndarray
    outcomes: np.ndarray
    plus: np.ndarray
    part_idx: np.ndarray
    trial_idx: np.ndarray
    y: np.ndarray
    group_of: np.ndarray
    n_groups: int
    response: str
    v0: float
    linear: bool = True  # β0 + βv·V (+ βα·α: hybrid SCR); False: the identity rating model

    def betas(self, model: str) -> int:
        """How many per-participant β the observation model has."""
        if not self.linear:
            return 0
        return 3 if model == "hybrid" and self.response == "scr" else 2


def _learn(model: str, rates, inputs: _Inputs, onehot, outcomes, plus):
    """V and α of every participant and trial, shape (participants, trials), for one draw."""
    import jax.numpy as jnp
    from jax import lax

    n_part, n_cues = onehot.shape[1], onehot.shape[2]
    value0 = jnp.full((n_part, n_cues), inputs.v0, dtype=rates.dtype)
    if model == "hybrid":
        kappa, eta, alpha0 = rates[:, 0], rates[:, 1], rates[:, 2]
        assoc0 = jnp.broadcast_to(alpha0[:, None], (n_part, n_cues))

        def step(carry, x):
            value, assoc = carry
            oh, lam = x
            v = jnp.sum(value * oh, axis=1)
            a = jnp.sum(assoc * oh, axis=1)
            d = lam - v
            value = value + oh * (kappa * a * d)[:, None]
            assoc = assoc + oh * (eta * (jnp.abs(d) - a))[:, None]
            return (value, assoc), (v, a)

        _, (v, a) = lax.scan(step, (value0, assoc0), (onehot, outcomes))
    else:

        def step(value, x):
            oh, lam, pl = x
            v = jnp.sum(value * oh, axis=1)
            a = rates[:, 0] if model == "rw" else jnp.where(pl, rates[:, 0], rates[:, 1])
            value = value + oh * (a * (lam - v))[:, None]
            return value, (v, a)

        _, (v, a) = lax.scan(step, value0, (onehot, outcomes, plus))
    return v.T, a.T


def _arrays(inputs: _Inputs) -> dict:
    import jax.numpy as jnp

    cues = inputs.cues
    n_cues = max(int(cues.max(initial=0)) + 1, 1)
    onehot = np.zeros((cues.shape[1], cues.shape[0], n_cues), dtype=np.float32)
    part, trial = np.nonzero(cues >= 0)
    onehot[trial, part, cues[part, trial]] = 1.0  # padding (-1) stays all zero: no update
    dense = np.zeros(cues.shape, dtype=np.float32)
    mask = np.zeros(cues.shape, dtype=np.float32)
    dense[inputs.part_idx, inputs.trial_idx] = inputs.y
    mask[inputs.part_idx, inputs.trial_idx] = 1.0
    return {
        "onehot": jnp.asarray(onehot),
        "outcomes": jnp.asarray(inputs.outcomes.T.astype(np.float32)),
        "plus": jnp.asarray(inputs.plus.T),
        "part_idx": jnp.asarray(inputs.part_idx),
        "trial_idx": jnp.asarray(inputs.trial_idx),
        "group_of": jnp.asarray(inputs.group_of),
        "y": jnp.asarray(inputs.y.astype(np.float32)),
        # the observations again on the (participant, trial) grid, 0 where there is none,
        # and per participant the sum of squares and count: the likelihood's sums
        "y_dense": jnp.asarray(dense),
        "mask": jnp.asarray(mask),
        "yy": jnp.asarray((dense**2).sum(axis=1)),
        "n_obs": jnp.asarray(mask.sum(axis=1)),
    }


def _unpack(model: str, inputs: _Inputs, u: Mapping, arrays: Mapping) -> dict:
    """Constrained parameters and each participant's log-likelihood, β integrated out.

    ``u`` holds one draw of the unconstrained (sampled) parameters: the non-centred
    ``z``-scores, group means on the logit (rates) or log (σ) scale, and the logs of the
    half-normal scales. The per-participant β of a linear observation model are not
    sampled: given the rates and σ the response is linear in β and β's population
    distribution is Gaussian, so ``marginal`` (participants,) is ``log p(y_i | rates, σ_i,
    m, s)`` in closed form (:func:`_beta_marginal`). When ``u`` also has ``z_beta`` (standard
    normal draws, participants × coefficients), β is drawn from its exact conditional
    posterior with them, and the trial-level ``mean`` and pointwise ``loglik`` given that
    β are returned too (for LOO and the predictive check); the joint draws are then draws
    of the same posterior as when β is sampled by NUTS. Without β (the identity rating
    model) ``mean`` and ``loglik`` are always returned.
    """
    import jax.numpy as jnp
    from jax.scipy.stats import norm

    group_of = arrays["group_of"]
    rates = 1.0 / (1.0 + jnp.exp(-(u["mu"][group_of] + jnp.exp(u["log_tau"]) * u["z"])))
    v, a = _learn(model, rates, inputs, arrays["onehot"], arrays["outcomes"], arrays["plus"])
    pi, ti = arrays["part_idx"], arrays["trial_idx"]
    sigma = jnp.exp(u["m_log_sigma"] + jnp.exp(u["log_s_log_sigma"]) * u["z_log_sigma"])
    out = {
        "rates": rates,
        "tau": jnp.exp(u["log_tau"]),
        "mu": u["mu"],
        "sigma": sigma,
        "m_log_sigma": u["m_log_sigma"],
        "s_log_sigma": jnp.exp(u["log_s_log_sigma"]),
    }
    if "m_beta" in u:
        columns = [jnp.ones_like(v), v]
        if inputs.betas(model) == 3:
            columns.append(a)
        s_beta = jnp.exp(u["log_s_beta"])
        marginal, draw = _beta_marginal(columns, arrays, u["m_beta"], s_beta, sigma)
        out.update(marginal=marginal, m_beta=u["m_beta"], s_beta=s_beta)
        if "z_beta" not in u:
            return out
        beta = draw(u["z_beta"])
        mean = sum(beta[pi, j] * c[pi, ti] for j, c in enumerate(columns))
        out["beta"] = beta
    else:
        mean = v[pi, ti]
        # summed over the dense (participant, trial) grid: a scatter-add per participant
        # is several times slower on a CPU
        dense = norm.logpdf(arrays["y_dense"], v, sigma[:, None])
        out["marginal"] = jnp.sum(arrays["mask"] * dense, axis=1)
    out.update(mean=mean, loglik=norm.logpdf(arrays["y"], mean, sigma[pi]))
    return out


def _beta_marginal(columns: Sequence, arrays: Mapping, m, s, sigma):
    """Each participant's log-likelihood with β integrated over its population, and a sampler
    of β's conditional posterior.

    For participant ``i`` with regressors ``X_i`` (``columns``: k arrays of participants ×
    trials, rows where ``arrays["mask"]`` is 1), ``y_i ~ N(X_i β_i, σ_i² I)`` and ``β_i =
    m + s ⊙ γ_i``, ``γ_i ~ N(0, I)`` (the non-centred population of β), so ``y_i ~ N(X_i m,
    σ_i² I + X_i diag(s²) X_iᵀ)``. With ``Z = X_i diag(s) / σ_i`` and ``B = I + ZᵀZ`` (k × k,
    never worse conditioned than I, also as s → 0), Woodbury and the determinant lemma
    give::

        log p(y_i) = −n_i/2·log 2π − n_i·log σ_i − ½·log|B| − ½·(rᵀr/σ_i² − |L⁻¹g|²)

    with ``r = y_i − X_i m``, ``g = s ⊙ X_iᵀr / σ_i²`` and ``B = L Lᵀ``; and ``γ_i | y_i ~
    N(B⁻¹g, B⁻¹)``. Only the per-participant sums ``XᵀX``, ``Xᵀy``, ``yᵀy`` enter, so the
    cost is that of the trial-level likelihood. k ≤ 3, so every k × k quantity is a list
    of per-participant arrays and the Cholesky factor and triangular solves are written
    out: XLA's batched LAPACK calls on a CPU cost several times the whole likelihood here.

    Returns
    -------
    marginal : (participants,) array
    draw : callable
        ``draw(eps)`` maps standard normal ``eps`` (participants, k) to one draw of every
        participant's β, (participants, k), from its conditional posterior.
    """
    xx, xy = _beta_sums(columns, arrays)
    return _beta_gaussian(xx, xy, arrays["yy"], arrays["n_obs"], m, s, sigma)


def _beta_sums(columns: Sequence, arrays: Mapping) -> tuple[list, list]:
    """Each participant's ``XᵀX`` (k × k nested lists) and ``Xᵀy`` (k) over the observed
    trials, every entry an array over participants (and whatever leading axes ``columns``
    carry)."""
    import jax.numpy as jnp

    k = len(columns)
    masked = [arrays["mask"] * c for c in columns]
    xx = [[jnp.sum(masked[i] * columns[j], axis=-1) for j in range(k)] for i in range(k)]
    xy = [jnp.sum(c * arrays["y_dense"], axis=-1) for c in columns]  # y_dense: 0 if unobserved
    return xx, xy


def _beta_gaussian(xx: Sequence, xy: Sequence, yy, n, m, s, sigma):
    """:func:`_beta_marginal` from the sums ``XᵀX``, ``Xᵀy``, ``yᵀy`` and the count ``n``."""
    import jax.numpy as jnp

    k = len(xy)
    var = sigma**2
    xr = [xy[i] - sum(xx[i][j] * m[j] for j in range(k)) for i in range(k)]  # Xᵀr
    rr = yy - sum(m[i] * (2.0 * xy[i] - sum(xx[i][j] * m[j] for j in range(k))) for i in range(k))
    g = [s[i] * xr[i] / var for i in range(k)]
    chol: list[list[Any]] = [[None] * k for _ in range(k)]
    for j in range(k):
        diag = 1.0 + s[j] ** 2 * xx[j][j] / var
        chol[j][j] = jnp.sqrt(diag - sum(chol[j][c] ** 2 for c in range(j)))
        for i in range(j + 1, k):
            off = s[i] * s[j] * xx[i][j] / var - sum(chol[i][c] * chol[j][c] for c in range(j))
            chol[i][j] = off / chol[j][j]
    w: list[Any] = []
    for i in range(k):  # w = L⁻¹g
        w.append((g[i] - sum(chol[i][c] * w[c] for c in range(i))) / chol[i][i])
    marginal = (
        -0.5 * n * math.log(2.0 * math.pi)
        - n * jnp.log(sigma)
        - sum(jnp.log(chol[i][i]) for i in range(k))
        - 0.5 * (rr / var - sum(wi**2 for wi in w))
    )

    def draw(eps):
        gamma: list[Any] = [None] * k
        for i in reversed(range(k)):  # γ = L⁻ᵀ(w + ε)
            rest = sum(chol[c][i] * gamma[c] for c in range(i + 1, k))
            gamma[i] = (w[i] + eps[:, i] - rest) / chol[i][i]
        return m + s * jnp.stack(gamma, axis=1)

    return marginal, draw


def _potential(model: str, inputs: _Inputs, arrays: Mapping):
    """Negative log posterior density of the unconstrained parameters (for NUTS)."""
    import jax.numpy as jnp
    from jax.scipy.stats import norm

    sigma_centre = 0.0 if inputs.betas(model) else -1.5

    def half_normal_log(log_x, scale):  # HalfNormal(scale) on x = exp(log_x), with Jacobian
        x = jnp.exp(log_x)
        return jnp.sum(jnp.log(2.0) + norm.logpdf(x, 0.0, scale) + log_x)

    def potential(u):
        lp = jnp.sum(norm.logpdf(u["mu"], 0.0, _MU_SD)) + half_normal_log(u["log_tau"], _TAU_SD)
        lp += jnp.sum(norm.logpdf(u["z"]))
        if "m_beta" in u:
            lp += jnp.sum(norm.logpdf(u["m_beta"], 0.0, 2.0))
            lp += half_normal_log(u["log_s_beta"], 1.0)  # β itself: integrated out
        lp += norm.logpdf(u["m_log_sigma"], sigma_centre, 1.0)
        lp += half_normal_log(u["log_s_log_sigma"], 0.5) + jnp.sum(norm.logpdf(u["z_log_sigma"]))
        lp += jnp.sum(_unpack(model, inputs, u, arrays)["marginal"])
        return -lp

    return potential


def _initial(model: str, inputs: _Inputs, chains: int, key) -> dict:
    """Starting points: every unconstrained parameter uniform in (-1, 1), per chain."""
    import jax

    shapes = _shapes(model, inputs)
    keys = jax.random.split(key, len(shapes))
    return {
        name: jax.random.uniform(sub, (chains, *shape), minval=-1.0, maxval=1.0)
        for sub, (name, shape) in zip(keys, sorted(shapes.items()))
    }


def _start_near_mode(model: str, inputs: _Inputs, arrays: Mapping, chains: int, key) -> dict:
    """Starting points of the chains: near the best of ``START_SEARCHES`` posterior-mode
    searches (Adam, ``START_STEPS`` steps from random points), jittered by ±0.1.

    The hybrid fitted to RW learners has two modes: associability that stays put (η → 0,
    βα ≈ 0: the hybrid reduced to RW) and a minor one where α follows |δ| and feeds the
    response. Chains started at random points settled in different modes and never left
    them (R-hat 1.69 with 4 chains, 100 RW-generated participants), so elpd_lopo mixed two
    populations. Started near the best mode found they sample that mode; R-hat then judges
    mixing within it and cannot see a mode that every chain misses.
    """
    import jax
    import jax.numpy as jnp
    from jax import lax
    from jax.example_libraries import optimizers

    potential = _potential(model, inputs, arrays)
    key_search, key_jitter = jax.random.split(key)
    starts = _initial(model, inputs, START_SEARCHES, key_search)
    init, update, get = optimizers.adam(0.05)
    gradient = jax.grad(potential)

    def search(u):
        def body(state, i):
            return update(i, gradient(get(state)), state), None

        state, _ = lax.scan(body, init(u), jnp.arange(START_STEPS))
        return get(state)

    found = jax.jit(jax.vmap(search))(starts)
    values = np.asarray(jax.jit(jax.vmap(potential))(found))
    jitter = _initial(model, inputs, chains, key_jitter)
    if not np.isfinite(values).any():  # every search failed: random starts, as before
        return jitter
    best = int(np.nanargmin(np.where(np.isfinite(values), values, np.nan)))
    return {k: found[k][best][None] + 0.1 * jitter[k] for k in found}


def _shapes(model: str, inputs: _Inputs) -> dict[str, tuple[int, ...]]:
    """Shape of every sampled (unconstrained) parameter of one chain."""
    k = len(MODELS[model])
    n_part = inputs.cues.shape[0]
    n_beta = inputs.betas(model)
    shapes: dict[str, tuple[int, ...]] = {
        "mu": (inputs.n_groups, k),
        "log_tau": (k,),
        "z": (n_part, k),
        "m_log_sigma": (),
        "log_s_log_sigma": (),
        "z_log_sigma": (n_part,),
    }
    if n_beta:
        shapes.update(m_beta=(n_beta,), log_s_beta=(n_beta,))
    return shapes


def _fit_one(
    model: str,
    inputs: _Inputs,
    *,
    chains,
    draws,
    warmup,
    seed,
    show,
    n_predictive,
    names=(),
    groups=(),
):
    import jax
    from jax import lax
    from numpyro.infer import NUTS

    arrays = _arrays(inputs)
    # A dense mass matrix over the group level (a dozen parameters whose posteriors are
    # correlated: a rate's mean and SD, β's mean and SD, σ's), diagonal over the many
    # participant-level z: on 40 simulated hybrid learners (2 chains × 400 draws) it raised
    # the smallest bulk ESS from 84 to 272 (R-hat 1.035 → 1.021) at the same 31 steps a draw.
    group = tuple(k for k in _shapes(model, inputs) if not k.startswith("z"))
    kernel = NUTS(
        potential_fn=_potential(model, inputs, arrays),
        target_accept_prob=0.9,
        dense_mass=[group],
    )
    # All chains advance together (vmapped) in compiled blocks of `size` iterations, so the
    # progress display can move without recompiling: NumPyro's MCMC.run compiles per call.
    total = warmup + draws
    size = _block_size(warmup, draws)
    start = time.perf_counter()
    key_init, key_run = jax.random.split(jax.random.PRNGKey(seed))
    with _Progress(show, f"{model}: {chains} chains", warmup, total) as bar:
        initial = _start_near_mode(model, inputs, arrays, chains, key_init)
        state = kernel.init(jax.random.split(key_run, chains), warmup, init_params=initial)

        def advance(state):
            def body(state, _):
                state = kernel.sample(state, (), {})
                return state, (state.z, state.diverging, state.num_steps)

            return lax.scan(body, state, None, length=size)

        # Chains are vmapped; with several CPU devices (configure_devices) they are also
        # split across them with pmap, so that both cores of a laptop work.
        devices = _devices(chains)
        if devices > 1:
            split = jax.tree_util.tree_map(
                lambda x: x.reshape(devices, chains // devices, *x.shape[1:]), state
            )
            block = jax.pmap(advance)
        else:
            split, block = state, jax.jit(advance)
        compiling = time.perf_counter()
        block = block.lower(split).compile()  # ahead of time, so compilation is timed apart
        compile_seconds = time.perf_counter() - compiling
        kept, diverging, steps = [], [], []
        done = 0
        while done < total:
            split, (z, div, n_steps) = jax.block_until_ready(block(split))
            if done >= warmup:
                z, div, n_steps = jax.device_get((z, div, n_steps))
                if devices > 1:  # (device, iteration, chain, ...) → (iteration, chain, ...)
                    z = {k: _merge_devices(v) for k, v in z.items()}
                    div = _merge_devices(np.asarray(div))
                    n_steps = _merge_devices(np.asarray(n_steps))
                kept.append(z)
                diverging.append(np.asarray(div))
                steps.append(np.asarray(n_steps))
            done += size
            bar.update(done)
        step_size = float(np.mean(jax.device_get(split.adapt_state.step_size)))
    # (iteration, chain, ...) blocks → (chain, draw, ...)
    z = {k: np.concatenate([b[k] for b in kept], axis=0).swapaxes(0, 1) for k in kept[0]}
    diverging = np.concatenate(diverging, axis=0).T
    samples = _derive(model, inputs, arrays, z, n_predictive, seed)
    samples["elpd_lopo"], samples["elpd_lopo_draws"] = _evidence(model, inputs, arrays, z, seed)
    seconds = time.perf_counter() - start
    idata = _inference_data(model, samples, samples.pop("loglik"), diverging)
    steps = np.concatenate(steps, axis=0)
    diag = _diagnostics(
        model, idata, int(diverging.sum()), chains, draws, warmup, seconds, names, groups
    )
    diag = dataclasses.replace(
        diag,
        steps_per_draw=float(steps.mean()),
        max_tree_depth=int(np.ceil(np.log2(steps.max() + 1))),
        step_size=step_size,
        compile_seconds=compile_seconds,
    )
    return idata, samples, diag


def _derive(model, inputs, arrays, z, n_predictive, seed) -> dict:
    """Constrained draws (chain, draw, ...), the pointwise log-likelihood and replicates.

    One compiled function maps slices of draws to everything derived from them; the last
    slice is padded so that it compiles once. ``predictive`` holds ``n_predictive``
    replicated data sets (standardised units) from randomly chosen draws.
    """
    import jax

    chains, draws = next(iter(z.values())).shape[:2]
    total = chains * draws
    flat = {k: v.reshape(total, *v.shape[2:]) for k, v in z.items()}
    rng = np.random.default_rng(seed)
    n_beta = inputs.betas(model)
    if n_beta:  # β was integrated out of the sampler: one conditional draw per kept draw
        flat["z_beta"] = rng.standard_normal((total, inputs.cues.shape[0], n_beta))
        flat["z_beta"] = flat["z_beta"].astype(np.float32)
    width = min(200, total)
    derive = jax.jit(jax.vmap(lambda u: _unpack(model, inputs, u, arrays)))
    pick = np.sort(rng.choice(total, size=min(n_predictive, total), replace=False))
    parts: dict[str, list] = {}
    means, sigmas = [], []
    for begin in range(0, total, width):
        index = np.arange(begin, begin + width) % total  # pad by wrapping round
        out = jax.device_get(derive({k: v[index] for k, v in flat.items()}))
        n = min(width, total - begin)
        for key, value in out.items():
            if key not in ("mean", "marginal"):
                parts.setdefault(key, []).append(np.asarray(value)[:n])
        chosen = np.flatnonzero((pick >= begin) & (pick < begin + n))
        local = pick[chosen] - begin
        means.append(np.asarray(out["mean"])[local])
        sigmas.append(np.asarray(out["sigma"])[local])
    samples = {
        k: np.concatenate(v).reshape(chains, draws, *v[0].shape[1:]) for k, v in parts.items()
    }
    mean = np.concatenate(means)
    sigma = np.concatenate(sigmas)[:, inputs.part_idx]
    samples["predictive"] = mean + sigma * rng.standard_normal(mean.shape)
    return samples


def _evidence(model, inputs, arrays, z, seed, n_hyper=EVIDENCE_DRAWS[0], n_inner=EVIDENCE_DRAWS[1]):
    """Each participant's log predictive density given the group level alone, and the
    effective number of importance draws behind it: two (participants,) arrays.

    ``log p(y_i | y_-i) ≈ log mean_h p(y_i | h)`` over ``n_hyper`` posterior draws ``h`` of
    the group-level parameters, with ``p(y_i | h)`` the participant's rates, σ and β
    integrated over the population ``h`` implies (:func:`_evidence_terms`, ``n_inner``
    importance draws per participant): leave-one-participant-out by integrated importance
    sampling. (PSIS on a participant's whole block of trials is not used: the block holds
    nearly everything known about the participant's own parameters, so importance weights
    from the full posterior are expected to be far too heavy-tailed.) The participant's
    own data inform the group level a little too (1 of many participants), which this
    ignores. The effective number is ``(Σw)² / Σw²`` over all ``n_hyper × n_inner``
    weights: a few draws carrying the estimate make it unreliable.
    """
    import jax
    import jax.numpy as jnp
    from jax import lax
    from jax.scipy.special import logsumexp

    given = _evidence_terms(model, inputs, arrays, z, seed, n_inner)
    chains, draws = next(iter(z.values())).shape[:2]
    # evenly spaced through every chain: less Monte Carlo error than a random subset
    pick = np.unique(np.linspace(0, chains * draws - 1, min(n_hyper, chains * draws)).astype(int))
    hyper = {
        k: jnp.asarray(v.reshape(chains * draws, *v.shape[2:])[pick], dtype=jnp.float32)
        for k, v in z.items()
        if not k.startswith("z")
    }
    sums, squares = jax.jit(lambda hs: lax.map(given, hs))(hyper)
    total = logsumexp(sums, axis=0)
    effective = np.exp(2.0 * total - logsumexp(squares, axis=0))
    return np.asarray(total - math.log(len(pick) * n_inner)), np.asarray(effective)


def _evidence_terms(model, inputs, arrays, z, seed, n_inner):
    """``given(h)``: for group-level parameters ``h``, every participant's
    ``log Σ_s w_s`` and ``log Σ_s w_s²`` with ``mean_s w_s`` estimating ``p(y_i | h)``.

    ``p(y_i | h) = ∫ p(y_i | rates, σ, h) p(rates, σ | h)`` (rates on the logit scale, σ on
    the log scale, where the population is normal; β integrated exactly,
    :func:`_beta_marginal`). The rates are drawn by importance sampling from a proposal
    fitted to the participant's own posterior draws: a multivariate t with ``PROPOSAL_DF``
    degrees of freedom whose scale is the draws' covariance, mixed with a defensive
    component (the population, widened by ``DEFENSIVE_WIDTH``) that bounds the weights
    where the posterior is narrower than the integrand. The ``n_inner`` rate draws per
    participant are shared by every ``h``, so the trial loop runs ``n_inner`` times and
    ``given`` is cheap algebra on their sums. σ does not enter the trial loop, so it is
    drawn from each ``h``'s own population (the same standard normal draws for every
    ``h``): a proposal shared across ``h`` misses the population of σ of an ``h`` whose
    spread is near 0, and the posterior of that spread reaches 0 when every participant
    has the same noise (one weight then carried a participant's whole estimate, moving it
    by 0.27).

    (The estimator before drew the rates from the population itself, 200 draws for each
    of 100 ``h``: 20,000 runs of the trial loop. Against a reference of 8,000 importance
    draws and 1,000 ``h``, on 100 simulated RW and 100 hybrid learners, the difference
    between two models' ``elpd_lopo`` has a Monte Carlo error of 0.03 (rms) with the
    default 2,000 draws and 500 ``h``; the estimator before had 0.055 against its own
    reference. Most of what is left comes from the choice of ``h``, not of the rates.)
    """
    import jax
    import jax.numpy as jnp
    from jax import lax
    from jax.scipy.special import logsumexp
    from jax.scipy.stats import norm
    from scipy.special import gammaln

    chains, draws = next(iter(z.values())).shape[:2]
    total = chains * draws
    flat = {k: np.asarray(v, np.float64).reshape(total, *v.shape[2:]) for k, v in z.items()}
    k = len(MODELS[model])
    n_part = inputs.cues.shape[0]
    rng = np.random.default_rng(seed)
    # every posterior draw of each participant's logit rates: (draws, participants, k)
    centre = flat["mu"][:, inputs.group_of]
    spread = np.exp(flat["log_tau"])[:, None, :]
    theta = centre + spread * flat["z"]
    mean = theta.mean(axis=0)
    resid = theta - mean
    cov = np.einsum("npi,npj->pij", resid, resid) / max(total - 1, 1) + 1e-4 * np.eye(k)
    chol = np.linalg.cholesky(cov)
    pop_mean = centre.mean(axis=0)
    pop_sd = DEFENSIVE_WIDTH * np.sqrt((spread**2).mean(axis=0) + centre.var(axis=0))
    nu = PROPOSAL_DF
    n_t = round((1.0 - DEFENSIVE_SHARE) * n_inner)
    share = (n_inner - n_t) / n_inner  # the defensive share the counts realise
    g = rng.standard_normal((n_t, n_part, k)) / np.sqrt(rng.chisquare(nu, (n_t, n_part, 1)) / nu)
    x = np.concatenate(
        [
            mean + np.einsum("pij,spj->spi", chol, g),
            pop_mean + pop_sd * rng.standard_normal((n_inner - n_t, n_part, k)),
        ]
    )
    # the mixture's log density at every draw (the t's Mahalanobis distance by L⁻¹)
    sol = np.einsum("pij,spj->spi", np.linalg.inv(chol), x - mean)
    log_t = (
        gammaln((nu + k) / 2)
        - gammaln(nu / 2)
        - k / 2 * np.log(nu * np.pi)
        - np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
        - (nu + k) / 2 * np.log1p((sol**2).sum(axis=-1) / nu)
    )
    log_pop = (
        -0.5 * ((x - pop_mean) / pop_sd) ** 2 - np.log(pop_sd) - 0.5 * math.log(2.0 * math.pi)
    ).sum(axis=-1)
    log_q = np.logaddexp(np.log1p(-share) + log_t, np.log(share) + log_pop)
    eps_sigma = jnp.asarray(rng.standard_normal((n_inner, n_part)), dtype=jnp.float32)

    n_beta = inputs.betas(model)

    def sums(r):  # the likelihood's sums for one draw of every participant's rates
        v, a = _learn(model, r, inputs, arrays["onehot"], arrays["outcomes"], arrays["plus"])
        if n_beta:
            return _beta_sums([jnp.ones_like(v), v, a][:n_beta], arrays)
        return jnp.sum(arrays["y_dense"] * v, axis=1), jnp.sum(arrays["mask"] * v * v, axis=1)

    width = math.gcd(n_inner, 100)
    rates = jnp.asarray(1.0 / (1.0 + np.exp(-x)), dtype=jnp.float32)
    stats = jax.jit(lambda r: lax.map(jax.vmap(sums), r))(
        rates.reshape(n_inner // width, width, n_part, k)
    )
    stats = jax.tree_util.tree_map(lambda s: s.reshape(n_inner, n_part), stats)
    x32 = jnp.asarray(x, dtype=jnp.float32)
    log_q32 = jnp.asarray(log_q, dtype=jnp.float32)
    group_of = jnp.asarray(inputs.group_of)
    n_obs, yy = arrays["n_obs"], arrays["yy"]

    def given(h):
        lp = jnp.sum(norm.logpdf(x32, h["mu"][group_of], jnp.exp(h["log_tau"])), -1)
        sigma = jnp.exp(h["m_log_sigma"] + jnp.exp(h["log_s_log_sigma"]) * eps_sigma)
        if n_beta:
            s_beta = jnp.exp(h["log_s_beta"])
            ll, _ = _beta_gaussian(*stats, yy, n_obs, h["m_beta"], s_beta, sigma)
        else:
            yv, vv = stats
            ll = (
                -n_obs * (jnp.log(sigma) + 0.5 * math.log(2.0 * math.pi))
                - 0.5 * (yy - 2.0 * yv + vv) / sigma**2
            )
        log_w = ll + lp - log_q32
        return logsumexp(log_w, axis=0), logsumexp(2.0 * log_w, axis=0)

    return given


def _devices(chains: int) -> int:
    """How many CPU devices to split the chains over (a divisor of ``chains``)."""
    import jax

    available = jax.local_device_count()
    return max(d for d in range(1, min(chains, available) + 1) if chains % d == 0)


def _merge_devices(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x).swapaxes(0, 1)  # (iteration, device, chain, ...)
    return x.reshape(x.shape[0], x.shape[1] * x.shape[2], *x.shape[3:])


def _block_size(warmup: int, draws: int) -> int:
    """Iterations per compiled block: divides warm-up and draws, about 1/20 of the run."""
    common = math.gcd(warmup, draws)
    limit = max(1, (warmup + draws) // 20)
    return max(d for d in range(1, common + 1) if common % d == 0 and d <= limit)


def _inference_data(model, samples, log_lik, diverging):
    az = _arviz()
    names = list(MODELS[model])
    posterior = {
        "mu": samples["mu"],
        "tau": samples["tau"],
        "rates": samples["rates"],
        "sigma": samples["sigma"],
        "m_log_sigma": samples["m_log_sigma"],
        "s_log_sigma": samples["s_log_sigma"],
    }
    coords: dict[str, list] = {"parameter": names}
    dims = {
        "mu": ["group", "parameter"],
        "tau": ["parameter"],
        "rates": ["participant", "parameter"],
        "sigma": ["participant"],
        "y": ["observation"],
    }
    if "beta" in samples:
        posterior.update(m_beta=samples["m_beta"], s_beta=samples["s_beta"], beta=samples["beta"])
        dims.update(
            m_beta=["coefficient"], s_beta=["coefficient"], beta=["participant", "coefficient"]
        )
        coords["coefficient"] = list(_BETA_LABELS[: samples["beta"].shape[-1]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return az.from_dict(
            posterior=posterior,
            log_likelihood={"y": log_lik},
            sample_stats={"diverging": diverging},
            coords=coords,
            dims=dims,
        )


def _diagnostics(
    model, idata, divergences, chains, draws, warmup, seconds, participants=(), groups=()
) -> Diagnostics:
    az = _arviz()
    names = [
        v
        for v in (
            "mu",
            "tau",
            "rates",
            "m_beta",
            "s_beta",
            "beta",
            "sigma",
            "m_log_sigma",
            "s_log_sigma",
        )
        if v in idata.posterior.data_vars
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rhat = az.rhat(idata, var_names=names) if chains > 1 else None
        bulk = az.ess(idata, var_names=names, method="bulk")
        tail = az.ess(idata, var_names=names, method="tail")

    def extreme(ds, fn):
        if ds is None:
            return math.nan
        values = np.concatenate([np.ravel(ds[v].values) for v in ds.data_vars])
        values = values[np.isfinite(values)]
        return float(fn(values)) if values.size else math.nan

    return Diagnostics(
        model=model,
        max_rhat=extreme(rhat, np.max),
        worst_rhat=_worst(rhat, participants, groups) if rhat is not None else "",
        min_ess_bulk=extreme(bulk, np.min),
        min_ess_tail=extreme(tail, np.min),
        divergences=divergences,
        chains=chains,
        draws=draws,
        warmup=warmup,
        seconds=seconds,
    )


def _worst(rhat, participants: Sequence, groups: Sequence = ()) -> str:
    """Name the parameter with the largest finite R-hat (the one ``max_rhat`` reports):
    ``eta of participant 44``, ``alpha of participant 3``, ``tau kappa``, ``mu eta (group
    B)``."""
    best, label = -math.inf, ""
    for name in rhat.data_vars:
        values = np.asarray(rhat[name].values, dtype=float)
        finite = np.where(np.isfinite(values), values, -np.inf)
        if not np.isfinite(finite).any():
            continue
        index = np.unravel_index(int(np.argmax(finite)), values.shape)
        if finite[index] <= best:
            continue
        # a rate's or a coefficient's own label says what it is: "eta", "beta_alpha"
        best, parts, tail = float(finite[index]), [] if name in ("rates", "beta") else [name], ""
        for dim, position in zip(rhat[name].dims, index):
            i = int(position)
            if dim == "participant":
                tail = f" of participant {participants[i] if i < len(participants) else i}"
            elif dim == "group":
                if values.shape[rhat[name].dims.index(dim)] > 1:  # one group: say nothing
                    tail = f" (group {groups[i] if i < len(groups) else i})"
            elif dim in rhat[name].coords:
                parts.append(str(rhat[name].coords[dim].values[i]))
            else:
                parts.append(str(i))
        label = " ".join(parts) + tail
    return label


def _loo(idata):
    az = _arviz()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return az.loo(idata, pointwise=True, var_name="y")
        except (ValueError, TypeError):
            return None


def _comparison(idatas: Mapping, fits: pd.DataFrame) -> pd.DataFrame:
    az = _arviz()
    rows = []
    for model, idata in idatas.items():
        loo = _loo(idata)
        if loo is None:
            rows.append({"model": model})
            continue
        k = np.asarray(loo.pareto_k)
        bad = int((k > PARETO_K_LIMIT).sum())
        rows.append(
            {
                "model": model,
                "elpd_loo": float(loo.elpd_loo),
                "se": float(loo.se),
                "p_loo": float(loo.p_loo),
                "n_obs": int(k.size),
                "pareto_k_bad": bad,
                "warning": (
                    f"{bad} observation(s) with Pareto k > {PARETO_K_LIMIT}: LOO unreliable there"
                    if bad
                    else ""
                ),
            }
        )
    frame = pd.DataFrame(rows)
    frame["elpd_diff"] = np.nan
    frame["dse"] = np.nan
    frame["weight"] = np.nan
    if len(idatas) > 1 and frame["elpd_loo"].notna().all():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compared = az.compare(dict(idatas), ic="loo", var_name="y")
        for column in ("elpd_diff", "dse", "weight"):
            frame[column] = frame["model"].map(compared[column])
    elif len(idatas) == 1:
        frame["elpd_diff"], frame["dse"], frame["weight"] = 0.0, 0.0, 1.0
    frame = frame.sort_values("elpd_loo", ascending=False, kind="stable").reset_index(drop=True)
    frame.insert(1, "rank", np.arange(len(frame)))
    frame["participants_best"] = _participants_best(frame["model"], fits)
    columns = [
        "model",
        "rank",
        "elpd_loo",
        "se",
        "p_loo",
        "elpd_diff",
        "dse",
        "weight",
        "n_obs",
        "pareto_k_bad",
        "warning",
        "participants_best",
    ]
    return frame.reindex(columns=columns)


# --- summaries ------------------------------------------------------------------------


def _hdi(samples: np.ndarray, prob: float = HDI_PROB) -> tuple[np.ndarray, np.ndarray]:
    """Narrowest interval holding ``prob`` of the draws along axis 0 (any trailing shape)."""
    ordered = np.sort(samples, axis=0)
    n = ordered.shape[0]
    width = max(1, min(n - 1, math.floor(prob * n)))
    spans = ordered[width:] - ordered[: n - width]
    lo = np.argmin(spans, axis=0)
    low = np.take_along_axis(ordered, lo[None], axis=0)[0]
    high = np.take_along_axis(ordered, (lo + width)[None], axis=0)[0]
    return low, high


def _flat(x: np.ndarray) -> np.ndarray:
    """(chain, draw, ...) → (chain·draw, ...)."""
    return x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])


def _participant_table(model, samples, participants, part_idx, loo_i, response, centre, scale):
    names = MODELS[model]
    rates = _flat(samples["rates"])
    frame = pd.DataFrame({"participant": participants, "model": model, "fit": "hierarchical"})
    low, high = _hdi(rates)
    for j, name in enumerate(names):
        frame[name] = rates[:, :, j].mean(axis=0)
        frame[f"{name}_hdi_low"] = low[:, j]
        frame[f"{name}_hdi_high"] = high[:, j]
    frame["sigma"] = scale * _flat(samples["sigma"]).mean(axis=0)
    if "beta" in samples:
        beta = _flat(samples["beta"])
        for j in range(beta.shape[-1]):
            values = beta[:, :, j] * scale + (centre if j == 0 else 0.0)
            frame[_BETA_LABELS[j]] = values.mean(axis=0)
    elpd = np.bincount(part_idx, weights=np.nan_to_num(loo_i), minlength=len(participants))
    counts = np.bincount(part_idx, minlength=len(participants))
    frame["elpd_loo"] = np.where(counts > 0, elpd, np.nan)
    frame["n_obs"] = counts
    return frame


def _group_table(model, idata, samples, group_names, response, centre, scale, seed):
    names = MODELS[model]
    mu = _flat(samples["mu"])  # (S, groups, k)
    tau = _flat(samples["tau"])  # (S, k)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        az = _arviz()
        rhat = (
            az.rhat(idata, var_names=["mu", "tau"]) if idata.posterior.sizes["chain"] > 1 else None
        )
        ess = az.ess(idata, var_names=["mu", "tau"], method="bulk")
    contraction, overlap = _identifiability(_flat(samples["rates"]), tau.shape[0], seed)
    rows = []

    def add(parameter, quantity, group, values, r_hat=math.nan, ess_bulk=math.nan, **extra):
        low, high = _hdi(values[:, None])
        rows.append(
            {
                "model": model,
                "parameter": parameter,
                "quantity": quantity,
                "group": group,
                "mean": float(values.mean()),
                "sd": float(values.std(ddof=1)) if values.size > 1 else math.nan,
                "hdi_low": float(low[0]),
                "hdi_high": float(high[0]),
                "p_positive": float((values > 0).mean()),
                "r_hat": r_hat,
                "ess_bulk": ess_bulk,
                **extra,
            }
        )

    labels = list(group_names) if len(group_names) > 1 else [""]
    for j, name in enumerate(names):
        typical = 1.0 / (1.0 + np.exp(-mu[:, :, j]))
        for g, label in enumerate(labels):
            add(
                name,
                "mean",
                label,
                typical[:, g],
                _pick(rhat, "mu", g, j),
                _pick(ess, "mu", g, j),
                contraction=contraction[j],
                overlap=overlap[j],
            )
        add(name, "sd", "", tau[:, j], _pick(rhat, "tau", None, j), _pick(ess, "tau", None, j))
        for g in range(1, len(labels)):
            add(name, "difference", f"{labels[g]} - {labels[0]}", typical[:, g] - typical[:, 0])
    if "m_beta" in samples:
        m_beta = _flat(samples["m_beta"])
        for j in range(m_beta.shape[-1]):
            values = m_beta[:, j] * scale + (centre if j == 0 else 0.0)
            add(_BETA_LABELS[j], "observation", "", values)
    sigma = np.exp(_flat(samples["m_log_sigma"])) * scale
    add("sigma", "observation", "", sigma)
    return pd.DataFrame(rows)


def _pick(ds, name, g, j) -> float:
    if ds is None or name not in ds:
        return math.nan
    values = ds[name].values
    return float(values[g, j] if g is not None else values[j])


def _identifiability(rates: np.ndarray, n_draws: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean posterior contraction and prior–posterior overlap of one participant's rates.

    The prior of a participant's rate is the population distribution the hyperpriors imply
    (μ ~ N(0, 1.5), τ ~ HalfNormal(1), z ~ N(0, 1)); draws of it are compared with each
    participant's posterior draws, then averaged over participants.
    """
    rng = np.random.default_rng(seed)
    n = max(n_draws, 4000)
    k = rates.shape[-1]
    prior = 1.0 / (
        1.0
        + np.exp(
            -(
                rng.normal(0.0, _MU_SD, (n, k))
                + np.abs(rng.normal(0.0, _TAU_SD, (n, k))) * rng.normal(0.0, 1.0, (n, k))
            )
        )
    )
    bins = np.linspace(0.0, 1.0, 41)
    contraction = np.empty(k)
    overlap = np.empty(k)
    for j in range(k):
        prior_hist = np.histogram(prior[:, j], bins)[0] / n
        post = rates[:, :, j]  # (S, P)
        contraction[j] = float(np.mean(1.0 - post.var(axis=0) / prior[:, j].var()))
        shares = []
        for p in range(post.shape[1]):
            hist = np.histogram(post[:, p], bins)[0] / post.shape[0]
            shares.append(np.minimum(hist, prior_hist).sum())
        overlap[j] = float(np.mean(shares))
    return contraction, overlap


def _predictive(samples, rows, y, centre, scale) -> pd.DataFrame:
    """Posterior predictive replicates of every observation (original units)."""
    replicated = samples["predictive"] * scale + centre
    frame = pd.DataFrame({"row": rows, "observed": y})
    frame["predicted"] = replicated.mean(axis=0)
    draws = pd.DataFrame(replicated.T, columns=[f"draw{i}" for i in range(replicated.shape[0])])
    return pd.concat([frame, draws], axis=1)


def _groups(trials: pd.DataFrame, data: Mapping, wanted: bool) -> tuple[np.ndarray, list[str]]:
    n = len(data["participants"])
    if not wanted or "group" not in trials.columns:
        return np.zeros(n, dtype=np.int32), [""]
    first = (
        pd.DataFrame({"p": data["row_of"], "g": trials["group"].fillna("").astype(str).to_numpy()})
        .drop_duplicates("p")
        .sort_values("p")["g"]
        .to_numpy()
    )
    names = sorted(set(first) - {""})
    if len(names) < 2 or (first == "").any():
        return np.zeros(n, dtype=np.int32), [""]
    code = {g: i for i, g in enumerate(names)}
    return np.array([code[g] for g in first], dtype=np.int32), names


# --- infrastructure -------------------------------------------------------------------


def _arviz():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ArviZ announces its 1.0 refactor on import
        import arviz

    return arviz


def configure_devices(chains: int) -> None:
    """One CPU device per core, at most one per chain (effective only before JAX starts).

    Chains sharing a device are vmapped and advance in lockstep (each NUTS iteration lasts
    as long as the deepest tree among them), yet a device per chain costs more: for 100
    participants × 120 trials one gradient of all 4 chains took 1.26 ms of CPU on 2 devices
    × 2 vmapped chains and 1.73 ms on 4 devices × 1 chain (2 cores; the device threads
    contend), more than the lockstep wastes.
    """
    import numpyro

    numpyro.set_host_device_count(max(1, min(chains, os.cpu_count() or 1)))


class _Progress:
    """A rich progress display of warm-up and sampling on stderr (nothing when ``show`` is off)."""

    def __init__(self, show: bool, label: str, warmup: int, draws: int):
        self.show = show
        self.label = label
        self.warmup = warmup
        self.draws = draws
        self._progress = None

    def __enter__(self):
        if self.show:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(
                f"{self.label}: compiling, then warm-up", total=self.draws
            )
        return self

    def update(self, done: int) -> None:
        if self._progress is not None:
            phase = "warm-up" if done < self.warmup else "sampling"
            self._progress.update(
                self._task, description=f"{self.label}: {phase}", total=self.draws, completed=done
            )

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()


# --- posterior predictive check figure ------------------------------------------------


def predictive_curves(result: HierarchicalFit, trials: pd.DataFrame) -> pd.DataFrame:
    """Observed and replicated group means per phase, CS type and n-th trial of that type.

    Returns
    -------
    pandas.DataFrame
        ``model, phase, phase_order, trial, cs_type, observed, predicted, low, high`` where
        ``trial`` counts a participant's trials of that CS type within the phase, ``observed``
        is the mean over participants, and ``predicted``/``low``/``high`` the mean and 94 %
        interval of the same mean over posterior predictive replicates.
    """
    keys = trials[["participant", "phase", "cs_type"]].astype(str)
    order = (
        trials["phase_order"]
        if "phase_order" in trials.columns
        else pd.Series(pd.factorize(trials["phase"])[0] + 1, index=trials.index)
    )
    nth = keys.groupby(["participant", "phase", "cs_type"], sort=False).cumcount() + 1
    frames = []
    for model, table in result.predictions.items():
        rows = table["row"].to_numpy()
        info = pd.DataFrame(
            {
                "phase": keys["phase"].to_numpy()[rows],
                "phase_order": order.to_numpy()[rows],
                "trial": nth.to_numpy()[rows],
                "cs_type": keys["cs_type"].to_numpy()[rows],
            }
        )
        draws = table.filter(like="draw")
        both = pd.concat([info, table[["observed"]], draws], axis=1)
        means = both.groupby(["phase_order", "phase", "trial", "cs_type"], sort=True).mean()
        replicated = means[draws.columns].to_numpy()
        out = means[["observed"]].reset_index()
        out.insert(0, "model", model)
        out["predicted"] = replicated.mean(axis=1)
        out["low"] = np.quantile(replicated, (1 - HDI_PROB) / 2, axis=1)
        out["high"] = np.quantile(replicated, 1 - (1 - HDI_PROB) / 2, axis=1)
        frames.append(out)
    return pd.concat(frames, ignore_index=True)


def plot_predictive(curves: pd.DataFrame, response: str):
    """Posterior predictive check: observed group means (points) against the replicated ones.

    One row of panels per model; CS+ and CS− in the figure's colours; the band is the 94 %
    interval of the group mean over posterior predictive replicates, so an observed point
    outside it is a trial the model does not reproduce.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from pavlov.analysis.figures import COLOURS, _decorate, _layout

    models = list(dict.fromkeys(curves["model"]))
    positions, spans = _layout(curves, "trial")
    width = max(5.0, min(14.0, 0.22 * (spans[-1][2] + 2) if spans else 5.0))
    fig = Figure(figsize=(width, 3.2 * len(models)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(models), 1, squeeze=False, sharex=True)[:, 0]
    for ax, model in zip(axes, models):
        rows = curves[curves["model"] == model]
        for kind in ("CS+", "CS-"):
            part = rows[rows["cs_type"] == kind]
            for phase, lines in part.groupby("phase", sort=False):
                xs = np.array([positions[(phase, int(v))] for v in lines["trial"]])
                first = phase == part["phase"].iloc[0]
                colour = COLOURS.get(kind, "0.3")
                ax.fill_between(
                    xs, lines["low"], lines["high"], color=colour, alpha=0.2, linewidth=0
                )
                ax.plot(
                    xs,
                    lines["predicted"],
                    "-",
                    color=colour,
                    linewidth=1.2,
                    label=f"{kind} predicted" if first else None,
                )
                ax.plot(
                    xs,
                    lines["observed"],
                    "o",
                    color=colour,
                    markersize=3,
                    label=f"{kind} observed" if first else None,
                )
        ax.set_title(f"{model}: posterior predictive check", pad=16, fontsize=10)
        _decorate(ax, spans, "trial of each CS type within phase", f"{response} (group mean)")
        ax.legend(frameon=False, fontsize=7, ncols=2)
    return fig


# --- recovery -------------------------------------------------------------------------


def recover_hierarchical(
    protocol,
    model: str = "hybrid",
    n_participants: int = 50,
    noise: float | None = None,
    response: str = "scr",
    seed: int = 0,
    *,
    chains: int = 4,
    draws: int = 1000,
    warmup: int = 1000,
    progress: bool | None = None,
) -> tuple[pd.DataFrame, HierarchicalFit]:
    """Parameter recovery with the hierarchical fit on the protocol's real schedules.

    Simulates as :func:`pavlov.analysis.recovery.simulate_trials` does, fits ``model``
    hierarchically and returns the long table of :func:`pavlov.analysis.recovery.recover`
    (``participant, parameter, true, estimated``) plus ``hdi_low``, ``hdi_high`` and
    ``covered`` (the true value inside the 94 % HDI), together with the fit.
    """
    from pavlov.analysis.recovery import _rating_scale, against_truth, simulate_trials

    trials, truth = simulate_trials(protocol, model, n_participants, noise, response, seed)
    scale = _rating_scale(trials, protocol) if response == "rating" else None
    sampler = dict(chains=chains, draws=draws, warmup=warmup, progress=progress)
    result = _fit_simulated(trials, (model,), response, scale, seed, sampler)
    out = against_truth(truth, result.fits, model)
    out.attrs.update(trials.attrs)
    out.attrs.update(fit="hierarchical", chains=chains, draws=draws, warmup=warmup)
    out.attrs["n_participants"] = n_participants
    out.attrs["n_trials"] = int(len(trials) / n_participants)
    return out, result


def confusion_hierarchical(
    protocol,
    models: Sequence[str] = ("rw", "hybrid"),
    n_participants: int = 50,
    noise: float | None = None,
    response: str = "scr",
    seed: int = 0,
    *,
    chains: int = 4,
    draws: int = 1000,
    warmup: int = 1000,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Model recovery with hierarchical fits, judged by leave-one-out predictive densities.

    For each generating model (seed ``seed + i``), every model is fitted hierarchically to
    the simulated sample; each participant's winner is the model with the highest
    leave-one-participant-out elpd (:func:`participant_winners`), and the sample's winner
    the model with the highest total PSIS-LOO elpd.

    Returns
    -------
    pandas.DataFrame
        One row per generating model: ``simulated``, a count per fitted model (participants
        it won), ``n``, ``recovered`` (share won by the generating model), ``sample_winner``,
        ``flagged`` (fits whose diagnostics were flagged), ``diagnostics`` (each fit's
        largest R-hat, smallest bulk ESS and divergences, in words).
    """
    from pavlov.analysis.recovery import confusion

    models = list(dict.fromkeys(models))
    if len(models) < 2:
        raise HierarchicalError(f"models: expected at least two models to compare, got {models}")

    sampler = dict(chains=chains, draws=draws, warmup=warmup, progress=progress)

    def judge(trials, scale, seed):
        result = _fit_simulated(trials, models, response, scale, seed, sampler)
        return participant_winners(result), {
            "sample_winner": result.comparison["model"].iloc[0],
            "flagged": ", ".join(m for m, d in result.diagnostics.items() if d.flagged),
            "diagnostics": "; ".join(
                f"{m}: max R-hat {d.max_rhat:.3f}, min bulk ESS {d.min_ess_bulk:.0f}, "
                f"{d.divergences} divergences"
                for m, d in result.diagnostics.items()
            ),
        }

    out = confusion(protocol, models, n_participants, noise, response, seed, judge)
    out.attrs["fit"] = "hierarchical"
    return out


def _fit_simulated(trials, models, response, scale, seed, sampler) -> HierarchicalFit:
    """Fit simulated participants: one group, and ratings as the simulator makes them (V +
    noise, the identity observation model)."""
    return fit_hierarchical(
        trials,
        models,
        response,
        seed=seed,
        rating_scale=scale,
        rating_model="identity",
        groups=False,
        **sampler,
    )
