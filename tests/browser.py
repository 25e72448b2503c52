"""Open an HTML file pavlov wrote in a real headless browser (Debian's ``chromium``).

Used by the tests of every HTML output (the schedule's timeline, the analysis report): the
page must load from a file with the network off, its scripts must run, and nothing may reach
the browser's console (an uncaught error, a blocked request, a log line).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

#: What Chromium prints on stderr (with ``--enable-logging=stderr``) for each console message.
CONSOLE = re.compile(r":CONSOLE[:(]\d*\)?\]? ?(.*)$")

#: The flags that keep a headless Chromium from reaching the network or its services.
FLAGS = (
    "--headless",
    "--no-sandbox",  # tests run as root in CI containers, where the sandbox cannot start
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
)


@dataclass(frozen=True)
class Page:
    """A page as the browser left it.

    Attributes
    ----------
    dom : str
        The document after its scripts ran (``--dump-dom``).
    console : list of str
        Every console message (errors, warnings, logs), in order.
    """

    dom: str
    console: list[str]


def chromium() -> str:
    """The browser's path; skips the test where none is installed (fails under CI, where
    ``.ci/install`` installs it)."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    message = "needs a headless browser: apt-get install chromium"
    if os.environ.get("CI"):
        pytest.fail(f"CI must have chromium ({message})", pytrace=False)
    pytest.skip(message)


def open_page(path: Path, profile: Path) -> Page:
    """Load ``path`` in headless Chromium and return its DOM and console messages.

    Parameters
    ----------
    path : Path
        An HTML file.
    profile : Path
        An empty folder for the browser's profile (a test's ``tmp_path``).
    """
    result = subprocess.run(
        [
            chromium(),
            *FLAGS,
            f"--user-data-dir={profile}",
            "--dump-dom",
            Path(path).resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    console = [m.group(1) for m in map(CONSOLE.search, result.stderr.splitlines()) if m]
    return Page(dom=result.stdout, console=console)
