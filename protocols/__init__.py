"""Protocol files: the model, the strict loader and the scheduler.

Public API::

    from pavlov.protocols import load_protocol, build_schedule
    protocol = load_protocol("protocols/retrieval_extinction.yaml")
    schedule = build_schedule(protocol, participant="01", session="day1")
"""

from pavlov.common.errors import PavlovError
from pavlov.protocols.errors import ProtocolError, ScheduleError
from pavlov.protocols.events import Cell, Event, Schedule
from pavlov.protocols.model import Phase, Protocol

__all__ = [
    "Cell",
    "Event",
    "PavlovError",
    "Phase",
    "Protocol",
    "ProtocolError",
    "Schedule",
    "ScheduleError",
    "build_schedule",
    "counterbalancing_table",
    "load_protocol",
]


def __getattr__(name):  # the loader and scheduler import PyYAML; keep the types import-light
    if name == "load_protocol":
        from pavlov.protocols.loader import load_protocol

        return load_protocol
    if name in ("build_schedule", "counterbalancing_table"):
        from pavlov.protocols import schedule

        return getattr(schedule, name)
    raise AttributeError(name)
