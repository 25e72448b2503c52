"""Fixtures for protocol tests: the bundled protocols and a small valid protocol to break."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUNDLED = sorted((REPO / "protocols").glob("*.yaml"))

#: A small valid protocol; tests replace one line of it to make one mistake.
MINIMAL = """\
pavlov: 1
study: Minimal differential conditioning
task: fear
seed: 7
cs:
  roles: [CS+, CS-]
  stimuli:
    blue: {image: cs/blue_square.png}
    yellow: {shape: square, color: "#e8c800"}
us:
  shock:
    type: shock
    train: {pulse_width: 0.002, interval: 0.02, count: 10}
safety:
  max_shocks: 6
  max_train_duration: 0.5
phases:
  acquisition:
    type: acquisition
    trials: 8
    reinforced: {CS+: 3}
    cs_duration: 4
    iti: {uniform: [8, 12]}
  extinction:
    type: extinction
    trials: 8
    cs_duration: 4
    iti: 10
sessions:
  - name: day1
    day: 0
    phases: [acquisition, extinction]
"""


@pytest.fixture
def write(tmp_path):
    """Write protocol text to a file in a temporary folder and return its path."""

    def _write(text: str, name: str = "protocol.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return _write


@pytest.fixture
def minimal() -> str:
    """The text of a small valid protocol."""
    return MINIMAL


@pytest.fixture
def edit():
    """Replace exactly one occurrence of a string (fails loudly if the fixture changed)."""

    def _edit(text: str, old: str, new: str) -> str:
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
        return text.replace(old, new)

    return _edit


@pytest.fixture
def bundled() -> list[Path]:
    """The bundled protocol files."""
    return BUNDLED
