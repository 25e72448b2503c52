"""Keys and components several kinds share: instructions, ITI, lead-in, context, US, and
the rating block (an online rating on every trial, or a post-phase rating)."""

from __future__ import annotations

import math

from pavlov.common.keys import RESERVED_KEYS
from pavlov.common.yamlio import Node
from pavlov.protocols.errors import ProtocolError
from pavlov.protocols.kinds.base import ReadContext
from pavlov.protocols.kinds.keys import REQUIRED, Key, read_key
from pavlov.protocols.kinds.screen import RATING_TOP
from pavlov.protocols.model import RATING_INPUTS, RatingSpec
from pavlov.protocols.reader import MISSING, Section, describe
from pavlov.stimuli.resolve import drawn_below_centre

__all__ = [
    "CONTEXT",
    "INSTRUCTIONS",
    "ITI",
    "LEAD_IN",
    "RATING_KEYS",
    "US",
    "rating_key",
    "read_rating",
    "read_rating_keys",
    "read_scale",
]

DEFAULT_QUESTION = "How much do you expect a shock?"
DEFAULT_ANCHORS = ("certainly no shock", "certainly a shock")

INSTRUCTIONS = Key(
    "instructions",
    "text",
    "a text screen shown before the phase starts (space continues)",
    default=None,
)
ITI = Key(
    "iti",
    "iti",
    "fixation after each trial. `trs`: a whole number of TRs drawn uniformly (needs "
    "`scanner`), so onsets stay locked to volumes",
    type_doc="seconds, or one of `{uniform: [low, high]}`, `{choice: [a, b, …]}`, "
    "`{sequence: [one per trial]}`, `{trs: [low, high]}`",
    default_doc="required unless the order files give ITIs",
)
LEAD_IN = Key(
    "lead_in",
    "number",
    "fixation before the first trial",
    default=0.0,
    ge=0,
    what="seconds",
    type_doc="seconds",
    default_doc="0",
)
CONTEXT = Key(
    "context",
    "context",
    "background around everything in the phase",
    default=None,
)
US = Key(
    "us",
    "us",
    "the US delivered (required with several USs)",
    default=None,
    default_doc="the only US, if one",
)

#: The rating block's keys (``rating:`` of trial phases and rating phases).
RATING_KEYS: tuple[Key, ...] = (
    Key(
        "question",
        "text",
        "shown above the scale",
        default=DEFAULT_QUESTION,
        default_doc=f"`{DEFAULT_QUESTION}`",
    ),
    Key(
        "scale",
        "integers",
        "",
        default=(0, 10),
        type_doc="`[low, high]` whole numbers",
        default_doc="`[0, 10]`",
    ),
    Key(
        "anchors",
        "texts",
        "",
        default=DEFAULT_ANCHORS,
        type_doc="`[low label, high label]`",
        default_doc="`[certainly no shock, certainly a shock]`",
    ),
    Key(
        "input",
        "choice",
        "number keys, or a mouse slider: the pointer is centred and the marker hidden until "
        "the participant moves the mouse; a click places the marker, another click moves it, "
        "space (or return) confirms; a value placed but not confirmed when the window ends is "
        "the rating (log: `rating_move`, `rating_rt`, `rating_confirm`)",
        enum=RATING_INPUTS,
        default=None,
        default_doc="`keys` when ≤ 10 points, else `slider`",
    ),
    Key(
        "keys",
        "texts",
        'e.g. a button box\'s `["1", "2", "3", "4"]`',
        default=None,
        type_doc="list of keys, one per point",
        default_doc="the digits `low…high`",
    ),
    Key(
        "onset",
        "number",
        "online ratings: when the scale appears (post-phase ratings: 0)",
        default=0.0,
        ge=0,
        type_doc="seconds after CS onset",
        default_doc="0",
    ),
    Key(
        "window",
        "number",
        "time to answer; a miss is logged `n/a`. Online windows end by the end of the CS; "
        "one open after the US onset in a phase with USs is warned about (an answer after the "
        "shock is not expectancy)",
        default=None,
        gt=0,
        type_doc="seconds",
        default_doc="until the US onset (`us_onset`), or the end of the CS without a US "
        "before it (online); 10 (post-phase)",
    ),
)


def rating_key(doc: str, required: bool) -> Key:
    """The ``rating`` block key of a kind."""
    return Key(
        "rating",
        "block",
        doc,
        default=REQUIRED if required else None,
        keys=RATING_KEYS,
        type_doc="rating block",
    )


def read_scale(section: Section, name: str, default: tuple[int, int]) -> tuple[int, int]:
    """Read ``[low, high]`` whole numbers with high > low."""
    nodes = section.sequence(name, None, min_len=2, what="[low, high]")
    if nodes is None:
        return default
    if len(nodes) != 2:
        section.fail(name, "[low, high]", f"a list of {len(nodes)}")
    low = section.check_integer(nodes[0], f"{section.sub(name)}[0]", "a whole number")
    high = section.check_integer(nodes[1], f"{section.sub(name)}[1]", f"a whole number > {low}")
    if high <= low:
        raise ProtocolError(
            section.path,
            nodes[1].line,
            f"{section.sub(name)}[1]",
            f"a whole number > {low}",
            str(high),
        )
    return low, high


def warn_if_cs_covers_rating(ctx: ReadContext, section: Section, key: str) -> None:
    """Warn when a visual CS drawn with a rating scale (centred, ``size`` high) would reach
    down over the rating's question: on screen the question's text then crosses the picture
    (the bundled generalisation study's largest ring did, at size 0.6). Every visual
    stimulus counts, as counterbalancing may give any of them a role the rating is about;
    an image counts as far down as it shows anything (:func:`drawn_below_centre`)."""
    room = -RATING_TOP  # from the centre down to the top of the question
    big = {}
    # When the CS stimuli themselves failed to load, that mistake is already reported and
    # there are no pictures to measure.
    stimuli = getattr(ctx, "cs", None) or {}
    for name, cs in stimuli.items():
        if cs.kind == "sound":
            continue
        # An image shows only as far down as its content (a ring on the screen's grey);
        # a shape or a text fills its height.
        share = drawn_below_centre(cs.file) if cs.kind == "image" and cs.file else 0.5
        if cs.size * share > room + 1e-9:
            big[name] = (cs.size, room / share)
    if big:
        names = ", ".join(f"{name} (size {size:g})" for name, (size, _) in big.items())
        largest = min(limit for _, limit in big.values())
        ctx.warn(
            section,
            key,
            f"the CS pictures {names} are drawn with this rating and reach more than "
            f"{room:g} of the screen height below the centre, over the rating's question: "
            f"a size of at most {math.floor(largest * 100) / 100:.2f} keeps them apart",
        )


def read_rating(
    ctx: ReadContext,
    parent: Section,
    online_cs_duration: float | None,
    required: bool,
    us_onset: float | None = None,
    us_given: bool = False,
) -> RatingSpec | None:
    """Read a ``rating`` block: online (within a CS of ``online_cs_duration`` s) or post-phase.

    An online window closes by default at ``us_onset`` (seconds after CS onset: the US, its
    omission or the CS− time point), so that no expectancy is rated after the outcome; a
    window set past it in a phase that gives USs (``us_given``) is a warning
    (:meth:`ReadContext.warn`).

    Raises
    ------
    ProtocolError
        On the first mistake.
    """
    section = parent.section(
        "rating", tuple(k.name for k in RATING_KEYS), MISSING if required else None
    )
    if section is None:
        return None
    low, high = read_scale(section, "scale", (0, 10))
    anchors_nodes = section.sequence("anchors", None, min_len=2, what="[low label, high label]")
    anchors: tuple[str, str]
    if anchors_nodes is None:
        anchors = DEFAULT_ANCHORS
    else:
        if len(anchors_nodes) != 2:
            section.fail("anchors", "[low label, high label]", describe(section.node("anchors")))
        anchors = (
            section.check_text(anchors_nodes[0], f"{section.sub('anchors')}[0]", "a label"),
            section.check_text(anchors_nodes[1], f"{section.sub('anchors')}[1]", "a label"),
        )
    n_points = high - low + 1
    default_input = "keys" if n_points <= 10 else "slider"
    input_kind = section.choice("input", RATING_INPUTS, default_input)
    keys: tuple[str, ...] = ()
    if input_kind == "keys":
        keys = read_rating_keys(section, low, n_points)
    elif section.has("keys"):
        section.fail("keys", "no keys with input: slider", describe(section.node("keys")))
    if online_cs_duration is None:
        onset = section.number(
            "onset", 0.0, ge=0, le=0, what="0 (post-phase ratings start at once)"
        )
        window = section.number("window", 10.0, gt=0, le=120, what="seconds")
    else:
        limit = f"seconds after CS onset, less than the CS ({online_cs_duration:g} s)"
        onset = section.number("onset", 0.0, ge=0, what=limit)
        if onset >= online_cs_duration:
            section.fail("onset", limit, f"{onset:g}")
        before_us = us_onset is not None and onset < us_onset - 1e-9
        closes = online_cs_duration
        if us_onset is not None and before_us:
            closes = min(online_cs_duration, us_onset)
        window = section.number("window", round(closes - onset, 6), gt=0, what="seconds")
        if onset + window > online_cs_duration + 1e-9:
            section.fail(
                "window",
                f"a window ending by the end of the CS (at most {online_cs_duration - onset:g} s)",
                f"{window:g}",
            )
        if us_given and us_onset is not None and onset + window > us_onset + 1e-9:
            # An answer after the shock rates the shock, not its expectation.
            key = "window" if before_us else "onset"
            ctx.warn(
                section,
                key,
                f"the rating ({onset:g}–{onset + window:g} s after CS onset) is open after "
                f"the US onset ({us_onset:g} s): ratings given after the shock are not "
                "expectancy"
                + (
                    f" (the default window, {us_onset - onset:g} s, closes at the US)"
                    if before_us
                    else ""
                ),
            )
    warn_if_cs_covers_rating(ctx, parent, "rating")
    return RatingSpec(
        question=read_key(section, RATING_KEYS[0]),
        low=low,
        high=high,
        anchors=anchors,
        input=input_kind,
        keys=keys,
        onset=onset,
        window=window,
        source=ctx.source(section.line),
    )


def read_rating_keys(section: Section, low: int, n_points: int) -> tuple[str, ...]:
    """Read a scale's ``keys`` (one per point, distinct, none reserved), or the digits
    ``low…high`` when absent (at most 10 points)."""
    key_nodes = section.sequence("keys", None, what="a list of keys")
    if key_nodes is None and n_points > 10 and section.has("input"):
        # `input: keys` asked for on a 0-100 scale: say why it cannot work.
        section.fail(
            "input",
            f"slider for a {low}–{low + n_points - 1} scale (input: keys needs one key per "
            f"point: {n_points} points, and only 10 digit keys exist)",
            "'keys'",
        )
    if key_nodes is None:
        if n_points > 10:
            section.fail(
                "keys",
                f"one key per scale point ({n_points}; only 10 digit keys exist, or use "
                "input: slider)",
                "nothing",
            )
        return tuple(str((low + i) % 10) for i in range(n_points))
    keys = tuple(
        str(
            section.check_text(
                Node(str(n.value), n.line), f"{section.sub('keys')}[{i}]", "a key name"
            )
        )
        for i, n in enumerate(key_nodes)
    )
    if len(keys) != n_points:
        section.fail("keys", f"one key per scale point ({n_points})", f"{len(keys)} keys")
    if len(set(keys)) != len(keys) or set(keys) & set(RESERVED_KEYS):
        section.fail(
            "keys",
            "distinct keys other than escape, space and f12 (reserved)",
            describe(section.node("keys")),
        )
    return keys
