"""Tests of the simulated Rescorla–Wagner participant."""

from __future__ import annotations

from pathlib import Path

import pytest

from pavlov.protocols import build_schedule, load_protocol
from pavlov.task.simulated_participant import LearnerParameters, SimulatedParticipant

PROTOCOLS = Path(__file__).resolve().parents[2] / "protocols"


def test_acquisition_extinction_and_return_of_fear():
    """Values rise with USs, fall in extinction, and partly return in a later session."""
    protocol = load_protocol(PROTOCOLS / "fear_extinction_recall.yaml")
    day1 = build_schedule(protocol, "3", "day1")
    day2 = build_schedule(protocol, "3", "day2")
    learner = SimulatedParticipant(1)
    cs_plus = next(e.stimulus for e in day1.trials if e.reinforced)
    learner.replay([e for e in day1.events if e.phase_type != "extinction"])
    after_acquisition = learner.value(cs_plus)
    learner.replay([e for e in day1.events if e.phase_type == "extinction"])
    after_extinction = learner.value(cs_plus)
    learner.enter(day2.events[0])
    recovered = learner.value(cs_plus)
    assert after_acquisition > 0.5 > after_extinction
    assert after_extinction < recovered < after_acquisition


def test_same_seed_same_answers():
    """Ratings and RTs are a function of the seed."""
    protocol = load_protocol(PROTOCOLS / "fear_extinction_recall.yaml")
    schedule = build_schedule(protocol, "3", "day1")
    trial = schedule.trials[0]
    spec = protocol.phases[trial.phase].rating
    a = [SimulatedParticipant(5).rate(trial, spec) for _ in range(2)]
    b = SimulatedParticipant(6).rate(trial, spec)
    assert a[0] == a[1] and a[0] != b


def test_answer_arrives_after_rt_scaled_by_speed():
    """An answer is given rt/speed clock seconds after the scale onset, not before."""
    protocol = load_protocol(PROTOCOLS / "fear_extinction_recall.yaml")
    trial = build_schedule(protocol, "3", "day1").trials[0]
    spec = protocol.phases[trial.phase].rating
    learner = SimulatedParticipant(2, speed=10.0)
    learner.start_rating(trial, spec, 100.0)
    answer = learner._pending[1]
    assert answer is None or 100.0 < answer.time < 100.0 + spec.window / 10.0
    if answer is not None:
        assert learner.poll_rating(answer.time - 1e-6, []).answer is None
        assert learner.poll_rating(answer.time, []).answer == answer


def test_expectation_generalises_down_the_continuum():
    """After acquisition on fear_generalisation.yaml the expectation falls off with distance
    from the CS+ (CS+ > GS1 > GS2 > GS3 > GS4 > CS-), and was flat (0) before it."""
    protocol = load_protocol(PROTOCOLS / "fear_generalisation.yaml")
    schedule = build_schedule(protocol, "4")
    cell = schedule.cell.cs
    order = ["CS+", "GS1", "GS2", "GS3", "GS4", "CS-"]
    learner = SimulatedParticipant(1)
    learner.replay([e for e in schedule.events if e.phase == "preacquisition"])
    assert [learner.value(cell[r]) for r in order] == [0.0] * 6
    learner.replay([e for e in schedule.events if e.phase == "acquisition"])
    values = [learner.value(cell[r]) for r in order]
    assert values == sorted(values, reverse=True) and len(set(values)) == 6
    assert values[0] > 0.7 and values[-1] < 0.05


def test_unreinforced_gs_trials_inhibit_their_own_expectation():
    """GS trials without a US lower that GS's expectation below what generalised to it."""
    protocol = load_protocol(PROTOCOLS / "fear_generalisation.yaml")
    schedule = build_schedule(protocol, "4")
    learner = SimulatedParticipant(1)
    learner.replay([e for e in schedule.events if e.phase != "generalisation"])
    gs1 = schedule.cell.cs["GS1"]
    before = learner.value(gs1)
    learner.replay([e for e in schedule.events if e.phase == "generalisation" and e.cs == "GS1"])
    assert learner.values[gs1] < 0 and learner.value(gs1) < before


def test_without_a_continuum_the_expectation_is_the_value():
    """A protocol without GS roles reads each CS's own value (no generalisation)."""
    protocol = load_protocol(PROTOCOLS / "retrieval_extinction.yaml")
    learner = SimulatedParticipant(1)
    learner.replay(build_schedule(protocol, "3", "day1").events)
    assert learner.distances == {}
    assert all(learner.value(s) == v for s, v in learner.values.items())


def test_valence_items_rate_the_cs_plus_less_pleasant_than_the_cs_minus():
    """In the bundled trace study the SAM valence items (feared_end: low, 1 = very
    unpleasant) come out with the CS+ rated less pleasant than the CS− for every simulated
    participant, and a noiseless learner's answer to such an item mirrors its answer to
    the same scale read with the feared end high."""
    from dataclasses import replace

    from pavlov.task.simulate import simulate_session

    protocol = load_protocol(PROTOCOLS / "trace_conditioning.yaml")
    items = {i.id: i for i in protocol.phases["debrief"].spec.items}
    assert {items[v].rating.feared_end for v in ("valence_csplus", "valence_csminus")} == {"low"}
    for participant in ("01", "02", "03", "04"):
        schedule = build_schedule(protocol, participant, "day1")
        rows = simulate_session(protocol, schedule).rows
        answers = {r["item"]: r["rating"] for r in rows if r.get("trial_type") == "questionnaire"}
        assert answers["valence_csplus"] < answers["valence_csminus"], answers
    learner = SimulatedParticipant(7, parameters=LearnerParameters(noise=0.0))
    learner.replay(e for e in schedule.events if e.phase != "debrief")
    item = next(e for e in schedule.events if e.item == "valence_csplus")
    valence = items["valence_csplus"].rating
    as_valence = learner.rate(item, valence)[0]
    as_fear = learner.rate(item, replace(valence, feared_end="high"))[0]
    assert as_fear == pytest.approx(1 + 8 * learner.value(item.stimulus))
    assert as_valence == pytest.approx(9 - 8 * learner.value(item.stimulus))
