"""Tests of ``pavlov run`` argument and situation errors: one line, an exit status."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PROTOCOL = Path(__file__).resolve().parents[2] / "protocols" / "retrieval_extinction.yaml"


def pavlov(*args, env=None, tmp_path=None):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)} if env is None else env
    return subprocess.run(
        [sys.executable, "-m", "pavlov.task.cli", "run", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )


def test_bad_participant_is_one_line(tmp_path):
    """A participant ID that is not a BIDS label is a usage error: one line, exit 2 (was 5)."""
    proc = pavlov(str(PROTOCOL), "--participant", "a_b", "--simulate", tmp_path=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == (
        "pavlov: --participant: expected letters and digits only (a BIDS label), got 'a_b'\n"
    )
    assert not (tmp_path / "data").exists()


def test_no_display_is_one_line(tmp_path):
    """Without $DISPLAY the run stops before anything is written, naming xvfb-run."""
    proc = pavlov(str(PROTOCOL), "--participant", "01", "--simulate", tmp_path=tmp_path)
    assert proc.returncode == 2 and "xvfb-run" in proc.stderr
    assert proc.stderr.count("\n") == 1
    assert not (tmp_path / "data").exists()


def test_missing_participant_without_display(tmp_path):
    """No --participant and no display for the dialog: one line, exit 2."""
    proc = pavlov(str(PROTOCOL), "--simulate", tmp_path=tmp_path)
    assert proc.returncode == 2 and "--participant" in proc.stderr


def test_bad_speed_and_unknown_session(tmp_path):
    """--speed 0 is refused by the parser; an unknown session names the valid ones."""
    proc = pavlov(str(PROTOCOL), "--participant", "01", "--speed", "0", tmp_path=tmp_path)
    assert proc.returncode == 2 and "expected a number >= 0.1 and <= 100000" in proc.stderr
    proc = pavlov(str(PROTOCOL), "--participant", "01", "--session", "day9", tmp_path=tmp_path)
    assert proc.returncode == 2 and "day1" in proc.stderr and "Traceback" not in proc.stderr


def test_resume_without_data(tmp_path):
    """--resume of a run that never started is a one-line error."""
    proc = pavlov(str(PROTOCOL), "--participant", "01", "--resume", tmp_path=tmp_path)
    assert proc.returncode == 5 and "nothing to resume" in proc.stderr


def test_metadata_is_written_again_and_faults_are_one_line(tmp_path):
    """Every run and resume writes events.json, dataset_description.json and
    participants.tsv again if missing (after `rm -rf` they were never recreated), and a
    metadata write that fails is a one-line LogError, not an internal error."""
    from pavlov.protocols import load_protocol
    from pavlov.task.log import LogError, run_paths, write_events_json
    from pavlov.task.run_cli import _write_metadata

    protocol = load_protocol(PROTOCOL)
    paths = run_paths(tmp_path / "data", "01", "day1", protocol.task, 1, False)
    paths.directory.mkdir(parents=True)
    _write_metadata(paths, protocol, "01", write_events_json)
    for path in (paths.events_json, paths.root / "dataset_description.json"):
        path.unlink()
    (paths.root / "participants.tsv").write_text("participant_id\nsub-02\n")
    _write_metadata(paths, protocol, "01", write_events_json)
    assert paths.events_json.exists() and (paths.root / "dataset_description.json").exists()
    assert (paths.root / "participants.tsv").read_text().splitlines() == [
        "participant_id",
        "sub-02",
        "sub-01",
    ]
    (paths.root / "participants.tsv").unlink()
    (paths.root / "participants.tsv").mkdir()  # an unreadable, unwritable participants.tsv
    with pytest.raises(LogError, match=r"participants\.tsv: cannot read .*a directory") as caught:
        _write_metadata(paths, protocol, "01", write_events_json)
    assert "\n" not in str(caught.value)


def test_intensity_is_checked_against_the_ceiling_from_every_source():
    """An intensity from the option, a calibration record or the prompt must be
    0 < mA <= calibration.ceiling_ma (the default work-up's 10 mA without a block)."""
    from pavlov.protocols import load_protocol
    from pavlov.task.run_cli import RunError, _check_intensity

    protocol = load_protocol(PROTOCOL)
    ceiling = protocol.calibration.ceiling_ma if protocol.calibration else 10.0
    _check_intensity(protocol, ceiling, "--intensity")
    _check_intensity(protocol, None, "n/a (no shock)")
    for value, source in (
        (ceiling + 0.01, "--intensity"),
        (1e9, "calibration"),
        (0.0, "typed by the experimenter"),
    ):
        with pytest.raises(
            RunError, match=rf"expected 0 < mA <= the protocol's calibration ceiling_ma {ceiling:g}"
        ):
            _check_intensity(protocol, value, source)


def test_a_pulse_key_may_not_be_a_wait_event_key_or_a_rating_key():
    """--trigger key:i is refused for the infusion session (its wait logs i as an event
    key), key:2 for the fMRI session (its ratings use 1-4); other keys are accepted."""
    from pavlov.protocols import build_schedule, load_protocol
    from pavlov.task.run_cli import RunError, _check_trigger_key

    folder = Path(__file__).resolve().parents[2] / "protocols"
    protocol = load_protocol(folder / "ketamine_reconsolidation.yaml")
    infusion = build_schedule(protocol, "demo", "infusion")
    with pytest.raises(RunError, match="phase infusion uses the key 'i'"):
        _check_trigger_key(protocol, infusion, "key:i")
    _check_trigger_key(protocol, infusion, "key:t")
    fmri = load_protocol(folder / "aversive_pavlovian_fmri.yaml")
    scan = build_schedule(fmri, "demo", "scan")
    with pytest.raises(RunError, match="uses the key '2'"):
        _check_trigger_key(fmri, scan, "key:2")
    _check_trigger_key(fmri, scan, "key:t")


def test_a_corrupt_calibration_record_is_reported_not_taken_as_missing(tmp_path):
    """A calibration record that is not valid JSON stops `pavlov run` with one line naming
    it (it used to count as no record, and the run asked for an intensity instead)."""
    import argparse

    from pavlov.task.devices.calibrate import CalibrationError, calibration_path
    from pavlov.task.run_cli import _intensity

    path = calibration_path(tmp_path, "01")
    path.parent.mkdir(parents=True)
    path.write_text('{"workups": [{"final_ma": 2.5', encoding="utf-8")
    args = argparse.Namespace(intensity=None, data=str(tmp_path))
    with pytest.raises(CalibrationError, match=rf"^{path}:1: .*invalid JSON"):
        _intensity(args, "01", simulated_shock=False)
    assert _intensity(argparse.Namespace(intensity=1.5, data=str(tmp_path)), "01", False) == (
        1.5,
        "--intensity",
    )


def ordered_protocol() -> str:
    """The protocol tests' small valid protocol, its acquisition following ``a.csv``."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "protocols" / "conftest.py"
    spec = importlib.util.spec_from_file_location("protocol_test_fixtures", path)
    fixtures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fixtures)
    text = fixtures.MINIMAL
    generated = (
        "    trials: 8\n    reinforced: {CS+: 3}\n    cs_duration: 4\n    iti: {uniform: [8, 12]}\n"
    )
    assert text.count(generated) == 1
    (image,) = [line for line in text.splitlines() if "image:" in line]
    text = text.replace(image, '    blue: {shape: square, color: "#3060ff"}')
    return text.replace(generated, "    order: a.csv\n    cs_duration: 4\n")


def test_resume_refuses_an_edited_order_file(tmp_path):
    """The order files that shape the schedule are hashed into the session record; a
    resume after one was edited (the protocol file itself unchanged) is refused in one
    line naming it, before anything is opened."""
    import argparse

    from pavlov.protocols import build_schedule, load_protocol
    from pavlov.task.log import LogError, run_paths
    from pavlov.task.run_cli import _check_run_files
    from pavlov.task.sidecar import SessionRecord, schedule_header

    order = tmp_path / "a.csv"
    order.write_text("cs,reinforced,iti\nCS+,1,9\nCS-,0,11\nCS-,0,10\nCS+,0,12\n")
    (tmp_path / "p.yaml").write_text(ordered_protocol())
    protocol = load_protocol(tmp_path / "p.yaml")
    schedule = build_schedule(protocol, "01", "day1")
    paths = run_paths(tmp_path / "data", "01", "day1", protocol.task, 1, False)
    header = schedule_header(protocol, schedule, 1)
    assert set(header["schedule_files"]) == {"a.csv"}
    SessionRecord.create(
        paths.session_json, {**header, "end_reason": "aborted: escape", "simulate": True}
    )
    args = argparse.Namespace(resume=True, simulate=True, speed=1.0)
    _check_run_files(args, protocol, paths)  # unchanged: the resume may go on
    order.write_text("cs,reinforced,iti\nCS-,0,11\nCS+,1,9\nCS-,0,10\nCS+,0,12\n")
    edited = load_protocol(tmp_path / "p.yaml")
    assert edited.sha256 == protocol.sha256
    with pytest.raises(LogError, match=r"the order file a\.csv changed since this run started"):
        _check_run_files(args, edited, paths)


def test_resume_refuses_a_replaced_probe_sound(tmp_path):
    """A probe sound's length shapes the schedule (the ITI probes are placed so that they
    end in the ITI's middle half), so replacing the file between a run and its --resume
    (50 ms, then 400 ms of noise) continues another schedule, with a probe 8 times longer
    than the one the run started with: the resume is refused in one line naming the file,
    as for an edited order file. It resumed."""
    import argparse
    import wave

    from pavlov.protocols import build_schedule, load_protocol
    from pavlov.task.log import LogError, run_paths
    from pavlov.task.run_cli import _check_run_files
    from pavlov.task.sidecar import SessionRecord, schedule_header

    def noise(seconds: float) -> None:
        with wave.open(str(tmp_path / "probe.wav"), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(44100)
            out.writeframes(bytes(range(256)) * int(44100 * seconds * 2 / 256))

    noise(0.05)
    text = ordered_protocol().replace(
        "    order: a.csv\n",
        "    trials: 8\n    reinforced: {CS+: 3}\n    iti: {uniform: [8, 12]}\n"
        "    probes: {at: 2, share: 0.5, iti: 2, min_interval: 3, sound: probe.wav}\n",
    )
    (tmp_path / "p.yaml").write_text(text)
    protocol = load_protocol(tmp_path / "p.yaml")
    schedule = build_schedule(protocol, "01", "day1")
    paths = run_paths(tmp_path / "data", "01", "day1", protocol.task, 1, False)
    SessionRecord.create(
        paths.session_json,
        {
            **schedule_header(protocol, schedule, 1),
            "end_reason": "aborted: escape",
            "simulate": True,
        },
    )
    args = argparse.Namespace(resume=True, simulate=True, speed=1.0)
    _check_run_files(args, protocol, paths)  # unchanged: the resume may go on
    noise(0.4)
    replaced = load_protocol(tmp_path / "p.yaml")
    assert replaced.sha256 == protocol.sha256
    lengths = {e.probe_length for e in build_schedule(replaced, "01", "day1").events if e.probes}
    assert len(lengths) == 1 and abs(lengths.pop() - 0.4) < 0.01  # what a resume would play
    with pytest.raises(LogError, match=r"probe\.wav changed since this run started"):
        _check_run_files(args, replaced, paths)
