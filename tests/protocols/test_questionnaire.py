"""Questionnaire phases: items load strictly (one-line errors), schedule as `questionnaire`
events (the picture choice with this participant's pictures, in a seeded order), and show in
`pavlov schedule`."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from pavlov.protocols.errors import ProtocolError
from pavlov.protocols.kinds import KINDS, markers
from pavlov.protocols.kinds.questionnaire import QuestionnaireSpec
from pavlov.protocols.loader import load_protocol
from pavlov.protocols.schedule import build_schedule

#: A small protocol ending with a questionnaire of each item form.
QUEST = """\
pavlov: 1
study: Questions
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
    trials: 4
    reinforced: {CS+: 3}
    cs_duration: 4
    iti: 8
  post:
    type: questionnaire
    instructions: A few questions. Press space.
    iti: 2
    items:
      - id: unpleasant
        text: How unpleasant was the flash?
        scale: [0, 10]
        anchors: [not at all, extremely]
      - id: aware
        text: Which of these was followed by the flash?
        picture_choice: [CS+, CS-]
        awareness: true
        window: 30
      - id: sleep
        text: Did you sleep well?
        choices: ["yes", "no", unsure]
sessions:
  - name: day1
    phases: [acquisition, post]
"""


def test_items_load_with_their_forms(write):
    """Each item keeps its form, question and answer scale (choices are points 1…n with
    one digit key each; a 0–10 scale defaults to the slider)."""
    protocol = load_protocol(write(QUEST))
    spec = protocol.phases["post"].spec
    assert isinstance(spec, QuestionnaireSpec)
    scale, aware, sleep = spec.items
    assert (scale.form, scale.rating.low, scale.rating.high) == ("scale", 0, 10)
    assert scale.rating.anchors == ("not at all", "extremely")
    assert scale.rating.input == "slider" and scale.rating.window == 60
    assert (aware.form, aware.roles, aware.awareness, aware.rating.window) == (
        "picture_choice",
        ("CS+", "CS-"),
        True,
        30,
    )
    assert aware.rating.keys == ("1", "2")
    assert (sleep.form, sleep.choices, sleep.rating.keys) == (
        "choices",
        ("yes", "no", "unsure"),
        ("1", "2", "3"),
    )
    assert KINDS["questionnaire"].used_keys(protocol.phases["post"]) == ("1", "2", "3")
    assert markers()["questionnaire"] == 34


def test_items_are_scheduled_as_questionnaire_events(write):
    """Each item is one event with its id; the picture choice shows the participant's own
    CS+ and CS- pictures, their order seeded per participant and varying across them."""
    protocol = load_protocol(write(QUEST))
    schedule = build_schedule(protocol, "01", "day1")
    items = [e for e in schedule.events if e.kind == "questionnaire"]
    assert [(e.item, e.index, e.duration, e.iti) for e in items] == [
        ("unpleasant", 1, 60.0, 2.0),
        ("aware", 2, 30.0, 2.0),
        ("sleep", 3, 60.0, 2.0),
    ]
    aware = items[1]
    assert sorted(aware.choices) == ["CS+", "CS-"]
    assert aware.pictures == tuple(schedule.cell.cs[r] for r in aware.choices)
    assert build_schedule(protocol, "01", "day1") == schedule
    orders = {build_schedule(protocol, f"{n:02d}", "day1").events[-2].choices for n in range(12)}
    assert orders == {("CS+", "CS-"), ("CS-", "CS+")}


def test_schedule_cli_shows_the_items(write, capsys):
    """`pavlov schedule` lists the items by id (table and CSV), JSON adds the pictures."""
    from pavlov.task.cli import main

    path = write(QUEST)

    def schedule(*args):
        assert main(["schedule", str(path), "-p", "01", *args]) == 0
        return capsys.readouterr().out

    table = schedule()
    assert re.search(r"post\s+questionnaire\s+2\s.*\saware$", table, re.M)
    rows = list(csv.DictReader(io.StringIO(schedule("-f", "csv"))))
    assert [r["item"] for r in rows if r["kind"] == "questionnaire"] == [
        "unpleasant",
        "aware",
        "sleep",
    ]
    events = json.loads(schedule("-f", "json"))["events"]
    aware = next(e for e in events if e["item"] == "aware")
    assert set(aware["pictures"]) == {"blue", "yellow"}


MISTAKES = [
    (
        "        scale: [0, 10]\n",
        "        scale: [0, 10]\n        choices: [a, b]\n",
        r"24: phases\.post\.items\[0\]: expected exactly one of scale, choices or "
        r"picture_choice, got scale and choices",
    ),
    (
        '        choices: ["yes", "no", unsure]',
        "        choices: [only]",
        r"35: phases\.post\.items\[2\]\.choices: expected a list of 2 to 10 texts, got a list of 1",
    ),
    (
        "        picture_choice: [CS+, CS-]",
        "        picture_choice: [CS+, CSminus]",
        r"30: phases\.post\.items\[1\]\.picture_choice\[1\]: expected one of the CS roles "
        r"\(CS\+, CS-\), got 'CSminus'",
    ),
    (
        "        picture_choice: [CS+, CS-]\n        awareness: true",
        "        scale: [1, 9]\n        awareness: true",
        r"31: phases\.post\.items\[1\]\.awareness: expected a cs on an awareness scale item "
        r"\(the CS whose expectancy it asks\), got awareness without a cs",
    ),
    (
        '        choices: ["yes", "no", unsure]',
        '        choices: ["yes", "no", unsure]\n        awareness: true',
        r"36: phases\.post\.items\[2\]\.awareness: expected awareness on a picture_choice item, "
        r"or a scale item with a cs, got awareness on a choices item",
    ),
    (
        "        picture_choice: [CS+, CS-]\n        awareness: true",
        "        scale: [0, 10]\n        cs: CS+\n        awareness: true",
        r"\d+: phases\.post\.items: expected awareness scale items for a CS\+ and a CS− \(aware: "
        r"the CS\+ rated above every CS−\), got none for a CS−",
    ),
    (
        '        choices: ["yes", "no", unsure]',
        '        choices: ["yes", "no", unsure]\n        feared_end: low',
        r"36: phases\.post\.items\[2\]\.feared_end: expected feared_end only on a scale item "
        r"with a cs, got feared_end without one",
    ),
    (
        "        anchors: [not at all, extremely]",
        "        anchors: [not at all, extremely]\n        feared_end: low",
        r"28: phases\.post\.items\[0\]\.feared_end: expected feared_end only on a scale item "
        r"with a cs, got feared_end without one",
    ),
    (
        "        anchors: [not at all, extremely]",
        "        anchors: [not at all, extremely]\n        cs: CS+\n        feared_end: up",
        r"29: phases\.post\.items\[0\]\.feared_end: expected one of high, low, got '?up'?.*",
    ),
    (
        "        picture_choice: [CS+, CS-]\n        awareness: true",
        "        scale: [0, 10]\n        cs: CS+\n        awareness: true\n        feared_end: low",
        r"33: phases\.post\.items\[1\]\.feared_end: expected feared_end: high on an awareness "
        r"item \(it asks shock expectancy\), got low",
    ),
    (
        "      - id: sleep",
        "      - id: aware",
        r"33: phases\.post\.items\[2\]\.id: expected an id used once in the phase, got 'aware' "
        r"again",
    ),
    (
        "      - id: sleep",
        "      - id: 2nd",
        r"33: phases\.post\.items\[2\]\.id: expected a name of letters, digits and _ \(starting "
        r"with a letter\), got '?2nd'?",
    ),
    (
        "        window: 30",
        "        window: 0",
        r"32: phases\.post\.items\[1\]\.window: expected seconds > 0 and <= 600, got 0",
    ),
    (
        "        text: Did you sleep well?",
        "        txt: Did you sleep well?",
        r"34: phases\.post\.items\[2\]\.txt: expected one of the keys id, text, .*, got unknown "
        r"key 'txt'\. Did you mean 'text'\?",
    ),
    (
        "        anchors: [not at all, extremely]",
        "        anchors: [not at all, extremely]\n        keys: [a, b]",
        r"28: phases\.post\.items\[0\]\.keys: expected no keys with input: slider, got a list of 2",
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "expected"), MISTAKES, ids=[m[1].strip()[:24] for m in MISTAKES]
)
def test_questionnaire_mistakes_are_one_line(write, edit, old, new, expected):
    """Each mistake in a questionnaire gives its one-line message at its line."""
    path = write(edit(QUEST, old, new))
    with pytest.raises(ProtocolError) as caught:
        load_protocol(path)
    message = str(caught.value).splitlines()[0]
    assert re.fullmatch(re.escape(str(path)) + ":" + expected, message), message


def test_picture_choice_refuses_sound_cs(write, edit):
    """A picture choice in a protocol with a sound CS is refused (counterbalancing may give
    any role the sound)."""
    text = edit(
        QUEST,
        '    yellow: {shape: square, color: "#e8c800"}',
        "    yellow: {sound: us/noise_burst.wav}",
    )
    with pytest.raises(
        ProtocolError,
        match=r"picture_choice: expected a protocol whose CSs are "
        r"pictures .*, got the sound CS 'yellow'",
    ):
        load_protocol(write(text))


def test_a_scale_about_a_cs_shows_that_role_for_the_participant(write, edit):
    """`cs:` on a scale item schedules the participant's own picture of that role; on another
    form, or naming no role, it is a one-line error."""
    path = write(
        edit(QUEST, "        scale: [0, 10]\n", "        scale: [0, 10]\n        cs: CS-\n")
    )
    protocol = load_protocol(path)
    assert protocol.phases["post"].spec.items[0].cs == "CS-"
    for participant in ("01", "02"):
        schedule = build_schedule(protocol, participant, "day1")
        item = next(e for e in schedule.events if e.item == "unpleasant")
        assert (item.cs, item.cs_type, item.stimulus) == ("CS-", "CS-", schedule.cell.cs["CS-"])
    wrong = write(edit(QUEST, "        window: 30\n", "        window: 30\n        cs: CS+\n"))
    with pytest.raises(ProtocolError, match=r":33: phases\.post\.items\[1\]\.cs: expected cs only "
                       r"on a scale item, got cs on a picture_choice item$"):  # fmt: skip
        load_protocol(wrong)
    unknown = write(
        edit(QUEST, "        scale: [0, 10]\n", "        scale: [0, 10]\n        cs: CS0\n")
    )
    with pytest.raises(ProtocolError, match=r":27: phases\.post\.items\[0\]\.cs: expected one of "
                       r"the CS roles \(CS\+, CS-\), got 'CS0'\. Did you mean 'CS-'\?$"):  # fmt: skip
        load_protocol(unknown)


def test_per_cs_expectancy_scales_are_awareness_items(write, edit):
    """Scale items about the CS+ and the CS− with awareness: true load as awareness items
    (shock expectancy per CS), each showing its CS."""
    text = edit(
        QUEST,
        "        picture_choice: [CS+, CS-]\n        awareness: true\n",
        "        scale: [0, 10]\n        cs: CS+\n        awareness: true\n"
        "      - id: aware_minus\n        text: How much did you expect the flash?\n"
        "        scale: [0, 10]\n        cs: CS-\n        awareness: true\n",
    )
    spec = load_protocol(write(text)).phases["post"].spec
    aware = [(i.id, i.form, i.cs) for i in spec.items if i.awareness]
    assert aware == [("aware", "scale", "CS+"), ("aware_minus", "scale", "CS-")]
