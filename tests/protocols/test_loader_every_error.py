"""Every mistake in one run: independent mistakes are all reported, one line each, in file
order; one mistake is still exactly one line; consequences are not reported as mistakes."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from pavlov.protocols.errors import ProtocolError, ProtocolErrors, error_lines
from pavlov.protocols.loader import load_protocol
from pavlov.protocols.reader import MAX_ERRORS

ONE_LINE = re.compile(r"^\S+:\d+: (\S+: )?expected .+, got .+$")


def lines_of(path) -> list[str]:
    with pytest.raises(ProtocolError) as caught:
        load_protocol(path)
    return error_lines(caught.value)


def test_five_independent_mistakes_in_one_run(write, minimal, edit):
    """Five mistakes in five places: five lines in file order, each the line the mistake
    alone would give, and the error behaves as its first one."""
    text = minimal
    for old, new in [
        ("task: fear", "task: fear cond"),
        ("{shape: square,", "{shape: sqaure,"),
        ("    type: shock\n", "    type: shock\n    volume: 0.5\n"),
        ("    cs_duration: 4\n    iti: {", "    cs_duration: -4\n    iti: {"),
        ("    iti: 10\n", "    iti: 10-14\n"),
    ]:
        text = edit(text, old, new)
    path = write(text)
    with pytest.raises(ProtocolErrors) as caught:
        load_protocol(path)
    lines = caught.value.lines
    assert [line.removeprefix(f"{path}:") for line in lines] == [
        "3: task: expected a BIDS task label (a label of letters and digits), got 'fear cond'",
        "9: cs.stimuli.yellow.shape: expected one of square, circle, triangle, diamond, got "
        "'sqaure'. Did you mean 'square'?",
        "13: us.shock.volume: expected one of the keys type, train, duration, got unknown key "
        "'volume'",
        "23: phases.acquisition.cs_duration: expected seconds > 0 and <= 60, got -4",
        "29: phases.extinction.iti: expected seconds >= 0 and <= 300, got '10-14'. Did you mean "
        "'{uniform: [10, 14]}'?",
    ]
    assert str(caught.value) == lines[0] and caught.value.line == 3


def test_validate_prints_every_line_and_exits_2(write, minimal, edit):
    """`pavlov validate` in a real process: one stderr line per mistake, nothing on stdout,
    exit 2."""
    text = edit(minimal, "seed: 7", "seed: -7")
    text = edit(
        text,
        "    trials: 8\n    cs_duration: 4\n    iti: 10",
        "    trials: 0\n    cs_duration: 4\n    iti: 10",
    )
    path = write(text)
    result = subprocess.run(
        [sys.executable, "-m", "pavlov.task.cli", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (result.returncode, result.stdout) == (2, "")
    lines = result.stderr.splitlines()
    assert len(lines) == 2, lines
    assert all(ONE_LINE.match(line) for line in lines), lines
    assert lines[0].startswith(f"{path}:4: seed:")
    assert lines[1].startswith(f"{path}:26: phases.extinction.trials:")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "    iti: 10\n",
            "    iti: 10 to 14 s\n",
            r"phases\.extinction\.iti: expected seconds >= 0 and <= 300, got '10 to 14 s'\. "
            r"Did you mean '\{uniform: \[10, 14\]\}'\?",
        ),
        (
            "reinforced: {CS+: 3}",
            "reinforcement_rate: {CS+: 50}",
            r"phases\.acquisition\.reinforcement_rate\.CS\+: expected a rate from 0 to 1, got 50 "
            r"\(rates are 0–1, not percentages\)\. Did you mean '0\.5'\?",
        ),
        (
            "reinforced: {CS+: 3}",
            "reinforcement_rate: {CS+: 1.5}",
            r"phases\.acquisition\.reinforcement_rate\.CS\+: expected a rate from 0 to 1, got 1\.5",
        ),
        (
            "    iti: 10\n",
            "    iti: 10\n    rating: {scale: [0, 100], input: keys}\n",
            r"phases\.extinction\.rating\.input: expected slider for a 0–100 scale \(input: keys "
            r"needs one key per point: 101 points, and only 10 digit keys exist\), got 'keys'",
        ),
    ],
)
def test_messages_for_the_mistakes_people_make(write, minimal, edit, old, new, expected):
    """A range as text, a percentage for a rate, keys on a 0–100 scale: each message says
    what to write instead, and the bounds are said once."""
    lines = lines_of(write(edit(minimal, old, new)))
    assert len(lines) == 1, lines
    assert re.fullmatch(r"\S+:\d+: " + expected, lines[0]), lines[0]


def test_consequences_of_a_mistake_are_not_reported(write, minimal, edit):
    """A broken CS block (a role twice) makes every phase unreadable: only the CS mistake
    is reported; a misspelt optional key reports the misspelling only."""
    lines = lines_of(write(edit(minimal, "roles: [CS+, CS-]", "roles: [CS+, CS+]")))
    assert len(lines) == 1 and "cs.roles[1]: expected each role once" in lines[0]
    text = edit(minimal, "    reinforced: {CS+: 3}", "    reinforcd: {CS+: 3}\n    lead_in: -1")
    lines = lines_of(write(text))
    assert len(lines) == 1 and "unknown key 'reinforcd'" in lines[0], lines


def test_at_most_twenty_mistakes(write, minimal):
    """A file with 30 broken phases reports the first MAX_ERRORS (20) of them, in order."""
    broken = "".join(
        f"  p{i}:\n    type: extinction\n    trials: 8\n    cs_duration: -{i + 1}\n    iti: 10\n"
        for i in range(30)
    )
    text = minimal.replace("phases:\n", "phases:\n" + broken, 1)
    lines = lines_of(write(text))
    assert MAX_ERRORS == 20
    assert len(lines) == MAX_ERRORS
    assert [re.search(r"phases\.(p\d+)\.", line)[1] for line in lines] == [
        f"p{i}" for i in range(20)
    ]


def test_every_command_reports_every_mistake(write, minimal, edit, capsys):
    """Any command that loads a protocol (here `pavlov schedule`) prints each mistake on its
    own `pavlov:` line and exits 2."""
    from pavlov.task.cli import main

    text = edit(minimal, "seed: 7", "seed: -7")
    text = edit(text, "    iti: 10\n", "    iti: 10-14\n")
    path = write(text)
    assert main(["schedule", str(path), "-p", "01"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(": ")[2] for line in lines] == ["seed", "phases.extinction.iti"]
    assert all(line.startswith(f"pavlov: {path}:") for line in lines)
