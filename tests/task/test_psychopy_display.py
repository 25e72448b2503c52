"""The PsychoPy display in a real window under the tests' Xvfb: what each scene puts on screen.

One 320×240 window (4:3, like the context images) serves the module. Each test draws a
scene into the back buffer and reads it back with ``win.getMovieFrame(buffer='back')``.
Positions are in PsychoPy ``height`` units: pixel x = W/2 + x·H, pixel y = H/2 − y·H.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
from PIL import Image

from pavlov.protocols import build_schedule, load_protocol
from pavlov.stimuli.check import prepare_stimuli
from pavlov.stimuli.resolve import STIMULI_ROOT
from pavlov.task.display import RatingView, Scene

pytestmark = pytest.mark.display

W, H = 320, 240
GREY = (128, 128, 128)  # PsychoPy rgb (0, 0, 0)

PROTOCOL = """\
pavlov: 1
study: Display proof
task: display
seed: 1
cs:
  roles: [CS+, CS-]
  stimuli:
    blue: {image: cs/blue_square.png}
    yellow: {image: cs/yellow_square.png}
contexts:
  roles: [A, B]
  stimuli:
    room: {image: contexts/room_a.png}
    plain: {color: "#3050a0"}
phases:
  habituation:
    type: habituation
    trials: 1
    cs_duration: 1
    iti: 1
    context: A
    rating:
      question: How much do you expect a shock?
      scale: [0, 10]
      anchors: [not at all, very much]
      input: slider
      onset: 0
      window: 1
  extinction:
    type: extinction
    trials: 1
    cs_duration: 1
    iti: 1
    context: B
sessions:
  - name: s1
    phases: [habituation, extinction]
"""


@pytest.fixture(scope="module")
def session(xvfb, tmp_path_factory):
    """A PsychopyDisplay with the protocol's stimuli loaded, and the protocol."""
    from pavlov.task.psychopy_display import PsychopyDisplay

    path = tmp_path_factory.mktemp("display") / "display.yaml"
    path.write_text(PROTOCOL)
    protocol = load_protocol(path)
    schedule = build_schedule(protocol, "01", "s1")
    display = PsychopyDisplay(None, fullscr=False, size=(W, H))
    display.load(protocol, schedule, prepare_stimuli(protocol, schedule))
    yield display, protocol
    display.close()


def shot(display, scene: Scene) -> np.ndarray:
    """Draw ``scene`` and return the back buffer as an (H, W, 3) array; then clear it."""
    display.draw(scene)
    image = np.asarray(display.screenshot().convert("RGB")).astype(int)
    display.win.clearBuffer()
    return image


def pixel(x: float, y: float) -> tuple[int, int]:
    """(row, column) of the point (x, y) in height units."""
    return round(H / 2 - y * H), round(W / 2 + x * H)


def close_to(actual, expected, tolerance: int = 6) -> bool:
    return all(abs(int(a) - int(e)) <= tolerance for a, e in zip(actual, expected, strict=True))


def test_fixation_cross_at_the_centre(session):
    """A fixation scene is white at the centre and on the cross's arms, grey elsewhere."""
    display, _ = session
    image = shot(display, Scene(fixation=True))
    assert image.shape == (H, W, 3)
    assert close_to(image[pixel(0, 0)], (255, 255, 255))
    # The cross is 0.05 high: its arms reach ±0.02, its corners are background.
    for point in ((0.02, 0), (-0.02, 0), (0, 0.02), (0, -0.02)):
        assert close_to(image[pixel(*point)], (255, 255, 255)), point
    assert close_to(image[pixel(0.02, 0.02)], GREY)
    assert close_to(image[pixel(0.3, 0.3)], GREY)


def test_cs_image_colour_at_the_centre(session):
    """The CS image is drawn at the centre in its own colour, with no fixation over it."""
    display, _ = session
    blue = shot(display, Scene(cs="blue", fixation=True))
    assert close_to(blue[pixel(0, 0)], (40, 90, 220))
    yellow = shot(display, Scene(cs="yellow"))
    assert close_to(yellow[pixel(0, 0)], (235, 200, 40))
    # 0.4 high: inside at ±0.15 (the square's colour), background at ±0.3.
    assert close_to(blue[pixel(0.15, -0.15)], (40, 90, 220))
    assert close_to(blue[pixel(0.3, 0)], GREY)


def test_context_fills_the_window_to_its_border(session):
    """An image context shows its pixels at the border, a colour context its colour; CS on top."""
    display, _ = session
    room = np.asarray(Image.open(STIMULI_ROOT / "contexts" / "room_a.png").convert("RGB"))
    scale = room.shape[0] / H  # the image is scaled to the window (same 4:3 aspect)
    image = shot(display, Scene(context="room", cs="blue"))
    for row, col in ((3, 3), (3, W // 2), (H - 4, 3), (H // 2, W - 4)):
        expected = room[round(row * scale), round(col * scale)]
        assert close_to(image[row, col], expected, tolerance=12), (row, col)
    assert close_to(image[pixel(0, 0)], (40, 90, 220))
    plain = shot(display, Scene(context="plain", fixation=True))
    for row, col in ((2, 2), (H - 3, W - 3), (2, W - 3)):
        assert close_to(plain[row, col], (0x30, 0x50, 0xA0)), (row, col)
    assert close_to(plain[pixel(0, 0)], (255, 255, 255))


def test_rating_scale_drawn(session):
    """A rating view draws line, question, anchors and an orange marker (lime once answered)."""
    display, protocol = session
    spec = protocol.phases["habituation"].rating
    y = -0.3  # the scale line
    empty = shot(display, Scene(cs="blue"))
    moving = shot(display, Scene(cs="blue", rating=RatingView(spec, marker=7.5)))
    answered = shot(display, Scene(cs="blue", rating=RatingView(spec, 7.5, answered=True)))
    row, _ = pixel(0, y)
    band = moving[row - 2 : row + 3]
    for x in (-0.35, -0.1, 0.1):
        column = pixel(x, y)[1]
        assert band[:, column].max() >= 200, x  # the white line
        assert (empty[row - 2 : row + 3, column] == GREY).all(), x
    marker = pixel(0.4 * (2 * 7.5 / 10 - 1), y)
    assert close_to(moving[marker], (255, 165, 0), tolerance=10)
    assert close_to(answered[marker], (0, 255, 0), tolerance=10)
    # Question (above the line) and anchors (below it): text pixels that differ from grey.
    question = moving[pixel(0, y + 0.08)[0] - 4 : pixel(0, y + 0.08)[0] + 5]
    anchors = moving[pixel(0, y - 0.05)[0] - 4 : pixel(0, y - 0.05)[0] + 5]
    assert (question != GREY).any(axis=2).sum() > 50
    assert (anchors != GREY).any(axis=2).sum() > 30
    assert (empty[row + 15 :] == GREY).all()


def test_text_and_countdown(session):
    """Instruction text and a countdown draw light pixels where they are placed."""
    display, _ = session
    image = shot(display, Scene(text="Please wait", countdown="09:58"))
    text_band = image[pixel(0, 0)[0] - 5 : pixel(0, 0)[0] + 6]
    clock_band = image[pixel(0, -0.15)[0] - 5 : pixel(0, -0.15)[0] + 6]
    assert (text_band.min(axis=2) > 200).sum() > 20
    assert (clock_band.min(axis=2) > 200).sum() > 10
    later = shot(display, Scene(text="Please wait", countdown="09:57"))
    assert (later != image).any()  # the countdown text follows the scene


def test_dropped_frames_counted_from_flip_intervals(session):
    """A flip that comes late counts the refreshes it missed, and only while recording."""
    display, _ = session
    display.flip()
    time.sleep(0.06)
    display.flip()
    assert display.dropped_frames() == 0  # not recording yet
    display.record_frame_intervals(True)
    try:
        before = display.flip()
        # counted from here: a busy machine may already have delayed the flip above
        counted = display.dropped_frames()
        time.sleep(0.1)
        after = display.flip()
        expected = max(1, round((after - before) / display.frame_period) - 1)
        assert expected >= 5
        assert display.dropped_frames() - counted == expected
    finally:
        display.record_frame_intervals(False)


def test_picture_choice_shows_both_pictures_side_by_side(session):
    """A picture choice draws the two CS pictures at the ends of the scale, each in its own
    colour, with the question above and a lime frame around the answered one only."""
    from pavlov.protocols.kinds.screen import ChoiceView

    display, _ = session
    view = ChoiceView(
        "Which was followed by a shock?", pictures=("blue", "yellow"), keys=("1", "2")
    )
    plain = shot(display, Scene(choice=view))
    answered = shot(display, Scene(choice=dataclasses.replace(view, marker=1, answered=True)))
    assert close_to(plain[pixel(-0.4, 0)], (40, 90, 220))
    assert close_to(plain[pixel(0.4, 0)], (235, 200, 40))
    assert close_to(plain[pixel(0, 0)], GREY)  # nothing between them
    question = plain[pixel(0, 0.3)[0] - 4 : pixel(0, 0.3)[0] + 5]
    assert (question != GREY).any(axis=2).sum() > 50

    def lime(image, x):
        band = image[
            pixel(x, 0.145)[0] - 3 : pixel(x, 0.145)[0] + 4,
            pixel(x, 0)[1] - 20 : pixel(x, 0)[1] + 20,
        ]
        return ((band[..., 1] > 200) & (band[..., 0] < 80) & (band[..., 2] < 80)).sum()

    assert lime(answered, 0.4) > 20 and lime(answered, -0.4) == 0 and lime(plain, 0.4) == 0


def test_text_choice_draws_each_option(session):
    """A choice between texts draws each text at its own place, left to right."""
    from pavlov.protocols.kinds.screen import ChoiceView

    display, _ = session
    both = shot(display, Scene(choice=ChoiceView("Sleep?", labels=("yes", "no"), keys=("1", "2"))))
    for x in (-0.4, 0.4):
        row, column = pixel(x, 0)
        assert (both[row - 6 : row + 7, column - 20 : column + 20] != GREY).any(axis=2).sum() > 10
    row, column = pixel(0, 0)
    assert (both[row - 6 : row + 7, column - 20 : column + 20] == GREY).all()
