"""Tests of the provenance files (pavlov.task.sidecar)."""

from __future__ import annotations

import json

import pytest

from pavlov.task.log import LogError
from pavlov.task.sidecar import (
    SessionRecord,
    add_participant,
    package_versions,
    participant_row,
    write_dataset_description,
)


def test_record_create_update_and_refuse(tmp_path):
    """A record is created once, updated atomically, and never overwritten by create."""
    path = tmp_path / "s.json"
    record = SessionRecord.create(path, {"end_reason": "running"})
    record.finish(end_reason="completed")
    data = json.loads(path.read_text())
    assert data["end_reason"] == "completed" and data["ended"]
    with pytest.raises(LogError, match="already has a session record"):
        SessionRecord.create(path, {})
    assert SessionRecord.open(path).data["end_reason"] == "completed"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_record_open_errors(tmp_path):
    """Opening a missing or broken record is a one-line error."""
    with pytest.raises(LogError, match="nothing to resume"):
        SessionRecord.open(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(LogError, match="cannot read"):
        SessionRecord.open(tmp_path / "bad.json")


def test_dataset_files_created_once(tmp_path):
    """dataset_description.json is kept; participants.tsv gets each participant once."""
    write_dataset_description(tmp_path, "study A")
    write_dataset_description(tmp_path, "study B")
    assert json.loads((tmp_path / "dataset_description.json").read_text())["Name"] == "study A"
    add_participant(tmp_path, "01")
    add_participant(tmp_path, "02")
    add_participant(tmp_path, "01")
    assert (tmp_path / "participants.tsv").read_text() == "participant_id\nsub-01\nsub-02\n"


def test_versions_name_the_stack():
    """Package versions include python, numpy and psychopy."""
    versions = package_versions()
    assert {"python", "numpy", "psychopy"} <= set(versions)


def test_participants_tsv_not_in_utf8_is_one_line(tmp_path):
    """A participants.tsv a lab saved from Excel in Latin-1 (``Müller`` as byte 0xFC) is a
    one-line LogError naming the file when pavlov reads it for the arm or adds a
    participant, not an internal UnicodeDecodeError (``pavlov run`` of an arms protocol
    failed so before any window; of any protocol, after its log and session record were
    created, leaving ``end_reason: running``)."""
    (tmp_path / "participants.tsv").write_bytes(b"participant_id\tnote\nsub-99\tM\xfcller\n")
    for call in (
        lambda: participant_row(tmp_path, "03"),
        lambda: add_participant(tmp_path, "03", {"arm": "a", "group": "a"}),
    ):
        with pytest.raises(LogError) as error:
            call()
        assert str(tmp_path / "participants.tsv") in str(error.value)
        assert "\n" not in str(error.value)
