"""Errors of protocol files and schedules (the shared root lives in :mod:`pavlov.common.errors`)."""

from __future__ import annotations

from pavlov.common.errors import FileError, PavlovError

__all__ = ["ProtocolError", "ScheduleError"]


class ProtocolError(FileError):
    """A protocol file (or one it names, such as an order CSV) is not valid.

    Same parameters and one-line message as :class:`~pavlov.common.errors.FileError`.
    """


class ScheduleError(PavlovError, ValueError):
    """A schedule cannot be built for the given participant or session."""

    exit_status = 2
