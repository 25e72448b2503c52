"""Generalisation designs: GS roles load, are never reinforced, keep the continuum's order
under counterbalancing (2 cells), and schedule as GS trials with their distance."""

from __future__ import annotations

import hashlib
import json
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


#: FearGen-like: eight stimuli on a circle, the CS- opposite the CS+, GS by angular distance.
CIRCLE = """\
pavlov: 1
study: A circle of faces
task: circle
seed: 5
cs:
  roles: [CS+, GS1, GS2, GS3, CS-]
  circle: true
  stimuli:
    f1: {shape: circle, color: "#ff0000"}
    f2: {shape: circle, color: "#ffaa00"}
    f3: {shape: circle, color: "#ffff00"}
    f4: {shape: circle, color: "#00ff00"}
    f5: {shape: circle, color: "#00ffff"}
    f6: {shape: circle, color: "#0000ff"}
    f7: {shape: circle, color: "#aa00ff"}
    f8: {shape: circle, color: "#ff00ff"}
us:
  flash: {type: image, file: cs/green_square.png, duration: 0.5}
phases:
  test:
    type: generalisation
    trials: 4
    reinforced: {CS+: 2}
    cs_duration: 4
    iti: 2
    rating: {window: 3}
"""


def test_a_circle_rotates_and_keeps_every_face_between_its_neighbours(write):
    """With circle: true, permute gives one cell per rotation (8): the CS+ is any face, the
    CS- the one opposite, GSk the two faces k steps either side; fixed gives the first."""
    cells = counterbalancing_table(load(write, CIRCLE))
    assert len(cells) == 8
    faces = [f"f{k}" for k in range(1, 9)]
    for start, cell in enumerate(cells):
        assert cell.cs["CS+"] == faces[start] and cell.cs["CS-"] == faces[(start + 4) % 8]
        for k in (1, 2, 3):
            pair = (faces[(start + k) % 8], faces[(start - k) % 8])
            assert cell.faces[f"GS{k}"] == pair and cell.cs[f"GS{k}"] == pair[0]
    fixed = load(write, CIRCLE.replace("us:\n", "counterbalancing: {cs: fixed}\nus:\n"))
    (cell,) = counterbalancing_table(fixed)
    assert (cell.cs["CS+"], cell.faces["GS1"], cell.cs["CS-"]) == ("f1", ("f2", "f8"), "f5")


def test_a_circle_gs_shows_its_two_faces_in_turn(write, capsys):
    """Each GS role's 4 trials show its two faces twice each; the schedule's header names
    both faces of every GS."""
    from pavlov.task.cli import main

    path = write(CIRCLE)
    schedule = build_schedule(load_protocol(path), "03")
    for k in (1, 2, 3):
        shown = [e.stimulus for e in schedule.trials if e.cs == f"GS{k}"]
        assert sorted(shown) == sorted(schedule.cell.faces[f"GS{k}"] * 2)
    assert {e.stimulus for e in schedule.trials if e.cs == "CS+"} == {"f4"}
    assert main(["schedule", str(path), "-p", "03"]) == 0
    assert "CS+=f4, GS1=f5/f3, GS2=f6/f2, GS3=f7/f1, CS-=f8" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            '    f8: {shape: circle, color: "#ff00ff"}\n',
            "",
            r"cs\.stimuli: expected 8 stimuli on a circle with 3 GS roles .*, got 7 stimuli",
        ),
        (
            "  roles: [CS+, GS1, GS2, GS3, CS-]",
            "  roles: [CS+, CS-]",
            r"cs\.circle: expected circle: true only with GS roles .*, got true",
        ),
    ],
)
def test_circle_mistakes_are_one_line(write, edit, old, new, expected):
    """A circle with the wrong number of stimuli, or without GS roles, is one line."""
    with pytest.raises(ProtocolError, match=expected) as caught:
        load(write, edit(CIRCLE, old, new))
    assert "\n" not in str(caught.value)


def test_a_circle_is_simulated_and_analysed_by_angular_distance(write, tmp_path):
    """Four simulated participants of the circle analysed (the session record lists each GS
    role's two faces, the log the one shown): gradient.csv holds CS+, GS1-GS3
    and CS- at positions 0-4 (GS1 both faces 45° away), each role's mean from both of its
    faces, and the ratings fall from the CS+ to the CS-."""
    import argparse

    import pandas as pd

    from pavlov.analysis.cli import register
    from pavlov.task.simulate import write_session

    protocol = load_protocol(write(CIRCLE))
    data, out = tmp_path / "data", tmp_path / "out"
    for participant in ("01", "02", "03", "04"):
        write_session(data, protocol, build_schedule(protocol, participant), physio=False)
    (record,) = (data / "sub-01").rglob("*_session.json")
    faces = json.loads(record.read_text())["cell"]["faces"]
    assert faces == {"GS1": ["f3", "f1"], "GS2": ["f4", "f8"], "GS3": ["f5", "f7"]}
    (log,) = (data / "sub-01").rglob("*_events.tsv")
    rows = pd.read_csv(log, sep="\t", na_values="n/a", keep_default_na=False)
    gs1 = rows[(rows.trial_type == "cs") & (rows.cs == "GS1")]
    assert set(gs1.stimulus) == {"f3", "f1"}  # participant 01: CS+ f2, GS1 its neighbours
    parser = argparse.ArgumentParser(prog="pavlov")
    register(parser.add_subparsers())
    args = parser.parse_args(["analyze", str(data), "--out", str(out), "--models", "--no-figures"])
    assert args.func(args) == 0
    gradient = pd.read_csv(out / "gradient.csv", keep_default_na=False)
    assert gradient["cs"].tolist() == ["CS+", "GS1", "GS2", "GS3", "CS-"]
    assert gradient["position"].tolist() == [0, 1, 2, 3, 4]
    assert gradient["mean"].iloc[0] > gradient["mean"].iloc[2] > gradient["mean"].iloc[4]
