"""Analysis of Pavlovian conditioning data: logs and tables in, curves, indices, stats out.

Public API::

    from pavlov.analysis import load_trials, participant_curves, group_curves
    trials = load_trials("data/")            # BIDS logs, one log, or a trial table
    per = participant_curves(trials, "scr", by="block", block_size=2)
    group = group_curves(per)

Submodules: :mod:`~pavlov.analysis.load` and :mod:`~pavlov.analysis.table` (input),
:mod:`~pavlov.analysis.curves`, :mod:`~pavlov.analysis.indices`,
:mod:`~pavlov.analysis.exclusions`, :mod:`~pavlov.analysis.stats`,
:mod:`~pavlov.analysis.figures`, :mod:`~pavlov.analysis.report`,
:mod:`~pavlov.analysis.provenance` (the protocol recorded in the run sidecars), and the SCR
and model modules (:mod:`~pavlov.analysis.scr`, :mod:`~pavlov.analysis.fit`,
:mod:`~pavlov.analysis.fmri` for parametric regressors, ...), fear-potentiated startle
(:mod:`~pavlov.analysis.startle`) and generalisation gradients
(:mod:`~pavlov.analysis.gradient`).
"""

import importlib

#: Public name → submodule. Imported on first use, so that ``import pavlov.analysis.fit``
#: (or the CLI) does not pay for scipy.stats or matplotlib it does not use.
_EXPORTS = {
    "TRIAL_COLUMNS": "frame",
    "AnalysisError": "errors",
    "TableError": "errors",
    "add_blocks": "curves",
    "anova_by_phase": "stats",
    "choose_response": "curves",
    "compute_indices": "indices",
    "exclusion_counts": "exclusions",
    "flag_participants": "exclusions",
    "group_by_phase": "stats",
    "gradient_scores": "gradient",
    "group_curves": "curves",
    "group_gradient": "gradient",
    "included": "exclusions",
    "load_ratings": "load",
    "load_sessions": "load",
    "load_trials": "load",
    "mixed_anova": "stats",
    "mixed_models": "mixed",
    "phase_model": "mixed",
    "across_model": "mixed",
    "one_sample_t": "stats",
    "paired_t": "stats",
    "participant_curves": "curves",
    "participant_gradient": "gradient",
    "potentiation": "startle",
    "phase_roles": "indices",
    "read_table": "table",
    "reversal_index": "indices",
    "rm_anova": "stats",
    "score_probes": "startle",
    "select_trials": "curves",
    "summarise_phases": "curves",
}


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pavlov.analysis' has no attribute {name!r}")
    return getattr(importlib.import_module(f"pavlov.analysis.{module}"), name)


__all__ = [
    "TRIAL_COLUMNS",
    "AnalysisError",
    "TableError",
    "across_model",
    "add_blocks",
    "anova_by_phase",
    "choose_response",
    "compute_indices",
    "exclusion_counts",
    "flag_participants",
    "gradient_scores",
    "group_by_phase",
    "group_curves",
    "group_gradient",
    "included",
    "load_ratings",
    "load_sessions",
    "load_trials",
    "mixed_anova",
    "mixed_models",
    "one_sample_t",
    "paired_t",
    "participant_curves",
    "participant_gradient",
    "phase_model",
    "phase_roles",
    "potentiation",
    "read_table",
    "reversal_index",
    "rm_anova",
    "score_probes",
    "select_trials",
    "summarise_phases",
]
