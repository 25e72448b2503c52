"""The bundled protocols say what their sources did: Homan 2019's trial counts, Schiller
2010's three arms, Duek 2023's exposure days after the infusion and its blinded arms."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from pavlov.protocols import build_schedule, load_protocol

PROTOCOLS = Path(__file__).resolve().parents[2] / "protocols"


def counts(schedule, phase: str) -> tuple[Counter, int]:
    trials = [e for e in schedule.trials if e.phase == phase]
    return Counter(e.cs for e in trials), sum(e.reinforced for e in trials)


def test_fmri_protocol_has_homan_2019s_counts():
    """Acquisition 18 CS+ (6 shocks) and 12 CS−; reversal 23 CS+ (7 shocks) and 16 CS−."""
    schedule = build_schedule(load_protocol(PROTOCOLS / "aversive_pavlovian_fmri.yaml"), "01")
    assert counts(schedule, "acquisition") == (Counter({"CS+": 18, "CS-": 12}), 6)
    assert counts(schedule, "reversal") == (Counter({"CS+": 23, "CS-": 16}), 7)


def test_retrieval_extinction_has_schiller_2010s_three_arms():
    """Day 2: reminder + 10-min wait, reminder + 6-h wait, or no reminder, then extinction;
    days 1 and 3 are the same in every arm."""
    protocol = load_protocol(PROTOCOLS / "retrieval_extinction.yaml")
    day2 = {}
    for name in protocol.arms:
        view = protocol.for_arm(name)
        day2[name] = [(p, protocol.phases[p].spec) for p in view.session("day2").phases]
        assert view.session("day1") == protocol.session("day1")
        assert view.session("day3") == protocol.session("day3")
    waits = {n: [s.duration for _, s in v if hasattr(s, "countdown")] for n, v in day2.items()}
    assert waits == {"reminder_10min": [600], "reminder_6h": [21600], "no_reminder": []}
    assert [p for p, _ in day2["no_reminder"]] == ["extinction"]


def test_ketamine_protocol_exposes_on_days_1_to_4_after_the_infusion():
    """No CS under the drug on day 0; exposure sessions on days 1-4; follow-ups at 30 and
    90 days; two arms that run the same sessions (so they can stay blinded)."""
    protocol = load_protocol(PROTOCOLS / "ketamine_reconsolidation.yaml")
    days = {s.name: s.day for s in protocol.sessions}
    assert days == {
        "infusion": 0,
        "exposure1": 1,
        "exposure2": 2,
        "exposure3": 3,
        "exposure4": 4,
        "followup30": 30,
        "followup90": 90,
    }
    assert build_schedule(protocol, "demo", "infusion").trials == ()
    assert all(build_schedule(protocol, "demo", f"exposure{i}").trials for i in range(1, 5))
    assert list(protocol.arms) == ["ketamine", "midazolam"]
    assert protocol.blind().sessions == protocol.sessions
