"""Startle probes in the protocol format: strict loading, seeded and balanced placement with
a minimum interval, the startle habituation phase, and probes in ``pavlov schedule``."""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from collections import Counter

import pytest

from pavlov.protocols.errors import ProtocolError
from pavlov.protocols.kinds import KINDS, markers
from pavlov.protocols.loader import load_protocol
from pavlov.protocols.schedule import build_schedule
from pavlov.stimuli.resolve import STIMULI_ROOT
from pavlov.task.cli import main

#: Acquisition with probes in half of each role's 12 trials and 4 ITIs, after habituation
#: probes.
PROBED = """\
pavlov: 1
study: Startle
task: startle
seed: 5
cs:
  roles: [CS+, CS-]
  stimuli:
    blue: {shape: square, color: "#0000ff"}
    yellow: {shape: square, color: "#e8c800"}
us:
  shock:
    type: shock
    train: {pulse_width: 0.002, interval: 0.02, count: 5}
    duration: 0.1
safety:
  max_shocks: 10
  max_train_duration: 0.5
phases:
  startle:
    type: startle_habituation
    probes: 6
    iti: {uniform: [12, 18]}
  acquisition:
    type: acquisition
    trials: 12
    reinforced: {CS+: 6}
    cs_duration: 8
    iti: {uniform: [10, 14]}
    probes: {at: 6, share: 0.5, iti: 4, min_interval: 8}
sessions:
  - name: day1
    phases: [startle, acquisition]
"""


def schedule_of(write, text=PROBED, participant="01"):
    protocol = load_protocol(write(text))
    return protocol, build_schedule(protocol, participant)


def test_probes_are_placed_balanced_over_roles_and_halves(write):
    """Each role has share × its trials probed, half in each half of the phase, and the
    ITI probes fall in the middle half of distinct ITIs, split over the halves too."""
    _protocol, schedule = schedule_of(write)
    trials = [e for e in schedule.events if e.phase == "acquisition" and e.kind == "trial"]
    half = (len(trials) + 1) // 2
    probed = [(i < half, e.cs) for i, e in enumerate(trials) for at in e.probes if at < 8]
    assert Counter(probed) == {(True, "CS+"): 3, (False, "CS+"): 3, (True, "CS-"): 3,
                               (False, "CS-"): 3}  # fmt: skip
    in_iti = [(i, at) for i, e in enumerate(trials) for at in e.probes if at >= 8]
    assert len(in_iti) == 4 and len({i for i, _ in in_iti}) == 4
    assert Counter(i < half for i, _ in in_iti) == {True: 2, False: 2}
    for i, at in in_iti:
        gap = at - 8
        assert trials[i].iti / 4 <= gap <= 3 * trials[i].iti / 4 - 0.05
    assert all(at == 6 for e in trials for at in e.probes if at < 8)


@pytest.mark.parametrize("participant", ["01", "02", "07", "31"])
def test_probes_keep_the_minimum_interval_and_number_in_time_order(write, participant):
    """Every two probes of a phase are at least min_interval apart, numbered 1, 2, … in
    time order, probes in CSs and in ITIs alike."""
    _, schedule = schedule_of(write, participant=participant)
    probes = [p for p in schedule.probes if p.phase == "acquisition"]
    onsets = [p.onset for p in probes]
    assert onsets == sorted(onsets) and len(probes) == 16
    assert min(b - a for a, b in itertools.pairwise(onsets)) >= 8 - 1e-9
    assert [p.number for p in probes] == list(range(1, 17))


def test_same_seed_same_probes_and_probes_change_no_trial(write):
    """The same participant gets the same probes each time; another gets others; adding
    probes leaves the trial order, reinforcement and ITIs as they were."""
    _, first = schedule_of(write)
    _, again = schedule_of(write)
    _, other = schedule_of(write, participant="02")
    assert first.probes == again.probes
    assert [p.onset for p in first.probes] != [p.onset for p in other.probes]
    unprobed = PROBED.replace("    probes: {at: 6, share: 0.5, iti: 4, min_interval: 8}\n", "")
    _, plain = schedule_of(write, unprobed)

    def trials(s):
        return [(e.cs, e.reinforced, e.onset, e.iti) for e in s.events if e.kind == "trial"]

    assert trials(first) == trials(plain)


def test_startle_habituation_keeps_its_min_interval(write):
    """A startle habituation phase whose shortest ITI plus the probe reaches its
    min_interval loads, and its probes' onsets are that far apart."""
    text = PROBED.replace(
        "    iti: {uniform: [12, 18]}\n", "    iti: {uniform: [12, 18]}\n    min_interval: 12\n"
    )
    _, schedule = schedule_of(write, text)
    onsets = [p.onset for p in schedule.probes if p.phase == "startle"]
    assert len(onsets) == 6 and min(b - a for a, b in itertools.pairwise(onsets)) >= 12


def test_startle_habituation_schedules_probes_alone(write):
    """A startle_habituation phase is N probe events of the bundled 50-ms noise, its
    interval drawn after each, before the first phase; the probe marker is code 70."""
    protocol, schedule = schedule_of(write)
    events = [e for e in schedule.events if e.phase == "startle"]
    assert [e.kind for e in events] == ["probe"] * 6
    assert [e.probe for e in events] == [1, 2, 3, 4, 5, 6]
    assert all(e.duration == 0.05 and 12 <= e.iti <= 18 for e in events)
    assert protocol.phases["startle"].files[0].template == str(
        STIMULI_ROOT / "probes" / "startle_noise_50ms.wav"
    )
    assert markers()["probe"] == 70
    assert "startle_habituation" in KINDS


@pytest.mark.parametrize(
    ("line", "replacement", "expected"),
    [
        (
            "probes: {at: 6,",
            "probes: {at: 8,",
            r"probes\.at: expected seconds after CS onset with the probe \(0\.05 s\) ending by "
            r"the end of the CS \(8 s\): at most 7\.95, got 8",
        ),
        (
            "share: 0.5,",
            "share: 1.5,",
            r"probes\.share: expected a share from 0 to 1.*, got 1\.5",
        ),
        (
            "share: 0.5,",
            "share: 50,",
            r"probes\.share: expected a share from 0 to 1.*, got 50 \(proportions are 0–1, not "
            r"percentages\)\. Did you mean '0\.5'\?",
        ),
        (
            "min_interval: 8}",
            "min_interval: 60}",
            r"probes\.min_interval: expected a min_interval the phase can keep with its "
            r"shortest ITIs \(10 s, trials of 8 s\), got 60 s for 12 trial and 4 ITI probes",
        ),
        (
            "iti: 4,",
            "iti: 30,",
            r"probes\.iti: expected at most one probe per ITI \(24 ITIs\), got 30",
        ),
        (
            "share: 0.5, iti: 4,",
            "share: 0, iti: 0,",
            r"probes\.share: expected at least one probe .*, got share 0 of 24 trials and iti 0",
        ),
        (
            "min_interval: 8}",
            "min_intervall: 8}",
            r"probes\.min_intervall: expected one of .*Did you mean 'min_interval'\?",
        ),
        (
            "min_interval: 8}",
            "min_interval: 8, sound: probes/startle.wav}",
            r"probes\.sound: expected an existing sound file .*, got 'probes/startle\.wav'\. "
            r"Did you mean 'probes/startle_noise_50ms\.wav'\?",
        ),
        (
            "min_interval: 8}",
            "min_interval: 8, volume: 0}",
            r"probes\.volume: expected a volume \(a silent probe startles no one\) > 0 and "
            r"<= 1, got 0$",
        ),
        (
            "    iti: {uniform: [12, 18]}\n",
            "    iti: 0\n",
            r"phases\.startle\.iti: expected an interval above 0 after each probe \(probes are "
            r"spaced\), got 0 s$",
        ),
        (
            "    iti: {uniform: [12, 18]}\n",
            "    iti: {uniform: [12, 18]}\n    min_interval: 15\n",
            r"phases\.startle\.iti: expected ITIs keeping min_interval 15 s between probe onsets "
            r"\(the probe lasts 0\.05 s\): at least 14\.95 s, got a shortest ITI of 12 s$",
        ),
        (
            "    probes: 6\n",
            "    probes: 0\n",
            r"phases\.startle\.probes: expected a number of probes.*, got 0",
        ),
    ],
)
def test_probe_mistakes_are_one_line_each(write, line, replacement, expected):
    """A wrong probes block or startle_habituation phase is one line naming the key, what
    was expected and what was found."""
    assert line in PROBED
    path = write(PROBED.replace(line, replacement, 1))
    with pytest.raises(ProtocolError) as caught:
        load_protocol(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:")
    assert re.search(expected, message), message


def test_schedule_shows_probes_in_table_csv_and_json(write, capsys):
    """``pavlov schedule`` lists each probe as a row of kind probe after its trial (the
    trial and role it falls in, or ITI), in every format, and counts them."""
    path = write(PROBED)

    def run(*options):
        assert main(["schedule", str(path), "-p", "01", *options]) == 0
        return capsys.readouterr().out

    rows = list(csv.DictReader(io.StringIO(run("--format", "csv"))))
    probes = [r for r in rows if r["kind"] == "probe"]
    assert len(probes) == 6 + 16
    inside = [r for r in probes if r["trial"] != "n/a"]
    assert len(inside) == 12 and {r["cs"] for r in inside} == {"CS+", "CS-"}
    for r in inside:  # right after its trial's row, 6 s after its onset
        trial = next(
            t for t in rows if t["kind"] == "trial" and t["trial"] == r["trial"]
            and t["phase"] == r["phase"]
        )  # fmt: skip
        assert float(r["onset"]) == pytest.approx(float(trial["onset"]) + 6)
    assert {r["cs"] for r in probes if r["trial"] == "n/a"} == {"ITI"}
    data = json.loads(run("--format", "json"))
    assert len(data["probes"]) == 22 and data["probes"][0]["trial"] is None
    table = run()
    assert "22 startle probes (10 alone)" in table
    assert sum(1 for line in table.splitlines() if "  probe  " in line) == 22


def test_iti_probes_of_a_trace_phase_come_after_the_us_time(write):
    """In trace conditioning a trial's ITI starts after its US time, and so do its ITI
    probes: none sounds in the trace gap or during the US."""
    text = PROBED.replace(
        "    probes: {at: 6, share: 0.5, iti: 4, min_interval: 8}\n",
        "    trace_interval: 2\n    probes: {at: 6, share: 0.5, iti: 4, min_interval: 8}\n",
    )
    _, schedule = schedule_of(write, text)
    trials = [e for e in schedule.events if e.phase == "acquisition" and e.kind == "trial"]
    assert trials[0].span == pytest.approx(10.1)
    alone = [(e, at) for e in trials for at in e.probes if at >= e.duration]
    assert len(alone) == 4
    for event, at in alone:
        assert event.span + event.iti / 4 <= at <= event.span + 3 * event.iti / 4


def _ordered(write, tmp_path, second_iti: float) -> str:
    # Two fixed orders of 8 trials, every trial probed 3 s into its 4-s CS: the first
    # order's 20-s ITIs keep 10 s between probes, the second's ITIs may not.
    for name, gap in (("a.csv", 20), ("b.csv", second_iti)):
        rows = "".join(f"{role},{int(role == 'CS+' and i < 2)},{gap}\n"
                       for i, role in enumerate(["CS+", "CS-"] * 4))  # fmt: skip
        (tmp_path / name).write_text("cs,reinforced,iti\n" + rows, encoding="utf-8")
    text = PROBED.replace(
        "    trials: 12\n    reinforced: {CS+: 6}\n    cs_duration: 8\n    iti: {uniform: [10, 14]}\n"
        "    probes: {at: 6, share: 0.5, iti: 4, min_interval: 8}\n",
        "    order: [a.csv, b.csv]\n    cs_duration: 4\n"
        "    probes: {at: 3, share: 1, min_interval: 10}\n",
    )
    return str(write(text))


def test_min_interval_is_checked_on_every_counterbalanced_order(write, tmp_path):
    """Probes that keep min_interval in the first fixed order but collide in the second
    (whose ITIs are short) fail to load in one line naming the second order; with long
    ITIs in both orders the protocol loads and both orders' schedules keep the interval."""
    with pytest.raises(ProtocolError) as caught:
        load_protocol(_ordered(write, tmp_path, second_iti=2))
    message = str(caught.value)
    assert "\n" not in message
    assert re.search(
        r"probes\.min_interval: expected a min_interval the phase can keep with order 2 of 2 "
        r"\(b\.csv; ITIs from 2 s, trials of 4 s\), got 10 s for 8 trial and 0 ITI probes",
        message,
    ), message
    protocol = load_protocol(_ordered(write, tmp_path, second_iti=6))
    seen = set()
    for participant in ("00", "02"):  # cells 0 and 2: order a, then order b
        schedule = build_schedule(protocol, participant)
        seen.add(next(e.iti for e in schedule.events if e.phase == "acquisition"))
        onsets = [p.onset for p in schedule.probes if p.phase == "acquisition"]
        assert len(onsets) == 8 and min(b - a for a, b in itertools.pairwise(onsets)) >= 10
    assert seen == {20, 6}


@pytest.mark.parametrize(("fmt", "suffix"), [("FLAC", ".flac"), ("OGG", ".ogg")])
def test_flac_and_ogg_probes_last_as_long_as_their_files(write, tmp_path, fmt, suffix):
    """A FLAC or Ogg probe sound loads, and its length read from the file (80 ms) is the
    probe's duration in the phase, in startle habituation and in the schedule."""
    import numpy as np
    import soundfile

    noise = np.random.default_rng(1).uniform(-0.5, 0.5, 3528)  # 80 ms at 44.1 kHz
    soundfile.write(str(tmp_path / f"noise{suffix}"), noise, 44100, format=fmt)
    text = PROBED.replace("min_interval: 8}", f"min_interval: 8, sound: noise{suffix}}}")
    text = text.replace("    probes: 6\n", f"    probes: 6\n    sound: noise{suffix}\n")
    protocol, schedule = schedule_of(write, text)
    assert protocol.phases["acquisition"].spec.probes.duration == pytest.approx(0.08)
    assert protocol.phases["startle"].spec.duration == pytest.approx(0.08)
    assert [p.duration for p in schedule.probes] == [pytest.approx(0.08)] * 22


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("noise.flac", b"fLaC" + bytes(range(256)) * 8, r"got a broken sound file \("),
        ("noise.aiff", b"FORM" + b"\0" * 64, r"got a file that is not a sound"),
    ],
)
def test_unreadable_probe_sounds_are_one_line(write, tmp_path, name, content, expected):
    """A damaged FLAC or a format the backend does not play (AIFF) is one line naming
    probes.sound, not a traceback."""
    (tmp_path / name).write_bytes(content)
    path = write(PROBED.replace("min_interval: 8}", f"min_interval: 8, sound: {name}}}"))
    with pytest.raises(ProtocolError) as caught:
        load_protocol(path)
    message = str(caught.value)
    assert "\n" not in message and "probes.sound: expected" in message
    assert re.search(expected, message), message
