"""What the participant reads: the texts a real PsychoPy window draws under the tests' Xvfb.

A whole session (instructions, a wait and a rest with the protocol's own texts, trials)
is played on a real window at ``--speed 20``; the display reports the texts each flip
showed. Only the protocol's words may reach the participant's screen.
"""

from __future__ import annotations

import pytest

from pavlov.protocols import build_schedule, load_protocol
from pavlov.stimuli.check import prepare_stimuli
from pavlov.task.console import RecordingConsole
from pavlov.task.devices.simulated import SimulatedMarkers
from pavlov.task.log import EventLog
from pavlov.task.runner import run_session
from pavlov.task.simulated_participant import SimulatedParticipant

pytestmark = pytest.mark.display

PROTOCOL = """\
pavlov: 1
study: Screen words
task: words
seed: 4
cs:
  roles: [CS+, CS-]
  stimuli:
    blue: {image: cs/blue_square.png}
    yellow: {image: cs/yellow_square.png}
us:
  noise:
    type: image
    file: cs/green_square.png
    duration: 0.2
phases:
  welcome:
    type: instructions
    text: Welcome. Press space to begin.
    duration: 2
  pause:
    type: wait
    duration: 20
    countdown: true
    text: Relax for a moment.
  breathe:
    type: rest
    duration: 20
    text: Breathe slowly.
  acquisition:
    type: acquisition
    instructions: Watch the squares.
    trials: {CS+: 1, CS-: 1}
    reinforced: {CS+: 1}
    cs_duration: 2
    iti: 4
sessions:
  - name: s1
    phases: [welcome, pause, breathe, acquisition]
"""

SPEED = 20.0


class Keyboard:
    """A keyboard whose space bar is pressed at the third poll."""

    backend = "fake"

    def __init__(self) -> None:
        self.polls = 0

    def clear(self) -> None:
        self.polls = 0

    def poll_keys(self):
        self.polls += 1
        return [("space", 0.0)] if self.polls == 3 else []


@pytest.fixture(scope="module")
def window(xvfb):
    """A real PsychoPy window (320×240) for the module."""
    from pavlov.task.psychopy_display import PsychopyDisplay

    display = PsychopyDisplay(None, fullscr=False, size=(320, 240))
    yield display
    display.close()


def test_participant_reads_only_the_protocols_words(window, tmp_path):
    """Instructions, the wait's and the rest's texts are the protocol's, each shown during
    its own event, and no prompt the protocol did not write appears."""
    path = tmp_path / "words.yaml"
    path.write_text(PROTOCOL)
    protocol = load_protocol(path)
    schedule = build_schedule(protocol, "01", "s1")
    window.load(protocol, schedule, prepare_stimuli(protocol, schedule))
    shown: list[tuple[float, tuple[str, ...]]] = []
    flip = window.flip

    def flip_and_read() -> float:
        t = flip()
        shown.append((t, tuple(window.shown_texts)))
        return t

    window.flip = flip_and_read
    clock = type("Clock", (), {"now": staticmethod(window._now)})()
    log = EventLog.create(tmp_path / "events.tsv")
    try:
        result = run_session(
            schedule,
            protocol,
            display=window,
            clock=clock,
            trigger=None,
            shock=None,
            markers=SimulatedMarkers(clock),
            responder=SimulatedParticipant(1, SPEED),
            log=log,
            console=RecordingConsole(),
            speed=SPEED,
        )
    finally:
        log.close()
        del window.flip
    assert result.end_reason == "completed"
    texts = {text for _, frame in shown for text in frame}
    assert texts == {
        "Welcome. Press space to begin.",
        "Relax for a moment.",
        "Breathe slowly.",
        "Watch the squares.",
    }
    import pandas as pd

    rows = pd.read_csv(tmp_path / "events.tsv", sep="\t", na_values="n/a", keep_default_na=False)
    for kind, words in (("wait", "Relax for a moment."), ("rest", "Breathe slowly.")):
        row = rows[rows.trial_type == kind].iloc[0]
        inside = [
            frame
            for t, frame in shown
            if row.onset + 1 < (t - result.zero) * SPEED < row.onset + row.duration - 1
        ]
        assert inside and all(frame == (words,) for frame in inside)


def test_keyboard_check_asks_the_experimenter_not_the_participant(window):
    """The keyboard self-test's request goes to the console; the participant's screen
    shows no text while it waits."""
    from pavlov.task.keyboard import check_keyboard

    said: list[str] = []
    seen: list[tuple[str, ...]] = []
    flip = window.flip

    def flip_and_read() -> float:
        t = flip()
        seen.append(tuple(window.shown_texts))
        return t

    window.flip = flip_and_read
    try:
        check_keyboard(window, Keyboard(), timeout=5, say=said.append)
    finally:
        del window.flip
    assert len(seen) >= 3 and all(frame == () for frame in seen)
    assert len(said) == 1 and "press space" in said[0]
