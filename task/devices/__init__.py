"""Devices: scanner triggers in, shock pulse trains and physiology markers out.

- :mod:`~pavlov.task.devices.base`: the interfaces (``ScannerTrigger``, ``ShockDevice``,
  ``MarkerOutput``, ``Clock``) and errors;
- :mod:`~pavlov.task.devices.simulated`: clock-driven simulated devices (``--simulate``, tests);
- :mod:`~pavlov.task.devices.limits`: the pulse-train and marker-code checks every backend,
  real or simulated, applies;
- :mod:`~pavlov.task.devices.lines`: generic pulse-train shock and line markers over any
  eight-line port, and the shared-port arbiter;
- backends: :mod:`serial_backend`, :mod:`parallel_backend`, :mod:`labjack_backend`,
  :mod:`lsl_backend` (each alone imports its library, lazily);
- :mod:`safety` (``ShockGuard``), :mod:`spec` (``--shock/--trigger/--markers``,
  ``build_devices``), :mod:`lab` (lab files), :mod:`codes` (marker codes);
- :mod:`calibrate` (shock work-up), :mod:`check` (``pavlov devices check``), :mod:`cli`.

This package imports no device library at import time.
"""

from pavlov.task.devices.base import (
    Clock,
    DeviceError,
    MarkerOutput,
    SafetyError,
    ScannerTrigger,
    ShockDevice,
    TrainRecord,
)

__all__ = [
    "Clock",
    "DeviceError",
    "MarkerOutput",
    "SafetyError",
    "ScannerTrigger",
    "ShockDevice",
    "TrainRecord",
]
