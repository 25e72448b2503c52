"""Timing designs in protocol files: rating windows against the US, trace intervals, and
randomisation constraints, as the loader, the schedule and the commands give them."""

from __future__ import annotations

import csv
import io
import itertools
import re
import subprocess
import sys

import pytest

from pavlov.protocols import build_schedule
from pavlov.protocols.errors import ProtocolError
from pavlov.protocols.loader import load_protocol

RATED = "    iti: {uniform: [8, 12]}\n"


def pavlov(*args: str, cwd=None, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pavlov.task.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=env,
    )


def test_online_rating_window_closes_at_the_us_by_default(write, minimal, edit):
    """Without a window, an online rating closes at the US onset (3.818 s into the 4-s CS,
    the shock lasting 0.182 s), in extinction at the same time point (the omitted US), and
    in habituation (no US time) at the end of the CS."""
    text = edit(minimal, RATED, RATED + "    rating: {onset: 1}\n")
    text = edit(text, "    iti: 10\n", "    iti: 10\n    rating: {onset: 1}\n")
    protocol = load_protocol(write(text))
    assert protocol.phases["acquisition"].rating.window == 2.818
    assert protocol.phases["extinction"].rating.window == 2.818
    assert protocol.warnings == ()
    habituation = load_protocol(write(edit(text, "type: extinction", "type: habituation")))
    assert habituation.phases["extinction"].rating.window == 3.0


def test_window_past_the_us_is_a_one_line_warning(write, minimal, edit):
    """A window set past the US onset loads, with one warning line naming the file, line
    and key; the same window in a phase without USs is no warning."""
    text = edit(minimal, RATED, RATED + "    rating:\n      window: 4\n")
    text = edit(text, "    iti: 10\n", "    iti: 10\n    rating: {window: 4}\n")
    path = write(text)
    protocol = load_protocol(path)
    assert protocol.phases["acquisition"].rating.window == 4.0
    assert protocol.warnings == (
        f"{path}:25: phases.acquisition.rating.window: warning: the rating (0–4 s after CS "
        "onset) is open after the US onset (3.818 s): ratings given after the shock are not "
        "expectancy (the default window, 3.818 s, closes at the US)",
    )


def test_scale_after_the_us_is_a_warning(write, minimal, edit):
    """A scale that appears after the US onset is warned about at its onset key."""
    path = write(edit(minimal, RATED, RATED + "    rating: {onset: 3.9}\n"))
    (line,) = load_protocol(path).warnings
    assert re.fullmatch(
        re.escape(f"{path}:24: phases.acquisition.rating.onset: warning: ") + r"the rating "
        r"\(3\.9–4 s after CS onset\) is open after the US onset \(3\.818 s\).*",
        line,
    )


def test_a_cs_picture_over_the_rating_question_is_a_warning(write, minimal, edit):
    """A CS drawn so large that it reaches the rating's question (a square shape of size 0.5
    reaches 0.25 below the centre, the question starts 0.2025 below) is one warning line at
    the rating; a ring image of the same size, on the screen's grey, reaches only as far as
    its ring and is no warning; the default size 0.4 is none."""
    text = edit(minimal, RATED, RATED + "    rating: {onset: 0}\n")
    assert load_protocol(write(text)).warnings == ()
    big = edit(
        text, '{shape: square, color: "#e8c800"}', '{shape: square, color: "#e8c800", size: 0.5}'
    )
    path = write(big)
    (line,) = load_protocol(path).warnings
    assert line == (
        f"{path}:24: phases.acquisition.rating: warning: the CS pictures yellow (size 0.5) "
        "are drawn with this rating and reach more than 0.2025 of the screen height below the "
        "centre, over the rating's question: a size of at most 0.40 keeps them apart"
    )
    small_ring = edit(text, "{image: cs/blue_square.png}", "{image: cs/ring_1.png, size: 0.5}")
    assert load_protocol(write(small_ring)).warnings == ()
    large_ring = edit(text, "{image: cs/blue_square.png}", "{image: cs/ring_6.png, size: 0.5}")
    (line,) = load_protocol(write(large_ring)).warnings
    assert "ring6" not in line and "blue (size 0.5)" in line and "at most 0.42 " in line


def test_a_questionnaire_scale_about_a_big_cs_is_a_warning(write, minimal, edit):
    """A questionnaire scale about a CS shows its picture above the scale: a picture that
    reaches the question is warned about at the item's `cs` key."""
    text = edit(
        minimal, '{shape: square, color: "#e8c800"}', '{shape: square, color: "#e8c800", size: 0.6}'
    )
    text = edit(
        text,
        "sessions:\n",
        "  sam:\n    type: questionnaire\n    items:\n      - id: valence\n"
        "        text: How pleasant?\n        cs: CS-\n        scale: [1, 9]\n"
        "sessions:\n",
    )
    path = write(text)
    (line,) = load_protocol(path).warnings
    assert line.startswith(f"{path}:34: phases.sam.items[0].cs: warning: the CS pictures yellow")


def test_commands_print_warnings_on_stderr_and_go_on(write, minimal, edit, tmp_path):
    """`pavlov validate` and `pavlov schedule` print the warning on stderr and succeed;
    `pavlov run` prints it before anything else (here it then stops: no display)."""
    path = write(edit(minimal, RATED, RATED + "    rating: {window: 4}\n"))
    warning = f"{path}:24: phases.acquisition.rating.window: warning: "
    validated = pavlov("validate", str(path))
    assert validated.returncode == 0 and ": ok (" in validated.stdout
    assert validated.stderr.startswith(warning) and validated.stderr.count("\n") == 1
    scheduled = pavlov("schedule", str(path), "-p", "01", "-f", "csv")
    assert scheduled.returncode == 0 and scheduled.stdout.startswith("phase,")
    assert scheduled.stderr.startswith(warning) and scheduled.stderr.count("\n") == 1
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    run = pavlov("run", str(path), "-p", "01", "--simulate", cwd=tmp_path, env=env)
    first, second = run.stderr.splitlines()
    assert first.startswith(warning) and "xvfb-run" in second and run.returncode == 2


TRACE_MISTAKES = [
    (
        "    trace_interval: 2\n    us_onset: 1\n",
        r"24: phases\.acquisition\.trace_interval: expected either us_onset \(delay "
        r"conditioning: the US within the CS\) or trace_interval \(trace conditioning: the US "
        r"after the CS\), not both, got both",
    ),
    (
        "    trace_interval: 0\n",
        r"24: phases\.acquisition\.trace_interval: expected seconds after CS offset > 0 and "
        r"<= 60, got 0",
    ),
    (
        "    trace_interval: 61\n",
        r"24: phases\.acquisition\.trace_interval: expected seconds after CS offset > 0 and "
        r"<= 60, got 61",
    ),
]


@pytest.mark.parametrize(("lines", "expected"), TRACE_MISTAKES)
def test_trace_interval_mistakes_are_one_line(write, minimal, edit, lines, expected):
    """A trace interval with us_onset, or out of range, is one exact line."""
    path = write(edit(minimal, RATED, RATED + lines))
    with pytest.raises(ProtocolError) as caught:
        load_protocol(path)
    assert re.fullmatch(re.escape(str(path)) + ":" + expected, str(caught.value)), caught.value


def test_trace_interval_needs_a_us(write, minimal, edit):
    """A trace interval in habituation (no US time) is one line naming the key."""
    text = edit(minimal, "type: extinction", "type: habituation")
    path = write(edit(text, "    iti: 10\n", "    iti: 10\n    trace_interval: 1\n"))
    with pytest.raises(ProtocolError, match=r":29: phases\.extinction\.trace_interval: expected "
                       r"no trace_interval in a phase without a US"):  # fmt: skip
        load_protocol(path)


def test_trace_schedule_onsets_follow_the_us(write, minimal, edit):
    """In a trace phase every trial's US time is CS + trace (4 + 1.5 s), the next trial comes
    an ITI after the US time ends, and a rating's default window ends with the CS."""
    text = edit(minimal, RATED, RATED + "    trace_interval: 1.5\n    rating: {onset: 1}\n")
    protocol = load_protocol(write(text))
    assert protocol.phases["acquisition"].rating.window == 3.0
    assert protocol.warnings == ()
    schedule = build_schedule(protocol, "01", "day1")
    acquisition = [e for e in schedule.trials if e.phase == "acquisition"]
    assert {e.us_onset for e in acquisition} == {5.5}
    assert {e.duration for e in acquisition} == {4.0}
    for a, b in itertools.pairwise(schedule.trials):
        span = 4 + 1.5 + 0.182 if a.phase == "acquisition" else 4.0
        assert b.onset == pytest.approx(a.onset + span + a.iti)
    row = next(r for r in csv.DictReader(io.StringIO(_csv(schedule))) if r["kind"] == "trial")
    assert (row["duration"], row["us_onset"]) == ("4.0", "5.5")


def _csv(schedule) -> str:
    from pavlov.protocols.cli import write_csv

    out = io.StringIO()
    write_csv(schedule, out)
    return out.getvalue()


#: Schiller et al. 2013's within-subject design: two CS+ (one to be reminded, one not).
TWO_CS_PLUS = """\
pavlov: 1
study: Two CS+ roles
task: twocs
seed: 2013
cs:
  roles: [CS+R, CS+NR, CS-]
  stimuli:
    blue: {image: cs/blue_square.png}
    purple: {image: cs/purple_square.png}
    yellow: {image: cs/yellow_square.png}
us:
  shock:
    type: shock
    train: {pulse_width: 0.002, interval: 0.02, count: 10}
safety:
  max_shocks: 20
  max_train_duration: 0.5
phases:
  acquisition:
    type: acquisition
    trials: {CS+R: 10, CS+NR: 10, CS-: 10}
    reinforced: {CS+R: 4, CS+NR: 4}
    cs_duration: 4
    iti: 10
    constraints: {max_run: 2}
  extinction:
    type: extinction
    trials: 10
    cs_duration: 4
    iti: 10
    constraints: {order: miniblocks}
sessions:
  - {name: day1, day: 0, phases: [acquisition, extinction]}
"""


def _runs(flags) -> int:
    return max((len(list(g)) for _, g in itertools.groupby(flags)), default=0)


def _check(protocol, participants):
    """The longest CS-type and reinforced runs over the participants' acquisitions, after
    checking every mini-block of the extinction holds each role once."""
    worst_type = worst_reinforced = 0
    for participant in participants:
        schedule = build_schedule(protocol, participant, "day1")
        acquisition = [e for e in schedule.trials if e.phase == "acquisition"]
        extinction = [e.cs for e in schedule.trials if e.phase == "extinction"]
        assert len(acquisition) == 30 and sum(e.reinforced for e in acquisition) == 8
        assert _runs([e.cs for e in acquisition]) <= 2
        worst_type = max(worst_type, _runs([e.cs_type for e in acquisition]))
        reinforced = [e.reinforced for e in acquisition]
        worst_reinforced = max(
            worst_reinforced, max(len(list(g)) for k, g in itertools.groupby(reinforced) if k)
        )
        for start in range(0, 30, 3):
            assert sorted(extinction[start : start + 3]) == ["CS+NR", "CS+R", "CS-"]
        assert build_schedule(protocol, participant, "day1") == schedule  # seeded
    return worst_type, worst_reinforced


PARTICIPANTS = [f"{i:02d}" for i in range(1, 61)]


def test_two_cs_plus_roles_keep_type_and_reinforced_runs(write):
    """With two CS+ roles, max_run per picture alone lets CS+ trials run 13 long and shocks
    come four in a row for some of 60 participants; max_run_type 3 and max_reinforced_run
    2 hold for all of them (and mini-blocks hold every role once per block of 3)."""
    free = load_protocol(write(TWO_CS_PLUS))
    assert _check(free, PARTICIPANTS) == (13, 4)  # 13 CS+ trials, 4 shocks in a row
    capped = load_protocol(
        write(
            TWO_CS_PLUS.replace(
                "constraints: {max_run: 2}",
                "constraints: {max_run: 2, max_run_type: 3, max_reinforced_run: 2}",
            )
        )
    )
    worst_type, worst_reinforced = _check(capped, PARTICIPANTS)
    assert worst_type <= 3 and worst_reinforced <= 2


CONSTRAINT_MISTAKES = [
    (
        "{max_run: 2}",
        "{max_run: 2, max_run_type: 1}",
        r"25: phases\.acquisition\.constraints\.max_run_type: expected at most 11 CS\+ trials "
        r"with 10 others \(max_run_type 1\), got 20 CS\+ trials",
    ),
    (
        "{max_run: 2}",
        "{max_run: 2, max_reinforced_run: 0}",
        r"25: phases\.acquisition\.constraints\.max_reinforced_run: expected a number of trials "
        r">= 1 and <= 1000, got 0",
    ),
    (
        "{order: miniblocks}",
        "{order: miniblocks, block_size: 3}",
        r"31: phases\.extinction\.constraints\.order: expected equal trial counts for every role, "
        r"each a multiple of block_size \(3\), for miniblocks, got CS\+R: 10, CS\+NR: 10, CS-: 10",
    ),
    (
        "{order: miniblocks}",
        "{order: miniblock}",
        r"31: phases\.extinction\.constraints\.order: expected one of random, miniblocks, got "
        r"'miniblock'\. Did you mean 'miniblocks'\?",
    ),
    (
        "{order: miniblocks}",
        "{block_size: 2}",
        r"31: phases\.extinction\.constraints\.block_size: expected no block_size without "
        r"order: miniblocks, got 2",
    ),
    (
        "{CS+R: 10, CS+NR: 10, CS-: 10}\n    reinforced: {CS+R: 4, CS+NR: 4}\n    cs_duration: 4\n"
        "    iti: 10\n    constraints: {max_run: 2}",
        "{CS+R: 1, CS+NR: 5, CS-: 1}\n    reinforced: {CS+R: 1, CS+NR: 2}\n    cs_duration: 4\n"
        "    iti: 10\n    constraints: {max_run: 2, max_run_type: 3}",
        r"25: phases\.acquisition\.constraints: expected trial counts that allow an order "
        r"keeping max_run 2, max_run_type 3, got CS\+R: 1, CS\+NR: 5, CS-: 1 \(CS\+R: 1, "
        r"CS\+NR: 2 reinforced\)",
    ),
    (
        "reinforced: {CS+R: 4, CS+NR: 4}\n    cs_duration: 4\n    iti: 10\n    constraints: "
        "{max_run: 2}",
        "reinforced: {CS+R: 10, CS+NR: 10}\n    cs_duration: 4\n    iti: 10\n    constraints: "
        "{max_run: 2, max_reinforced_run: 1}",
        r"25: phases\.acquisition\.constraints\.max_reinforced_run: expected at most 11 "
        r"reinforced trials with 10 unreinforced \(max_reinforced_run 1\), got 20 reinforced "
        r"trials",
    ),
]


@pytest.mark.parametrize(("old", "new", "expected"), CONSTRAINT_MISTAKES)
def test_impossible_constraints_are_one_line(write, edit, old, new, expected):
    """Constraints no order can keep, and wrong values, are one exact line each (the bounded
    search ends; it never loops)."""
    path = write(edit(TWO_CS_PLUS, old, new))
    with pytest.raises(ProtocolError) as caught:
        load_protocol(path)
    message = str(caught.value)
    assert re.fullmatch(re.escape(str(path)) + ":" + expected, message), message


def test_schedule_table_shows_the_longest_runs(write):
    """`pavlov schedule`'s table names each phase's longest runs of one CS, one CS type and
    reinforced trials, so a constraint can be checked by eye."""
    from pavlov.protocols.cli import format_table

    capped = TWO_CS_PLUS.replace(
        "constraints: {max_run: 2}", "constraints: {max_run: 2, max_run_type: 3}"
    )
    schedule = build_schedule(load_protocol(write(capped)), "04", "day1")
    line = format_table(schedule).splitlines()[-2]
    match = re.fullmatch(
        r"longest runs \(one CS/one CS type/reinforced\): acquisition (\d)/(\d)/(\d), "
        r"extinction (\d)/(\d)/0",
        line,
    )
    assert match, line
    acquisition = [e for e in schedule.trials if e.phase == "acquisition"]
    assert int(match[2]) == _runs([e.cs_type for e in acquisition]) <= 3


def test_bundled_protocols_keep_their_order_constraints(bundled):
    """Every bundled protocol's generated phases keep their constraints for 30 participants:
    at most max_run of one CS, max_run_type of one CS type and max_reinforced_run
    reinforced trials in a row."""
    for path in bundled:
        protocol = load_protocol(path)
        for session in protocol.sessions:
            for number in range(1, 31):
                schedule = build_schedule(protocol, f"{number:02d}", session.name)
                for name in session.phases:
                    spec = protocol.phases[name].spec
                    rules = getattr(spec, "constraints", None)
                    trials = [e for e in schedule.trials if e.phase == name and e.kind == "trial"]
                    if rules is None or not trials or spec.orders:
                        continue
                    assert _runs([e.cs for e in trials]) <= rules.max_run
                    if rules.max_run_type is not None:
                        assert _runs([e.cs_type for e in trials]) <= rules.max_run_type
                    if rules.max_reinforced_run is not None:
                        hits = [e.reinforced for e in trials]
                        longest = max(len(list(g)) for k, g in itertools.groupby(hits) if k)
                        assert longest <= rules.max_reinforced_run, (path.name, name, number)


def test_trace_trials_that_break_the_tr_lock_are_warned_about(write, bundled):
    """TR-locked ITIs after a trace trial of 4 + 1 + 0.2 s (not whole TRs of 2 s) load with
    a warning that onsets drift off the volumes; a 4-s delay trial gives none."""
    path = next(p for p in bundled if p.name == "aversive_pavlovian_fmri.yaml")
    text = path.read_text(encoding="utf-8")
    assert load_protocol(write(text)).warnings == ()
    traced = write(
        text.replace("iti: {trs: [5, 7]}\n", "iti: {trs: [5, 7]}\n    trace_interval: 1\n", 1)
    )
    (line,) = load_protocol(traced).warnings
    assert re.fullmatch(
        re.escape(str(traced)) + r":\d+: phases\.acquisition\.trace_interval: warning: a trial "
        r"\(CS \+ trace \+ US\) of 5\.2 s, not a whole number of TRs \(2 s\): with iti: trs the "
        r"onsets drift off the volumes",
        line,
    )


def test_trace_interval_left_empty_is_one_line(write, minimal, edit):
    """`trace_interval:` with no value (YAML null, e.g. a number deleted while editing) is
    one line naming the key, not an internal error (found by the attack slice: float(None)
    in protocols/kinds/trial.py _read_trace)."""
    path = write(edit(minimal, RATED, RATED + "    trace_interval:\n"))
    with pytest.raises(ProtocolError) as caught:
        load_protocol(path)
    assert str(caught.value).startswith(f"{path}:24: phases.acquisition.trace_interval: expected ")
    assert "\n" not in str(caught.value)
