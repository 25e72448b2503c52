"""``pavlov physio import RECORDING --events EVENTS``: a recorder's file into the session, aligned.

Reads a BIOPAC ``.acq``, BrainVision ``.vhdr``, LabRecorder ``.xdf`` or ``.csv`` recording,
aligns its clock to the run's log by pavlov's marker codes, prints how well the clocks fit,
and writes the chosen channels beside the events file as BIDS physio, where ``pavlov
analyze`` finds them. A recording whose markers do not match the log is refused with one
line and nothing is written.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["register", "run_import"]


def register(subparsers) -> None:
    """Add ``pavlov physio`` (subcommand ``import``)."""
    from pavlov.common.argtypes import positive_float

    parser = subparsers.add_parser(
        "physio",
        help="import a physiology recording (BIOPAC .acq, BrainVision, XDF, CSV) into a session",
        description=__doc__.split("\n\n")[1],
    )
    actions = parser.add_subparsers(dest="physio_command", metavar="ACTION")
    imp = actions.add_parser(
        "import",
        help="align a recording to a run's log by its markers and write BIDS physio",
        description="Align a recording to a run's log by pavlov's marker codes (CS and US "
        "onsets), then write it beside the events file as "
        "<run>_recording-<label>_physio.tsv.gz + .json.",
    )
    imp.add_argument("recording", metavar="RECORDING", help=".acq, .vhdr, .xdf or .csv file")
    imp.add_argument(
        "--events",
        required=True,
        metavar="EVENTS",
        help="the run's _events.tsv, or its session folder",
    )
    imp.add_argument(
        "--channel",
        action="append",
        metavar="NAME[=COLUMN]",
        help="channel to import (repeatable); default: the skin-conductance channel as 'scr'",
    )
    imp.add_argument(
        "--markers-channel",
        metavar="NAME",
        help=".acq/.csv: the channel carrying the marker codes (default: found by its name)",
    )
    imp.add_argument(
        "--sampling-rate", type=positive_float, metavar="HZ", help="CSV samples per second"
    )
    imp.add_argument(
        "--tolerance",
        type=positive_float,
        default=20.0,
        metavar="MS",
        help="largest residual of a paired marker after the clock fit, ms (default 20)",
    )
    imp.add_argument(
        "--overwrite", action="store_true", help="replace an earlier import of this run"
    )
    imp.set_defaults(func=run_import)
    parser.set_defaults(func=_need_action(parser))


def _need_action(parser):
    def run(args: argparse.Namespace) -> int:
        if args.physio_command is None:
            parser.print_help(sys.stderr)
            return 2
        return 0

    return run


def run_import(args: argparse.Namespace) -> int:
    """Run ``pavlov physio import``; return the exit status."""
    import contextlib

    from pavlov.analysis.physio_import import import_physio, write_imported

    status: contextlib.AbstractContextManager = contextlib.nullcontext()
    if sys.stderr.isatty():  # a long recording takes seconds to read and write: say so
        from rich.console import Console

        status = Console(stderr=True).status(f"importing {args.recording}")
    with status:
        result = import_physio(
            args.recording,
            args.events,
            channels=args.channel,
            marker_channel=args.markers_channel,
            sampling_rate=args.sampling_rate,
            tolerance=args.tolerance / 1000.0,
        )
        written = write_imported(result, overwrite=args.overwrite)
    print(f"{args.recording}: {result.alignment.summary(result.speed)}", file=sys.stderr)
    for path in written:
        print(path)
    return 0
