"""Tests of pavlov.common.errors and of the file readers' error kinds."""

from __future__ import annotations

import pytest

from pavlov.common.errors import FileError, PavlovError, suggest
from pavlov.common.yamlio import read_yaml
from pavlov.protocols.errors import ProtocolError
from pavlov.task.devices.lab import LabFileError, load_lab


def test_file_errors_speak_one_voice():
    """Every file error is `path:line: key: expected X, got Y. Did you mean 'Z'?`, exit 2."""
    error = FileError("p.yaml", 3, "phases.a.iti", "a number", "'x'", "iti")
    assert str(error) == "p.yaml:3: phases.a.iti: expected a number, got 'x'. Did you mean 'iti'?"
    assert isinstance(error, PavlovError) and isinstance(error, ValueError)
    assert error.exit_status == 2


def test_yaml_errors_take_the_callers_kind(tmp_path):
    """The same YAML mistake is a ProtocolError for a protocol and a LabFileError for a lab."""
    path = tmp_path / "bad.yaml"
    path.write_text("a: 1\na: 2\n")
    with pytest.raises(FileError, match=r"bad.yaml:2: a: expected each key once") as plain:
        read_yaml(path)
    assert type(plain.value) is FileError
    with pytest.raises(ProtocolError, match=r"bad.yaml:2: a: expected each key once"):
        read_yaml(path, "a protocol file", ProtocolError)


def test_a_lab_file_mistake_is_not_a_protocol_error(tmp_path):
    """Lab files raise their own LabFileError (was ProtocolError), in the same voice."""
    path = tmp_path / "lab.yaml"
    path.write_text("shock:\n  devise: simulated\n")
    with pytest.raises(
        LabFileError, match=r"lab.yaml:2: shock.devise: .*Did you mean 'device'"
    ) as caught:
        load_lab(path)
    assert not isinstance(caught.value, ProtocolError)


def test_suggest_finds_a_near_name_or_none():
    """A misspelt name gets its nearest valid one; a far one gets none."""
    assert suggest("cs_duraton", ["cs_duration", "iti"]) == "cs_duration"
    assert suggest("zzz", ["cs_duration", "iti"]) is None
