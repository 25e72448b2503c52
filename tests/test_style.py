"""The code base passes its linter (ruff, configured in pyproject.toml)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_ruff_finds_nothing():
    """`ruff check` reports no problem in any room, test or benchmark."""
    # The ruff installed with the project (its test extra), else one on PATH.
    local = Path(sys.executable).parent / "ruff"
    ruff = str(local) if local.exists() else shutil.which("ruff")
    result = subprocess.run(
        [ruff, "check", "protocols", "stimuli", "task", "analysis", "tests", "benchmarks"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
