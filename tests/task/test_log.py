"""Tests of the crash-safe events log (pavlov.task.log)."""

from __future__ import annotations

import json

import pytest

from pavlov.common.bids import LabelError
from pavlov.task.log import (
    COLUMNS,
    EventLog,
    LogError,
    LogWriter,
    format_value,
    run_paths,
    write_events_json,
)


def test_create_writes_header_and_refuses_existing(tmp_path):
    """A new log holds the header at once; creating it again is a one-line error."""
    path = tmp_path / "a" / "x_events.tsv"
    log = EventLog.create(path)
    log.close()
    assert path.read_text() == "\t".join(COLUMNS) + "\n"
    with pytest.raises(LogError, match="already has data; use --resume"):
        EventLog.create(path)


def test_append_formats_rows(tmp_path):
    """Rows are written in column order with n/a, 1/0 and 4-decimal floats."""
    log = EventLog.create(tmp_path / "e.tsv")
    log.append([{"onset": 1.23456, "trial_type": "cs", "reinforced": True, "value": "a\tb"}])
    log.close()
    line = (tmp_path / "e.tsv").read_text().splitlines()[1].split("\t")
    row = dict(zip(COLUMNS, line))
    assert row["onset"] == "1.2346"
    assert row["reinforced"] == "1"
    assert row["rating"] == "n/a"
    assert row["value"] == "a b"


def test_unknown_column_is_refused(tmp_path):
    """A row with a column the contract does not have is a programming error."""
    log = EventLog.create(tmp_path / "e.tsv")
    with pytest.raises(ValueError, match="unknown log column"):
        log.append([{"onset": 0.0, "colour": "red"}])


def test_reopen_cuts_a_torn_last_line(tmp_path):
    """After a crash inside a write, reopening drops the partial line and keeps the rest."""
    path = tmp_path / "e.tsv"
    log = EventLog.create(path)
    log.append([{"onset": 1.0, "trial_type": "cs", "phase": "p", "trial": 1}])
    log.close()
    with open(path, "ab") as f:
        f.write(b"2.0000\t4.0\tcs")
    log, rows = EventLog.reopen(path)
    log.append([{"onset": 3.0, "trial_type": "cs", "phase": "p", "trial": 2}])
    log.close()
    assert [r["trial"] for r in rows] == ["1"]
    lines = path.read_text().splitlines()
    assert len(lines) == 3 and lines[2].startswith("3.0000\t")


def test_reopen_missing_and_foreign_files(tmp_path):
    """Resuming without a log, or from a file that is not a pavlov log, is a one-line error."""
    with pytest.raises(LogError, match="nothing to resume"):
        EventLog.reopen(tmp_path / "none.tsv")
    (tmp_path / "other.tsv").write_text("a\tb\n1\t2\n")
    with pytest.raises(LogError, match="expected a pavlov events log"):
        EventLog.reopen(tmp_path / "other.tsv")


def test_truncate_rows_keeps_prefix(tmp_path):
    """truncate_rows keeps the header and the first rows only."""
    log = EventLog.create(tmp_path / "e.tsv")
    log.append([{"onset": float(i)} for i in range(4)])
    log.truncate_rows(2)
    log.close()
    assert len((tmp_path / "e.tsv").read_text().splitlines()) == 3


def test_run_paths_and_labels(tmp_path):
    """BIDS names: beh/ or func/, run not zero-padded; labels must be letters and digits."""
    paths = run_paths(tmp_path, "sub-07", "day1", "retext", 2, scanner=True)
    assert paths.events.name == "sub-07_ses-day1_task-retext_run-2_events.tsv"
    assert paths.directory.name == "func"
    with pytest.raises(LabelError, match="participant: expected letters and digits"):
        run_paths(tmp_path, "07_a", "day1", "retext", 1, scanner=False)
    assert format_value(float("nan")) == "n/a"


def test_events_json_describes_every_column(tmp_path):
    """The _events.json sidecar has a description for each column."""
    path = tmp_path / "e.json"
    write_events_json(path)
    data = json.loads(path.read_text())
    assert set(COLUMNS) <= set(data)
    assert all("Description" in data[c] for c in COLUMNS)


def test_reopen_refuses_a_damaged_log_and_cuts_a_nul_tail(tmp_path):
    """A malformed row or NUL bytes inside the log stop --resume with one line naming the
    line (it used to continue and report "completed", which analyze then rejected); a tail
    of NUL bytes (a power cut mid-write) is cut like a torn line."""
    import pytest

    from pavlov.task.log import COLUMNS, EventLog, LogError

    path = tmp_path / "events.tsv"
    log = EventLog.create(path)
    log.append([{"onset": 1.0, "trial_type": "cs"}])
    log.append([{"onset": 2.0, "trial_type": "cs"}])
    log.close()
    good = path.read_bytes()
    path.write_bytes(good + b"\0" * 300)
    log, rows = EventLog.reopen(path)
    log.close()
    assert len(rows) == 2 and path.read_bytes() == good
    lines = good.split(b"\n")
    for damaged, line in (
        (b"\n".join([lines[0], b"1.0\tcs", *lines[2:]]), 2),
        (b"\n".join([lines[0], lines[1].replace(b"cs", b"c\0"), *lines[2:]]), 2),
    ):
        path.write_bytes(damaged)
        with pytest.raises(LogError, match=rf"events.tsv:{line}: expected ") as caught:
            EventLog.reopen(path)
        assert "\n" not in str(caught.value)
    assert len(COLUMNS) > 2


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640)])
def test_session_files_respect_the_umask(tmp_path, umask, mode):
    """The log, its JSON sidecar, the session record and the dataset files are as
    readable as the umask allows (0644 under 022): colleagues can read the data."""
    import os

    from pavlov.task.log import EventLog, write_events_json
    from pavlov.task.sidecar import SessionRecord, add_participant, write_dataset_description

    old = os.umask(umask)
    try:
        log = EventLog.create(tmp_path / "events.tsv")
        log.close()
        write_events_json(tmp_path / "events.json")
        SessionRecord.create(tmp_path / "session.json", {"end_reason": "running"}).update(
            end_reason="completed"
        )
        files = [
            tmp_path / "events.tsv",
            tmp_path / "events.json",
            tmp_path / "session.json",
            write_dataset_description(tmp_path, "Study"),
            add_participant(tmp_path, "01"),
        ]
    finally:
        os.umask(old)
    assert {f.name: f.stat().st_mode & 0o777 for f in files} == {f.name: mode for f in files}


def test_writer_waits_for_every_append_and_stops_after_a_failure(tmp_path):
    """Two appends submitted without a wait between them: a failure of the first is raised
    (not hidden by the second), and the second is not written after it."""
    log = EventLog.create(tmp_path / "e.tsv")
    append = log.append
    calls = []

    def failing_first(rows):
        calls.append(rows)
        if len(calls) == 1:
            raise LogError(f"{log.path}: disk full: cannot write the session log")
        append(rows)

    log.append = failing_first
    writer = LogWriter(log)
    writer.submit([{"onset": 1.0, "trial_type": "cs"}], counts_event=True)
    writer.submit([{"onset": 2.0, "trial_type": "cs"}], counts_event=True)
    with pytest.raises(LogError, match="disk full"):
        writer.close()
    log.close()
    assert len(calls) == 1 and writer.events == 0
    assert (tmp_path / "e.tsv").read_text().count("\n") == 1  # the header only
