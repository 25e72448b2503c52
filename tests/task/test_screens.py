"""What is on the participant's screen during every kind of event, in process.

One protocol uses every phase kind; it is played on a recording display and the scenes
flipped during each event are checked against the protocol: the wait and rest show the
protocol's own text (never a hard-coded one), the wait counts down, ratings show their
scale, trials their CS. A kind added without a check here fails the test.
"""

from __future__ import annotations

import pandas as pd
from fast_session import run_fast

from pavlov.protocols import build_schedule, load_protocol
from pavlov.protocols.kinds import EVENT_KINDS, PHASE_TYPES
from pavlov.protocols.kinds.screen import format_clock
from pavlov.task.display import FrameClock, RecordingDisplay
from pavlov.task.log import EventLog
from pavlov.task.simulated_participant import SimulatedParticipant

PROTOCOL = """\
pavlov: 1
study: Every screen
task: screens
seed: 11
cs:
  roles: [CS+, GS1, CS-]
  stimuli:
    blue: {image: cs/blue_square.png}
    purple: {image: cs/purple_square.png}
    yellow: {image: cs/yellow_square.png}
us:
  flash:
    type: image
    file: cs/green_square.png
    duration: 0.5
phases:
  welcome:
    type: instructions
    text: Welcome. Press space to begin.
  baseline:
    type: rest
    duration: 6
    text: Breathe slowly.
  quiet:
    type: rest
    duration: 4
  startle:
    type: startle_habituation
    probes: 2
    iti: 1
  habituation:
    type: habituation
    instructions: First, just watch.
    trials: 1
    cs_duration: 2
    iti: 1
  acquisition:
    type: acquisition
    trials: 1
    reinforced: {CS+: 1}
    cs_duration: 2
    iti: 1
    rating: {question: "How likely is the flash?", window: 1.5}
  reminder:
    type: reactivation
    reminder: CS+
    cs_duration: 2
  story:
    type: reactivation
    script: "scripts/{participant}_neutral.wav"
    duration: 13
  window:
    type: wait
    duration: 12
    text: Please rest quietly during the infusion.
  extinction:
    type: extinction
    trials: 1
    cs_duration: 2
    iti: 1
    probes: {at: 1, iti: 1}
  recall:
    type: recall
    trials: 1
    cs_duration: 2
    iti: 1
  reinstatement:
    type: reinstatement
    us_count: 1
    iti: 2
  renewal:
    type: renewal
    trials: 1
    cs_duration: 2
    iti: 1
  test:
    type: generalisation
    trials: {CS+: 1, GS1: 1, CS-: 0}
    cs_duration: 2
    iti: 1
  ratings:
    type: rating
    rate: [CS+]
    rating: {question: "How unpleasant was this square?", window: 2}
  questions:
    type: questionnaire
    items:
      - id: unpleasant
        text: How unpleasant was the flash?
        scale: [0, 10]
        window: 20
      - id: aware
        text: Which square was followed by the flash?
        picture_choice: [CS+, CS-]
        awareness: true
        window: 20
      - id: valence
        text: How pleasant is this square?
        cs: CS+
        scale: [1, 9]
        window: 20
      - id: sleep
        text: Did you sleep well last night?
        choices: ["yes", "no"]
        window: 20
sessions:
  - name: s1
    phases: [welcome, baseline, quiet, habituation, acquisition, reminder, story, window,
             extinction, recall, reinstatement, renewal, test, ratings, startle, questions]
"""

SPEED = 4.0


def play(tmp_path, slow_frames=None):
    path = tmp_path / "screens.yaml"
    path.write_text(PROTOCOL)
    protocol = load_protocol(path)
    display = RecordingDisplay(FrameClock(), slow_frames=slow_frames or {})
    log = EventLog.create(tmp_path / "events.tsv")
    try:
        run = run_fast(
            protocol,
            "s1",
            "demo",
            speed=SPEED,
            display=display,
            log=log,
            responder=SimulatedParticipant(1, SPEED),
            stimuli=True,
        )
    finally:
        log.close()
    if run.error is not None:
        raise run.error
    result = run.result
    rows = pd.read_csv(tmp_path / "events.tsv", sep="\t", na_values="n/a", keep_default_na=False)
    return protocol, display, result, rows


def scenes(display, result, row):
    """The scenes flipped while ``row``'s event was on screen (its first to last refresh;
    at least one refresh: a 50-ms probe is shorter than a refresh at this speed)."""
    end = row.onset + max(row.duration, SPEED / 60)
    return [
        scene
        for t, scene in display.frames
        if row.onset - 1e-6 <= (t - result.zero) * SPEED < end - 1e-6
    ]


def test_every_kind_shows_what_its_protocol_says(tmp_path):
    """Each event's screen holds the protocol's words, countdown, scale or stimulus, and
    nothing the protocol did not ask for."""
    protocol, display, result, rows = play(tmp_path)
    assert result.end_reason == "completed"
    assert {p.type for p in protocol.phases.values()} == set(PHASE_TYPES)
    cell = build_schedule(protocol, "demo", "s1").cell

    def instructions(row, shown):
        assert {s.text for s in shown} == {protocol.phases[row.phase].instructions}
        assert all(s.countdown is None and s.rating is None for s in shown)

    def wait(row, shown):
        assert {s.text for s in shown} == {"Please rest quietly during the infusion."}
        assert shown[0].countdown == format_clock(12)
        assert {s.countdown for s in shown} >= {format_clock(12), format_clock(1)}

    def rest(row, shown):
        expected = "Breathe slowly." if row.phase == "baseline" else None
        assert {s.text for s in shown} == {expected}
        assert all(s.fixation == (expected is None) for s in shown)

    def cs(row, shown):
        assert shown[0].cs == row.stimulus
        assert all(s.text is None and s.countdown is None for s in shown)
        rated = [s.rating for s in shown if s.rating is not None]
        if row.phase == "acquisition":
            assert rated and rated[0].spec.question == "How likely is the flash?"
        else:
            assert not rated

    def us(row, shown):
        assert shown[0].us_image == "flash" and shown[0].cs is None

    def script(row, shown):
        assert all(s.fixation and s.text is None and s.cs is None for s in shown)

    def rating(row, shown):
        assert shown[0].cs == row.stimulus
        assert shown[0].rating.spec.question == "How unpleasant was this square?"

    def probe(row, shown):
        # a probe alone: the fixation cross, nothing else
        assert all(s.fixation and s.text is None and s.cs is None for s in shown)

    def questionnaire(row, shown):
        # The item's own question and answers, on the context-free screen, until answered.
        item = {"unpleasant": "scale", "aware": "picture", "valence": "scale", "sleep": "choices"}
        shown = [s for s in shown if not s.fixation]  # the closing refresh
        about = cell.cs["CS+"] if row["item"] == "valence" else None  # a scale about a CS
        assert all(s.cs == about and s.text is None for s in shown)
        spec = protocol.phases["questions"].spec.items[int(row.trial) - 1].rating
        if item[row["item"]] == "scale":
            assert {s.rating.spec for s in shown} == {spec}
            assert row.stimulus == about if about else pd.isna(row.stimulus)
            return
        choice = {s.choice for s in shown if s.choice is not None}
        assert len(choice) >= 1 and all(s.choice is not None for s in shown)
        view = next(iter(choice))
        if item[row["item"]] == "picture":
            # This participant's CS+ and CS- pictures, the chosen one logged with its role.
            assert set(view.pictures) == {cell.cs["CS+"], cell.cs["CS-"]}
            assert view.keys == ("1", "2") and not view.labels
            assert cell.cs[row.cs] == row.stimulus
        else:
            assert view.labels == ("yes", "no") and not view.pictures
        assert view.question == protocol.phases["questions"].spec.items[int(row.trial) - 1].text

    checks = {
        "questionnaire": questionnaire,
        "instructions": instructions,
        "wait": wait,
        "rest": rest,
        "cs": cs,
        "us": us,
        "script": script,
        "rating": rating,
        "probe": probe,
    }
    assert set(checks) == {kind.row for kind in EVENT_KINDS.values()}
    main = rows[rows.trial_type.isin(list(checks)) & rows.planned_onset.notna()]
    assert set(main.trial_type) == set(checks)
    for _, row in main.iterrows():
        shown = scenes(display, result, row)
        assert shown, (row.trial_type, row.phase)
        checks[row.trial_type](row, shown)


def test_every_timed_screen_ends_at_its_clock_time_when_frames_drop(tmp_path):
    """With a frame lost every few flips, every timed screen (rest, script, wait, CS, US)
    still lasts its planned duration and every planned onset is kept: drops neither
    stretch a screen nor eat the ITIs after it."""
    drops = {n: 3 for n in range(40, 6000, 7)}
    protocol, _, result, rows = play(tmp_path, slow_frames=drops)
    assert result.end_reason == "completed" and result.dropped_frames > 100
    frame = SPEED / 60
    main = rows[rows.planned_onset.notna()]
    planned = {
        "rest": {"baseline": 6.0, "quiet": 4.0},
        "script": {"story": 13.0},
        "wait": {"window": 12.0},
        "cs": {
            p: 2.0
            for p in (
                "habituation",
                "acquisition",
                "reminder",
                "extinction",
                "recall",
                "renewal",
                "test",
            )
        },
        "us": {"reinstatement": 0.5},
    }
    checked = 0
    for _, row in main.iterrows():
        if row.trial_type in planned:
            # A screen ends on the refresh due at its clock time; a drop of 3 refreshes at
            # its onset or its end moves either by at most those 3.
            assert abs(row.duration - planned[row.trial_type][row.phase]) <= 4 * frame + 1e-9
            checked += 1
    # 2 rests, the script, the wait, 18 CSs (GS1 in every 1-per-role phase), 1 US
    assert checked == 23
    assert main.onset_error.abs().max() <= 3.5 * frame + 1e-9
    # Only self-paced screens (instructions, ratings) may move later onsets: the script and
    # the wait, though frames dropped throughout, leave the next events' plan untouched.
    schedule = build_schedule(protocol, "demo", "s1")
    slip = {
        (e.phase, e.index): row.planned_onset - e.onset
        for e, (_, row) in zip(schedule.events, main.iterrows(), strict=True)
    }
    assert slip[("story", 1)] == slip[("window", 1)] == slip[("extinction", 1)]
