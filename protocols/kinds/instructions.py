"""``instructions``: a text screen, shown verbatim, ended by the participant or by time.

Every other kind's ``instructions:`` key schedules the same event before its phase.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pavlov.protocols.events import Event
from pavlov.protocols.kinds.base import (
    REHEARSAL_FRAME,
    EventKind,
    Expansion,
    Kind,
    Marker,
    Presented,
    ReadContext,
    Rehearsal,
    Row,
    Simulated,
    Stage,
)
from pavlov.protocols.kinds.keys import Key, read_key
from pavlov.protocols.kinds.present import base_row
from pavlov.protocols.kinds.screen import Scene
from pavlov.protocols.model import Phase, PhaseSpec
from pavlov.protocols.reader import Section

__all__ = ["INSTRUCTIONS", "InstructionsKind", "InstructionsSpec", "present_instructions"]


@dataclass(frozen=True)
class InstructionsSpec(PhaseSpec):
    """An instruction screen: ``duration`` minimum seconds, advanced by ``key`` or ``time``."""

    duration: float = 0.0
    advance: str = "key"


KEYS = (
    Key(
        "text",
        "text",
        "shown verbatim (and logged), with nothing added: say how to continue in it "
        '(e.g. "Press space to begin.")',
    ),
    Key(
        "duration",
        "number",
        "minimum display time",
        default=0.0,
        ge=0,
        what="seconds (minimum display time)",
        type_doc="seconds",
        default_doc="0",
    ),
    Key(
        "advance",
        "choice",
        "`key`: space after `duration`; `time`: ends after `duration`",
        enum=("key", "time"),
        default="key",
    ),
)


def present_instructions(stage: Stage, event: Event, planned: float) -> Presented:
    """Text for at least ``duration``, then until the participant continues."""
    phase = stage.protocol.phases[event.phase]
    text = phase.instructions or ""
    # Only the protocol's wording reaches the participant: how to continue is the
    # protocol's to say (e.g. "Press space to begin."), not a line added under it.
    scene = Scene(context=None, text=text)
    timed = isinstance(phase.spec, InstructionsSpec) and phase.spec.advance == "time"
    stage.mark("instructions", event.phase)
    n_min = stage.frames(event.duration)
    # The minimum time counts refreshes, not flips (a dropped frame does not stretch it).
    times = [stage.frame(scene)]
    while stage.refresh_index(times[-1], times[0], len(times) - 1) < n_min - 1:
        times.append(stage.frame(scene))
        stage.tick()
    shown = times[-1]
    # ``advance: time`` screens end after their duration; the others wait for the key.
    while not timed:
        t = stage.frame(scene)
        times.append(t)
        stage.tick("instructions: waiting for the participant's key")
        if stage.participant.ready(t, stage.keys, shown):
            break
    end = stage.frame(Scene(fixation=True))
    row = base_row(event, "instructions")
    row.update(duration=(end - times[0]) * stage.speed, value=text)
    return Presented([(times[0], row)], end=end)


def simulate_instructions(sim: Rehearsal, event: Event, onset: float) -> Simulated:
    """The screen as the run loop counts it on a 60-Hz display: the minimum in refreshes,
    then the participant continues, seen on the next refresh."""
    text = sim.protocol.phases[event.phase].instructions or ""
    row = base_row(event, "instructions")
    shown = max(round(event.duration / REHEARSAL_FRAME) - 1, 0)
    ready = shown + math.ceil(sim.learner.continue_after() / REHEARSAL_FRAME - 1e-9)
    duration = (ready + 1) * REHEARSAL_FRAME
    row.update(duration=duration, value=text)
    return Simulated(row, end=onset + duration)


INSTRUCTIONS = EventKind(
    "instructions",
    row="instructions",
    rows=(Row("instructions", "an instruction screen; `value` is its text"),),
    markers=(Marker("instructions", 40, "instruction screen shown"),),
    present=present_instructions,
    simulate=simulate_instructions,
)


class InstructionsKind(Kind):
    """A text screen."""

    name = "instructions"
    doc = "a text screen, shown verbatim"
    keys = KEYS
    event_kinds = (INSTRUCTIONS,)

    instructions_first = False
    instructions_key = "text"

    def read(
        self, ctx: ReadContext, section: Section, instructions: str | None
    ) -> InstructionsSpec:
        return InstructionsSpec(
            duration=read_key(section, KEYS[1]), advance=read_key(section, KEYS[2])
        )

    def expand(self, phase: Phase, x: Expansion) -> list[Event]:
        spec = phase.spec
        assert isinstance(spec, InstructionsSpec)
        return [Event(**x.base, kind="instructions", index=1, onset=0.0, duration=spec.duration)]
