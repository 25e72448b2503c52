"""BIDS labels and the version pavlov stamps on what it writes.

A label (``sub-<label>``, ``ses-<label>``, ``task-<label>``) is letters and digits only; the
protocol loader, the scheduler, the log writer, the calibration record and the analysis's
file-name parser all check it here, so they cannot disagree.
"""

from __future__ import annotations

import re
from importlib import metadata

__all__ = ["LABEL", "MAX_LABEL", "is_label", "pavlov_version"]

#: A BIDS label, as a regular expression (letters and digits).
LABEL = r"[A-Za-z0-9]+"
#: Longest participant, session or task label pavlov writes (file names must stay under
#: 255 bytes: a 300-character ID failed as a file name).
MAX_LABEL = 64

_LABEL = re.compile(LABEL)


def is_label(text: object) -> bool:
    """True if ``text`` is a BIDS label: a non-empty str of letters and digits, nothing else.

    Parameters
    ----------
    text : object
        What the user gave.

    Returns
    -------
    bool
    """
    return isinstance(text, str) and _LABEL.fullmatch(text) is not None


def pavlov_version() -> str:
    """pavlov's installed version, or ``unknown`` when it runs from a copy not installed."""
    try:
        return metadata.version("pavlov")
    except metadata.PackageNotFoundError:
        return "unknown"
