"""``pavlov analyze --fit hierarchical``: run the hierarchical fit and lay out its outputs.

Writes ``group_posteriors.csv``, ``model_comparison.csv`` and ``model_diagnostics.csv``
beside the other outputs, adds the hierarchical rows (``fit = hierarchical``) to
``model_fits.csv`` after the maximum-likelihood ones (``fit = ml``), draws the posterior
predictive check (``posterior_predictive.png``/``.svg``) and gives the report its methods
lines, tables and warnings. A flagged fit (R-hat > 1.01, divergences, low ESS) is named
in the report's notes and in the diagnostics table's caption, never reported silently.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pavlov.analysis.hierarchical import (
    HDI_PROB,
    PARETO_K_LIMIT,
    RHAT_LIMIT,
    HierarchicalFit,
    fit_hierarchical,
    plot_predictive,
    predictive_curves,
)


@dataclass
class Outputs:
    """The hierarchical fit of one ``pavlov analyze`` run and what the report shows of it."""

    result: HierarchicalFit
    table: pd.DataFrame
    trials: pd.DataFrame
    response: str

    def figure(self, out: Path, written: list) -> tuple[str, str]:
        """Draw and write the posterior predictive check; return (caption, file name)."""
        from pavlov.analysis.figures import save_figure

        curves = predictive_curves(self.result, self.trials)
        written += save_figure(plot_predictive(curves, self.response), out / "posterior_predictive")
        which = (
            "unreinforced trials"
            if self.result.attrs["exclude_reinforced"]
            else "trials with a response"
        )
        return (
            f"Posterior predictive check of the hierarchical fits ({which}): observed group "
            f"means (points) and the mean and {HDI_PROB:.0%} interval of replicated group "
            "means (line, band)",
            "posterior_predictive.png",
        )

    def methods(self) -> list[str]:
        """Methods lines: model, priors, sampler, diagnostics verdict."""
        attrs = self.result.attrs
        groups = attrs["groups"]
        lines = [
            "Hierarchical Bayesian fits of "
            + ", ".join(self.result.diagnostics)
            + " (NumPyro NUTS, target acceptance 0.9): each learning rate is "
            "logistic(mu[group] + tau * z_i), z_i ~ N(0, 1) (non-centred), mu ~ N(0, 1.5), "
            "tau ~ HalfNormal(1); the observation parameters are pooled likewise.",
            f"Observation model: {attrs['observation']}"
            + (
                "; reinforced trials left out of the likelihood (the model still learns from them)."
                if attrs["exclude_reinforced"]
                else "."
            ),
            f"Sampler: {attrs['chains']} chains x {attrs['draws']} draws after "
            f"{attrs['warmup']} warm-up iterations, seed {attrs['seed']}; per-participant "
            f"estimates are posterior means with {HDI_PROB:.0%} HDIs (model_fits.csv, "
            "fit = hierarchical).",
            (
                f"Group means estimated per group ({', '.join(groups)}), with the posterior of "
                "each difference (group_posteriors.csv)."
                if groups
                else "One group mean per parameter (no groups in the data)."
            ),
            f"Checks: R-hat <= {RHAT_LIMIT}, no divergent transitions, bulk ESS >= 100 per "
            f"chain; models compared by PSIS-LOO (Pareto k > {PARETO_K_LIMIT} counted).",
        ]
        for d in self.result.diagnostics.values():
            verdict = "FLAGGED: " + "; ".join(d.problems) if d.flagged else "passed"
            lines.append(
                f"{d.model}: max R-hat {d.max_rhat:.3f}, min bulk ESS {d.min_ess_bulk:.0f}, "
                f"{d.divergences} divergences, {d.seconds:.0f} s: {verdict}."
            )
        return lines

    def tables(self) -> list[tuple[str, pd.DataFrame]]:
        """Result tables for the report."""
        diagnostics = self.result.diagnostics_table()
        flagged = diagnostics[diagnostics["flagged"]]
        caption = "Hierarchical fit diagnostics"
        if len(flagged):
            caption += " — FLAGGED: " + ", ".join(flagged["model"]) + " (do not interpret)"
        comparison = self.result.comparison
        rates = self.result.fits.drop(columns=["participant", "fit"])
        means = rates.groupby("model", sort=False).mean(numeric_only=True).reset_index()
        return [
            (caption, diagnostics),
            ("Model comparison (PSIS-LOO; higher elpd is better)", comparison),
            ("Group-level posteriors (hierarchical)", self.result.group),
            ("Hierarchical fits (posterior means, averaged over participants)", means),
        ]


#: Effective importance draws below which a participant's elpd_lopo is called unreliable.
LOPO_DRAWS_LIMIT = 100


def lopo_notes(fits: pd.DataFrame) -> list[str]:
    """One note per model whose ``elpd_lopo`` rests on fewer than ``LOPO_DRAWS_LIMIT``
    effective importance draws for some participants (their model comparison is then
    unreliable: the group-level posterior has a funnel the shared draws cannot follow)."""
    notes: list[str] = []
    if "elpd_lopo_draws" not in fits:
        return notes
    for model, rows in fits.groupby("model", sort=False):
        few = rows[rows["elpd_lopo_draws"] < LOPO_DRAWS_LIMIT]
        if len(few):
            names = ", ".join(str(p) for p in few["participant"].head(5))
            more = f" and {len(few) - 5} more" if len(few) > 5 else ""
            notes.append(
                f"elpd_lopo under {model} rests on fewer than {LOPO_DRAWS_LIMIT} effective "
                f"importance draws for {len(few)} participant(s) ({names}{more}): their "
                "per-participant model comparison is unreliable."
            )
    return notes


def run(
    trials: pd.DataFrame,
    response: str,
    args: argparse.Namespace,
    fits: pd.DataFrame,
    out: Path,
    save: Callable[[pd.DataFrame, str], None],
    written: list,
    notes: list,
) -> Outputs:
    """Fit, write the CSVs and return the report's view of the fit."""
    result = fit_hierarchical(
        trials,
        models=tuple(args.models),
        response=response,
        chains=args.chains,
        draws=args.draws,
        warmup=args.warmup,
        seed=args.seed,
        rating_scale=fits.attrs.get("rating_scale"),
        # SCR leaves reinforced trials out by default; --exclude-reinforced does so for ratings
        exclude_reinforced=True if args.exclude_reinforced else None,
        rating_model=args.rating_model,
    )
    comparison = result.comparison
    best = comparison["model"].iloc[0] if comparison["elpd_loo"].notna().any() else None
    result.fits.attrs["best_loo"] = best
    result.fits.attrs["elpd_loo"] = dict(zip(comparison["model"], comparison["elpd_loo"]))
    save(result.group, "group_posteriors.csv")
    save(comparison, "model_comparison.csv")
    save(result.diagnostics_table(), "model_diagnostics.csv")
    for d in result.diagnostics.values():
        if d.flagged:
            notes.append(
                f"The hierarchical {d.model} fit is flagged ({'; '.join(d.problems)}): its "
                "posteriors may be wrong; rerun with more --warmup/--draws before using them."
            )
    bad = comparison[comparison["pareto_k_bad"].fillna(0) > 0]
    for row in bad.itertuples():
        notes.append(f"PSIS-LOO for {row.model}: {row.warning}.")
    notes.extend(lopo_notes(result.fits))
    ml = fits.copy()
    ml.insert(2, "fit", "ml")
    table = pd.concat([ml, result.fits], ignore_index=True)
    return Outputs(result=result, table=table, trials=trials, response=response)
