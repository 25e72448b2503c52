"""Errors the analysis package raises on purpose, each one line.

Data files use ``path:line: row R, column 'c': expected X, got Y``, where ``line`` is the
1-based line of the file (the header is line 1) and ``row`` the 1-based data row, so the
user can find the cell in an editor and in a spreadsheet alike.
"""

from __future__ import annotations

from pavlov.common.errors import PavlovError


class AnalysisError(PavlovError, ValueError):
    """An analysis cannot run with the given data or options (one line: what, where, what to do)."""

    exit_status = 2


class TableError(AnalysisError):
    """A data file (events log, trial table, participants.tsv) is malformed.

    Parameters
    ----------
    path : str
        The file, as the user named it.
    row : int
        1-based data row (0 for the whole file or its header).
    column : str
        The offending column ('' for the whole file).
    expected : str
        What was expected, in the user's words.
    got : str
        What was found.
    """

    def __init__(self, path: str, row: int, column: str, expected: str, got: str) -> None:
        self.path = str(path)
        self.row = int(row)
        self.column = column
        self.expected = expected
        self.got = got
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """The one-line report."""
        if self.row > 0:
            where = f"{self.path}:{self.row + 1}: row {self.row}"
        else:
            where = f"{self.path}:1" if self.column else self.path
        if self.column:
            where += f", column '{self.column}'" if self.row > 0 else f": column '{self.column}'"
        text = f"{where}: expected {self.expected}, got {self.got}"
        return " ".join(text.split())
