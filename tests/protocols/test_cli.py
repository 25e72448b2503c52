"""`pavlov validate` and `pavlov schedule` as a user runs them: real subprocesses, real files."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pavlov.task.cli import main

REPO = Path(__file__).resolve().parents[2]
BUNDLED = sorted((REPO / "protocols").glob("*.yaml"))
ONE_LINE = re.compile(r"^\S+:\d+: (\S+: )?expected .+, got .+$")


def pavlov(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pavlov.task.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_bundled_protocol_validates():
    """`pavlov validate` accepts every bundled protocol and exits 0."""
    result = pavlov("validate", *map(str, BUNDLED))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert len(result.stdout.splitlines()) == len(BUNDLED)
    assert all(": ok (" in line for line in result.stdout.splitlines())


def _break(text: str, how: str) -> str | bytes:
    """A copy of a bundled protocol with one kind of mistake."""
    if how == "typo in a key":
        return text.replace("cs_duration:", "cs_duraton:", 1)
    if how == "wrong type":
        return re.sub(r"cs_duration: [\d.]+", "cs_duration: four", text, count=1)
    if how == "negative duration":
        return re.sub(r"cs_duration: [\d.]+", "cs_duration: -4", text, count=1)
    if how == "deleted required key":
        return re.sub(r"(?m)^task: .*\n", "", text)
    if how == "syntax error":
        return text.replace("roles: [CS+, CS-]", "roles: [CS+, CS-", 1)
    if how == "empty file":
        return ""
    if how == "binary file":
        return b"\x7fELF\x02\x01\x01\x00" + bytes(range(256))
    raise AssertionError(how)


MISTAKES = {
    "typo in a key": r"unknown key 'cs_duraton'\. Did you mean 'cs_duration'\?$",
    "wrong type": r"cs_duration: expected seconds > 0 .*, got 'four'$",
    "negative duration": r"cs_duration: expected seconds > 0 .*, got -4$",
    "deleted required key": r":\d+: task: expected a BIDS task label .* \(required\), got nothing$",
    "syntax error": r"expected valid YAML, got a syntax error \(.+\)$",
    "empty file": r":1: expected a protocol file \(a YAML mapping\), got an empty file$",
    "binary file": r":1: expected a protocol file \(UTF-8 text\), got binary data$",
}


@pytest.mark.parametrize("how", list(MISTAKES))
@pytest.mark.parametrize("bundled", BUNDLED, ids=[p.stem for p in BUNDLED])
def test_broken_copy_is_one_line_and_exit_2(tmp_path, bundled, how):
    """Each kind of mistake in a copy of a bundled protocol gives one line and exit 2."""
    broken = _break(bundled.read_text(), how)
    path = tmp_path / bundled.name
    if isinstance(broken, bytes):
        path.write_bytes(broken)
    else:
        path.write_text(broken)
    errors = io.StringIO()
    old, sys.stderr = sys.stderr, errors
    try:
        status = main(["validate", str(path)])
    finally:
        sys.stderr = old
    lines = errors.getvalue().splitlines()
    assert status == 2
    assert len(lines) == 1, lines
    assert ONE_LINE.match(lines[0]), lines[0]
    assert lines[0].startswith(f"{path}:")
    assert re.search(MISTAKES[how], lines[0]), lines[0]


@pytest.mark.parametrize("how", ["typo in a key", "syntax error", "binary file"])
def test_broken_copy_in_a_real_process(tmp_path, how):
    """Through a real `pavlov` process: one line on stderr, nothing on stdout, exit 2."""
    bundled = REPO / "protocols" / "retrieval_extinction.yaml"
    broken = _break(bundled.read_text(), how)
    path = tmp_path / "broken.yaml"
    path.write_bytes(broken if isinstance(broken, bytes) else broken.encode())
    result = pavlov("validate", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_validate_reports_each_bad_file_and_exits_2(tmp_path):
    """With several files, each bad one gets its line; good ones still say ok."""
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    result = pavlov("validate", str(BUNDLED[0]), str(empty), str(tmp_path))
    assert result.returncode == 2
    assert result.stdout.count(": ok (") == 1
    assert result.stderr.splitlines() == [
        f"{empty}:1: expected a protocol file (a YAML mapping), got an empty file",
        f"{tmp_path}:1: expected a protocol file, got a directory",
    ]


def test_schedule_table_lists_every_trial_and_the_total():
    """The table has one row per event and ends with trial counts and total duration."""
    result = pavlov(
        "schedule", str(REPO / "protocols/retrieval_extinction.yaml"), "--participant", "01"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Retrieval-extinction")
    assert "participant 01, session day1, counterbalancing cell 2 of 2" in lines[1]
    assert (
        lines[-1]
        == "30 trials (18 CS+, 12 CS-), 6 US(s), 34 events; total duration 8 min 04.1 s (484.1 s)"
    )
    rows = [line for line in lines if line.startswith(("habituation", "acquisition"))]
    assert len(rows) == 34  # every event of day 1 (instructions and ratings included)


def test_schedule_csv_parses_with_na(tmp_path):
    """CSV output has the documented columns, n/a for missing values, one row per event."""
    result = pavlov(
        "schedule",
        str(REPO / "protocols/fear_extinction_recall.yaml"),
        "-p",
        "3",
        "-s",
        "day2",
        "-f",
        "csv",
    )
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == [
        "phase",
        "kind",
        "trial",
        "cs",
        "cs_type",
        "stimulus",
        "reinforced",
        "event_type",
        "onset",
        "duration",
        "us_onset",
        "iti",
        "context",
    ]
    assert len(rows) == 30
    unsignalled = [r for r in rows if r["kind"] == "us"]
    assert [(r["cs"], r["event_type"], r["reinforced"]) for r in unsignalled] == [
        ("n/a", "USp", "1")
    ] * 3


def test_schedule_json_round_trips():
    """JSON output carries the cell, seed and every event."""
    result = pavlov(
        "schedule", str(REPO / "protocols/aversive_pavlovian_fmri.yaml"), "-p", "2", "-f", "json"
    )
    data = json.loads(result.stdout)
    assert data["session"] == "scan"
    assert data["cell"]["n_cells"] == 2
    assert len(data["events"]) == 72
    assert data["duration"] == pytest.approx(data["events"][-1]["onset"] + 12.0)


def test_schedule_counterbalancing_table():
    """--counterbalancing prints one line per cell."""
    result = pavlov(
        "schedule",
        str(REPO / "protocols/fear_extinction_recall.yaml"),
        "-p",
        "1",
        "--counterbalancing",
    )
    assert result.returncode == 0
    assert result.stdout.count("\ncell ") == 12


def test_schedule_bad_participant_is_one_line_exit_2():
    """A participant ID that is not a BIDS label: one line, exit 2."""
    result = pavlov("schedule", str(BUNDLED[0]), "-p", "sub-01")
    assert result.returncode == 2
    assert (
        result.stderr
        == "pavlov: participant: expected a BIDS label of letters and digits (e.g. 07), got 'sub-01'\n"
    )
