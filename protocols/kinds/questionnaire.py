"""``questionnaire``: items asked one after another, each a scale, a choice between texts,
or a choice between the participant's CS pictures (contingency awareness).

Uses: contingency awareness ("Which of these was followed by a shock?" over the CS
pictures), US unpleasantness after calibration or after a phase, CS valence and arousal
(SAM-style scales), post-experiment questions. Each item is one scheduled event of kind
``questionnaire``, self-paced up to its ``window``: the session goes on when it is answered.
A scale item is the rating scale of a post-phase rating (keys or a mouse slider); choices
and pictures sit side by side where the points of a scale would be, so the same keys (one
per option) or mouse (point, click, space confirms) pick one.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass

from pavlov.protocols.events import Event
from pavlov.protocols.kinds.base import (
    REHEARSAL_FRAME,
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
from pavlov.protocols.kinds.keys import Key, read_key
from pavlov.protocols.kinds.present import base_row, rating_columns
from pavlov.protocols.kinds.rating import rated_faces
from pavlov.protocols.kinds.screen import ChoiceView, RatingView, Scene
from pavlov.protocols.kinds.shared import (
    CONTEXT,
    INSTRUCTIONS,
    read_rating_keys,
    read_scale,
    warn_if_cs_covers_rating,
)
from pavlov.protocols.model import RATING_INPUTS, ITISpec, Phase, PhaseSpec, RatingSpec, cs_type
from pavlov.protocols.reader import Section, describe

if typing.TYPE_CHECKING:
    from pavlov.protocols.model import Protocol

__all__ = [
    "FORMS",
    "QUESTIONNAIRE",
    "QuestionnaireItem",
    "QuestionnaireKind",
    "QuestionnaireSpec",
    "item_of",
    "present_questionnaire",
]

#: What an item asks for: exactly one of these keys.
FORMS = ("scale", "choices", "picture_choice")

#: An item's ``id``: a name the log and the analysis use.
ITEM_ID = r"[A-Za-z][A-Za-z0-9_]*"

#: Seconds an item waits for its answer unless it says otherwise.
DEFAULT_WINDOW = 60.0


@dataclass(frozen=True)
class QuestionnaireItem:
    """One question.

    Attributes
    ----------
    id : str
        The item's name in the log (``item`` column) and the analysis.
    text : str
        The question.
    form : str
        One of :data:`FORMS`.
    rating : RatingSpec
        How it is answered: the scale (``scale`` items), or a scale of one point per option
        (1 … n, left to right) whose keys and mouse pick an option.
    choices : tuple of str
        ``choices`` items: the options, in the protocol's order (also the screen's).
    roles : tuple of str
        ``picture_choice`` items: the CS roles whose pictures are offered (the screen
        order is drawn per participant).
    awareness : bool
        ``picture_choice`` items: choosing the CS+ picture counts as contingency awareness;
        ``scale`` items about one CS: its rating is compared with the other CSs' (aware
        when the CS+ rating exceeds every CS− rating).
    cs : str or None
        ``scale`` items about one CS (SAM-style valence or arousal): the role whose picture
        (this participant's) is shown above the scale.
    """

    id: str
    text: str
    form: str
    rating: RatingSpec
    choices: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    awareness: bool = False
    cs: str | None = None


@dataclass(frozen=True)
class QuestionnaireSpec(PhaseSpec):
    """Questionnaire items in order, ``iti`` between them, ``context`` around them."""

    items: tuple[QuestionnaireItem, ...] = ()
    iti: ITISpec | None = None
    context: str | None = None


ITEM_KEYS: tuple[Key, ...] = (
    Key(
        "id",
        "text",
        "the item's name in the log (`item`) and the analysis",
        pattern=ITEM_ID,
        what="a name of letters, digits and _ (starting with a letter)",
    ),
    Key("text", "text", "the question, shown above the answers"),
    Key(
        "scale",
        "integers",
        "a rating scale (e.g. US unpleasantness, SAM valence 1–9)",
        default=None,
        type_doc="`[low, high]` whole numbers",
    ),
    Key(
        "anchors",
        "texts",
        "`scale` items: labels of the ends",
        default=None,
        type_doc="`[low label, high label]`",
        default_doc="the end numbers",
    ),
    Key(
        "cs",
        "role",
        "`scale` items: the CS role whose picture (this participant's) is shown above the "
        "scale, e.g. SAM valence or arousal of the CS+ (a GS on a circle: asked about each "
        "of its two stimuli)",
        default=None,
    ),
    Key(
        "feared_end",
        "choice",
        "`scale` items with a `cs`: the end a feared CS is rated towards, `high` (shock "
        "expectancy, fear, arousal) or `low` (SAM valence, low = unpleasant); the simulated "
        "participant rates the CS+ towards it",
        enum=("high", "low"),
        default="high",
    ),
    Key(
        "choices",
        "texts",
        "texts to choose from, shown side by side in this order (2–10)",
        default=None,
    ),
    Key(
        "picture_choice",
        "roles",
        "CS roles whose pictures (this participant's) are shown side by side, in a seeded "
        'order per participant, e.g. `[CS+, CS-]` for "Which of these was followed by a '
        'shock?"',
        default=None,
    ),
    Key(
        "awareness",
        "boolean",
        "`picture_choice` items: choosing the CS+ picture counts as contingency awareness; "
        "`scale` items with a `cs` (shock expectancy per CS, one item per CS): aware when "
        "the CS+ rating exceeds every CS− rating (`pavlov analyze --exclude unaware`)",
        default=False,
    ),
    Key(
        "input",
        "choice",
        "`keys`: one key per point or option; `slider`: the mouse (point, click, then space "
        "confirms), as in ratings",
        enum=RATING_INPUTS,
        default=None,
        default_doc="`keys` when ≤ 10 points or options, else `slider`",
    ),
    Key(
        "keys",
        "texts",
        "one key per point or option, e.g. a button box's",
        default=None,
        type_doc="list of keys",
        default_doc="the digits `low…high` (scales), `1…n` (choices)",
    ),
    Key(
        "window",
        "number",
        "time to answer; the item ends at the answer, a miss is logged `n/a`",
        default=DEFAULT_WINDOW,
        gt=0,
        le=600,
        what="seconds",
        type_doc="seconds, 0 < x ≤ 600",
    ),
)

#: The item keys by name.
ITEM_KEY = {key.name: key for key in ITEM_KEYS}

KEYS = (
    INSTRUCTIONS,
    Key(
        "items",
        "list",
        "the questions, asked in this order",
        keys=ITEM_KEYS,
        type_doc="list of items (below)",
    ),
    Key("iti", "iti", "pause between items", default=1.0, type_doc="seconds", default_doc="1"),
    CONTEXT,
)


def item_of(protocol: Protocol, event: Event) -> QuestionnaireItem:
    """The item a ``questionnaire`` event asks."""
    spec = protocol.phases[event.phase].spec
    assert isinstance(spec, QuestionnaireSpec)
    # By id: an item about a circle's GS is asked once per stimulus, so the event's number
    # counts questions, not items.
    return next(item for item in spec.items if item.id == event.item)


def _option(item: QuestionnaireItem, value: float) -> int:
    """0-based option a value on the option scale (1 … n) stands for."""
    return min(max(round(value) - 1, 0), item.rating.high - 1)


def _scene(
    item: QuestionnaireItem, event: Event, state: RatingProgress | None, done: bool = False
) -> Scene:
    marker = state.marker if state is not None else None
    placed = bool(state is not None and state.pending)
    if item.form == "scale":
        view = RatingView(item.rating, marker, answered=done, placed=placed)
        return Scene(context=event.context, cs=event.stimulus, rating=view)
    choice = ChoiceView(
        item.text,
        labels=item.choices,
        pictures=event.pictures,
        keys=item.rating.keys,
        marker=None if marker is None else _option(item, marker),
        answered=done,
        placed=placed,
    )
    return Scene(context=event.context, choice=choice)


def answer_columns(
    item: QuestionnaireItem, event: Event, value: float | None, files: typing.Any
) -> dict[str, object]:
    """The answer's log columns: ``rating`` (the scale value, or the chosen option's number
    in the protocol's list), ``value`` (the answer as text: the chosen text or role), and
    for a picture choice the chosen role, its type, picture and file."""
    columns: dict[str, object] = {"item": item.id}
    if item.cs is not None:  # the CS the scale was about
        columns |= {
            "cs": event.cs,
            "cs_type": event.cs_type,
            "stimulus": event.stimulus,
            "stim_file": files.stim_file("cs", event.stimulus),
        }
    if value is None:
        return columns | {"rating": None}
    if item.form == "scale":
        return columns | {"rating": value, "value": f"{value:g}"}
    position = _option(item, value)
    if item.form == "choices":
        return columns | {"rating": float(position + 1), "value": item.choices[position]}
    role = event.choices[position]
    picture = event.pictures[position]
    return columns | {
        "rating": float(item.roles.index(role) + 1),
        "value": role,
        "cs": role,
        "cs_type": cs_type(role),
        "stimulus": picture,
        "stim_file": files.stim_file("cs", picture),
    }


def present_questionnaire(stage: Stage, event: Event, planned: float) -> Presented:
    """One item until answered or timed out; the session goes on at once after it."""
    item = item_of(stage.protocol, event)
    spec = item.rating
    n_window = stage.frames(spec.window, minimum=1)
    label = f"{event.phase}/{item.id}"
    stage.mark("questionnaire", label)
    state: RatingProgress | None = None
    answer = None
    times: list[float] = []
    f = 0
    while f < n_window:
        t = stage.frame(_scene(item, event, state))
        times.append(t)
        if len(times) == 1:
            stage.participant.start_rating(event, spec, t)
        state = stage.participant.poll_rating(t, stage.keys)
        if state.answer is not None:
            answer = state.answer
            stage.mark("response", label)
            break
        f = stage.refresh_index(t, times[0], len(times) - 1) + 1
    if answer is None and state is not None:
        answer = state.pending  # placed, not confirmed: the window's end takes it
    end = stage.frame(Scene(context=event.context, fixation=True))
    # Not counted with the console's expectancy ratings: an item is not one.
    value = answer.value if answer is not None else None
    row = base_row(event, "questionnaire")
    row.update(
        duration=(end - times[0]) * stage.speed,
        **rating_columns(stage, answer, times[0]),
    )
    row.update(answer_columns(item, event, value, stage))
    return Presented([(times[0], row)], end=end)


def simulate_questionnaire(sim: Rehearsal, event: Event, onset: float) -> Simulated:
    """The learner's answer and time (the item ends a refresh after it), or a miss after
    the window."""
    item = item_of(sim.protocol, event)
    value, rt = sim.learner.rate(event, item.rating)
    row = base_row(event, "questionnaire")
    duration = (rt if value is not None else item.rating.window) + REHEARSAL_FRAME
    row.update(
        duration=duration,
        rating_rt=rt if value is not None else None,
        rating_confirm=rt if value is not None else None,
    )
    row.update(answer_columns(item, event, value, sim))
    return Simulated(row, end=onset + duration)


QUESTIONNAIRE = EventKind(
    "questionnaire",
    row="questionnaire",
    rows=(
        Row(
            "questionnaire",
            "a questionnaire item; `item` its id, `rating`/`value` the answer, `rating_rt` "
            "its time",
        ),
    ),
    markers=(
        Marker("questionnaire", 34, "questionnaire item shown"),
        Marker("response", 32, "rating answered"),
    ),
    present=present_questionnaire,
    describe_event=lambda event: f"questionnaire item {event.index} ({event.item})",
    simulate=simulate_questionnaire,
)


class QuestionnaireKind(Kind):
    """Questionnaire items: scales, choices, and choices between CS pictures."""

    name = "questionnaire"
    doc = "questions: a scale, choices, or a choice between the CS pictures (awareness)"
    keys = KEYS
    event_kinds = (QUESTIONNAIRE,)

    def read(
        self, ctx: ReadContext, section: Section, instructions: str | None
    ) -> QuestionnaireSpec:
        nodes = section.sequence("items", what="a list of questionnaire items")
        items: list[QuestionnaireItem] = []
        for i, node in enumerate(nodes):
            item = _read_item(ctx, section, node, f"{section.sub('items')}[{i}]")
            if any(other.id == item.id for other in items):
                raise section.error(
                    section.path,
                    node.line,
                    f"{section.sub('items')}[{i}].id",
                    "an id used once in the phase",
                    f"'{item.id}' again",
                )
            items.append(item)
        rated = [cs_type(item.cs) for item in items if item.awareness and item.cs]
        if rated and not ("CS+" in rated and "CS-" in rated):
            missing = "CS+" if "CS+" not in rated else "CS−"
            raise section.error(
                section.path,
                section.line,
                section.sub("items"),
                "awareness scale items for a CS+ and a CS− (aware: the CS+ rated above every CS−)",
                f"none for a {missing}",
            )
        return QuestionnaireSpec(
            items=tuple(items),
            iti=ctx.read_iti(section, "iti", default=1.0),
            context=ctx.read_context_role(section),
        )

    def expand(self, phase: Phase, x: Expansion) -> list[Event]:
        spec = phase.spec
        assert isinstance(spec, QuestionnaireSpec)
        # A scale about a circle's GS is asked about each of its two stimuli (both shown in
        # its trials), one after the other; every other item once.
        asked = [
            (item, stimulus)
            for item in spec.items
            for stimulus in (rated_faces(x.cell, item.cs) if item.cs else (None,))
        ]
        itis = x.itis(spec.iti, len(asked))
        events = []
        for i, (item, stimulus) in enumerate(asked):
            roles = tuple(x.stream.shuffled(item.roles)) if item.roles else ()
            events.append(
                Event(
                    **x.base,
                    kind="questionnaire",
                    index=i + 1,
                    onset=0.0,
                    duration=item.rating.window,
                    iti=itis[i],
                    item=item.id,
                    cs=item.cs,
                    cs_type=cs_type(item.cs) if item.cs else None,
                    stimulus=stimulus,
                    choices=roles,
                    pictures=tuple(x.cell.cs[role] for role in roles),
                )
            )
        return events

    def used_keys(self, phase: Phase) -> tuple[str, ...]:
        spec = phase.spec
        assert isinstance(spec, QuestionnaireSpec)
        return tuple(dict.fromkeys(k for item in spec.items for k in item.rating.keys))

    def scales(self, phase: Phase) -> tuple[RatingSpec, ...]:
        spec = phase.spec
        assert isinstance(spec, QuestionnaireSpec)
        return tuple(item.rating for item in spec.items if item.form == "scale")

    def texts(self, phase: Phase) -> tuple[str, ...]:
        spec = phase.spec
        assert isinstance(spec, QuestionnaireSpec)
        texts = [item.text for item in spec.items if item.form != "scale"]
        texts += [c for item in spec.items for c in item.choices]
        return (*super().texts(phase), *dict.fromkeys(texts))


def _read_item(ctx: ReadContext, parent: Section, node, key: str) -> QuestionnaireItem:
    section = Section(
        parent.path, node, key, tuple(k.name for k in ITEM_KEYS), parent.error, parent.collector
    )
    item_id = read_key(section, ITEM_KEY["id"])
    text = read_key(section, ITEM_KEY["text"])
    given = [form for form in FORMS if section.has(form)]
    if len(given) != 1:
        raise section.error(
            section.path,
            section.line,
            key,
            "exactly one of scale, choices or picture_choice",
            " and ".join(given) if given else "none of them",
        )
    form = given[0]
    for name, only in (("anchors", "scale"), ("cs", "scale")):
        if section.has(name) and form != only:
            section.fail(name, f"{name} only on a {only} item", f"{name} on a {form} item")
    if section.has("feared_end") and not (form == "scale" and section.has("cs")):
        section.fail(
            "feared_end", "feared_end only on a scale item with a cs", "feared_end without one"
        )
    feared_end = read_key(section, ITEM_KEY["feared_end"])
    aware = bool(read_key(section, ITEM_KEY["awareness"]))
    if aware and form == "choices":
        section.fail(
            "awareness",
            "awareness on a picture_choice item, or a scale item with a cs",
            "awareness on a choices item",
        )
    if aware and form == "scale" and not section.has("cs"):
        section.fail(
            "awareness",
            "a cs on an awareness scale item (the CS whose expectancy it asks)",
            "awareness without a cs",
        )
    if aware and feared_end == "low":
        # The awareness rule (CS+ rated above every CS−) reads a high answer as expected.
        section.fail(
            "feared_end",
            "feared_end: high on an awareness item (it asks shock expectancy)",
            "low",
        )
    choices: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    anchors: tuple[str, str]
    role = None
    if form == "scale":
        node = section.node("cs")
        if node is not None:
            role = ctx.check_role(section, node, section.sub("cs"))
            _pictures_only(ctx, section, "cs")
            warn_if_cs_covers_rating(ctx, section, "cs")
        low, high = read_scale(section, "scale", (0, 10))
        anchors = (str(low), str(high))
        anchor_nodes = section.sequence("anchors", None, min_len=2, what="[low label, high label]")
        if anchor_nodes is not None:
            if len(anchor_nodes) != 2:
                section.fail(
                    "anchors", "[low label, high label]", describe(section.node("anchors"))
                )
            anchors = (
                section.check_text(anchor_nodes[0], f"{section.sub('anchors')}[0]", "a label"),
                section.check_text(anchor_nodes[1], f"{section.sub('anchors')}[1]", "a label"),
            )
    elif form == "choices":
        choice_nodes = section.sequence("choices", min_len=2, what="a list of 2 to 10 texts")
        if len(choice_nodes) > 10:
            section.fail("choices", "a list of 2 to 10 texts", f"a list of {len(choice_nodes)}")
        choices = tuple(
            section.check_text(n, f"{section.sub('choices')}[{i}]", "a text")
            for i, n in enumerate(choice_nodes)
        )
        if len(set(choices)) != len(choices):
            section.fail("choices", "each text once", describe(section.node("choices")))
        low, high = 1, len(choices)
        anchors = (choices[0], choices[-1])
    else:
        role_nodes = section.sequence("picture_choice", min_len=2, what="a list of 2+ CS roles")
        roles = tuple(
            ctx.check_role(section, n, f"{section.sub('picture_choice')}[{i}]")
            for i, n in enumerate(role_nodes)
        )
        if len(set(roles)) != len(roles):
            section.fail(
                "picture_choice", "each CS role once", describe(section.node("picture_choice"))
            )
        _pictures_only(ctx, section, "picture_choice")
        if read_key(section, ITEM_KEY["awareness"]) and not any(cs_type(r) == "CS+" for r in roles):
            section.fail("awareness", "a picture_choice offering a CS+ role", "true without one")
        low, high = 1, len(roles)
        anchors = ("", "")
    n_points = high - low + 1
    input_kind = section.choice("input", RATING_INPUTS, "keys" if n_points <= 10 else "slider")
    keys: tuple[str, ...] = ()
    if input_kind == "keys":
        keys = read_rating_keys(section, low, n_points)
    elif section.has("keys"):
        section.fail("keys", "no keys with input: slider", describe(section.node("keys")))
    window = read_key(section, ITEM_KEY["window"])
    rating = RatingSpec(
        question=text,
        low=low,
        high=high,
        anchors=anchors,
        input=input_kind,
        keys=keys,
        onset=0.0,
        window=window,
        source=ctx.source(section.line),
        feared_end=feared_end,
    )
    return QuestionnaireItem(
        id=item_id,
        text=text,
        form=form,
        rating=rating,
        choices=choices,
        roles=roles,
        awareness=aware,
        cs=role,
    )


def _pictures_only(ctx: ReadContext, section: Section, key: str) -> None:
    sounds = [name for name, cs in ctx.cs.items() if cs.kind == "sound"]
    if sounds:
        # Counterbalancing may give any role any CS: every CS must be a picture.
        section.fail(
            key,
            "a protocol whose CSs are pictures (image, shape or text)",
            f"the sound CS '{sounds[0]}'",
        )
