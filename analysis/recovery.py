"""Parameter recovery on a protocol's real schedules (analysis.md §4).

:func:`recover` samples true learning parameters for simulated participants, builds each
participant's actual schedule with :func:`pavlov.protocols.build_schedule` for every session
of the protocol in order, simulates responses from the model on those trials, refits with
:func:`pavlov.analysis.fit.fit_models`, and returns true against estimated values;
:func:`recovery_summary` reduces that to a correlation per parameter. :func:`model_confusion`
does model recovery: simulate from each model, fit all of them, count the BIC winners.

Simulated responses:

- **ratings**: ``V`` plus Gaussian noise (fitted with the matching ``identity`` observation
  model) (SD ``noise`` on the 0–1 scale; default 0.15),
  clipped to the scale and rounded to its steps (whole points for key ratings, 1 % of the
  range for sliders), observed on the trials where the protocol asks for an online rating
  (every trial when it asks for none);
- **SCR**: ``0.2 + 1·V + ε`` (``rw``, ``rw2``) or ``0.2 + 0.5·V + 1·α + ε`` (``hybrid``),
  ``ε ~ N(0, noise²)`` with ``noise`` 0.4 by default — the settings of the Abend et al.
  2022 recovery bar (SD 0.4, β1 = 1), observed on every trial.

Unsignalled USs (reinstatement) are not CS trials and do not enter the model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from pavlov.analysis.fit import RESPONSES, FitError, fit_models
from pavlov.analysis.models import MODELS, check_model, encode_cues, run_model
from pavlov.protocols.model import Protocol

__all__ = [
    "DEFAULT_NOISE",
    "PARAMETER_RANGE",
    "against_truth",
    "confusion",
    "model_confusion",
    "recover",
    "recovery_summary",
    "simulate_trials",
]

#: Noise SD by response: ratings on the 0–1 scale; SCR in µS-like units (Abend bar).
DEFAULT_NOISE: Mapping[str, float] = {"rating": 0.15, "scr": 0.4}

#: True rates are drawn uniformly from this interval.
PARAMETER_RANGE = (0.05, 0.95)

#: SCR = β0 + β_V·V (+ β_α·α for hybrid) + noise.
SCR_BETA: Mapping[str, tuple[float, ...]] = {
    "rw": (0.2, 1.0),
    "rw2": (0.2, 1.0),
    "hybrid": (0.2, 0.5, 1.0),
}


def simulate_trials(
    protocol: Protocol,
    model: str = "rw",
    n_participants: int = 50,
    noise: float | None = None,
    response: str = "rating",
    seed: int = 0,
    *,
    v0: float = 0.5,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate participants on the protocol's schedules.

    Returns
    -------
    trials : pandas.DataFrame
        The tidy trial frame (``participant``, ``session``, ``phase``, ``phase_order``,
        ``trial``, ``cs``, ``cs_type``, ``stimulus``, ``reinforced``, ``onset``,
        ``duration``, ``us_onset`` and the simulated ``rating`` or ``scr``).
    truth : pandas.DataFrame
        ``participant`` and the true value of every model parameter.
    """
    from pavlov.protocols import build_schedule

    names = check_model(model)
    if response not in RESPONSES:
        raise FitError(f"response: expected one of {', '.join(RESPONSES)}, got {response!r}")
    if isinstance(n_participants, bool) or not isinstance(n_participants, int):
        raise FitError(f"n_participants: expected a whole number >= 3, got {n_participants!r}")
    if n_participants < 3:
        raise FitError(f"n_participants: expected a whole number >= 3, got {n_participants}")
    noise = DEFAULT_NOISE[response] if noise is None else float(noise)
    if not noise >= 0:
        raise FitError(f"noise: expected a standard deviation >= 0, got {noise!r}")
    rng = np.random.default_rng(seed)
    truth = {n: rng.uniform(*PARAMETER_RANGE, n_participants) for n in names}
    frames = []
    for i in range(n_participants):
        rows = []
        phase_order: dict[str, int] = {}
        for session in protocol.sessions:
            schedule = build_schedule(protocol, participant=str(i + 1), session=session.name)
            for event in schedule.trials:
                order = phase_order.setdefault(event.phase, len(phase_order) + 1)
                phase = protocol.phases[event.phase]
                scale = (phase.rating.low, phase.rating.high) if phase.rating else None
                rows.append(
                    {
                        "participant": str(i + 1),
                        "session": session.name,
                        "phase": event.phase,
                        "phase_order": order,
                        "trial": event.index,
                        "cs": event.cs,
                        "cs_type": event.cs_type,
                        "stimulus": event.stimulus or "",
                        "reinforced": bool(event.reinforced),
                        "onset": event.onset,
                        "duration": event.duration,
                        "us_onset": event.us_onset,
                        "_rated": bool(event.online_rating),
                        "_scale": scale,
                        "_keys": bool(phase.rating and phase.rating.input == "keys"),
                    }
                )
        frames.append(pd.DataFrame(rows))
    trials = pd.concat(frames, ignore_index=True)
    if trials.empty:
        raise FitError(f"{protocol.path}: expected CS trials in the schedule, got none")
    params = {n: truth[n][trials["participant"].astype(int) - 1] for n in names}
    values = _simulate_values(model, params, trials, v0)
    if response == "rating":
        trials["rating"] = _simulate_ratings(trials, values.v, noise, rng)
    else:
        beta = SCR_BETA[model]
        mean = beta[0] + beta[1] * values.v
        if model == "hybrid":
            mean = mean + beta[2] * values.alpha
        trials["scr"] = mean + rng.normal(0.0, noise, len(trials))
    trials.attrs.update(
        protocol=protocol.path, model=model, response=response, noise=noise, seed=seed
    )
    truth_frame = pd.DataFrame({"participant": [str(i + 1) for i in range(n_participants)]})
    for n in names:
        truth_frame[n] = truth[n]
    return trials.drop(columns=["_rated", "_scale", "_keys"]), truth_frame


def recover(
    protocol: Protocol,
    model: str = "rw",
    n_participants: int = 50,
    noise: float | None = None,
    response: str = "rating",
    seed: int = 0,
    *,
    n_starts: int = 10,
) -> pd.DataFrame:
    """Simulate from known parameters on the protocol's schedules and refit.

    Parameters
    ----------
    protocol : Protocol
        A loaded protocol (:func:`pavlov.protocols.load_protocol`).
    model : str
        ``rw``, ``rw2`` or ``hybrid``; simulated and refitted.
    n_participants : int
        Simulated participants (≥ 3), IDs ``1`` … ``n``, each with the schedules
        :func:`~pavlov.protocols.build_schedule` gives them (counterbalancing included).
    noise : float, optional
        Response noise SD; :data:`DEFAULT_NOISE` when None.
    response : str
        ``rating`` or ``scr``.
    seed : int
        Seeds the true parameters, the noise and the fitting starts.
    n_starts : int
        Fitting starts per participant.

    Returns
    -------
    pandas.DataFrame
        Long table: ``participant``, ``parameter``, ``true``, ``estimated``; ``attrs``
        holds the simulation settings.
    """
    trials, truth = simulate_trials(protocol, model, n_participants, noise, response, seed)
    scale = _rating_scale(trials, protocol) if response == "rating" else None
    # the simulator draws ratings as V + noise on the whole scale, so they are fitted with
    # the matching identity observation model
    fits = fit_models(
        trials,
        (model,),
        response,
        n_starts=n_starts,
        seed=seed,
        rating_scale=scale,
        rating_model="identity",
    )
    out = against_truth(truth, fits, model)
    out.attrs.update(trials.attrs)
    out.attrs["n_participants"] = n_participants
    out.attrs["n_trials"] = int(len(trials) / n_participants)
    return out


def recovery_summary(recovered: pd.DataFrame) -> pd.DataFrame:
    """Pearson r (and Spearman ρ, bias, RMSE) between true and estimated, per parameter.

    Parameters
    ----------
    recovered : pandas.DataFrame
        Output of :func:`recover`.

    Returns
    -------
    pandas.DataFrame
        ``parameter``, ``r``, ``rho``, ``bias`` (mean estimated − true), ``rmse``, ``n``.
    """
    rows = []
    for name, part in recovered.groupby("parameter", sort=False):
        ok = part[["true", "estimated"]].dropna()
        n = len(ok)
        r = ok["true"].corr(ok["estimated"]) if n > 2 else np.nan
        rho = ok["true"].corr(ok["estimated"], method="spearman") if n > 2 else np.nan
        error = ok["estimated"] - ok["true"]
        rows.append(
            {
                "parameter": name,
                "r": r,
                "rho": rho,
                "bias": error.mean(),
                "rmse": float(np.sqrt((error**2).mean())) if n else np.nan,
                "n": n,
            }
        )
    out = pd.DataFrame(rows, columns=["parameter", "r", "rho", "bias", "rmse", "n"])
    out.attrs.update(recovered.attrs)
    return out


def model_confusion(
    protocol: Protocol,
    models: Sequence[str] = ("rw", "rw2", "hybrid"),
    n_participants: int = 50,
    noise: float | None = None,
    response: str = "rating",
    seed: int = 0,
    *,
    n_starts: int = 10,
) -> pd.DataFrame:
    """Model recovery: simulate from each model, fit every model, count the BIC winners.

    For each generating model (the ``i``-th simulated with seed ``seed + i``, true rates
    uniform in :data:`PARAMETER_RANGE`, as :func:`simulate_trials`), every model in
    ``models`` is fitted to each simulated participant; the participant's winner is the
    model with the lowest BIC (analysis.md §4: a comparison is only worth reporting when
    each model wins on its own data).

    Parameters
    ----------
    protocol : Protocol
        A loaded protocol; every participant gets its real schedules.
    models : sequence of str
        At least two of ``rw``, ``rw2``, ``hybrid``; simulated and fitted.
    n_participants, noise, response, seed, n_starts
        As for :func:`recover`.

    Returns
    -------
    pandas.DataFrame
        One row per generating model: ``simulated``, a count column per fitted model
        (participants it won), ``n`` (participants with a BIC in every model) and
        ``recovered`` (share won by the generating model). ``attrs`` holds the settings.
    """
    models = list(dict.fromkeys(models))
    for model in models:
        check_model(model)
    if len(models) < 2:
        raise FitError(f"models: expected at least two models to compare, got {models}")

    def judge(trials, scale, seed):
        fits = fit_models(
            trials,
            models,
            response,
            n_starts=n_starts,
            seed=seed,
            rating_scale=scale,
            rating_model="identity",
        )
        bic = fits.pivot(index="participant", columns="model", values="bic")[models].dropna()
        return bic.idxmin(axis=1), {}

    return confusion(protocol, models, n_participants, noise, response, seed, judge)


def confusion(protocol, models, n_participants, noise, response, seed, judge) -> pd.DataFrame:
    """Simulate from each model in turn and count whom ``judge`` assigns to which model.

    ``judge(trials, rating_scale, seed)`` returns each participant's winning model (a Series;
    participants it cannot judge left out) and a dict of extra columns for the row; the
    ``i``-th model is simulated with seed ``seed + i``. Columns: ``simulated``, a count per
    model, ``n``, ``recovered`` (share won by the generating model), then the extras.
    """
    rows = []
    n_trials = 0
    for index, generating in enumerate(models):
        trials, _ = simulate_trials(
            protocol, generating, n_participants, noise, response, seed + index
        )
        n_trials = int(len(trials) / n_participants)
        scale = _rating_scale(trials, protocol) if response == "rating" else None
        winners, extra = judge(trials, scale, seed + index)
        counts = winners.value_counts()
        n = int(counts.sum())
        row: dict[str, Any] = {
            "simulated": generating,
            **{m: int(counts.get(m, 0)) for m in models},
            "n": n,
        }
        row["recovered"] = row[generating] / n if n else np.nan
        rows.append({**row, **extra})
    out = pd.DataFrame(rows)
    out.attrs.update(
        protocol=protocol.path,
        response=response,
        noise=DEFAULT_NOISE[response] if noise is None else float(noise),
        seed=seed,
        n_participants=n_participants,
        n_trials=n_trials,
    )
    return out


def against_truth(truth: pd.DataFrame, fits: pd.DataFrame, model: str) -> pd.DataFrame:
    """Long table ``participant, parameter, true, estimated`` of one model's fits; with
    ``hdi_low``, ``hdi_high`` and ``covered`` (truth inside the interval) when ``fits`` has
    ``<parameter>_hdi_low``/``_hdi_high`` columns."""
    estimated = fits.set_index("participant")
    rows = []
    for _, row in truth.iterrows():
        fit = estimated.loc[row["participant"]]
        for name in MODELS[model]:
            entry = {
                "participant": row["participant"],
                "parameter": name,
                "true": float(row[name]),
                "estimated": float(fit[name]),
            }
            if f"{name}_hdi_low" in fit.index:
                low, high = float(fit[f"{name}_hdi_low"]), float(fit[f"{name}_hdi_high"])
                entry.update(hdi_low=low, hdi_high=high, covered=low <= entry["true"] <= high)
            rows.append(entry)
    return pd.DataFrame(rows)


# --- helpers -------------------------------------------------------------------------


def _simulate_values(model: str, params: Mapping[str, np.ndarray], trials: pd.DataFrame, v0):
    """Run the model per participant (batched), returning per-row v and alpha."""
    participant = trials["participant"].to_numpy()
    labels = np.where(
        trials["stimulus"].to_numpy() != "",
        "stimulus:" + trials["stimulus"].astype(str),
        "cs:" + trials["cs"].astype(str),
    )
    ids = list(dict.fromkeys(participant))
    v = np.empty(len(trials))
    alpha = np.empty(len(trials))
    groups = [np.flatnonzero(participant == p) for p in ids]
    n_trials = max(len(g) for g in groups)
    cues = np.full((len(ids), n_trials), -1, dtype=np.intp)
    outcomes = np.zeros((len(ids), n_trials))
    plus = np.zeros((len(ids), n_trials), dtype=bool)
    first = {n: np.empty(len(ids)) for n in params}
    reinforced = trials["reinforced"].to_numpy(dtype=float)
    is_plus = trials["cs_type"].to_numpy() == "CS+"
    for r, rows in enumerate(groups):
        cues[r, : len(rows)] = encode_cues(labels[rows])
        outcomes[r, : len(rows)] = reinforced[rows]
        plus[r, : len(rows)] = is_plus[rows]
        for n in params:
            first[n][r] = params[n][rows[0]]
    trace = run_model(model, first, cues, outcomes, plus=plus, v0=v0)
    for r, rows in enumerate(groups):
        v[rows] = trace.v[r, : len(rows)]
        alpha[rows] = trace.alpha[r, : len(rows)]
    return pd.DataFrame({"v": v, "alpha": alpha}, index=trials.index)


def _simulate_ratings(trials: pd.DataFrame, v: pd.Series, noise: float, rng) -> np.ndarray:
    rated = trials["_rated"].to_numpy(dtype=bool)
    if not rated.any():  # the protocol asks for no online ratings: rate every trial
        rated = np.ones(len(trials), dtype=bool)
    y = np.clip(v.to_numpy() + rng.normal(0.0, noise, len(trials)), 0.0, 1.0)
    low = np.array([s[0] if s else 0.0 for s in trials["_scale"]], dtype=float)
    high = np.array([s[1] if s else 10.0 for s in trials["_scale"]], dtype=float)
    steps = np.where(trials["_keys"].to_numpy(dtype=bool), high - low, 100.0)
    y = np.round(y * steps) / steps
    return np.where(rated, low + y * (high - low), np.nan)


def _rating_scale(trials: pd.DataFrame, protocol: Protocol) -> tuple[float, float]:
    scales = {
        (p.rating.low, p.rating.high)
        for name, p in protocol.phases.items()
        if p.rating is not None and name in set(trials["phase"])
    }
    if len(scales) == 1:
        low, high = scales.pop()
        return float(low), float(high)
    if len(scales) > 1:
        raise FitError(
            f"{protocol.path}: expected one online rating scale for recovery, got {sorted(scales)}"
        )
    return (0.0, 10.0)
