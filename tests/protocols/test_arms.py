"""Between-subject arms: loading (one-line errors), the balanced and stable assignment,
``pavlov schedule`` with ``--arm``, ``--counterbalancing`` and a blinded code list."""

from __future__ import annotations

import collections
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pavlov.protocols.arms import CodeListError, choose_arm, read_codes
from pavlov.protocols.errors import ProtocolError, ScheduleError
from pavlov.protocols.loader import load_protocol
from pavlov.protocols.schedule import arm_for, build_schedule, cell_for

REPO = Path(__file__).resolve().parents[2]
RETEXT = REPO / "protocols" / "retrieval_extinction.yaml"

#: The conftest's MINIMAL protocol with a wait, a second wait, and three arms.
ARMS = """
  w10:
    type: wait
    duration: 600
  w6h:
    type: wait
    duration: 21600
arms:
  short: {description: ten minutes}
  long:
    replace: {w10: w6h}
  none:
    omit: [w10]
"""


@pytest.fixture
def armed_text(minimal, edit):
    """MINIMAL with a 10-min wait before extinction and three arms around it."""
    text = edit(
        minimal, "phases: [acquisition, extinction]", "phases: [acquisition, w10, extinction]"
    )
    waits, arms = ARMS.split("arms:\n")
    text = edit(text, "sessions:\n", waits.lstrip("\n") + "arms:\n" + arms + "sessions:\n")
    return text


def test_arms_load_as_variants_of_the_sessions(write, armed_text):
    """Each arm's sessions are the file's with its replace/omit applied, in file order."""
    protocol = load_protocol(write(armed_text))
    assert list(protocol.arms) == ["short", "long", "none"]
    phases = {name: arm.sessions[0].phases for name, arm in protocol.arms.items()}
    assert phases == {
        "short": ("acquisition", "w10", "extinction"),
        "long": ("acquisition", "w6h", "extinction"),
        "none": ("acquisition", "extinction"),
    }
    assert protocol.arms["short"].description == "ten minutes"
    view = protocol.for_arm("long")
    assert view.arm == "long" and view.session("day1").phases[1] == "w6h"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "replace: {w10: w6h}",
            "replace: {w1O: w6h}",
            "arms.long.replace.w1O: expected a phase "
            "that a session runs, got 'w1O'. Did you mean 'w10'?",
        ),
        (
            "replace: {w10: w6h}",
            "replace: {w10: w7h}",
            "arms.long.replace.w10: expected the name "
            "of a phase defined under phases, got 'w7h'. Did you mean 'w6h'?",
        ),
        (
            "omit: [w10]",
            "omit: [day9]",
            "arms.none.omit[0]: expected a phase that a session "
            "runs, or a session name, got 'day9'. Did you mean 'day1'?",
        ),
        (
            "omit: [w10]",
            "omit: [acquisition, w10, extinction]",
            "arms.none.omit: expected a session left with a phase",
        ),
        (
            "    replace: {w10: w6h}",
            "    replcae: {w10: w6h}",
            "arms.long.replcae: expected one "
            "of the keys description, replace, omit, got unknown key 'replcae'. Did you mean "
            "'replace'?",
        ),
    ],
)
def test_arm_mistakes_are_one_line(write, armed_text, edit, old, new, message):
    """A misspelt phase, session or key of an arm is one line naming it, with a suggestion."""
    with pytest.raises(ProtocolError) as error:
        load_protocol(write(edit(armed_text, old, new)))
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_one_arm_is_refused(write, armed_text, edit):
    """A single arm compares nothing: the loader asks for two or more."""
    text = edit(armed_text, "  long:\n    replace: {w10: w6h}\n  none:\n    omit: [w10]\n", "")
    with pytest.raises(ProtocolError, match="two or more arms"):
        load_protocol(write(text))


def test_an_arm_over_the_shock_cap_is_refused(write, armed_text, edit):
    """Each arm's sessions are checked against safety.max_shocks like the file's own."""
    hot = "  hot:\n    type: acquisition\n    trials: 8\n    reinforced: {CS+: 4}\n    cs_duration: 4\n    iti: 10\narms:\n"
    text = edit(armed_text, "arms:\n", hot)
    text = edit(text, "omit: [w10]", "omit: [w10]\n    replace: {extinction: hot}")
    with pytest.raises(ProtocolError, match=r"at most safety\.max_shocks"):
        load_protocol(write(text))


def test_assignment_is_balanced_and_crossed_with_the_cells(write, armed_text):
    """Every C × A consecutive participant numbers hold each (cell, arm) pair exactly once,
    and six consecutive participants are two per arm."""
    protocol = load_protocol(write(armed_text))
    n_cells = cell_for(protocol, "0").n_cells
    assert n_cells == 2
    for start in (0, 6, 600):
        pairs = collections.Counter(
            (cell_for(protocol, str(n)).index, arm_for(protocol, str(n)))
            for n in range(start, start + 6)
        )
        assert len(pairs) == 6 and set(pairs.values()) == {1}
    for first in range(1, 20):
        arms = collections.Counter(arm_for(protocol, f"{n:02d}") for n in range(first, first + 6))
        assert sorted(arms.values()) == [2, 2, 2]


def test_adding_arms_moves_no_ones_cell(write, minimal, armed_text):
    """The cells of participants 1–50 are the same with and without the arms block."""
    plain = load_protocol(write(minimal, "plain.yaml"))
    armed = load_protocol(write(armed_text, "armed.yaml"))
    for n in range(1, 51):
        assert cell_for(plain, str(n)) == cell_for(armed, str(n))
    assert arm_for(plain, "1") is None


def test_schedule_follows_the_arm(write, armed_text):
    """A participant's schedule runs their arm's phases; --arm (choose_arm) overrides it."""
    protocol = load_protocol(write(armed_text))
    by_number = build_schedule(protocol, "03", "day1")
    assert by_number.arm == arm_for(protocol, "03") == "none"
    assert "w10" not in {e.phase for e in by_number.events}
    chosen = build_schedule(choose_arm(protocol, "03", arm="long"), "03", "day1")
    assert chosen.arm == "long" and "w6h" in {e.phase for e in chosen.events}
    with pytest.raises(ScheduleError, match="Did you mean 'long'"):
        choose_arm(protocol, "03", arm="lnog")


def test_code_list_hides_the_arm_and_unblinds(tmp_path, write, armed_text, edit):
    """A blinded participant runs the shared sessions with no arm; --unblind reads it."""
    codes = tmp_path / "codes.csv"
    codes.write_text("participant,code,arm\nsub-01,K17,drug\n02,K22,placebo\n")
    text = edit(armed_text, "  long:\n    replace: {w10: w6h}\n  none:\n    omit: [w10]\n", "")
    text = edit(text, "short: {description: ten minutes}", "drug: {}\n  placebo: {}")
    protocol = load_protocol(write(text))
    blinded = choose_arm(protocol, "01", codes=read_codes(codes))
    assert blinded.blinded and build_schedule(blinded, "01").arm is None
    unblinded = choose_arm(protocol, "02", codes=read_codes(codes, unblind=True))
    assert build_schedule(unblinded, "02").arm == "placebo"
    with pytest.raises(ScheduleError, match="expected a row for participant 03"):
        choose_arm(protocol, "03", codes=read_codes(codes))
    # Arms that run different sessions cannot stay hidden.
    with pytest.raises(ScheduleError, match="cannot stay hidden"):
        choose_arm(load_protocol(write(armed_text, "armed.yaml")), "01", codes=read_codes(codes))


def test_code_list_matches_a_participant_however_it_is_written(tmp_path, write, armed_text, edit):
    """The list's 1, 02 and sub-003 are the command line's 01, sub-2 and 3: one participant
    each, whichever way either side pads or prefixes it."""
    codes = tmp_path / "codes.csv"
    codes.write_text(
        "participant,code,arm\n1,K1,drug\n02,K2,placebo\nsub-003,K3,drug\npilot,K4,drug\n"
    )
    listed = read_codes(codes, unblind=True)
    assert [listed[p].code for p in ("01", "sub-2", "3", "sub-pilot")] == ["K1", "K2", "K3", "K4"]
    assert "001" in listed and "4" not in listed and "bad id" not in listed
    assert list(listed) == ["1", "02", "003", "pilot"]  # as the list writes them
    text = edit(armed_text, "  long:\n    replace: {w10: w6h}\n  none:\n    omit: [w10]\n", "")
    text = edit(text, "short: {description: ten minutes}", "drug: {}\n  placebo: {}")
    protocol = load_protocol(write(text))
    assert build_schedule(choose_arm(protocol, "002", codes=listed), "002").arm == "placebo"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "participant,code\n1,K1\n01,K2\n",
            "codes.csv:3: participant: expected each participant once (first on line 2), "
            "got '01' again, the same participant as '1'",
        ),
        (
            "participant,code\nsub-07,K1\n\n7,K2\n",
            "codes.csv:4: participant: expected each participant once (first on line 2), "
            "got '7' again, the same participant as '07'",
        ),
        (
            "participant,code\n07 a,K1\n",
            "codes.csv:2: participant: expected a participant ID of letters and digits (a BIDS "
            "label, sub- optional), got '07 a'",
        ),
        (
            "participant,kit\n01,K1\n",
            "codes.csv:1: header: expected a column code, got participant, kit",
        ),
        (
            "particpant,code\n01,K1\n",
            "codes.csv:1: header: expected a column participant, got particpant, code. "
            "Did you mean 'participant'?",
        ),
        (
            "participant,code\n01,K1\n01,K2\n",
            "codes.csv:3: participant: expected each participant once (first on line 2), got '01' again",
        ),
        (
            "participant,code\n01,\n",
            "codes.csv:2: code: expected the participant's kit code, got nothing",
        ),
        (
            "participant,code\n01,K1\n",
            "codes.csv:1: header: expected a column arm (--unblind reads the arm), got participant, code",
        ),
        (
            "participant,code,arm\n01,K1,drgu\n",
            "codes.csv:2: arm: expected one of the protocol's arms (drug, placebo), got 'drgu'. Did you mean 'drug'?",
        ),
    ],
)
def test_code_list_mistakes_are_one_line(tmp_path, content, message):
    """A code list without its columns, with a repeated participant, an empty code or an
    unknown arm is one line naming the row."""
    path = tmp_path / "codes.csv"
    path.write_text(content)
    unblind = "arm" in message
    with pytest.raises(CodeListError) as error:
        read_codes(path, unblind=unblind, arms=("drug", "placebo"))
    assert str(error.value).endswith(message)


def pavlov(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pavlov.task.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


def test_schedule_counterbalancing_shows_the_arms_and_who_is_in_which(tmp_path):
    """`pavlov schedule --counterbalancing --participants` prints the formula, each arm's
    changes and numbers, and each participant's cell and arm (a coded one hidden)."""
    codes = tmp_path / "codes.csv"
    codes.write_text("participant,code,arm\n04,K4,reminder_6h\n")
    proc = pavlov(
        "schedule",
        str(RETEXT),
        "--counterbalancing",
        "--participants",
        "01-04",
        "--codes",
        str(codes),
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "3 arms, crossed with the cells; a participant's arm is (n mod 2 + n div 2) mod 3" in out
    assert (
        "arm no_reminder (extinction without a reminder; no reminder, no reconsolidation_window): IDs 3, 4"
        in out
    )
    assert "01           2     reminder_6h" in out
    assert "03           2     no_reminder" in out
    assert "04           1     blinded (code K4)" in out
    unblinded = pavlov(
        "schedule",
        str(RETEXT),
        "--counterbalancing",
        "--participants",
        "04",
        "--codes",
        str(codes),
        "--unblind",
    )
    assert "04           1     reminder_6h (code K4)" in unblinded.stdout


def test_schedule_arm_option(tmp_path):
    """`pavlov schedule -p 03 -s day2` runs participant 03's arm; --arm picks another; a
    misspelt arm is one line, exit 2."""
    own = pavlov("schedule", str(RETEXT), "-p", "03", "-s", "day2")
    assert ", arm no_reminder" in own.stdout and "reminder  " not in own.stdout
    other = pavlov("schedule", str(RETEXT), "-p", "03", "-s", "day2", "--arm", "reminder_6h")
    assert ", arm reminder_6h" in other.stdout and "outside_window" in other.stdout
    bad = pavlov("schedule", str(RETEXT), "-p", "03", "--arm", "no_remnder")
    assert bad.returncode == 2
    assert bad.stderr == (
        "pavlov: --arm: expected one of the protocol's arms (reminder_10min, reminder_6h, "
        "no_reminder), got 'no_remnder'. Did you mean 'no_reminder'?\n"
    )


@pytest.mark.parametrize(
    "code",
    ['"K\t7"', '"K\n7"', "K\x007", "K\x1b[2J7"],
    ids=["tab", "newline", "nul", "escape"],
)
def test_code_list_codes_with_control_characters_are_one_line(tmp_path, code):
    """A kit code with a tab, a line break, a NUL or an escape (an Excel cell pasted from
    a label printer) is refused in one line naming the row: `pavlov run` writes the code
    into participants.tsv, where a tab made a 5-cell row under a 4-column header (analyze
    then refused the whole dataset and the participant's next session failed with
    "expected the code K recorded, got K 7")."""
    path = tmp_path / "codes.csv"
    path.write_bytes(f"participant,code\n01,{code}\n".encode())
    with pytest.raises(CodeListError) as error:
        read_codes(path)
    assert str(error.value).startswith(f"{path}:2: code: expected ")
    assert "\n" not in str(error.value)


def test_code_list_that_is_not_a_regular_file_is_one_line(tmp_path):
    """`--codes /dev/zero` (read until memory ran out: an internal MemoryError) and a FIFO
    (blocked forever) are refused before reading, as protocols and lab files are
    (common/files.py read_regular). Each runs in a child with 1 GB of address space and a
    20-s limit, so the machine is not starved when the bug is there."""
    fifo = tmp_path / "codes.fifo"
    os.mkfifo(fifo)
    child = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
        "from pavlov.protocols.arms import CodeListError, read_codes\n"
        "try:\n"
        "    read_codes(sys.argv[1])\n"
        "except CodeListError as error:\n"
        "    print(error)\n"
    )
    for path in ("/dev/zero", str(fifo)):
        try:
            done = subprocess.run(
                [sys.executable, "-c", child, path], capture_output=True, text=True, timeout=20
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"read_codes({path!r}) still reading after 20 s")
        assert done.returncode == 0, done.stderr[-300:]
        assert done.stdout.startswith(f"{path}:"), done.stdout


def test_one_kit_code_for_two_participants_is_one_line(tmp_path):
    """A code list that gives kit K1 to participants 01 and 02 (a pharmacy's copy-paste
    error; here even with different arms behind it) is refused in one line naming the
    second row: each kit is one participant's, so at unblinding one of the two would be
    analysed under the other's drug. It was accepted (run and --unblind alike)."""
    path = tmp_path / "codes.csv"
    path.write_text("participant,code,arm\n01,K1,drug\n02,K1,placebo\n")
    for unblind in (False, True):
        with pytest.raises(CodeListError) as error:
            read_codes(path, unblind=unblind, arms=("drug", "placebo"))
        assert str(error.value).startswith(f"{path}:3: code: expected "), error.value


def test_a_hostile_arm_name_is_shown_escaped_and_shortened(write, armed_text):
    """`--arm` with a terminal escape (ESC [2J clears the experimenter's screen) or 100,000
    characters is refused in one line that shows the value escaped and shortened, as the
    other options do (common/argtypes.py); the raw ESC byte and the whole value were
    printed."""
    protocol = load_protocol(write(armed_text))
    for arm in ("x\x1b[2Jy", "a" * 100_000):
        with pytest.raises(ScheduleError) as error:
            choose_arm(protocol, "01", arm=arm)
        message = str(error.value)
        assert "\x1b" not in message and len(message) < 400, message[:200]
