"""The ``pavlov`` command: one entry point for every room.

Each room that adds subcommands exposes ``register(subparsers)``, which adds its parsers
and sets ``func`` (a callable taking the parsed arguments and returning an exit status).
Errors pavlov raises on purpose (:class:`~pavlov.protocols.errors.PavlovError`) are printed
as one line on stderr with their exit status; nothing else reaches the user as a traceback
unless ``PAVLOV_DEBUG=1`` is set.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from pavlov.common.argtypes import Parser
from pavlov.common.bids import pavlov_version
from pavlov.common.errors import PavlovError
from pavlov.protocols.errors import error_lines

#: Modules contributing subcommands, in the order their commands are listed.
COMMAND_MODULES = (
    "pavlov.protocols.cli",
    "pavlov.task.run_cli",
    "pavlov.task.simulate",
    "pavlov.task.devices.cli",
    "pavlov.analysis.cli",
    "pavlov.analysis.models_cli",
    "pavlov.analysis.physio_cli",
)


def build_parser() -> argparse.ArgumentParser:
    """Return the ``pavlov`` argument parser with every room's subcommands (each a
    :class:`~pavlov.common.argtypes.Parser`: a usage error is one line)."""
    parser = Parser(
        prog="pavlov",
        description="Run and analyse human Pavlovian conditioning studies.",
    )
    parser.add_argument("--version", action="version", version=f"pavlov {pavlov_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None, parser: argparse.ArgumentParser | None = None) -> int:
    """Run the command line; return the exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (``sys.argv[1:]`` when None).
    parser : argparse.ArgumentParser, optional
        The parser to use (default: :func:`build_parser`); tests pass their own.
    """
    try:
        # Building the parser imports every room's commands (numpy, pandas...): a Ctrl-C
        # in those first seconds is an interruption like any other, not a traceback.
        parser = parser or build_parser()
        args = parser.parse_args(argv)
        if getattr(args, "func", None) is None:
            parser.print_help(sys.stderr)
            return 2
        return int(args.func(args) or 0)
    except PavlovError as error:
        for line in error_lines(error):  # one line per independent mistake
            print(f"pavlov: {line}", file=sys.stderr)
        return error.exit_status
    except KeyboardInterrupt:
        print("pavlov: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `pavlov schedule ... | head` closes our stdout early; that is not an error.
        sys.stderr.close()
        return 0
    except Exception as error:
        if os.environ.get("PAVLOV_DEBUG"):
            raise
        print(
            f"pavlov: internal error: {type(error).__name__}: {_one_line(error)} "
            "(set PAVLOV_DEBUG=1 for the traceback, and please report it)",
            file=sys.stderr,
        )
        return 1


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


if __name__ == "__main__":
    sys.exit(main())
