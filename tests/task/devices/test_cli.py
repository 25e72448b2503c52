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


def test_calibrate_input_ending_is_one_line_and_saves_nothing(monkeypatch, capsys, tmp_path):
    """If the terminal's input ends mid work-up, one line, exit 2, and no record is written."""
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n"))
    status = main(["calibrate", str(PROTOCOL), "-p", "09", "--data", str(tmp_path)])
    err = capsys.readouterr().err
    assert status == 2
    assert err == (
        "pavlov: calibrate: the terminal's input ended before the work-up finished; nothing "
        "was saved (run it at an interactive terminal)\n"
    )
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
