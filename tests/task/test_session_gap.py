"""Before a later session: missing earlier sessions and a day gap unlike the protocol's
are one line each, exit 2, unless --allow-session-gap (then warnings)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

from pavlov.protocols import load_protocol
from pavlov.task.session_gap import gap_problems, recorded_dates

PROTOCOL = Path(__file__).resolve().parents[2] / "protocols" / "retrieval_extinction.yaml"


def record(data: Path, participant: str, session: str, started: datetime, end="completed"):
    """A run record as pavlov run leaves it (only the fields the check reads matter)."""
    folder = data / f"sub-{participant}" / f"ses-{session}" / "beh"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"sub-{participant}_ses-{session}_task-retext_run-1_session.json"
    path.write_text(
        json.dumps({"session": session, "started": started.isoformat(), "end_reason": end})
    )


def test_missing_sessions_and_day_gaps_are_found():
    """day3 without day2 is one problem; day3 five days after day1 (planned 2, tolerance 1)
    is another; on the planned day, or at tolerance 3, or in a rehearsal, it is not."""
    protocol = load_protocol(PROTOCOL).for_arm("no_reminder")
    today = date(2026, 3, 10)
    late = {"day1": today - timedelta(days=5)}
    problems = gap_problems(protocol, "01", "day3", late, today, 1.0)
    assert problems == [
        "--session day3: expected sub-01's earlier session day2 first (no completed run of "
        "it in the data)",
        "--session day3: expected it 2 day(s) after day1 (± 1, --day-tolerance), got 5 "
        "day(s) (day1 ran on 2026-03-05)",
    ]
    on_time = {"day1": today - timedelta(days=2), "day2": today - timedelta(days=1)}
    assert gap_problems(protocol, "01", "day3", on_time, today, 1.0) == []
    assert len(gap_problems(protocol, "01", "day3", late, today, 3.0)) == 1
    assert len(gap_problems(protocol, "01", "day3", late, today, 1.0, check_days=False)) == 1
    assert gap_problems(protocol, "01", "day1", {}, today, 1.0) == []


def test_recorded_dates_read_completed_runs_only(tmp_path):
    """An aborted run does not count as the session having run; the first completed run's
    date does."""
    now = datetime(2026, 3, 1, 9, 30).astimezone()
    record(tmp_path, "01", "day1", now)
    record(tmp_path, "01", "day2", now + timedelta(days=1), end="aborted: escape")
    assert recorded_dates(tmp_path, "01") == {"day1": now.date()}


def pavlov(tmp_path, *args):
    return subprocess.run(
        [sys.executable, "-m", "pavlov.task.cli", "run", str(PROTOCOL), *args],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},  # no display: stops before a window
        cwd=tmp_path,
        timeout=60,
    )


def test_run_stops_or_warns_on_a_session_gap(tmp_path):
    """`pavlov run -s day2` eight days after day1 (planned 1) is one line, exit 2, nothing
    written; --allow-session-gap prints it as a warning and goes on (here to the missing
    display)."""
    data = tmp_path / "data"
    record(data, "03", "day1", datetime.now().astimezone() - timedelta(days=8))
    before = sorted(p.name for p in data.rglob("*"))
    stopped = pavlov(tmp_path, "-p", "03", "-s", "day2", "--data", str(data))
    assert stopped.returncode == 2
    assert stopped.stderr == (
        "pavlov: --session day2: expected it 1 day(s) after day1 (± 1, --day-tolerance), got "
        f"8 day(s) (day1 ran on {(date.today() - timedelta(days=8)).isoformat()}); add "
        "--allow-session-gap to run it anyway\n"
    )
    assert sorted(p.name for p in data.rglob("*")) == before
    allowed = pavlov(tmp_path, "-p", "03", "-s", "day2", "--data", str(data), "--allow-session-gap")
    lines = allowed.stderr.splitlines()
    assert lines[0].startswith("pavlov: warning: --session day2: expected it 1 day(s) after day1")
    assert lines[0].endswith("(allowed)") and "xvfb-run" in lines[1]


def test_absurd_day_tolerance_is_a_one_line_usage_error(tmp_path):
    """`--day-tolerance 1e308` (or a billion days) would switch the day check off without
    a word (no gap can exceed it): it is an argparse error naming the option, exit 2,
    like every other absurd number (common/argtypes.py); it was accepted."""
    protocol = tmp_path / "p.yaml"
    protocol.write_text(PROTOCOL.read_text())
    for value in ("1e308", "1000000000"):
        proc = subprocess.run(
            [sys.executable, "-m", "pavlov.task.cli", "run", str(protocol), "-p", "01",
             "-s", "day2", "--data", str(tmp_path / "data"), "--day-tolerance", value],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert proc.returncode == 2
        assert proc.stderr.startswith("pavlov run: error: argument --day-tolerance: "), proc.stderr
        assert proc.stderr.count("\n") == 1
