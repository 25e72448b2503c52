"""From (protocol, participant, session) to the full ordered list of planned events.

Everything here is a pure function: the same inputs give the same schedule on any machine.

Counterbalancing
----------------
The table's cells are every assignment of CS stimuli to CS roles (``permute``; one cell
when ``fixed``; in a generalisation design, whose roles and stimuli form a continuum, the
stimuli keep their order and ``permute`` only flips which end is the CS+: two cells), crossed with every assignment of context stimuli to context roles, crossed
with the fixed orders of phases that list several. A participant's **number** is the last
run of digits in the ID (``sub-07`` → 7, ``P012`` → 12); an ID without digits uses the
first 8 bytes of its SHA-256 instead. The cell is ``number mod n_cells``, read as a mixed
radix with the CS assignment changing fastest, then contexts, then orders, so consecutive
participants alternate CS identity first. ``pavlov schedule FILE --counterbalancing``
prints the table.

Arms
----
A protocol with ``arms`` assigns each participant one arm, crossed with the cells: with
``n`` the participant's number, ``C`` cells and ``A`` arms, the cell stays ``n mod C`` (adding
arms to a protocol moves no one's cell) and the arm is ``(n mod C + n div C) mod A``, in the
order the arms are listed. Every ``C × A`` consecutive numbers hold each (cell, arm) pair
once, and every ``C`` consecutive numbers spread their arms as evenly as ``C`` allows.
``pavlov run --arm NAME`` (or an arm already recorded in ``participants.tsv``, or a blinded
code list) overrides the formula.

Seeds
-----
A session's seed is derived (SHA-256) from the protocol's ``seed``, the participant ID and
the session name; each phase draws from its own stream derived from that seed and the
phase name, so editing one phase does not reshuffle the others.
"""

from __future__ import annotations

import itertools
import re
import typing
from dataclasses import replace

from pavlov.common.bids import is_label
from pavlov.protocols.errors import ScheduleError
from pavlov.protocols.events import Cell, Event, Schedule
from pavlov.protocols.kinds import KINDS
from pavlov.protocols.kinds.base import PRECISION, Expansion
from pavlov.protocols.model import Phase, Protocol, continuum
from pavlov.protocols.randomize import Stream, derive_seed


def participant_number(participant: str) -> int:
    """The number that picks a participant's counterbalancing cell.

    The last run of digits in the ID, or, for an ID without digits, a number derived
    from its SHA-256.
    """
    digits = re.findall(r"\d+", participant)
    if digits:
        return int(digits[-1])
    return derive_seed("participant", participant)


def counterbalancing_table(protocol: Protocol) -> list[Cell]:
    """Every counterbalancing cell of a protocol, in cell-index order."""
    roles = continuum(protocol.cs_roles)
    faces: list[dict[str, tuple[str, ...]]] = []
    if roles is not None and protocol.cs_circle:
        cs_options, faces = _circle_assignments(
            roles, tuple(protocol.cs), protocol.counterbalancing.cs
        )
    elif roles is not None:
        cs_options = _continuum_assignments(roles, tuple(protocol.cs), protocol.counterbalancing.cs)
    else:
        cs_options = _assignments(
            protocol.cs_roles, tuple(protocol.cs), protocol.counterbalancing.cs
        )
    ctx_options = _assignments(
        protocol.context_roles, tuple(protocol.contexts), protocol.counterbalancing.contexts
    )
    n_orders = max([len(KINDS[p.type].orders(p)) for p in protocol.phases.values()] + [1])
    n_cells = len(cs_options) * len(ctx_options) * n_orders
    cells = []
    for index in range(n_cells):
        cs_index = index % len(cs_options)
        ctx_index = (index // len(cs_options)) % len(ctx_options)
        order = index // (len(cs_options) * len(ctx_options))
        cells.append(
            Cell(
                index,
                n_cells,
                cs_options[cs_index],
                ctx_options[ctx_index],
                order,
                faces[cs_index] if faces else {},
            )
        )
    return cells


def cell_for(protocol: Protocol, participant: str) -> Cell:
    """The counterbalancing cell of a participant."""
    table = counterbalancing_table(protocol)
    return table[participant_number(participant) % len(table)]


def arm_for(protocol: Protocol, participant: str) -> str | None:
    """The arm a participant's number assigns (the module's formula), or None without arms."""
    if not protocol.arms:
        return None
    arms = tuple(protocol.arms)
    n_cells = len(counterbalancing_table(protocol))
    number = participant_number(participant)
    return arms[(number % n_cells + number // n_cells) % len(arms)]


def _assignments(
    roles: tuple[str, ...], stimuli: tuple[str, ...], mode: str
) -> list[dict[str, str]]:
    if not roles:
        return [{}]
    if mode == "fixed":
        return [dict(zip(roles, stimuli))]
    return [dict(zip(roles, chosen)) for chosen in itertools.permutations(stimuli, len(roles))]


def _continuum_assignments(
    order: tuple[str, ...], stimuli: tuple[str, ...], mode: str
) -> list[dict[str, str]]:
    # A GS's picture is its place on the continuum, never an arbitrary one: the stimuli,
    # listed from one end to the other, go to CS+, GS1 ... GSn, CS- in order, or (the
    # second cell) reversed, so which end is reinforced is balanced across participants.
    forward = dict(zip(order, stimuli))
    if mode == "fixed":
        return [forward]
    return [forward, dict(zip(order, reversed(stimuli)))]


def _circle_assignments(
    order: tuple[str, ...], stimuli: tuple[str, ...], mode: str
) -> tuple[list[dict[str, str]], list[dict[str, tuple[str, ...]]]]:
    # Stimuli on a circle (FearGen's faces), listed around it: any of them may be the CS+
    # (one cell per rotation with permute, the first one with fixed); the CS- is the one
    # opposite, and GSk the two k steps either side, so every face keeps its neighbours.
    n = len(stimuli)
    cs_options: list[dict[str, str]] = []
    faces: list[dict[str, tuple[str, ...]]] = []
    for start in range(1 if mode == "fixed" else n):
        cs = {order[0]: stimuli[start], order[-1]: stimuli[(start + n // 2) % n]}
        pairs: dict[str, tuple[str, ...]] = {}
        for k, role in enumerate(order[1:-1], start=1):
            pairs[role] = (stimuli[(start + k) % n], stimuli[(start - k) % n])
            cs[role] = pairs[role][0]
        cs_options.append({role: cs[role] for role in order})
        faces.append(pairs)
    return cs_options, faces


def build_schedule(protocol: Protocol, participant: str, session: str | None = None) -> Schedule:
    """Plan one participant's session.

    Parameters
    ----------
    protocol : Protocol
        A loaded protocol.
    participant : str
        Participant ID (letters and digits, as in BIDS ``sub-<label>``).
    session : str, optional
        Session name; the first session when None.

    With arms, the sessions are those of the arm that :meth:`Protocol.for_arm` chose, or,
    for a protocol as loaded, of the participant's arm by number (:func:`arm_for`).

    Returns
    -------
    Schedule
        Every planned event with onsets in seconds from session start.

    Raises
    ------
    ScheduleError
        For an invalid participant ID or an unknown session.
    """
    if not is_label(participant):
        raise ScheduleError(
            f"participant: expected a BIDS label of letters and digits (e.g. 07), got '{participant}'"
        )
    if protocol.arms and protocol.arm is None and not protocol.blinded:
        protocol = protocol.for_arm(arm_for(protocol, participant) or "")
    try:
        spec = protocol.session(session)
    except KeyError:
        names = ", ".join(s.name for s in protocol.sessions)
        of = f" (arm {protocol.arm})" if protocol.arm else ""
        raise ScheduleError(f"session: expected one of {names}{of}, got '{session}'") from None
    cell = cell_for(protocol, participant)
    seed = derive_seed(protocol.seed, participant, spec.name)
    events: list[Event] = []
    clock = 0.0
    for name in spec.phases:
        phase = protocol.phases[name]
        stream = Stream(derive_seed(seed, name))
        for event in _phase_events(protocol, phase, spec.name, cell, stream):
            event = _at(event, clock)
            events.append(event)
            clock = round(event.onset + event.span + event.iti, PRECISION)
    return Schedule(
        study=protocol.study,
        task=protocol.task,
        protocol_path=protocol.path,
        protocol_sha256=protocol.sha256,
        participant=participant,
        session=spec.name,
        cell=cell,
        seed=seed,
        events=tuple(events),
        arm=protocol.arm,
    )


def _at(event: Event, clock: float) -> Event:
    # Phase code builds each event with ``onset`` = the gap before it (a lead-in, or 0);
    # placing it on the session clock turns that into the planned onset.
    return replace(event, onset=round(clock + event.onset, PRECISION))


def _phase_events(
    protocol: Protocol, phase: Phase, session: str, cell: Cell, stream: Stream
) -> list[Event]:
    kind = KINDS[phase.type]
    role = kind.context(phase)
    context = cell.contexts.get(role) if role else None
    base: dict[str, typing.Any] = dict(
        session=session, phase=phase.name, phase_type=phase.type, context=context
    )
    events: list[Event] = []
    if phase.instructions and kind.instructions_first:
        events.append(Event(**base, kind="instructions", index=1, onset=0.0, duration=0.0))
    return events + kind.expand(phase, Expansion(protocol, session, cell, stream, base))
