"""The registry of phase kinds: one module per kind, everything about it in that module.

Each kind (:class:`~pavlov.protocols.kinds.base.Kind`) declares its keys
(:class:`~pavlov.protocols.kinds.keys.Key`), reads its frozen spec, expands into scheduled
events, counts its shocks, names the files it needs, and presents its events through an
injected :class:`~pavlov.protocols.kinds.base.Stage`, naming their log rows and marker
codes (:class:`~pavlov.protocols.kinds.base.EventKind`). The loader, the scheduler, the
run loop, the marker table and the format tables of ``protocols/README.md`` all read this
registry. A new kind is one module here plus its line in :data:`KINDS`.

Walking the declarations (e.g. for a JSON Schema)::

    from pavlov.protocols.kinds import KINDS, walk
    for kind in KINDS.values():
        for path, key in walk(kind.keys):
            print(kind.name, path, key.type, key.default, key.doc)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType

from pavlov.protocols.kinds.base import EventKind, Kind, Marker, Row
from pavlov.protocols.kinds.instructions import InstructionsKind
from pavlov.protocols.kinds.keys import REQUIRED, Key, walk
from pavlov.protocols.kinds.questionnaire import QuestionnaireKind
from pavlov.protocols.kinds.rating import RatingKind
from pavlov.protocols.kinds.reactivation import ReactivationKind
from pavlov.protocols.kinds.reinstatement import ReinstatementKind
from pavlov.protocols.kinds.rest import RestKind
from pavlov.protocols.kinds.startle_habituation import StartleHabituationKind
from pavlov.protocols.kinds.trial import TRIAL, TRIAL_KINDS
from pavlov.protocols.kinds.wait import WaitKind

__all__ = [
    "EVENT_KINDS",
    "KINDS",
    "LOOP_ROWS",
    "MAIN_ROW_TYPES",
    "PHASE_TYPES",
    "REQUIRED",
    "ROW_KEYS",
    "EventKind",
    "Key",
    "Kind",
    "Marker",
    "Row",
    "declared_keys",
    "event_kind",
    "markers",
    "row_types",
    "walk",
]

_trial = {k.name: k for k in TRIAL_KINDS}

#: Every phase kind by its ``type`` word, in the order the README documents them.
KINDS: Mapping[str, Kind] = MappingProxyType(
    {
        "habituation": _trial["habituation"],
        "acquisition": _trial["acquisition"],
        "reactivation": ReactivationKind(),
        "wait": WaitKind(),
        "extinction": _trial["extinction"],
        "recall": _trial["recall"],
        "reinstatement": ReinstatementKind(),
        "renewal": _trial["renewal"],
        "generalisation": _trial["generalisation"],
        "startle_habituation": StartleHabituationKind(),
        "rating": RatingKind(),
        "questionnaire": QuestionnaireKind(),
        "instructions": InstructionsKind(),
        "rest": RestKind(),
    }
)

#: Phase types a protocol may use.
PHASE_TYPES: tuple[str, ...] = tuple(KINDS)


def _event_kinds() -> dict[str, EventKind]:
    out: dict[str, EventKind] = {TRIAL.name: TRIAL}
    for kind in KINDS.values():
        for event_kind in kind.event_kinds:
            owner = out.setdefault(event_kind.name, event_kind)
            if owner is not event_kind:
                raise RuntimeError(f"event kind {event_kind.name!r} is declared twice")
    return out


#: Every kind of scheduled event (``Event.kind``), each presented by one module.
EVENT_KINDS: Mapping[str, EventKind] = MappingProxyType(_event_kinds())


#: ``trial_type`` of the row that stands for each kind of scheduled event.
MAIN_ROW_TYPES: Mapping[str, str] = MappingProxyType(
    {name: kind.row for name, kind in EVENT_KINDS.items()}
)


#: The log column that holds the event's index on the rows of each ``trial_type``
#: (``trial`` unless the kind whose main row it is says otherwise: a probe's is ``value``).
ROW_KEYS: Mapping[str, str] = MappingProxyType(
    {kind.row: kind.key_column for kind in EVENT_KINDS.values() if kind.key_column != "trial"}
)


#: Rows the run loop itself writes (besides each event's own rows).
LOOP_ROWS: tuple[Row, ...] = (
    Row("event", "an experimenter key or a note of the run (`resumed`, `wait ended early`)"),
    Row("pulse", "a scanner volume"),
)


def row_types() -> tuple[str, ...]:
    """Every ``trial_type`` the events log can hold, each once."""
    rows = [row.trial_type for kind in EVENT_KINDS.values() for row in kind.rows]
    rows += [row.trial_type for row in LOOP_ROWS]
    return tuple(dict.fromkeys(rows))


def event_kind(name: str) -> EventKind:
    """The event kind called ``name`` (``trial``, ``wait``, ...).

    Raises
    ------
    KeyError
        For a kind no module declares.
    """
    return EVENT_KINDS[name]


def markers(session: tuple[Marker, ...] = ()) -> dict[str, int]:
    """Default marker codes: the event kinds' declarations plus ``session``'s (the run
    loop's own: phase start, session start and end), in the order of their codes.

    Raises
    ------
    RuntimeError
        When two declarations give one marker different codes, or two markers one code.
    """
    codes: dict[str, int] = {}
    for marker in (m for e in EVENT_KINDS.values() for m in e.markers):
        if codes.setdefault(marker.name, marker.code) != marker.code:
            raise RuntimeError(f"marker {marker.name!r} is declared with two codes")
    for marker in session:
        codes.setdefault(marker.name, marker.code)
    if len(set(codes.values())) != len(codes):
        raise RuntimeError("two markers share a code")
    return dict(sorted(codes.items(), key=lambda item: item[1]))


def declared_keys() -> Iterator[tuple[str, str, Key]]:
    """Every accepted key of every phase kind: (phase type, key path, declaration).

    ``type`` itself (one of :data:`PHASE_TYPES`) is accepted by every kind and not listed.
    """
    for name, kind in KINDS.items():
        for path, key in walk(kind.keys):
            yield name, path, key
