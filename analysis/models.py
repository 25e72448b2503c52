"""Associative learning models: pure trial-by-trial equations (analysis.md §3).

Three models, each keeping one value per CS (per stimulus identity, so that reversal
designs work) and updating only the CS presented on a trial:

- ``rw`` — Rescorla–Wagner with one learning rate ``alpha``:
  ``δ_t = λ_t − V_t``, ``V_{t+1} = V_t + α δ_t``;
- ``rw2`` — Rescorla–Wagner with separate rates for CS+ and CS− trials
  (``alpha_plus``, ``alpha_minus``; Abend et al. 2022), chosen by the trial's CS type;
- ``hybrid`` — hybrid Rescorla–Wagner / Pearce–Hall (Li, Schiller, Schoenbaum, Phelps &
  Daw 2011): ``V_{t+1} = V_t + κ α_t δ_t``, ``α_{t+1} = η |δ_t| + (1 − η) α_t`` with the
  associability ``α`` kept per CS and starting at the fitted ``alpha0`` (as in Homan et al.
  2019; the update uses the pre-trial α).

``λ_t`` is 1 when the US was delivered and 0 otherwise; ``V`` starts at ``v0`` (0.5 by
default, as in the Homan Stan fits: before the first trial a shock is as likely as not).
Every trace value is the one *before* the trial's outcome: what the participant expected
when the CS appeared, the prediction error at the outcome, and the associability used.

:func:`run_model` is the batched engine used for fitting: it runs many parameter sets (and
many participants) at once with a loop over trials and numpy arrays over the batch, and can
also return the derivatives of ``V`` and ``α`` with respect to each parameter (forward
sensitivities), which :mod:`pavlov.analysis.fit` uses for Gauss–Newton steps.
:func:`predict` is the friendly one-sequence version returning a DataFrame.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pavlov.analysis.errors import AnalysisError
from pavlov.common.errors import suggest

__all__ = ["MODELS", "ModelError", "Trace", "check_model", "encode_cues", "predict", "run_model"]

#: Model name → its free parameters (all rates in (0, 1)), in order.
MODELS: Mapping[str, tuple[str, ...]] = {
    "rw": ("alpha",),
    "rw2": ("alpha_plus", "alpha_minus"),
    "hybrid": ("kappa", "eta", "alpha0"),
}


class ModelError(AnalysisError):
    """Unknown model, missing parameters or mismatched sequences (one-line message)."""


@dataclass(frozen=True)
class Trace:
    """Trial-wise model quantities, arrays of shape ``(batch, trials)``.

    Attributes
    ----------
    v : ndarray
        Value (expected US) of the presented CS before the outcome.
    delta : ndarray
        Prediction error ``λ − v``.
    alpha : ndarray
        Learning rate (``rw``, ``rw2``) or associability (``hybrid``) used on the trial.
    dv, dalpha : ndarray or None
        ``(batch, trials, n_params)`` derivatives of ``v`` and ``alpha`` with respect to
        each parameter (in :data:`MODELS` order), when requested.
    """

    v: np.ndarray
    delta: np.ndarray
    alpha: np.ndarray
    dv: np.ndarray | None = None
    dalpha: np.ndarray | None = None


def check_model(model: str) -> tuple[str, ...]:
    """Return the parameter names of ``model``; raise :class:`ModelError` if it is unknown."""
    if model not in MODELS:
        hint = suggest(str(model), MODELS)
        tail = f". Did you mean '{hint}'?" if hint else ""
        raise ModelError(f"model: expected one of {', '.join(MODELS)}, got {model!r}{tail}")
    return MODELS[model]


def encode_cues(labels: Iterable[object]) -> np.ndarray:
    """Map CS labels to codes 0, 1, ... in order of first appearance."""
    codes: dict[object, int] = {}
    return np.array([codes.setdefault(label, len(codes)) for label in labels], dtype=np.intp)


def run_model(
    model: str,
    params: Mapping[str, np.ndarray | float],
    cues: np.ndarray,
    outcomes: np.ndarray,
    *,
    plus: np.ndarray | None = None,
    v0: float = 0.5,
    gradient: bool = False,
) -> Trace:
    """Run a learning model over trials for a batch of parameter sets.

    Parameters
    ----------
    model : str
        A key of :data:`MODELS`.
    params : mapping of str to float or array of shape (batch,)
        Every parameter of the model, each in (0, 1).
    cues : int array, shape (trials,) or (batch, trials)
        Code of the CS presented on each trial (:func:`encode_cues`); ``-1`` marks padding
        (no CS; nothing updates and the trace is NaN there).
    outcomes : array, shape (trials,) or (batch, trials)
        ``λ``: 1 if the US was delivered, else 0 (values in between are allowed, e.g. a
        scaled US response as teaching signal).
    plus : bool array like ``cues``, optional
        True on CS+ trials; required by ``rw2``.
    v0 : float
        Initial value of every CS.
    gradient : bool
        Also return the derivatives (``Trace.dv``, ``Trace.dalpha``).

    Returns
    -------
    Trace
    """
    names = check_model(model)
    missing = [n for n in names if n not in params]
    if missing:
        raise ModelError(f"params: expected {', '.join(names)} for {model}, got no {missing[0]}")
    values = [np.atleast_1d(np.asarray(params[n], dtype=float)) for n in names]
    cues = np.atleast_2d(np.asarray(cues))
    outcomes = np.atleast_2d(np.asarray(outcomes, dtype=float))
    batch = max([len(v) for v in values] + [cues.shape[0], outcomes.shape[0]])
    n_trials = cues.shape[1]
    if outcomes.shape[1] != n_trials:
        raise ModelError(f"outcomes: expected {n_trials} trials like cues, got {outcomes.shape[1]}")
    if not np.issubdtype(cues.dtype, np.integer):
        raise ModelError("cues: expected integer codes (see encode_cues), got non-integers")
    cues = np.broadcast_to(cues, (batch, n_trials))
    outcomes = np.broadcast_to(outcomes, (batch, n_trials))
    values = [np.broadcast_to(v, (batch,)) for v in values]
    if model == "rw2":
        if plus is None:
            raise ModelError("plus: expected the CS+ trials for rw2, got none")
        plus = np.broadcast_to(np.atleast_2d(np.asarray(plus, dtype=bool)), (batch, n_trials))
    n_cues = int(cues.max(initial=-1)) + 2  # the last column is a sink for padding (-1)
    k = len(names)
    flat_base = np.arange(batch) * n_cues
    cue_index = np.where(cues < 0, n_cues - 1, cues) + flat_base[:, None]
    pad = cues < 0

    value = np.full(batch * n_cues, float(v0))
    # trial-major buffers: each trial writes one contiguous block
    out_v = np.empty((n_trials, batch))
    out_d = np.empty((n_trials, batch))
    out_a = np.empty((n_trials, batch))
    # gradient buffers are empty (never touched) when no gradient is asked for
    rows = batch * n_cues if gradient else 0
    d_value = np.zeros((rows, k))
    out_dv = np.empty((n_trials if gradient else 0, batch, k))
    out_da = np.zeros((n_trials if gradient else 0, batch, k))
    cue_index = np.ascontiguousarray(cue_index.T)
    outcomes = np.ascontiguousarray(outcomes.T)
    # rw2's CS+ flags, trial-major (checked above; empty for the other models)
    plus_rows = np.ascontiguousarray(plus.T) if plus is not None else np.empty((0, batch), bool)

    if model == "hybrid":
        kappa, eta, alpha0 = values
        assoc = np.repeat(alpha0, n_cues)
        d_assoc = np.zeros((rows, k))
        d_assoc[:, 2] = 1.0
    if gradient:  # scratch buffers, reused every trial
        buf_v = np.empty((batch, k))
        buf_a = np.empty((batch, k))
        tmp = np.empty((batch, k))
    for t in range(n_trials):
        idx = cue_index[t]
        v = np.take(value, idx, out=out_v[t])
        delta = np.subtract(outcomes[t], v, out=out_d[t])
        if gradient:
            dv = np.take(d_value, idx, axis=0, out=out_dv[t])
        if model == "hybrid":
            a = np.take(assoc, idx, out=out_a[t])
            step = kappa * a
            value[idx] = v + step * delta
            size = np.abs(delta)
            assoc[idx] = a + eta * (size - a)  # = eta |delta| + (1 - eta) a
            if gradient:
                da = np.take(d_assoc, idx, axis=0, out=out_da[t])
                np.multiply(dv, (1.0 - step)[:, None], out=buf_v)
                buf_v += np.multiply(da, (kappa * delta)[:, None], out=tmp)
                buf_v[:, 0] += a * delta
                np.multiply(dv, (-eta * np.sign(delta))[:, None], out=buf_a)
                buf_a += np.multiply(da, (1.0 - eta)[:, None], out=tmp)
                buf_a[:, 1] += size - a
                d_value[idx] = buf_v
                d_assoc[idx] = buf_a
        else:
            if model == "rw":
                a = values[0]
            else:
                is_plus = plus_rows[t]
                a = np.where(is_plus, values[0], values[1])
            out_a[t] = a
            value[idx] = v + a * delta
            if gradient:
                np.multiply(dv, (1.0 - a)[:, None], out=buf_v)
                if model == "rw":
                    buf_v[:, 0] += delta
                    out_da[t, :, 0] = 1.0
                else:
                    buf_v[:, 0] += np.where(is_plus, delta, 0.0)
                    buf_v[:, 1] += np.where(is_plus, 0.0, delta)
                    out_da[t, :, 0] = is_plus
                    out_da[t, :, 1] = ~is_plus
                d_value[idx] = buf_v
    out_v, out_d, out_a = (np.ascontiguousarray(x.T) for x in (out_v, out_d, out_a))
    if gradient:
        out_dv, out_da = (x.transpose(1, 0, 2) for x in (out_dv, out_da))
    if pad.any():  # the sink column absorbed padding updates; hide its trace
        for out in (out_v, out_d, out_a):
            out[pad] = np.nan
    if not gradient:
        return Trace(v=out_v, delta=out_d, alpha=out_a, dv=None, dalpha=None)
    return Trace(v=out_v, delta=out_d, alpha=out_a, dv=out_dv, dalpha=out_da)


def predict(
    model: str,
    params: Mapping[str, float],
    cues: Sequence[object],
    outcomes: Sequence[float],
    *,
    plus: Sequence[bool] | None = None,
    v0: float = 0.5,
) -> pd.DataFrame:
    """Trial-wise V, δ and α of one participant's trial sequence.

    Parameters
    ----------
    model : str
        ``rw``, ``rw2`` or ``hybrid``.
    params : mapping of str to float
        The model's parameters (:data:`MODELS`).
    cues : sequence
        CS identity of each trial, in presentation order (any hashable labels).
    outcomes : sequence of float
        1 when the US followed, else 0.
    plus : sequence of bool, optional
        CS+ trials (``rw2``).
    v0 : float
        Initial value of every CS.

    Returns
    -------
    pandas.DataFrame
        Columns ``cue``, ``outcome``, ``v``, ``delta``, ``alpha``, one row per trial.
    """
    cues = list(cues)
    observed = np.asarray(outcomes, dtype=float)
    if len(observed) != len(cues):
        raise ModelError(f"outcomes: expected {len(cues)} values like cues, got {len(observed)}")
    for name in check_model(model):
        value = params.get(name) if isinstance(params, Mapping) else None
        if value is None or not 0.0 <= float(value) <= 1.0:
            raise ModelError(f"params.{name}: expected a number in [0, 1], got {value!r}")
    trace = run_model(
        model,
        {k: float(v) for k, v in params.items() if k in MODELS[model]},
        encode_cues(cues),
        observed,
        plus=None if plus is None else np.asarray(plus, dtype=bool),
        v0=v0,
    )
    return pd.DataFrame(
        {
            "cue": cues,
            "outcome": observed,
            "v": trace.v[0],
            "delta": trace.delta[0],
            "alpha": trace.alpha[0],
        }
    )
