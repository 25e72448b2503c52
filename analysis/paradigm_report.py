"""``pavlov analyze`` outputs of paradigm-specific measures: startle and generalisation.

- :func:`read_probes`: the startle probes of the data (scored from the logs' probe rows and
  EMG recordings, another tool's per-probe table, or a trial table's ``startle`` column);
- :func:`startle_outputs`: ``startle.csv`` (per probe), ``startle_curves_by_{block,phase}.csv``
  and ``participant_startle_curves_by_*.csv`` (by CS role and ITI),
  ``startle_potentiation.csv`` and ``startle_tests.csv``, ``startle.png`` and the report's
  tables;
- :func:`gradient_outputs`: ``gradient.csv`` (by continuum position, within-subject 95 % CI),
  ``participant_gradient.csv``, ``gradient_scores.csv`` (linear deviation score and slope per
  participant and phase), ``gradient.png`` (and ``gradient_after_exclusions.png`` when the
  exclusions leave anyone out) and the report's tables.

Each returns what the report needs (:class:`Outputs`); the computing is in
:mod:`pavlov.analysis.startle` and :mod:`pavlov.analysis.gradient`.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pavlov.analysis import gradient, startle
from pavlov.analysis.errors import AnalysisError


@dataclass
class Outputs:
    """What one measure adds to the report."""

    tables: list = field(default_factory=list)
    figures: list = field(default_factory=list)
    options: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)


def register_options(parser: argparse.ArgumentParser) -> None:
    """The ``pavlov analyze`` options of the startle scoring."""
    group = parser.add_argument_group(
        "startle (blink EMG)",
        "runs with startle probes (trial_type probe) and an EMG channel are scored "
        "(Blumenthal et al. 2005); another tool's scored probes with --startle-probes",
    )
    group.add_argument(
        "--startle-probes",
        metavar="TABLE",
        help="another tool's probes, one row each: participant, phase, trial (empty in an "
        "ITI), cs (role, or ITI), startle (magnitude)[, session, group, probe_onset]",
    )
    group.add_argument(
        "--emg-channel",
        metavar="NAME",
        help="the blink EMG channel of the runs' recordings (default: emg, else emg1 ...)",
    )
    group.add_argument(
        "--startle-threshold",
        type=_nonnegative,
        metavar="X",
        help="smallest blink magnitude, in the channel's units (default: 3 × the run's "
        "noise level, the median 0-20 ms baseline)",
    )


def _nonnegative(text: str) -> float:
    from pavlov.common.argtypes import nonnegative_float

    return nonnegative_float(text)


def read_probes(
    args: argparse.Namespace, trials: pd.DataFrame, *, table: bool, logs: list | None = None
):
    """The trials with the startle T-score of each trial's probe (column ``startle``), the
    study's probes (None without any) and notes.

    ``table`` says whether DATA is a trial table (its ``startle`` column, if any, is the
    source unless ``--startle-probes`` is given); ``logs`` are DATA's events logs when
    the caller has found them already.
    """
    probes, notes = _probes(args, trials, table=table, logs=logs)
    if probes is not None:
        trials = startle.add_to_trials(trials, probes)
    return trials, probes, notes


def _probes(args: argparse.Namespace, trials: pd.DataFrame, *, table: bool, logs=None):
    notes: list[str] = []
    order = dict(zip(trials["phase"], trials["phase_order"]))
    if args.startle_probes:
        for flag, value in (("--emg-channel", args.emg_channel),
                            ("--startle-threshold", args.startle_threshold)):  # fmt: skip
            if value is not None:
                raise AnalysisError(
                    f"{flag}: scores EMG recordings; --startle-probes gives scored probes"
                )
        probes = startle.finish_probes(startle.read_probe_table(args.startle_probes), order)
        unknown = sorted(set(probes["participant"]) - set(trials["participant"]))
        if unknown:
            notes.append(
                f"--startle-probes: {len(unknown)} participant(s) not in the trials "
                f"({', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''}): their probes "
                "are in the startle outputs but not in the trials' startle column"
            )
        return (probes if len(probes) else None), notes
    if table:
        if "startle" in trials.columns and trials["startle"].notna().any():
            return startle.probes_from_trials(trials), notes
        return None, notes
    scoring = startle.StartleScoring(threshold=args.startle_threshold)
    probes = startle.load_probes(
        args.data, channel=args.emg_channel, scoring=scoring, notes=notes, logs=logs
    )
    if probes.empty:
        return None, notes
    return startle.finish_probes(probes, order), notes


def startle_outputs(probes, args, save, out: Path, written: list) -> Outputs:
    """Write the startle tables and figure; return the report's parts."""
    from pavlov.analysis.load import is_trial_table

    result = Outputs()
    if args.startle_probes or is_trial_table(args.data):
        source = "magnitudes as given, T-scored within participant"
    else:
        scoring = startle.StartleScoring(threshold=args.startle_threshold)
        source = startle.describe_scoring(scoring, "each run's probe rows and EMG recording")
    save(probes, "startle.csv")
    curves = {}
    for by in ("block", "phase"):
        per = startle.participant_startle(probes, by, args.block_size)
        group = startle.group_startle(per)
        save(group.drop(columns="phase_order"), f"startle_curves_by_{by}.csv")
        save(
            per.drop(columns="phase_order").rename(columns={"value": "mean"}),
            f"participant_startle_curves_by_{by}.csv",
        )
        curves[by] = group
    table = startle.potentiation(probes)
    save(table, "startle_potentiation.csv")
    tests = startle.potentiation_tests(table)
    save(tests, "startle_tests.csv")
    counts = probe_counts(probes)
    result.tables += [
        ("Startle probes: scored, non-responses (magnitude 0) and artefacts (missing)", counts),
        (
            "Startle by phase and CS role (T-scores within participant; mean ± within-subject SEM)",
            curves["phase"].drop(columns=["phase_order", "block"]),
        ),
        (
            "Fear-potentiated startle (paired t-tests on T-scores, all participants: CS+ − "
            "ITI, CS− − ITI, CS+ − CS−; d_z, 95 % CI)",
            tests,
        ),
    ]
    result.options["startle"] = source
    if not args.no_figures:
        from pavlov.analysis.figures import plot_startle, save_figure

        written += save_figure(plot_startle(curves["block"], table), out / "startle", dpi=args.dpi)
        result.figures.append(
            (
                "Startle (T-score) by block of probes and CS role, noise-alone ITI probes "
                "dashed (mean ± within-subject SEM); potentiation per phase below (mean ± SEM)",
                "startle.png",
            )
        )
    if not (probes["cs_type"] == startle.ITI).any():
        result.notes.append(
            "No ITI (noise-alone) startle probes: potentiation against the ITI is not "
            "computed, CS+ − CS− only."
        )
    return result


def probe_counts(probes: pd.DataFrame) -> pd.DataFrame:
    """Per CS type: probes, scored, responses, non-responses and each artefact reason."""
    rows = []
    for kind, part in probes.groupby("cs_type", sort=False):
        scored = part["startle"].notna()
        row = {
            "cs_type": kind,
            "probes": len(part),
            "scored": int(scored.sum()),
            "non-responses": int((part["magnitude"] == 0).sum()),
        }
        for reason, count in part.loc[part["artefact"] != "", "artefact"].value_counts().items():
            row[f"artefact: {reason}"] = int(count)
        rows.append(row)
    return pd.DataFrame(rows).fillna(0)


def gradient_outputs(
    trials, response, select, args, save, out: Path, written: list, keep=None
) -> Outputs:
    """Write the generalisation gradient of ``response`` (and of startle, when scored in
    the trials); return the report's parts.

    ``keep`` (participant IDs) are those left after the chosen exclusions: when it leaves
    anyone out, the group gradient of the others is written too, as
    ``gradient_after_exclusions.csv`` and its figure ``gradient_after_exclusions.png``
    (``.svg``, ``.pdf``), like the curves' ``*_after_exclusions`` outputs."""
    result = Outputs()
    measures = [response]
    if (
        response != "startle"
        and "startle" in trials.columns
        and trials.loc[trials["cs_type"] == "GS", "startle"].notna().any()
    ):
        measures.append("startle")
    parts: dict[str, list[pd.DataFrame]] = {"gradient": [], "per": [], "scores": [], "kept": []}
    for measure in measures:
        per = gradient.participant_gradient(trials, measure, **select)
        parts["per"].append(per.assign(response=measure))
        group = gradient.group_gradient(per)
        parts["gradient"].append(group.assign(response=measure))
        parts["scores"].append(gradient.gradient_scores(per).assign(response=measure))
        if keep is not None and not set(per["participant"]) <= set(keep):
            kept = per[per["participant"].isin(keep)]
            if len(kept):  # with everyone excluded there is no gradient to draw
                parts["kept"].append(gradient.group_gradient(kept).assign(response=measure))
    tables = {
        name: pd.concat(frames, ignore_index=True) for name, frames in parts.items() if frames
    }
    save(tables["gradient"].drop(columns="phase_order"), "gradient.csv")
    if "kept" in tables:
        save(tables["kept"].drop(columns="phase_order"), "gradient_after_exclusions.csv")
    save(
        tables["per"].drop(columns="phase_order").rename(columns={"value": "mean"}),
        "participant_gradient.csv",
    )
    scores = tables["scores"]
    save(scores.drop(columns="phase_order"), "gradient_scores.csv")
    summary = (
        scores.groupby(["response", "phase"], sort=False)[["linear_deviation", "slope"]]
        .agg(["count", "mean", "std"])
        .reset_index()
    )
    summary.columns = [" ".join(c).strip() for c in summary.columns]
    result.tables += [
        (
            "Generalisation gradient (group mean by continuum position, all participants; "
            "within-subject 95 % CI, Cousineau–Morey)",
            tables["gradient"].drop(columns=["phase_order", "sem"]),
        ),
        *(
            [
                (
                    "The same after exclusions",
                    tables["kept"].drop(columns=["phase_order", "sem"]),
                )
            ]
            if "kept" in tables
            else []
        ),
        (
            "Generalisation per participant: linear deviation score (GS minus the CS+–CS− "
            "line) and slope per whole continuum (over participants)",
            summary,
        ),
    ]
    gs = trials[trials["cs_type"] == "GS"]
    counts = gs.groupby("cs", sort=False).size()
    result.options["generalisation"] = (
        f"{len(gs)} GS trials ("
        + ", ".join(f"{role} {n}" for role, n in sorted(counts.items(), key=lambda rn: rn[0]))
        + "); position = the GS role's number (GS1 nearest the CS+), CS+ at 0 and CS− at "
        "n + 1; GS trials kept out of the CS+/CS− curves, indices, ANOVAs and model fits; "
        "gradients over all participants"
        + (", and after exclusions (gradient_after_exclusions.csv)" if "kept" in tables else "")
    )
    if not args.no_figures:
        from pavlov.analysis.figures import plot_gradient, save_figure

        for measure in measures:
            rows = tables["gradient"][tables["gradient"]["response"] == measure]
            stem = "gradient" if measure == response else f"gradient_{measure}"
            written += save_figure(plot_gradient(rows, measure), out / stem, dpi=args.dpi)
            result.figures.append(
                (
                    f"Generalisation gradient of {measure}: mean by continuum position, "
                    "within-subject 95 % CI, one line per phase",
                    f"{stem}.png",
                )
            )
            # As curves_after_exclusions: the figure a reader compares with the excluded's
            # absence, drawn only when the exclusions left someone out.
            kept = tables.get("kept")
            if kept is not None and (kept["response"] == measure).any():
                stem += "_after_exclusions"
                rows = kept[kept["response"] == measure]
                written += save_figure(plot_gradient(rows, measure), out / stem, dpi=args.dpi)
                result.figures.append(("The same after exclusions", f"{stem}.png"))
    return result
