"""Issue 12's paradigms on a real screen: the scenes the run loop presents for the bundled
generalisation study and for a questionnaire item about a CS, drawn by the PsychoPy display
in a real window under the tests' Xvfb and read back pixel by pixel.

Positions are in PsychoPy ``height`` units: pixel row = H/2 − y·H, column = W/2 + x·H.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fast_session import run_fast
from PIL import Image

from pavlov.protocols import load_protocol
from pavlov.stimuli.check import prepare_stimuli
from pavlov.stimuli.resolve import STIMULI_ROOT

pytestmark = pytest.mark.display

W, H = 640, 480
SPEED = 10.0
GENERALISATION = Path(__file__).resolve().parents[2] / "protocols" / "fear_generalisation.yaml"
ORDER = ("CS+", "GS1", "GS2", "GS3", "GS4", "CS-")


def presented(protocol, participant: str, session: str):
    """Run the session on the fast harness; return the schedule, the log rows and, for each
    logged row, the first scene flipped while it was on screen."""
    run = run_fast(protocol, session, participant, speed=SPEED, stimuli=True)
    assert run.error is None, run.error
    zero = run.result.zero
    frames = [((t - zero) * SPEED, scene) for t, scene in run.display.frames]

    def first(row):
        end = row["onset"] + max(row["duration"], SPEED / 60)
        return next(s for t, s in frames if row["onset"] - 1e-6 <= t < end - 1e-6)

    return run.schedule, [(row, first(row)) for row in run.log.rows if row["onset"] is not None]


@pytest.fixture(scope="module")
def window(xvfb):
    """A PsychoPy window of W×H (probe sounds silent: the machine has no audio device)."""
    from pavlov.task.psychopy_display import PsychopyDisplay, SilentSound

    display = PsychopyDisplay(
        None, fullscr=False, size=(W, H), sound_factory=lambda f, v: SilentSound(str(f), v, [])
    )
    yield display
    display.close()


def shot(display, scene) -> np.ndarray:
    """Draw ``scene``; the back buffer as an (H, W, 3) int array; then clear it."""
    display.draw(scene)
    image = np.asarray(display.screenshot().convert("RGB")).astype(int)
    display.win.clearBuffer()
    return image


def red(image: np.ndarray) -> np.ndarray:
    """Where the rings' red (200, 30, 30) is: not the grey ground, white text or orange marker."""
    return (image[..., 0] > 150) & (image[..., 1] < 90) & (image[..., 2] < 90)


def ring_radius(image: np.ndarray) -> float:
    """Outer radius of the ring on the centre row, in pixels of ``image``."""
    row = red(image)[image.shape[0] // 2]
    columns = np.flatnonzero(row)
    return float(np.abs(columns + 0.5 - image.shape[1] / 2).max())


def file_radius(stimulus: str, size: float) -> float:
    """The radius a ring file is drawn with at ``size`` (a fraction of the window height)."""
    picture = np.asarray(Image.open(STIMULI_ROOT / "cs" / f"ring_{stimulus[-1]}.png"))
    return ring_radius(picture[..., :3].astype(int)) * size * H / picture.shape[0]


def test_gs_trials_show_their_own_ring_in_continuum_order_above_the_rating(window):
    """In both counterbalancing cells of fear_generalisation.yaml, each generalisation trial
    draws the ring its role has for that participant (radius within 2 px of the file's), the
    ring sizes go in continuum order from CS+ to CS− (growing in one cell, shrinking in the
    other: the ends flip, the order stays), and no ring reaches the risk rating drawn with
    it (its question starts 0.2 below the centre)."""
    protocol = load_protocol(GENERALISATION)
    radii = {}
    for participant in ("01", "02"):
        schedule, rows = presented(protocol, participant, "day1")
        window.load(protocol, schedule, prepare_stimuli(protocol, schedule))
        cell = schedule.cell.cs
        seen = {}
        for row, scene in rows:
            if row["trial_type"] != "cs" or row["phase"] != "generalisation":
                continue
            assert scene.cs == cell[row["cs"]] and scene.rating is not None
            image = shot(window, scene)
            size = protocol.cs[scene.cs].size
            assert abs(ring_radius(image) - file_radius(scene.cs, size)) <= 2, row["cs"]
            rows_with_red = np.flatnonzero(red(image).any(axis=1))
            assert rows_with_red.max() < H / 2 + 0.2 * H, row["cs"]  # above the question
            question = image[round(H / 2 + 0.22 * H) - 5 : round(H / 2 + 0.22 * H) + 6]
            assert (question.min(axis=2) > 200).sum() > 50  # the question's white text
            seen.setdefault(row["cs"], ring_radius(image))
        assert set(seen) == set(ORDER)
        radii[participant] = [seen[role] for role in ORDER]
    one, two = radii.values()
    assert one == sorted(one) or one == sorted(one, reverse=True)
    assert len(set(one)) == len(ORDER)
    assert two == list(reversed(one))  # the same rings, the continuum the other way round


QUESTION = """\
pavlov: 1
study: A question about a CS
task: sam
seed: 3
cs:
  roles: [CS+, CS-]
  stimuli:
    blue: {image: cs/blue_square.png}
    yellow: {image: cs/yellow_square.png}
phases:
  questions:
    type: questionnaire
    items:
      - id: valence_csplus
        text: How pleasant is this square?
        cs: CS+
        scale: [1, 9]
        anchors: [very unpleasant, very pleasant]
        window: 20
sessions:
  - name: s1
    phases: [questions]
"""


def test_a_scale_about_a_cs_shows_this_participants_picture_with_the_scale(window, tmp_path):
    """A SAM-style item about the CS+ shows, for each participant, the picture that plays
    the CS+ for them (blue for one cell, yellow for the other) at the centre, with the
    scale's white line below it and the question above the line."""
    path = tmp_path / "sam.yaml"
    path.write_text(QUESTION, encoding="utf-8")
    protocol = load_protocol(path)
    colours = {"blue": (40, 90, 220), "yellow": (235, 200, 40)}
    shown = []
    for participant in ("01", "02"):
        schedule, rows = presented(protocol, participant, "s1")
        window.load(protocol, schedule, prepare_stimuli(protocol, schedule))
        ((row, scene),) = [(r, s) for r, s in rows if r["trial_type"] == "questionnaire"]
        picture = schedule.cell.cs["CS+"]
        assert scene.cs == picture == row["stimulus"] and scene.rating is not None
        image = shot(window, scene)
        assert all(abs(a - b) <= 6 for a, b in zip(image[H // 2, W // 2], colours[picture]))
        line = image[round(H / 2 + 0.3 * H) - 2 : round(H / 2 + 0.3 * H) + 3, W // 2 - 80]
        assert line.max() >= 200  # the scale line, white
        question = image[round(H / 2 + 0.22 * H) - 5 : round(H / 2 + 0.22 * H) + 6]
        assert (question.min(axis=2) > 200).sum() > 30
        shown.append(picture)
    assert sorted(shown) == ["blue", "yellow"]  # the two cells show different pictures


#: FearGen-like, small: four squares on a circle (the CS− opposite the CS+, GS1 the two
#: squares beside the CS+), a generalisation phase, then a post-phase rating of every role
#: and a SAM valence question about GS1.
CIRCLE = """\
pavlov: 1
study: Ratings of a circle's GS
task: circle
seed: 11
cs:
  roles: [CS+, GS1, CS-]
  circle: true
  stimuli:
    red: {shape: square, color: "#dc1e1e"}
    green: {shape: square, color: "#1edc1e"}
    blue: {shape: square, color: "#1e1edc"}
    yellow: {shape: square, color: "#dcdc1e"}
us:
  flash: {type: image, file: cs/checker.png, duration: 0.5}
phases:
  test:
    type: generalisation
    trials: 2
    reinforced: {CS+: 1}
    cs_duration: 2
    iti: 1
  after:
    type: rating
    iti: 1
    rating: {question: "How much did you expect the flash?", scale: [0, 10], window: 10}
  questions:
    type: questionnaire
    items:
      - id: valence_gs1
        text: How pleasant is this square?
        cs: GS1
        scale: [1, 9]
        anchors: [very unpleasant, very pleasant]
        feared_end: low
        window: 20
sessions:
  - name: s1
    phases: [test, after, questions]
"""


def test_a_rating_or_question_about_a_circles_gs_shows_each_square_its_trials_showed(
    window, tmp_path
):
    """On a circle, the post-phase rating and the valence question about GS1 show, one
    screen each, both squares GS1's trials showed (each drawn in its colour at the centre
    with the scale, and named in the row's stimulus), in two rotation cells."""
    path = tmp_path / "circle.yaml"
    path.write_text(CIRCLE, encoding="utf-8")
    protocol = load_protocol(path)
    colours = {
        name: tuple(int(cs.color[i : i + 2], 16) for i in (1, 3, 5))
        for name, cs in protocol.cs.items()
    }
    for participant in ("01", "02"):
        schedule, rows = presented(protocol, participant, "s1")
        window.load(protocol, schedule, prepare_stimuli(protocol, schedule))
        faces = schedule.cell.faces["GS1"]
        assert len(set(faces)) == 2
        trials = {row["stimulus"] for row, _ in rows if row["trial_type"] == "cs"
                  and row["cs"] == "GS1"}  # fmt: skip
        assert trials == set(faces)
        for kind in ("rating", "questionnaire"):
            about = [(row, scene) for row, scene in rows
                     if row["trial_type"] == kind and row["cs"] == "GS1"]  # fmt: skip
            assert sorted(row["stimulus"] for row, _ in about) == sorted(faces), kind
            for row, scene in about:
                assert scene.cs == row["stimulus"] and scene.rating is not None
                image = shot(window, scene)
                centre = image[H // 2, W // 2]
                assert all(abs(a - b) <= 6 for a, b in zip(centre, colours[row["stimulus"]]))
                line = image[round(H / 2 + 0.3 * H) - 2 : round(H / 2 + 0.3 * H) + 3, W // 2]
                assert line.max() >= 200  # the scale line under the square
        ratings = [row for row, _ in rows if row["trial_type"] == "rating"]
        assert sorted(r["cs"] for r in ratings) == ["CS+", "CS-", "GS1", "GS1"]
