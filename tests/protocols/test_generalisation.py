"""Generalisation designs: GS roles load, are never reinforced, keep the continuum's order
under counterbalancing (2 cells), and schedule as GS trials with their distance."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from pavlov.protocols.errors import ProtocolError
from pavlov.protocols.kinds import markers
from pavlov.protocols.loader import load_protocol
from pavlov.protocols.model import continuum, continuum_distance, cs_type
from pavlov.protocols.schedule import build_schedule, counterbalancing_table

REPO = Path(__file__).resolve().parents[2]

#: A small generalisation protocol: a continuum of 4 shapes (CS+, GS1, GS2, CS-).
GEN = """\
pavlov: 1
study: Minimal generalisation
task: gen
seed: 3
cs:
  roles: [CS+, GS1, GS2, CS-]
  stimuli:
    a: {shape: circle, color: "#ff0000", size: 0.1}
    b: {shape: circle, color: "#ff0000", size: 0.2}
    c: {shape: circle, color: "#ff0000", size: 0.3}
    d: {shape: circle, color: "#ff0000", size: 0.4}
us:
  shock:
    type: shock
    train: {pulse_width: 0.002, interval: 0.02, count: 10}
safety:
  max_shocks: 6
  max_train_duration: 0.5
phases:
  acquisition:
    type: acquisition
    trials: {CS+: 4, GS1: 0, GS2: 0, CS-: 4}
    reinforced: {CS+: 2}
    cs_duration: 4
    iti: 5
  test:
    type: generalisation
    trials: 3
    reinforced: {CS+: 1}
    cs_duration: 4
    iti: 5
sessions:
  - name: day1
    day: 0
    phases: [acquisition, test]
"""


def load(write, text: str = GEN):
    return load_protocol(write(text))


def test_roles_have_their_cs_type_and_distance():
    """GSk is cs_type GS at distance k / (n + 1) from the CS+; CS roles keep theirs."""
    roles = ("CS+", "GS1", "GS2", "CS-")
    assert [cs_type(r) for r in roles] == ["CS+", "GS", "GS", "CS-"]
    assert [continuum_distance(roles, r) for r in roles] == [0.0, 1 / 3, 2 / 3, 1.0]
    assert continuum(("CS+", "CS-")) is None
    assert continuum_distance(("CS+", "CS-"), "CS+") is None


def test_continuum_counterbalancing_flips_the_ends_only(write):
    """Two cells: the stimuli in file order from the CS+ end, or reversed; never a shuffle."""
    cells = counterbalancing_table(load(write))
    assert [dict(c.cs) for c in cells] == [
        {"CS+": "a", "GS1": "b", "GS2": "c", "CS-": "d"},
        {"CS+": "d", "GS1": "c", "GS2": "b", "CS-": "a"},
    ]


def test_fixed_continuum_is_one_cell(write, edit):
    """counterbalancing.cs: fixed keeps the file order for everyone."""
    protocol = load(write, edit(GEN, "safety:", "counterbalancing: {cs: fixed}\nsafety:"))
    assert [dict(c.cs) for c in counterbalancing_table(protocol)] == [
        {"CS+": "a", "GS1": "b", "GS2": "c", "CS-": "d"}
    ]


def test_gs_trials_are_scheduled_as_gs_never_reinforced(write):
    """The test phase has 3 trials of every role; GS trials are event_type GS, unreinforced,
    with their continuum distance and the CS- time point (USm) as their outcome."""
    schedule = build_schedule(load(write), "01")
    test = [e for e in schedule.trials if e.phase == "test"]
    assert sorted(e.cs for e in test) == sorted(["CS+", "GS1", "GS2", "CS-"] * 3)
    gs = [e for e in test if e.cs_type == "GS"]
    assert {e.event_type for e in gs} == {"GS"} and not any(e.reinforced for e in gs)
    assert {e.cs: e.distance for e in test} == {"CS+": 0.0, "GS1": 1 / 3, "GS2": 2 / 3, "CS-": 1.0}
    assert {e.outcome_type for e in gs} == {"USm"}
    assert sum(e.reinforced for e in test) == 1
    assert {e.cs: e.stimulus for e in test} == {"CS+": "d", "GS1": "c", "GS2": "b", "CS-": "a"}


def test_gs_marker_is_16():
    """GS onsets send their own marker code, 16 (even: bit 0 is the shock line)."""
    assert markers()["GS"] == 16


def test_existing_protocols_keep_their_cells():
    """Protocols without GS roles keep every permutation (the pinned digests rely on it)."""
    protocol = load_protocol(REPO / "protocols" / "fear_extinction_recall.yaml")
    # 3 CS pictures over 2 roles (6) × 2 contexts over 2 roles (2): every permutation
    assert len(counterbalancing_table(protocol)) == 6 * 2
    schedule = build_schedule(protocol, "03", "day1")
    assert all(e.distance is None for e in schedule.events)


def test_bundled_generalisation_protocol_schedule_is_pinned():
    """fear_generalisation.yaml's participant 01 gets a fixed schedule on every machine."""
    import io

    from pavlov.protocols.cli import write_csv

    protocol = load_protocol(REPO / "protocols" / "fear_generalisation.yaml")
    out = io.StringIO()
    write_csv(build_schedule(protocol, "01"), out)
    assert hashlib.sha256(out.getvalue().encode()).hexdigest() == GEN_DIGEST


#: Changed when the schedule gained its `item` column (questionnaires; without that last
#: column the CSV still hashed to the earlier 96cf2100…b999c: no order changed), and when
#: the file gained startle probes and a startle habituation phase (the trials' order,
#: reinforcement and ITIs stayed those of the file without probes: probes are drawn after).
GEN_DIGEST = "3335c490e7f27a717d97cfae0be40a5a3f1db78dc21de8acb19ffd3bedf05b05"


MISTAKES = [
    (
        "  roles: [CS+, GS1, GS2, CS-]",
        "  roles: [CS+, CS-GS, GS2, CS-]",
        r"6: cs\.roles\[1\]: expected a generalisation role GS1…GSn \(never reinforced, logged "
        r"as GS\), got 'CS-GS'\. Did you mean 'GS1'\?",
    ),
    (
        "  roles: [CS+, GS1, GS2, CS-]",
        "  roles: [CS+, GS1, GS3, CS-]",
        r"6: cs\.roles: expected GS roles numbered GS1…GS2 without gaps .*, got \[CS\+, GS1, "
        r"GS3, CS-\]",
    ),
    (
        "  roles: [CS+, GS1, GS2, CS-]",
        "  roles: [CS+, CS-, GS1, GS2]",
        r"6: cs\.roles: expected the roles in continuum order \[CS\+, GS1, GS2, CS-\] .*",
    ),
    (
        "  roles: [CS+, GS1, GS2, CS-]",
        "  roles: [CS+, GS1, GS2, CS-, CS-b]",
        r"6: cs\.roles: expected one CS\+ and one CS− role with GS roles .*",
    ),
    (
        '    d: {shape: circle, color: "#ff0000", size: 0.4}',
        '    d: {shape: circle, color: "#ff0000", size: 0.4}\n    e: {shape: square, color: red}',
        r"8: cs\.stimuli: expected one stimulus per role \(4\), in continuum order, with GS "
        r"roles, got 5 stimuli",
    ),
    (
        "    reinforced: {CS+: 1}",
        "    reinforced: {CS+: 1, GS1: 1}",
        r"29: phases\.test\.reinforced\.GS1: expected a CS\+ role \(a generalisation stimulus "
        r"is never reinforced\), got 'GS1'",
    ),
]


@pytest.mark.parametrize(("old", "new", "expected"), MISTAKES, ids=[m[1][:30] for m in MISTAKES])
def test_generalisation_mistakes_are_one_line(write, edit, old, new, expected):
    """Each mistake in a generalisation design gives its exact one-line message."""
    path = write(edit(GEN, old, new))
    with pytest.raises(ProtocolError) as caught:
        load_protocol(path)
    message = str(caught.value)
    assert re.fullmatch(re.escape(str(path)) + ":" + expected, message), message


def test_generalisation_phase_needs_gs_roles(write, minimal, edit):
    """A generalisation phase in a protocol without GS roles is refused on its type line."""
    path = write(edit(minimal, "    type: extinction", "    type: generalisation"))
    with pytest.raises(
        ProtocolError,
        match=r":25: phases\.extinction\.type: expected a phase type other than generalisation",
    ):
        load_protocol(path)


def test_swapping_a_gs_is_refused(write, edit):
    """swap_roles may not give a GS another picture."""
    path = write(
        edit(GEN, "    iti: 5\n  test:", "    iti: 5\n    swap_roles: [CS+, GS1]\n  test:")
    )
    with pytest.raises(ProtocolError, match=r"swap_roles: expected two CS roles \(not GS roles\)"):
        load_protocol(path)


def test_start_with_pair_never_starts_with_a_gs(write, edit):
    """With start_with_pair, the first two test trials are a CS+ and a CS-, never a GS."""
    text = edit(GEN, "    trials: 3\n", "    trials: 3\n    constraints: {start_with_pair: true}\n")
    protocol = load(write, text)
    for participant in ("1", "2", "3", "4", "5", "6"):
        test = [e for e in build_schedule(protocol, participant).trials if e.phase == "test"]
        assert {test[0].cs_type, test[1].cs_type} == {"CS+", "CS-"}
