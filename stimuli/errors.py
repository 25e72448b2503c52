"""The error of stimulus files."""

from __future__ import annotations

from pavlov.common.errors import PavlovError

__all__ = ["StimulusError"]


class StimulusError(PavlovError, FileNotFoundError):
    """A stimulus file is missing or unreadable when a session is prepared."""

    exit_status = 2
