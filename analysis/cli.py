"""``pavlov analyze``: session logs or a trial table in, curves, indices, stats, fits, figures out.

Writes into ``--out``:

- ``curves_by_block.csv``: ``group, phase, block, cs_type, n, mean, sem`` (``cs_type`` is
  ``CS+``, ``CS-`` or ``diff``; ``group`` empty when the data have none);
- ``participants_by_block.csv``: ``participant, group, phase, block, cs_type, mean``;
- ``curves_by_trial.csv``, ``participants_by_trial.csv``: the same by trial;
- ``*_after_exclusions.csv``: the group curves without excluded participants;
- ``indices.csv``: per participant (and test phase) return-of-fear, extinction index,
  recovery ratio, and the exclusion flags;
- ``summaries.csv``: multiverse phase summaries;
- ``exclusions.csv``: flag counts;
- ``anova.csv``: CS × block rm-ANOVA per phase (``sample`` = all / after_exclusions);
- ``mixed_model.csv`` (with ``--mixed-model``: a trial-level linear mixed model per phase,
  opt-in because it costs about a minute on a study of 1,000 sessions);
- ``group_comparison.csv`` (when groups exist);
- ``model_fits.csv``: ``participant, model, parameters..., loglik, bic``; with ``--fit
  hierarchical`` also the hierarchical rows (``fit`` column ``ml``/``hierarchical``: posterior
  means with 94 % HDIs), and ``group_posteriors.csv``, ``model_comparison.csv`` (PSIS-LOO),
  ``model_diagnostics.csv`` (R-hat, ESS, divergences) and ``posterior_predictive.png``/``.svg``
  (:mod:`pavlov.analysis.hierarchical`);
- ``regressors/sub-<id>/ses-<s>/…_desc-<model>_regressors.tsv`` + ``.json``: each fitted
  model's trial-wise V, δ (and α) as fMRI parametric regressors in the log's time base
  (:mod:`pavlov.analysis.fmri`), by default for the runs logged in the scanner (``func/``)
  only; ``--regressors all`` for every run, ``best`` for the lowest summed BIC only;
- ``curves.png`` (at ``--dpi``), ``.svg`` and ``.pdf`` (and ``curves_after_exclusions``), and
  ``report.html``;
- ``figures/sub-<id>_curves.png`` per participant, with ``--participant-figures``.

With ``--workers N`` or ``--scheduler ADDRESS`` each run is loaded (and its SCR scored) on
Dask workers, which write ``derivatives/runs/<run>_trials.parquet`` (and ``_ratings``); the
outputs are those of the serial command (:mod:`pavlov.analysis.distributed`).

Phases keep the order in which they occurred. Every file is written atomically.

The report's protocol section comes from the protocol text recorded in each run's
``session.json`` (:mod:`pavlov.analysis.provenance`); ``--protocol`` overrides it. SCR is
scored from each run's ``*_recording-scr_physio.tsv.gz``, or for one run from ``--physio``
(a BIDS recording, or a CSV with ``--sampling-rate``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from pavlov.analysis.errors import AnalysisError
from pavlov.task.argtypes import finite_float, nonnegative_float, positive_float, positive_int, seed


def register(subparsers) -> None:
    """Add the ``analyze`` subcommand to ``pavlov``'s subparsers."""
    parser = subparsers.add_parser(
        "analyze",
        help="learning curves, indices, statistics, model fits and a report from logs or a table",
        description=(
            "Analyse pavlov session logs (an events file, a participant or data folder) or "
            "another tool's trial table (CSV/TSV: participant, phase, trial, cs_type, us, "
            "response[, session, group, block])."
        ),
    )
    parser.add_argument("data", metavar="DATA_OR_TABLE", help="events file, folder or trial table")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    parser.add_argument(
        "--response",
        metavar="NAME",
        help="column to analyse: rating, scr, ... (default: scr when present, else rating)",
    )
    parser.add_argument(
        "--response-name",
        default="rating",
        metavar="NAME",
        help="trial tables: name given to their 'response' column (default: rating)",
    )
    parser.add_argument(
        "--block-size",
        type=positive_int,
        metavar="N",
        help="trials of each CS type per block (default: a table's own blocks, else 2)",
    )
    parser.add_argument(
        "--exclude-reinforced", action="store_true", help="leave reinforced trials out"
    )
    parser.add_argument(
        "--drop-first",
        nargs="*",
        metavar="PHASE",
        help="drop the first trial of each CS type (in the named phases or phase types; "
        "in every phase when none is named)",
    )
    parser.add_argument(
        "--k", type=positive_int, default=1, help="trials per CS type in each index term (1)"
    )
    parser.add_argument("--acquisition", metavar="PHASE", help="acquisition phase for indices")
    parser.add_argument("--extinction", metavar="PHASE", help="extinction phase for indices")
    parser.add_argument("--test", nargs="+", metavar="PHASE", help="return-of-fear test phase(s)")
    parser.add_argument(
        "--us-threshold",
        type=nonnegative_float,
        default=0.02,
        metavar="uS",
        help="US response minimum (0.02)",
    )
    parser.add_argument(
        "--us-min-share",
        type=finite_float,
        default=0.25,
        metavar="SHARE",
        help="share of US trials that must show a response (0.25)",
    )
    parser.add_argument(
        "--nonlearner-trials",
        type=positive_int,
        default=2,
        metavar="N",
        help="last N acquisition trials per CS type for the non-learner flag (2)",
    )
    parser.add_argument(
        "--max-missing",
        type=finite_float,
        default=0.5,
        metavar="SHARE",
        help="largest share of trials without a response (0.5)",
    )
    parser.add_argument(
        "--exclude",
        nargs="*",
        default=["us_nonresponder"],
        metavar="FLAG",
        help="flags that exclude: us_nonresponder, nonlearner, missing (us_nonresponder)",
    )
    parser.add_argument(
        "--models",
        nargs="*",
        default=["rw", "rw2", "hybrid"],
        metavar="MODEL",
        help="learning models to fit: rw, rw2, hybrid (none with no names)",
    )
    parser.add_argument("--n-starts", type=positive_int, default=10, help="fit starts (10)")
    parser.add_argument("--seed", type=seed, default=0, help="seed of the fit starts (0)")
    parser.add_argument(
        "--regressors",
        choices=("auto", "all", "best", "none"),
        default="auto",
        help="fMRI regressors of every fitted model for every run (all), of the lowest summed "
        "BIC only (best), or none; auto (default): all, for the runs logged in the scanner "
        "(func/) only",
    )
    parser.add_argument(
        "--fit",
        choices=("ml", "hierarchical"),
        default="ml",
        help="per-participant maximum likelihood (ml), or also a hierarchical Bayesian fit "
        "of every participant at once (NumPyro NUTS, seeded by --seed; needs pavlov[bayes])",
    )
    parser.add_argument(
        "--chains", type=positive_int, metavar="N", help="--fit hierarchical: chains (4)"
    )
    parser.add_argument(
        "--draws", type=positive_int, metavar="N", help="--fit hierarchical: draws per chain (1000)"
    )
    parser.add_argument(
        "--warmup",
        type=positive_int,
        metavar="N",
        help="--fit hierarchical: warm-up iterations per chain (1000)",
    )
    parser.add_argument(
        "--protocol",
        metavar="YAML",
        help="protocol file for the report (default: the one recorded in the run sidecars)",
    )
    physio = parser.add_argument_group(
        "physiology of one run",
        "score SCR from a recording not stored beside the log as BIDS (DATA must be that "
        "run's events file or session folder)",
    )
    physio.add_argument(
        "--physio",
        metavar="FILE",
        help="skin-conductance recording: a recorder's .acq/.vhdr/.xdf (aligned by its markers), a CSV (with --sampling-rate) or a BIDS _physio.tsv.gz",
    )
    physio.add_argument(
        "--sampling-rate", type=positive_float, metavar="HZ", help="CSV samples per second"
    )
    physio.add_argument(
        "--physio-start",
        type=finite_float,
        default=0.0,
        metavar="S",
        help="CSV: seconds of the first sample in the log's time base (negative when the "
        "recording started before onset 0; default 0)",
    )
    physio.add_argument(
        "--scr-column",
        default="scr",
        metavar="NAME",
        help="name of the skin-conductance column (default scr)",
    )
    parser.add_argument(
        "--mixed-model",
        action="store_true",
        help="also fit the trial-level linear mixed model per phase (slow on large studies)",
    )
    scale = parser.add_argument_group(
        "scale-out (Dask)",
        "load and score each run, and fit each model, on Dask workers; per-run derivatives "
        "go to DIR/derivatives/runs/ (Parquet). Results are those of the serial command.",
    )
    scale.add_argument(
        "--workers", type=positive_int, metavar="N", help="a local cluster of N processes"
    )
    scale.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="an existing Dask scheduler (e.g. tcp://host:8786, started by dask-jobqueue)",
    )
    parser.add_argument("--no-figures", action="store_true", help="skip figures")
    parser.add_argument(
        "--participant-figures",
        action="store_true",
        help="also one figure per participant: figures/sub-<id>_curves.png",
    )
    parser.add_argument(
        "--dpi",
        type=positive_int,
        default=150,
        help="resolution of the PNG figures (default 150; 300 for print); SVG and PDF "
        "copies are vector",
    )
    parser.add_argument(
        "--columns",
        type=_column_map,
        metavar="THEIRS=OURS,...",
        help="trial tables: read your column names as pavlov's, e.g. subject=participant,stim=cs",
    )
    parser.set_defaults(func=run_analyze)


def _check_phases(option: str, names, trials: pd.DataFrame) -> None:
    """Every phase an option names must be in the data (a typo used to select nothing)."""
    from pavlov.protocols.errors import suggest

    known = sorted({str(p) for p in trials["phase"]})
    for name in names:
        if name not in known:
            hint = suggest(name, known)
            more = f". Did you mean '{hint}'?" if hint and hint != name else ""
            raise AnalysisError(
                f"{option}: expected a phase of the data ({', '.join(known)}), got {name!r}{more}"
            )


def _column_map(text: str) -> dict[str, str]:
    from pavlov.analysis.table import parse_column_map

    try:
        return parse_column_map(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def run_analyze(args: argparse.Namespace) -> int:
    """Run ``pavlov analyze`` with parsed arguments; return the exit status."""
    _python_strings()
    if args.workers is None and args.scheduler is None:
        return _analyze(args, None)
    if args.workers is not None and args.scheduler is not None:
        raise AnalysisError("--workers: a local cluster, or --scheduler: an existing one; not both")
    from pavlov.analysis.distributed import cluster

    with cluster(args.workers, args.scheduler) as client:
        return _analyze(args, client)


def _python_strings() -> None:
    # pandas 3 keeps text columns in Arrow when pyarrow is installed (the dask extra brings
    # it); on the thousands of short columns of a study's logs, Arrow's per-call overhead
    # makes loading 1.6x slower than Python strings (measured), and the values are the same.
    if "string_storage" in dir(pd.options.mode):
        pd.set_option("mode.string_storage", "python")


def _analyze(args: argparse.Namespace, client) -> int:
    from pavlov.analysis import curves, exclusions, indices, load, provenance, report, stats

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise AnalysisError(f"--out: expected a folder, got the file {out}")
    _check_hierarchical(args)
    physio = read_physio_option(args)
    # one pass over the logs: each events file is read once for trials and ratings
    if client is not None and physio is None and not args.columns:
        from pavlov.analysis import distributed

        trials, ratings = distributed.load_study(args.data, out, client, args.response_name)
    else:
        trials, ratings = load.load_study(
            args.data, response_name=args.response_name, physio=physio, columns=args.columns
        )
    response = args.response or curves.choose_response(trials)
    curves.check_response(trials, response)
    sessions = load.load_sessions(args.data)
    protocol = _load_protocol(args.protocol)
    recorded = provenance.recorded_protocols(sessions)
    protocol_sections, protocol_notes = provenance.protocol_sections(
        recorded,
        sessions,
        override=protocol,
        override_path=args.protocol or "",
    )
    drop_first = True if args.drop_first == [] else (args.drop_first or False)
    if drop_first and drop_first is not True:
        _check_phases("--drop-first", drop_first, trials)
    select = {"exclude_reinforced": args.exclude_reinforced, "drop_first": drop_first}

    flags = exclusions.flag_participants(
        trials,
        response,
        us_threshold=args.us_threshold,
        us_min_share=args.us_min_share,
        nonlearner_trials=args.nonlearner_trials,
        acquisition=args.acquisition,
        max_missing=args.max_missing,
        criteria=tuple(args.exclude),
    )
    keep = exclusions.included(flags)
    counts = exclusions.exclusion_counts(flags)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise AnalysisError(
            f"--out: cannot create the folder {out}: {error.strerror or error}"
        ) from None
    written = []

    def save(frame: pd.DataFrame, name: str) -> None:
        written.append(report.write_csv(frame, out / name))

    tables = {}
    for by in ("block", "trial"):
        per = curves.participant_curves(
            trials, response, by=by, block_size=args.block_size, **select
        )
        group = curves.group_curves(per)
        kept = curves.group_curves(per[per["participant"].isin(keep)])
        save(group.drop(columns="phase_order"), f"curves_by_{by}.csv")
        save(
            per.drop(columns="phase_order").rename(columns={"value": "mean"}),
            f"participants_by_{by}.csv",
        )
        save(kept.drop(columns="phase_order"), f"curves_by_{by}_after_exclusions.csv")
        tables[by] = (per, group, kept)

    index = indices.compute_indices(
        trials,
        response,
        k=args.k,
        acquisition=args.acquisition,
        extinction=args.extinction,
        tests=args.test,
        exclude_reinforced=args.exclude_reinforced,
    )
    index = index.merge(flags.drop(columns="group"), on="participant", how="left")
    save(index, "indices.csv")
    save(curves.summarise_phases(trials, response, **select), "summaries.csv")
    save(flags, "exclusion_flags.csv")
    save(counts, "exclusions.csv")

    notes = list(protocol_notes)
    anova = pd.concat(
        [
            stats.anova_by_phase(trials, response, "block", args.block_size, **select).assign(
                sample="all"
            ),
            stats.anova_by_phase(
                trials, response, "block", args.block_size, participants=keep, **select
            ).assign(sample="after_exclusions"),
        ],
        ignore_index=True,
    )
    save(anova, "anova.csv")
    tested = set(anova.loc[anova["sample"] == "all", "phase"])
    for phase in trials.sort_values("phase_order")["phase"].drop_duplicates():
        if phase not in tested and trials.loc[trials["phase"] == phase, "cs_type"].nunique() == 2:
            notes.append(
                f"rm-ANOVA for {phase} not computed: fewer than 2 participants with a "
                f"{response} value in every CS × block cell."
            )
    mixed = None
    if args.mixed_model:
        mixed = _mixed_models(trials, response, args.exclude_reinforced, notes)
        save(mixed, "mixed_model.csv")
    groups = stats.group_by_phase(trials, response, **select)
    if len(groups):
        save(groups, "group_comparison.csv")
    fits = _fit(trials, response, args, notes, client)
    extra_sections = []
    bayes = _fit_hierarchical(trials, response, args, fits, out, save, written, notes)
    if fits is not None:
        save(fits if bayes is None else bayes.table, "model_fits.csv")
        if args.regressors != "none":
            chosen = fits if bayes is None else bayes.result.fits
            lines = _write_regressors(trials, chosen, sessions, out, args.regressors, written)
            if lines:
                extra_sections.append(("fMRI parametric regressors", lines))

    figures = []
    if not args.no_figures:
        from pavlov.analysis.figures import plot_curves, save_figure

        per, group, kept = tables["block"]
        from pavlov.analysis.figures import phase_marks

        marks = phase_marks(trials, [r.protocol for r in recorded], protocol)
        written += save_figure(
            plot_curves(group, response, per, marks=marks), out / "curves", dpi=args.dpi
        )
        figures.append((f"{response} by block: group mean ± SEM, CS+ − CS− below", "curves.png"))
        if bayes is not None:
            figures.append(bayes.figure(out, written))
        if len(keep) < trials["participant"].nunique() and len(kept):
            written += save_figure(
                plot_curves(kept, response, per[per["participant"].isin(keep)], marks=marks),
                out / "curves_after_exclusions",
                dpi=args.dpi,
            )
            figures.append(("The same after exclusions", "curves_after_exclusions.png"))
        if args.participant_figures:
            from pavlov.analysis.figures import save_participant_figures

            written += save_participant_figures(per, response, out / "figures")

    options = {
        "data": args.data,
        "response": response,
        "block size": args.block_size or "table blocks or 2",
        "reinforced trials": "excluded" if args.exclude_reinforced else "included",
        "first trials dropped": drop_first or "no",
        "index trials per CS type (k)": args.k,
        "US non-responder": f"< {args.us_min_share:.0%} of US trials with ≥ {args.us_threshold} µS",
        "non-learner": f"CS+ − CS− ≤ 0 over the last {args.nonlearner_trials} acquisition trials",
        "missing data": f"> {args.max_missing:.0%} of trials without {response}",
        "exclusion criteria": ", ".join(args.exclude) or "none",
        "models": ", ".join(args.models) or "none",
    }
    if bayes is not None:
        extra_sections.append(("Hierarchical Bayesian fit", bayes.methods()))
    if trials["scr"].notna().any() and not load.is_trial_table(args.data):
        source = args.physio or "each run's *_recording-scr_physio.tsv.gz"
        options["SCR"] = f"scored from {source}: {load.SCR_SCORING}"
    methods = report.describe_methods(
        trials,
        sessions=sessions,
        ratings=ratings,
        options=options,
        counts=counts,
        protocol_sections=protocol_sections,
        extra=extra_sections,
    )
    index_summary = (
        index.groupby("test_phase", sort=False)[["extinction_index", "rof_index", "recovery_ratio"]]
        .agg(["count", "mean", "std"])
        .reset_index()
    )
    index_summary.columns = [" ".join(c).strip() for c in index_summary.columns]
    result_tables = [
        ("rm-ANOVA, CS × block, per phase (Greenhouse–Geisser)", anova),
        *([("Linear mixed model per phase", mixed)] if mixed is not None else []),
        ("Indices (mean, SD over participants)", index_summary),
        ("Exclusion counts", counts),
    ]
    if len(groups):
        result_tables.append(("Group × CS per phase", groups))
    if fits is not None:
        numeric = (
            fits.drop(columns=["participant"]).groupby("model", sort=False).mean(numeric_only=True)
        )
        result_tables.append(("Model fits (means over participants)", numeric.reset_index()))
    if bayes is not None:
        result_tables.extend(bayes.tables())
    html = report.render_report(
        report.report_title(sessions, protocol, args.data),
        methods,
        figures=figures,
        tables=result_tables,
        notes=notes,
    )
    written.append(report.write_text(out / "report.html", html))
    print(
        f"{trials['participant'].nunique()} participants, {len(trials)} trials, "
        f"response {response}, {int((~flags['excluded']).sum())} kept after exclusions; "
        f"wrote {len(written)} files to {out}"
    )
    return 0


def read_physio_option(args: argparse.Namespace):
    """The ``--physio`` recording as a :class:`~pavlov.analysis.physio.Physio` (None without).

    A name ending ``.tsv.gz``/``.tsv`` is a BIDS recording with a JSON sidecar (rate and
    start time from the sidecar); anything else is a CSV read at ``--sampling-rate`` with
    its first sample at ``--physio-start``. The ``--scr-column`` channel is scored.
    """
    from pavlov.analysis.physio import Physio, read_physio, read_physio_csv

    if args.physio is None:
        for flag, value, default in (
            ("--sampling-rate", args.sampling_rate, None),
            ("--physio-start", args.physio_start, 0.0),
            ("--scr-column", args.scr_column, "scr"),
        ):
            if value != default:
                raise AnalysisError(f"{flag}: only used with --physio FILE, got no --physio")
        return None
    name = Path(args.physio).name
    if name.lower().endswith((".acq", ".vhdr", ".xdf", ".xdfz")):
        # A recorder's own file: aligned to the log by pavlov's markers (pavlov physio import).
        from pavlov.analysis.physio_import import import_physio

        if args.sampling_rate is not None or args.physio_start != 0.0:
            raise AnalysisError(
                f"--physio {args.physio}: a recorder's file states its rate and is aligned by "
                "its markers; drop --sampling-rate and --physio-start"
            )
        channels = None if args.scr_column == "scr" else [f"{args.scr_column}=scr"]
        result = import_physio(args.physio, args.data, channels=channels)
        print(f"{args.physio}: {result.alignment.summary(result.speed)}", file=sys.stderr)
        return result.recordings["scr"]
    if name.endswith((".tsv.gz", ".tsv")):
        if args.sampling_rate is not None or args.physio_start != 0.0:
            raise AnalysisError(
                f"--physio {args.physio}: a BIDS recording's JSON sidecar states its rate and "
                "start time; drop --sampling-rate and --physio-start"
            )
        recording = read_physio(args.physio)
    else:
        if args.sampling_rate is None:
            raise AnalysisError(
                f"--physio {args.physio}: expected --sampling-rate HZ for a CSV recording "
                "(the file does not say its rate)"
            )
        recording = read_physio_csv(args.physio, args.sampling_rate, start_time=args.physio_start)
    samples = recording.channel(args.scr_column)
    return Physio(
        data=pd.DataFrame({"scr": samples}),
        sampling_frequency=recording.sampling_frequency,
        start_time=recording.start_time,
        path=recording.path,
        units={"scr": recording.units.get(args.scr_column, "uS")},
    )


def _write_regressors(
    trials: pd.DataFrame,
    fits: pd.DataFrame,
    sessions: pd.DataFrame,
    out: Path,
    which: str,
    written: list,
) -> list[str]:
    from pavlov.analysis import fmri

    models = None
    if which == "best":
        best = fits.attrs.get("best_loo") or fmri.lowest_bic_model(fits)
        models = [best] if best is not None else []
    if which == "auto":
        # A behavioural study has no use for fMRI regressors (a thousand runs would make
        # thousands of files): by default they are written for scanner runs (func/) only.
        scanned = {f for f in sessions.get("events_file", []) if Path(f).parent.name == "func"}
        if not scanned:
            return []
    files, notes = fmri.regressor_files(trials, fits, sessions, models=models, version=_version())
    if which == "auto":
        files = [f for f in files if set(f.sidecar.get("Sources", [])) & scanned]
    written += fmri.write_regressor_files(out, files)
    return fmri.describe_regressors(files, fits, notes)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pavlov")
    except PackageNotFoundError:
        return "unknown"


def _load_protocol(path: str | None):
    if path is None:
        return None
    from pavlov.protocols import load_protocol

    return load_protocol(path)


def _mixed_models(
    trials: pd.DataFrame, response: str, exclude_reinforced: bool, notes: list
) -> pd.DataFrame:
    from pavlov.analysis.stats import mixed_model

    parts = []
    for phase in trials.sort_values("phase_order")["phase"].drop_duplicates():
        rows = trials[trials["phase"] == phase]
        if rows["cs_type"].nunique() < 2 or rows[response].notna().sum() < 5:
            continue
        try:
            fit = mixed_model(trials, response, phase, exclude_reinforced=exclude_reinforced)
        except AnalysisError as error:
            notes.append(f"Mixed model for {phase} not fitted: {error}")
            continue
        except (ValueError, ArithmeticError) as error:  # singular designs inside statsmodels
            notes.append(f"Mixed model for {phase} did not fit: {type(error).__name__}: {error}")
            continue
        parts.append(fit.assign(phase=phase))
    if not parts:
        return pd.DataFrame(
            columns=["phase", "term", "coef", "se", "z", "p", "converged", "n_obs", "n_groups"]
        )
    frame = pd.concat(parts, ignore_index=True)
    return frame[["phase", *[c for c in frame.columns if c != "phase"]]]


def _fit(trials: pd.DataFrame, response: str, args: argparse.Namespace, notes: list, client=None):
    if not args.models:
        return None
    if response not in ("rating", "scr"):
        notes.append(f"Models not fitted: they model 'rating' or 'scr', not '{response}'.")
        return None
    from pavlov.analysis.fit import fit_models

    if client is not None:
        from pavlov.analysis import distributed

        return distributed.fit_models(
            client, trials, models=args.models, response=response, n_starts=args.n_starts,
            seed=args.seed,
        )  # fmt: skip
    return fit_models(
        trials, models=tuple(args.models), response=response, n_starts=args.n_starts, seed=args.seed
    )


def _check_hierarchical(args: argparse.Namespace) -> None:
    """One line and exit 2 for sampler options that cannot be used, before any work."""
    sampler = {"--chains": args.chains, "--draws": args.draws, "--warmup": args.warmup}
    if args.fit != "hierarchical":
        for flag, value in sampler.items():
            if value is not None:
                raise AnalysisError(
                    f"{flag}: only used with --fit hierarchical, got --fit {args.fit}"
                )
        return
    from pavlov.analysis.hierarchical import check_sampling, require

    if not args.models:
        raise AnalysisError("--fit hierarchical: expected --models to name at least one model")
    require()
    args.chains = 4 if args.chains is None else args.chains
    args.draws = 1000 if args.draws is None else args.draws
    args.warmup = 1000 if args.warmup is None else args.warmup
    check_sampling(args.chains, args.draws, args.warmup, args.seed)


def _fit_hierarchical(trials, response, args, fits, out, save, written, notes):
    """Run the hierarchical fit when asked and write its tables (:mod:`.hierarchical_report`)."""
    if args.fit != "hierarchical" or fits is None:
        return None
    from pavlov.analysis.hierarchical_report import run

    return run(trials, response, args, fits, out, save, written, notes)
