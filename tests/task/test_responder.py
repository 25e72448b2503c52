"""The real participant's slider (pavlov.task.responder) on a scripted mouse and a frame clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from pavlov.protocols import load_protocol
from pavlov.task.display import FrameClock, RecordingDisplay
from pavlov.task.responder import ParticipantResponder

PROTOCOLS = Path(__file__).resolve().parents[2] / "protocols"


@pytest.fixture(scope="module")
def slider():
    """The fear_extinction_recall expectancy slider (0-10)."""
    protocol = load_protocol(PROTOCOLS / "fear_extinction_recall.yaml")
    spec = next(p.rating for p in protocol.phases.values() if p.rating is not None)
    assert spec.input == "slider" and (spec.low, spec.high) == (0, 10)
    return spec


def frames(display, responder, n, keys=None):
    """Flip ``n`` times, polling the slider after each flip; return the states."""
    keys = keys or {}
    states = []
    for i in range(n):
        t = display.flip()
        states.append(responder.poll_rating(t, [(k, t) for k in keys.get(i, [])]))
    return states


def test_marker_hidden_until_the_mouse_moves(slider):
    """The marker is not drawn where the mouse was left: hidden until the first move."""
    clock = FrameClock(0.0)
    # The previous rating left the mouse far right; the pointer is centred at onset.
    display = RecordingDisplay(clock, mouse_at=[(-1.0, 0.9, False), (0.2, 0.5, False)])
    responder = ParticipantResponder(display)
    responder.start_rating(None, slider, clock.now())
    states = frames(display, responder, 30)
    assert all(s.marker is None for s in states[:11])  # before t = 0.2 (frame 12)
    assert states[12].marker == pytest.approx(7.5)


def test_clicks_place_then_adjust_then_confirm(slider):
    """A click places the marker, a second click moves it, space confirms; the answer
    keeps the first-move, last-click and confirm times."""
    clock = FrameClock(0.0)
    script = [(0.095, -0.2, False), (0.205, -0.5, True), (0.41, 0.5, True)]
    display = RecordingDisplay(clock, mouse_at=script)
    responder = ParticipantResponder(display)
    responder.start_rating(None, slider, 0.0)
    states = frames(display, responder, 40, keys={35: ["space"]})
    placed = states[15]
    assert placed.answer is None and placed.pending.value == pytest.approx(2.5)
    assert placed.pending.time == pytest.approx(0.205)  # the click's own time, between frames
    assert states[30].pending.value == pytest.approx(7.5)
    answer = states[35].answer
    assert answer.value == pytest.approx(7.5)
    assert answer.time == pytest.approx(0.41)
    assert answer.first_move == pytest.approx(6 / 60)  # the poll that first saw the move
    assert answer.confirmed == pytest.approx(36 / 60)


def test_space_without_a_placement_does_not_answer(slider):
    """Space before any click confirms nothing (there is no value yet)."""
    clock = FrameClock(0.0)
    display = RecordingDisplay(clock, mouse_at=[(0.05, 0.3, False)])
    responder = ParticipantResponder(display)
    responder.start_rating(None, slider, 0.0)
    states = frames(display, responder, 10, keys={5: ["space"]})
    assert all(s.answer is None and s.pending is None for s in states)
