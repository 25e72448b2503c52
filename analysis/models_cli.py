"""``pavlov recover``: parameter recovery of a learning model on a protocol's schedules.

::

    pavlov recover protocols/retrieval_extinction.yaml --model rw --participants 50 \\
        --response rating --seed 0 --out recovery.csv

prints the correlation between true and re-estimated values for each parameter (with
Spearman ρ, bias and RMSE) and, with ``--out``, writes the participant-level table
(``participant, parameter, true, estimated``) as CSV.

``--confusion`` does model recovery instead: it simulates from each of ``--models``
(default rw, rw2, hybrid), fits all of them to every simulated participant and prints how
often each model had the lowest BIC (rows: simulated model; ``--out`` writes that matrix).

``--fit hierarchical`` refits all simulated participants at once with the hierarchical
Bayesian model (:mod:`pavlov.analysis.hierarchical`; ``--chains``, ``--draws``, ``--warmup``):
the table adds each parameter's 94 % HDI coverage of the true values and its identifiability
(posterior contraction, prior–posterior overlap); with ``--confusion`` a participant's winner
is the model under which the participant's data are most probable given the group level
alone (leave-one-participant-out elpd, ``elpd_lopo``: the participant's parameters
integrated over the fitted population; :func:`~pavlov.analysis.hierarchical.participant_winners`).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from pavlov.analysis.fit import RESPONSES, FitError
from pavlov.analysis.models import MODELS
from pavlov.common.argtypes import positive_float, positive_int, seed

__all__ = ["register", "run_recover"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``recover`` subcommand to the ``pavlov`` command line."""
    parser = subparsers.add_parser(
        "recover",
        help="simulate a learning model on a protocol's schedules and refit it",
        description=(
            "Parameter recovery: sample true learning rates, simulate responses on every "
            "participant's actual schedule (all sessions in order), refit by maximum "
            "likelihood, and print r(true, estimated) per parameter."
        ),
    )
    parser.add_argument("protocol", metavar="PROTOCOL", help="protocol YAML file")
    parser.add_argument("--model", choices=tuple(MODELS), default="rw", help="default: rw")
    parser.add_argument(
        "--participants", type=positive_int, default=50, metavar="N", help="simulated participants"
    )
    parser.add_argument("--response", choices=RESPONSES, default="rating", help="default: rating")
    parser.add_argument(
        "--noise",
        type=positive_float,
        default=None,
        metavar="SD",
        help="response noise SD (default: 0.15 for ratings on a 0-1 scale, 0.4 for SCR)",
    )
    parser.add_argument(
        "--starts", type=positive_int, default=10, metavar="K", help="fitting starts"
    )
    parser.add_argument("--seed", type=seed, default=0, metavar="S", help="default: 0")
    parser.add_argument(
        "--out", metavar="FILE", help="write true vs estimated values (or the matrix) as CSV"
    )
    parser.add_argument(
        "--confusion",
        action="store_true",
        help="model recovery: simulate each of --models, fit all, count BIC winners",
    )
    parser.add_argument(
        "--models",
        nargs="+",
        choices=tuple(MODELS),
        default=list(MODELS),
        metavar="MODEL",
        help="models of the confusion matrix (default: rw rw2 hybrid)",
    )
    parser.add_argument(
        "--fit",
        choices=("ml", "hierarchical"),
        default="ml",
        help="refit by per-participant maximum likelihood (ml) or hierarchically (NumPyro "
        "NUTS; model recovery then by PSIS-LOO; needs pavlov[bayes])",
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
        help="--fit hierarchical: warm-up iterations (1000)",
    )
    parser.set_defaults(func=run_recover)


def run_recover(args: argparse.Namespace) -> int:
    """Run ``pavlov recover``; return the exit status."""
    from pavlov.analysis.recovery import recover, recovery_summary
    from pavlov.protocols import load_protocol

    if args.participants < 3:
        raise FitError(f"--participants: expected a whole number >= 3, got {args.participants}")
    if args.starts < 1:
        raise FitError(f"--starts: expected a whole number >= 1, got {args.starts}")
    if args.out and not Path(args.out).resolve().parent.is_dir():
        raise FitError(f"--out: expected a file in an existing folder, got {args.out!r}")
    if _hierarchical_options(args):
        protocol = load_protocol(args.protocol)
        return _run_hierarchical(args, protocol)
    protocol = load_protocol(args.protocol)
    if args.confusion:
        return _run_confusion(args, protocol)
    recovered = recover(
        protocol,
        model=args.model,
        n_participants=args.participants,
        noise=args.noise,
        response=args.response,
        seed=args.seed,
        n_starts=args.starts,
    )
    summary = recovery_summary(recovered)
    attrs = recovered.attrs
    print(
        f"{Path(args.protocol).name}: model {args.model}, {args.response} "
        f"(noise SD {attrs['noise']:g}), {args.participants} participants x "
        f"{attrs['n_trials']} trials, seed {args.seed}"
    )
    print(f"{'parameter':<12} {'r':>6} {'rho':>6} {'bias':>7} {'rmse':>6}")
    for row in summary.itertuples(index=False):
        print(f"{row.parameter:<12} {row.r:6.3f} {row.rho:6.3f} {row.bias:7.3f} {row.rmse:6.3f}")
    if args.out:
        _write_csv(Path(args.out), recovered)
        print(f"wrote {args.out}")
    sys.stdout.flush()
    return 0


def _run_confusion(args: argparse.Namespace, protocol) -> int:
    from pavlov.analysis.recovery import model_confusion

    matrix = model_confusion(
        protocol,
        models=args.models,
        n_participants=args.participants,
        noise=args.noise,
        response=args.response,
        seed=args.seed,
        n_starts=args.starts,
    )
    attrs = matrix.attrs
    models = list(dict.fromkeys(args.models))
    print(
        f"{Path(args.protocol).name}: model recovery, {args.response} (noise SD "
        f"{attrs['noise']:g}), {args.participants} participants x {attrs['n_trials']} trials "
        f"per simulated model, seed {args.seed}"
    )
    print("lowest-BIC wins (rows: simulated model, columns: fitted model)")
    print(f"{'simulated':<10}" + "".join(f"{m:>8}" for m in models) + f"{'recovered':>11}")
    for row in matrix.itertuples(index=False):
        counts = "".join(f"{getattr(row, m):>8d}" for m in models)
        print(f"{row.simulated:<10}{counts}{row.recovered:>11.0%}")
    if args.out:
        _write_csv(Path(args.out), matrix)
        print(f"wrote {args.out}")
    sys.stdout.flush()
    return 0


def _hierarchical_options(args: argparse.Namespace) -> bool:
    """Check the sampler options (one line, exit 2); True for ``--fit hierarchical``."""
    sampler = {"--chains": args.chains, "--draws": args.draws, "--warmup": args.warmup}
    if args.fit != "hierarchical":
        for flag, value in sampler.items():
            if value is not None:
                raise FitError(f"{flag}: only used with --fit hierarchical, got --fit {args.fit}")
        return False
    from pavlov.analysis.hierarchical import check_sampling, require

    require()
    args.chains = 4 if args.chains is None else args.chains
    args.draws = 1000 if args.draws is None else args.draws
    args.warmup = 1000 if args.warmup is None else args.warmup
    check_sampling(args.chains, args.draws, args.warmup, args.seed)
    return True


def _run_hierarchical(args: argparse.Namespace, protocol) -> int:
    from pavlov.analysis.hierarchical import confusion_hierarchical, recover_hierarchical
    from pavlov.analysis.recovery import recovery_summary

    sampler = dict(chains=args.chains, draws=args.draws, warmup=args.warmup)
    common = dict(
        n_participants=args.participants, noise=args.noise, response=args.response, seed=args.seed
    )
    setting = f"{args.chains} chains x {args.draws} draws ({args.warmup} warm-up)"
    if args.confusion:
        models = list(dict.fromkeys(args.models))
        matrix = confusion_hierarchical(protocol, models=models, **common, **sampler)
        attrs = matrix.attrs
        print(
            f"{Path(args.protocol).name}: model recovery, hierarchical fits, {args.response} "
            f"(noise SD {attrs['noise']:g}), {args.participants} participants x "
            f"{attrs['n_trials']} trials per simulated model, {setting}, seed {args.seed}"
        )
        print("highest leave-one-participant-out elpd wins (rows: simulated, columns: fitted)")
        print(
            f"{'simulated':<10}"
            + "".join(f"{m:>8}" for m in models)
            + f"{'recovered':>11}  sample winner"
        )
        for row in matrix.itertuples(index=False):
            counts = "".join(f"{getattr(row, m):>8d}" for m in models)
            flag = f"  (flagged: {row.flagged})" if row.flagged else ""
            print(f"{row.simulated:<10}{counts}{row.recovered:>11.0%}  {row.sample_winner}{flag}")
        for row in matrix.itertuples(index=False):  # the numbers behind every flag
            print(f"diagnostics, {row.simulated}-generated sample: {row.diagnostics}")
        if args.out:
            _write_csv(Path(args.out), matrix)
            print(f"wrote {args.out}")
        sys.stdout.flush()
        return 0
    recovered, result = recover_hierarchical(protocol, model=args.model, **common, **sampler)
    summary = recovery_summary(recovered)
    coverage = recovered.groupby("parameter", sort=False)["covered"].mean()
    overlap = result.group[result.group["quantity"] == "mean"].set_index("parameter")
    attrs = recovered.attrs
    print(
        f"{Path(args.protocol).name}: model {args.model}, hierarchical fit, {args.response} "
        f"(noise SD {attrs['noise']:g}), {args.participants} participants x "
        f"{attrs['n_trials']} trials, {setting}, seed {args.seed}"
    )
    print(
        f"{'parameter':<12} {'r':>6} {'rho':>6} {'bias':>7} {'rmse':>6} {'in HDI':>7} "
        f"{'contraction':>12} {'overlap':>8}"
    )
    for row in summary.itertuples(index=False):
        print(
            f"{row.parameter:<12} {row.r:6.3f} {row.rho:6.3f} {row.bias:7.3f} {row.rmse:6.3f} "
            f"{coverage[row.parameter]:7.0%} {overlap.loc[row.parameter, 'contraction']:12.2f} "
            f"{overlap.loc[row.parameter, 'overlap']:8.2f}"
        )
    print(
        "contraction: 1 - posterior/prior variance of a participant's rate (0 = learned "
        "nothing); overlap: prior-posterior density overlap (1 = posterior is the prior)"
    )
    for d in result.diagnostics.values():
        verdict = "FLAGGED: " + "; ".join(d.problems) if d.flagged else "passed"
        print(
            f"diagnostics: max R-hat {d.max_rhat:.3f}, min bulk ESS {d.min_ess_bulk:.0f}, "
            f"{d.divergences} divergences, {d.seconds:.0f} s sampling: {verdict}"
        )
    if args.out:
        _write_csv(Path(args.out), recovered)
        print(f"wrote {args.out}")
    sys.stdout.flush()
    return 0


def _write_csv(path: Path, frame) -> None:
    """Write ``frame`` to ``path`` through a temporary file, so a failure leaves nothing."""
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        from pavlov.analysis.report import umask_mode

        os.fchmod(handle, umask_mode())  # mkstemp's 0600 would hide it from colleagues
        with os.fdopen(handle, "w", newline="") as out:
            frame.to_csv(out, index=False, float_format="%.6g")
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
