"""The device layer inside real sessions: ``pavlov run --simulate`` with one real shock device.

Each test runs the real command in a subprocess under the tests' Xvfb, at speed 1 (a real
device refuses any other), with a ~5-s protocol written by the test: 3 trials of a 1-s CS
and a 0.5-s ITI, 2 reinforced with a train of 5 pulses.

- Serial: the shock's TTL box is the slave end of an ``os.openpty()`` whose master end this
  test reads, stamping every byte as it arrives.
- Parallel port and LabJack: the child process is started through a small launcher that
  puts the fake ``parallel`` (pyparallel) and ``u3`` (LabJackPython) modules of
  ``tests/task/devices/conftest.py`` into ``sys.modules`` and then runs the ordinary
  ``pavlov`` entry point, so ``psychopy.parallel`` and the U3 backend run unchanged above
  the library boundary; the fakes' timestamped writes are dumped to JSON at exit. A
  subprocess (not an in-process ``run_session``) keeps the whole command path under test:
  spec parsing, ``build_devices``, the safety guard, the sidecar and the exit status.

Device write times (``perf_counter``) and log times (session seconds) have different
origins, so trains are compared through their offset, which must be the same for every
edge of every train.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pty_peer import PtyPeer
from sessions_e2e import read_log

from pavlov.protocols import build_schedule, load_protocol

pytestmark = pytest.mark.display

DOUBLES = Path(__file__).resolve().parent / "devices" / "conftest.py"
COUNT = 5
INTERVAL = 0.02
PROTOCOL = f"""\
pavlov: 1
study: Device proof
task: devproof
seed: 4
cs:
  roles: [CS+, CS-]
  stimuli:
    blue: {{image: cs/blue_square.png}}
    yellow: {{image: cs/yellow_square.png}}
us:
  shock:
    type: shock
    train: {{pulse_width: 0.005, interval: {INTERVAL}, count: {COUNT}}}
    duration: 0.1
safety:
  max_shocks: 2
  max_train_duration: 0.2
phases:
  acquisition:
    type: acquisition
    trials: {{CS+: 2, CS-: 1}}
    reinforced: {{CS+: 2}}
    cs_duration: 1
    iti: 0.5
sessions:
  - name: s1
    phases: [acquisition]
"""

LAUNCHER = """\
import atexit, importlib.util, json, sys, types

DOUBLES, OUT = sys.argv[1], sys.argv[2]
spec = importlib.util.spec_from_file_location("pavlov_device_doubles", DOUBLES)
doubles = importlib.util.module_from_spec(spec)
spec.loader.exec_module(doubles)
parallel = types.ModuleType("parallel")
parallel.Parallel = doubles.FakeParallelPort
u3 = types.ModuleType("u3")
u3.U3 = doubles.FakeU3Device
u3.PortStateWrite = doubles._PortStateWrite
u3.PortDirWrite = doubles._PortDirWrite
u3.LabJackException = doubles.LabJackException
sys.modules.update(parallel=parallel, u3=u3)


@atexit.register
def dump():
    with open(OUT, "w") as out:
        json.dump(
            {
                "parallel": [port.writes for port in doubles.FakeParallelPort.instances],
                "u3": [
                    [[t, list(s)] for t, s in d.history] for d in doubles.FakeU3Device.instances
                ],
            },
            out,
        )


from pavlov.task.cli import main

sys.exit(main(sys.argv[3:]))
"""


@pytest.fixture
def protocol(tmp_path) -> Path:
    path = tmp_path / "devproof.yaml"
    path.write_text(PROTOCOL)
    return path


def run(env, protocol: Path, data: Path, shock: str, launcher: list[str] | None = None):
    command = launcher or [sys.executable, "-m", "pavlov.task.cli"]
    return subprocess.run(
        [
            *command,
            "run",
            str(protocol),
            "--participant",
            "01",
            "--simulate",
            "--windowed",
            "--shock",
            shock,
            "--intensity",
            "1.5",
            "--data",
            str(data),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )


def trains(writes: list[tuple[float, int]], mask: int) -> list[list[float]]:
    """Rising-edge times of the shock line(s), grouped into trains (gaps over 0.2 s)."""
    rises = []
    previous = 0
    for t, value in writes:
        level = value & mask
        if level and not previous:
            rises.append(t)
        previous = level
    groups: list[list[float]] = []
    for t in rises:
        if groups and t - groups[-1][-1] < 0.2:
            groups[-1].append(t)
        else:
            groups.append([t])
    return groups


def check_session(protocol: Path, data: Path, writes: list[tuple[float, int]], mask: int) -> None:
    """Check: one train per delivered US, COUNT pulses each, ending low, at the logged times."""
    log, record = read_log(data)
    assert record["end_reason"] == "completed"
    assert record["shock_intensity_ma"] == 1.5
    schedule = build_schedule(load_protocol(protocol), "01", "s1")
    reinforced = [e for e in schedule.trials if e.reinforced]
    usp = log[(log.trial_type == "us") & (log.event_type == "USp")]
    assert list(usp.trial) == [e.index for e in reinforced]
    assert record["shocks_delivered"] == len(reinforced)
    assert writes[0][1] & mask == 0  # opened low
    assert writes[-1][1] == 0  # and left low
    seen = trains(writes, mask)
    assert [len(t) for t in seen] == [COUNT] * len(reinforced)
    logged = [[float(x) for x in value.split(";")] for value in usp.value]
    assert [len(t) for t in logged] == [COUNT] * len(reinforced)
    for onset, edges in zip(usp.onset, logged, strict=True):
        # The train starts after the flip that shows the US frame, its edges in order.
        # How soon, and how regular, depends on the CPU (another job may share it): the
        # backend's own schedule of edges is tested exactly in devices/test_contract.py,
        # the jitter by benchmarks/run_loop.py.
        assert onset <= edges[0], (onset, edges)
        assert all(a < b for a, b in itertools.pairwise(edges)), edges
    cs = log[log.trial_type == "cs"]
    assert list(zip(cs.phase, cs.trial)) == [(e.phase, e.index) for e in schedule.trials]


def test_serial_shock_through_a_pty(xvfb, tmp_path, protocol):
    """--shock serial:PTY: the pty peer gets one 5-pulse train per US, ends on 0, as logged."""
    peer = PtyPeer()
    try:
        proc = run(xvfb, protocol, tmp_path / "data", f"serial:{peer.path}")
        time.sleep(0.05)
    finally:
        peer.close()
    assert proc.returncode == 0, proc.stderr
    assert [v for _, v in peer.received].count(1) == 2 * COUNT
    check_session(protocol, tmp_path / "data", peer.received, 0x01)
    _, record = read_log(tmp_path / "data")
    assert record["devices"]["shock"] == f"serial:{peer.path}"


@pytest.mark.parametrize(
    ("shock", "library"),
    [("parallel:/dev/parport0", "parallel"), ("labjack:FIO4", "u3")],
)
def test_library_backed_shock(xvfb, tmp_path, protocol, shock, library):
    """Parallel port and LabJack (fake libraries): one 5-pulse train per US, low, as logged."""
    launcher = tmp_path / "launch.py"
    launcher.write_text(LAUNCHER)
    out = tmp_path / "writes.json"
    proc = run(
        xvfb,
        protocol,
        tmp_path / "data",
        shock,
        launcher=[sys.executable, str(launcher), str(DOUBLES), str(out)],
    )
    assert proc.returncode == 0, proc.stderr
    dumped = json.loads(out.read_text())
    if library == "parallel":
        (port,) = dumped["parallel"]
        writes, mask = [(t, v) for t, v in port], 0x01
    else:
        (device,) = dumped["u3"]
        # FIO4 is bit 4 of the FIO byte; nothing else on the U3 may move.
        writes, mask = [(t, state[0]) for t, state in device], 0x10
        assert all(state[0] & ~0x10 == 0 and state[1:] == [0, 0] for _, state in device)
    check_session(protocol, tmp_path / "data", writes, mask)


def test_pty_peer_vanishes_mid_session(xvfb, tmp_path, protocol):
    """The TTL box vanishes: the session stops at the next US, one-line error, complete log."""
    peer = PtyPeer(close_after=0.5)
    try:
        proc = run(xvfb, protocol, tmp_path / "data", f"serial:{peer.path}")
    finally:
        peer.close()
    assert peer.closed_at is not None
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"pavlov: shock device serial:{peer.path}: pulse train"), last
    assert "check the cable" in last
    log, record = read_log(tmp_path / "data")
    assert record["end_reason"].startswith(f"error: shock device serial:{peer.path}")
    schedule = build_schedule(load_protocol(protocol), "01", "s1")
    first_us = next(e for e in schedule.trials if e.reinforced)
    cs = log[log.trial_type == "cs"]
    # Stopped at the first US (well before the end), with every trial up to it logged.
    assert list(cs.trial) == list(range(1, first_us.index + 1))
    assert first_us.index < len(schedule.trials)
    assert record["completed_trials"] == first_us.index
    usp = log[(log.trial_type == "us") & (log.event_type == "USp")]
    assert list(usp.value) == ["no pulse delivered"]
    # Only the port's opening 0 got through before the box vanished.
    assert [v for _, v in peer.received] == [0]


def test_real_device_refuses_other_speeds(xvfb, tmp_path, protocol):
    """--simulate --speed 10 with a real --shock stops before a window opens, in one line."""
    peer = PtyPeer()
    try:
        proc = subprocess.run(
            [
                *(sys.executable, "-m", "pavlov.task.cli", "run", str(protocol)),
                *("--participant", "01", "--simulate", "--speed", "10", "--windowed"),
                *("--shock", f"serial:{peer.path}", "--data", str(tmp_path / "data")),
            ],
            env=xvfb,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        peer.close()
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert f"simulated devices only, got --shock serial:{peer.path}" in proc.stderr
    assert peer.received == []  # the port was never opened
    assert not (tmp_path / "data").exists()
