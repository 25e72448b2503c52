"""The experimenter's console (pavlov.task.console): what the live panel shows."""

from __future__ import annotations

import io

from pavlov.task.console import RichConsole, Status, status_rows


def test_a_new_event_is_drawn_at_once():
    """An update that starts a new event is drawn at once, not held back by the once-a-second
    throttle (the panel showed "phase -" through a whole instruction screen); updates within
    the same event still wait for the second."""

    class Live:  # stands in for rich.live.Live: records what would be drawn
        def __init__(self):
            self.drawn = []

        def update(self, renderable, refresh=False):
            self.drawn.append(renderable)

        def stop(self):
            pass

    console = RichConsole(io.StringIO())
    console.start("study: sub-01 ses-1")
    console._live = live = Live()
    console.update(Status(phase="acquisition", what="instructions 1", event=1, events=9))
    console.update(Status(phase="acquisition", what="instructions 1", event=1, events=9, note="x"))
    console.update(Status(phase="acquisition", what="trial 1", event=2, events=9))
    assert len(live.drawn) == 2
    assert "acquisition" in str(live.drawn[0].renderable)


def test_rows_without_a_scanner_have_no_pulse_count():
    """No "pulses" line in a study without a scanner; ratings and the next shock shown."""
    status = Status(
        phase="acquisition",
        trial=3,
        trials=48,
        last_rating="7 (CS+, acquisition)",
        missed_ratings=1,
        ratings=3,
        next_us="shock (acquisition trial 5) in 00:12",
    )
    rows = dict(status_rows(status))
    assert "pulses" not in rows
    assert rows["trial"] == "3/48"
    assert rows["rating"] == "last 7 (CS+, acquisition); missed 1/3"
    assert rows["next US"] == "shock (acquisition trial 5) in 00:12"
    assert dict(status_rows(Status(scanner=True, pulses=12)))["pulses"] == "12"
