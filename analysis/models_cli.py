"""``pavlov recover``: parameter recovery of a learning model on a protocol's schedules.

::

    pavlov recover protocols/retrieval_extinction.yaml --model rw --participants 50 \\
        --response rating --seed 0 --out recovery.csv

prints the correlation between true and re-estimated values for each parameter (with
Spearman ρ, bias and RMSE) and, with ``--out``, writes the participant-level table
(``participant, parameter, true, estimated``) as CSV.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from pavlov.analysis.fit import RESPONSES, FitError
from pavlov.analysis.models import MODELS

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
        "--participants", type=int, default=50, metavar="N", help="simulated participants"
    )
    parser.add_argument("--response", choices=RESPONSES, default="rating", help="default: rating")
    parser.add_argument(
        "--noise",
        type=float,
        default=None,
        metavar="SD",
        help="response noise SD (default: 0.15 for ratings on a 0-1 scale, 0.4 for SCR)",
    )
    parser.add_argument("--starts", type=int, default=10, metavar="K", help="fitting starts")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="default: 0")
    parser.add_argument("--out", metavar="FILE", help="write true vs estimated values (CSV)")
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
    protocol = load_protocol(args.protocol)
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


def _write_csv(path: Path, frame) -> None:
    """Write ``frame`` to ``path`` through a temporary file, so a failure leaves nothing."""
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", newline="") as out:
            frame.to_csv(out, index=False, float_format="%.6g")
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
