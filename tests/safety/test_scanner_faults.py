"""Scanner faults (issue 6, item 5): no trigger, a trigger that stops mid-run, pulses that
arrive too fast. Each gives a clear one-line message and is logged, and nothing is shown as
if the scanner were running.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
from pathlib import Path

from shock_wire import refuses_a_train

from pavlov.protocols import load_protocol
from pavlov.task.devices.simulated import SimulatedScanner
from pavlov.task.display import FrameClock, RecordingDisplay
from pavlov.task.runner import ScannerTimeout

PROTOCOL = Path(__file__).resolve().parents[2] / "protocols" / "aversive_pavlovian_fmri.yaml"
SPEED = 20.0


def fmri(timeout: float = 2.0):
    protocol = load_protocol(PROTOCOL)
    return dataclasses.replace(
        protocol, scanner=dataclasses.replace(protocol.scanner, timeout=timeout)
    )


def one_line(capsys, error) -> list[str]:
    """Lines ``pavlov`` prints on stderr when a command raises ``error``."""
    from pavlov.task.cli import main

    def command(args):
        raise error

    parser = argparse.ArgumentParser(prog="pavlov")
    parser.add_subparsers().add_parser("run").set_defaults(func=command)
    capsys.readouterr()
    assert main(["run"], parser=parser) == ScannerTimeout.exit_status
    return capsys.readouterr().err.splitlines()


def shown_stimuli(display) -> list[float]:
    """Flip times that showed a CS or a US."""
    return [t for t, scene in display.frames if scene.cs or scene.us_image]


def test_no_trigger_times_out_with_one_line_and_shows_nothing(fast, capsys):
    """A scanner that never pulses: one clear line, no CS shown, no shock, line low."""
    protocol = fmri(timeout=2.0)
    run = fast(protocol, "scan", speed=SPEED, scanner_kwargs={"stop_after": 0})
    assert isinstance(run.error, ScannerTimeout)
    assert "no scanner pulse on simulated within 2 s (0 of 6 received" in str(run.error)
    assert shown_stimuli(run.display) == [] and run.shock.trains == []
    assert not run.shock.line_high() and refuses_a_train(run.shock)
    (line,) = one_line(capsys, run.error)
    assert line.startswith("pavlov: no scanner pulse on simulated within 2 s")


def test_trigger_that_stops_mid_run_stops_the_session(fast, capsys, tmp_path):
    """The scanner stops after 60 volumes: the session stops within 3 TRs, says so in one
    line, logs every completed event, and shows no CS after the scanner stopped."""
    from pavlov.task.log import EventLog
    from pavlov.task.sidecar import SessionRecord

    protocol = fmri()
    log = EventLog.create(tmp_path / "events.tsv")
    record = SessionRecord.create(tmp_path / "session.json", {"end_reason": "running"})
    run = fast(
        protocol,
        "scan",
        speed=SPEED,
        scanner_kwargs={"stop_after": 60},
        log=log,
        record=record,
    )
    log.close()
    assert isinstance(run.error, ScannerTimeout)
    assert "the scanner stopped: no pulse on simulated" in str(run.error)
    assert "after volume 60 (TR 2 s)" in str(run.error)
    tr = protocol.scanner.tr / SPEED
    trigger_start = run.display.frames[0][0]
    last_pulse = trigger_start + 59 * tr  # SimulatedScanner: pulses at start + k * tr
    assert max(shown_stimuli(run.display)) <= last_pulse + 3 * tr + run.display.frame_period
    assert run.display.frames[-1][0] <= last_pulse + 3 * tr + 2 * run.display.frame_period
    assert not run.shock.line_high() and refuses_a_train(run.shock)
    assert record.data["end_reason"].startswith("error: the scanner stopped")
    _, rows = EventLog.reopen(tmp_path / "events.tsv")
    assert sum(r["trial_type"] == "pulse" for r in rows) == 60
    assert sum(r["trial_type"] == "cs" for r in rows) > 0
    (line,) = one_line(capsys, run.error)
    assert "--resume" in line


class BouncingTrigger:
    """A trigger that reports every pulse of ``inner`` twice, 5 % of a TR apart (a bouncing
    contact); the echo is reported at the poll after it happened."""

    def __init__(self, inner: SimulatedScanner) -> None:
        self.inner = inner
        self.name = inner.name
        self.echoes: list[float] = []

    def start(self) -> None:
        self.inner.start()

    def poll(self) -> list[float]:
        now = self.inner.clock.now()
        real = self.inner.poll()
        self.echoes += [p + 0.05 * self.inner.tr for p in real]
        due = [e for e in self.echoes if e <= now]
        self.echoes = [e for e in self.echoes if e > now]
        return sorted(real + due)

    def close(self) -> None:
        self.inner.close()


def test_pulses_too_fast_are_ignored_logged_and_do_not_start_early(fast):
    """Double pulses: each extra one is logged as ignored; volumes and session zero are the
    real ones (dummy volumes are not used up twice as fast)."""
    protocol = fmri()
    clock = FrameClock()
    display = RecordingDisplay(clock)
    trigger = BouncingTrigger(SimulatedScanner(clock, protocol.scanner.tr / SPEED))
    run = fast(protocol, "scan", speed=SPEED, display=display, trigger=trigger)
    assert run.error is None and run.result.end_reason == "completed"
    rows = run.log.rows
    pulses = [r for r in rows if r["trial_type"] == "pulse"]
    ignored = [r for r in rows if str(r.get("value", "")).startswith("pulse ignored")]
    assert len(pulses) == run.result.pulses and ignored
    assert "(TR 2 s)" in ignored[0]["value"]
    onsets = [r["onset"] for r in pulses]
    gaps = [b - a for a, b in itertools.pairwise(onsets)]
    assert min(gaps) > 0.5 * protocol.scanner.tr  # only whole TRs were counted as volumes
    dummies = protocol.scanner.dummy_volumes
    assert abs(onsets[dummies]) < 1e-6  # zero is the first stored (real) volume
    assert any("pulse ignored" in m for m in run.console.messages)


def test_timeout_covers_the_first_pulse_not_the_dummy_volumes(fast):
    """`timeout` shorter than the dummy volumes (but longer than a TR) waits for the first
    pulse only, as documented: a working scanner starts the session (it used to time out
    and leave a partial run)."""
    protocol = load_protocol(PROTOCOL)
    tr, dummies = protocol.scanner.tr, protocol.scanner.dummy_volumes
    timeout = 1.5 * tr / SPEED  # clock seconds: the first pulse comes within a TR
    assert timeout < dummies * tr / SPEED
    protocol = dataclasses.replace(
        protocol, scanner=dataclasses.replace(protocol.scanner, timeout=timeout)
    )
    run = fast(protocol, "scan", speed=SPEED)
    assert run.error is None, run.error
    assert run.result.end_reason == "completed"
    assert run.result.pulses > dummies
