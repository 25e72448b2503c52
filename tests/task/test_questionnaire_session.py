"""Questionnaires played by the run loop: the rows they log, the simulated participant's
answers, a real participant's key, and the session moving on as soon as an item is answered."""

from __future__ import annotations

from fast_session import run_fast

from pavlov.protocols import build_schedule, load_protocol
from pavlov.task.display import FrameClock, RecordingDisplay
from pavlov.task.responder import ParticipantResponder

PROTOCOL = """\
pavlov: 1
study: Questions in a session
task: quest
seed: 5
cs:
  roles: [CS+, CS-]
  stimuli:
    blue: {image: cs/blue_square.png}
    yellow: {shape: square, color: "#e8c800"}
us:
  flash: {type: image, file: cs/green_square.png, duration: 0.5}
phases:
  acquisition:
    type: acquisition
    trials: 6
    reinforced: {CS+: 5}
    cs_duration: 2
    iti: 1
  post:
    type: questionnaire
    items:
      - id: unpleasant
        text: How unpleasant was the flash?
        scale: [1, 9]
        anchors: [not at all, extremely]
      - id: aware
        text: Which of these was followed by the flash?
        picture_choice: [CS+, CS-]
        awareness: true
        window: 30
      - id: sleep
        text: Did you sleep well?
        choices: ["yes", "no", unsure]
      - id: fear_plus
        text: How afraid were you of this picture?
        cs: CS+
        scale: [1, 9]
      - id: fear_minus
        text: How afraid were you of this picture?
        cs: CS-
        scale: [1, 9]
sessions:
  - name: day1
    phases: [acquisition, post]
"""

SPEED = 10.0


def test_simulated_participants_answer_every_item_and_the_aware_choose_the_cs_plus(tmp_path):
    """Every item is one `questionnaire` row with its id and answer; the picture choice logs
    the chosen role with this participant's picture and file; every simulated participant
    (aware after acquisition) chooses the CS+ and fears the CS+ picture more than the CS−
    one on a scale about each; an answered item ends at once, so later items
    start long before their planned (whole-window) onsets."""
    path = tmp_path / "quest.yaml"
    path.write_text(PROTOCOL)
    protocol = load_protocol(path)
    chosen = []
    for participant in ("01", "02", "03", "04", "05", "06"):
        run = run_fast(protocol, "day1", participant, speed=SPEED, stimuli=True)
        assert run.error is None and run.result.end_reason == "completed"
        rows = [r for r in run.log.rows if r["trial_type"] == "questionnaire"]
        assert [(r["item"], r["trial"]) for r in rows] == [
            ("unpleasant", 1),
            ("aware", 2),
            ("sleep", 3),
            ("fear_plus", 4),
            ("fear_minus", 5),
        ]
        unpleasant, aware, sleep, plus, minus = rows
        assert (
            unpleasant["rating"] in range(1, 10)
            and unpleasant["value"] == f"{unpleasant['rating']:g}"
        )
        assert 0 < unpleasant["rating_rt"] < unpleasant["duration"] < 60
        cell = run.schedule.cell
        assert aware["stimulus"] == cell.cs[aware["cs"]] and aware["value"] == aware["cs"]
        assert (
            aware["cs_type"] == aware["cs"]
            and aware["rating"] == ["CS+", "CS-"].index(aware["cs"]) + 1
        )
        assert aware["stim_file"] == ("cs/blue_square.png" if aware["stimulus"] == "blue" else None)
        assert sleep["value"] == ("yes", "no", "unsure")[int(sleep["rating"]) - 1]
        planned = [e.onset for e in run.schedule.events if e.kind == "questionnaire"]
        assert planned[2] - sleep["planned_onset"] > 60  # items 1 and 2 ended at their answers
        chosen.append(aware["cs"])
        # A scale about a CS names it and is answered as it was learnt: the CS+ feared more.
        assert (plus["cs"], minus["cs"]) == ("CS+", "CS-") and minus["stimulus"] == cell.cs["CS-"]
        assert plus["rating"] > minus["rating"] + 2
    assert chosen == ["CS+"] * 6


def test_a_participant_key_picks_the_picture_shown_there(tmp_path):
    """With real keys, key 2 picks the right-hand picture: the row names that picture's role
    (the screen order is this participant's), its RT is the key's time."""
    text = PROTOCOL.replace("phases: [acquisition, post]", "phases: [post]")
    path = tmp_path / "quest.yaml"
    path.write_text(text)
    protocol = load_protocol(path)
    schedule = build_schedule(protocol, "07", "day1")
    clock = FrameClock(100.0)
    # 1 s into each item (items 1 and 3 by their own keys, the picture choice by 2).
    display = RecordingDisplay(
        clock, keys_at=[(101.0, "7"), (103.0, "2"), (105.0, "1"), (107.0, "3"), (109.0, "8")]
    )
    run = run_fast(
        protocol, "day1", "07", speed=1.0, display=display, responder=ParticipantResponder(display)
    )
    assert run.error is None, run.error
    rows = {r["item"]: r for r in run.log.rows if r["trial_type"] == "questionnaire"}
    right = schedule.events[1].choices[1]
    assert rows["aware"]["cs"] == right and rows["aware"]["stimulus"] == schedule.cell.cs[right]
    assert rows["aware"]["rating_rt"] < 2.1
    assert rows["unpleasant"]["rating"] == 7 and rows["unpleasant"]["value"] == "7"
    assert rows["sleep"]["value"] == "yes"
    assert (rows["fear_minus"]["cs"], rows["fear_minus"]["rating"]) == ("CS-", 8)
