"""Per-participant maximum-likelihood fits of the learning models, and fMRI regressors.

Observation models
------------------
- **Ratings** (``response="rating"``), two observation models (``rating_model``):

  - ``linear`` (the default): ``y_t = β0 + β1·V_t + ε``, ``ε ~ N(0, σ²)``, the β solved
    by least squares as for SCR. It does not depend on the declared scale or on how much
    of it a participant uses: on simulated learners who rate within a part of a 0–10
    scale (low end 0–3, high end 6–10), it recovered RW's α with r = 0.96 against 0.54
    for ``identity`` (``tests/analysis/test_fit.py``); on ratings that use the whole
    scale the two are close for RW and ``identity`` is better for the hybrid's rates.
  - ``identity``: the rating rescaled to [0, 1] (``rating_scale``) is Gaussian around the
    model's value, ``y_t = V_t + ε``. We chose a Gaussian over a Beta likelihood with mean
    ``V`` because expectancy scales put much of their mass on the end points (0 and
    100 %), where a Beta density is undefined; squeezing the ends into (0, 1) then
    dominates the likelihood with an arbitrary constant.

- **SCR** (``response="scr"``): ``scr_t = β0 + β1·V_t + ε`` (``rw``, ``rw2``) or
  ``β0 + β1·V_t + β2·α_t`` (``hybrid``: value and associability, Li et al. 2011; the
  winning "Hybrid (α + V)" of Homan et al. 2019), ``ε ~ N(0, σ²)``. For each candidate
  learning-rate set the β are solved by ordinary least squares inside the likelihood (the
  variable-projection method), so only the learning parameters are searched.

Trials with a missing response (NaN) are left out of the likelihood, but the model still
learns from them.

Search
------
Learning parameters live in (0, 1) and are searched on the logit scale (unbounded).
First a scrambled Sobol design of candidate rates in (0.02, 0.98) (16 for one rate, about
4 × ``n_starts`` for more, drawn from ``seed``; one at 0.3 for every rate) is scored per participant
without derivatives; from the ``n_starts`` chosen ones (the best half and a random other
half) a Levenberg–Marquardt search runs with
analytic Jacobians (forward sensitivities from :func:`~pavlov.analysis.models.run_model`);
the best end point is kept. All participants and starts are searched together, as one
batch of numpy arrays, so a thousand participants take seconds, not minutes.

Reported per participant: the parameters, ``sigma`` (and the β for SCR), the maximised
log-likelihood, ``bic = k ln n − 2 loglik`` where ``k`` counts every free quantity (the
learning rates, the β and ``σ``), and ``n_obs``. Starts that run into the same basin as a
participant's best start are dropped along the way (they cannot change the answer).

Speed, measured on the 2-core development machine (load ≈ 2 from other jobs) for 1,000
simulated participants × 120 trials, ratings / SCR: with 10 starts ``rw`` 0.8 / 1.5 s,
``rw2`` 2.7 / 3.9 s, ``hybrid`` 4.9 / 6.6 s; with ``n_starts=3`` ``rw`` 0.4 / 0.9 s,
``rw2`` 0.9 / 1.3 s, ``hybrid`` 1.9 / 2.6 s. For ``rw`` three starts reach the same optimum
as ten (one rate, screened on 16 candidates first); the hybrid surface has several basins.
With several CPUs the models are fitted in forked processes, each model's participants in
pieces of about equal cost (the hybrid in four), so that the processes finish together; a
participant's fit is the same in any piece (its starts come from the same draws).
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import weakref
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from pavlov.analysis.errors import AnalysisError
from pavlov.analysis.models import MODELS, ModelError, check_model, run_model
from pavlov.common.errors import suggest

__all__ = [
    "RESPONSES",
    "FitError",
    "PendingFits",
    "combine_fits",
    "fit_models",
    "regressors",
    "start_fits",
]

#: Responses a model can be fitted to.
RESPONSES = ("rating", "scr")

#: Observation models for ratings (see :func:`fit_models`).
RATING_MODELS = ("linear", "identity")

#: A learning rate this close to 0 or 1 is reported as at the bound.
AT_BOUND = 1e-3

#: Logit bound of every rate: rates stay in [1.2e-4, 0.99988].
_LOGIT_BOUND = 9.0

#: Columns :func:`fit_models` needs in the trial frame (besides the response).
REQUIRED = ("participant", "cs", "cs_type", "reinforced")

#: Trial-frame columns :func:`regressors` carries over to every regressor row, if present.
CARRIED = (
    "participant",
    "session",
    "run",
    "phase",
    "trial",
    "cs",
    "cs_type",
    "stimulus",
    "reinforced",
)


class FitError(AnalysisError):
    """The trial frame or the fit options are not usable (one-line message)."""


def fit_models(
    trials: pd.DataFrame,
    models: Sequence[str] = ("rw", "rw2", "hybrid"),
    response: str = "rating",
    n_starts: int = 10,
    seed: int = 0,
    *,
    v0: float = 0.5,
    rating_scale: tuple[float, float] | None = None,
    rating_model: str = "linear",
    max_iter: int = 100,
    workers: int | None = None,
) -> pd.DataFrame:
    """Fit learning models to every participant by maximum likelihood.

    Parameters
    ----------
    trials : pandas.DataFrame
        The tidy trial frame: one row per CS trial in presentation order, with columns
        ``participant``, ``cs``, ``cs_type`` (``CS+``/``CS-``), ``reinforced`` (bool) and
        the response column (``rating`` or ``scr``; NaN when missing). A ``stimulus``
        column, when present and not empty, identifies the CS whose value is learned (so roles
        may swap between phases, as in reversal); otherwise ``cs`` does. Sessions and phases run in
        row order; the model's state carries over between them.
    models : sequence of str
        Any of ``rw``, ``rw2``, ``hybrid``.
    response : str
        ``rating`` or ``scr`` (see the module notes for the observation models).
    n_starts : int
        Starting points per participant and model (≥ 1).
    seed : int
        Seeds the random starting points. Each model draws its own from ``(seed, model)``,
        so a model's fit does not depend on which other models are fitted with it.
    v0 : float
        Initial value of every CS.
    rating_scale : (float, float), optional
        The ends of the rating scale, mapped to 0 and 1. When None: ratings already in
        [0, 1] are used as they are, otherwise the smallest and largest rating in the
        frame are taken as the ends (recorded in ``attrs["rating_scale"]``).
    rating_model : {'linear', 'identity'}
        Ratings' observation model: ``linear`` fits ``β0 + β1·V`` (the β by OLS, as for
        SCR), so the fit does not depend on the scale or on how much of it a participant
        uses; ``identity`` fits the rescaled rating as ``V``.
    max_iter : int
        Levenberg–Marquardt iterations per start.
    workers : int, optional
        Processes that fit models side by side (same results as one). None: one per
        available CPU when there are several models and a large batch (≥ 2,000
        participant × start pairs), else 1.

    Returns
    -------
    pandas.DataFrame
        One row per participant and model: ``participant``, ``model``, every parameter of
        the requested models (NaN where a model lacks it), ``sigma``, ``beta0``,
        ``beta_v`` and (hybrid, SCR) ``beta_alpha`` for SCR and linear ratings,
        ``loglik``, ``bic``, ``n_obs``, ``n_params``, ``at_bound`` (a learning rate within
        1e-3 of 0 or 1: the optimum is at the edge of the parameter space, so the
        estimate is a limit, not an interior maximum) and ``at_bound_params``. Participants with fewer observations than free parameters + 1 get
        NaN estimates. ``attrs`` records the settings.
    """
    return start_fits(
        trials, models, response, n_starts, seed, v0=v0, rating_scale=rating_scale,
        rating_model=rating_model, max_iter=max_iter, workers=workers,
    ).result()  # fmt: skip


class PendingFits:
    """Fits started by :func:`start_fits`; :meth:`result` waits for them."""

    def __init__(self, jobs: list[tuple], pool, finish, client=None):
        self._jobs = jobs
        self._pool = pool
        self._finish = finish
        self._client = client
        # fitted side by side now (largest model first, so the longest job starts at
        # once), or here on the first call of result() when one process does them all
        order = sorted(range(len(jobs)), key=lambda i: -len(MODELS[jobs[i][0]]))
        self._async = {i: pool.apply_async(_fit_job, (jobs[i],)) for i in order} if pool else {}
        if client is not None:  # on a Dask cluster's workers, one task per job
            self._async = {i: client.submit(_fit_job, jobs[i], pure=False) for i in order}
        self._frame = None
        if pool is not None:  # a caller that fails before result() leaves no fits running
            weakref.finalize(self, pool.terminate)

    def result(self) -> pd.DataFrame:
        """The :func:`fit_models` frame (waits for the fits to finish)."""
        if self._frame is None:
            if self._client is not None:
                rows = self._client.gather([self._async[i] for i in range(len(self._jobs))])
            elif self._pool is None:
                rows = [_fit_job(job) for job in self._jobs]
            else:
                try:
                    rows = [self._async[i].get() for i in range(len(self._jobs))]
                finally:
                    self._pool.terminate()
            self._frame = self._finish(rows)
        return self._frame

    def cancel(self) -> None:
        """Stop fits still running (their processes end at once)."""
        if self._pool is not None:
            self._pool.terminate()
        if self._client is not None:
            self._client.cancel(list(self._async.values()))


def start_fits(
    trials: pd.DataFrame,
    models: Sequence[str] = ("rw", "rw2", "hybrid"),
    response: str = "rating",
    n_starts: int = 10,
    seed: int = 0,
    *,
    v0: float = 0.5,
    rating_scale: tuple[float, float] | None = None,
    rating_model: str = "linear",
    max_iter: int = 100,
    workers: int | None = None,
    client=None,
) -> PendingFits:
    """:func:`fit_models` that returns at once: the fits run in forked processes (when
    they pay, see ``workers``), or as tasks on the workers of a Dask ``client``, while the
    caller does other work; ``result()`` waits for them and gives what :func:`fit_models`
    returns. Bad options raise :class:`FitError` here, before any process starts.
    """
    if response not in RESPONSES:
        hint = suggest(str(response), RESPONSES)
        tail = f". Did you mean '{hint}'?" if hint else ""
        raise FitError(f"response: expected one of {', '.join(RESPONSES)}, got {response!r}{tail}")
    models = tuple(models)
    for model in models:
        try:
            check_model(model)
        except ModelError as error:
            raise FitError(str(error)) from None
    if isinstance(n_starts, bool) or not isinstance(n_starts, int) or n_starts < 1:
        raise FitError(f"n_starts: expected a whole number >= 1, got {n_starts!r}")
    if rating_model not in RATING_MODELS:
        raise FitError(
            f"rating_model: expected one of {', '.join(RATING_MODELS)}, got {rating_model!r}"
        )
    linear = response == "scr" or rating_model == "linear"
    data = _prepare(trials, response, rating_scale)
    n_part = len(data["participants"])
    pool = None if client is not None else _pool(len(models), n_part * n_starts, workers)
    # With several processes, each model's participants are fitted in pieces (a model's
    # share of the work in pieces of about equal cost), so that the processes finish
    # together instead of one waiting for the hybrid; the pieces give the same numbers.
    split = pool is not None or client is not None
    pieces = {m: _PIECES[len(MODELS[m])] if split else 1 for m in models}
    jobs = [
        (model, data, response, n_starts, seed, v0, max_iter, linear, part)
        for model in models
        for part in np.array_split(np.arange(n_part), min(pieces[model], n_part))
    ]

    def finish(rows: list[pd.DataFrame]) -> pd.DataFrame:
        frame = _columns(pd.concat(rows, ignore_index=True), models, response, linear)
        frame.attrs.update(
            response=response,
            n_starts=n_starts,
            seed=seed,
            v0=v0,
            rating_scale=data["scale"],
            rating_model=rating_model if response == "rating" else None,
            observation=(
                "rating: rescaled rating ~ N(V, sigma^2)"
                if not linear
                else "rating ~ N(beta0 + beta_v*V, sigma^2), beta by OLS"
                if response == "rating"
                else "scr ~ N(beta0 + beta_v*V [+ beta_alpha*alpha for hybrid], sigma^2), "
                "beta by OLS"
            ),
        )
        return frame

    return PendingFits(jobs, pool, finish, client)


def _columns(
    frame: pd.DataFrame, models: Sequence[str], response: str, linear: bool = True
) -> pd.DataFrame:
    params = list(dict.fromkeys(p for m in models for p in MODELS[m]))
    extra = ["sigma"]
    if linear:
        extra += ["beta0", "beta_v"]
        extra += ["beta_alpha"] if "hybrid" in models and response == "scr" else []
    columns = [
        "participant",
        "model",
        *params,
        *extra,
        "loglik",
        "bic",
        "n_obs",
        "n_params",
        "at_bound",
        "at_bound_params",
    ]
    return frame.reindex(columns=columns)


def combine_fits(parts: Sequence[pd.DataFrame], models: Sequence[str]) -> pd.DataFrame:
    """Join :func:`fit_models` results of one model each (fitted apart, e.g. on a cluster's
    workers) into the frame that fitting ``models`` together gives."""
    attrs = parts[0].attrs
    linear = attrs["response"] == "scr" or attrs.get("rating_model") != "identity"
    frame = _columns(pd.concat(parts, ignore_index=True), models, attrs["response"], linear)
    frame.attrs.update(parts[0].attrs)
    return frame


def regressors(
    trials: pd.DataFrame,
    fits: pd.DataFrame,
    model: str | None = None,
    *,
    v0: float | None = None,
) -> pd.DataFrame:
    """Trial-wise V, δ and α of each participant's fitted model, as parametric regressors.

    Parameters
    ----------
    trials : pandas.DataFrame
        The trial frame the fits came from, plus ``onset`` (CS onset, seconds in the
        session's time base) and optionally ``duration`` (CS duration) and ``us_onset``
        (seconds after CS onset of the delivered or omitted US). Optional ``session``,
        ``phase`` and ``trial`` columns are carried over.
    fits : pandas.DataFrame
        Output of :func:`fit_models`.
    model : str, optional
        Which fitted model to use; when None, the only model in ``fits`` or else the one
        with the lowest total BIC.
    v0 : float, optional
        Initial value; the one recorded in ``fits.attrs`` (else 0.5) when None.

    Returns
    -------
    pandas.DataFrame
        BIDS-style long table, one row per trial and regressor: ``onset``, ``duration``,
        ``trial_type`` (``V`` and ``alpha`` at CS onset with the CS duration; ``delta`` at
        the outcome, i.e. ``onset + us_onset`` — or CS offset where ``us_onset`` is
        missing — with duration 0), ``value`` (the raw model quantity; centre or scale it
        in the fMRI design as needed), the :data:`CARRIED` columns present in ``trials``
        (``participant``, ``session``, ``run``, ``phase``, ``trial``, ``cs``, ...), and
        ``model``. ``alpha`` is the associability for ``hybrid`` and the learning
        rate used for ``rw``/``rw2``.
    """
    if "onset" not in trials.columns:
        raise FitError(
            f"trials: expected an 'onset' column for regressors, got {list(trials.columns)}"
        )
    available = list(dict.fromkeys(fits["model"]))
    if model is None:
        if len(available) == 1:
            model = available[0]
        else:
            model = fits.groupby("model")["bic"].sum().idxmin()
    if model not in available:
        raise FitError(f"model: expected one of the fitted models {available}, got {model!r}")
    names = MODELS[model]
    v0 = fits.attrs.get("v0", 0.5) if v0 is None else v0
    chosen = fits[fits["model"] == model].set_index("participant")
    data = _prepare(trials, None, None)
    params = {n: np.array([chosen[n].get(p, np.nan) for p in data["participants"]]) for n in names}
    ok = np.all([np.isfinite(v) for v in params.values()], axis=0)
    safe = {n: np.where(ok, v, 0.5) for n, v in params.items()}
    trace = run_model(model, safe, data["cues"], data["outcomes"], plus=data["plus"], v0=v0)
    position = data["position"]
    row_of = data["row_of"]
    onset = pd.to_numeric(trials["onset"], errors="coerce").to_numpy(dtype=float)
    duration = (
        pd.to_numeric(trials["duration"], errors="coerce").to_numpy(dtype=float)
        if "duration" in trials.columns
        else np.full(len(trials), np.nan)
    )
    # The model learns at every trial's outcome: the logged US time point (delivered,
    # omitted or the matching CS- time), else the CS offset (e.g. habituation trials,
    # which have no US row).
    outcome = onset + np.nan_to_num(duration)
    if "us_onset" in trials.columns:
        us_onset = pd.to_numeric(trials["us_onset"], errors="coerce").to_numpy(float)
        outcome = np.where(np.isfinite(us_onset), onset + us_onset, outcome)
    values = {
        q: getattr(trace, attr)[row_of, position]
        for q, attr in (("V", "v"), ("delta", "delta"), ("alpha", "alpha"))
    }
    bad = ~ok[row_of]
    base = pd.DataFrame({c: trials[c].to_numpy() for c in CARRIED if c in trials.columns})
    parts = []
    for q in ("V", "alpha", "delta"):
        part = base.copy()
        part.insert(0, "onset", outcome if q == "delta" else onset)
        part.insert(1, "duration", 0.0 if q == "delta" else duration)
        part.insert(2, "trial_type", q)
        part.insert(3, "value", np.where(bad, np.nan, values[q]))
        part["model"] = model
        part["_row"] = np.arange(len(trials))
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    order = {"V": 0, "alpha": 1, "delta": 2}
    out = out.assign(_q=out["trial_type"].map(order)).sort_values(["_row", "_q"], kind="stable")
    return out.drop(columns=["_row", "_q"]).reset_index(drop=True)


# --- data preparation ----------------------------------------------------------------


def _prepare(
    trials: pd.DataFrame, response: str | None, rating_scale: tuple[float, float] | None
) -> dict:
    """Pad the trial frame into (participant, trial) arrays."""
    if not isinstance(trials, pd.DataFrame):
        raise FitError(f"trials: expected a pandas DataFrame, got {type(trials).__name__}")
    needed = (*REQUIRED, response) if response else REQUIRED
    for column in needed:
        if column not in trials.columns:
            hint = suggest(column, [str(c) for c in trials.columns])
            tail = f". Did you mean '{hint}'?" if hint else ""
            raise FitError(
                f"trials: expected a column '{column}', got {list(trials.columns)}{tail}"
            )
    if trials.empty:
        raise FitError("trials: expected at least one CS trial, got an empty frame")
    if trials["cs"].isna().any():
        raise FitError("trials: cs: expected a CS on every row, got missing values")
    participant = trials["participant"].astype(str).to_numpy()
    row_of, uniques = pd.factorize(participant)  # participants in order of appearance
    participants = [str(p) for p in uniques]
    position = pd.Series(row_of).groupby(row_of).cumcount().to_numpy()  # row order
    n_trials = int(position.max()) + 1
    shape = (len(participants), n_trials)
    labels = "cs:" + trials["cs"].astype(str)
    if "stimulus" in trials.columns:  # learn per stimulus identity where it is known
        stimulus = trials["stimulus"].fillna("").astype(str)
        labels = labels.where(stimulus == "", "stimulus:" + stimulus)
    # code each participant's CSs 0, 1, ... in order of first appearance (vectorised)
    pair, _ = pd.factorize(pd.Series(row_of).astype(str) + "\x00" + labels.to_numpy())
    first = pd.DataFrame({"row": row_of, "pair": pair}).drop_duplicates("pair")
    first = first.sort_values(["row", "pair"], kind="stable")
    code_of_pair = np.empty(pair.max() + 1, dtype=np.intp)
    code_of_pair[first["pair"].to_numpy()] = first.groupby("row").cumcount().to_numpy()
    cues = np.full(shape, -1, dtype=np.intp)
    cues[row_of, position] = code_of_pair[pair]
    reinforced = trials["reinforced"]
    try:
        if pd.api.types.is_bool_dtype(reinforced) and not reinforced.isna().any():
            reinforced = reinforced.to_numpy(dtype=float)
        else:
            reinforced = reinforced.map(_as_bool).to_numpy(dtype=float)
    except ValueError as error:
        raise FitError(f"trials: reinforced: expected true/false or 1/0, got {error}") from None
    outcomes = np.zeros(shape)
    outcomes[row_of, position] = reinforced
    plus = np.zeros(shape, dtype=bool)
    plus[row_of, position] = trials["cs_type"].astype(str).to_numpy() == "CS+"
    y = np.full(shape, np.nan)
    scale = None
    if response:
        values = pd.to_numeric(trials[response], errors="coerce").to_numpy(dtype=float)
        if response == "rating":
            values, scale = _rescale(values, rating_scale)
        y[row_of, position] = values
    return {
        "participants": participants,
        "cues": cues,
        "outcomes": outcomes,
        "plus": plus,
        "y": y,
        "row_of": row_of,
        "position": position,
        "scale": scale,
    }


def _as_bool(value: object) -> float:
    if isinstance(value, bool | np.bool_):
        return float(value)
    text = str(value).strip().lower()
    if text in ("1", "1.0", "true", "yes"):
        return 1.0
    if text in ("0", "0.0", "false", "no"):
        return 0.0
    raise ValueError(repr(value))


def _rescale(
    values: np.ndarray, scale: tuple[float, float] | None
) -> tuple[np.ndarray, tuple[float, float]]:
    finite = values[np.isfinite(values)]
    if scale is None:
        if finite.size == 0 or (finite.min() >= 0 and finite.max() <= 1):
            scale = (0.0, 1.0)
        else:
            scale = (float(finite.min()), float(finite.max()))
            if not scale[1] > scale[0]:
                # The scale is read from the data; constant ratings give none.
                raise FitError(
                    f"rating: expected ratings that vary (the scale's ends are taken from the "
                    f"data), got every rating {scale[0]:g}; a learning model cannot be fitted"
                )
    low, high = (float(s) for s in scale)
    if not high > low:
        raise FitError(f"rating_scale: expected low < high, got {scale!r}")
    if finite.size and (finite.min() < low or finite.max() > high):
        raise FitError(
            f"rating: expected values within rating_scale {low:g}-{high:g}, "
            f"got {finite.min():g}-{finite.max():g}"
        )
    return (values - low) / (high - low), (low, high)


# --- running the models (side by side on several CPUs) ----------------------------------

#: Participant × start pairs from which fitting models in parallel processes pays off
#: (below it, starting a process costs more than it saves).
PARALLEL_BATCH = 2000


#: Pieces a model's participants are fitted in when processes fit side by side, by the
#: model's number of rates (its cost: rw 1, rw2 2-3, hybrid 5-6 s for 1,000 participants).
_PIECES = {1: 1, 2: 2, 3: 4}


def _fit_job(job: tuple) -> pd.DataFrame:
    model, data, response, n_starts, seed, v0, max_iter, linear, part = job
    rng = np.random.default_rng([seed, list(MODELS).index(model)])
    return _fit_batch(
        model, data, response, n_starts, rng, v0=v0, max_iter=max_iter, linear=linear, part=part
    )


def _pool(n_jobs: int, batch: int, workers: int | None):
    """A pool of forked processes for the jobs when fitting side by side pays, else None.

    Fork shares the loaded modules and data, so a worker starts in milliseconds; the
    pool's processes are daemons, ended with the command even if it stops early.
    """
    if workers is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        workers = cpus if batch >= PARALLEL_BATCH else 1
    workers = min(workers, n_jobs)
    if workers <= 1 or "fork" not in mp.get_all_start_methods():
        return None
    # The starting points' Sobol design needs scipy.stats (0.4-0.6 s to import): imported
    # once here, the forked processes inherit it instead of each importing it again.
    from scipy.stats import qmc  # noqa: F401

    return mp.get_context("fork").Pool(workers)


# --- the batched Levenberg–Marquardt search -------------------------------------------


def _fit_batch(
    model: str,
    data: Mapping,
    response: str,
    n_starts: int,
    rng: np.random.Generator,
    *,
    v0: float,
    max_iter: int,
    linear: bool,
    part: np.ndarray | None = None,
) -> pd.DataFrame:
    """Fit ``model`` to the participants ``part`` (row numbers in ``data``; all when None).

    A participant's fit does not depend on the others in the batch: its starting points
    come from the same draws of ``rng`` whichever part is fitted (see
    :func:`_starting_points`) and every search step is its own.
    """
    names = MODELS[model]
    k = len(names)
    n_all = len(data["participants"])
    part = np.arange(n_all) if part is None else np.asarray(part)
    data = {
        key: (
            [data[key][i] for i in part]
            if key == "participants"
            else data[key][part]
            if key in ("cues", "outcomes", "plus", "y")
            else data[key]
        )
        for key in data
    }
    n_part = len(part)
    member = np.repeat(np.arange(n_part), n_starts)
    problem = _Problem(model, data, response, member, v0, linear)
    theta = _starting_points(problem, k, n_part, n_starts, rng, who=part, n_all=n_all)
    theta, rss = _levenberg_marquardt(problem, theta, max_iter)
    rss = rss.reshape(n_part, n_starts)
    best = np.argmin(np.where(np.isfinite(rss), rss, np.inf), axis=1)
    pick = np.arange(n_part) * n_starts + best
    theta_best = theta[pick]
    rates = _expit(theta_best)
    beta, rss_best = problem.coefficients(theta_best, np.arange(n_part))
    n_obs = problem.n_obs
    n_beta = problem.n_beta
    n_free = k + n_beta + 1
    sigma2 = np.maximum(rss_best / np.maximum(n_obs, 1), 1e-300)
    loglik = -0.5 * n_obs * (np.log(2 * math.pi * sigma2) + 1.0)
    bic = n_free * np.log(np.maximum(n_obs, 1)) - 2 * loglik
    usable = n_obs > n_free
    frame = pd.DataFrame({"participant": data["participants"], "model": model})
    for j, name in enumerate(names):
        frame[name] = np.where(usable, rates[:, j], np.nan)
    frame["sigma"] = np.where(usable, np.sqrt(sigma2), np.nan)
    labels = ["beta0", "beta_v", "beta_alpha"][:n_beta]
    for j, label in enumerate(labels):
        frame[label] = np.where(usable, beta[:, j], np.nan)
    frame["loglik"] = np.where(usable, loglik, np.nan)
    frame["bic"] = np.where(usable, bic, np.nan)
    frame["n_obs"] = n_obs
    frame["n_params"] = n_free
    edge = usable[:, None] & ((rates < AT_BOUND) | (rates > 1 - AT_BOUND))
    frame["at_bound"] = edge.any(axis=1)
    frame["at_bound_params"] = [",".join(n for n, e in zip(names, row) if e) for row in edge]
    return frame


def _starting_points(
    problem: _Problem,
    k: int,
    n_part: int,
    n_starts: int,
    rng: np.random.Generator,
    *,
    who: np.ndarray | None = None,
    n_all: int | None = None,
) -> np.ndarray:
    """Screen a quasi-random design of candidate rates; start from the best and a random few.

    The screen costs little (no derivatives) and finds the basin of the global optimum
    far more often than random starts alone: each participant starts from its
    ``ceil(n_starts / 2)`` best candidates and from randomly chosen others, for spread.
    """

    # about 4 candidates per start (fewer for one rate, where 16 cover the line), at least
    # 16, rounded up to a power of 2 as Sobol designs want
    wanted = max(16, n_starts, min(8**k, 4 * n_starts))
    n_screen = 1 << int(np.ceil(np.log2(wanted)))
    # Imported here: scipy.stats takes 0.6 s to import, and every `pavlov` command's
    # parser imports this module (for its option choices) before it knows it will fit.
    from scipy.stats import qmc

    design = qmc.Sobol(k, scramble=True, seed=rng).random(n_screen)
    candidates = _logit(0.02 + 0.96 * design)
    candidates[0] = _logit(np.full(k, 0.3))
    part = np.repeat(np.arange(n_part), n_screen)
    theta = np.tile(candidates, (n_part, 1))
    # screened in chunks: one pass over 64 candidates × 1,000 participants would hold
    # several 60-MB trial arrays at once (same values, a fraction of the memory)
    chunk = 8192
    rss = np.concatenate(
        [
            problem.coefficients(theta[i : i + chunk], part[i : i + chunk])[1]
            for i in range(0, len(part), chunk)
        ]
    ).reshape(n_part, -1)
    rss = np.where(np.isfinite(rss), rss, np.inf)
    order = np.argsort(rss, axis=1, kind="stable")
    n_best = (n_starts + 1) // 2
    rest = order[:, n_best:]
    # drawn for every participant of the study and cut to ``who``: a participant gets the
    # same random starts whether fitted alone, in a piece or with everyone
    draws = rng.random((n_part if n_all is None else n_all, rest.shape[1]))
    if who is not None:
        draws = draws[who]
    shuffled = np.argsort(draws, axis=1)[:, : n_starts - n_best]
    chosen = np.concatenate([order[:, :n_best], np.take_along_axis(rest, shuffled, 1)], axis=1)
    return candidates[chosen].reshape(n_part * n_starts, k)


class _Problem:
    """Residuals and Jacobians of one model for a batch of (participant, start) pairs."""

    def __init__(
        self,
        model: str,
        data: Mapping,
        response: str,
        member: np.ndarray,
        v0: float,
        linear: bool = True,
    ):
        self.model = model
        self.response = response
        self.v0 = v0
        self.cues = data["cues"]
        self.outcomes = data["outcomes"]
        self.plus = data["plus"]
        self.y = data["y"]
        self.observed = np.isfinite(self.y)
        self.y0 = np.where(self.observed, self.y, 0.0)
        self.n_obs = self.observed.sum(axis=1)
        self.member = member
        if not linear:
            self.n_beta = 0
        else:
            self.n_beta = 3 if model == "hybrid" and response == "scr" else 2

    def evaluate(self, theta: np.ndarray, which: np.ndarray) -> tuple[np.ndarray, tuple]:
        """RSS and ``(J'J, J'r)`` for the batch rows ``which``."""
        part = self.member[which]
        rates = _expit(theta)
        trace = self._run(rates, part, gradient=True)
        obs = self.observed[part]
        y = self.y0[part]
        chain = rates * (1.0 - rates)  # d rate / d logit
        if self.n_beta == 0:
            resid = np.where(obs, y - trace.v, 0.0)
            jac = np.where(obs[..., None], trace.dv, 0.0) * -chain[:, None, :]
        else:
            x = self._design(trace, obs)
            beta, resid = _ols(x, y, obs)
            # only V (and alpha) columns depend on the rates; the intercept does not
            m = trace.dv * beta[:, None, 1:2]
            if self.n_beta == 3:
                m = m + trace.dalpha * beta[:, None, 2:3]
            m = np.where(obs[..., None], m, 0.0) * chain[:, None, :]
            jac = -_project_out(x, m)
        rss = np.einsum("bt,bt->b", resid, resid)
        jac_t = jac.transpose(0, 2, 1)
        return rss, (jac_t @ jac, (jac_t @ resid[..., None])[..., 0])

    def rss(self, theta: np.ndarray, which: np.ndarray) -> np.ndarray:
        return self.evaluate(theta, which)[0]

    def coefficients(self, theta: np.ndarray, part: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """β (empty for ratings) and RSS at ``theta`` for participants ``part``."""
        rates = _expit(theta)
        trace = self._run(rates, part, gradient=False)
        obs = self.observed[part]
        y = self.y0[part]
        if self.n_beta == 0:
            resid = np.where(obs, y - trace.v, 0.0)
            return np.empty((len(part), 0)), np.einsum("bt,bt->b", resid, resid)
        x = self._design(trace, obs)
        beta, resid = _ols(x, y, obs)
        return beta, np.einsum("bt,bt->b", resid, resid)

    def _run(self, rates: np.ndarray, part: np.ndarray, gradient: bool):
        params = {name: rates[:, j] for j, name in enumerate(MODELS[self.model])}
        return run_model(
            self.model,
            params,
            self.cues[part],
            self.outcomes[part],
            plus=self.plus[part],
            v0=self.v0,
            gradient=gradient,
        )

    def _design(self, trace, obs: np.ndarray) -> np.ndarray:
        cols = [np.ones_like(trace.v), trace.v]
        if self.n_beta == 3:
            cols.append(trace.alpha)
        return np.where(obs[..., None], np.stack(cols, axis=-1), 0.0)


def _ols(x: np.ndarray, y: np.ndarray, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Batched least squares of ``y`` on the columns of ``x`` (rows not observed are 0)."""
    x_t = x.transpose(0, 2, 1)
    beta = _solve_normal(x_t @ x, (x_t @ y[..., None])[..., 0])
    resid = np.where(obs, y - (x @ beta[..., None])[..., 0], 0.0)
    return beta, resid


def _project_out(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``(I − X (X'X)⁻¹ X') M`` per batch row (Kaufman's variable-projection Jacobian)."""
    x_t = x.transpose(0, 2, 1)
    coef = np.linalg.solve(_regularise(x_t @ x), x_t @ m)
    return m - x @ coef


def _regularise(xtx: np.ndarray) -> np.ndarray:
    # a constant V (a rate of ~0) makes X'X singular; a tiny ridge keeps the solve finite
    ridge = 1e-10 * (np.trace(xtx, axis1=1, axis2=2) + 1.0)
    return xtx + ridge[:, None, None] * np.eye(xtx.shape[-1])


def _solve_normal(xtx: np.ndarray, xty: np.ndarray) -> np.ndarray:
    return np.linalg.solve(_regularise(xtx), xty[..., None])[..., 0]


def _levenberg_marquardt(
    problem: _Problem, theta: np.ndarray, max_iter: int
) -> tuple[np.ndarray, np.ndarray]:
    """Minimise every batch row's RSS independently; only unfinished rows are evaluated."""
    n, k = theta.shape
    theta = np.clip(theta, -_LOGIT_BOUND, _LOGIT_BOUND)
    every = np.arange(n)
    rss, (jtj, jtr) = problem.evaluate(theta, every)
    damping = np.full(n, 1e-3)
    active = np.isfinite(rss)
    eye = np.eye(k)
    for iteration in range(max_iter):
        rows = np.flatnonzero(active)
        if rows.size == 0:
            break
        a = jtj[rows]
        g = jtr[rows]
        # A rate pinned at its bound with the descent direction pointing outwards is held
        # there (projected step); otherwise such rows creep along the bound for ever.
        held = ((theta[rows] <= -_LOGIT_BOUND) & (g > 0)) | (
            (theta[rows] >= _LOGIT_BOUND) & (g < 0)
        )
        free = ~held
        a = a * (free[:, :, None] & free[:, None, :]) + held[:, :, None] * eye
        g = np.where(free, g, 0.0)
        diag = np.einsum("bkk->bk", a)
        scale = damping[rows, None, None] * (diag[:, :, None] * eye + 1e-9 * eye)
        step = -np.linalg.solve(a + scale, g[..., None])[..., 0]
        trial = np.clip(theta[rows] + step, -_LOGIT_BOUND, _LOGIT_BOUND)
        new_rss, (new_jtj, new_jtr) = problem.evaluate(trial, rows)
        better = np.isfinite(new_rss) & (new_rss < rss[rows])
        gain = np.where(better, rss[rows] - new_rss, 0.0)
        moved = np.abs(trial - theta[rows]).max(axis=1)
        good = rows[better]
        theta[good] = trial[better]
        jtj[good] = new_jtj[better]
        jtr[good] = new_jtr[better]
        old = rss[rows]
        rss[good] = new_rss[better]
        damping[good] = np.maximum(damping[good] / 3.0, 1e-9)
        bad = rows[~better]
        damping[bad] *= 4.0
        small = better & ((gain <= 1e-7 * (old + 1e-12)) | (moved < 1e-6))
        stuck = ~better & (damping[rows] > 1e6)
        active[rows[small | stuck]] = False
        # Starts that joined their participant's best basin stop every second iteration:
        # on 1,000 × 120 trials this saves a quarter of the fitting CPU (every fifth: 1.3 s
        # more) and moves no log-likelihood by more than 0.0012.
        if iteration % 2 == 1:
            active &= ~_duplicates(theta, rss, problem.member)
    return theta, rss


def _duplicates(theta: np.ndarray, rss: np.ndarray, member: np.ndarray) -> np.ndarray:
    """Starts that have run into the basin of their participant's best start so far."""
    score = np.where(np.isfinite(rss), rss, np.inf)
    order = np.lexsort((score, member))
    first = np.r_[True, member[order][1:] != member[order][:-1]]
    best_of = order[first][np.cumsum(first) - 1]  # for each sorted row, its member's best row
    best = np.empty_like(order)
    best[order] = best_of
    close = (np.abs(theta - theta[best]).max(axis=1) < 0.05) | (
        np.abs(_expit(theta) - _expit(theta[best])).max(axis=1) < 0.01
    )
    return close & (best != np.arange(len(theta)))


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def _expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))
