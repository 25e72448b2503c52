"""Marker codes: which number goes to the physiology recorder for which event.

Keys are the M-BIDS event types of CS and US rows (``CSpr``, ``CSpu``, ``CSm``, ``USp``,
``USo``, ``USm``) and the log's other ``trial_type`` words. The default codes are all
even, so bit 0 (parallel pin 2, TTL-box line D0, the default shock line) is never raised
by a marker and shock and markers can share a port without a lab file changing them.
A lab file may override any code; a code of 0 there means "send no marker for this".
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from pavlov.protocols.kinds import Marker, markers

__all__ = ["DEFAULT_MARKER_CODES", "MARKER_EVENTS", "SESSION_MARKERS", "marker_code"]

#: The run loop's own markers; every other code is declared by the kind that sends it
#: (:mod:`pavlov.protocols.kinds`), so a kind cannot send a marker without a code.
SESSION_MARKERS = (
    Marker("phase_start", 50, "first event of a phase"),
    Marker("session_start", 60, "session zero (first stored volume, or start)"),
    Marker("session_end", 62, "session ends, for any reason"),
)

#: Default code per event, 1–255 (see the module docstring), in the order of the codes.
DEFAULT_MARKER_CODES: Mapping[str, int] = MappingProxyType(markers(SESSION_MARKERS))

#: Event names a lab file may give codes for.
MARKER_EVENTS: tuple[str, ...] = tuple(DEFAULT_MARKER_CODES)


def marker_code(codes: Mapping[str, int], event: str) -> int | None:
    """Return the code for ``event``, or None when it is unset or 0 (no marker).

    Parameters
    ----------
    codes : Mapping[str, int]
        A code table (:data:`DEFAULT_MARKER_CODES` or a lab file's).
    event : str
        One of :data:`MARKER_EVENTS`.

    Raises
    ------
    KeyError
        If ``event`` is not a known event name.
    """
    if event not in DEFAULT_MARKER_CODES:
        raise KeyError(f"unknown marker event {event!r}; known: {', '.join(MARKER_EVENTS)}")
    code = codes.get(event, 0)
    return code or None
