"""The device commands through the top-level ``pavlov`` CLI."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from pavlov.task.cli import main


def test_devices_check_simulated(capsys):
    """`pavlov devices check --yes` with simulated devices passes and says so."""
    status = main(["devices", "check", "--yes", "--listen", "0.05", "--tr", "0.01"])
    out = capsys.readouterr().out
    assert status == 0
    assert "ok    shock simulated" in out


def test_bad_spec_one_line(capsys):
    """A bad --shock is one line on stderr with exit status 2."""
    status = main(["devices", "check", "--yes", "--shock", "paralel:/dev/parport0"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and "Did you mean 'parallel'" in err


PROTOCOL = Path(__file__).resolve().parents[3] / "protocols" / "retrieval_extinction.yaml"


def test_calibrate_against_a_ttl_box(monkeypatch, capsys, tmp_path, pty_peer):
    """`pavlov calibrate` on a bundled protocol: one train per step on the wire, record saved."""
    from pavlov.protocols import load_protocol
    from pavlov.task.devices.calibrate import load_calibration

    train = load_protocol(PROTOCOL).us["shock"].train
    # step 1: accept 0.5 mA, rated 3; step 2: typed 1.5 mA, rated 6 (target); final 1.4 mA.
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n3\n1.5\n6\n1.4\n"))
    argv = ["calibrate", str(PROTOCOL), "--participant", "07", "--data", str(tmp_path)]
    status = main([*argv, "--shock", f"serial:{pty_peer.path}"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "Final intensity: 1.4 mA" in out
    values = pty_peer.values()
    assert values.count(1) == 2 * train.count and values[-1] == 0
    record = load_calibration(tmp_path, "07")
    assert record["final_ma"] == 1.4 and record["stopped"] == "target reached"
    assert [s["intensity_ma"] for s in record["steps"]] == [0.5, 1.5]
    # A second work-up shows the first and is added to the history.
    monkeypatch.setattr(sys, "stdin", io.StringIO("q\n"))
    assert main(argv) == 0
    assert "already has 1 work-up(s); latest final intensity 1.4 mA" in capsys.readouterr().out
    assert load_calibration(tmp_path, "07")["n_workups"] == 2


def test_calibrate_input_ending_saves_the_shocks_given_marked_incomplete(
    monkeypatch, capsys, tmp_path
):
    """If the terminal's input ends after a test shock, one line, exit 2, and the work-up is
    saved marked incomplete (the shock was given), with no final intensity."""
    import json

    monkeypatch.setattr(sys, "stdin", io.StringIO("\n"))
    status = main(["calibrate", str(PROTOCOL), "-p", "09", "--data", str(tmp_path)])
    captured = capsys.readouterr()
    assert status == 2
    path = tmp_path / "sub-09" / "sub-09_calibration.json"
    assert captured.err == (
        "pavlov: calibrate: the terminal's input ended before the work-up finished (run it at "
        f"an interactive terminal); the 1 test shock(s) given are saved in {path}, marked "
        "incomplete (no final intensity): run calibrate again to finish\n"
    )
    assert "Step 1: shock delivered (0.5 mA, 10 pulse(s))." in captured.out
    (workup,) = json.loads(path.read_text())["workups"]
    assert workup["complete"] is False and workup["final_ma"] is None
    assert [s["intensity_ma"] for s in workup["steps"]] == [0.5]
    assert workup["stopped"].startswith("interrupted: calibrate: the terminal's input ended")


def test_calibrate_input_ending_before_any_shock_saves_nothing(monkeypatch, capsys, tmp_path):
    """Input ending before the first shock: one line, exit 2, no record."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    status = main(["calibrate", str(PROTOCOL), "-p", "09", "--data", str(tmp_path)])
    assert status == 2 and capsys.readouterr().err.count("\n") == 1
    assert not (tmp_path / "sub-09").exists()


def test_devices_check_without_an_answer_skips_the_shock_test(monkeypatch, capsys):
    """No answer to "is the stimulator output disabled?" means the shock line is not tested."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    status = main(["devices", "check", "--listen", "0.05", "--tr", "0.01"])
    out = capsys.readouterr().out
    assert status != 0
    assert (
        "FAIL  shock simulated: not tested: the stimulator output was not confirmed disabled" in out
    )


def test_devices_check_rejects_a_zero_tr(capsys):
    """`--tr 0` is a usage error in one line, not an internal error."""
    with pytest.raises(SystemExit) as stopped:
        main(["devices", "check", "--yes", "--tr", "0"])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "pavlov devices check: error: argument --tr: expected a number > 0, got '0'"
    )


def test_devices_check_reports_every_device_of_a_lab(capsys, tmp_path, pty_peer):
    """A lab file whose shock port is missing: the shock is reported FAIL, the marker line
    (a real serial port) and the trigger are still checked and reported, and the exit
    status is non-zero."""
    lab = tmp_path / "lab.yaml"
    lab.write_text(
        "lab: test room\n"
        "shock:\n  device: serial:/dev/pavlov-no-such-port\n"
        f"markers:\n  device: serial:{pty_peer.path}\n"
    )
    status = main(["devices", "check", "--lab", str(lab), "--yes", "--listen", "0.05"])
    out = capsys.readouterr().out
    assert status == 3
    lines = [line for line in out.splitlines() if line.startswith(("ok    ", "FAIL  "))]
    assert len(lines) == 3
    assert lines[0].startswith(f"ok    markers serial:{pty_peer.path}")
    assert lines[1].startswith("ok    trigger")
    assert lines[2].startswith("FAIL  shock serial:/dev/pavlov-no-such-port")
    assert 60 in pty_peer.values()  # the test marker code reached the port
