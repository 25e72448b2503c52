"""Argument types shared by every ``pavlov`` subcommand (argparse ``type=`` callables).

Each turns a command-line word into a number or says, in argparse's one-line usage
error, what was expected and what was given.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from typing import NoReturn


class Parser(argparse.ArgumentParser):
    """The parser every ``pavlov`` command uses: a usage error is one line.

    argparse prints the whole usage block before an error (``pavlov run --speed abc``
    gave a dozen lines of options above the one that mattered); here it is
    ``pavlov run: error: argument --speed: ...`` and exit status 2, as every other pavlov
    error. ``--help`` still prints the usage. Subcommands' parsers are of this class too
    (argparse's ``add_subparsers`` makes them of the parent's class), and an option no
    subcommand knows is reported by the subcommand that got it, not by ``pavlov``.
    """

    def error(self, message: str) -> NoReturn:
        """Print ``PROG: error: MESSAGE`` on one line of stderr and exit with status 2."""
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")

    def parse_known_args(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        namespace: argparse.Namespace | None = None,
    ) -> tuple[argparse.Namespace, list[str]]:
        """Parse ``args``; words nothing takes are an error of this (sub)command."""
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras


def finite_float(text: str) -> float:
    """A finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0."""
    try:
        value = finite_float(text)
    except argparse.ArgumentTypeError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def nonnegative_float(text: str) -> float:
    """A finite number >= 0."""
    try:
        value = finite_float(text)
    except argparse.ArgumentTypeError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


#: Largest whole number an option takes (run numbers, block sizes, starts): larger ones
#: overflowed numpy's C integers into an internal error.
MAX_INT = 1_000_000_000


def positive_int(text: str) -> int:
    """A whole number from 1 to :data:`MAX_INT`."""
    try:
        value = int(text) if len(text) <= 20 else 0
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_INT:
        raise argparse.ArgumentTypeError(
            f"expected a whole number >= 1 and <= {MAX_INT:,}, got {_shown(text)}"
        )
    return value


def seed(text: str) -> int:
    """A random seed: a whole number from 0 to 2**32 - 1 (what numpy accepts)."""
    try:
        value = int(text) if len(text) <= 20 else -1
    except ValueError:
        value = -1
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(
            f"expected a whole number >= 0 and < 2**32, got {_shown(text)}"
        )
    return value


def speed(text: str) -> float:
    """A session speed-up: a number from 0.1 to 100,000 (1e-9 made a session last for ever;
    a day-long protocol rehearses in seconds at the top)."""
    try:
        value = finite_float(text)
    except argparse.ArgumentTypeError:
        value = -1.0
    if not 0.1 <= value <= 100_000:
        raise argparse.ArgumentTypeError(f"expected a number >= 0.1 and <= 100000, got {text!r}")
    return value


def shown(text: str, limit: int = 40) -> str:
    """``text`` as a one-line error shows a value a user typed: quoted, control characters
    escaped (a raw ESC could clear the experimenter's terminal) and at most ``limit``
    characters of it (a 100,000-character word would fill the screen)."""
    return repr(text) if len(text) <= limit else repr(text[:limit] + "...")


_shown = shown


#: Most days a session's day check may be off by: beyond a year it checks nothing.
MAX_DAY_TOLERANCE = 365.0


def day_tolerance(text: str) -> float:
    """Days a session may be early or late: a number from 0 to :data:`MAX_DAY_TOLERANCE`
    (``1e308`` switched the day check off without a word; ``--allow-session-gap`` is the
    option that says so)."""
    try:
        value = finite_float(text)
    except argparse.ArgumentTypeError:
        value = -1.0
    if not 0 <= value <= MAX_DAY_TOLERANCE:
        raise argparse.ArgumentTypeError(
            f"expected a number of days >= 0 and <= {MAX_DAY_TOLERANCE:g}, got {shown(text)} "
            "(--allow-session-gap runs a session off its day)"
        )
    return value


def file_name(text: str) -> str:
    """A non-empty path (``--codes ""``, an unset shell variable, was taken as no option)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a file, got {shown(text)}")
    return text


def arm_name(text: str) -> str:
    """A non-empty name (``--arm ""`` was taken as no option: the arm by number)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected an arm's name, got {shown(text)}")
    return text


def folder_name(text: str) -> str:
    """A non-empty path (an empty ``--data ''`` wrote into the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a folder, got {text!r}")
    return text
