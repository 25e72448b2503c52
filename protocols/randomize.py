"""Seeded pseudo-randomisation that gives the same result on every machine.

Python guarantees that ``random.Random(seed).random()`` yields the same sequence on every
version and platform, but not ``shuffle``, ``choice`` or ``uniform`` (their algorithms
may change). :class:`Stream` therefore builds every draw on ``random()`` alone. Seeds are
derived from text with SHA-256, never from Python's ``hash`` (salted per process).
"""

from __future__ import annotations

import hashlib
import itertools
import random
import typing
from collections.abc import Mapping, Sequence

from pavlov.protocols.errors import ScheduleError
from pavlov.protocols.model import cs_type


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from text parts, identical on every machine and run."""
    text = "/".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") >> 1


class Stream:
    """Random draws built only on ``random.Random.random`` (stable across Pythons).

    Parameters
    ----------
    seed : int
        The stream's seed.
    """

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed).random

    def random(self) -> float:
        """A float in [0, 1)."""
        return self._random()

    def below(self, n: int) -> int:
        """A whole number in [0, n)."""
        return min(int(self._random() * n), n - 1)

    def uniform(self, low: float, high: float) -> float:
        """A float in [low, high]."""
        return low + (high - low) * self._random()

    def shuffled(self, items: Sequence) -> list:
        """A Fisher–Yates shuffled copy of ``items``."""
        out = list(items)
        for i in range(len(out) - 1, 0, -1):
            j = self.below(i + 1)
            out[i], out[j] = out[j], out[i]
        return out

    def sample(self, items: Sequence, k: int) -> list:
        """``k`` distinct items, in the order they were drawn."""
        return self.shuffled(items)[:k]


def constrained_order(
    counts: dict[str, int],
    max_run: int,
    start_with_pair: bool,
    stream: Stream,
    max_run_type: int | None = None,
    block: int | None = None,
) -> list[str]:
    """A random trial order with no more than ``max_run`` equal CSs in a row.

    The order is built position by position, drawing each next CS with probability
    proportional to how many of its trials remain (as drawing from an urn), among the
    CSs that keep the constraints; a dead end backtracks. Because the search is
    exhaustive, it finds an order whenever one exists (within a budget of steps far
    beyond what feasible inputs need).

    Parameters
    ----------
    counts : dict of str to int
        Trials per CS role.
    max_run : int
        Longest allowed run of one CS.
    start_with_pair : bool
        The first two trials are one CS+ and one CS- role.
    stream : Stream
        The seeded random stream.
    max_run_type : int, optional
        Longest allowed run of one CS type (:func:`~pavlov.protocols.model.cs_type`: every
        CS+ role counts as ``CS+``, so ``CS+R CS+NR CS+R`` is a run of 3).
    block : int, optional
        Mini-blocks: every consecutive block of ``block × roles`` trials holds each role
        exactly ``block`` times (the counts must be equal multiples of ``block``).

    Raises
    ------
    ScheduleError
        If no order satisfies the constraints.
    """
    remaining = {role: n for role, n in counts.items() if n > 0}
    total = sum(remaining.values())
    rules = _Rules(max_run, start_with_pair, max_run_type, block, len(remaining))
    order: list[str] = []
    # Each stack frame holds the candidates still untried at that position.
    stack: list[list[str]] = []
    budget = 200_000  # backtracking steps; feasible inputs need a handful
    while len(order) < total:
        if len(stack) == len(order):
            stack.append(_candidates(order, remaining, rules, stream))
        options = stack[-1]
        if options:
            role = options.pop(0)
            order.append(role)
            remaining[role] -= 1
            continue
        stack.pop()
        if not order:
            raise ScheduleError(
                f"no trial order of {counts} keeps at most {max_run} of one CS in a row"
            )
        remaining[order.pop()] += 1
        budget -= 1
        if budget == 0:
            raise ScheduleError(f"could not find a trial order of {counts} with max_run {max_run}")
    return order


class _Rules(typing.NamedTuple):
    max_run: int
    start_with_pair: bool
    max_run_type: int | None
    block: int | None
    n_roles: int


def _run(items: Sequence[str]) -> tuple[str | None, int]:
    """The last item and how many times it ends ``items`` in a row."""
    if not items:
        return None, 0
    return items[-1], sum(1 for _ in itertools.takewhile(lambda x: x == items[-1], reversed(items)))


def _candidates(order: list[str], remaining: dict[str, int], rules: _Rules, stream: Stream):
    allowed = []
    max_run, start_with_pair = rules.max_run, rules.start_with_pair
    run_role, run = _run(order)
    run_type, type_run = _run([cs_type(r) for r in order]) if rules.max_run_type else (None, 0)
    in_block: list[str] = []
    if rules.block is not None:
        length = rules.block * rules.n_roles
        in_block = order[len(order) - len(order) % length :]
    for role, n in remaining.items():
        if n == 0 or (role == run_role and run >= max_run):
            continue
        if start_with_pair and len(order) < 2 and cs_type(role) not in ("CS+", "CS-"):
            continue  # the pair is a CS+ and a CS-, never a generalisation stimulus
        if start_with_pair and len(order) == 1 and cs_type(role) == cs_type(order[0]):
            continue
        if rules.block is not None and in_block.count(role) >= rules.block:
            continue
        new_run = run + 1 if role == run_role else 1
        if not _can_finish(remaining, role, new_run, max_run):
            continue
        if rules.max_run_type is not None:
            kind = cs_type(role)
            new_type_run = type_run + 1 if kind == run_type else 1
            if new_type_run > rules.max_run_type:
                continue
            pooled: dict[str, int] = {}
            for other, m in remaining.items():
                pooled[cs_type(other)] = pooled.get(cs_type(other), 0) + m
            if not _can_finish(pooled, kind, new_type_run, rules.max_run_type):
                continue
        allowed.append(role)
    # Draw the try-order by remaining counts (an urn), without replacement.
    ranked = []
    pool = list(allowed)
    while pool:
        weights = [remaining[r] for r in pool]
        pick = stream.random() * sum(weights)
        for i, w in enumerate(weights):
            pick -= w
            if pick < 0 or i == len(weights) - 1:
                ranked.append(pool.pop(i))
                break
    return ranked


def _can_finish(remaining: dict[str, int], placed: str, run: int, max_run: int) -> bool:
    """A necessary condition for the trials left after placing ``placed`` to be ordered.

    Every CS's remaining trials need separating by others: at most ``max_run`` per gap,
    and the CS just placed can only add ``max_run - run`` to its current run. Being only
    necessary, it never discards a branch that could succeed; backtracking does the rest.
    """
    left = sum(remaining.values()) - 1
    for role, n in remaining.items():
        count = n - 1 if role == placed else n
        others = left - count
        limit = (max_run - run) + max_run * others if role == placed else max_run * (others + 1)
        if count > limit:
            return False
    return True


def longest_run(flags: Sequence[bool]) -> int:
    """The longest run of consecutive true values."""
    return max((len(list(g)) for k, g in itertools.groupby(flags) if k), default=0)


#: Tries of the reinforcement draw per order, and orders, before
#: :func:`constrained_trials` gives up on ``max_reinforced_run``.
PLACEMENTS, ORDERS = 50, 200


def constrained_trials(
    counts: Mapping[str, int],
    reinforced: Mapping[str, int],
    *,
    max_run: int,
    start_with_pair: bool,
    first_reinforced: bool,
    spread_reinforced: bool,
    stream: Stream,
    max_run_type: int | None = None,
    max_reinforced_run: int | None = None,
    block: int | None = None,
) -> tuple[list[str], list[bool]]:
    """A phase's trial order and which trials are reinforced, keeping every constraint.

    The order comes from :func:`constrained_order`, then each role's reinforced trials
    from :func:`reinforced_positions`. With ``max_reinforced_run`` (at most that many
    reinforced trials in a row, over all roles) a placement that breaks it is drawn again
    from the stream, up to :data:`PLACEMENTS` times per order and :data:`ORDERS` orders;
    without it the first draw is kept, so the result is the one the stream always gave.

    Raises
    ------
    ScheduleError
        If no order keeps the order constraints, or none of the tries keeps
        ``max_reinforced_run``.
    """
    for _ in range(ORDERS):
        roles = constrained_order(
            dict(counts), max_run, start_with_pair, stream, max_run_type=max_run_type, block=block
        )
        positions = {role: [i for i, r in enumerate(roles) if r == role] for role in reinforced}
        for _ in range(PLACEMENTS):
            hits = [False] * len(roles)
            for role, n in reinforced.items():
                chosen = reinforced_positions(
                    len(positions[role]), n, first_reinforced, spread_reinforced, stream
                )
                for k in chosen:
                    hits[positions[role][k]] = True
            if max_reinforced_run is None or longest_run(hits) <= max_reinforced_run:
                return roles, hits
    raise ScheduleError(
        f"no order of {dict(counts)} with {dict(reinforced)} reinforced keeps at most "
        f"{max_reinforced_run} reinforced trials in a row ({ORDERS * PLACEMENTS} tries)"
    )


def reinforced_positions(
    n_trials: int, n_reinforced: int, first: bool, spread: bool, stream: Stream
) -> set[int]:
    """Which of a CS's trials (0-based, in its own order) are reinforced.

    Parameters
    ----------
    n_trials, n_reinforced : int
        The CS's trial count and how many of them are reinforced.
    first : bool
        The CS's first trial is reinforced.
    spread : bool
        Split the reinforced trials evenly over the first and second half of the CS's
        trials; an odd one goes to a half drawn from the stream (the first half when
        ``first`` already fills it).
    stream : Stream
        The seeded random stream.
    """
    if n_reinforced == 0:
        return set()
    chosen: set[int] = {0} if first else set()
    if not spread:
        rest = [i for i in range(n_trials) if i not in chosen]
        return chosen | set(stream.sample(rest, n_reinforced - len(chosen)))
    half = (n_trials + 1) // 2
    halves = [list(range(0, half)), list(range(half, n_trials))]
    quota = [n_reinforced // 2, n_reinforced // 2]
    if n_reinforced % 2:
        quota[stream.below(2)] += 1
    # A half cannot hold more than its trials; move the excess to the other half.
    for a, b in ((0, 1), (1, 0)):
        excess = quota[a] - len(halves[a])
        if excess > 0:
            quota[a] -= excess
            quota[b] += excess
    if first and quota[0] == 0:
        quota[0], quota[1] = 1, quota[1] - 1
    for h in (0, 1):
        pool = [i for i in halves[h] if i not in chosen]
        need = quota[h] - len(chosen & set(halves[h]))
        chosen |= set(stream.sample(pool, need))
    return chosen
