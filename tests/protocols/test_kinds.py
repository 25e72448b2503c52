"""The registry of phase kinds: declarations that docs, loader, schedule and markers share."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pavlov.protocols.kinds import (
    EVENT_KINDS,
    KINDS,
    PHASE_TYPES,
    declared_keys,
    markers,
    row_types,
)
from pavlov.protocols.kinds.docs import README, marked, readme_tables, update_readme
from pavlov.protocols.kinds.keys import KEY_TYPES, Key, walk
from pavlov.protocols.loader import load_protocol
from pavlov.protocols.schedule import build_schedule

REPO = Path(__file__).resolve().parents[2]
LOG_MD = REPO / "task" / "LOG.md"


def test_readme_tables_are_the_declarations():
    """Every format table in protocols/README.md is exactly what the declarations generate."""
    text = README.read_text(encoding="utf-8")
    assert marked(text) == set(readme_tables())
    assert update_readme(text) == text, (
        "protocols/README.md disagrees with the kinds' declarations: "
        "run python -m pavlov.protocols.kinds.docs"
    )


def test_readme_check_catches_a_changed_declaration(monkeypatch):
    """A declaration whose doc changes makes the README check fail (the check can fail)."""
    from pavlov.protocols.kinds import wait

    changed = tuple(
        Key(k.name, k.type, "changed meaning", k.default, type_doc=k.type_doc, what=k.what)
        if k.name == "countdown"
        else k
        for k in wait.KEYS
    )
    monkeypatch.setattr(KINDS["wait"], "keys", changed)
    text = README.read_text(encoding="utf-8")
    assert update_readme(text) != text


def test_log_md_lists_every_declared_row_type():
    """task/LOG.md's trial_type row names exactly the row types the kinds and the run loop
    declare."""
    line = next(
        line
        for line in LOG_MD.read_text(encoding="utf-8").splitlines()
        if line.startswith("| `trial_type` |")
    )
    documented = set(re.findall(r"`(\w+)`", line.split("|")[2]))
    assert documented == set(row_types())


def test_every_key_path_is_walkable_with_its_type():
    """Every accepted key path has a known type, a boolean required flag and its range."""
    paths = list(declared_keys())
    assert {kind for kind, _, _ in paths} == set(PHASE_TYPES)
    for kind, path, key in paths:
        assert key.type in KEY_TYPES, (kind, path)
        if key.type == "choice":
            assert key.enum, (kind, path)
        if key.type == "block":
            assert key.keys, (kind, path)
    trial = {path: key for path, key in walk(KINDS["acquisition"].keys)}
    assert trial["cs_duration"].gt == 0 and trial["cs_duration"].le == 60
    assert trial["cs_duration"].required
    assert trial["constraints.max_run"].default == 2
    assert trial["rating.input"].enum == ("keys", "slider")
    assert not trial["rating"].required and KINDS["rating"].keys[2].required


def test_markers_come_from_the_declarations():
    """The default marker table is the kinds' declared codes plus the run loop's, all even
    and distinct; every event kind's markers are in it."""
    from pavlov.task.devices.codes import DEFAULT_MARKER_CODES, SESSION_MARKERS

    assert dict(DEFAULT_MARKER_CODES) == markers(SESSION_MARKERS)
    assert all(code % 2 == 0 for code in DEFAULT_MARKER_CODES.values())
    for kind in EVENT_KINDS.values():
        assert {m.name for m in kind.markers} <= set(DEFAULT_MARKER_CODES)


@pytest.mark.parametrize("name", sorted(p.stem for p in (REPO / "protocols").glob("*.yaml")))
def test_bundled_events_are_of_declared_kinds(name):
    """Every event a bundled protocol schedules is of a registered event kind, and every
    phase's kind counts no more shocks than the session's schedule delivers."""
    protocol = load_protocol(REPO / "protocols" / f"{name}.yaml")
    for session in protocol.sessions:
        schedule = build_schedule(protocol, "demo", session.name)
        assert {e.kind for e in schedule.events} <= set(EVENT_KINDS)
        shocks = sum(
            KINDS[protocol.phases[p].type].shocks(protocol.phases[p], protocol.us)
            for p in session.phases
        )
        delivered = sum(
            1
            for e in schedule.events
            if e.reinforced and e.us and protocol.us[e.us].kind == "shock"
        )
        assert shocks == delivered
