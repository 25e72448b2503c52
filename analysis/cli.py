"""``pavlov analyze``: session logs or a trial table in, curves, indices, stats, fits, figures out.

Writes into ``--out``:

- ``curves_by_block.csv``: ``group, phase, block, cs_type, n, mean, sem, sem_within``
  (``cs_type`` is ``CS+``, ``CS-`` or ``diff``; ``group`` empty when the data have none;
  ``sem_within`` the Cousineau–Morey within-subject SEM the figures draw);
- ``participants_by_block.csv``: ``participant, group, phase, block, cs_type, mean``;
- ``curves_by_trial.csv``, ``participants_by_trial.csv``: the same by trial;
- ``*_after_exclusions.csv``: the group curves without excluded participants;
- ``indices.csv``: per participant (and test phase) return-of-fear, extinction index,
  recovery ratio, and the exclusion flags;
- ``summaries.csv``: multiverse phase summaries;
- ``exclusions.csv``: flag counts;
- ``questionnaire.csv`` (one row per questionnaire item asked), ``questionnaire_summary.csv``
  and ``awareness.csv`` (contingency awareness per participant) when the logs hold
  questionnaire rows (:mod:`pavlov.analysis.questionnaire`);
- ``anova.csv``: CS × block rm-ANOVA per phase (``sample`` = all / after_exclusions);
- ``index_tests.csv``: paired tests of extinction and return of fear (d_z, 95 % CI), and
  ``group_index_tests.csv`` between groups (Welch, Hedges' g) when groups exist;
- by CS role, when the data have more roles than CS types (CS+R/CS+NR ...):
  ``role_curves_by_{block,trial}.csv``, ``participant_role_curves_by_*.csv``,
  ``anova_roles.csv``, ``role_indices.csv``, ``role_contrasts.csv``, ``curves_by_role.png``;
- ``mixed_model.csv`` (with ``--mixed-model``/``--mixed-across``, :mod:`pavlov.analysis.mixed`),
  ``group_comparison.csv`` (when groups exist);
- ``model_fits.csv``: ``participant, model, parameters..., loglik, bic, at_bound``; fitted to
  unreinforced trials' SCR and to every trial's rating unless ``--fit-trials`` says otherwise;
  with ``--fit hierarchical`` also the hierarchical rows (``fit`` column ``ml``/``hierarchical``:
  posterior means with 94 % HDIs), and ``group_posteriors.csv``, ``model_comparison.csv``
  (PSIS-LOO), ``model_diagnostics.csv`` (R-hat, ESS, divergences) and
  ``posterior_predictive.png``/``.svg`` (:mod:`pavlov.analysis.hierarchical`);
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

import numpy as np
import pandas as pd

from pavlov.analysis.errors import AnalysisError
from pavlov.analysis.frame import python_strings
from pavlov.common.argtypes import (
    file_name,
    finite_float,
    nonnegative_float,
    positive_float,
    positive_int,
    seed,
)
from pavlov.common.bids import pavlov_version


def register(subparsers) -> None:
    """Add the ``analyze`` subcommand to ``pavlov``'s subparsers."""
    parser = subparsers.add_parser(
        "analyze",
        help="learning curves, indices, statistics, model fits and a report from logs or a table",
        description=(
            "Analyse pavlov session logs (an events file, a participant or data folder) or "
            "another tool's trial table (CSV/TSV: participant, phase, trial, cs_type, us, "
            "response[, session, group, block, cs]). The optional cs column names the CS "
            "role (CS+R, CS+NR, CS+1 ..., starting with its cs_type); with more roles than "
            "CS types, curves, indices, rm-ANOVA and contrasts are also given per role."
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
        help="flags that exclude: us_nonresponder, nonlearner, missing, unaware (a wrong "
        "answer to a questionnaire's contingency-awareness item) (us_nonresponder)",
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
    stats_group = parser.add_argument_group("statistics and model fits")
    stats_group.add_argument(
        "--mixed-model",
        action="store_true",
        help="also fit trial-level linear mixed models per phase (y ~ cs * trial, random "
        "intercept and CS slope per participant, Satterthwaite df; off by default: slower)",
    )
    stats_group.add_argument(
        "--mixed-across",
        nargs="+",
        metavar="PHASE",
        help="one CS × phase mixed model over these phases (e.g. extinction and test, for "
        "return of fear), or 'all'; implies --mixed-model",
    )
    stats_group.add_argument(
        "--mixed-ends",
        type=positive_int,
        metavar="K",
        help="with --mixed-across: only the last K trials per CS of each phase but the last "
        "and the first K of the last phase (return of fear: end of extinction vs start of "
        "the test); default: whole phases",
    )
    stats_group.add_argument(
        "--fit-trials",
        choices=("auto", "all", "unreinforced"),
        default="auto",
        help="trials whose response the learning models fit (the models learn from every "
        "trial): auto = unreinforced for scr (the US response contaminates it), all for "
        "ratings (given before the outcome); --exclude-reinforced means unreinforced (auto)",
    )
    stats_group.add_argument(
        "--rating-scale",
        nargs=2,
        type=finite_float,
        metavar=("LOW", "HIGH"),
        help="ends of the rating scale (default: a pavlov log's own scale; tables: 0 1 when "
        "ratings lie in 0-1, else the observed min and max)",
    )
    stats_group.add_argument(
        "--rating-model",
        choices=("linear", "identity"),
        default="linear",
        help="ratings' observation model: linear = b0 + b1*V + noise (as for SCR), identity "
        "= V + noise on the rescaled rating (linear)",
    )
    scr_group = parser.add_argument_group(
        "SCR scoring", "how skin conductance recordings are scored (not used for tables)"
    )
    scr_group.add_argument(
        "--scr-method",
        choices=("ttp", "baseline"),
        default="ttp",
        help="ttp: trough-to-peak with the trough in the window (EzySCR, Boucsein 2012); "
        "baseline: peak in 0.5-4.5 s minus the 2-s pre-CS mean (LaBar 1998) (ttp)",
    )
    scr_group.add_argument(
        "--scr-window",
        type=scr_window,
        default="fir",
        metavar="fir|sir|tir|START,END",
        help="latency window of the response onset: first (1-4 s), second (4 s to CS "
        "offset + 1 s; to the US onset + 1 s after a trace gap) or third interval, or "
        "seconds after CS onset (fir)",
    )
    scr_group.add_argument(
        "--scr-transform",
        type=scr_transform,
        default=None,
        metavar="STEPS",
        help="none, or steps joined by commas from sqrt, log, range, us (e.g. sqrt,us); "
        "default for scored SCR: sqrt,us when every participant has US responses, else "
        "sqrt (Lonsdorf et al. 2017; Boucsein et al. 2012); tables: none unless given",
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
    parser.add_argument(
        "--codes",
        type=file_name,
        metavar="FILE",
        help="a blinded study's code list (CSV: participant, code, arm); with --unblind its "
        "arms become the groups compared",
    )
    parser.add_argument(
        "--unblind",
        action="store_true",
        help="read the --codes list's arm column: each listed participant's group is its arm",
    )
    from pavlov.analysis.paradigm_report import register_options

    register_options(parser)
    parser.set_defaults(func=run_analyze)


def unblind(frame: pd.DataFrame, arms: dict[str, str]) -> pd.DataFrame:
    """``frame`` with each listed participant's ``group`` set to its arm (a blinded study's
    code list, read to unblind); other participants keep theirs."""
    if not arms or "group" not in frame.columns:
        return frame
    from pavlov.common.bids import LabelError
    from pavlov.protocols.arms import participant_key

    def key(participant: str) -> str:
        try:
            return participant_key(participant)
        except LabelError:  # a trial table's own ID: matched as written
            return participant

    out = frame.copy()
    was = out["group"]
    labels = out["participant"].astype(str)
    # The list's 1 is the data's 01 (participant_key): matched once per participant.
    by_key = {key(p): arm for p, arm in arms.items()}
    found = {p: by_key.get(key(p)) for p in labels.unique()}
    group = labels.map(found).fillna(was.astype(str))
    out["group"] = group.astype("category") if isinstance(was.dtype, pd.CategoricalDtype) else group
    return out


def _check_blinded_codes(data: Path, listed, codes_path: str) -> None:
    """Every participant ``participants.tsv`` records as blinded must be in the code list,
    with the kit code recorded at the run: else the unblinded groups would be wrong (a
    participant left with no group, or given another kit's arm) without a word."""
    from pavlov.analysis.load import find_participants_tsv

    tsv = find_participants_tsv(data)
    if tsv is None:
        return
    table = pd.read_csv(tsv, sep="\t", dtype=str, keep_default_na=False)
    if "arm" not in table.columns or "participant_id" not in table.columns:
        return
    for _, row in table[table["arm"] == "blinded"].iterrows():
        participant = str(row["participant_id"]).removeprefix("sub-")
        code = listed.get(participant)
        if code is None:
            raise AnalysisError(
                f"--codes {codes_path}: expected a row for sub-{participant} (blinded in "
                f"{tsv}), got none"
            )
        recorded = str(row.get("code", "") or "")
        if recorded not in ("", "n/a") and recorded != code.code:
            raise AnalysisError(
                f"--codes {codes_path}:{code.line}: code: expected {recorded} (sub-"
                f"{participant}'s kit code in {tsv}), got {code.code}"
            )


def _check_phases(option: str, names, trials: pd.DataFrame) -> None:
    """Every phase an option names must be in the data (a typo used to select nothing)."""
    from pavlov.common.errors import suggest

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
    python_strings()
    if args.workers is None and args.scheduler is None:
        return _analyze(args, None)
    if args.workers is not None and args.scheduler is not None:
        raise AnalysisError("--workers: a local cluster, or --scheduler: an existing one; not both")
    from pavlov.analysis.distributed import cluster

    with cluster(args.workers, args.scheduler) as client:
        return _analyze(args, client)


def _analyze(args: argparse.Namespace, client) -> int:
    from pavlov.analysis import curves, exclusions, indices, load, provenance, report, stats
    from pavlov.analysis.frame import with_categorical_keys

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise AnalysisError(f"--out: expected a folder, got the file {out}")
    _check_hierarchical(args)
    physio = read_physio_option(args)
    scoring = scr_scoring(args)
    # DATA's events logs, found once for every reader below (None for a trial table)
    logs = None if load.is_trial_table(args.data) or args.columns else load.find_logs(args.data)
    # one pass over the logs: each events file is read once for trials and ratings
    try:
        if client is not None and physio is None and not args.columns:
            from pavlov.analysis import distributed

            trials, ratings = distributed.load_study(
                args.data, out, client, args.response_name, scoring=scoring
            )
        else:
            trials, ratings = load.load_study(
                args.data,
                response_name=args.response_name,
                physio=physio,
                scoring=scoring,
                columns=args.columns,
                logs=logs,
            )
    except load.NoTrialsError:
        if load.is_trial_table(args.data):
            raise
        # no CS trial anywhere (a questionnaire-only follow-up day): what the logs hold
        return _without_any_trials(args, out)
    # A participant whose logs hold no CS trial (a run aborted before its first trial, a
    # questionnaire-only session) has nothing to analyse, but must not vanish unnoticed.
    unanalysed = _without_trials(args.data, trials, logs)
    arms: dict[str, str] = {}  # participant -> arm, from an unblinded code list
    if args.unblind or args.codes:
        if not (args.unblind and args.codes):
            raise AnalysisError("--unblind: expected --codes FILE and --unblind together")
        from pavlov.protocols.arms import read_codes

        listed = read_codes(args.codes, unblind=True)
        _check_blinded_codes(Path(args.data), listed, args.codes)
        arms = {p: c.arm for p, c in listed.items() if c.arm}
        trials, ratings = unblind(trials, arms), unblind(ratings, arms)
    trials, scr_chain = transform_scr(trials, args, scored=not load.is_trial_table(args.data))
    from pavlov.analysis import paradigm_report

    # startle probes, if any: scored, and their T-scores in the trials' startle column
    trials, probes, startle_notes = paradigm_report.read_probes(
        args, trials, table=load.is_trial_table(args.data), logs=logs
    )
    if probes is not None:
        # The probes read their groups from participants.tsv, where a blinded one is n/a.
        probes = unblind(probes, arms)
    # generalisation stimuli have their own analysis (gradient.csv), never pooled with CS−
    everything, trials = trials, curves.conditioning_trials(trials)
    trials = with_categorical_keys(trials)  # grouped dozens of times below
    response = args.response or curves.choose_response(trials)
    curves.check_response(trials, response)
    check_stats_options(args, trials)
    if args.fit == "hierarchical":  # before the first output is written
        from pavlov.analysis.hierarchical import check_data

        check_data(
            trials,
            response,
            exclude_reinforced=True if args.exclude_reinforced else None,
            models=args.models,
            chains=args.chains,
            draws=args.draws,
        )
    fitting = _start_fit(trials, response, args, client)  # fitted while the rest is computed
    sessions = load.load_sessions(args.data, logs)
    protocol = _load_protocol(args.protocol)
    recorded = provenance.recorded_protocols(sessions)
    protocol_sections, protocol_notes = provenance.protocol_sections(
        recorded,
        sessions,
        override=protocol,
        override_path=args.protocol or "",
    )
    from pavlov.analysis import questionnaire

    answers = (
        questionnaire.load_questionnaire(args.data, recorded, sessions, logs)
        if not load.is_trial_table(args.data)
        else pd.DataFrame(columns=list(questionnaire.QUESTIONNAIRE_COLUMNS))
    )
    answers = unblind(answers, arms)  # as the probes: groups read from participants.tsv
    awareness = questionnaire.classify_awareness(answers)
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
        awareness=awareness,
    )
    keep = exclusions.included(flags)
    counts = exclusions.exclusion_counts(flags)
    _make_folder(out)
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
    questionnaire_tables = []
    if len(answers):
        summary = questionnaire.summarise_items(answers)
        save(answers, "questionnaire.csv")
        save(summary, "questionnaire_summary.csv")
        questionnaire_tables.append(("Questionnaire items (answers over participants)", summary))
    if len(awareness):
        save(awareness, "awareness.csv")
        shown = awareness.assign(aware=awareness["aware"].astype(object).fillna("unknown"))
        questionnaire_tables.append(
            (
                "Contingency awareness (aware: the CS+ picture chosen and the CS+ expected most in every awareness item)",
                shown.groupby(["group", "aware"], sort=False).size().reset_index(name="n"),
            )
        )

    notes = list(protocol_notes) + startle_notes
    if unanalysed:
        notes.append(
            f"{len(unanalysed)} participant(s) with logs but no CS trial are not analysed: "
            f"{', '.join(unanalysed)}."
        )
    role_tables, role_figure = _roles(trials, response, args, select, keep, save, notes)
    extras = []  # startle and generalisation: tables, figures, options, notes
    if probes is not None:
        extras.append(paradigm_report.startle_outputs(probes, args, save, out, written))
    if len(everything) > len(trials):
        extras.append(
            paradigm_report.gradient_outputs(
                everything, response, select, args, save, out, written, keep=keep
            )
        )
    for extra in extras:
        notes += extra.notes
    inference_tables = _inference(index, save)
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
    if args.mixed_model or args.mixed_across:
        mixed = _mixed_models(trials, response, select, args.mixed_across, args.mixed_ends, notes)
        save(mixed, "mixed_model.csv")
    groups = stats.group_by_phase(trials, response, **select)
    if len(groups):
        save(groups, "group_comparison.csv")
    # The curve figures are drawn while the model fits run in their own processes (they
    # do not depend on the fits): the main process's work then overlaps theirs instead of
    # starting after them. The report lists them in the same order as before.
    curve_figures, later_figures = [], []
    if not args.no_figures:
        from pavlov.analysis.figures import phase_marks, plot_curves, save_figure

        per, group, kept = tables["block"]
        marks = phase_marks(trials, [r.protocol for r in recorded], protocol)
        written += save_figure(
            plot_curves(group, response, per, marks=marks), out / "curves", dpi=args.dpi
        )
        curve_figures.append(
            (
                f"{response} by block: group mean ± within-subject SEM (Cousineau–Morey) for "
                "CS+ and CS−; CS+ − CS− below (± SEM of the difference)",
                "curves.png",
            )
        )
        if role_figure is not None:
            written += save_figure(
                plot_curves(role_figure, response, marks=marks),
                out / "curves_by_role",
                dpi=args.dpi,
            )
            curve_figures.append(
                (
                    f"{response} by block and CS role: group mean ± within-subject SEM "
                    "(Cousineau–Morey); each CS+ role minus CS− below (dashed)",
                    "curves_by_role.png",
                )
            )
        if len(keep) < trials["participant"].nunique() and len(kept):
            written += save_figure(
                plot_curves(kept, response, per[per["participant"].isin(keep)], marks=marks),
                out / "curves_after_exclusions",
                dpi=args.dpi,
            )
            later_figures.append(("The same after exclusions", "curves_after_exclusions.png"))
        if args.participant_figures:
            from pavlov.analysis.figures import save_participant_figures

            written += save_participant_figures(per, response, out / "figures")
    fits = _fit(fitting, response, args, notes)
    extra_sections = []
    bayes = _fit_hierarchical(trials, response, args, fits, out, save, written, notes)
    if fits is not None:
        save(fits if bayes is None else bayes.table, "model_fits.csv")
        if args.regressors != "none":
            chosen = fits if bayes is None else bayes.result.fits
            lines = _write_regressors(trials, chosen, sessions, out, args.regressors, written)
            if lines:
                extra_sections.append(("fMRI parametric regressors", lines))

    figures = list(curve_figures)
    if not args.no_figures:
        if bayes is not None:
            figures.append(bayes.figure(out, written))
        for extra in extras:
            figures += extra.figures
        figures += later_figures

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
        "unaware": "another picture than the CS+ chosen, or a CS− expected as much as the CS+, in a contingency-awareness item",
        "exclusion criteria": ", ".join(args.exclude) or "none",
        "models": ", ".join(args.models) or "none",
    }
    if bayes is not None:
        extra_sections.append(("Hierarchical Bayesian fit", bayes.methods()))
    if trials["scr"].notna().any() and not load.is_trial_table(args.data):
        source = args.physio or "each run's *_recording-scr_physio.tsv.gz"
        options["SCR"] = f"scored from {source}: {describe_scoring(args, load.SCR_SCORING)}"
    if scr_chain is not None:
        options["SCR transform"] = scr_chain
    for extra in extras:
        options.update(extra.options)
    fit_rule = fit_selection(response, args)
    options["model fits use"] = (
        f"{fit_rule} trials' {response} (the models learn from every trial); "
        + (
            "SCR convention: the US response contaminates reinforced trials"
            if response == "scr" and args.fit_trials == "auto"
            else "ratings convention: given before the outcome"
            if args.fit_trials == "auto"
            else "as chosen with --fit-trials"
        )
    )
    if response == "rating":
        options["rating observation model"] = (
            "b0 + b1·V + noise (linear)"
            if args.rating_model == "linear"
            else "V + noise on the rating rescaled to 0-1 (identity)"
        )
    methods = report.describe_methods(
        trials,
        sessions=sessions,
        ratings=ratings,
        options=options,
        counts=counts,
        protocol_sections=protocol_sections,
        extra=extra_sections,
    )
    index_summary = index_table(index)
    result_tables = [
        ("rm-ANOVA, CS × block, per phase (Greenhouse–Geisser)", _no_small_p(anova, notes)),
        (INDEX_TITLE, index_summary),
        *inference_tables,
        *role_tables,
        *(table for extra in extras for table in extra.tables),
        *questionnaire_tables,
        ("Exclusion counts", counts),
    ]
    if mixed is not None:
        result_tables.insert(1, (MIXED_TITLE, _no_small_mixed_p(mixed, notes)))
    if len(groups):
        result_tables.append(("Group × CS per phase", _no_small_group_p(groups, trials, notes)))
    if fits is not None:
        result_tables += fit_tables(fits, notes)
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
    missing = f" ({len(unanalysed)} with no CS trial not analysed: {', '.join(unanalysed)})"
    print(
        f"{trials['participant'].nunique()} participants{missing if unanalysed else ''}, "
        f"{len(trials)} trials, response {response}, "
        f"{int((~flags['excluded']).sum())} kept after exclusions; "
        f"wrote {len(written)} files to {out}"
    )
    return 0


def _without_any_trials(args: argparse.Namespace, out: Path) -> int:
    """``pavlov analyze`` of logs without a CS trial (a questionnaire-only follow-up day):
    the questionnaire outputs and a report that says there are no trials; exit 0."""
    from pavlov.analysis import load, provenance, questionnaire, report

    sessions = load.load_sessions(args.data)
    protocol = _load_protocol(args.protocol)
    recorded = provenance.recorded_protocols(sessions)
    answers = questionnaire.load_questionnaire(args.data, recorded, sessions)
    if args.unblind or args.codes:
        if not (args.unblind and args.codes):
            raise AnalysisError("--unblind: expected --codes FILE and --unblind together")
        from pavlov.protocols.arms import read_codes

        listed = read_codes(args.codes, unblind=True)
        _check_blinded_codes(Path(args.data), listed, args.codes)
        answers = unblind(answers, {p: c.arm for p, c in listed.items() if c.arm})
    awareness = questionnaire.classify_awareness(answers)
    _make_folder(out)
    written = []
    tables = []
    if len(answers):
        summary = questionnaire.summarise_items(answers)
        written.append(report.write_csv(answers, out / "questionnaire.csv"))
        written.append(report.write_csv(summary, out / "questionnaire_summary.csv"))
        tables.append(("Questionnaire items (answers over participants)", summary))
    if len(awareness):
        written.append(report.write_csv(awareness, out / "awareness.csv"))
        shown = awareness.assign(aware=awareness["aware"].astype(object).fillna("unknown"))
        tables.append(
            (
                "Contingency awareness (aware: the CS+ picture chosen and the CS+ expected most in every awareness item)",
                shown.groupby(["group", "aware"], sort=False).size().reset_index(name="n"),
            )
        )
    logged = sorted({log.participant for log in load.find_logs(args.data)})
    note = (
        f"The logs hold no CS trial (trial_type 'cs' rows): no conditioning analysis. "
        f"{len(logged)} participant(s) logged: {', '.join(logged)}; "
        f"{len(answers)} questionnaire answer(s)."
    )
    html = report.render_report(
        report.report_title(sessions, protocol, args.data),
        [("Data", [note])],
        tables=tables,
        notes=[note],
    )
    written.append(report.write_text(out / "report.html", html))
    print(
        f"{len(logged)} participants, no CS trials (no conditioning analysis), "
        f"{len(answers)} questionnaire answers; wrote {len(written)} files to {out}"
    )
    return 0


def _without_trials(data: str | Path, trials: pd.DataFrame, logs=None) -> list[str]:
    """Participants with events logs under ``data`` (``logs``, when found already) but no
    trial in ``trials``."""
    from pavlov.analysis import load

    if load.is_trial_table(data):
        return []
    logged = {log.participant for log in (load.find_logs(data) if logs is None else logs)}
    return sorted(logged - set(trials["participant"].astype(str)))


def scr_window(text: str):
    """``--scr-window``: ``fir``/``sir``/``tir`` or ``START,END`` seconds (START < END)."""
    name = text.strip().lower()
    if name in ("fir", "sir", "tir"):
        return name
    parts = text.split(",")
    try:
        start, end = (float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected fir, sir, tir or START,END seconds, got {text!r}"
        ) from None
    if not (np.isfinite(start) and np.isfinite(end) and 0 <= start < end):
        raise argparse.ArgumentTypeError(f"expected 0 <= START < END seconds, got {text!r}")
    return (start, end)


#: ``--scr-transform`` step names and the :func:`pavlov.analysis.scr.transform` steps.
SCR_TRANSFORM_STEPS = {"sqrt": "sqrt", "log": "log1p", "range": "range", "us": "us"}


def scr_transform(text: str) -> tuple[str, ...]:
    """``--scr-transform``: ``none`` or comma-joined steps from :data:`SCR_TRANSFORM_STEPS`."""
    if text.strip().lower() == "none":
        return ()
    steps = [p.strip().lower() for p in text.split(",")]
    for step in steps:
        if step not in SCR_TRANSFORM_STEPS:
            raise argparse.ArgumentTypeError(
                f"expected none or steps from {', '.join(SCR_TRANSFORM_STEPS)} joined by "
                f"commas, got {step!r}"
            )
    if len(set(steps)) < len(steps):
        raise argparse.ArgumentTypeError(f"expected each step once, got {text!r}")
    return tuple(steps)


def check_stats_options(args: argparse.Namespace, trials: pd.DataFrame) -> None:
    """Refuse option values that only the data can judge, before anything is written."""
    if args.rating_scale is not None:
        low, high = args.rating_scale
        if not low < high:
            raise AnalysisError(f"--rating-scale: expected LOW < HIGH, got {low:g} {high:g}")
        values = trials["rating"].dropna() if "rating" in trials.columns else pd.Series()
        if len(values) and (values.min() < low or values.max() > high):
            raise AnalysisError(
                f"--rating-scale {low:g} {high:g}: expected every rating inside it, got "
                f"{values.min():g}-{values.max():g}"
            )
    if args.mixed_ends is not None and not args.mixed_across:
        raise AnalysisError("--mixed-ends: only used with --mixed-across PHASE PHASE ...")
    if args.mixed_across:
        known = list(pd.unique(trials["phase"]))
        if "all" in args.mixed_across and len(args.mixed_across) > 1:
            raise AnalysisError("--mixed-across: expected 'all' alone or phase names")
        for phase in args.mixed_across:
            if phase != "all" and phase not in known:
                from pavlov.common.errors import suggest

                close = suggest(phase, known)
                hint = f". Did you mean '{close}'?" if close else ""
                raise AnalysisError(
                    f"--mixed-across: expected phases from {', '.join(known)} or all, "
                    f"got {phase!r}{hint}"
                )
        if args.mixed_across != ["all"] and len(set(args.mixed_across)) < 2:
            raise AnalysisError("--mixed-across: expected 2 or more different phases, or all")


def scr_scoring(args: argparse.Namespace) -> dict:
    """Keyword arguments for :func:`pavlov.analysis.scr.score_events` from the options."""
    window = args.scr_window
    if args.scr_method == "baseline":
        if isinstance(window, str) and window != "fir":
            raise AnalysisError(
                f"--scr-window {window}: baseline-to-peak scores a peak in 0.5-4.5 s after CS "
                "onset; give START,END seconds or use --scr-method ttp"
            )
        return {"method": "btp", "window": window if not isinstance(window, str) else "FIR"}
    return {"method": "ttp", "window": window.upper() if isinstance(window, str) else window}


def describe_scoring(args: argparse.Namespace, default: str) -> str:
    """The SCR scoring in words for the report's methods."""
    window = args.scr_window
    if args.scr_method == "ttp" and window == "fir":
        return default
    if isinstance(window, str):
        span = {
            "fir": "first interval (1–4 s after CS onset)",
            "sir": "second interval (4 s to CS offset + 1 s)",
            "tir": "third interval (CS offset + 1 s to + 4 s)",
        }[window]
    else:
        span = f"{window[0]:g}–{window[1]:g} s after CS onset"
    if args.scr_method == "baseline":
        if isinstance(window, str):
            span = "0.5–4.5 s after CS onset"
        return (
            f"baseline-to-peak (LaBar 1998 / Schiller 2010): the maximum in {span} minus the "
            "mean of the 2 s before CS onset, scores < 0.02 µS set to 0, after a 5-Hz "
            "first-order zero-phase low-pass; PsPM quality control as for trough-to-peak"
        )
    return default.replace("the first interval response window (1–4 s after CS onset", span)


def transform_scr(trials: pd.DataFrame, args: argparse.Namespace, *, scored: bool):
    """Apply ``--scr-transform`` (or its default) to the ``scr`` column, per participant.

    Returns the trials and the transform chain in words (None when SCR is untouched).
    """
    from pavlov.analysis.scr import SCRError, transform

    has_scr = "scr" in trials.columns and trials["scr"].notna().any()
    steps = args.scr_transform
    if steps is None:
        if not (scored and has_scr):
            return trials, None if not has_scr else "none (the table's values as given)"
        # Lonsdorf et al. 2017 / Boucsein et al. 2012: square root against the skew, then
        # range correction by the participant's mean US response where everyone has one
        us = trials["us_scr"].where(trials["reinforced"].astype(bool))
        with_scr = trials.loc[trials["scr"].notna(), "participant"].unique()
        mean_us = us.groupby(trials["participant"]).mean().reindex(with_scr)
        steps = ("sqrt", "us") if len(mean_us) and (mean_us > 0).all() else ("sqrt",)
    if not steps:
        return trials, "none" if has_scr else None
    if not has_scr:
        raise AnalysisError("--scr-transform: expected SCR values to transform, got none")
    out = trials.copy()
    try:
        result = transform(
            out["scr"],
            [SCR_TRANSFORM_STEPS[s] for s in steps],
            groups=out["participant"],
            us=out["us_scr"].where(out["reinforced"].astype(bool)),
        )
    except SCRError as error:
        raise AnalysisError(f"--scr-transform {','.join(steps)}: {error}") from None
    out["scr"] = result.values.to_numpy()
    return out, "; ".join(result.chain) + (
        " (default: Lonsdorf et al. 2017; Boucsein et al. 2012)"
        if args.scr_transform is None
        else ""
    )


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
    files, notes = fmri.regressor_files(
        trials, fits, sessions, models=models, version=pavlov_version()
    )
    if which == "auto":
        files = [f for f in files if set(f.sidecar.get("Sources", [])) & scanned]
    written += fmri.write_regressor_files(out, files)
    return fmri.describe_regressors(files, fits, notes)


def _load_protocol(path: str | None):
    if path is None:
        return None
    from pavlov.protocols import load_protocol

    return load_protocol(path)


#: Report title of the index summary.
INDEX_TITLE = (
    "Indices over participants: extinction and return-of-fear index mean and SD; recovery "
    "ratio median and IQR (a ratio with D(last acquisition) near 0 in its denominator has "
    "no useful mean)"
)


def index_table(index: pd.DataFrame) -> pd.DataFrame:
    """Summary of the indices per test phase: n, mean and SD of the extinction and
    return-of-fear indices, median and IQR of the recovery ratio (all participants)."""
    rows = []
    for test, part in index.groupby("test_phase", sort=False):
        ratio = part["recovery_ratio"].dropna()
        rows.append(
            {
                "test_phase": test,
                "n": int(part["extinction_index"].notna().sum()),
                "extinction_index mean": part["extinction_index"].mean(),
                "extinction_index sd": part["extinction_index"].std(),
                "rof_index mean": part["rof_index"].mean(),
                "rof_index sd": part["rof_index"].std(),
                "recovery_ratio median": ratio.median() if len(ratio) else np.nan,
                "recovery_ratio IQR": (
                    ratio.quantile(0.75) - ratio.quantile(0.25) if len(ratio) else np.nan
                ),
            }
        )
    return pd.DataFrame(rows)


def _no_small_p(table: pd.DataFrame, notes: list) -> pd.DataFrame:
    """The report's copy of an ANOVA table: no p-values where n < 10 (with a warning)."""
    from pavlov.analysis.inference import MIN_N

    if table.empty or "n" not in table.columns:
        return table
    small = table["n"] < MIN_N
    if not small.any():
        return table
    shown = table.copy()
    shown.loc[small, ["F", "p_unc", "p_GG_corr"]] = np.nan
    phases = ", ".join(dict.fromkeys(shown.loc[small, "phase"].astype(str)))
    notes.append(
        f"Warning: fewer than {MIN_N} participants in a cell of the rm-ANOVA ({phases}): "
        "no F or p shown for those rows."
    )
    return shown


def _no_small_mixed_p(table: pd.DataFrame, notes: list) -> pd.DataFrame:
    """The report's copy of the mixed models: no p where fewer than 10 participants."""
    from pavlov.analysis.inference import MIN_N

    small = table["n_participants"] < MIN_N
    if not small.any():
        return table
    shown = table.copy()
    shown.loc[small, "p"] = np.nan
    phases = ", ".join(dict.fromkeys(shown.loc[small, "phase"].astype(str)))
    notes.append(
        f"Warning: fewer than {MIN_N} participants in the mixed model for {phases}: "
        "no p-values shown."
    )
    return shown


def _no_small_group_p(table: pd.DataFrame, trials: pd.DataFrame, notes: list) -> pd.DataFrame:
    """The report's copy of the group × CS tables: no p when a group has < 10 people."""
    from pavlov.analysis.inference import MIN_N

    sizes = trials[trials["group"] != ""].groupby("group")["participant"].nunique()
    if sizes.min() >= MIN_N:
        return table
    shown = table.copy()
    shown[["F", "p_unc", "p_GG_corr"]] = np.nan
    notes.append(
        f"Warning: fewer than {MIN_N} participants in a group ("
        + ", ".join(f"{g}: {n}" for g, n in sizes.items())
        + "): no F or p shown for the group comparisons."
    )
    return shown


def _roles(trials, response, args, select, keep, save, notes):
    """Curves, rm-ANOVA, indices and contrasts by CS role, when there are more roles
    than CS types; returns the report tables and the role curves for the figure."""
    from pavlov.analysis import curves, indices, inference, stats

    if not curves.has_roles(trials):
        return [], None
    figure = None
    for by in ("block", "trial"):
        per = curves.participant_curves(
            trials, response, by=by, block_size=args.block_size, level="cs", **select
        )
        group = curves.group_curves(per)
        save(group.drop(columns="phase_order"), f"role_curves_by_{by}.csv")
        save(
            per.drop(columns="phase_order").rename(columns={"value": "mean"}),
            f"participant_role_curves_by_{by}.csv",
        )
        if by == "block":
            figure = group
    anova = stats.anova_by_phase(trials, response, "block", args.block_size, level="cs", **select)
    save(anova, "anova_roles.csv")
    roles = indices.role_indices(
        trials,
        response,
        k=args.k,
        acquisition=args.acquisition,
        extinction=args.extinction,
        tests=args.test,
        exclude_reinforced=args.exclude_reinforced,
    )
    save(roles, "role_indices.csv")
    contrasts = inference.role_contrasts(roles[roles["participant"].isin(keep)])
    save(contrasts, "role_contrasts.csv")
    kept_roles = roles[roles["participant"].isin(keep)]
    summary = (
        kept_roles.groupby(["test_phase", "cs"], sort=False)[
            ["d_acquisition_last", "d_extinction_last", "d_test_first", "rof_index"]
        ]
        .agg(["count", "mean"])
        .reset_index()
    )
    summary.columns = [" ".join(c).strip() for c in summary.columns]
    return [
        (
            "Indices by CS+ role (each role minus CS−; participants after exclusions)",
            summary,
        ),
        ("rm-ANOVA, CS role × block, per phase (Greenhouse–Geisser)", _no_small_p(anova, notes)),
        (
            "CS+ roles compared (paired t-tests on each role's CS+ − CS− difference, "
            "participants after exclusions; d_z, 95 % CI)",
            contrasts,
        ),
    ], figure


def _inference(index: pd.DataFrame, save) -> list:
    """Paired tests of extinction and return of fear, and group comparisons."""
    from pavlov.analysis import inference

    kept = index[~index["excluded"].astype(bool)] if "excluded" in index else index
    tests = inference.index_tests(kept)
    save(tests, "index_tests.csv")
    out = [
        (
            "Extinction and return of fear (paired t-tests on D = CS+ − CS−, participants after "
            "exclusions; d_z, 95 % CI of the difference)",
            tests,
        )
    ]
    groups = inference.group_index_tests(kept)
    if len(groups):
        save(groups, "group_index_tests.csv")
        out.append(("Indices between groups (Welch t-tests; Hedges' g, 95 % CI)", groups))
    return out


def fit_tables(fits: pd.DataFrame, notes: list) -> list:
    """The model comparison (summed BIC), per-participant winners as counts, and
    estimates at the bounds."""
    usable = fits.dropna(subset=["bic"])
    summed = usable.groupby("model", sort=False)["bic"].sum()
    best = usable.loc[usable.groupby("participant")["bic"].idxmin(), "model"].value_counts()
    table = pd.DataFrame(
        {
            "model": summed.index,
            "summed BIC": summed.to_numpy(),
            "Δ summed BIC": (summed - summed.min()).to_numpy(),
            "participants": usable.groupby("model", sort=False).size().to_numpy(),
            "lowest BIC in (participants)": [int(best.get(m, 0)) for m in summed.index],
            "estimates at a bound": [
                int(usable.loc[usable["model"] == m, "at_bound"].sum()) for m in summed.index
            ],
        }
    )
    means = fits.drop(columns=["participant"]).groupby("model", sort=False)
    params = means.mean(numeric_only=True).drop(columns=["at_bound"], errors="ignore")
    bounded = table["estimates at a bound"].sum()
    if bounded:
        notes.append(
            f"{bounded} participant fits have a learning rate within 1e-3 of 0 or 1 "
            "(at_bound in model_fits.csv): those estimates are limits, not interior maxima."
        )
    return [
        (
            "Model comparison: summed BIC over participants (the result; lower is better); "
            "per-participant lowest BIC as counts only",
            table,
        ),
        ("Model fits (means over participants)", params.reset_index()),
    ]


#: Report title of the mixed-model table.
MIXED_TITLE = (
    "Linear mixed models (REML; t-tests with Satterthwaite df as lmerTest; random effects "
    "per participant as fitted)"
)


def _mixed_models(
    trials: pd.DataFrame, response: str, select: dict, across, ends, notes: list
) -> pd.DataFrame:
    from pavlov.analysis.curves import select_trials
    from pavlov.analysis.mixed import mixed_models

    data = select_trials(trials, **select)
    frame = mixed_models(data, response, across=across, ends=ends, notes=notes)
    for _, row in frame.drop_duplicates("phase").iterrows():
        if not row["converged"]:
            notes.append(
                f"Mixed model for {row['phase']} did not converge: estimates shown without "
                "p-values."
            )
    return frame


def fit_selection(response: str, args: argparse.Namespace) -> str:
    """Which trials' responses the learning models fit: ``all`` or ``unreinforced``."""
    if args.fit_trials != "auto":
        return args.fit_trials
    if args.exclude_reinforced or response == "scr":
        return "unreinforced"
    return "all"


def _make_folder(out: Path) -> None:
    """Create the output folder (and its parents), or fail in one line."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise AnalysisError(
            f"--out: cannot create the folder {out}: {error.strerror or error}"
        ) from None


def _start_fit(trials: pd.DataFrame, response: str, args: argparse.Namespace, client=None):
    """Start the learning-model fits; :func:`_fit` collects them. Locally they run in
    forked processes while the command computes the curves, statistics and figures
    (the same fits, at the same time as the rest rather than after it)."""
    if not args.models or response not in ("rating", "scr"):
        return None
    from pavlov.analysis.curves import select_trials
    from pavlov.analysis.fit import start_fits

    # The models learn from every trial; only the responses of the selected trials
    # enter the likelihood (the others are set missing, not dropped).
    drop_first = True if args.drop_first == [] else (args.drop_first or False)
    kept = select_trials(
        trials,
        exclude_reinforced=fit_selection(response, args) == "unreinforced",
        drop_first=drop_first,
    ).index
    masked = trials.copy()
    masked.loc[~masked.index.isin(kept), response] = np.nan
    scale = tuple(args.rating_scale) if args.rating_scale else None
    if client is not None:
        from pavlov.analysis import distributed

        return distributed.start_fits(
            client, masked, models=tuple(args.models), response=response,
            n_starts=args.n_starts, seed=args.seed, rating_scale=scale,
            rating_model=args.rating_model,
        ).result  # fmt: skip
    return start_fits(
        masked,
        models=tuple(args.models),
        response=response,
        n_starts=args.n_starts,
        seed=args.seed,
        rating_scale=scale,
        rating_model=args.rating_model,
    ).result


def _fit(fitting, response: str, args: argparse.Namespace, notes: list):
    """The fits that :func:`_start_fit` started (None when no model is fitted)."""
    if not args.models:
        return None
    if response not in ("rating", "scr"):
        notes.append(f"Models not fitted: they model 'rating' or 'scr', not '{response}'.")
        return None
    return fitting()


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
