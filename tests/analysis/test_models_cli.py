"""Tests for pavlov.analysis.models_cli: ``pavlov recover``."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import pytest

from pavlov.analysis.models_cli import register
from pavlov.task.cli import main

PROTOCOL = str(Path(__file__).resolve().parents[2] / "protocols" / "fear_extinction_recall.yaml")


def test_register_adds_recover_with_defaults():
    """register() adds 'recover' with the documented options and a func."""
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["recover", "x.yaml"])
    assert (args.model, args.participants, args.response, args.seed) == ("rw", 50, "rating", 0)
    assert args.out is None and callable(args.func)


def test_recover_prints_r_and_writes_csv(tmp_path, capsys):
    """`pavlov recover` prints r per parameter and writes the true/estimated table."""
    out = tmp_path / "recovery.csv"
    argv = ["recover", PROTOCOL, "--model", "rw2", "--participants", "12", "--seed", "2"]
    status = main([*argv, "--starts", "3", "--out", str(out)])
    assert status == 0
    printed = capsys.readouterr().out
    assert "model rw2, rating" in printed and "12 participants x 66 trials" in printed
    assert any(line.startswith("alpha_plus ") for line in printed.splitlines())
    table = pd.read_csv(out)
    assert list(table.columns) == ["participant", "parameter", "true", "estimated"]
    assert len(table) == 24
    assert not list(tmp_path.glob(".*.tmp"))


def test_recover_scr_hybrid(capsys):
    """The SCR response and the hybrid model run from the command line."""
    argv = ["recover", PROTOCOL, "--model", "hybrid", "--response", "scr"]
    assert main([*argv, "--participants", "5", "--starts", "2"]) == 0
    printed = capsys.readouterr().out
    for name in ("kappa", "eta", "alpha0"):
        assert f"\n{name} " in printed


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["recover", "missing.yaml"], "missing.yaml"),
        (
            ["recover", PROTOCOL, "--participants", "2"],
            "--participants: expected a whole number >= 3",
        ),
        (["recover", PROTOCOL, "--participants", "3", "--out", "/nonexistent/dir/x.csv"], "--out"),
    ],
)
def test_recover_errors_are_one_line(argv, message, capsys):
    """Bad protocols, counts and output folders print one line and exit non-zero."""
    status = main(argv)
    err = capsys.readouterr().err
    assert status != 0
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--seed", "-1", "expected a whole number >= 0 and < 2**32"),
        ("--starts", "0", "expected a whole number >= 1"),
        ("--participants", "9" * 30, "expected a whole number >= 1 and <= 1,000,000,000"),
        ("--draws", "x", "expected a whole number >= 1"),
    ],
)
def test_recover_numbers_are_checked_as_they_are_parsed(option, value, expected, capsys):
    """Out-of-range numbers are argparse usage errors (exit 2, one line), as in analyze."""
    with pytest.raises(SystemExit) as stop:
        main(["recover", PROTOCOL, option, value])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"argument {option}: {expected}" in err


def test_building_the_parser_leaves_scipy_stats_unimported():
    """Every command builds the whole parser; it does not import scipy.stats (0.6 s), so
    `pavlov validate`, `schedule` and `run` start without paying for the fits' imports."""
    import subprocess
    import sys

    code = (
        "import sys; from pavlov.task.cli import build_parser; build_parser(); "
        "print('scipy.stats' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.split() == ["False"], done.stderr
