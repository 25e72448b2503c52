"""Tests of pavlov.analysis.provenance: the report describes the protocol recorded in the
run sidecars (protocol_text), says when runs used different protocols, and --protocol
overrides it."""

from __future__ import annotations

import hashlib
import html
import json
import re

import pytest

from pavlov.analysis.load import load_sessions
from pavlov.analysis.provenance import (
    load_recorded_protocol,
    protocol_sections,
    recorded_protocols,
)
from pavlov.common.errors import PavlovError

STUDY = "Probabilistic aversive Pavlovian conditioning with reversal at 7T"


def analyze(*argv):
    """`pavlov analyze ...` through the top-level CLI, in process."""
    from pavlov.task.cli import main

    return main(["analyze", *map(str, argv)])


def report_text(out) -> str:
    """The report's text without tags."""
    return html.unescape(re.sub(r"<[^>]+>", " ", (out / "report.html").read_text()))


def sidecar_of(root, participant):
    (path,) = root.glob(f"sub-{participant}/ses-*/*/*_session.json")
    return path


def edit_sidecar(path, **changes):
    meta = json.loads(path.read_text())
    meta.update(changes)
    path.write_text(json.dumps(meta))


def edited_protocol(path, text):
    """The sidecar records a different protocol file (a changed rating window) that no
    longer exists at its recorded path."""
    changed = text.replace("window: 3", "window: 4", 1)
    assert changed != text
    edit_sidecar(
        path,
        protocol_text=changed,
        protocol_sha256=hashlib.sha256(changed.encode()).hexdigest(),
        protocol_path="/nonexistent/lab/pilot.yaml",
    )


@pytest.fixture
def scans(tmp_path, simulate):
    """Two runner-played scan sessions with full provenance sidecars."""
    root = tmp_path / "data"
    for seed, participant in enumerate(("1", "2"), start=1):
        simulate.run(root, "aversive_pavlovian_fmri", participant, "scan", seed=seed)
    return root


def test_report_describes_recorded_protocol_without_flag(scans, tmp_path):
    """Without --protocol the methods name the study, US train and rating from the sidecars."""
    out = tmp_path / "out"
    assert analyze(scans, "--out", out, "--models", "--no-figures") == 0
    text = report_text(out)
    assert f"Study '{STUDY}', task 'pavlovrev', protocol seed 2011." in text
    assert "US 'shock': shock, 0.2 s, train of 10 pulses of 2 ms every 20 ms." in text
    assert "Recorded in 2 run sidecar(s) (sub-1, sub-2)" in text
    assert "read from the original file" in text
    assert "Rating in acquisition: 'How likely is a shock?', scale 1–4" in text
    assert "different protocol files" not in text


def test_recorded_text_is_used_when_the_file_is_gone(scans):
    """A moved protocol file is re-read from the recorded text (same hash)."""
    for participant in ("1", "2"):
        edit_sidecar(sidecar_of(scans, participant), protocol_path="/moved/away/protocol.yaml")
    (item,) = recorded_protocols(load_sessions(scans))
    assert item.source == "protocol_text"
    assert item.protocol.study == STUDY
    assert item.runs == 2 and item.participants == ("1", "2")
    sections, notes = protocol_sections([item], load_sessions(scans))
    assert sections[0][0] == "Protocol"
    assert "read from the recorded text" in sections[0][1][0]
    assert notes == []


def test_different_protocols_are_reported(scans, tmp_path):
    """Runs from two protocol files: a note lists both hashes and each gets a section."""
    path = sidecar_of(scans, "2")
    edited_protocol(path, json.loads(path.read_text())["protocol_text"])
    out = tmp_path / "out"
    assert analyze(scans, "--out", out, "--models", "--no-figures") == 0
    text = report_text(out)
    assert "The runs used 2 different protocol files:" in text
    assert "/nonexistent/lab/pilot.yaml" in text
    assert text.count("Protocol sha256 ") == 2
    assert "3 s window" in text and "4 s window" in text


def test_protocol_flag_overrides_and_warns_on_mismatch(scans, tmp_path):
    """--protocol is described instead; a hash differing from the logs' is noted."""
    path = sidecar_of(scans, "1")
    meta = json.loads(path.read_text())
    for participant in ("1", "2"):
        edited_protocol(sidecar_of(scans, participant), meta["protocol_text"])
    out = tmp_path / "out"
    given = meta["protocol_path"]
    assert analyze(scans, "--out", out, "--models", "--no-figures", "--protocol", given) == 0
    text = report_text(out)
    assert f"From --protocol {given}" in text
    assert "is not the protocol recorded in the logs" in text
    assert "3 s window" in text and "4 s window" not in text


def test_edited_or_broken_records_are_explained(scans):
    """A text that does not match its hash, or that is no valid protocol, is not described;
    the sidecar's study and task are still shown with the reason."""
    edit_sidecar(sidecar_of(scans, "1"), protocol_text="pavlov: 1\n")
    broken = "pavlov: 1\nstudy: x\n"
    edit_sidecar(
        sidecar_of(scans, "2"),
        protocol_text=broken,
        protocol_sha256=hashlib.sha256(broken.encode()).hexdigest(),
    )
    items = recorded_protocols(load_sessions(scans))
    problems = sorted(item.problem for item in items)
    assert any("the sidecar was edited" in p for p in problems)
    assert any(p.startswith("aversive_pavlovian_fmri.yaml:") for p in problems)  # no temp path
    sections, notes = protocol_sections(items, load_sessions(scans))
    lines = [line for _, body in sections for line in body]
    assert any(f"study {STUDY}, task pavlovrev" in line for line in lines)
    assert sum("not described" in note for note in notes) == 2


def test_runs_without_a_record_are_counted(scans):
    """A sidecar without protocol fields is counted in a note."""
    path = sidecar_of(scans, "2")
    meta = json.loads(path.read_text())
    for key in ("protocol_text", "protocol_sha256", "protocol_path"):
        meta.pop(key)
    path.write_text(json.dumps(meta))
    sessions = load_sessions(scans)
    items = recorded_protocols(sessions)
    assert [item.runs for item in items] == [1]
    _, notes = protocol_sections(items, sessions)
    assert notes == [
        "1 run(s) have no protocol record in their sidecar; the Protocol section describes "
        "the others."
    ]


def test_load_recorded_protocol_checks_the_hash():
    """Text and hash must agree (a hand-edited sidecar is caught)."""
    with pytest.raises(PavlovError, match=r"expected text with sha256 0{12}\.\.\., got"):
        load_recorded_protocol("pavlov: 1\n", "0" * 64)
