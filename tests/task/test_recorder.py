"""Recording an LSL stream during a session (``pavlov run --record lsl:STREAM``) from a real
local LSL outlet: BIDS physio in the log's time base, crash-safe raw file, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bids_validator import errors

from pavlov.task.recorder import convert_raw

pytestmark = pytest.mark.display
PROTOCOLS = Path(__file__).resolve().parents[2] / "protocols"


class Outlet:
    """A real LSL outlet in this process: 100 Hz, one EDA channel whose value is the sample's
    own LSL time stamp less the outlet's start (so where a sample lands in log time can be
    checked; the offset keeps the value exact in float32 however long the machine has been
    up: a raw stamp of 10^5 s would carry only 0.008-s steps)."""

    def __init__(self, name: str, rate: float = 100.0) -> None:
        import pylsl

        self.pylsl = pylsl
        info = pylsl.StreamInfo(name, "EDA", 1, rate, "float32", f"pavlov-test-{name}")
        self.outlet = pylsl.StreamOutlet(info)
        self.rate = rate
        self.origin = pylsl.local_clock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        start, n = self.origin, 0
        while not self.stop.is_set():
            due = start + n / self.rate
            now = self.pylsl.local_clock()
            if now < due:
                time.sleep(min(due - now, 0.01))
                continue
            self.outlet.push_sample([due - self.origin], due)
            n += 1

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


@pytest.fixture
def outlet(request):
    name = f"eda{os.getpid()}{request.node.name[-6:]}".replace("[", "").replace("]", "")
    stream = Outlet("".join(c for c in name if c.isalnum()))
    yield stream
    stream.close()


def run_args(data: Path, stream: str, speed: int = 60, session: str = "day1") -> list[str]:
    return [
        sys.executable,
        "-m",
        "pavlov.task.cli",
        "run",
        str(PROTOCOLS / "retrieval_extinction.yaml"),
        "--participant",
        "demo",
        "--session",
        session,
        "--simulate",
        "--speed",
        str(speed),
        "--windowed",
        "--data",
        str(data),
        "--record",
        f"lsl:{stream}",
    ]


def physio_frame(path: Path) -> tuple[pd.DataFrame, dict]:
    meta = json.loads(path.with_name(path.name.replace(".tsv.gz", ".json")).read_text())
    frame = pd.read_csv(path, sep="\t", header=None, names=meta["Columns"], na_values="n/a")
    frame["t"] = meta["StartTime"] + np.arange(len(frame)) / meta["SamplingFrequency"]
    return frame, meta


def test_session_records_the_stream_crash_safe_and_resumable(xvfb, tmp_path, outlet):
    """A simulated session with --record lsl:STREAM from a real local outlet, killed with -9:
    the raw file holds the stream up to at most 1 s before the kill; --resume appends a
    segment; at the end recording-scr physio is beside the log, its samples (whose values are
    their own LSL time stamps) linear in log time with slope 1/speed on both sides of the
    point where the resumed process takes over, covering the session, and the data folder
    passes the BIDS validator."""
    import pylsl

    data = tmp_path / "data"
    speed = 30
    args = run_args(data, outlet.outlet.get_info().name(), speed=speed)
    proc = subprocess.Popen(args, env=xvfb, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    raw = None
    while time.monotonic() < deadline:
        files = list(data.glob("sub-*/ses-*/*/*_events.tsv"))
        if files and sum(1 for line in files[0].read_text().splitlines() if "\tcs\t" in line) >= 6:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    killed_at = pylsl.local_clock()
    proc.wait()
    (raw,) = data.glob("sub-demo/ses-day1/beh/*_physio.raw.tsv")
    lines = [line for line in raw.read_text().splitlines() if not line.startswith("#")]
    last = float(lines[-1].split("\t")[0])
    assert killed_at - last <= 1.0 + 0.05
    assert not list(data.glob("sub-demo/ses-day1/beh/*_physio.tsv.gz"))  # never converted
    resumed = subprocess.run(
        [*args, "--resume"], env=xvfb, capture_output=True, text=True, timeout=120
    )
    assert resumed.returncode == 0, resumed.stderr
    text = raw.read_text()
    assert text.count("# segment ") == 2 and text.count("# zero ") == 2
    (physio,) = data.glob("sub-demo/ses-day1/beh/*_recording-scr_physio.tsv.gz")
    frame, meta = physio_frame(physio)
    # Values are LSL time stamps (less the outlet's start): one jump forward (the time the
    # session was down) where the resumed process takes over, nothing lost around it but the
    # odd grid point.
    valid = frame.dropna()
    steps = np.diff(valid.scr.to_numpy())
    assert (steps > 1.0).sum() == 1 and (steps <= 0).sum() == 0
    assert frame.scr.isna().mean() < 0.05
    splice = int(np.flatnonzero(steps > 1.0)[0]) + 1
    for part in (valid.iloc[:splice], valid.iloc[splice:]):
        slope, intercept = np.polyfit(part.t, part.scr, 1)
        assert slope == pytest.approx(1 / speed, rel=2e-3)
        assert np.max(np.abs(part.scr - (intercept + slope * part.t))) < 0.002  # LSL seconds
    assert meta["SamplingFrequency"] == pytest.approx(100 / speed)
    assert meta["Columns"] == ["scr"] and meta["scr"]["Units"] == "uS"
    assert "samples, written to" in resumed.stderr
    log = pd.read_csv(next(data.glob("sub-demo/ses-day1/beh/*_events.tsv")), sep="\t")
    assert frame.t.min() < 0 and frame.t.max() > log.onset.max()
    assert errors(data) == []


def test_missing_stream_stops_before_any_file(xvfb, tmp_path):
    """--record of a stream no one sends: one line, non-zero exit, no log created."""
    data = tmp_path / "data"
    args = run_args(data, "nosuchstream")
    proc = subprocess.run(args, env=xvfb, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    # The error is the last line (console notes such as "no vsync" under Xvfb come before).
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("pavlov: --record lsl:nosuchstream: no LSL stream of that name")
    assert not list(data.glob("sub-*/ses-*/*/*_events.tsv"))


def test_bad_record_spec_is_one_line(xvfb, tmp_path):
    """--record with anything but lsl:STREAM is refused in one line before the session."""
    args = run_args(tmp_path / "data", "x")
    args[-1] = "serial:/dev/ttyS0"
    proc = subprocess.run(args, env=xvfb, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "expected lsl:STREAM" in proc.stderr


def test_convert_raw_segments_splice_and_torn_line(tmp_path):
    """Conversion places samples in log time (speed, clock pair, zero — also samples written
    before the zero line); a resumed segment takes over from its first sample (the killed
    process's later samples are left out); a dropped sample is n/a; a segment that never
    reached zero and a torn last line are skipped."""
    raw = tmp_path / "r_recording-scr_physio.raw.tsv"
    seg = {"stream": "s", "type": "EDA", "nominal_rate": 10.0, "channels": ["scr"], "speed": 2.0}
    lines = [
        f"# segment {json.dumps({**seg, 'runner_clock': 1.0, 'lsl_clock': 101.0})}",
        "# zero " + json.dumps({"clock_zero": 2.0, "time_base": 0.0}),
    ]
    # LSL 102.0 = runner 2.0 = zero -> log 0; 10 Hz real = 5 Hz in log time (speed 2).
    lines += [f"{102.0 + i / 10:.6f}\t{i}" for i in range(30)]  # log 0 .. 5.8
    lines.append(f"# segment {json.dumps({**seg, 'runner_clock': 0.5, 'lsl_clock': 500.0})}")
    lines.append("500.300000\t99")  # runner 0.8, before zero (1.0): log 6.0 - 0.4 = 5.6
    lines.append("# zero " + json.dumps({"clock_zero": 1.0, "time_base": 6.0}))
    lines += [f"{500.5 + i / 10:.6f}\t{100 + i}" for i in range(5)]  # log 6.0 .. 6.8
    lines.append(f"# segment {json.dumps({**seg, 'runner_clock': 0.0, 'lsl_clock': 900.0})}")
    lines.append("901.0\t55")  # this process died before session zero
    raw.write_text("\n".join(lines) + "\n" + "901.1\t7")  # torn line at the end
    out = convert_raw(raw, tmp_path / "r_recording-scr_physio.tsv.gz")
    frame, meta = physio_frame(out)
    assert meta["SamplingFrequency"] == 5.0 and meta["StartTime"] == pytest.approx(0.0)
    assert frame.scr.iloc[:28].tolist() == list(range(28))  # cut where segment 2 begins
    assert frame.scr.iloc[28] == 99 and np.isnan(frame.scr.iloc[29])
    assert frame.scr.iloc[30:].tolist() == [100, 101, 102, 103, 104]


class Clock:
    def now(self) -> float:
        return 0.0


def test_lab_file_record_list(tmp_path, outlet):
    """A lab file's `record:` names the streams recorded in every real session; anything but
    lsl:STREAM is one error line with file and line."""
    import argparse

    from pavlov.task.devices.lab import LabFileError, load_lab
    from pavlov.task.log import run_paths
    from pavlov.task.run_cli import _recorders

    name = outlet.outlet.get_info().name()
    lab_file = tmp_path / "lab.yaml"
    lab_file.write_text(f"lab: room 2\nrecord: [lsl:{name}]\n")
    lab = load_lab(lab_file)
    assert lab.record == (f"lsl:{name}",)
    paths = run_paths(tmp_path / "data", "01", "1", "t", 1, scanner=False)
    args = argparse.Namespace(record=None, speed=1.0)
    (recorder,) = _recorders(args, lab, paths, Clock())
    assert recorder.stream == name and recorder.label == "scr"
    lab_file.write_text("lab: room 2\nrecord: [serial:/dev/ttyS0]\n")
    with pytest.raises(LabFileError, match=r"lab.yaml:2: record\[0\]: expected lsl:STREAM"):
        load_lab(lab_file)
