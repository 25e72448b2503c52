"""``wait``: a timed interval (e.g. an infusion window) with the protocol's text, a
countdown, and experimenter keys that log events; F12 ends it early."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pavlov.protocols.events import Event
from pavlov.protocols.kinds.base import (
    EventKind,
    Expansion,
    Kind,
    Marker,
    Presented,
    ReadContext,
    Row,
    Stage,
)
from pavlov.protocols.kinds.keys import Key, read_key
from pavlov.protocols.kinds.present import base_row, hold
from pavlov.protocols.kinds.screen import Scene, format_clock
from pavlov.protocols.model import RESERVED_KEYS, Phase, PhaseSpec
from pavlov.protocols.reader import Section
from pavlov.protocols.yamlio import Node

__all__ = ["END_WAIT_KEY", "WAIT", "WaitKind", "WaitSpec", "present_wait"]

#: Experimenter key that ends a wait or rest block early (logged as an ``event`` row).
END_WAIT_KEY = "f12"
DEFAULT_TEXT = "Please wait."


@dataclass(frozen=True)
class WaitSpec(PhaseSpec):
    """A timed wait.

    Attributes
    ----------
    duration : float
        Seconds.
    text : str
        Shown for the whole wait (the protocol's ``text:``, else its ``instructions:``,
        else "Please wait.").
    countdown : bool
        Show the time left.
    event_keys : Mapping[str, str]
        Experimenter key → event label logged when pressed (e.g. infusion start).
    """

    duration: float = 0.0
    text: str = DEFAULT_TEXT
    countdown: bool = True
    event_keys: Mapping[str, str] = field(default_factory=dict)


KEYS = (
    Key(
        "instructions",
        "text",
        "shown for the whole wait when `text` is not given",
        default=None,
    ),
    Key("duration", "number", "", gt=0, what="seconds", type_doc="seconds"),
    Key("countdown", "boolean", "show the time left", default=True),
    Key(
        "text",
        "text",
        "shown to the participant for the whole wait (the only words on the screen, with "
        "the countdown)",
        default=None,
        default_doc=f"`{DEFAULT_TEXT}`",
    ),
    Key(
        "event_keys",
        "keymap",
        "e.g. `{i: infusion_start, o: infusion_stop}`; escape, space and f12 are reserved",
        default=None,
        pattern=r"[A-Za-z0-9_]+",
    ),
)


def present_wait(stage: Stage, event: Event, planned: float) -> Presented:
    """The protocol's text and a countdown until the wait's clock time; keys are logged."""
    spec = stage.protocol.phases[event.phase].spec
    assert isinstance(spec, WaitSpec)
    stage.mark("wait", event.phase)
    scenes: dict[str | None, Scene] = {}
    ended: list[bool] = []

    def scene(index: int) -> Scene:
        # Time left from the refresh about to be shown: a dropped frame does not stretch
        # the wait (counting flips made a 600-s wait last 675 s on a busy machine).
        left = event.duration - index * stage.period * stage.speed
        shown = format_clock(left) if spec.countdown else None
        if shown not in scenes:
            scenes.clear()  # one scene per second left: keep only the current one
            scenes[shown] = Scene(text=spec.text, countdown=shown)
        stage.tick(f"wait: {format_clock(left)} left")
        return scenes[shown]

    def stop(t: float) -> bool:
        for key, time in stage.keys:
            if key in spec.event_keys:
                label = spec.event_keys[key]
                stage.note(time, {"trial_type": "event", "value": label})
                stage.mark("event", label, on_flip=False)
                stage.message(f"{label} at {format_clock(stage.to_log(time))}")
            elif key == END_WAIT_KEY:
                ended.append(True)
                stage.note(time, {"trial_type": "event", "value": "wait ended early"})
        return bool(ended)

    n = stage.frames(event.duration, minimum=1)
    times, end = hold(
        stage, scene, n, closing=Scene(fixation=True), stop=stop, origin=stage.to_clock(planned)
    )
    row = base_row(event, "wait")
    row.update(duration=(end - times[0]) * stage.speed, value="ended early" if ended else None)
    return Presented([(times[0], row)], end=end if ended else None)


WAIT = EventKind(
    "wait",
    row="wait",
    rows=(Row("wait", "a wait; `value` is `ended early` when F12 ended it"),),
    markers=(
        Marker("wait", 42, "wait phase (e.g. infusion) starts"),
        Marker("event", 48, "experimenter key during a wait"),
    ),
    present=present_wait,
)


class WaitKind(Kind):
    """A timed wait with a countdown and experimenter event keys."""

    name = "wait"
    doc = "a timed interval with a countdown and experimenter event keys"
    keys = KEYS
    event_kinds = (WAIT,)
    instructions_first = False

    def read(self, ctx: ReadContext, section: Section, instructions: str | None) -> WaitSpec:
        event_keys: dict[str, str] = {}
        keys = section.section("event_keys", None, None)
        if keys is not None:
            for k in keys.items:
                keys.check_text(
                    Node(k, keys.key_lines[k]),
                    keys.sub(k),
                    "a single key name",
                    pattern=r"[a-z0-9]|f[0-9]{1,2}|[a-z]+",
                )
                if k in RESERVED_KEYS:
                    keys.fail(
                        k,
                        f"a key other than {', '.join(RESERVED_KEYS)} (they are reserved)",
                        f"'{k}'",
                    )
                event_keys[k] = keys.text(
                    k, pattern=r"[A-Za-z0-9_]+", what="an event label (letters, digits, _)"
                )
        text = section.text("text", None)
        return WaitSpec(
            duration=read_key(section, KEYS[1]),
            text=text or instructions or DEFAULT_TEXT,
            countdown=read_key(section, KEYS[2]),
            event_keys=event_keys,
        )

    def expand(self, phase: Phase, x: Expansion) -> list[Event]:
        spec = phase.spec
        assert isinstance(spec, WaitSpec)
        return [Event(**x.base, kind="wait", index=1, onset=0.0, duration=spec.duration)]

    def used_keys(self, phase: Phase) -> tuple[str, ...]:
        spec = phase.spec
        return tuple(spec.event_keys) if isinstance(spec, WaitSpec) else ()

    def texts(self, phase: Phase) -> tuple[str, ...]:
        spec = phase.spec
        return (spec.text,) if isinstance(spec, WaitSpec) else ()
