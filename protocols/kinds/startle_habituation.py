"""``startle_habituation``: acoustic startle probes alone, before the first phase, so that
the steep first decline of the blink (habituation) is over before the probes that are
compared (Blumenthal et al. 2005)."""

from __future__ import annotations

from dataclasses import dataclass

from pavlov.protocols.events import Event
from pavlov.protocols.kinds.base import Expansion, FileNeed, Kind, ReadContext
from pavlov.protocols.kinds.keys import Key, read_key
from pavlov.protocols.kinds.probe import PROBE, SOUND, VOLUME, read_sound, shortest_iti
from pavlov.protocols.kinds.shared import CONTEXT, INSTRUCTIONS, ITI, LEAD_IN
from pavlov.protocols.model import ITISpec, Phase, PhaseSpec
from pavlov.protocols.reader import Section

__all__ = ["StartleHabituationKind", "StartleHabituationSpec"]


@dataclass(frozen=True)
class StartleHabituationSpec(PhaseSpec):
    """``probes`` probes alone, ``iti`` after each.

    Attributes
    ----------
    probes : int
    iti : ITISpec or None
        The interval after each probe.
    lead_in : float
    context : str or None
    sound : str
        The probe's sound file (absolute path).
    duration : float
        Its length, seconds.
    volume : float
    """

    probes: int = 0
    iti: ITISpec | None = None
    lead_in: float = 0.0
    context: str | None = None
    sound: str = ""
    duration: float = 0.05
    volume: float = 1.0


KEYS = (
    INSTRUCTIONS,
    Key(
        "probes",
        "integer",
        "",
        ge=1,
        le=100,
        what="a number of probes",
        type_doc="whole, 1–100",
    ),
    Key(
        ITI.name,
        ITI.type,
        "interval after each probe, above 0 (habituation probes are spaced), e.g. "
        "`{uniform: [15, 25]}`",
        type_doc="as above",
    ),
    Key(
        "min_interval",
        "number",
        "least time between two probes' onsets: the probe's length plus the shortest ITI "
        "must reach it",
        default=0.0,
        ge=0,
        le=600,
        what="seconds",
        type_doc="seconds",
        default_doc="0",
    ),
    LEAD_IN,
    CONTEXT,
    SOUND,
    VOLUME,
)


MIN_INTERVAL = next(k for k in KEYS if k.name == "min_interval")


class StartleHabituationKind(Kind):
    """Startle probes alone."""

    name = "startle_habituation"
    doc = "acoustic startle probes alone (noise-alone), before the first phase"
    keys = KEYS
    event_kinds = (PROBE,)

    def read(
        self, ctx: ReadContext, section: Section, instructions: str | None
    ) -> StartleHabituationSpec:
        sound, length = read_sound(ctx, section)
        iti = ctx.read_iti(section, "iti")
        shortest = shortest_iti(iti)
        if shortest <= 0:
            # Probes back to back are one long noise, not habituation trials.
            section.fail("iti", "an interval above 0 after each probe (probes are spaced)", "0 s")
        gap = read_key(section, MIN_INTERVAL)
        if length + shortest < gap - 1e-9:
            section.fail(
                "iti",
                f"ITIs keeping min_interval {gap:g} s between probe onsets (the probe lasts "
                f"{length:g} s): at least {gap - length:g} s",
                f"a shortest ITI of {shortest:g} s",
            )
        return StartleHabituationSpec(
            probes=read_key(section, KEYS[1]),
            iti=iti,
            lead_in=read_key(section, LEAD_IN),
            context=ctx.read_context_role(section),
            sound=sound,
            duration=length,
            volume=read_key(section, VOLUME),
        )

    def expand(self, phase: Phase, x: Expansion) -> list[Event]:
        spec = phase.spec
        assert isinstance(spec, StartleHabituationSpec)
        itis = x.itis(spec.iti, spec.probes)
        return [
            Event(
                **x.base,
                kind="probe",
                index=i + 1,
                onset=spec.lead_in if i == 0 else 0.0,
                duration=spec.duration,
                iti=itis[i],
                probes=(0.0,),
                probe=i + 1,
                probe_length=spec.duration,
            )
            for i in range(spec.probes)
        ]

    def files(self, phase: Phase) -> tuple[FileNeed, ...]:
        spec = phase.spec
        assert isinstance(spec, StartleHabituationSpec)
        key = f"phases.{phase.name}.sound"
        return (FileNeed(key, "sound", spec.sound, volume=spec.volume),)
