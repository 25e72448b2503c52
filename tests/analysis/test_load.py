"""Tests of pavlov.analysis.load: BIDS session logs → tidy trial frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pavlov.analysis.errors import AnalysisError, TableError
from pavlov.analysis.frame import TRIAL_COLUMNS, guess_phase_type
from pavlov.analysis.load import (
    load_ratings,
    load_sessions,
    load_trials,
)
from pavlov.task.log import COLUMNS

PROTOCOLS = Path(__file__).resolve().parents[2] / "protocols"


def test_folder_loads_every_participant_in_natural_order(bids_data):
    """A data folder gives one row per CS trial, participants ordered 1, 2, 10."""
    trials = load_trials(bids_data)
    assert list(trials.columns[: len(TRIAL_COLUMNS)]) == list(TRIAL_COLUMNS)
    assert list(dict.fromkeys(trials["participant"])) == ["1", "2", "10"]
    # 4 + 4 + 2 trials of each of 2 CSs per participant.
    assert trials.groupby("participant").size().to_dict() == {"1": 20, "10": 20, "2": 20}


def test_groups_come_from_participants_tsv(bids_data):
    """participants.tsv's group column (with sub- prefixes) fills `group`."""
    trials = load_trials(bids_data)
    groups = trials.drop_duplicates("participant").set_index("participant")["group"]
    assert groups.to_dict() == {"1": "drug", "2": "placebo", "10": "placebo"}


def test_sessions_phases_and_presentation_order(bids_data):
    """Sessions are ordered by start time; phases keep their order of occurrence."""
    trials = load_trials(bids_data)
    one = trials[trials["participant"] == "1"]
    assert list(dict.fromkeys(zip(one["session"], one["phase"]))) == [
        ("day1", "acquisition"),
        ("day1", "extinction"),
        ("day2", "recall"),
    ]
    assert trials.groupby("phase")["phase_order"].first().to_dict() == {
        "acquisition": 1,
        "extinction": 2,
        "recall": 3,
    }
    assert one["trial"].tolist()[:4] == [1, 2, 3, 4]
    assert one["cs_trial"].tolist()[:4] == [1, 1, 2, 2]


def test_na_values_become_nan_and_types_are_right(bids_data):
    """`n/a` ratings are NaN; reinforced is bool; onsets and US timing are numbers."""
    trials = load_trials(bids_data)
    one = trials[(trials["participant"] == "1") & (trials["phase"] == "acquisition")]
    assert np.isnan(one.loc[one["trial"] == 3, "rating"].item())
    assert one["rating"].notna().sum() == 7
    assert trials["reinforced"].dtype == bool
    assert one["reinforced"].sum() == 2
    assert np.allclose(one["us_onset"], 5.5, atol=0.01)
    assert np.allclose(one["duration"], 6.0)
    assert set(one["stimulus"]) == {"blue", "yellow"}
    assert trials["scr"].isna().all()


def test_single_file_and_participant_folder(bids_data):
    """One events file or one participant folder loads only that participant, with group."""
    file = next((bids_data / "sub-2").rglob("*_events.tsv"))
    trials = load_trials(file)
    assert set(trials["participant"]) == {"2"}
    assert set(trials["group"]) == {"placebo"}
    folder = load_trials(bids_data / "sub-1")
    assert set(folder["session"]) == {"day1", "day2"}


def test_ratings_are_a_separate_frame(bids_data):
    """Post-phase rating rows go to load_ratings, not to the trial frame."""
    ratings = load_ratings(bids_data)
    assert ratings["cs"].tolist() == ["CS+", "CS-"]
    assert ratings["rating"].iloc[0] == 4
    assert np.isnan(ratings["rating"].iloc[1])
    assert "extinction_rating" not in set(load_trials(bids_data)["phase"])


def test_sessions_frame_has_sidecar_keys(bids_data):
    """load_sessions returns one row per run with the sidecar's keys."""
    sessions = load_sessions(bids_data)
    assert len(sessions) == 4
    assert set(sessions["end_reason"]) == {"completed"}
    assert sessions["devices"].iloc[0] == {"shock": "simulated"}


def test_missing_path_is_one_line(tmp_path):
    """A path that does not exist gives one line naming it."""
    with pytest.raises(AnalysisError, match=r"nothing at that path$"):
        load_trials(tmp_path / "nope")


def test_folder_without_logs_is_one_line(tmp_path):
    """A folder with no events files says so."""
    with pytest.raises(AnalysisError, match=r"found none$"):
        load_trials(tmp_path)


def test_bad_cs_type_in_log_names_row_and_column(bids_data):
    """A corrupt cs_type cell is reported with file, line, row and column."""
    file = next((bids_data / "sub-2").rglob("*_events.tsv"))
    lines = file.read_text().splitlines()
    cells = lines[2].split("\t")
    assert cells[2] == "cs"
    cells[8] = "CSx"
    lines[2] = "\t".join(cells)
    file.write_text("\n".join(lines) + "\n")
    message = f"{file}:3: row 2, column 'cs_type': expected 'CS\\+' or 'CS-' or 'GS', got 'CSx'"
    with pytest.raises(TableError, match=message):
        load_trials(bids_data)


def test_truncated_row_in_log_names_row(bids_data):
    """A half-written last row (a crash mid-write) is reported, not silently padded."""
    file = next((bids_data / "sub-10").rglob("*_events.tsv"))
    with file.open("a") as stream:
        stream.write("200.0\t6.0\tcs\n")
    n = len(file.read_text().splitlines()) - 1
    with pytest.raises(
        TableError, match=rf"row {n}: expected {len(COLUMNS)} fields like the header, got 3"
    ):
        load_trials(file)


def test_bad_participants_tsv_is_reported(bids_data):
    """participants.tsv without participant_id names the file and the column."""
    (bids_data / "participants.tsv").write_text("id\tgroup\n1\tdrug\n")
    with pytest.raises(TableError, match=r"participants.tsv:1: column 'participant_id'"):
        load_trials(bids_data)


def test_bad_log_name_is_reported(bids_data):
    """An events file whose name is not BIDS is reported with the expected pattern."""
    file = next((bids_data / "sub-2").rglob("*_events.tsv"))
    bad = file.with_name("session2_events.tsv")
    file.rename(bad)
    with pytest.raises(TableError, match=r"expected a BIDS name sub-<id>"):
        load_trials(bids_data)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("Pre-conditioning", "habituation"),
        ("Conditioning", "acquisition"),
        ("EXT-RE", "recall"),
        ("REN", "renewal"),
        ("REACT", "reactivation"),
        ("Extinction", "extinction"),
        ("Reversal", "reversal"),
        ("foo", ""),
    ],
)
def test_guess_phase_type(name, kind):
    """Phase types are guessed from common names, first pattern first."""
    assert guess_phase_type(name) == kind


def test_duplicate_trials_in_an_events_log_are_rejected(tmp_path):
    """An events log with the same trial twice is one line naming both rows (it was
    silently analysed twice; trial tables already refused it)."""
    from pavlov.analysis.load import events_to_trials, read_events

    header = "\t".join(COLUMNS)
    row = {c: "n/a" for c in COLUMNS}
    row.update(onset="1.0", duration="4.0", trial_type="cs", phase="acq", trial="3", cs_type="CS+")
    row.update(reinforced="0")
    line = "\t".join(row[c] for c in COLUMNS)
    path = tmp_path / "sub-01_task-x_events.tsv"
    path.write_text(f"{header}\n{line}\n{line.replace('1.0', '9.0', 1)}\n")
    with pytest.raises(
        TableError,
        match=r"row 2, column 'trial': expected each trial of a phase once \(trial 3 of phase acq is at row 1\)",
    ):
        events_to_trials(read_events(path), str(path))


def test_fast_log_reader_gives_the_strict_readers_frame(bids_data, tmp_path):
    """pandas' C reader, used for plain logs, gives read_delimited's frame (stripped cells,
    1-based row index); a file that is not plain (blank row, quotes, short row) is left to
    the strict reader (None)."""
    from pavlov.analysis.load import _read_plain_log
    from pavlov.analysis.table import read_delimited

    files = sorted(bids_data.rglob("*_events.tsv"))
    for file in files:
        pd.testing.assert_frame_equal(_read_plain_log(file), read_delimited(file, sep="\t"))
    text = files[0].read_text()
    lines = text.splitlines()
    for bad in (
        "\n".join([lines[0], "", *lines[1:]]) + "\n",
        text.replace("acquisition", '"acquisition"', 1),
        text + "200.0\t6.0\tcs\n",
    ):
        (tmp_path / "x_events.tsv").write_text(bad)
        assert _read_plain_log(tmp_path / "x_events.tsv") is None


def _run_by_run(root):
    """The frames of loading every run alone (the strict reference)."""
    from pavlov.analysis import load

    logs = load.find_logs(root)
    ranks = load._session_ranks(logs)
    runs = [load.load_run(log, ranks[log]) for log in logs]
    return load.combine_runs(runs, load.read_groups(load.find_participants_tsv(root)), root)


def test_runs_read_together_give_the_run_by_run_frames(bids_data):
    """Plain logs are parsed and converted as one table; the trial and rating frames are
    exactly those of loading each run alone, also when some logs cannot join the others
    (quotes, other column order) and are read alone."""
    from pavlov.analysis import load

    for a, b in zip(load.load_study(bids_data), _run_by_run(bids_data)):
        pd.testing.assert_frame_equal(a, b)
    logs = sorted(bids_data.rglob("*_events.tsv"))
    quoted = logs[0].read_text().replace("\tacquisition\t", '\t"acquisition"\t', 1)
    logs[0].write_text(quoted)
    reordered = pd.read_csv(logs[1], sep="\t", dtype=str, keep_default_na=False)
    reordered[list(reversed(reordered.columns))].to_csv(logs[1], sep="\t", index=False)
    for a, b in zip(load.load_study(bids_data), _run_by_run(bids_data)):
        pd.testing.assert_frame_equal(a, b)


def test_a_bad_cell_among_logs_read_together_is_named_by_its_own_file_and_row(bids_data):
    """A malformed cell in one of the plain logs read together is reported as reading that
    log alone reports it: its file, row and column."""
    import pytest

    from pavlov.analysis import load

    log = sorted(bids_data.rglob("*_events.tsv"))[-1]
    lines = log.read_text().splitlines()
    header = lines[0].split("\t")
    kind = header.index("trial_type")
    row = next(i for i, line in enumerate(lines) if i and line.split("\t")[kind] == "cs")
    cells = lines[row].split("\t")
    cells[header.index("trial")] = "three"
    lines[row] = "\t".join(cells)
    log.write_text("\n".join(lines) + "\n")
    with pytest.raises(TableError, match=rf"^{log}:{row + 1}: row {row}, column 'trial'"):
        load.load_study(bids_data)


def test_runs_loaded_in_processes_give_the_serial_frames(bids_data, monkeypatch):
    """A study loaded by forked processes (as large ones are) gives the serial frames."""
    from pavlov.analysis import load

    serial = load.load_study(bids_data)
    monkeypatch.setattr(load, "PARALLEL_RUNS", 1)
    parallel = load.load_study(bids_data)
    for a, b in zip(serial, parallel):
        pd.testing.assert_frame_equal(a, b)


def test_the_root_folder_is_refused_at_once():
    """`pavlov analyze /` searched the whole machine and crashed in /proc: now one line."""
    import pytest

    from pavlov.analysis.errors import AnalysisError
    from pavlov.analysis.load import find_logs

    with pytest.raises(AnalysisError, match=r"^/: expected a data, participant or session folder"):
        find_logs("/")


def test_logs_are_found_below_the_folder_whatever_lies_above_it(bids_data, tmp_path):
    """A study kept under a hidden folder is found: only hidden folders, hidden files and
    derivatives below the data folder are skipped (the old search skipped everything when
    a folder above the data was hidden)."""
    import shutil

    from pavlov.analysis.load import find_logs

    hidden = tmp_path / ".archive" / "data"
    shutil.copytree(bids_data, hidden)
    expected = [log.path.relative_to(bids_data) for log in find_logs(bids_data)]
    assert [log.path.relative_to(hidden) for log in find_logs(hidden)] == expected
    first = hidden / expected[0]
    for skipped in (hidden / "derivatives" / "x", hidden / ".git", first.parent / ".cache"):
        skipped.mkdir(parents=True)
        shutil.copy(first, skipped / first.name)
    shutil.copy(first, first.with_name("._" + first.name))  # a macOS resource fork
    assert [log.path.relative_to(hidden) for log in find_logs(hidden)] == expected


def test_named_scr_windows_of_trace_trials_are_placed_by_the_us_onset(tmp_path):
    """In trace conditioning the cs row's duration is the CS alone and the US follows the
    gap: SIR and TIR are placed by the interval to the US onset, so each trace trial's TIR
    score is the score of the window 1-4 s after its US onset (not after the CS offset)."""
    from pavlov.analysis.load import (
        events_to_trials,
        find_logs,
        find_physio,
        read_events,
        score_physio,
    )
    from pavlov.analysis.scr import score_events
    from pavlov.protocols import build_schedule, load_protocol
    from pavlov.task.simulate import write_session

    protocol = load_protocol(PROTOCOLS / "trace_conditioning.yaml")
    write_session(tmp_path / "data", protocol, build_schedule(protocol, "01", "day1"), seed=2)
    (log,) = find_logs(tmp_path / "data")
    events = read_events(log.path)
    trials = events_to_trials(events)
    physio = find_physio(log)
    cs = events[(events["trial_type"] == "cs") & (events["phase"] == "acquisition")]
    us = events[(events["trial_type"] == "us") & (events["phase"] == "acquisition")]
    gap = us["onset"].astype(float).to_numpy() - cs["onset"].astype(float).to_numpy()
    length = cs["duration"].astype(float).to_numpy()
    assert (gap > length + 2.5).all()  # a 3-s trace after every CS
    tir = score_physio(events, trials, physio, {"window": "TIR"})
    scored = tir[tir["phase"] == "acquisition"]["scr"].to_numpy()
    from pavlov.analysis.physio import read_physio

    recording = read_physio(physio)
    for row, (onset_gap, expected) in enumerate(zip(gap, scored)):
        explicit = score_events(cs.iloc[[row]], recording, window=(onset_gap + 1, onset_gap + 4))
        assert np.asarray(explicit, dtype=float)[0] == pytest.approx(expected, nan_ok=True)
    sir = score_physio(events, trials, physio, {"window": "SIR"})
    first = cs.iloc[[0]]
    explicit = score_events(first, recording, window=(4.0, gap[0] + 1))
    assert sir[sir["phase"] == "acquisition"]["scr"].iloc[0] == pytest.approx(
        np.asarray(explicit, dtype=float)[0], nan_ok=True
    )
