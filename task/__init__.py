"""The session room: what happens while a participant sits in front of the screen.

The run loop (:mod:`pavlov.task.runner`) plays a schedule on injected parts: the PsychoPy
window (:mod:`~pavlov.task.psychopy_display`), the keyboard and scanner trigger
(:mod:`~pavlov.task.keyboard`), the shock, trigger and marker devices
(:mod:`pavlov.task.devices`, real or simulated), the participant (:mod:`~pavlov.task.responder`,
or :mod:`~pavlov.task.simulated_participant` in rehearsals), the crash-safe BIDS log
(:mod:`~pavlov.task.log`, :mod:`~pavlov.task.sidecar`) and the experimenter's console
(:mod:`~pavlov.task.console`). ``pavlov run``, ``calibrate`` and ``devices check`` are its
commands (:mod:`~pavlov.task.run_cli`, :mod:`pavlov.task.devices.cli`).
"""
