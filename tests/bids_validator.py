"""Run the official BIDS validator (bids-validator-deno, from PyPI) on a data folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

VALIDATOR = Path(sys.executable).with_name("bids-validator-deno")


def validate(root: Path) -> list[dict]:
    """The validator's issues (errors and warnings) for ``root``."""
    if not VALIDATOR.exists():
        pytest.fail("bids-validator-deno is not installed (pip install 'pavlov[physio]')")
    proc = subprocess.run(
        [str(VALIDATOR), str(root), "--format", "json"], capture_output=True, text=True, timeout=120
    )
    return json.loads(proc.stdout)["issues"]["issues"]


def errors(root: Path) -> list[tuple]:
    """Its errors only: (code, subCode, location)."""
    return [
        (i["code"], i.get("subCode"), i.get("location"))
        for i in validate(root)
        if i["severity"] == "error"
    ]
