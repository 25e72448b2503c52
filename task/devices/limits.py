"""What every device accepts: the pulse-train and marker-code checks of real and simulated backends.

One home, so that a real stimulator and the simulated one refuse exactly the same trains
and codes (the backends used to import these from ``simulated.py``).
"""

from __future__ import annotations

import math

from pavlov.task.devices.base import SafetyError

__all__ = ["check_code", "check_train"]


def check_train(width: float, interval: float, count: int) -> None:
    """Refuse a pulse train that no stimulator could deliver as asked.

    Parameters
    ----------
    width : float
        Pulse width, seconds (> 0).
    interval : float
        Onset-to-onset interval, seconds (> ``width`` when ``count > 1``).
    count : int
        Number of pulses (>= 1).

    Raises
    ------
    SafetyError
        Naming the parameter, what is allowed and what was given.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise SafetyError(f"refused pulse train: count must be a whole number >= 1, got {count!r}")
    if not (isinstance(width, int | float) and math.isfinite(width) and width > 0):
        raise SafetyError(f"refused pulse train: pulse width must be > 0 s, got {width!r}")
    if count > 1 and not (
        isinstance(interval, int | float) and math.isfinite(interval) and interval > width
    ):
        raise SafetyError(
            "refused pulse train: interval (onset to onset) must be longer than the pulse "
            f"width {width} s, got {interval!r}"
        )


def check_code(code: int) -> int:
    """Return ``code`` if it is a marker code 1–255, else raise ``ValueError``."""
    if isinstance(code, bool) or not isinstance(code, int) or not 1 <= code <= 255:
        raise ValueError(f"marker code must be a whole number 1-255, got {code!r}")
    return code
