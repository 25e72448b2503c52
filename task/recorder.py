"""Record a Lab Streaming Layer stream (an amplifier's LSL app) during a session.

``pavlov run ... --record lsl:STREAM`` opens an inlet on the stream before the first trial
and pulls it in a thread of its own, so the frame loop never waits for it. Samples go to a
crash-safe raw file beside the log (``<run>_recording-<label>_physio.raw.tsv``, listed in
``.bidsignore``): appended as they arrive and fsynced at least once a second, so a kill loses
at most the last second. A ``--resume`` appends a new segment to the same file. When the
session ends the raw file is converted to BIDS physio in the log's time base
(``<run>_recording-<label>_physio.tsv.gz`` + ``.json``), where ``pavlov analyze`` finds it.

The raw file's lines:

- ``# segment <json>``: a new process (the first run, or a resume) — the stream's name,
  type, nominal rate and channel labels, the run's ``--speed``, and a pair of clock
  readings ``(runner clock, LSL clock)`` taken together;
- ``# zero <json>``: the runner-clock time of session zero (``clock_zero``) and the log time
  at which this segment starts (``time_base``), written when the session starts;
- ``<lsl time>\\t<value>...``: one sample (LSL time stamps, clock-synchronised to this
  computer by pylsl).

A sample at LSL time ``s`` is at log time ``time_base + (s - lsl + runner - clock_zero) ×
speed``.
"""

from __future__ import annotations

import contextlib
import gzip
import importlib
import json
import math
import os
import re
import threading
import time
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pavlov.task.devices.base import DeviceError

__all__ = ["LSLRecorder", "convert_raw", "parse_record_spec"]

#: Longest time samples stay in memory before being written and fsynced, seconds.
FSYNC_INTERVAL = 1.0

#: Stream types whose single channel is skin conductance (column ``scr``, label ``scr``).
SCR_TYPES = ("eda", "gsr", "scr")


def parse_record_spec(spec: str) -> str:
    """The stream name of ``lsl:STREAM``.

    Raises
    ------
    DeviceError
        Any other form (one line).
    """
    kind, _, name = str(spec).partition(":")
    if kind != "lsl" or not name.strip():
        raise DeviceError(f"--record: expected lsl:STREAM (an LSL stream's name), got {spec!r}")
    return name.strip()


def _label(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", text) or "lsl"


class LSLRecorder:
    """Pull one LSL stream in a background thread into a crash-safe raw file.

    Parameters
    ----------
    stream : str
        The stream's name.
    directory : Path
        The run's folder (beside the events file).
    stem : str
        The run's file stem (``sub-01_ses-1_task-x_run-1``).
    clock : callable
        The runner's clock (``clock.now``), read together with the LSL clock.
    speed : float
        The run's ``--speed``.
    timeout : float
        Seconds to look for the stream before refusing to start.
    pylsl_module : module, optional
        pylsl (imported lazily when None).
    """

    def __init__(
        self,
        stream: str,
        directory: Path,
        stem: str,
        clock: Callable[[], float],
        speed: float = 1.0,
        timeout: float = 5.0,
        pylsl_module: Any = None,
    ) -> None:
        self.stream = stream
        self.directory = Path(directory)
        self.stem = stem
        self.clock = clock
        self.speed = float(speed)
        self.timeout = timeout
        self._pylsl = pylsl_module
        self._inlet: Any = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._fd: int | None = None
        self.error: str | None = None
        self.samples = 0
        self.label = _label(stream)
        self.columns: list[str] = []
        self.meta: dict = {}

    @property
    def raw_path(self) -> Path:
        """The crash-safe raw file."""
        return self.directory / f"{self.stem}_recording-{self.label}_physio.raw.tsv"

    @property
    def physio_path(self) -> Path:
        """The BIDS physio file written at the end."""
        return self.directory / f"{self.stem}_recording-{self.label}_physio.tsv.gz"

    def connect(self) -> None:
        """Find the stream and open an inlet on it (before the session's files are made).

        Raises
        ------
        DeviceError
            pylsl missing, or no stream of that name within ``timeout`` (one line).
        """
        pylsl = self._pylsl
        if pylsl is None:
            # liblsl logs INFO lines to stderr by default; keep the console readable.
            os.environ.setdefault("LSLAPICFG", str(Path(__file__).with_name("lsl_api.cfg")))
            try:
                pylsl = importlib.import_module("pylsl")
            except ImportError as error:
                raise DeviceError(
                    f"--record lsl:{self.stream}: pylsl is not available ({error}); install it "
                    "with pip install 'pavlov[physio]'"
                ) from None
            self._pylsl = pylsl
        found = pylsl.resolve_byprop("name", self.stream, timeout=self.timeout)
        if not found:
            raise DeviceError(
                f"--record lsl:{self.stream}: no LSL stream of that name on the network within "
                f"{self.timeout:g} s; start the amplifier's LSL app (or check the name)"
            )
        info = found[0]
        self._inlet = pylsl.StreamInlet(
            info, max_buflen=360, processing_flags=pylsl.proc_clocksync | pylsl.proc_dejitter
        )
        self._inlet.open_stream(timeout=self.timeout)
        full = self._inlet.info(timeout=self.timeout)
        kind = (full.type() or "").strip()
        count = full.channel_count()
        labels = _channel_labels(full, count)
        if kind.lower() in SCR_TYPES and count == 1:
            labels, self.label = ["scr"], "scr"
        self.columns = labels
        self.meta = {
            "stream": self.stream,
            "type": kind,
            "source_id": full.source_id(),
            "nominal_rate": full.nominal_srate(),
            "channels": labels,
            "speed": self.speed,
        }

    def start(self) -> None:
        """Open the raw file (appending a segment) and start pulling in a thread."""
        if self._inlet is None:
            self.connect()
        runner, lsl = self._clock_pair()
        self.meta.update(runner_clock=runner, lsl_clock=lsl)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.raw_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._write(f"# segment {json.dumps(self.meta)}\n")
        os.fsync(self._fd)
        self._thread = threading.Thread(target=self._pull, name=f"lsl:{self.stream}", daemon=True)
        self._thread.start()

    def set_zero(self, clock_zero: float, time_base: float) -> None:
        """Record the runner-clock time of session zero and this segment's log time base."""
        if self._fd is None:
            return
        self._write(f"# zero {json.dumps({'clock_zero': clock_zero, 'time_base': time_base})}\n")

    def _clock_pair(self) -> tuple[float, float]:
        """Runner and LSL clock read together (the closest of several tries)."""
        best = (math.inf, 0.0, 0.0)
        for _ in range(20):
            before = self._pylsl.local_clock()
            runner = self.clock()
            after = self._pylsl.local_clock()
            if after - before < best[0]:
                best = (after - before, runner, (before + after) / 2)
        return best[1], best[2]

    def _write(self, text: str) -> None:
        if self._fd is None:
            raise OSError(f"{self.raw_path}: the recording is not open")
        data = text.encode("utf-8")
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def _pull(self) -> None:
        last_sync = time.monotonic()
        pending: list[str] = []
        try:
            while not self._stop.is_set():
                chunk, stamps = self._inlet.pull_chunk(timeout=0.1)
                for stamp, sample in zip(stamps, chunk):
                    pending.append(f"{stamp:.6f}\t" + "\t".join(_cell(v) for v in sample) + "\n")
                self.samples += len(stamps)
                if pending and time.monotonic() - last_sync >= FSYNC_INTERVAL / 2:
                    self._write("".join(pending))
                    os.fsync(typing.cast(int, self._fd))  # open: _write checked it
                    pending.clear()
                    last_sync = time.monotonic()
            chunk, stamps = self._inlet.pull_chunk(timeout=0.0)
            for stamp, sample in zip(stamps, chunk):
                pending.append(f"{stamp:.6f}\t" + "\t".join(_cell(v) for v in sample) + "\n")
            self.samples += len(stamps)
        except Exception as error:  # the stream or the disk failed: keep what we have
            self.error = f"--record lsl:{self.stream}: recording stopped: {error}"
        finally:
            if pending and self._fd is not None:
                try:
                    self._write("".join(pending))
                    os.fsync(self._fd)
                except OSError as error:
                    self.error = (
                        f"--record lsl:{self.stream}: cannot write {self.raw_path}: {error}"
                    )

    def stop(self) -> Path | None:
        """Stop pulling, close the raw file and convert it to BIDS physio; return that file
        (None when nothing was recorded). Never raises: problems are in ``error``."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
        if self._inlet is not None:
            with contextlib.suppress(Exception):
                self._inlet.close_stream()
            self._inlet = None
        try:
            return convert_raw(self.raw_path, self.physio_path)
        except (OSError, ValueError) as error:
            self.error = self.error or f"--record lsl:{self.stream}: cannot convert: {error}"
            return None


def _cell(value) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "n/a"
    return f"{number:.7g}" if math.isfinite(number) else "n/a"


def _channel_labels(info, count: int) -> list[str]:
    labels = []
    try:
        channel = info.desc().child("channels").child("channel")
        for _ in range(count):
            labels.append(channel.child_value("label"))
            channel = channel.next_sibling()
    except Exception:
        labels = []
    clean = [re.sub(r"[^A-Za-z0-9_]", "_", str(label)).strip("_").lower() for label in labels]
    if len(clean) != count or not all(clean) or len(set(clean)) != count:
        return [f"ch{i + 1}" for i in range(count)]
    return clean


def convert_raw(raw_path: Path, physio_path: Path) -> Path | None:
    """Convert a raw LSL recording (every segment) to BIDS physio in the log's time base.

    Samples are placed on a regular grid at the stream's rate (in log seconds: the nominal
    rate divided by ``--speed``) from the first sample; grid points no sample fell on
    (dropped samples) are ``n/a``. A resumed session's log continues at the next event's
    planned onset, not after the time the session was down, so each later segment takes
    over from its own first sample: what the killed process recorded after that log time
    (the event it was killed in, which the resume plays again) is left out (it stays in the
    raw file). Samples of a segment whose session never started (no ``# zero`` line) are
    left out too. Returns the physio file, or None when there is nothing to convert.
    """
    raw_path = Path(raw_path)
    if not raw_path.exists():
        return None
    segments: list[dict] = []
    with open(raw_path, encoding="utf-8") as handle:
        for line in handle:
            if not line.endswith("\n"):
                break  # a torn last line (killed inside a write)
            if line.startswith("# segment "):
                meta = json.loads(line[len("# segment ") :])
                segments.append({"meta": meta, "zero": None, "stamps": [], "rows": []})
                continue
            if not segments:
                continue
            current = segments[-1]
            if line.startswith("# zero "):
                current["zero"] = json.loads(line[len("# zero ") :])
                continue
            fields = line.rstrip("\n").split("\t")
            if len(fields) != len(current["meta"]["channels"]) + 1:
                continue
            current["stamps"].append(float(fields[0]))
            current["rows"].append([float("nan") if f == "n/a" else float(f) for f in fields[1:]])
    placed = []
    for segment in segments:
        meta, zero = segment["meta"], segment["zero"]
        if zero is None or not segment["stamps"]:
            continue
        runner = np.asarray(segment["stamps"]) - meta["lsl_clock"] + meta["runner_clock"]
        times = zero["time_base"] + (runner - zero["clock_zero"]) * meta["speed"]
        placed.append((times, np.asarray(segment["rows"], dtype=float), meta))
    if not placed:
        return None
    last_meta = placed[-1][2]
    columns = last_meta["channels"]
    rate = float(last_meta["nominal_rate"] or 0)
    if rate <= 0:
        return None
    log_rate = rate / float(last_meta["speed"])
    kept_times, kept_rows = [], []
    for k, (times, rows, _) in enumerate(placed):
        if k + 1 < len(placed):
            keep = times < placed[k + 1][0][0]
            times, rows = times[keep], rows[keep]
        kept_times.append(times)
        kept_rows.append(rows)
    times_array = np.concatenate(kept_times)
    rows_array = np.concatenate(kept_rows)
    start = float(times_array[0])
    index = np.rint((times_array - start) * log_rate).astype(np.int64)
    keep = index >= 0
    grid = np.full((int(index[keep].max()) + 1, len(columns)), np.nan)
    grid[index[keep]] = rows_array[keep]
    sidecar: dict = {"SamplingFrequency": log_rate, "StartTime": start, "Columns": columns}
    if columns == ["scr"]:
        sidecar["scr"] = {"Description": "skin conductance", "Units": "uS"}
    sidecar.update(
        {
            "Source": raw_path.name,
            "SourceFormat": "lsl",
            "StreamName": last_meta.get("stream"),
            "StreamType": last_meta.get("type"),
        }
    )
    text = "".join(
        "\t".join("n/a" if math.isnan(v) else f"{v:.7g}" for v in row) + "\n" for row in grid
    )
    _atomic_write(physio_path, gzip.compress(text.encode(), compresslevel=6, mtime=0))
    _atomic_write(
        physio_path.with_name(physio_path.name.replace(".tsv.gz", ".json")),
        (json.dumps(sidecar, indent=2) + "\n").encode(),
    )
    return physio_path


def _atomic_write(path: Path, payload: bytes) -> None:
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temp, "wb") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)
