"""Trial-level linear mixed models with Satterthwaite degrees of freedom (``--mixed-model``).

The model is the one ``lmerTest::lmer`` fits by REML, computed in numpy/scipy so that
users need no R:

- **Per phase**: ``y ~ cs * trial + (1 + cs + trial | participant)``, ``cs`` coded 1 for
  CS+ and 0 for CS−, ``trial`` the CS trial number centred within the phase. When the
  trial slope makes the fit singular (a random-effect variance at 0) or the optimiser
  does not converge, it is dropped and the model refitted with ``(1 + cs | participant)``;
  the structure actually fitted is reported. The random CS slope is never dropped: with
  participants differing in their CS difference, leaving it out makes the CS test
  anticonservative (28 % false positives at α = .05 in the simulation of issue 9).
- **Across phases** (return of fear): ``y ~ cs * phase + (1 + cs * phase | participant)``
  over the named phases (treatment coding, the first phase in time as reference), reduced
  to ``(1 + cs + phase | participant)`` and then ``(1 + cs | participant)`` when needed;
  the ``cs:phase`` terms test whether the CS+ − CS− difference changed between phases.

Estimation follows lme4 (Bates et al. 2015): the REML criterion is profiled over the
fixed effects and the residual variance, the random-effect covariance is parameterised
by its relative Cholesky factor θ (diagonal ≥ 0), and the criterion is minimised with
L-BFGS-B. Everything is computed per participant with the Woodbury identity, so a fit
takes milliseconds. Degrees of freedom are Satterthwaite's, as in lmerTest
(Kuznetsova et al. 2017): ``df = 2 v² / (g' A g)`` for the variance ``v`` of an
estimate, its gradient ``g`` in the variance parameters ``(θ, σ)`` and their asymptotic
covariance ``A = 2 H⁻¹`` from the Hessian ``H`` of the REML deviance, derivatives taken
numerically. A fit whose optimiser did not converge gets no p-value.

We did not use statsmodels' ``MixedLM`` here: with the random trial slope of null data
(a variance at 0) it reports non-convergence and inflated intercept variances where lme4
finds the boundary optimum, and it offers no Satterthwaite df.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize
from scipy import stats as sps

from pavlov.analysis.errors import AnalysisError

#: Columns of :func:`mixed_models`.
MIXED_COLUMNS = (
    "phase",
    "term",
    "estimate",
    "se",
    "df",
    "statistic",
    "p",
    "converged",
    "random_effects",
    "n_participants",
    "n_obs",
    "note",
)


@dataclass(frozen=True)
class LMMFit:
    """A REML fit of ``y = Xβ + Zb + ε``, ``b ~ N(0, σ² ΛΛ')`` per group.

    Attributes
    ----------
    beta, se, df, t, p : arrays, one value per fixed-effect column
        Estimates, standard errors, Satterthwaite df, t statistics and two-sided p
        (NaN when the fit did not converge).
    theta : array
        Lower-triangular entries of the relative Cholesky factor Λ (row-major).
    sigma : float
        Residual SD.
    cov_re : array (q × q)
        Random-effect covariance σ²ΛΛ'.
    converged : bool
        The optimiser stopped at a stationary point (projected gradient ≈ 0).
    singular : bool
        A random-effect variance (a diagonal of Λ) is at 0.
    deviance : float
        The REML criterion (−2 restricted log-likelihood).
    n_obs, n_groups : int
    """

    beta: np.ndarray
    se: np.ndarray
    df: np.ndarray
    t: np.ndarray
    p: np.ndarray
    theta: np.ndarray
    sigma: float
    cov_re: np.ndarray
    converged: bool
    singular: bool
    deviance: float
    n_obs: int
    n_groups: int


class _REML:
    """Sufficient statistics of one model, per group, and its REML criterion."""

    def __init__(self, y: np.ndarray, x: np.ndarray, z: np.ndarray, groups: np.ndarray):
        codes, _ = pd.factorize(groups)
        self.n, self.p = x.shape
        self.q = z.shape[1]
        n_g = codes.max() + 1
        self.n_groups = int(n_g)
        # per-group cross products, summed with np.add.at (groups of any size)
        self.ztz = np.zeros((n_g, self.q, self.q))
        np.add.at(self.ztz, codes, z[:, :, None] * z[:, None, :])
        self.ztx = np.zeros((n_g, self.q, self.p))
        np.add.at(self.ztx, codes, z[:, :, None] * x[:, None, :])
        self.zty = np.zeros((n_g, self.q))
        np.add.at(self.zty, codes, z * y[:, None])
        self.xtx = x.T @ x
        self.xty = x.T @ y
        self.yty = float(y @ y)
        self.rows, self.cols = np.tril_indices(self.q)
        self.n_theta = len(self.rows)

    def lam(self, theta: np.ndarray) -> np.ndarray:
        out = np.zeros((self.q, self.q))
        out[self.rows, self.cols] = theta
        return out

    def parts(self, theta: np.ndarray):
        """log|M| summed, A = X'WX, b = X'Wy, penalised RSS r² (W = σ²V⁻¹)."""
        lam = self.lam(theta)
        m = lam.T @ self.ztz @ lam + np.eye(self.q)
        chol = np.linalg.cholesky(m)
        logdet = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum()
        ux = lam.T @ self.ztx  # g × q × p
        uy = lam.T @ self.zty[..., None]  # g × q × 1
        sx = np.linalg.solve(m, ux)
        sy = np.linalg.solve(m, uy)
        a = self.xtx - np.einsum("gqp,gqr->pr", ux, sx)
        b = self.xty - np.einsum("gqp,gq->p", ux, sy[..., 0])
        c = self.yty - float(np.einsum("gq,gq->", uy[..., 0], sy[..., 0]))
        beta = np.linalg.solve(a, b)
        r2 = max(c - float(b @ beta), 1e-300)
        return logdet, a, beta, r2

    def profiled(self, theta: np.ndarray) -> float:
        """lme4's profiled REML criterion of θ."""
        try:
            logdet, a, _, r2 = self.parts(theta)
        except np.linalg.LinAlgError:
            return np.inf
        sign, logdet_a = np.linalg.slogdet(a)
        if sign <= 0:
            return np.inf
        dof = self.n - self.p
        return logdet + logdet_a + dof * (1.0 + np.log(2.0 * np.pi * r2 / dof))

    def deviance(self, varpar: np.ndarray) -> float:
        """REML criterion of (θ, σ) with σ not profiled (lmerTest's ``devfun``)."""
        theta, sigma = varpar[:-1], varpar[-1]
        logdet, a, _, r2 = self.parts(theta)
        logdet_a = np.linalg.slogdet(a)[1]
        dof = self.n - self.p
        return logdet + logdet_a + dof * np.log(2 * np.pi * sigma**2) + r2 / sigma**2

    def vcov(self, varpar: np.ndarray) -> np.ndarray:
        """Covariance of β̂: σ² A⁻¹ at (θ, σ)."""
        _, a, _, _ = self.parts(varpar[:-1])
        return varpar[-1] ** 2 * np.linalg.inv(a)


def _hessian(f, x: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Central-difference Hessian of a scalar function."""
    k = len(x)
    h = np.zeros((k, k))
    f0 = f(x)
    for i in range(k):
        ei = np.zeros(k)
        ei[i] = step[i]
        h[i, i] = (f(x + ei) - 2 * f0 + f(x - ei)) / step[i] ** 2
        for j in range(i):
            ej = np.zeros(k)
            ej[j] = step[j]
            h[i, j] = h[j, i] = (
                f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)
            ) / (4 * step[i] * step[j])
    return h


def fit_lmm(y, x, z, groups, *, max_iter: int = 2000) -> LMMFit:
    """Fit a linear mixed model by REML; Satterthwaite df for every fixed effect.

    Parameters
    ----------
    y : array (n,)
        Response.
    x : array (n × p)
        Fixed-effect design (full column rank).
    z : array (n × q)
        Random-effect design; one correlated set of effects per group.
    groups : array (n,)
        Group (participant) labels.
    max_iter : int
        Iterations of the optimiser (a fit that runs out of them is not converged).

    Returns
    -------
    LMMFit
    """
    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float)
    z = np.asarray(z, dtype=float)
    problem = _REML(y, x, z, np.asarray(groups))
    if np.linalg.matrix_rank(x) < x.shape[1]:
        raise AnalysisError("mixed model: the fixed effects are not estimable (rank-deficient)")
    start = np.where(problem.rows == problem.cols, 1.0, 0.0)
    bounds = [(0.0, None) if r == c else (None, None) for r, c in zip(problem.rows, problem.cols)]
    best = None
    for x0 in (start, 0.5 * start):
        result = optimize.minimize(
            problem.profiled,
            x0,
            method="L-BFGS-B",
            bounds=bounds,
            options={"ftol": 1e-14, "gtol": 1e-9, "maxiter": max_iter, "maxls": 50},
        )
        if best is None or result.fun < best.fun:
            best = result
        if result.success:
            break
    assert best is not None  # the loop above runs at least once
    theta = best.x
    diag = problem.rows == problem.cols
    singular = bool(np.any(theta[diag] < 1e-4))
    converged = bool(np.isfinite(best.fun)) and _stationary(problem, theta, diag)
    _, a, beta, r2 = problem.parts(theta)
    sigma = float(np.sqrt(r2 / (problem.n - problem.p)))
    varpar = np.r_[theta, sigma]
    cov = sigma**2 * np.linalg.inv(a)
    se = np.sqrt(np.diag(cov))
    df = _satterthwaite(problem, varpar, cov)
    t = beta / se
    p = 2 * sps.t.sf(np.abs(t), df)
    if not converged:
        p = np.full_like(p, np.nan)
    lam = problem.lam(theta)
    return LMMFit(
        beta=beta,
        se=se,
        df=df,
        t=t,
        p=p,
        theta=theta,
        sigma=sigma,
        cov_re=sigma**2 * lam @ lam.T,
        converged=converged,
        singular=singular,
        deviance=float(problem.profiled(theta)),
        n_obs=problem.n,
        n_groups=problem.n_groups,
    )


def _stationary(problem: _REML, theta: np.ndarray, diag: np.ndarray) -> bool:
    """lme4's convergence check: the Newton step ``H⁻¹ g`` of the profiled criterion is
    below 0.002 in every free parameter (variances held at 0 are left out)."""
    with np.errstate(invalid="ignore"):  # an infinite criterion beside the optimum → NaN
        grad = optimize.approx_fprime(theta, problem.profiled, 1e-7)
    if not np.all(np.isfinite(grad)):
        return False
    held = diag & (theta <= 1e-6)
    free = ~held
    if not free.any():
        return True
    step = np.maximum(np.abs(theta), 0.05) * 1e-4
    try:
        h = _hessian(problem.profiled, theta, step)[np.ix_(free, free)]
        if not np.all(np.isfinite(h)) or np.any(np.linalg.eigvalsh(h) <= 0):
            return False
        newton = np.linalg.solve(h, grad[free])
    except np.linalg.LinAlgError:
        return False
    return bool(np.max(np.abs(newton)) < 2e-3)


def _satterthwaite(problem: _REML, varpar: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """Satterthwaite df of every fixed effect (lmerTest's ``contest1D``)."""
    step = np.maximum(np.abs(varpar), 0.1) * 1e-4
    try:
        h = _hessian(problem.deviance, varpar, step)
        a_cov = 2.0 * np.linalg.pinv(h)
    except (np.linalg.LinAlgError, ValueError):
        return np.full(problem.p, np.nan)
    k = len(varpar)
    grads = np.zeros((k, problem.p, problem.p))
    for i in range(k):
        e = np.zeros(k)
        e[i] = step[i]
        grads[i] = (problem.vcov(varpar + e) - problem.vcov(varpar - e)) / (2 * step[i])
    out = np.empty(problem.p)
    for j in range(problem.p):
        g = grads[:, j, j]
        denom = float(g @ a_cov @ g)
        out[j] = 2 * cov[j, j] ** 2 / denom if denom > 0 else np.nan
    return out


# --- designs from the tidy trial frame ------------------------------------------------


def _frame(trials: pd.DataFrame, response: str) -> pd.DataFrame:
    data = trials[trials[response].notna()]
    return pd.DataFrame(
        {
            "y": data[response].to_numpy(dtype=float),
            "participant": data["participant"].astype(str).to_numpy(),
            "cs": (data["cs_type"] == "CS+").to_numpy(dtype=float),
            "trial": data["cs_trial"].to_numpy(dtype=float),
            "phase": data["phase"].astype(str).to_numpy(),
            "phase_order": data["phase_order"].to_numpy(),
        }
    )


def _describe(names: Sequence[str]) -> str:
    return "(" + " + ".join(["1", *names[1:]]) + " | participant)"


def _fit_sequence(y, x, columns: dict, groups, sequence) -> tuple[LMMFit, str, str]:
    """Fit the random structures in ``sequence`` (maximal first) until one converges
    without a singular variance; the last one is kept whatever happens."""
    dropped: list[str] = []
    for i, names in enumerate(sequence):
        z = np.column_stack([columns[n] for n in names])
        fit = fit_lmm(y, x, z, groups)
        last = i == len(sequence) - 1
        if (fit.converged and not fit.singular) or last:
            note = "; ".join(dropped)
            if fit.singular:
                note = "; ".join(
                    filter(None, [note, "singular fit: a random-effect variance is 0"])
                )
            if not fit.converged:
                note = "; ".join(filter(None, [note, "did not converge: no p-values"]))
            return fit, _describe(names), note
        reason = "did not converge" if not fit.converged else "singular fit"
        extra = [n for n in names if n not in sequence[i + 1]]
        dropped.append(f"random {' and '.join(extra)} slope dropped ({reason})")
    raise AssertionError("unreachable")


def phase_model(trials: pd.DataFrame, response: str, phase: str) -> pd.DataFrame:
    """``y ~ cs * trial + (1 + cs [+ trial] | participant)`` in one phase.

    Returns
    -------
    pandas.DataFrame
        Rows ``(Intercept)``, ``cs``, ``trial``, ``cs:trial`` with :data:`MIXED_COLUMNS`.
    """
    data = _frame(trials, response)
    data = data[data["phase"] == phase]
    _check(data, phase)
    trial = data["trial"].to_numpy() - data["trial"].mean()
    cs = data["cs"].to_numpy()
    one = np.ones(len(data))
    x = np.column_stack([one, cs, trial, cs * trial])
    names = ["(Intercept)", "cs", "trial", "cs:trial"]
    columns = {"1": one, "cs": cs, "trial": trial}
    sequence = [["1", "cs", "trial"], ["1", "cs"]]
    if data["trial"].nunique() < 2:
        x, names, sequence = x[:, :2], names[:2], [["1", "cs"]]
    fit, structure, note = _fit_sequence(
        data["y"].to_numpy(), x, columns, data["participant"].to_numpy(), sequence
    )
    return _rows(fit, names, phase, structure, note)


def across_model(
    trials: pd.DataFrame, response: str, phases: Sequence[str], ends: int | None = None
) -> pd.DataFrame:
    """``y ~ cs * phase + (1 + cs * phase | participant)`` over ``phases`` (reduced when
    singular), the first phase in time as reference: ``cs:phase[P]`` tests the change in
    CS+ − CS− from the reference phase to P (return of fear: extinction → test).

    With ``ends`` = K, only the last K trials of each CS role of every phase but the last,
    and the first K of the last phase, enter (return of fear: the end of extinction
    against the start of the test).
    """
    chosen = trials[trials["phase"].isin(set(phases)) & trials[response].notna()]
    if ends is not None:
        if int(ends) != ends or ends < 1:
            raise AnalysisError(f"ends: expected a whole number >= 1, got {ends!r}")
        last_phase = chosen.sort_values("phase_order")["phase"].iloc[-1] if len(chosen) else ""
        keys = ["participant", "phase", "cs"]
        from_start = chosen.groupby(keys, sort=False).cumcount()
        from_end = chosen.groupby(keys, sort=False).cumcount(ascending=False)
        position = np.where(chosen["phase"] == last_phase, from_start, from_end)
        chosen = chosen[position < ends]
    data = _frame(chosen, response)
    ordered = list(data.sort_values("phase_order")["phase"].drop_duplicates())
    missing = [p for p in phases if p not in ordered]
    if missing:
        raise AnalysisError(
            f"mixed model: phase {missing[0]!r} has no {response} values "
            f"(phases with data: {', '.join(ordered) or 'none'})"
        )
    if len(ordered) < 2:
        raise AnalysisError("mixed model across phases: expected 2 or more phases")
    label = "+".join(ordered)
    _check(data, label)
    one = np.ones(len(data))
    cs = data["cs"].to_numpy()
    dummies = {p: (data["phase"] == p).to_numpy(dtype=float) for p in ordered[1:]}
    x = np.column_stack([one, cs, *dummies.values(), *(cs * d for d in dummies.values())])
    names = [
        "(Intercept)",
        "cs",
        *(f"phase[{p}]" for p in dummies),
        *(f"cs:phase[{p}]" for p in dummies),
    ]
    columns = {"1": one, "cs": cs}
    columns.update({f"phase[{p}]": d for p, d in dummies.items()})
    columns.update({f"cs:phase[{p}]": cs * d for p, d in dummies.items()})
    phase_terms = [f"phase[{p}]" for p in dummies]
    inter_terms = [f"cs:phase[{p}]" for p in dummies]
    sequence = [
        ["1", "cs", *phase_terms, *inter_terms],
        ["1", "cs", *phase_terms],
        ["1", "cs"],
    ]
    fit, structure, note = _fit_sequence(
        data["y"].to_numpy(), x, columns, data["participant"].to_numpy(), sequence
    )
    return _rows(fit, names, label, structure, note)


def _check(data: pd.DataFrame, label: str) -> None:
    people = data["participant"].nunique()
    if people < 3:
        raise AnalysisError(
            f"mixed model for {label}: expected 3 or more participants with data, got {people}"
        )
    if data["cs"].nunique() < 2:
        raise AnalysisError(f"mixed model for {label}: expected CS+ and CS- trials")


def _rows(fit: LMMFit, names, label: str, structure: str, note: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "phase": label,
            "term": names,
            "estimate": fit.beta,
            "se": fit.se,
            "df": fit.df,
            "statistic": fit.t,
            "p": fit.p,
            "converged": fit.converged,
            "random_effects": structure,
            "n_participants": fit.n_groups,
            "n_obs": fit.n_obs,
            "note": note,
        },
        columns=list(MIXED_COLUMNS),
    )


def mixed_models(
    trials: pd.DataFrame,
    response: str,
    *,
    across: Sequence[str] | None = None,
    ends: int | None = None,
    notes: list | None = None,
) -> pd.DataFrame:
    """Every phase's model (phases with CS+ and CS− data), then the across-phase model.

    Parameters
    ----------
    trials : pandas.DataFrame
        The selected trials (reinforced ones already left out when asked).
    response : str
        Response column.
    across : sequence of str, optional
        Phases for one CS × phase model (``["all"]`` for every phase with data).
    ends : int, optional
        For the across-phase model: see :func:`across_model`.
    notes : list, optional
        Receives one sentence per phase that could not be modelled.

    Returns
    -------
    pandas.DataFrame
        :data:`MIXED_COLUMNS`; ``phase`` names the phase, or the phases joined by ``+``.
    """
    notes = notes if notes is not None else []
    parts = []
    order = trials.sort_values("phase_order")["phase"].drop_duplicates()
    for phase in order:
        rows = trials[(trials["phase"] == phase) & trials[response].notna()]
        if rows["cs_type"].nunique() < 2:
            continue
        try:
            parts.append(phase_model(trials, response, phase))
        except AnalysisError as error:
            notes.append(f"Mixed model for {phase} not fitted: {error}")
    if across:
        chosen = list(order) if list(across) == ["all"] else list(across)
        if list(across) == ["all"]:
            chosen = [
                p
                for p in chosen
                if trials.loc[
                    (trials["phase"] == p) & trials[response].notna(), "cs_type"
                ].nunique()
                == 2
            ]
        try:
            parts.append(across_model(trials, response, chosen, ends=ends))
        except AnalysisError as error:
            notes.append(f"Mixed model across phases not fitted: {error}")
    if not parts:
        return pd.DataFrame(columns=list(MIXED_COLUMNS))
    return pd.concat(parts, ignore_index=True)
