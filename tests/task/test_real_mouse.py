"""Real X mouse events (``xdotool``) on a real ``pavlov run``'s slider under the tests' Xvfb.

``xdotool click`` sends the button's press and release back to back, a click far shorter
than a frame: the slider must still see it (from the window's button-press events), place
the marker there, let a second click move it, and take space as the confirmation.
"""

from __future__ import annotations

import queue
import shutil
import subprocess
import sys
import threading
import time

import pandas as pd
import pytest

pytestmark = pytest.mark.display

#: One post-phase rating of the CS+ on a 0-10 slider with a 20-s window.
PROTOCOL = """\
pavlov: 1
study: Slider proof
task: slider
seed: 9
cs:
  roles: [CS+, CS-]
  stimuli:
    blue: {image: cs/blue_square.png}
    yellow: {image: cs/yellow_square.png}
phases:
  rate:
    type: rating
    rate: [CS+]
    iti: 1
    rating:
      question: How much did you expect a shock?
      scale: [0, 10]
      anchors: [not at all, very much]
      input: slider
      window: 20
sessions:
  - name: s1
    phases: [rate]
"""

#: The window fills the 1024×768 Xvfb screen: x pixel = 512 + x·768 (height units); the
#: scale runs from -0.4 to 0.4 at y = -0.3 (pixel 614).
W, H = 1024, 768
RUN = [sys.executable, "-m", "pavlov.task.cli", "run"]


def pixel(value: float) -> int:
    """Screen x of ``value`` on the 0-10 scale."""
    x = -0.4 + 0.8 * value / 10
    return round(W / 2 + x * H)


@pytest.fixture(scope="module")
def xdotool():
    """The path of ``xdotool`` (installed by .ci/install)."""
    path = shutil.which("xdotool")
    if path is None:
        pytest.fail("xdotool is not installed (apt-get install xdotool); the mouse tests need it")
    return path


def test_short_clicks_place_adjust_and_space_confirms(xvfb, xdotool, tmp_path):
    """Two real clicks (each shorter than a frame) then space: the rating is the second
    click's value, with first-move, placement and confirmation times in that order."""
    path = tmp_path / "slider.yaml"
    path.write_text(PROTOCOL)
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [*RUN, str(path), "-p", "01", "--windowed", "--data", str(data)],
        env=xvfb,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    err: list[str] = []

    def read() -> None:
        for line in proc.stderr:
            err.append(line)
            lines.put(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()

    def xdo(*args: str) -> None:
        subprocess.run([xdotool, *args], env=xvfb, check=True)

    try:
        deadline = time.monotonic() + 60
        while True:  # the keyboard check asks the experimenter, on the console
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            if "keyboard check" in line:
                break
        time.sleep(1.0)
        xdo("key", "space")
        time.sleep(3.0)  # the scale is up (window 20 s); the marker is hidden, unmoved
        y = str(round(H / 2 + 0.3 * H))
        xdo("mousemove", str(pixel(2.0)), y)
        time.sleep(0.5)
        xdo("click", "1")
        time.sleep(0.5)
        xdo("mousemove", str(pixel(8.0)), y)
        time.sleep(0.5)
        xdo("click", "1")
        time.sleep(0.5)
        xdo("key", "space")
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(timeout=5)
    assert proc.returncode == 0, "".join(err)
    (events,) = data.glob("sub-*/ses-*/*/*_events.tsv")
    log = pd.read_csv(events, sep="\t", na_values="n/a", keep_default_na=False)
    row = log[log.trial_type == "rating"].iloc[0]
    assert row.rating == pytest.approx(8.0, abs=0.1)
    assert 0 < row.rating_move < row.rating_rt < row.rating_confirm < 20
    assert row.rating_rt - row.rating_move > 0.8  # the second click, not the first
