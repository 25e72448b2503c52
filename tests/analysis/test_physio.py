"""Tests for pavlov.analysis.physio: BIDS physio.tsv.gz + JSON and CSV recordings."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest

from pavlov.analysis.physio import (
    Physio,
    PhysioError,
    PhysioFileError,
    read_physio,
    read_physio_csv,
    sidecar_path,
    write_physio,
)
from pavlov.common.errors import PavlovError
from testdata import dataset


@pytest.fixture
def recording(tmp_path):
    """A small two-channel recording written as BIDS physio."""
    path = tmp_path / "sub-01_task-fear_recording-scr_physio.tsv.gz"
    data = {"scr": np.linspace(2.0, 3.0, 50), "trigger": np.r_[np.zeros(25), np.full(25, 5.0)]}
    write_physio(path, data, 10.0, start_time=-2.5, units={"scr": "uS"})
    return path


def _write_raw(path, text: str, meta: dict | None) -> None:
    path.write_bytes(gzip.compress(text.encode()))
    if meta is not None:
        sidecar_path(path).write_text(json.dumps(meta))


META = {"SamplingFrequency": 100, "StartTime": 0, "Columns": ["scr", "trigger"]}


def test_round_trip_keeps_values_time_and_units(recording):
    """A written recording reads back with its samples, time base and units."""
    physio = read_physio(recording)
    assert physio.columns == ("scr", "trigger")
    assert physio.sampling_frequency == 10.0
    assert physio.time[0] == pytest.approx(-2.5)
    assert physio.time[-1] == pytest.approx(-2.5 + 49 / 10)
    np.testing.assert_allclose(physio.channel("scr"), np.linspace(2.0, 3.0, 50), atol=1e-5)
    assert physio.units == {"scr": "uS"}


def test_writer_is_headerless_bids(recording):
    """The data file has no header and the sidecar has the three REQUIRED keys."""
    first = gzip.decompress(recording.read_bytes()).decode().splitlines()[0]
    assert first.split("\t") == ["2", "0"]
    meta = json.loads(sidecar_path(recording).read_text())
    assert meta["SamplingFrequency"] == 10.0 and meta["StartTime"] == -2.5
    assert meta["Columns"] == ["scr", "trigger"]


def test_sidecar_path_replaces_tsv_gz():
    """The sidecar of x_physio.tsv.gz is x_physio.json."""
    assert sidecar_path("a/sub-01_physio.tsv.gz").name == "sub-01_physio.json"


def test_na_samples_are_nan(tmp_path):
    """``n/a`` samples read as NaN instead of failing."""
    path = tmp_path / "x_physio.tsv.gz"
    _write_raw(path, "1.5\t0\nn/a\t0\n1.7\t5\n", META)
    assert np.isnan(read_physio(path).channel("scr")[1])


def test_missing_sidecar_is_one_line_file_error(tmp_path):
    """A recording without its JSON sidecar fails with one line naming the sidecar."""
    path = tmp_path / "x_physio.tsv.gz"
    _write_raw(path, "1\t2\n", None)
    with pytest.raises(PhysioFileError, match=r"x_physio\.json: expected the JSON sidecar") as info:
        read_physio(path)
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, PavlovError)
    assert "\n" not in str(info.value)


def test_missing_data_file(tmp_path):
    """A path that does not exist fails with PhysioFileError."""
    with pytest.raises(PhysioFileError, match="no such file"):
        read_physio(tmp_path / "none_physio.tsv.gz")


def test_sidecar_without_sampling_frequency(tmp_path):
    """A sidecar lacking SamplingFrequency names the key and suggests a near miss."""
    path = tmp_path / "x_physio.tsv.gz"
    meta = {"SamplingFreqency": 100, "StartTime": 0, "Columns": ["scr"]}
    _write_raw(path, "1\n", meta)
    with pytest.raises(PhysioError, match=r"SamplingFrequency: expected a value.*SamplingFreqency"):
        read_physio(path)


def test_sidecar_bad_values(tmp_path):
    """Non-positive rates and non-list Columns are refused in one line."""
    path = tmp_path / "x_physio.tsv.gz"
    _write_raw(path, "1\n", {"SamplingFrequency": 0, "StartTime": 0, "Columns": ["scr"]})
    with pytest.raises(PhysioError, match="SamplingFrequency: expected a positive number"):
        read_physio(path)
    _write_raw(path, "1\n", {"SamplingFrequency": 10, "StartTime": 0, "Columns": "scr"})
    with pytest.raises(PhysioError, match="Columns: expected a non-empty list"):
        read_physio(path)


def test_sidecar_not_json(tmp_path):
    """A sidecar that is not JSON reports the line of the syntax error."""
    path = tmp_path / "x_physio.tsv.gz"
    _write_raw(path, "1\n", None)
    sidecar_path(path).write_text('{\n  "SamplingFrequency": 10,,\n}')
    with pytest.raises(PhysioError, match=r"x_physio\.json:2: expected JSON"):
        read_physio(path)


def test_line_with_too_many_fields(tmp_path):
    """A line with more fields than Columns names that line."""
    path = tmp_path / "x_physio.tsv.gz"
    _write_raw(path, "1\t0\n1\t0\n1\t0\t9\n", META)
    with pytest.raises(PhysioError, match=r"x_physio\.tsv\.gz:3: expected 2 fields .*got 3"):
        read_physio(path)


def test_line_with_too_few_fields(tmp_path):
    """A short line is an error, not a silently missing sample."""
    path = tmp_path / "x_physio.tsv.gz"
    _write_raw(path, "1\t0\n1\n1\t0\n", META)
    with pytest.raises(PhysioError, match=r":2: expected 2 fields, got 1"):
        read_physio(path)


def test_non_numeric_value(tmp_path):
    """A non-numeric sample names line, column and value."""
    path = tmp_path / "x_physio.tsv.gz"
    _write_raw(path, "1\t0\n1\t0\n1\t0\nabc\t0\n", META)
    with pytest.raises(PhysioError, match=r":4: scr: expected a number, got 'abc'"):
        read_physio(path)


def test_empty_file(tmp_path):
    """An empty recording is refused."""
    path = tmp_path / "x_physio.tsv.gz"
    _write_raw(path, "", META)
    with pytest.raises(PhysioError, match="expected at least one sample"):
        read_physio(path)


def test_unknown_channel_suggests(recording):
    """Asking for a misspelt channel suggests the right one."""
    with pytest.raises(PhysioError, match="Did you mean 'scr'"):
        read_physio(recording).channel("scrr")


def test_csv_with_header_and_rate(tmp_path):
    """A CSV with a header reads at the stated rate and start time."""
    path = tmp_path / "export.csv"
    path.write_text("Skin conductance,Event\n1.0,5\n1.1,5\n1.2,0\n")
    physio = read_physio_csv(path, 50.0, start_time=10.0)
    assert physio.columns == ("Skin conductance", "Event")
    assert physio.time.tolist() == pytest.approx([10.0, 10.02, 10.04])


def test_csv_without_header_needs_columns(tmp_path):
    """A headerless CSV needs column names, and reads with them."""
    path = tmp_path / "export.csv"
    path.write_text("1.0,5\n1.1,5\n")
    with pytest.raises(PhysioError, match="expected a header naming the columns"):
        read_physio_csv(path, 10.0)
    assert read_physio_csv(path, 10.0, columns=["scr", "ev"]).channel("ev").tolist() == [5, 5]


def test_csv_bad_rate_and_value(tmp_path):
    """A CSV needs a positive rate, and bad cells are named by line."""
    path = tmp_path / "export.csv"
    path.write_text("scr\n1.0\nx\n")
    with pytest.raises(PhysioError, match="sampling_frequency: expected a positive number"):
        read_physio_csv(path, -1)
    with pytest.raises(PhysioError, match=r"export\.csv:3: scr: expected a number, got 'x'"):
        read_physio_csv(path, 10)


def test_ezyscr_epoch_reads_as_csv():
    """A real EzySCR epoch (50 Hz, 600 rows) reads with its header and rate."""
    path = dataset("ezyscr/csv_data/acq_p301/event_number_1.csv")
    with pytest.raises(PhysioError, match=r":2: Timestamp: expected a number"):
        read_physio_csv(path, 50.0)
    physio = read_physio_csv(path, 50.0, start_time=-1.0, usecols=["Skin conductance", "Event"])
    assert len(physio.data) == 600
    assert "Skin conductance" in physio.columns
    assert isinstance(physio, Physio)
    assert pd.api.types.is_float_dtype(physio.data["Skin conductance"])
