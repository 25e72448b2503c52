"""fMRI parametric regressors: each fitted model's trial-wise V, δ and α as BIDS-style files.

:func:`regressor_files` turns the tidy trial frame and the model fits
(:func:`pavlov.analysis.fit.fit_models`) into one events-like TSV per participant, session,
run and model, with a JSON sidecar; :func:`write_regressor_files` writes them atomically::

    regressors/sub-<id>/ses-<s>/sub-<id>_ses-<s>_task-<task>_run-<n>_desc-<model>_regressors.tsv

The file name keeps every entity of the events log it comes from (``ses`` and ``run`` only
when the log has them): onsets are in that run's time base, and BIDS tools match a
derivative to its run by these entities.

Columns: ``onset``, ``duration``, ``trial_type``, ``value`` (what a pipeline needs for a
parametric modulator), then ``phase``, ``trial``, ``cs``, ``cs_type``, ``stimulus``,
``reinforced`` to identify the trial. ``trial_type`` is

- ``V``: value of the presented CS before the outcome, at CS onset with the CS duration;
- ``delta``: prediction error ``λ − V`` at the outcome — the logged US time point
  (``USp`` delivered, ``USo`` omitted, ``USm`` the matching CS− time), or the CS offset on
  trials without one (habituation) — duration 0;
- ``alpha``: associability (``hybrid`` only), at CS onset with the CS duration. ``rw`` has
  a constant rate and ``rw2`` one rate per CS type, so their α would only duplicate the
  trial onsets or the CS-type contrast, and is left out.

Onsets are those of the log (seconds from session zero: the first stored volume after the
dummy volumes in scanner sessions), so the files drop into an fMRI design unchanged.
Values are raw model quantities; centre or scale them in the design as usual.

Which models: one file per fitted model (``--models``), each sidecar saying whether that
model has the lowest summed BIC. We write all of them rather than the winner only because
the winner is a group-level choice the researcher reports and may overrule (e.g. a
pre-registered model), model-based fMRI often compares the regressors of competing models,
and the winner can change as participants are added, which would silently change what a
fixed file name contains. ``pavlov analyze --regressors best`` writes the winner only.

The model runs over all of a participant's sessions and runs in presentation order (as it
was fitted), so V at the first trial of day 2 carries what was learned on day 1.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from pavlov.analysis.fit import regressors
from pavlov.analysis.models import MODELS

__all__ = [
    "FOLDER",
    "QUANTITIES",
    "RegressorFile",
    "describe_regressors",
    "lowest_bic_model",
    "regressor_files",
    "summed_bic",
    "write_regressor_files",
]

#: Output sub-folder of the regressor files.
FOLDER = "regressors"

#: Regressors written for each model (``trial_type`` levels), in row order within a trial.
QUANTITIES: Mapping[str, tuple[str, ...]] = {
    "rw": ("V", "delta"),
    "rw2": ("V", "delta"),
    "hybrid": ("V", "alpha", "delta"),
}

#: Trial identifiers written after ``onset, duration, trial_type, value``.
ID_COLUMNS = ("phase", "trial", "cs", "cs_type", "stimulus", "reinforced")

_LEVELS = {
    "V": "value (expected US, 0-1) of the presented CS before the outcome; at CS onset, "
    "lasting the CS",
    "alpha": "associability (hybrid Rescorla-Wagner/Pearce-Hall) of the presented CS used on "
    "this trial; at CS onset, lasting the CS",
    "delta": "prediction error (US delivered 1 / not 0, minus V) at the outcome: the logged "
    "US time point (USp, USo or USm), or the CS offset on trials without one; duration 0",
}

_COLUMNS: dict[str, dict[str, Any]] = {
    "onset": {
        "Description": "seconds from the run's session zero (first stored volume after the "
        "dummy volumes in scanner sessions), as in the events log",
        "Units": "s",
    },
    "duration": {"Description": "seconds", "Units": "s"},
    "trial_type": {"Description": "which model quantity this row carries"},
    "value": {
        "Description": "the model quantity on this trial (raw; centre or scale it in the "
        "design); n/a when the participant's parameters could not be estimated"
    },
    "phase": {"Description": "phase name from the protocol"},
    "trial": {"Description": "1-based trial number within the phase (as in the events log)"},
    "cs": {"Description": "CS role (CS+, CS-, CS+R, ...)"},
    "cs_type": {"Description": "CS+ or CS-", "Levels": {"CS+": "CS+", "CS-": "CS-"}},
    "stimulus": {"Description": "CS identity that played the role"},
    "reinforced": {
        "Description": "1 when the US was delivered on this trial",
        "Levels": {"0": "not reinforced", "1": "reinforced"},
    },
}


@dataclass(frozen=True)
class RegressorFile:
    """One regressor file to write.

    Attributes
    ----------
    path : PurePosixPath
        Relative to the output folder (``regressors/sub-…/…_regressors.tsv``).
    table : pandas.DataFrame
        The rows, columns ``onset, duration, trial_type, value`` + :data:`ID_COLUMNS`.
    sidecar : dict
        The JSON sidecar (column descriptions, model, parameters, selection).
    """

    path: PurePosixPath
    table: pd.DataFrame
    sidecar: dict

    @property
    def sidecar_path(self) -> PurePosixPath:
        """The ``.json`` beside the ``.tsv``."""
        return self.path.with_suffix(".json")


def summed_bic(fits: pd.DataFrame) -> dict[str, float]:
    """Each model's BIC summed over the participants every model could be fitted to.

    Participants with a missing BIC in any model (too few observations for its parameters)
    are left out of every sum, so that the models are compared on the same people.
    """
    models = list(dict.fromkeys(fits["model"]))
    if "bic" not in fits.columns:  # hierarchical fits are compared by PSIS-LOO instead
        return {m: math.nan for m in models}
    table = fits.pivot_table(index="participant", columns="model", values="bic", aggfunc="first")
    table = table.reindex(columns=models).dropna()
    return {m: float(table[m].sum()) if len(table) else math.nan for m in models}


def lowest_bic_model(fits: pd.DataFrame) -> str | None:
    """The model with the lowest :func:`summed_bic`; None when no BIC is available."""
    sums = {m: v for m, v in summed_bic(fits).items() if np.isfinite(v)}
    return min(sums, key=sums.__getitem__) if sums else None


def regressor_files(
    trials: pd.DataFrame,
    fits: pd.DataFrame,
    sessions: pd.DataFrame,
    *,
    models: Sequence[str] | None = None,
    version: str = "",
) -> tuple[list[RegressorFile], list[str]]:
    """Build the regressor files of every run and model (nothing is written).

    Parameters
    ----------
    trials : pandas.DataFrame
        The tidy trial frame the models were fitted to (:func:`pavlov.analysis.load.load_trials`
        on session logs: ``onset``, ``duration``, ``us_onset``, ``session``, ``run``).
    fits : pandas.DataFrame
        :func:`pavlov.analysis.fit.fit_models` output for these trials.
    sessions : pandas.DataFrame
        :func:`pavlov.analysis.load.load_sessions` output (``participant, session, run,
        task, events_file``): names the task of each run.
    models : sequence of str, optional
        Models to write; every fitted model when None.
    version : str
        pavlov's version, recorded in the sidecars.

    Returns
    -------
    files : list of RegressorFile
        In participant, session, run and model order.
    notes : list of str
        Why regressors were not written, when they were not (for the report).
    """
    fitted = list(dict.fromkeys(fits["model"]))
    models = fitted if models is None else [m for m in models if m in fitted]
    if not models:
        return [], []
    if sessions.empty or "task" not in sessions.columns:
        return [], ["fMRI regressors not written: they need session logs (a task and onsets)."]
    onsets = pd.to_numeric(trials["onset"], errors="coerce")
    if onsets.isna().all():
        return [], ["fMRI regressors not written: the trials have no onsets."]
    tasks = _tasks(sessions)
    sums = summed_bic(fits)
    best = lowest_bic_model(fits)
    sources = sessions.set_index(["participant", "session", "run"])["events_file"]
    files: list[RegressorFile] = []
    notes: list[str] = []
    keys = ["participant", "session", "run"]
    for model in models:
        table = regressors(trials, fits, model)
        table = table[table["trial_type"].isin(QUANTITIES[model])]
        chosen = fits[fits["model"] == model].set_index("participant")
        for key, rows in table.groupby(keys, sort=False):
            participant, session, run = (str(k) for k in key)
            task = tasks.get((participant, session, run))
            if task is None:
                notes.append(
                    f"fMRI regressors not written for sub-{participant} session {session!r} "
                    f"run {run!r}: its logs name several tasks or none."
                )
                continue
            fit = chosen.loc[participant]
            source = sources.get((participant, session, run))
            files.append(
                RegressorFile(
                    path=_path(participant, session, run, task, model),
                    table=_tidy(rows),
                    sidecar=_sidecar(
                        model, fit, fits.attrs, sums, best, source, version, rows["onset"]
                    ),
                )
            )
    order = {m: i for i, m in enumerate(models)}
    files.sort(key=lambda f: _run_key(f, order))
    return files, list(dict.fromkeys(notes))


def write_regressor_files(out: str | Path, files: Sequence[RegressorFile]) -> list[Path]:
    """Write every file and its sidecar under ``out``, atomically; return the paths written."""
    from pavlov.analysis.report import write_text

    out = Path(out)
    written = []
    for item in files:
        target = out / item.path
        target.parent.mkdir(parents=True, exist_ok=True)
        text = item.table.to_csv(sep="\t", index=False, na_rep="n/a", lineterminator="\n")
        written.append(write_text(target, text))
        sidecar = json.dumps(item.sidecar, indent=2, ensure_ascii=False, allow_nan=False)
        written.append(write_text(out / item.sidecar_path, sidecar + "\n"))
    return written


def describe_regressors(
    files: Sequence[RegressorFile], fits: pd.DataFrame, notes: Sequence[str] = ()
) -> list[str]:
    """Methods lines about the regressor files, for the report."""
    if not files:
        return list(notes)
    models = list(dict.fromkeys(f.sidecar["Model"] for f in files))
    runs = {f.path.parent / f.path.name.split("_desc-")[0] for f in files}
    best = lowest_bic_model(fits)
    sums = summed_bic(fits)
    lines = [
        f"Trial-wise parametric regressors of {', '.join(models)} written to {FOLDER}/ "
        f"({len(runs)} run(s), one TSV + JSON per run and model, BIDS-style "
        "onset/duration/trial_type/value): V and (hybrid) associability α at CS onset for the "
        "CS duration, prediction error δ at the outcome (US onset or its omission; CS offset "
        "on trials without a US time point), duration 0.",
        "Onsets are in each log's time base: seconds from the first stored volume after the "
        "dummy volumes in scanner sessions, from session start otherwise. The model runs over "
        "each participant's sessions in order, with the participant's fitted parameters.",
    ]
    if best is not None:
        ranked = ", ".join(f"{m} {v:.1f}" for m, v in sorted(sums.items(), key=lambda x: x[1]))
        lines.append(f"Lowest summed BIC: {best} (summed BIC {ranked}).")
    return lines + list(notes)


# --- helpers -------------------------------------------------------------------------


def _tasks(sessions: pd.DataFrame) -> dict[tuple[str, str, str], str]:
    tasks: dict[tuple[str, str, str], str | None] = {}
    for row in sessions.itertuples():
        key = (str(row.participant), str(row.session), str(row.run))
        task = str(row.task)
        tasks[key] = task if tasks.get(key, task) == task else None
    return {k: v for k, v in tasks.items() if v is not None}


def _path(participant: str, session: str, run: str, task: str, model: str) -> PurePosixPath:
    folder = PurePosixPath(FOLDER, f"sub-{participant}")
    stem = f"sub-{participant}"
    if session:
        folder /= f"ses-{session}"
        stem += f"_ses-{session}"
    stem += f"_task-{task}"
    if run:
        stem += f"_run-{run}"
    return folder / f"{stem}_desc-{model}_regressors.tsv"


def _run_key(item: RegressorFile, order: Mapping[str, int]) -> tuple:
    from pavlov.analysis.frame import natural_key

    stem = item.path.name.split("_desc-")[0]
    return (natural_key(str(item.path.parent)), natural_key(stem), order[item.sidecar["Model"]])


def _tidy(rows: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "onset": rows["onset"].astype(float).round(6).to_numpy(),
            "duration": rows["duration"].astype(float).round(6).to_numpy(),
            "trial_type": rows["trial_type"].to_numpy(),
            "value": rows["value"].astype(float).round(10).to_numpy(),
        }
    )
    for column in ID_COLUMNS:
        if column not in rows.columns:
            continue
        values = rows[column]
        if column == "reinforced":
            values = values.astype(bool).astype(int)
        elif column != "trial":
            values = values.astype(str).replace("", np.nan)
        out[column] = values.to_numpy()
    # stable: a trial's δ comes after its V (and α) and before the next trial's V
    return out.sort_values("onset", kind="stable").reset_index(drop=True)


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _sidecar(
    model: str,
    fit: pd.Series,
    attrs: Mapping,
    sums: Mapping[str, float],
    best: str | None,
    source: object,
    version: str,
    onsets: pd.Series,
) -> dict:
    parameters = {name: _number(fit.get(name)) for name in MODELS[model]}
    response = attrs.get("response", "")
    extra = ["sigma"] + (
        ["beta0", "beta_v"] + (["beta_alpha"] if model == "hybrid" else [])
        if response == "scr"
        else []
    )
    levels = {q: _LEVELS[q] for q in QUANTITIES[model]}
    hierarchical = attrs.get("fit") == "hierarchical"
    method = (
        "by a hierarchical Bayesian fit of all participants (posterior-mean parameters)"
        if hierarchical
        else "by maximum likelihood"
    )
    meta: dict[str, Any] = {
        "Description": (
            f"Trial-wise parametric regressors of the {model} learning model, fitted to this "
            f"participant's {response or 'responses'} {method} (pavlov analyze)."
        ),
        "Sources": [str(source)] if isinstance(source, str) else [],
        "GeneratedBy": [{"Name": "pavlov analyze", "Version": version or "unknown"}],
        "Model": model,
        "Parameters": parameters,
        "ParametersEstimated": all(v is not None for v in parameters.values()),
        "ObservationParameters": {name: _number(fit.get(name)) for name in extra},
        "FitResponse": response,
        "ObservationModel": attrs.get("observation", ""),
        "InitialValue": _number(attrs.get("v0", 0.5)),
        "LogLikelihood": _number(fit.get("loglik")),
        "BIC": _number(fit.get("bic")),
        "NumberOfObservations": int(fit.get("n_obs", 0)),
        "ModelSelection": {
            "Criterion": "BIC summed over participants fitted by every model",
            "SummedBIC": {m: _number(v) for m, v in sums.items()},
            "LowestSummedBIC": best,
            "IsLowestSummedBIC": model == best,
        },
        "TimeBase": _COLUMNS["onset"]["Description"],
        "StateCarriesOver": (
            "the model runs over all of the participant's sessions and runs in presentation "
            "order, so values at this run's first trial include earlier learning"
        ),
        "NumberOfTrials": int(onsets.size // len(QUANTITIES[model])),
    }
    if hierarchical:  # no BIC: models are ranked by PSIS-LOO over the whole sample
        elpd = attrs.get("elpd_loo", {})
        meta["ModelSelection"] = {
            "Criterion": "PSIS-LOO elpd of the hierarchical fits (higher is better)",
            "ElpdLoo": {m: _number(v) for m, v in elpd.items()},
            "HighestElpdLoo": attrs.get("best_loo"),
            "IsHighestElpdLoo": model == attrs.get("best_loo"),
        }
        meta["ParameterHDI94"] = {
            name: [_number(fit.get(f"{name}_hdi_low")), _number(fit.get(f"{name}_hdi_high"))]
            for name in MODELS[model]
        }
    for column, description in _COLUMNS.items():
        meta[column] = dict(description)
    meta["trial_type"]["Levels"] = levels
    meta["value"]["Units"] = "arbitrary"
    if not meta["ParametersEstimated"]:
        meta["Note"] = "parameters not estimated (fewer observations than free parameters + 1)"
    return meta
