"""The code base passes its linters: ruff, import-linter (rooms depend downward) and mypy,
all configured in pyproject.toml."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    """The tool installed with the project (its test extra), else one on PATH."""
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]'")
    return found


@pytest.fixture(scope="module")
def house() -> Path:
    """A folder holding ``pavlov/<room>`` links to the rooms, as pyproject maps them.

    The editable install finds ``pavlov.<room>`` through an import hook that static tools
    (import-linter, mypy) cannot follow; a plain package tree of links they can. It stays
    in the same place (git ignores it) so that mypy's cache holds from one run to the next.
    """
    # pyproject's one-line `package-dir = { "pavlov.x" = "x", ... }` (tomllib is 3.11+)
    line = re.search(r"^package-dir = \{(.*)\}$", (REPO / "pyproject.toml").read_text(), re.M)
    rooms = dict(re.findall(r'"([\w.]+)" = "(\w+)"', line.group(1)))
    assert "pavlov.common" in rooms and "pavlov.analysis" in rooms, rooms
    root = REPO / ".mypy_cache" / "house"
    (root / "pavlov").mkdir(parents=True, exist_ok=True)
    for link in (root / "pavlov").iterdir():
        link.unlink()  # a room removed from pyproject must not linger
    for package, folder in rooms.items():
        (root / package.replace(".", os.sep)).symlink_to(REPO / folder, target_is_directory=True)
    return root


def lint(*command: str, cwd: Path = REPO) -> str:
    """Run a linter installed with the project; fail with its report unless it exits 0."""
    result = subprocess.run(
        [_tool(command[0]), *command[1:]],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(cwd)},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_ruff_finds_nothing():
    """`ruff check` reports no problem in any room, test or benchmark."""
    rooms = ("common", "protocols", "stimuli", "task", "analysis", "tests", "benchmarks")
    lint("ruff", "check", *rooms)


def test_rooms_depend_downward(house):
    """`lint-imports` keeps every contract in pyproject (room order, no cycles)."""
    report = lint("lint-imports", "--no-cache", str(REPO / "pyproject.toml"), cwd=house)
    assert "0 broken" in report, report


def test_types_check(house):
    """`mypy -p pavlov` finds no type error in any room (pyproject's [tool.mypy])."""
    config = ("--config-file", str(REPO / "pyproject.toml"))
    report = lint(
        "mypy", *config, "--cache-dir", str(REPO / ".mypy_cache"), "-p", "pavlov", cwd=house
    )
    assert "Success: no issues found" in report, report
