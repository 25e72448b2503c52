"""Lab Streaming Layer marker outlet (pylsl), an optional extra: ``pip install pavlov[lsl]``.

Each code goes out as one ``int32`` sample on an irregular-rate stream of type
``Markers``, stamped by LSL at push time (``pylsl.local_clock``), so LabRecorder stores it
next to the physiology streams. The codes are the same as on the wired backends, so
analyses read every backend alike.
"""

from __future__ import annotations

import contextlib
from typing import Any

from pavlov.task.devices.base import Clock, DeviceError
from pavlov.task.devices.limits import check_code

__all__ = ["LSLMarkers", "import_pylsl"]


def import_pylsl() -> Any:
    """Import pylsl, or raise DeviceError saying how to install it."""
    try:
        import pylsl  # only this backend imports pylsl
    except ImportError as error:
        raise DeviceError(
            f"LSL markers: pylsl is not available ({error}); install it with "
            "pip install pavlov[lsl] (pylsl also needs the liblsl library)"
        ) from None
    return pylsl


class LSLMarkers:
    """Marker codes as samples of an LSL stream.

    Parameters
    ----------
    clock : Clock
        Session clock; ``send`` returns its time at the push.
    stream : str
        LSL stream name (what LabRecorder lists).
    source_id : str
        Stable identifier so recorders reconnect after a restart.
    name : str, optional
        Name for messages; default ``lsl:STREAM``.
    pylsl_module : module, optional
        pylsl, imported lazily when None; tests inject a fake.
    """

    def __init__(
        self,
        clock: Clock,
        stream: str = "pavlov-markers",
        source_id: str = "pavlov-markers",
        name: str | None = None,
        pylsl_module: Any = None,
    ) -> None:
        self.clock = clock
        self.stream = stream
        self.source_id = source_id
        self.name = name or f"lsl:{stream}"
        self._pylsl = pylsl_module if pylsl_module is not None else import_pylsl()
        self._outlet: Any = None

    def open(self) -> None:
        """Create the outlet (LSL markers have no lines to drive low)."""
        if self._outlet is not None:
            return
        pylsl = self._pylsl
        try:
            info = pylsl.StreamInfo(
                self.stream, "Markers", 1, pylsl.IRREGULAR_RATE, "int32", self.source_id
            )
            self._outlet = pylsl.StreamOutlet(info)
        except Exception as error:
            raise DeviceError(
                f"LSL markers {self.name}: could not create the outlet ({error}); check that "
                "liblsl is installed and the network allows multicast"
            ) from None

    def send(self, code: int, label: str) -> float:
        """Push ``code`` now; return the clock time of the push."""
        check_code(code)
        if self._outlet is None:
            raise DeviceError(
                f"marker {code} ({label}) not sent: LSL outlet {self.name} is not open"
            )
        try:
            self._outlet.push_sample([code])
        except Exception as error:
            raise DeviceError(
                f"LSL markers {self.name}: could not push {code} ({error}); check liblsl"
            ) from None
        return self.clock.now()

    def close(self) -> None:
        """Destroy the outlet. Safe to call more than once; never raises."""
        outlet, self._outlet = self._outlet, None
        if outlet is not None:
            with contextlib.suppress(Exception):
                del outlet
