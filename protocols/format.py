"""The keys of a protocol file outside its phases, and of a lab file, declared once.

The phase kinds declare their own keys (:mod:`pavlov.protocols.kinds`); this module declares
the rest of the format with the same :class:`~pavlov.protocols.kinds.keys.Key`: the top
level, the CS and context stimuli, the USs (one declaration per US ``type``), scanner,
safety, calibration and sessions, and the lab file's devices. The loader takes its lists of
accepted keys from here, and :mod:`pavlov.protocols.schema` turns the whole format into a
JSON Schema. Rules across keys (a US no longer than its CS, exactly one of ``image``,
``shape``, ``text``, ``sound``) stay in the readers; the schema says what it can of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

from pavlov.common.bids import LABEL
from pavlov.protocols.kinds.keys import REQUIRED, Key
from pavlov.protocols.model import GS_ROLE, SHAPES

__all__ = [
    "ARM",
    "CALIBRATION",
    "CONTEXT_STIMULUS",
    "CS_STIMULUS",
    "LAB",
    "SESSION",
    "TOP",
    "US_TYPES",
    "names",
]

NAME = r"[A-Za-z][A-Za-z0-9_]*"
ROLE = rf"CS[+-][A-Za-z0-9]*|{GS_ROLE}"
COLOR = r"#[0-9a-fA-F]{6}|[A-Za-z]+"


def names(keys: Sequence[Key]) -> tuple[str, ...]:
    """The key names of a declaration, in order (what a reader accepts)."""
    return tuple(key.name for key in keys)


#: A CS stimulus (``cs.stimuli.<name>``): exactly one of image, shape, text, sound.
CS_STIMULUS: tuple[Key, ...] = (
    Key("image", "file", "a picture (PNG, JPEG, ...)", default=None, template=True),
    Key("shape", "choice", "a shape drawn in `color`", default=None, enum=SHAPES),
    Key("text", "text", "a word or symbol drawn in `color`", default=None),
    Key("sound", "file", "a sound (WAV, FLAC, OGG)", default=None, template=True),
    Key(
        "color",
        "text",
        "colour of a shape or text",
        default=None,
        pattern=COLOR,
        default_doc="white (text); required for a shape",
    ),
    Key(
        "size",
        "number",
        "height as a fraction of the screen",
        default=0.4,
        gt=0,
        le=1,
        what="a height as a fraction of the screen",
    ),
)

#: A context background (``contexts.stimuli.<name>``): exactly one of image, color.
CONTEXT_STIMULUS: tuple[Key, ...] = (
    Key("image", "file", "a background picture", default=None),
    Key("color", "text", "a background colour", default=None, pattern=COLOR),
)

_TRAIN = (
    Key("pulse_width", "number", "seconds each pulse lasts", gt=0, le=1, what="seconds"),
    Key(
        "interval",
        "number",
        "seconds from one pulse's onset to the next (more than pulse_width)",
        default=None,
        gt=0,
        what="seconds",
        default_doc="pulse_width (a single pulse)",
    ),
    Key("count", "integer", "pulses in the train", ge=1, what="a number of pulses"),
)
_US_TYPE = Key("type", "choice", "what the US is", enum=("shock", "sound", "image"))
_US_DURATION = Key("duration", "number", "seconds the US lasts", gt=0, what="seconds")

#: A US (``us.<name>``), by its ``type``.
US_TYPES: Mapping[str, tuple[Key, ...]] = MappingProxyType(
    {
        "shock": (
            _US_TYPE,
            Key("train", "block", "the pulse train sent to the stimulator", keys=_TRAIN),
            Key(
                "duration",
                "number",
                "seconds the US lasts",
                default=None,
                gt=0,
                what="seconds",
                default_doc="the train's length",
            ),
        ),
        "sound": (
            _US_TYPE,
            Key("file", "file", "the sound (e.g. a scream)"),
            _US_DURATION,
            Key("volume", "number", "playback volume", default=1.0, gt=0, le=1, what="a volume"),
        ),
        "image": (_US_TYPE, Key("file", "file", "the aversive picture"), _US_DURATION),
    }
)

#: The shock work-up (``calibration``).
CALIBRATION: tuple[Key, ...] = (
    Key(
        "scale",
        "integers",
        "the rating scale of each test shock",
        default=(1, 10),
        type_doc="`[low, high]` whole numbers",
    ),
    Key("target", "integer", "the rating at which the work-up stops", what="a rating"),
    Key("target_text", "text", "the target's wording", default="unpleasant but not painful"),
    Key("start_ma", "number", "first dial setting", gt=0, le=100, what="milliamperes"),
    Key("step_ma", "number", "increment", gt=0, le=100, what="milliamperes"),
    Key("ceiling_ma", "number", "highest allowed setting", gt=0, le=100, what="milliamperes"),
    Key("max_steps", "integer", "most test shocks", default=15, ge=1, le=50),
)

#: One session (an item of ``sessions``).
SESSION: tuple[Key, ...] = (
    Key("name", "text", "BIDS session label, e.g. day1", pattern=LABEL),
    Key(
        "day",
        "integer",
        "days after the first session",
        default=None,
        ge=0,
        le=3650,
        default_doc="0 for the first session; required after it",
    ),
    Key("phases", "texts", "the phases in the order they run", pattern=NAME),
    Key(
        "scanner",
        "boolean",
        "whether the session runs in the scanner",
        default=None,
        default_doc="true when the protocol has a scanner block",
    ),
)

#: One between-subject arm (an item of ``arms``): the sessions as written, changed.
ARM: tuple[Key, ...] = (
    Key("description", "text", "what the arm does, in one line", default=None),
    Key(
        "replace",
        "keymap",
        "phase → the phase this arm runs in its place (in every session)",
        default=None,
        pattern=NAME,
        type_doc="mapping phase → phase",
    ),
    Key(
        "omit",
        "texts",
        "phases this arm leaves out, and sessions it does not have",
        default=None,
        pattern=NAME,
    ),
)

_STIMULI_DOC = "stimuli by name; counterbalancing assigns them to the roles"

#: The top level of a protocol file (``phases`` holds the kinds' declarations).
TOP: tuple[Key, ...] = (
    Key("pavlov", "integer", "format version", ge=1, le=1, type_doc="`1`"),
    Key("study", "text", "study label, shown in schedules and logged"),
    Key("task", "text", "BIDS task label (task-<label> in file names)", pattern=LABEL),
    Key("seed", "integer", "study seed: every participant's orders derive from it", ge=0),
    Key(
        "cs",
        "block",
        "the conditioned stimuli",
        keys=(
            Key(
                "roles",
                "texts",
                "CS roles such as CS+, CS-, CS+R; a generalisation design adds GS1…GSn "
                "(never reinforced), listed in continuum order CS+, GS1, …, GSn, CS−, its "
                "stimuli listed in the same order",
                pattern=ROLE,
            ),
            Key("stimuli", "named", _STIMULI_DOC, keys=CS_STIMULUS),
            Key(
                "circle",
                "boolean",
                "generalisation stimuli on a circle (FearGen's faces): the stimuli listed "
                "around it from the CS+, the CS− opposite, each GSk the two stimuli k steps "
                "either side of the CS+",
                default=False,
            ),
        ),
    ),
    Key("us", "named", "the unconditioned stimuli by name", default=None),
    Key(
        "contexts",
        "block",
        "context backgrounds (renewal designs)",
        default=None,
        keys=(
            Key("roles", "texts", "context roles such as A, B", pattern=LABEL),
            Key("stimuli", "named", _STIMULI_DOC, keys=CONTEXT_STIMULUS),
        ),
    ),
    Key(
        "counterbalancing",
        "block",
        "which assignments vary across participants",
        default=None,
        keys=(
            Key(
                "cs",
                "choice",
                "CS stimuli to roles; with GS roles `permute` keeps the continuum's order and "
                "only flips which end is the CS+ (2 cells)",
                default="permute",
                enum=("permute", "fixed"),
            ),
            Key(
                "contexts",
                "choice",
                "context stimuli to roles",
                default="permute",
                enum=("permute", "fixed"),
            ),
        ),
    ),
    Key(
        "scanner",
        "block",
        "scanner settings",
        default=None,
        keys=(
            Key("tr", "number", "repetition time", gt=0, le=10, what="seconds"),
            Key(
                "dummy_volumes",
                "integer",
                "volumes discarded before onset 0",
                default=0,
                ge=0,
                le=100,
            ),
            Key(
                "sync",
                "text",
                "the scanner pulse: key:5, serial:PATH[@BAUD]:CHAR or simulated",
                default="key:5",
                pattern=r"(key|serial|simulated)(:.*)?",
            ),
            Key(
                "timeout",
                "number",
                "seconds to wait for the first pulse (>= tr)",
                default=None,
                le=3600,
                what="seconds",
                default_doc="30, or tr if longer",
            ),
        ),
    ),
    Key(
        "safety",
        "block",
        "hard limits (required when a US is a shock)",
        default=None,
        keys=(
            Key("max_shocks", "integer", "most shocks one session may deliver", ge=1, le=200),
            Key(
                "max_train_duration",
                "number",
                "longest allowed pulse train",
                gt=0,
                le=2.0,
                what="seconds",
            ),
        ),
    ),
    Key("calibration", "block", "the shock work-up", default=None, keys=CALIBRATION),
    Key("phases", "named", "the phases by name (each has a type)", default=REQUIRED),
    Key(
        "sessions",
        "list",
        "the visits in order",
        default=None,
        keys=SESSION,
        default_doc="one session of every phase",
    ),
    Key(
        "arms",
        "named",
        "between-subject arms (groups): each a variant of the sessions; a participant's "
        "arm is balanced by participant number, crossed with the counterbalancing cells, "
        "or given with `pavlov run --arm` or a blinded code list (`--codes`)",
        default=None,
        keys=ARM,
        default_doc="one group",
    ),
    Key("authors", "texts", "the study's authors (BIDS dataset_description)", default=None),
    Key("license", "text", "the data's licence, e.g. CC0", default=None),
)

#: A lab file: the room's devices (every section optional; an absent device is simulated).
LAB: tuple[Key, ...] = (
    Key("lab", "text", "the room, logged with every session", default=None),
    Key(
        "shock",
        "block",
        "the stimulator's line",
        default=None,
        keys=(
            Key(
                "device",
                "text",
                "serial:PATH[@BAUD], parallel:ADDRESS, labjack:LINE or simulated",
                default=None,
            ),
            Key("code", "integer", "value written for each pulse", default=1, ge=1, le=255),
        ),
    ),
    Key(
        "trigger",
        "block",
        "the scanner pulse",
        default=None,
        keys=(
            Key(
                "device",
                "text",
                "simulated, key:KEY or serial:PATH[@BAUD]:CHAR",
                default=None,
            ),
        ),
    ),
    Key(
        "markers",
        "block",
        "event markers for the recorder",
        default=None,
        keys=(
            Key(
                "device",
                "text",
                "serial:..., parallel:ADDRESS, labjack:LINE, lsl[:STREAM] or simulated",
                default=None,
            ),
            Key(
                "pulse_width",
                "number",
                "seconds each code is held",
                default=0.01,
                gt=0,
                le=1,
                what="seconds",
            ),
            Key(
                "codes",
                "keymap",
                "marker event → code (0: no marker)",
                default=None,
                type_doc="mapping event → whole 0–255",
            ),
        ),
    ),
    Key(
        "record",
        "texts",
        "LSL streams recorded during sessions",
        default=None,
        pattern=r"lsl:\S.*",
    ),
)
