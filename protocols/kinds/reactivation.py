"""``reactivation``: one unreinforced reminder CS, or a narrative script (audio played for
``duration``: playback and the imagery after it) — the ``script`` event."""

from __future__ import annotations

from dataclasses import dataclass

from pavlov.protocols.errors import ProtocolError
from pavlov.protocols.events import Event
from pavlov.protocols.kinds.base import (
    EventKind,
    Expansion,
    FileNeed,
    Kind,
    Marker,
    Presented,
    ReadContext,
    Rehearsal,
    Row,
    Simulated,
    Stage,
)
from pavlov.protocols.kinds.keys import REQUIRED, Key, read_key
from pavlov.protocols.kinds.present import base_row, hold
from pavlov.protocols.kinds.screen import Scene
from pavlov.protocols.kinds.shared import CONTEXT, INSTRUCTIONS, ITI, LEAD_IN
from pavlov.protocols.model import ITISpec, Phase, PhaseSpec, cs_type
from pavlov.protocols.reader import Section

__all__ = ["SCRIPT", "ReactivationKind", "ReactivationSpec", "present_script"]


@dataclass(frozen=True)
class ReactivationSpec(PhaseSpec):
    """A reminder CS (``reminder``, ``cs_duration``) or a script (``script``, ``duration``).

    Attributes
    ----------
    reminder : str or None
        The CS role presented once, unreinforced.
    cs_duration : float
        Seconds the reminder is shown.
    script : str or None
        Audio file template (``{participant}`` is replaced), absolute.
    duration : float
        Seconds of playback and imagery (script).
    iti, lead_in, context
        As for trial phases.
    """

    reminder: str | None = None
    cs_duration: float = 0.0
    script: str | None = None
    duration: float = 0.0
    iti: ITISpec | None = None
    lead_in: float = 0.0
    context: str | None = None


KEYS = (
    INSTRUCTIONS,
    Key(
        "reminder",
        "role",
        "presented once, unreinforced",
        default=None,
        default_doc="one of `reminder`/`script`",
    ),
    Key(
        "cs_duration",
        "number",
        "reminder length (Hu et al. 2018: 1 s and 4 s allowed updating)",
        default=None,
        gt=0,
        le=600,
        what="seconds",
        type_doc="seconds",
        default_doc="required with `reminder`",
    ),
    Key(
        "script",
        "file",
        "e.g. `scripts/{participant}_trauma.wav`",
        default=None,
        template=True,
        type_doc="sound file, may contain `{participant}`",
        default_doc="one of `reminder`/`script`",
    ),
    Key(
        "duration",
        "number",
        "playback plus the imagery after it; the recording must not be longer (checked "
        "before the session)",
        default=None,
        gt=0,
        le=3600,
        what="seconds (playback and the imagery after it)",
        type_doc="seconds",
        default_doc="required with `script`",
    ),
    Key(
        ITI.name,
        ITI.type,
        "fixation after the reminder or the script",
        default=0.0,
        type_doc="as above",
        default_doc="0",
    ),
    LEAD_IN,
    CONTEXT,
)


def present_script(stage: Stage, event: Event, planned: float) -> Presented:
    """Narrative audio played for ``duration`` with a fixation cross (drop-aware)."""
    key, stim_file = stage.script(event.phase)
    stage.mark("script", event.phase)
    if key:
        stage.on_flip(stage.play_sound, key)
    scene = Scene(context=event.context, fixation=True)
    n = stage.frames(event.duration, minimum=1)
    stopped: list[bool] = []

    def scene_at(index: int) -> Scene:
        if index >= n and key and not stopped:
            stopped.append(True)  # the sound stops with the screen's end
            stage.on_flip(stage.stop, key)
        return scene

    def tick(t: float) -> bool:
        stage.tick()
        return False

    times, end = hold(stage, scene_at, n, stop=tick, origin=stage.to_clock(planned))
    if key and not stopped:  # a stall jumped past the end
        stage.stop(key)
    row = base_row(event, "script")
    row.update(duration=(end - times[0]) * stage.speed, stim_file=stim_file)
    return Presented([(times[0], row)])


def simulate_script(sim: Rehearsal, event: Event, onset: float) -> Simulated:
    """A script lasts its planned duration."""
    row = base_row(event, "script")
    row.update(duration=event.duration, stim_file=sim.script(event.phase)[1])
    return Simulated(row)


SCRIPT = EventKind(
    "script",
    row="script",
    rows=(Row("script", "a narrative script played"),),
    markers=(Marker("script", 46, "audio script starts"),),
    present=present_script,
    simulate=simulate_script,
)


class ReactivationKind(Kind):
    """A reminder CS or a narrative script."""

    name = "reactivation"
    doc = "one unreinforced reminder CS, or a narrative script"
    keys = KEYS
    event_kinds = (SCRIPT,)

    def read(
        self, ctx: ReadContext, section: Section, instructions: str | None
    ) -> ReactivationSpec:
        if section.has("reminder") == section.has("script"):
            raise ProtocolError(
                ctx.shown,
                section.line,
                section.key,
                "exactly one of reminder (a CS role) or script (an audio file)",
                "both" if section.has("script") else "neither",
            )
        lead_in = read_key(section, LEAD_IN)
        iti = ctx.read_iti(section, "iti", default=0.0)
        context = ctx.read_context_role(section)
        node = section.node("reminder")
        if node is not None:
            role = ctx.check_role(section, node, section.sub("reminder"))
            if section.has("duration"):
                section.fail("duration", "cs_duration for a reminder CS", "duration")
            return ReactivationSpec(
                reminder=role,
                cs_duration=read_key(section, KEYS[2], default=REQUIRED),
                iti=iti,
                lead_in=lead_in,
                context=context,
            )
        if section.has("cs_duration"):
            section.fail("cs_duration", "duration for a script", "cs_duration")
        template = ctx.read_file(section, "script", "sound", template=True)
        return ReactivationSpec(
            script=template,
            duration=read_key(section, KEYS[4], default=REQUIRED),
            iti=iti,
            lead_in=lead_in,
            context=context,
        )

    def expand(self, phase: Phase, x: Expansion) -> list[Event]:
        spec = phase.spec
        assert isinstance(spec, ReactivationSpec)
        iti = x.itis(spec.iti, 1)[0]
        if spec.reminder is None:
            return [
                Event(
                    **x.base,
                    kind="script",
                    index=1,
                    onset=spec.lead_in,
                    duration=spec.duration,
                    iti=iti,
                )
            ]
        role = spec.reminder
        return [
            Event(
                **x.base,
                kind="trial",
                index=1,
                onset=spec.lead_in,
                duration=spec.cs_duration,
                iti=iti,
                cs=role,
                cs_type=cs_type(role),
                stimulus=x.cell.cs[role],
                event_type="CSpu" if cs_type(role) == "CS+" else "CSm",
            )
        ]

    def files(self, phase: Phase) -> tuple[FileNeed, ...]:
        spec = phase.spec
        if isinstance(spec, ReactivationSpec) and spec.script is not None:
            # The recording must fit the phase: playback and imagery.
            key = f"phases.{phase.name}.script"
            return (FileNeed(key, "sound", spec.script, spec.duration),)
        return ()
