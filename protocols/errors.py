"""Errors of protocol files and schedules (the shared root lives in :mod:`pavlov.common.errors`)."""

from __future__ import annotations

from collections.abc import Sequence

from pavlov.common.errors import FileError, PavlovError

__all__ = ["ProtocolError", "ProtocolErrors", "ScheduleError", "error_lines"]


class ProtocolError(FileError):
    """A protocol file (or one it names, such as an order CSV) is not valid.

    Same parameters and one-line message as :class:`~pavlov.common.errors.FileError`.
    """


class ProtocolErrors(ProtocolError):
    """Several independent mistakes in one file, reported together (one line each).

    It behaves as its first error (``path``, ``line``, ``key``, ``str()`` ...), so code and
    tests that expect one :class:`ProtocolError` keep working; :attr:`lines` has them all.

    Parameters
    ----------
    errors : sequence of ProtocolError
        At least two, in the order they are reported.
    """

    def __init__(self, errors: Sequence[FileError]) -> None:
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
