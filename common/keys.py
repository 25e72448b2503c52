"""Keys the run loop keeps for itself, and the one check every user-given key goes through.

Protocol files (rating keys, a wait's event keys, a scanner's pulse key) and the command
line (``--trigger key:KEY``) name keys; none may be one of these, or a press meant for the
experimenter (Escape, the emergency stop) would be swallowed as a response or a pulse.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["RESERVED_KEYS", "SYNC_RESERVED_KEYS", "reserved_keys"]

#: Keys the run loop reserves: Escape asks to quit (the emergency stop), space continues,
#: F12 ends a wait early. No scanner pulse, rating or event key may be one.
RESERVED_KEYS = ("escape", "space", "f12")
#: The quit prompt's answers: a scanner pulse key (whose presses never reach the prompt)
#: may not be one either.
SYNC_RESERVED_KEYS = (*RESERVED_KEYS, "y", "n")


def reserved_keys(keys: Iterable[str], *, pulse: bool = False) -> list[str]:
    """The keys among ``keys`` that the run loop reserves (case and spaces ignored).

    Parameters
    ----------
    keys : iterable of str
        Key names the user gave.
    pulse : bool
        True for a scanner pulse key, which may not answer the quit prompt either
        (:data:`SYNC_RESERVED_KEYS`); else :data:`RESERVED_KEYS`.

    Returns
    -------
    list of str
        The reserved ones, in the order given (empty when every key is free).
    """
    taken = SYNC_RESERVED_KEYS if pulse else RESERVED_KEYS
    return [key for key in keys if str(key).strip().lower() in taken]
