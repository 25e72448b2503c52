"""``rating``: post-phase ratings, each CS role once in a seeded order, with its CS on
screen and the scale until answered or timed out. A generalisation stimulus on a circle
(``cs.circle``) has two stimuli, both shown in its trials: each is rated on its own."""

from __future__ import annotations

from dataclasses import dataclass

from pavlov.protocols.events import Cell, Event
from pavlov.protocols.kinds.base import (
    EventKind,
    Expansion,
    Kind,
    Marker,
    Presented,
    RatingProgress,
    ReadContext,
    Rehearsal,
    Row,
    Simulated,
    Stage,
)
from pavlov.protocols.kinds.keys import Key
from pavlov.protocols.kinds.present import base_row, rating_columns
from pavlov.protocols.kinds.screen import RatingView, Scene
from pavlov.protocols.kinds.shared import CONTEXT, INSTRUCTIONS, rating_key, read_rating
from pavlov.protocols.model import ITISpec, Phase, PhaseSpec, RatingSpec, cs_type
from pavlov.protocols.reader import Section, describe

__all__ = ["RATING", "RatingKind", "RatingPhaseSpec", "present_rating", "rated_faces"]


@dataclass(frozen=True)
class RatingPhaseSpec(PhaseSpec):
    """Post-phase ratings: the roles ``rate`` on the scale ``rating``, ``iti`` between."""

    rating: RatingSpec | None = None
    rate: tuple[str, ...] = ()
    iti: ITISpec | None = None
    context: str | None = None


KEYS = (
    INSTRUCTIONS,
    Key(
        "rate",
        "roles",
        "rated once each, in a seeded order (a GS on a circle: each of its two stimuli)",
        default=None,
        default_doc="all roles",
    ),
    rating_key("the scale (below)", required=True),
    Key("iti", "iti", "pause between items", default=1.0, type_doc="seconds", default_doc="1"),
    CONTEXT,
)


def present_rating(stage: Stage, event: Event, planned: float) -> Presented:
    """A post-phase rating of one CS: the CS with the scale until answered or timed out."""
    spec = stage.protocol.phases[event.phase].rating
    cs = stage.protocol.cs.get(event.stimulus or "")
    sound = cs is not None and cs.kind == "sound"
    n_window = stage.frames(spec.window, minimum=1) if spec else 1
    label = f"{event.phase}/rating{event.index}"
    stage.mark("rating", label)
    if sound:
        stage.on_flip(stage.play_sound, f"cs:{event.stimulus}")
    visual = None if sound else event.stimulus
    state: RatingProgress | None = None
    answer = None
    times: list[float] = []
    onset = 0.0
    f = 0
    while f < n_window:
        view = None
        if spec:
            marker = state.marker if state else None
            view = RatingView(spec, marker, placed=bool(state and state.pending))
        t = stage.frame(Scene(context=event.context, cs=visual, fixation=sound, rating=view))
        times.append(t)
        if len(times) == 1:
            onset = t
            if spec is not None:
                stage.participant.start_rating(event, spec, t)
        state = stage.participant.poll_rating(t, stage.keys)
        if state.answer is not None:
            answer = state.answer
            stage.mark("response", label)
            break
        f = stage.refresh_index(t, onset, len(times) - 1) + 1
    if answer is None and state is not None:
        answer = state.pending  # placed, not confirmed: the window's end takes it
    if sound:
        stage.on_flip(stage.stop, f"cs:{event.stimulus}")
    end = stage.frame(Scene(context=event.context, fixation=True))
    stage.rated(event, answer.value if answer else None)
    row = base_row(event, "rating")
    row.update(
        cs=event.cs,
        cs_type=event.cs_type,
        stimulus=event.stimulus,
        duration=(end - times[0]) * stage.speed,
        **rating_columns(stage, answer, onset),
        stim_file=stage.stim_file("cs", event.stimulus),
    )
    return Presented([(times[0], row)])


def simulate_rating(sim: Rehearsal, event: Event, onset: float) -> Simulated:
    """A post-phase rating: the learner's answer and time, or a miss after the window."""
    rating = sim.protocol.phases[event.phase].rating
    answer, rt = sim.learner.rate(event, rating) if rating else (None, 0.0)
    window = rating.window if rating else 0.0
    row = base_row(event, "rating")
    row.update(
        cs=event.cs,
        cs_type=event.cs_type,
        stimulus=event.stimulus,
        rating=answer,
        rating_rt=rt if answer is not None else None,
        duration=rt if answer is not None else window,
        stim_file=sim.stim_file("cs", event.stimulus),
    )
    return Simulated(row)


RATING = EventKind(
    "rating",
    row="rating",
    rows=(Row("rating", "a post-phase rating of one CS"),),
    markers=(
        Marker("rating", 30, "rating scale shown"),
        Marker("response", 32, "rating answered"),
    ),
    present=present_rating,
    simulate=simulate_rating,
)


class RatingKind(Kind):
    """Post-phase ratings of CS roles."""

    name = "rating"
    doc = "post-phase ratings"
    keys = KEYS
    event_kinds = (RATING,)

    def read(self, ctx: ReadContext, section: Section, instructions: str | None) -> RatingPhaseSpec:
        rate_nodes = section.sequence("rate", None, what="a list of CS roles")
        rate = (
            tuple(
                ctx.check_role(section, n, f"{section.sub('rate')}[{i}]")
                for i, n in enumerate(rate_nodes)
            )
            if rate_nodes
            else ctx.cs_roles
        )
        if len(set(rate)) != len(rate):
            section.fail("rate", "each CS role once", describe(section.node("rate")))
        return RatingPhaseSpec(
            rate=rate,
            rating=read_rating(ctx, section, online_cs_duration=None, required=True),
            iti=ctx.read_iti(section, "iti", default=1.0),
            context=ctx.read_context_role(section),
        )

    def expand(self, phase: Phase, x: Expansion) -> list[Event]:
        spec = phase.spec
        assert isinstance(spec, RatingPhaseSpec) and spec.rating is not None
        if x.cell.faces:
            # A GS on a circle is two stimuli, both seen in its trials: each is rated on its
            # own (as FearGen rated every face), the pairs shuffled apart like the roles.
            rated = x.stream.shuffled(
                [(role, face) for role in spec.rate for face in rated_faces(x.cell, role)]
            )
        else:
            rated = [(role, x.cell.cs[role]) for role in x.stream.shuffled(spec.rate)]
        itis = x.itis(spec.iti, len(rated))
        return [
            Event(
                **x.base,
                kind="rating",
                index=i + 1,
                onset=0.0,
                duration=spec.rating.window,
                iti=itis[i],
                cs=role,
                cs_type=cs_type(role),
                stimulus=stimulus,
            )
            for i, (role, stimulus) in enumerate(rated)
        ]


def rated_faces(cell: Cell, role: str) -> tuple[str, ...]:
    """The stimuli a rating or question about ``role`` asks about: a circle's GS has two
    (both shown in its trials), any other role its one."""
    return tuple(cell.faces.get(role, (cell.cs[role],)))
