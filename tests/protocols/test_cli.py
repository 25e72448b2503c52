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

from pavlov.protocols import build_schedule, load_protocol
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
        return re.sub(r"roles: \[([^\]]*)\]", r"roles: [\1", text, count=1)
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
        "item",
    ]
    assert len(rows) == 33  # 26 trials, 3 USs, 2 instructions, 2 questionnaire items
    assert [r["item"] for r in rows if r["kind"] == "questionnaire"] == ["us_unpleasant", "aware"]
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


def schedule_cli(capsys, *args: str) -> tuple[int, str, str]:
    """`pavlov schedule ARGS` in process: exit status, stdout, stderr."""
    status = main(["schedule", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.parametrize("extension", ["png", "svg", "html"])
def test_schedule_plot_writes_the_picture_once(tmp_path, capsys, extension):
    """--plot OUT writes the picture in the format its extension names, says so on one
    line, and refuses to replace it on a second run (the file stays as it was)."""
    from pavlov.protocols.plot import render

    out = tmp_path / f"timeline.{extension}"
    protocol_file = str(REPO / "protocols/retrieval_extinction.yaml")
    status, stdout, stderr = schedule_cli(
        capsys, protocol_file, "-p", "01", "-s", "day3", "--plot", str(out)
    )
    assert (status, stderr) == (0, "")
    assert stdout == f"{out}: timeline of 37 events written\n"
    protocol = load_protocol(protocol_file)
    assert out.read_bytes() == render(build_schedule(protocol, "01", "day3"), protocol, extension)
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary file left
    before = out.stat().st_mtime_ns
    status, stdout, stderr = schedule_cli(capsys, protocol_file, "-p", "01", "--plot", str(out))
    assert status == 2
    assert stderr == (
        f"pavlov: --plot: {out} already exists; existing files are never replaced "
        "(remove it or choose another name)\n"
    )
    assert out.stat().st_mtime_ns == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["-p", "01", "--plot", "t.pdf"],
            "--plot: expected a file name ending .png, .svg or .html, got 't.pdf'",
        ),
        (
            ["-p", "01", "--plot", "missing/t.png"],
            "--plot: expected an existing folder, got 'missing'",
        ),
        (
            ["--participants", "01-02", "--plot", "t.png"],
            "--plot: expected one participant (-p ID), got --participants",
        ),
        (
            ["-p", "01", "--counterbalancing", "--plot", "t.png"],
            "--plot: expected one participant (-p ID), got --counterbalancing",
        ),
        (
            ["--participants", "5-1"],
            "--participants: expected a range FIRST-LAST with FIRST <= LAST and at most 10,000 IDs, got '5-1'",
        ),
        (["--participants", "01,02,01"], "--participants: expected each ID once, got '01,02,01'"),
        (
            ["--participants", "01,,02"],
            "--participants: expected IDs or ranges separated by commas (e.g. 01-24 or 01,03,10-12), got '01,,02'",
        ),
        (
            ["--participants", "sub-01"],
            "--participants: expected IDs or ranges separated by commas (e.g. 01-24 or 01,03,10-12), got 'sub-01'",
        ),
    ],
)
def test_schedule_bad_plot_or_participants_is_one_line_exit_2(
    tmp_path, capsys, monkeypatch, args, message
):
    """Bad --plot or --participants values: one line naming the option, exit 2, no file."""
    monkeypatch.chdir(tmp_path)
    status, stdout, stderr = schedule_cli(capsys, str(BUNDLED[0]), *args)
    assert (status, stdout) == (2, "")
    assert stderr == f"pavlov: {message}\n"
    assert list(tmp_path.iterdir()) == []


def test_participant_ids_keep_padding_and_order():
    """Ranges keep the first bound's zero-padding; lists and ranges mix, in order."""
    from pavlov.protocols.cli import participant_ids

    assert participant_ids("01-24") == [f"{n:02d}" for n in range(1, 25)]
    assert participant_ids("8-11") == ["8", "9", "10", "11"]
    assert participant_ids("001-003, pilot,7") == ["001", "002", "003", "pilot", "7"]


def test_schedule_many_participants_as_one_csv(capsys):
    """--participants 01-24 --format csv: every participant's every session, with
    participant and session columns, each block equal to that participant's own schedule."""
    protocol_file = str(REPO / "protocols/retrieval_extinction.yaml")
    status, stdout, stderr = schedule_cli(
        capsys, protocol_file, "--participants", "01-24", "-f", "csv"
    )
    assert (status, stderr) == (0, "")
    rows = list(csv.DictReader(io.StringIO(stdout)))
    assert list(rows[0])[:3] == ["participant", "session", "phase"]
    pairs = list(dict.fromkeys((r["participant"], r["session"]) for r in rows))
    assert pairs == [(f"{n:02d}", s) for n in range(1, 25) for s in ("day1", "day2", "day3")]
    status, single, _ = schedule_cli(capsys, protocol_file, "-p", "13", "-s", "day2", "-f", "csv")
    expected = list(csv.DictReader(io.StringIO(single)))
    got = [r for r in rows if (r["participant"], r["session"]) == ("13", "day2")]
    assert [
        {k: v for k, v in r.items() if k not in ("participant", "session")} for r in got
    ] == expected


def test_schedule_many_participants_one_session_as_json(capsys):
    """--participants with -s and --format json: a list of schedules of that session."""
    status, stdout, _ = schedule_cli(
        capsys,
        str(REPO / "protocols/fear_extinction_recall.yaml"),
        "--participants",
        "3,4",
        "-s",
        "day2",
        "-f",
        "json",
    )
    data = json.loads(stdout)
    assert status == 0
    assert [(d["participant"], d["session"], len(d["events"])) for d in data] == [
        ("3", "day2", 33),
        ("4", "day2", 33),
    ]


def test_empty_codes_or_arm_is_a_usage_error_for_schedule(tmp_path):
    """`schedule --codes ""` or `--arm ""` (a script's unset variable) is one usage line and
    exit 2, not the schedule of the participant's arm by number."""
    protocol = str(REPO / "protocols" / "ketamine_reconsolidation.yaml")
    for option, expected in (("--codes", "expected a file"), ("--arm", "expected an arm's name")):
        result = pavlov("schedule", protocol, "-p", "01", option, "")
        assert result.returncode == 2 and result.stdout == ""
        assert result.stderr.strip().splitlines()[-1].endswith(f"{expected}, got ''")
