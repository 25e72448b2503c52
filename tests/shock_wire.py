"""What the tests check of a shock device through its public interface, not its state."""

from __future__ import annotations

from pavlov.task.devices.base import SafetyError


def refuses_a_train(shock) -> bool:
    """True if ``shock`` (closed, as every exit path must leave it) refuses a new train."""
    try:
        shock.deliver(0.001, 0.01, 1, "after the session")
    except SafetyError as error:
        return "is not open" in str(error)
    shock.set_low()
    return False
