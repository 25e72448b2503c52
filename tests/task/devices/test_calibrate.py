"""The shock work-up: ascending steps, stop rules, and the participant's record on disk."""

from __future__ import annotations

import json

import pytest

from pavlov.protocols.model import CalibrationSpec, PulseTrain, Source
from pavlov.task.devices.calibrate import (
    CalibrationError,
    calibration_path,
    load_calibration,
    run_workup,
    save_workup,
)
from pavlov.task.devices.safety import ShockGuard
from pavlov.task.devices.simulated import SimulatedShock

SPEC = CalibrationSpec((1, 10), 7, "unpleasant but not painful", 0.5, 0.5, 2.0, 6, Source("p", 1))
TRAIN = PulseTrain(0.005, 0.01, 5)


def _run(answers, clock, spec=SPEC, participant="01"):
    shock = SimulatedShock(clock)
    guard = ShockGuard(shock, spec.max_steps, 0.1, clock)
    guard.open()
    said = []
    queue = list(answers)

    def wait(seconds):
        clock.t += max(seconds, 0.005)

    workup = run_workup(
        participant,
        spec,
        TRAIN,
        guard,
        ask=lambda prompt: queue.pop(0),
        say=said.append,
        wait=wait,
        clock=clock,
        arm=guard.arm,
        device="simulated",
    )
    assert not queue, "not every scripted answer was used"
    return workup, shock, said


def test_stops_at_target(fake_clock):
    """Suggested steps ascend by step_ma; a rating at the target stops; final value typed."""
    workup, shock, said = _run(["", "3", "", "5", "1.2", "7", "1.1"], fake_clock)
    assert [s.intensity_ma for s in workup.steps] == [0.5, 1.0, 1.2]
    assert [s.rating for s in workup.steps] == [3, 5, 7]
    assert all(s.pulses == 5 for s in workup.steps)
    assert workup.stopped == "target reached"
    assert workup.final_ma == 1.1
    assert len(shock.trains) == 3
    assert any("Final intensity: 1.1 mA" in line for line in said)


def test_overshoot_is_not_target_reached(fake_clock):
    """A rating above the target says it overshot and offers the last intensity rated
    below the target; each step says its shock was delivered."""
    workup, _, said = _run(["", "3", "", "8", ""], fake_clock)
    assert workup.stopped == "target overshot"
    assert workup.final_ma == 0.5  # Enter took the suggested intensity, not the overshoot
    assert "Step 1: shock delivered (0.5 mA, 5 pulse(s))." in said
    assert "Step 2: shock delivered (1 mA, 5 pulse(s))." in said
    assert any("above the target 7" in line and "use 0.5 mA" in line for line in said)
    assert not any("target reached" in line for line in said)


def test_ceiling_stops(fake_clock):
    """The ceiling stops the series below target; entries over the ceiling are asked again."""
    answers = ["", "2", "5", "2", "3", ""]
    workup, _, _ = _run(answers, fake_clock)
    assert [s.intensity_ma for s in workup.steps] == [0.5, 2.0]
    assert workup.stopped == "ceiling reached"
    assert workup.final_ma == 2.0


def test_experimenter_quits(fake_clock):
    """q stops the series; with no step taken no intensity is recorded."""
    workup, shock, _ = _run(["q"], fake_clock)
    assert workup.steps == () and workup.final_ma is None
    assert workup.stopped == "stopped by experimenter"
    assert shock.trains == []


def test_bad_rating_is_asked_again(fake_clock):
    """A rating off the scale is asked again, not accepted."""
    workup, _, _ = _run(["", "11", "x", "8", ""], fake_clock)
    assert workup.steps[0].rating == 8


def test_record_history_kept(tmp_path, fake_clock):
    """The first record is created; a second work-up is appended, not overwriting."""
    first, _, _ = _run(["", "7", ""], fake_clock)
    path = save_workup(tmp_path, first)
    assert path == calibration_path(tmp_path, "01")
    second, _, _ = _run(["1.0", "7", "0.9"], fake_clock)
    save_workup(tmp_path, second)
    record = json.loads(path.read_text())
    assert [w["final_ma"] for w in record["workups"]] == [0.5, 0.9]
    latest = load_calibration(tmp_path, "01")
    assert latest["final_ma"] == 0.9 and latest["n_workups"] == 2
    assert not list(path.parent.glob("*.tmp"))


def test_no_record(tmp_path):
    """A participant without a work-up has none."""
    assert load_calibration(tmp_path, "02") is None


def test_corrupt_record(tmp_path):
    """A damaged record is one clear error, not a traceback or an overwrite."""
    path = calibration_path(tmp_path, "03")
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(CalibrationError, match="invalid JSON"):
        load_calibration(tmp_path, "03")


def test_participant_label(fake_clock):
    """Participant IDs must be BIDS labels."""
    with pytest.raises(CalibrationError, match="BIDS label"):
        _run([], fake_clock, participant="sub-01")


def test_record_respects_the_umask(fake_clock, tmp_path):
    """A later work-up's record (rewritten through a temporary file) is 0644 under umask 022."""
    import os

    old = os.umask(0o022)
    try:
        for answers in (["", "7", ""], ["", "7", ""]):
            workup, _, _ = _run(answers, fake_clock)
            path = save_workup(tmp_path, workup)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644
