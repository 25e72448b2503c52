"""BIDS labels and the version pavlov stamps on what it writes.

A label (``sub-<label>``, ``ses-<label>``, ``task-<label>``) is letters and digits only; the
protocol loader, the scheduler, the log writer, the calibration record and the analysis's
file-name parser all check it here, so they cannot disagree.
"""

from __future__ import annotations

import re
from importlib import metadata

from pavlov.common.errors import PavlovError

__all__ = ["LABEL", "MAX_LABEL", "LabelError", "bids_label", "is_label", "pavlov_version"]

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


class LabelError(PavlovError, ValueError):
    """A participant, session, task or group label is not a BIDS label (a usage error)."""

    exit_status = 2


def bids_label(value: object, what: str) -> str:
    """Return ``value`` as a BIDS label, dropping a ``sub-``, ``ses-`` or ``run-`` prefix.

    Parameters
    ----------
    value : object
        What the user gave (``07``, ``sub-07``).
    what : str
        The option or field, named in the message (``--participant``).

    Returns
    -------
    str
        The label.

    Raises
    ------
    LabelError
        One line, if anything but 1 to :data:`MAX_LABEL` letters and digits remains.
    """
    text = str(value).strip()
    for prefix in ("sub-", "ses-", "run-"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    if len(text) > MAX_LABEL:
        # A 300-character ID failed as a file name (ENAMETOOLONG), 5,000 digits in int().
        raise LabelError(
            f"{what}: expected a BIDS label of at most {MAX_LABEL} letters and digits, got "
            f"{len(text):,} characters"
        )
    if not is_label(text):
        raise LabelError(f"{what}: expected letters and digits only (a BIDS label), got {value!r}")
    return text


def pavlov_version() -> str:
    """pavlov's installed version, or ``unknown`` when it runs from a copy not installed."""
    try:
        return metadata.version("pavlov")
    except metadata.PackageNotFoundError:
        return "unknown"
