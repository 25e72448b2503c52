"""Benchmark: slow writes never stall the frame loop or ``set_low`` (issue 17, part 4).

1. ``set_low`` while the shock's serial write is stuck for 0.5 s (a flush waiting for its
   write timeout), on a pty TTL box: how long ``set_low`` takes, and the last byte.
2. A session (retrieval_extinction day1 at ``--speed 25``) on a recording display paced at
   60 Hz in real time, every log write slowed to 50 ms: frames flipped during each write,
   and frame gaps over 40 ms (a frozen screen).

Run: ``python benchmarks/write_overlap.py``. Wall times; on a shared machine they are
inflated, CPU time is printed too.
"""

from __future__ import annotations

import itertools
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the tests' pty peer and session harness


class _Clock:
    def now(self) -> float:
        return time.perf_counter()


class _StuckLines:
    """Serial lines whose writes raising the shock bit take 0.5 s."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.held = inner, inner.name, threading.Event()

    def write(self, value: int) -> None:
        if value & 1:
            self.held.set()
            time.sleep(0.5)
        self.inner.write(value)

    def close(self) -> None:
        self.inner.close()


def set_low_during_a_stuck_write(repeats: int = 5) -> str:
    from pty_peer import PtyPeer

    from pavlov.task.devices.lines import PulseTrainShock
    from pavlov.task.devices.serial_backend import SerialLines

    took, last = [], []
    for _ in range(repeats):
        peer = PtyPeer()
        lines = _StuckLines(SerialLines(peer.path))
        shock = PulseTrainShock(lines, 1, _Clock(), "serial")
        shock.open()
        shock.deliver(0.01, 0.02, 5, "bench")
        lines.held.wait(5)
        start = time.perf_counter()
        shock.set_low()
        took.append(time.perf_counter() - start)
        while shock.busy():
            time.sleep(0.001)
        shock.close()
        last.append(peer.values()[-1])
        peer.close()
    return (
        f"set_low during a 0.5-s stuck write: median {statistics.median(took) * 1e3:.3f} ms, "
        f"max {max(took) * 1e3:.3f} ms; last byte {set(last)}"
    )


def flips_during_slow_log_writes(speed: float = 25.0) -> str:
    from fast_session import run_fast

    from pavlov.protocols import load_protocol
    from pavlov.task.display import FrameClock, RecordingDisplay
    from pavlov.task.log import EventLog

    protocol = load_protocol(REPO / "protocols" / "retrieval_extinction.yaml")
    clock = FrameClock()
    display = RecordingDisplay(clock)
    flip, flips = display.flip, []

    def paced() -> float:
        t = flip()
        time.sleep(1 / 60)
        flips.append(time.perf_counter())
        return t

    display.flip = paced
    with tempfile.TemporaryDirectory() as folder:
        log = EventLog.create(Path(folder) / "events.tsv")
        append, writes = log.append, []

        def slow(rows) -> None:
            start = time.perf_counter()
            time.sleep(0.05)
            append(rows)
            writes.append((start, time.perf_counter()))

        log.append = slow
        cpu = time.process_time()
        run = run_fast(protocol, "day1", "1", speed=speed, display=display, log=log)
        log.close()
    if run.error is not None:
        raise run.error
    during = [sum(a <= f <= b for f in flips) for a, b in writes]
    gaps = [b - a for a, b in itertools.pairwise(flips)]
    return (
        f"{len(writes)} log writes of 50 ms: frames flipped during each min {min(during)}, "
        f"median {statistics.median(during):g}; frame gaps > 40 ms: "
        f"{sum(g > 0.040 for g in gaps)} of {len(gaps)}; CPU {time.process_time() - cpu:.2f} s"
    )


def main() -> int:
    print(set_low_during_a_stuck_write())
    print(flips_during_slow_log_writes())
    return 0


if __name__ == "__main__":
    sys.exit(main())
