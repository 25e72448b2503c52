"""pavlov's exception root and the one-line message format every room shares.

Every error pavlov reports to a user is one line. Keyed files (protocols, lab files,
order files) use ``path:line: key.path: expected X, got Y. Did you mean 'Z'?``
(:class:`FileError`); everything else says what was expected, what was found, and what
to check.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class PavlovError(Exception):
    """Base class of every error pavlov raises on purpose.

    The command line catches it, prints ``str(error)`` as one line, and exits with
    ``exit_status``.
    """

    exit_status = 1


class FileError(PavlovError, ValueError):
    """A keyed user file (YAML or CSV) is not valid: the voice every file error speaks in.

    Each kind of file has its own subclass (``ProtocolError``, ``LabFileError``), so a
    caller can tell which file was wrong; the message is the same shape for all.

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
