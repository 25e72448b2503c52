"""Without --participant, on a machine with a display, PsychoPy's participant dialog asks for
the ID: a real Qt dialog under the tests' Xvfb, answered with real X key events (xdotool)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.display

REPO = Path(__file__).resolve().parents[2]
PROTOCOL = REPO / "protocols" / "aversive_pavlovian_fmri.yaml"


def find_window(env: dict, name: str, timeout: float = 60.0) -> str:
    """The X window id of the first window called ``name`` (waiting for it to appear)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = subprocess.run(
            ["xdotool", "search", "--name", f"^{name}$"], env=env, capture_output=True, text=True
        ).stdout.split()
        if found:
            return found[0]
        time.sleep(0.3)
    raise AssertionError(f"no window called {name!r} appeared in {timeout:.0f} s")


def focus(env: dict, window: str) -> None:
    """Give the window the keyboard (Xvfb has no window manager to activate it)."""
    time.sleep(0.5)  # let Qt map the dialog and its text field first
    xdotool(env, "windowfocus", "--sync", window)


def xdotool(env: dict, *args: str) -> None:
    subprocess.run(["xdotool", *args], env=env, check=True, timeout=30)


def start_run(env: dict, data: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pavlov.task.cli",
            "run",
            str(PROTOCOL),
            "--simulate",
            "--speed",
            "200",
            "--windowed",
            "--data",
            str(data),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_dialog_asks_for_the_participant(xvfb, tmp_path):
    """The ID typed into the dialog names the session's files."""
    data = tmp_path / "data"
    run = start_run(xvfb, data)
    window = find_window(xvfb, "pavlov")
    focus(xvfb, window)
    xdotool(xvfb, "type", "--delay", "50", "23")
    xdotool(xvfb, "key", "Return")
    _out, err = run.communicate(timeout=180)
    assert run.returncode == 0, err[-2000:]
    assert (
        data / "sub-23" / "ses-scan" / "func" / "sub-23_ses-scan_task-pavlovrev_run-1_events.tsv"
    ).exists()


def test_cancelled_dialog_is_one_line_and_writes_nothing(xvfb, tmp_path):
    """Escape in the dialog cancels: one line, exit 2, no data folder."""
    data = tmp_path / "data"
    run = start_run(xvfb, data)
    window = find_window(xvfb, "pavlov")
    focus(xvfb, window)
    xdotool(xvfb, "key", "Escape")
    _out, err = run.communicate(timeout=120)
    assert run.returncode == 2
    assert err.strip().splitlines()[-1] == (
        "pavlov: --participant: expected a participant ID, got none (dialog cancelled)"
    )
    assert not data.exists()
