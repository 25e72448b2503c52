"""``rest``: a block of fixation (or the protocol's text), optionally started by the next
scanner pulse; F12 ends it early."""

from __future__ import annotations

import math
from dataclasses import dataclass

from pavlov.protocols.events import Event
from pavlov.protocols.kinds.base import (
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
from pavlov.protocols.kinds.present import base_row, hold
from pavlov.protocols.kinds.screen import Scene
from pavlov.protocols.kinds.wait import END_WAIT_KEY
from pavlov.protocols.model import Phase, PhaseSpec
from pavlov.protocols.reader import Section

__all__ = ["REST", "RestKind", "RestSpec", "present_rest"]


@dataclass(frozen=True)
class RestSpec(PhaseSpec):
    """A rest block.

    Attributes
    ----------
    duration : float
        Seconds.
    text : str or None
        Shown for the whole rest (the protocol's ``text:``, else its ``instructions:``);
        a fixation cross when None.
    wait_for_scanner : bool
        The block starts at the next scanner pulse.
    """

    duration: float = 0.0
    text: str | None = None
    wait_for_scanner: bool = False


KEYS = (
    Key(
        "instructions",
        "text",
        "shown for the whole rest when `text` is not given",
        default=None,
    ),
    Key("duration", "number", "", gt=0, what="seconds", type_doc="seconds"),
    Key(
        "wait_for_scanner",
        "boolean",
        "the block starts at a scanner pulse (needs `scanner`)",
        default=False,
    ),
    Key(
        "text",
        "text",
        "shown to the participant for the whole rest",
        default=None,
        default_doc="a fixation cross",
    ),
)


def present_rest(stage: Stage, event: Event, planned: float) -> Presented:
    """A rest block (fixation or text), started by the next scanner pulse when asked."""
    spec = stage.protocol.phases[event.phase].spec
    assert isinstance(spec, RestSpec)
    scene = Scene(context=event.context, fixation=spec.text is None, text=spec.text)
    stage.mark("rest", event.phase)
    start = stage.frame(scene)
    paced = spec.wait_for_scanner and stage.scanning
    if paced:
        seen = stage.pulses
        while stage.pulses == seen:
            start = stage.frame(scene)
    ended: list[bool] = []

    def stop(t: float) -> bool:
        if any(k == END_WAIT_KEY for k, _ in stage.keys):
            ended.append(True)
            stage.note(t, {"trial_type": "event", "value": "rest ended early"})
            return True
        stage.tick()
        return False

    n = stage.frames(event.duration, minimum=1)
    # A rest started by a pulse counts from that pulse's flip; any other from its plan.
    origin = start if paced else stage.to_clock(planned)
    times, end = hold(stage, scene, n, stop=stop, start=start, close_early=False, origin=origin)
    row = base_row(event, "rest")
    row.update(duration=(end - times[0]) * stage.speed, value="ended early" if ended else None)
    return Presented([(times[0], row)], end=end if paced or ended else None)


def simulate_rest(sim: Rehearsal, event: Event, onset: float) -> Simulated:
    """A rest; one started by the scanner begins on the first volume after its plan."""
    spec = sim.protocol.phases[event.phase].spec
    row = base_row(event, "rest")
    row.update(duration=event.duration)
    if isinstance(spec, RestSpec) and spec.wait_for_scanner and sim.scanner is not None:
        tr = sim.scanner.tr
        start = (math.floor(onset / tr + 1e-9) + 1) * tr
        return Simulated(row, onset=start, end=start + event.duration)
    return Simulated(row)


REST = EventKind(
    "rest",
    row="rest",
    rows=(Row("rest", "a rest block; `value` is `ended early` when F12 ended it"),),
    markers=(Marker("rest", 44, "rest block starts"),),
    present=present_rest,
    simulate=simulate_rest,
)


class RestKind(Kind):
    """Fixation or text for a duration, optionally from a scanner pulse."""

    name = "rest"
    doc = "fixation (or a text) for a duration, optionally started by a scanner pulse"
    keys = KEYS
    event_kinds = (REST,)
    instructions_first = False

    def read(self, ctx: ReadContext, section: Section, instructions: str | None) -> RestSpec:
        wait_for_scanner = read_key(section, KEYS[2])
        if wait_for_scanner and ctx.scanner is None:
            section.fail("wait_for_scanner", "false (the protocol has no scanner block)", "true")
        text = section.text("text", instructions)
        return RestSpec(
            duration=read_key(section, KEYS[1]), text=text, wait_for_scanner=wait_for_scanner
        )

    def expand(self, phase: Phase, x: Expansion) -> list[Event]:
        spec = phase.spec
        assert isinstance(spec, RestSpec)
        return [Event(**x.base, kind="rest", index=1, onset=0.0, duration=spec.duration)]

    def scanner_locked(self, phase: Phase) -> bool:
        spec = phase.spec
        return isinstance(spec, RestSpec) and spec.wait_for_scanner

    def texts(self, phase: Phase) -> tuple[str, ...]:
        spec = phase.spec
        return (spec.text,) if isinstance(spec, RestSpec) and spec.text else ()
