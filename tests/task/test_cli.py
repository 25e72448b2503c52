"""The `pavlov` entry point: every failure is one line with its exit status, never a traceback."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from pavlov.protocols.errors import ProtocolError
from pavlov.task.cli import build_parser, main


def parser_running(func) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pavlov")
    sub = parser.add_subparsers()
    sub.add_parser("go").set_defaults(func=func)
    return parser


def test_pavlov_error_is_one_line_with_its_status(capsys):
    """A PavlovError prints its message on one line and exits with its status."""

    def fail(args):
        raise ProtocolError("p.yaml", 3, "seed", "a seed", "'x'")

    assert main(["go"], parser_running(fail)) == 2
    assert capsys.readouterr().err == "pavlov: p.yaml:3: seed: expected a seed, got 'x'\n"


def test_unexpected_error_is_one_line_not_a_traceback(capsys, monkeypatch):
    """A bug still reaches the user as one line (and exit 1), asking for a report."""
    monkeypatch.delenv("PAVLOV_DEBUG", raising=False)

    def crash(args):
        raise KeyError("boom")

    assert main(["go"], parser_running(crash)) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("pavlov: internal error: KeyError: 'boom'")


def test_debug_shows_the_traceback(monkeypatch):
    """PAVLOV_DEBUG=1 re-raises for developers."""
    monkeypatch.setenv("PAVLOV_DEBUG", "1")

    def crash(args):
        raise KeyError("boom")

    with pytest.raises(KeyError):
        main(["go"], parser_running(crash))


def test_no_command_prints_help_and_exits_2(capsys):
    """`pavlov` alone shows usage on stderr."""
    assert main([]) == 2
    assert "usage: pavlov" in capsys.readouterr().err


def test_every_documented_command_is_registered():
    """validate, schedule, run, calibrate, devices, analyze and recover are all commands."""
    actions = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(actions[0].choices) >= {
        "validate",
        "schedule",
        "run",
        "calibrate",
        "devices",
        "analyze",
        "recover",
    }


def test_console_script_starts_quickly_and_reports_version():
    """The installed `pavlov --version` works as a real process."""
    result = subprocess.run(
        [sys.executable, "-m", "pavlov.task.cli", "--version"], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert result.stdout.startswith("pavlov ")


def test_task_package_docstring_describes_the_room():
    """``pavlov.task``'s docstring describes the room (it said "placeholder")."""
    import pavlov.task

    doc = pavlov.task.__doc__
    assert "placeholder" not in doc.lower() and "run loop" in doc


#: A child that is interrupted (Ctrl-C) while the commands' modules are still importing.
EARLY_INTERRUPT = """\
import sys

class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == "pavlov.analysis.cli":
            raise KeyboardInterrupt
        return None

sys.meta_path.insert(0, Interrupt())
from pavlov.task.cli import main

sys.exit(main(["schedule", "--help"]))
"""


def test_ctrl_c_while_importing_is_one_line_and_130():
    """Ctrl-C before the commands are imported exits 130 with one line, not a traceback."""
    proc = subprocess.run(
        [sys.executable, "-c", EARLY_INTERRUPT], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr == "pavlov: interrupted\n"
