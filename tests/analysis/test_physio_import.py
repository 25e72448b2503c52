"""Importing recorders' files (.acq, BrainVision, XDF, CSV) into a simulated session: marker
alignment to the log within 1 ms, BIDS physio beside the log, scored by ``pavlov analyze``;
a recording of another session refused with one line."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from physio_recordings import (
    AMPLITUDE,
    read_log,
    synthesize,
    write_acq,
    write_brainvision,
    write_csv,
    write_xdf,
)

from pavlov.analysis.align import DEFAULT_MARKER_CODES, AlignmentError, align
from pavlov.analysis.physio import read_physio
from pavlov.analysis.physio_import import import_physio, write_imported
from pavlov.analysis.recorders import RecordingError, decode_marker_channel, read_recording
from pavlov.task.cli import main
from pavlov.task.devices.codes import DEFAULT_MARKER_CODES as RUNNER_CODES
from testdata import dataset

pytestmark = [
    pytest.mark.display,
    pytest.mark.filterwarnings("ignore:Encountered unsupported non-voltage units"),
]


def pavlov(*args):
    """The command line, in this process (the commands' own output captured)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(args))
    return subprocess.CompletedProcess(args, status, out.getvalue(), err.getvalue())


@pytest.fixture
def day1(simulated_datasets, tmp_path):
    """A copy of the simulated retrieval-extinction dataset, without the simulated skin
    conductance that `run --simulate` writes (these tests import a recorder's); the day-1
    run's events file."""
    data = tmp_path / "data"
    shutil.copytree(
        simulated_datasets["retrieval_extinction"],
        data,
        ignore=shutil.ignore_patterns("*_physio.tsv.gz", "*_physio.json"),
    )
    (events,) = data.glob("sub-demo/ses-day1/beh/*_events.tsv")
    return events


@pytest.fixture
def day2(simulated_datasets):
    (events,) = simulated_datasets["retrieval_extinction"].glob(
        "sub-demo/ses-day2/beh/*_events.tsv"
    )
    return events


def _speed(events: Path) -> float:
    sidecar = events.with_name(events.name.replace("_events.tsv", "_session.json"))
    return float(json.loads(sidecar.read_text())["speed"])


def _check_alignment(result, syn, tolerance=0.001, clock=0.0):
    """The fitted clock map agrees with the true one within ``tolerance`` over the recording
    (``clock``: where the recorder's clock reads 0 of the synthetic recording)."""
    span = np.array([syn.marker_times.min(), syn.marker_times.max()])
    truth = syn.offset + syn.scale * span
    assert np.max(np.abs(result.alignment.to_log(span + clock) - truth)) < tolerance
    assert result.alignment.matched == result.alignment.n_log
    assert not result.alignment.unmatched_log and not result.alignment.unmatched_recorder


def test_runner_and_analysis_agree_on_the_marker_codes():
    """Alignment reads a code for every CS/US anchor event, the same one the runner sends."""
    assert set(DEFAULT_MARKER_CODES) == {"CSpr", "CSpu", "CSm", "USp", "USo", "USm"}
    for name, code in DEFAULT_MARKER_CODES.items():
        assert RUNNER_CODES[name] == code


@pytest.mark.parametrize("kind", ["brainvision", "xdf", "csv"])
def test_recording_aligned_within_a_millisecond_and_scored(day1, tmp_path, kind):
    """A 1-kHz recording with the session's markers (40 ppm drift, 0.2 ms jitter) aligns to
    the log within 1 ms; written beside the log, `pavlov analyze` scores its SCRs at the
    amplitudes put in (CS+ 0.6 µS, CS- 0.15 µS)."""
    syn = synthesize(read_log(day1), rate=1000.0)
    path = {
        "brainvision": lambda: write_brainvision(syn, tmp_path),
        "xdf": lambda: write_xdf(syn, tmp_path / "rec.xdf"),
        "csv": lambda: write_csv(syn, tmp_path / "rec.csv"),
    }[kind]()
    result = import_physio(path, day1, sampling_rate=1000.0 if kind == "csv" else None)
    _check_alignment(result, syn, clock=5000.0 if kind == "xdf" else 0.0)
    assert result.alignment.jitter_max < 0.001
    (written,) = write_imported(result)
    assert written.name.endswith("_recording-scr_physio.tsv.gz")
    physio = read_physio(written)
    assert physio.columns == ("scr",) and physio.units["scr"] == "uS"
    out = tmp_path / "out"
    # the scores themselves in µS, without analyze's default square-root (+ US) transform
    args = ("--no-figures", "--models", "--scr-transform", "none")
    proc = pavlov("analyze", str(day1), "--out", str(out), *args)
    assert proc.returncode == 0, proc.stderr
    trials = pd.read_csv(out / "participants_by_trial.csv")
    plus = trials[trials.cs_type == "CS+"]["mean"].to_numpy()
    minus = trials[trials.cs_type == "CS-"]["mean"].to_numpy()
    assert np.allclose(plus, AMPLITUDE["CSpu"], atol=0.03)
    assert np.allclose(minus, AMPLITUDE["CSm"], atol=0.03)


def test_acq_from_the_real_biopac_file_aligned_and_scored(day1, tmp_path):
    """The real AcqKnowledge file, its samples rewritten to carry the session's markers on a
    digital-input channel (recorded as at the run's --speed) and synthetic skin conductance,
    is read by bioread, aligned within 1 ms and scored through `analyze --physio`."""
    speed = _speed(day1)
    syn = synthesize(read_log(day1), rate=2000.0, scale=speed * (1 + 30e-6), offset=-2.0)
    path = write_acq(dataset("biopac/physio-5.0.1.acq"), tmp_path / "rec.acq", syn)
    recording = read_recording(path)
    assert recording.marker_source == "channel 'Digital input'"
    result = import_physio(path, day1)
    # Within 1 ms of the recorder's (physical) clock: x speed in the log's protocol seconds.
    _check_alignment(result, syn, tolerance=0.001 * speed)
    assert result.alignment.jitter_max < 0.001
    out = tmp_path / "out"
    proc = pavlov(
        "analyze", str(day1), "--physio", str(path), "--out", str(out), "--no-figures", "--models",
        "--scr-transform", "none",  # µS as scored, without the default square root
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "56 of 56 CS/US markers" in proc.stderr or "of the log paired" in proc.stderr
    trials = pd.read_csv(out / "participants_by_trial.csv")
    assert (
        trials[trials.cs_type == "CS+"]["mean"].mean()
        > 3 * trials[trials.cs_type == "CS-"]["mean"].mean()
    )


def test_real_acq_without_markers_is_refused_in_one_line(day1):
    """The unmodified real .acq has no pavlov markers (only notes such as 'Deep Breath 1'):
    one line saying so, exit 2-class error, nothing written."""
    proc = pavlov(
        "physio", "import", str(dataset("biopac/physio-5.0.1.acq")), "--events", str(day1)
    )
    assert proc.returncode != 0
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "marker codes" in proc.stderr
    assert not list(day1.parent.glob("*_physio.tsv.gz"))


def test_recording_of_another_session_refused_in_one_line(day1, day2, tmp_path):
    """A BrainVision recording of day 2 offered as day 1's is refused with one line and
    nothing is written."""
    syn = synthesize(read_log(day2), rate=1000.0)
    path = write_brainvision(syn, tmp_path, "day2")
    proc = pavlov("physio", "import", str(path), "--events", str(day1.parent))
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "do not match the log" in lines[0], proc.stderr
    assert not list(day1.parent.glob("*_physio*"))


def test_cli_import_writes_bids_physio_and_never_overwrites(day1, tmp_path):
    """`pavlov physio import` writes the sidecar (SamplingFrequency, StartTime in the log's
    time base, Columns, units, clock fit), and refuses a second import over it."""
    syn = synthesize(read_log(day1), rate=1000.0, offset=-7.25)
    path = write_xdf(syn, tmp_path / "rec.xdf")
    proc = pavlov("physio", "import", str(path), "--events", str(day1))
    assert proc.returncode == 0, proc.stderr
    assert "paired" in proc.stderr
    meta = json.loads(Path(proc.stdout.strip().replace(".tsv.gz", ".json")).read_text())
    assert meta["Columns"] == ["scr"] and meta["scr"]["Units"] == "uS"
    assert meta["StartTime"] == pytest.approx(-7.25, abs=0.001)
    assert meta["SamplingFrequency"] == pytest.approx(1000 / syn.scale, rel=1e-6)
    assert meta["ClockAlignment"]["MarkersPaired"] == meta["ClockAlignment"]["MarkersInLog"]
    again = pavlov("physio", "import", str(path), "--events", str(day1))
    assert again.returncode != 0 and "never overwritten" in again.stderr


def test_alignment_survives_lost_and_extra_markers():
    """Dropped markers in the recording and markers of other codes or events are reported as
    unmatched, the fit still recovers the clock (drift 100 ppm over an hour)."""
    rng = np.random.default_rng(1)
    codes = rng.choice([10, 12, 14, 20, 22, 24], 200)
    log_t = np.cumsum(rng.uniform(8, 20, 200))
    rec_t = (log_t - 3.0) / (1 + 1e-4)
    keep = np.ones(200, bool)
    keep[[5, 6, 90, 150]] = False
    extra_t = rng.uniform(0, log_t.max(), 10)
    times = np.concatenate([rec_t[keep], extra_t])
    got = np.concatenate([codes[keep], np.full(10, 30)])
    result = align(log_t, codes, times, got)
    assert result.matched == 196 and len(result.unmatched_log) == 4
    assert result.offset == pytest.approx(3.0, abs=1e-6)
    assert result.scale == pytest.approx(1 + 1e-4, rel=1e-9)


def test_alignment_refuses_shuffled_sequence():
    """Same codes in another order and timing (another participant) are refused."""
    rng = np.random.default_rng(2)
    codes = rng.choice([10, 12, 14], 60)
    log_t = np.cumsum(rng.uniform(8, 20, 60))
    other = rng.permutation(codes)
    other_t = np.cumsum(rng.uniform(8, 20, 60))
    with pytest.raises(AlignmentError, match="do not match"):
        align(log_t, codes, other_t, other)


def test_marker_channel_decoding_and_bit_lines(tmp_path):
    """A level channel gives one marker per change to a non-zero code; eight digital lines
    named D0..D7 combine into codes."""
    levels = np.zeros(1000)
    levels[100:110] = 10
    levels[300:305] = 14
    levels[305:310] = 20  # a new code right after another is a new marker
    times, codes = decode_marker_channel(levels, 100.0, start=1.0)
    assert codes.tolist() == [10, 14, 20]
    assert times.tolist() == [2.0, 4.0, 4.05]
    frame = {"EDA": np.ones(1000)}
    for bit in range(8):
        frame[f"Digital input {bit}"] = ((levels.astype(int) >> bit) & 1) * 5.0
    pd.DataFrame(frame).to_csv(tmp_path / "bits.csv", index=False)
    recording = read_recording(tmp_path / "bits.csv", sampling_rate=100.0)
    assert recording.marker_codes.tolist() == [10, 14, 20]
    assert recording.names == ["EDA"]


def test_recording_without_markers_refused(tmp_path):
    """A CSV with no marker column cannot be aligned: one line saying where markers go."""
    pd.DataFrame({"EDA": np.ones(100)}).to_csv(tmp_path / "plain.csv", index=False)
    with pytest.raises(RecordingError, match="marker codes"):
        read_recording(tmp_path / "plain.csv", sampling_rate=100.0)
