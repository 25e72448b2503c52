"""Real X key events (``xdotool``) into a real ``pavlov run`` under the tests' Xvfb.

The psychtoolbox keyboard reads X11 XInput2 events; ``xdotool`` injects them through the
XTEST extension, so these tests exercise the same path as a physical keyboard or a USB
scanner trigger box in keyboard mode (psychopy.md §3).
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
from sessions_e2e import cs_rows, read_log, run_command

from pavlov.protocols import build_schedule, load_protocol

pytestmark = pytest.mark.display

#: Six 1-s CSs, 0.5-s ITIs: a 9-s session, long enough to press keys in.
PLAIN = """\
pavlov: 1
study: Escape proof
task: keys
seed: 3
cs:
  roles: [CS+, CS-]
  stimuli:
    blue: {image: cs/blue_square.png}
    yellow: {image: cs/yellow_square.png}
us:
  noise:
    type: image
    file: cs/green_square.png
    duration: 0.2
phases:
  acquisition:
    type: acquisition
    trials: {CS+: 3, CS-: 3}
    reinforced: {CS+: 2}
    cs_duration: 1
    iti: 0.5
sessions:
  - name: s1
    phases: [acquisition]
"""

#: A scanner session: TR 0.5 s, two dummy volumes, four 1-s CSs one TR apart (6 s).
SCANNER = """\
pavlov: 1
study: Key trigger proof
task: keyscan
seed: 5
cs:
  roles: [CS+, CS-]
  stimuli:
    blue: {image: cs/blue_square.png}
    yellow: {image: cs/yellow_square.png}
us:
  noise:
    type: image
    file: cs/green_square.png
    duration: 0.2
scanner:
  tr: 0.5
  dummy_volumes: 2
  sync: "key:5"
  timeout: 20
phases:
  acquisition:
    type: acquisition
    trials: {CS+: 2, CS-: 2}
    reinforced: {CS+: 1}
    cs_duration: 1
    iti: {trs: [1, 1]}
sessions:
  - name: scan
    phases: [acquisition]
"""

TR = 0.5


@pytest.fixture(scope="module")
def xdotool():
    """The path of ``xdotool`` (installed by .ci/install; these tests need it)."""
    path = shutil.which("xdotool")
    if path is None:
        pytest.fail("xdotool is not installed (apt-get install xdotool); the key tests need it")
    return path


def start_run(env, protocol: Path, data: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        run_command(protocol, data, *extra),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def logged_cs(data: Path) -> int:
    """Complete ``cs`` rows in a log that is being written (0 before it exists)."""
    files = list(data.glob("sub-*/ses-*/*/*_events.tsv"))
    return cs_rows(files[0]) if files else 0


def test_escape_then_y_aborts_with_complete_log(xvfb, xdotool, tmp_path):
    """Escape then y (real X keys): exit 1, 'aborted: escape', every completed trial logged."""
    protocol = tmp_path / "plain.yaml"
    protocol.write_text(PLAIN)
    data = tmp_path / "data"
    proc = start_run(xvfb, protocol, data)
    try:
        deadline = time.monotonic() + 40
        while logged_cs(data) < 2:
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "no trial was logged within 40 s"
            time.sleep(0.05)
        # The pause lets the run loop show its quit question before 'y' arrives.
        subprocess.run([xdotool, "key", "--delay", "400", "Escape", "y"], env=xvfb, check=True)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, err
    assert "Traceback" not in err
    log, record = read_log(data)
    assert record["end_reason"] == "aborted: escape"
    schedule = build_schedule(load_protocol(protocol), "01", "s1")
    cs = log[log.trial_type == "cs"]
    done = len(cs)
    assert 2 <= done < len(schedule.trials)
    assert record["completed_trials"] == done
    # Every logged trial is whole (its cs and us rows) and they are the schedule's first ones.
    assert list(zip(cs.phase, cs.trial)) == [(e.phase, e.index) for e in schedule.trials[:done]]
    assert (log.trial_type == "us").sum() == done
    assert log.onset.is_monotonic_increasing


def test_scanner_pulses_from_real_key_events(xvfb, xdotool, tmp_path):
    """--trigger key:5 wins over --simulate: real '5' keys are logged pulses, onset 0 at the 3rd."""
    protocol = tmp_path / "scan.yaml"
    protocol.write_text(SCANNER)
    data = tmp_path / "data"
    proc = start_run(xvfb, protocol, data, "--trigger", "key:5")
    # Reading stderr blocks: a run that hangs is killed rather than hanging the suite.
    watchdog = threading.Timer(60, proc.kill)
    watchdog.start()
    keys = None
    err = []
    try:
        for line in proc.stderr:
            err.append(line)
            if "waiting for the scanner" in line:
                # The trigger listens from here: pulses start now, one per TR.
                keys = subprocess.Popen(
                    [xdotool, "key", "--delay", str(int(TR * 1000)), *["5"] * 24], env=xvfb
                )
                break
        err.extend(proc.stderr)
        proc.wait(timeout=40)
    finally:
        watchdog.cancel()
        for p in (proc, keys):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
    text = "".join(err)
    assert keys is not None, f"the run never waited for the scanner: {text}"
    assert "keyboard key '5'" in text, text  # the real key trigger, not the simulated scanner
    assert proc.returncode == 0, text
    log, record = read_log(data)
    assert record["end_reason"] == "completed"
    assert record["devices"]["trigger"] == "key:5"
    pulses = log[log.trial_type == "pulse"]
    numbers = [int(v) for v in pulses.value]
    assert numbers == list(range(1, len(numbers) + 1))
    # The 6-s session spans at least 12 TRs after the two dummies.
    assert len(numbers) >= 12
    assert record["scanner_pulses"] == len(numbers)
    onsets = pulses.onset.to_numpy()
    assert onsets[2] == 0.0
    assert (onsets[:2] < 0).all() and (onsets[3:] > 0).all()
    gaps = onsets[1:] - onsets[:-1]
    # xdotool paces the keys with sleeps, so their spacing is the CPU's, not ours: what the
    # run loop guarantees is that a counted volume is never closer than half a TR.
    assert (gaps >= 0.5 * TR).all(), gaps
    cs = log[log.trial_type == "cs"]
    assert len(cs) == 4
    # The first CS is planned at 0: it is shown on the first flips after the third pulse.
    assert 0 <= cs.onset.iloc[0] < 0.1
