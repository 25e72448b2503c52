"""From (protocol, participant, session) to the full ordered list of planned events.

Everything here is a pure function: the same inputs give the same schedule on any machine.

Counterbalancing
----------------
The table's cells are every assignment of CS stimuli to CS roles (``permute``; one cell
when ``fixed``), crossed with every assignment of context stimuli to context roles, crossed
with the fixed orders of phases that list several. A participant's **number** is the last
run of digits in the ID (``sub-07`` → 7, ``P012`` → 12); an ID without digits uses the
first 8 bytes of its SHA-256 instead. The cell is ``number mod n_cells``, read as a mixed
radix with the CS assignment changing fastest, then contexts, then orders, so consecutive
participants alternate CS identity first. ``pavlov schedule FILE --counterbalancing``
prints the table.

Seeds
-----
A session's seed is derived (SHA-256) from the protocol's ``seed``, the participant ID and
the session name; each phase draws from its own stream derived from that seed and the
phase name, so editing one phase does not reshuffle the others.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import replace

from pavlov.common.bids import is_label
from pavlov.protocols.errors import ScheduleError
from pavlov.protocols.events import Cell, Event, Schedule
from pavlov.protocols.model import TRIAL_PHASE_TYPES, ITISpec, Phase, Protocol, cs_type
from pavlov.protocols.orders import read_order
from pavlov.protocols.randomize import (
    Stream,
    constrained_order,
    derive_seed,
    reinforced_positions,
)

#: Decimal places kept for generated ITIs and onsets (1 ms).
PRECISION = 3


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
    cs_options = _assignments(protocol.cs_roles, tuple(protocol.cs), protocol.counterbalancing.cs)
    ctx_options = _assignments(
        protocol.context_roles, tuple(protocol.contexts), protocol.counterbalancing.contexts
    )
    n_orders = max([len(p.orders) for p in protocol.phases.values()] + [1])
    n_cells = len(cs_options) * len(ctx_options) * n_orders
    cells = []
    for index in range(n_cells):
        cs_index = index % len(cs_options)
        ctx_index = (index // len(cs_options)) % len(ctx_options)
        order = index // (len(cs_options) * len(ctx_options))
        cells.append(Cell(index, n_cells, cs_options[cs_index], ctx_options[ctx_index], order))
    return cells


def cell_for(protocol: Protocol, participant: str) -> Cell:
    """The counterbalancing cell of a participant."""
    table = counterbalancing_table(protocol)
    return table[participant_number(participant) % len(table)]


def _assignments(
    roles: tuple[str, ...], stimuli: tuple[str, ...], mode: str
) -> list[dict[str, str]]:
    if not roles:
        return [{}]
    if mode == "fixed":
        return [dict(zip(roles, stimuli))]
    return [dict(zip(roles, chosen)) for chosen in itertools.permutations(stimuli, len(roles))]


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
    try:
        spec = protocol.session(session)
    except KeyError:
        names = ", ".join(s.name for s in protocol.sessions)
        raise ScheduleError(f"session: expected one of {names}, got '{session}'") from None
    cell = cell_for(protocol, participant)
    seed = derive_seed(protocol.seed, participant, spec.name)
    events: list[Event] = []
    clock = 0.0
    for name in spec.phases:
        phase = protocol.phases[name]
        stream = Stream(derive_seed(seed, name))
        for event in _phase_events(protocol, phase, spec.name, cell, stream, participant):
            event = _at(event, clock)
            events.append(event)
            clock = round(event.onset + event.duration + event.iti, PRECISION)
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
    )


def _at(event: Event, clock: float) -> Event:
    # Phase code builds each event with ``onset`` = the gap before it (a lead-in, or 0);
    # placing it on the session clock turns that into the planned onset.
    return replace(event, onset=round(clock + event.onset, PRECISION))


def _phase_events(protocol, phase: Phase, session, cell, stream, participant) -> list[Event]:
    context = cell.contexts.get(phase.context) if phase.context else None
    base = dict(session=session, phase=phase.name, phase_type=phase.type, context=context)
    events: list[Event] = []
    if phase.instructions and phase.type not in ("wait", "rest", "instructions"):
        events.append(Event(**base, kind="instructions", index=1, onset=0.0, duration=0.0))
    if phase.type in TRIAL_PHASE_TYPES:
        events += _trial_events(protocol, phase, base, cell, stream)
    elif phase.type == "reactivation":
        lead = phase.lead_in
        iti = _itis(phase.iti, 1, stream)[0]
        if phase.reminder is not None:
            role = phase.reminder
            events.append(
                Event(
                    **base,
                    kind="trial",
                    index=1,
                    onset=lead,
                    duration=phase.cs_duration,
                    iti=iti,
                    cs=role,
                    cs_type=cs_type(role),
                    stimulus=cell.cs[role],
                    event_type="CSpu" if cs_type(role) == "CS+" else "CSm",
                )
            )
        else:
            events.append(
                Event(**base, kind="script", index=1, onset=lead, duration=phase.duration, iti=iti)
            )
    elif phase.type == "reinstatement":
        us = protocol.us[phase.us]
        itis = _itis(phase.iti, phase.us_count, stream)
        for i in range(phase.us_count):
            events.append(
                Event(
                    **base,
                    kind="us",
                    index=i + 1,
                    onset=phase.lead_in if i == 0 else 0.0,
                    duration=us.duration,
                    iti=itis[i],
                    reinforced=True,
                    us=us.name,
                    us_duration=us.duration,
                    event_type="USp",
                )
            )
    elif phase.type == "rating":
        roles = stream.shuffled(phase.rate)
        itis = _itis(phase.iti, len(roles), stream)
        for i, role in enumerate(roles):
            events.append(
                Event(
                    **base,
                    kind="rating",
                    index=i + 1,
                    onset=0.0,
                    duration=phase.rating.window,
                    iti=itis[i],
                    cs=role,
                    cs_type=cs_type(role),
                    stimulus=cell.cs[role],
                )
            )
    elif phase.type == "instructions":
        events.append(
            Event(**base, kind="instructions", index=1, onset=0.0, duration=phase.duration)
        )
    elif phase.type == "wait":
        events.append(Event(**base, kind="wait", index=1, onset=0.0, duration=phase.duration))
    elif phase.type == "rest":
        events.append(Event(**base, kind="rest", index=1, onset=0.0, duration=phase.duration))
    return events


def _trial_events(protocol, phase: Phase, base, cell, stream) -> list[Event]:
    roles_to_stimuli = dict(cell.cs)
    if phase.swap_roles:
        a, b = phase.swap_roles
        roles_to_stimuli[a], roles_to_stimuli[b] = cell.cs[b], cell.cs[a]
    if phase.orders:
        order = read_order(phase.orders[cell.order % len(phase.orders)], protocol.cs_roles)
        roles = [row.cs for row in order.rows]
        reinforced = [row.reinforced for row in order.rows]
        itis = (
            [row.iti for row in order.rows]
            if order.has_iti
            else _itis(phase.iti, len(roles), stream)
        )
    else:
        c = phase.constraints
        try:
            roles = constrained_order(dict(phase.trials), c.max_run, c.start_with_pair, stream)
        except ScheduleError as error:
            raise ScheduleError(f"phase {phase.name}: {error}") from None
        reinforced = [False] * len(roles)
        for role, n in phase.reinforced.items():
            positions = [i for i, r in enumerate(roles) if r == role]
            chosen = reinforced_positions(
                len(positions), n, c.first_reinforced, c.spread_reinforced, stream
            )
            for k in chosen:
                reinforced[positions[k]] = True
        itis = _itis(phase.iti, len(roles), stream)
    us = protocol.us[phase.us] if phase.us else None
    events = []
    for i, (role, hit, iti) in enumerate(zip(roles, reinforced, itis)):
        kind = cs_type(role)
        event_type = ("CSpr" if hit else "CSpu") if kind == "CS+" else "CSm"
        events.append(
            Event(
                **base,
                kind="trial",
                index=i + 1,
                onset=phase.lead_in if i == 0 else 0.0,
                duration=phase.cs_duration,
                iti=iti,
                cs=role,
                cs_type=kind,
                stimulus=roles_to_stimuli[role],
                reinforced=hit,
                us=us.name if (hit and us) else None,
                us_onset=phase.us_onset,
                us_duration=us.duration if (us and phase.us_onset is not None) else None,
                event_type=event_type,
                online_rating=phase.rating is not None,
            )
        )
    return events


def _itis(spec: ITISpec | None, n: int, stream: Stream) -> list[float]:
    if spec is None:
        return [0.0] * n
    if spec.kind == "fixed":
        return [spec.values[0]] * n
    if spec.kind == "sequence":
        return list(spec.values[:n])
    if spec.kind == "choice":
        return [spec.values[stream.below(len(spec.values))] for _ in range(n)]
    if spec.kind == "uniform":
        low, high = spec.values
        return [round(stream.uniform(low, high), PRECISION) for _ in range(n)]
    low, high = (int(v) for v in spec.values)  # trs: whole TRs
    return [round((low + stream.below(high - low + 1)) * spec.tr, PRECISION) for _ in range(n)]
