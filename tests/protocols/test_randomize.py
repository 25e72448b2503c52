"""Seeded pseudo-randomisation: stable draws, and constraints that hold for every seed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pavlov.protocols.errors import ScheduleError
from pavlov.protocols.model import cs_type
from pavlov.protocols.randomize import (
    Stream,
    constrained_order,
    derive_seed,
    reinforced_positions,
)


def longest_run(order: list[str]) -> int:
    best = run = 0
    for i, role in enumerate(order):
        run = run + 1 if i and order[i - 1] == role else 1
        best = max(best, run)
    return best


def test_derive_seed_is_fixed_across_machines():
    """The seed derivation is SHA-256 based, so its value is a known constant."""
    assert derive_seed(7, "01", "day1") == 3958139347585043613


def test_stream_draws_are_pinned():
    """random.Random(seed).random() is guaranteed stable; our draws build only on it."""
    stream = Stream(42)
    assert [stream.below(10) for _ in range(8)] == [6, 0, 2, 2, 7, 6, 8, 0]
    assert Stream(42).shuffled("abcdef") == ["c", "f", "e", "b", "a", "d"]


@settings(max_examples=3000, deadline=None)
@given(
    counts=st.lists(st.integers(0, 24), min_size=2, max_size=4),
    max_run=st.integers(1, 4),
    seed=st.integers(0, 2**63 - 1),
)
def test_order_keeps_counts_and_max_run_for_every_seed(counts, max_run, seed):
    """Every feasible count set gives an order with the exact counts and no run over max_run."""
    roles = ["CS+", "CS-", "CS+2", "CS-2"][: len(counts)]
    wanted = {r: n for r, n in zip(roles, counts) if n}
    if not wanted:
        return
    largest = max(wanted.values())
    feasible = largest <= max_run * (sum(wanted.values()) - largest + 1)
    if not feasible:
        with pytest.raises(ScheduleError, match="keeps at most"):
            constrained_order(wanted, max_run, False, Stream(seed))
        return
    order = constrained_order(wanted, max_run, False, Stream(seed))
    assert {r: order.count(r) for r in wanted} == wanted
    assert longest_run(order) <= max_run


@settings(max_examples=1500, deadline=None)
@given(plus=st.integers(1, 20), minus=st.integers(1, 20), seed=st.integers(0, 2**63 - 1))
def test_start_with_pair_opens_with_one_cs_plus_and_one_cs_minus(plus, minus, seed):
    """With start_with_pair the first two trials are one CS+ and one CS-; when no such
    order exists, that is so for every seed (the search is exhaustive)."""
    counts = {"CS+": plus, "CS-": minus}
    try:
        order = constrained_order(counts, 2, True, Stream(seed))
    except ScheduleError:
        for other in (0, 1, 2):
            with pytest.raises(ScheduleError):
                constrained_order(counts, 2, True, Stream(other))
        return
    assert {cs_type(order[0]), cs_type(order[1])} == {"CS+", "CS-"}
    assert longest_run(order) <= 2


@settings(max_examples=3000, deadline=None)
@given(
    n_trials=st.integers(1, 40),
    fraction=st.floats(0, 1),
    first=st.booleans(),
    spread=st.booleans(),
    seed=st.integers(0, 2**63 - 1),
)
def test_reinforced_positions_hold_every_rule(n_trials, fraction, first, spread, seed):
    """Reinforced trials: the exact count, the first one when asked, halves within one."""
    k = round(fraction * n_trials)
    chosen = reinforced_positions(n_trials, k, first and k > 0, spread, Stream(seed))
    assert len(chosen) == k
    assert all(0 <= i < n_trials for i in chosen)
    if first and k:
        assert 0 in chosen
    if spread:
        half = (n_trials + 1) // 2
        early = sum(1 for i in chosen if i < half)
        late = k - early
        # Even split, with the odd one (or a half too small to hold its share) moved.
        capacity_ok = early <= half and late <= n_trials - half
        assert capacity_ok
        if k // 2 + 1 <= n_trials - half and k // 2 + 1 <= half:
            assert abs(early - late) <= 1 or (first and k == 1)


def test_impossible_order_is_a_schedule_error():
    """Counts no order can satisfy are reported, not looped on."""
    with pytest.raises(ScheduleError, match="no trial order"):
        constrained_order({"CS+": 5, "CS-": 1}, 1, False, Stream(1))


def _exists(counts: dict[str, int], max_run: int, max_run_type: int) -> bool:
    """Brute force: does any order keep both run limits? (Independent of the search.)"""

    def extend(order: list[str], left: dict[str, int]) -> bool:
        if not any(left.values()):
            return True
        for role, n in left.items():
            if n == 0:
                continue
            trial = [*order, role]
            if longest_run(trial[-max_run - 1 :]) > max_run:
                continue
            if longest_run([cs_type(r) for r in trial[-max_run_type - 1 :]]) > max_run_type:
                continue
            if extend(trial, {**left, role: n - 1}):
                return True
        return False

    return extend([], dict(counts))


@settings(max_examples=200, deadline=None)
@given(
    counts=st.lists(st.integers(0, 4), min_size=3, max_size=3),
    max_run=st.integers(1, 3),
    max_run_type=st.integers(1, 4),
    seed=st.integers(0, 2**63 - 1),
)
def test_type_runs_pool_the_cs_plus_roles_for_every_seed(counts, max_run, max_run_type, seed):
    """With two CS+ roles, an order keeps at most max_run_type CS+ (or CS−) trials in a row,
    the exact counts and max_run per role, whenever a brute-force search finds any such
    order; otherwise the search says none exists."""
    wanted = {r: n for r, n in zip(("CS+R", "CS+NR", "CS-"), counts) if n}
    if not wanted:
        return
    if not _exists(wanted, max_run, max_run_type):
        with pytest.raises(ScheduleError):
            constrained_order(wanted, max_run, False, Stream(seed), max_run_type=max_run_type)
        return
    order = constrained_order(wanted, max_run, False, Stream(seed), max_run_type=max_run_type)
    assert {r: order.count(r) for r in wanted} == wanted
    assert longest_run(order) <= max_run
    assert longest_run([cs_type(r) for r in order]) <= max_run_type


@pytest.mark.parametrize("seed", range(40))
def test_miniblocks_hold_every_role_block_times(seed):
    """In mini-block orders each block of 2 × 3 trials holds every role twice, and max_run
    still holds across block edges."""
    counts = {"CS+R": 8, "CS+NR": 8, "CS-": 8}
    order = constrained_order(counts, 2, False, Stream(seed), block=2)
    blocks = [order[i : i + 6] for i in range(0, 24, 6)]
    assert all(sorted(b) == sorted(["CS+R", "CS+NR", "CS-"] * 2) for b in blocks)
    assert longest_run(order) <= 2


@pytest.mark.parametrize("seed", range(40))
def test_reinforced_runs_are_capped_and_the_draw_is_seeded(seed):
    """max_reinforced_run 1 never gives two reinforced trials in a row; the same seed gives
    the same order and reinforcement, and without the cap the result is what the stream
    always gave (the first draw)."""
    from pavlov.protocols.randomize import constrained_trials
    from pavlov.protocols.randomize import longest_run as reinforced_run

    counts, reinforced = {"CS+R": 8, "CS+NR": 8, "CS-": 8}, {"CS+R": 4, "CS+NR": 4}
    rules = dict(max_run=2, start_with_pair=False, first_reinforced=True, spread_reinforced=True)
    roles, hits = constrained_trials(
        counts, reinforced, **rules, stream=Stream(seed), max_reinforced_run=1
    )
    assert reinforced_run(hits) <= 1
    assert sum(hits) == 8 and all(roles[i] != "CS-" for i, h in enumerate(hits) if h)
    again = constrained_trials(
        counts, reinforced, **rules, stream=Stream(seed), max_reinforced_run=1
    )
    assert again == (roles, hits)
    free = constrained_trials(counts, reinforced, **rules, stream=Stream(seed))
    first = constrained_order(counts, 2, False, Stream(seed))
    assert free[0] == first


def test_impossible_reinforced_run_is_a_bounded_error():
    """Every CS+ trial reinforced with a single CS− cannot keep 1 reinforced in a row: the
    bounded search stops with a message instead of looping."""
    from pavlov.protocols.randomize import constrained_trials

    with pytest.raises(ScheduleError, match="keeps at most 1 reinforced trials in a row"):
        constrained_trials(
            {"CS+": 3, "CS-": 1},
            {"CS+": 3},
            max_run=3,
            start_with_pair=False,
            first_reinforced=True,
            spread_reinforced=True,
            stream=Stream(0),
            max_reinforced_run=1,
        )
