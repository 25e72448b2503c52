"""``reinstatement``: unsignalled USs, each followed by its ITI."""

from __future__ import annotations

from collections.abc import Mapping
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
from pavlov.protocols.kinds.present import Files, base_row
from pavlov.protocols.kinds.screen import Scene
from pavlov.protocols.kinds.shared import CONTEXT, INSTRUCTIONS, ITI, LEAD_IN, US
from pavlov.protocols.model import ITISpec, Phase, PhaseSpec, USSpec
from pavlov.protocols.reader import Section

__all__ = ["UNSIGNALLED_US", "ReinstatementKind", "ReinstatementSpec", "present_us"]


@dataclass(frozen=True)
class ReinstatementSpec(PhaseSpec):
    """``us_count`` unsignalled deliveries of the US ``us``, ``iti`` after each."""

    us: str = ""
    us_count: int = 0
    iti: ITISpec | None = None
    lead_in: float = 0.0
    context: str | None = None


KEYS = (
    INSTRUCTIONS,
    Key(US.name, US.type, "", default=None, default_doc="the only US"),
    Key(
        "us_count",
        "integer",
        "",
        ge=1,
        le=50,
        what="a number of unsignalled USs",
        type_doc="whole, 1–50",
    ),
    Key(ITI.name, ITI.type, "interval after each US", type_doc="as above"),
    LEAD_IN,
    CONTEXT,
)


def _row(files: Files, event: Event, duration: float) -> dict[str, object]:
    row = base_row(event, "us")
    row.update(
        event_type="USp",
        reinforced=True,
        us=event.us,
        stim_file=files.stim_file("us", event.us),
        duration=duration,
    )
    return row


def present_us(stage: Stage, event: Event, planned: float) -> Presented:
    """An unsignalled US (reinstatement): fixation, the US, offset."""
    us = stage.protocol.us.get(event.us or "")
    n_us = stage.frames(event.duration, minimum=1)
    label = f"{event.phase}/{event.index}"
    image = us.name if us is not None and us.kind == "image" else None
    on_scene = Scene(context=event.context, fixation=image is None, us_image=image)
    off_scene = Scene(context=event.context, fixation=True)
    train = stage.start_us(event, label)
    t0: float | None = None
    f = 0
    while True:
        t = stage.frame(on_scene if f < n_us else off_scene)
        if t0 is None:
            t0 = t
        i = stage.refresh_index(t, t0, f)
        if i >= n_us:
            break
        f = i + 1
    stage.participant.observe(event, True)
    row = _row(stage, event, (t - t0) * stage.speed)
    return Presented([(t0, row)], train=train, us_row=row)


def simulate_us(sim: Rehearsal, event: Event, onset: float) -> Simulated:
    """An unsignalled US: certain, so the learner's expectation is 1."""
    sim.learner.observe(event, True)
    row = _row(sim, event, event.duration)
    sim.shock(row, event.us, onset)
    return Simulated(row, response=(1.0, onset))


UNSIGNALLED_US = EventKind(
    "us",
    row="us",
    rows=(Row("us", "a US (on a trial, or unsignalled)"),),
    markers=(Marker("USp", 20, "US onset (shock train start, or sound/image US)"),),
    present=present_us,
    counts_as_trial=True,
    describe_event=lambda event: f"unsignalled US {event.index}",
    simulate=simulate_us,
)


class ReinstatementKind(Kind):
    """Unsignalled USs."""

    name = "reinstatement"
    doc = "unsignalled USs"
    keys = KEYS
    event_kinds = (UNSIGNALLED_US,)

    def read(
        self, ctx: ReadContext, section: Section, instructions: str | None
    ) -> ReinstatementSpec:
        us = ctx.read_phase_us(section, required=True)
        assert us is not None
        return ReinstatementSpec(
            us=us,
            us_count=read_key(section, KEYS[2]),
            iti=ctx.read_iti(section, "iti"),
            lead_in=read_key(section, LEAD_IN),
            context=ctx.read_context_role(section),
        )

    def expand(self, phase: Phase, x: Expansion) -> list[Event]:
        spec = phase.spec
        assert isinstance(spec, ReinstatementSpec)
        us = x.protocol.us[spec.us]
        itis = x.itis(spec.iti, spec.us_count)
        return [
            Event(
                **x.base,
                kind="us",
                index=i + 1,
                onset=spec.lead_in if i == 0 else 0.0,
                duration=us.duration,
                iti=itis[i],
                reinforced=True,
                us=us.name,
                us_duration=us.duration,
                event_type="USp",
            )
            for i in range(spec.us_count)
        ]

    def shocks(self, phase: Phase, us: Mapping[str, USSpec]) -> int:
        spec = phase.spec
        assert isinstance(spec, ReinstatementSpec)
        return spec.us_count if us[spec.us].kind == "shock" else 0
