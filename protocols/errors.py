"""pavlov's exception hierarchy and the one-line message format.

Every error pavlov reports to a user is one line. Protocol and lab files use
``path:line: key.path: expected X, got Y. Did you mean 'Z'?``; everything else says
what was expected, what was found, and what to check.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence


class PavlovError(Exception):
    """Base class of every error pavlov raises on purpose.

    The command line catches it, prints ``str(error)`` as one line, and exits with
    ``exit_status``.
    """

    exit_status = 1


class ProtocolError(PavlovError, ValueError):
    """A protocol (or lab) file is not valid.

    Parameters
    ----------
    path : str
        The file, as the user named it.
    line : int
        1-based line of the offending key or value (0 when the file has no lines).
    key : str
        Dotted key path, e.g. ``phases.acquisition.cs_duration``; empty for the whole file.
    expected : str
        What was expected, in the user's words.
    got : str
        What was found.
    suggestion : str, optional
        A near valid name, printed as ``Did you mean 'Z'?``.
    """

    exit_status = 2

    def __init__(
        self,
        path: str,
        line: int,
        key: str,
        expected: str,
        got: str,
        suggestion: str | None = None,
    ) -> None:
        self.path = str(path)
        self.line = int(line)
        self.key = key
        self.expected = expected
        self.got = got
        self.suggestion = suggestion
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """The one-line report, ``path:line: key: expected X, got Y[. Did you mean 'Z'?]``."""
        where = f"{self.key}: " if self.key else ""
        text = f"{self.path}:{self.line}: {where}expected {self.expected}, got {self.got}"
        if self.suggestion:
            text += f". Did you mean '{self.suggestion}'?"
        return " ".join(text.split("\n"))


class ProtocolErrors(ProtocolError):
    """Several independent mistakes in one file, reported together (one line each).

    It behaves as its first error (``path``, ``line``, ``key``, ``str()`` ...), so code and
    tests that expect one :class:`ProtocolError` keep working; :attr:`lines` has them all.

    Parameters
    ----------
    errors : sequence of ProtocolError
        At least two, in the order they are reported.
    """

    def __init__(self, errors: Sequence[ProtocolError]) -> None:
        self.errors = tuple(errors)
        first = self.errors[0]
        super().__init__(
            first.path, first.line, first.key, first.expected, first.got, first.suggestion
        )

    @property
    def lines(self) -> list[str]:
        """One line per error."""
        return [error.message for error in self.errors]


def error_lines(error: BaseException) -> list[str]:
    """The lines that report an error: one per independent mistake, each a single line."""
    lines = getattr(error, "lines", None)
    if lines:
        return list(lines)
    return [" ".join(str(error).split()) or type(error).__name__]


class ScheduleError(PavlovError, ValueError):
    """A schedule cannot be built for the given participant or session."""

    exit_status = 2


class StimulusError(PavlovError, FileNotFoundError):
    """A stimulus file is missing or unreadable when a session is prepared."""

    exit_status = 2


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    """Return the closest candidate to a misspelt ``name``, or None if none is close.

    Parameters
    ----------
    name : str
        What the user wrote.
    candidates : iterable of str
        The valid names.

    Returns
    -------
    str or None
    """
    matches = difflib.get_close_matches(str(name), list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None
