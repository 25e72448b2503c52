"""The drop-aware screen (kinds.present.hold): a screen ends at its clock time."""

from __future__ import annotations

from pavlov.protocols.kinds.present import hold
from pavlov.protocols.kinds.screen import Scene

PERIOD = 0.01


class Stage:
    """Flips on a 100-Hz grid; ``late`` maps a flip number to refreshes it loses."""

    def __init__(self, late=None, start=1.0):
        self.period = PERIOD
        self.late = late or {}
        self.time = start
        self.flips: list[tuple[float, Scene]] = []

    def frame(self, scene):
        self.time += PERIOD * (1 + self.late.get(len(self.flips), 0))
        self.flips.append((self.time, scene))
        return self.time

    def refresh_index(self, t, t0, f):
        return max(f, round((t - t0) / self.period))


SHOW, CLOSE = Scene(text="on"), Scene(fixation=True)


def test_a_screen_of_n_refreshes_then_its_closing_scene():
    """Without drops: n flips of the screen, then the closing scene on refresh n."""
    stage = Stage()
    times, end = hold(stage, SHOW, 5, closing=CLOSE)
    assert [s for _, s in stage.flips] == [SHOW] * 5 + [CLOSE]
    assert round((end - times[0]) / PERIOD) == 5


def test_dropped_frames_do_not_stretch_the_screen():
    """Refreshes lost mid-screen shorten the flip count, not the time: it still ends on
    refresh n."""
    stage = Stage(late={2: 3})
    times, end = hold(stage, SHOW, 10, closing=CLOSE)
    assert round((end - times[0]) / PERIOD) == 10
    assert len(times) == 10 - 3


def test_a_stall_past_the_end_ends_on_the_late_flip():
    """A flip that lands past the end is the end: no extra refresh is added after it."""
    stage = Stage(late={3: 8})
    times, end = hold(stage, SHOW, 6, closing=CLOSE)
    assert end == times[-1] and round((end - times[0]) / PERIOD) == 3 + 8
    assert all(s == SHOW for _, s in stage.flips)


def test_counting_from_the_planned_onset_keeps_the_end_on_time():
    """With ``origin``, a first flip 2 refreshes late still ends at origin + n refreshes."""
    stage = Stage(start=1.0)
    origin = 1.0 + PERIOD - 2 * PERIOD  # the screen was due two refreshes before its flip
    times, end = hold(stage, SHOW, 10, closing=CLOSE, origin=origin)
    assert round((end - origin) / PERIOD) == 10
    assert round((end - times[0]) / PERIOD) == 8


def test_stop_ends_early_with_or_without_the_closing_refresh():
    """``stop`` ends the screen; the closing scene follows unless ``close_early`` is off."""
    stage = Stage()
    times, end = hold(stage, SHOW, 50, closing=CLOSE, stop=lambda t: len(stage.flips) == 4)
    assert len(times) == 4 and stage.flips[-1][1] == CLOSE
    stage = Stage()
    times, end = hold(
        stage, SHOW, 50, closing=CLOSE, stop=lambda t: len(stage.flips) == 4, close_early=False
    )
    assert end == times[-1] and len(stage.flips) == 4


def test_a_scene_function_sees_the_refresh_it_will_show():
    """A countdown's scene function is called with the index of the refresh being drawn."""
    stage = Stage(late={1: 2})
    seen: list[int] = []

    def scene(index):
        seen.append(index)
        return SHOW

    hold(stage, scene, 6, closing=CLOSE)
    assert seen == [0, 1, 4, 5]
