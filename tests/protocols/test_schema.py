"""Tests of pavlov.protocols.schema: the JSON Schema agrees with the loader, key for key,
ships with the package, validates the bundled protocols and rejects what the loader
rejects where a schema can say so."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pavlov.protocols.errors import ProtocolError
from pavlov.protocols.loader import load_protocol
from pavlov.protocols.schema import SCHEMA_FILES, lab_schema, protocol_schema, to_json
from pavlov.task.devices.lab import LabFileError, load_lab

REPO = Path(__file__).resolve().parents[2]
BUNDLED = sorted((REPO / "protocols").glob("*.yaml"))
SCHEMA = REPO / "protocols" / SCHEMA_FILES["protocol"]
LAB_SCHEMA = REPO / "protocols" / SCHEMA_FILES["lab"]
UNKNOWN = "zz_not_a_key"


def check_jsonschema(schema: Path, *files: Path) -> subprocess.CompletedProcess:
    """The kept validator, as a user runs it."""
    tool = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    assert tool, "check-jsonschema is in the test extra"
    return subprocess.run(
        [tool, "--schemafile", str(schema), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_shipped_schemas_are_the_generated_ones():
    """protocol.schema.json and lab.schema.json in the package are what the declarations
    generate today (regenerate with `pavlov schema > protocols/protocol.schema.json`)."""
    assert SCHEMA.read_text(encoding="utf-8") == to_json(protocol_schema())
    assert LAB_SCHEMA.read_text(encoding="utf-8") == to_json(lab_schema())


def test_pavlov_schema_prints_them(capsys):
    """`pavlov schema` prints the protocol schema, `--lab` the lab one."""
    from pavlov.task.cli import main

    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == protocol_schema()
    assert main(["schema", "--lab"]) == 0
    assert json.loads(capsys.readouterr().out) == lab_schema()


def test_schemas_are_valid_draft_2020_12():
    """Both schemas are valid against the draft 2020-12 metaschema."""
    from jsonschema import Draft202012Validator

    for schema in (protocol_schema(), lab_schema()):
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        Draft202012Validator.check_schema(schema)


def test_bundled_protocols_name_the_schema_and_validate():
    """Every bundled protocol's first line points a YAML language server at the shipped
    schema, and check-jsonschema accepts every bundled protocol."""
    for path in BUNDLED:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first == "# yaml-language-server: $schema=protocol.schema.json", path.name
    result = check_jsonschema(SCHEMA, *BUNDLED)
    assert result.returncode == 0, result.stdout + result.stderr


def _mappings(schema: dict, data, path: tuple):
    """Every mapping of a document with the schema that governs it: (path, keys the schema
    accepts there)."""
    if not isinstance(data, dict):
        return
    if "allOf" in schema:  # a phase or a US: the branch its type selects
        for branch in schema["allOf"]:
            if branch["if"]["properties"]["type"]["const"] == data.get("type"):
                schema = branch["then"]
    props = schema.get("properties")
    if props is not None and schema.get("additionalProperties") is False:
        yield path, set(props)
        for key, value in data.items():
            if key in props:
                yield from _mappings(props[key], value, (*path, key))
                if props[key].get("type") == "array" and isinstance(value, list):
                    for i, item in enumerate(value):
                        yield from _mappings(props[key].get("items", {}), item, (*path, key, i))
    elif isinstance(schema.get("additionalProperties"), dict):
        for key, value in data.items():
            yield from _mappings(schema["additionalProperties"], value, (*path, key))


def _with_unknown_key(text: str, path: tuple) -> str:
    data = yaml.safe_load(text)
    target = data
    for part in path:
        target = target[part]
    target[UNKNOWN] = 1
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


@pytest.mark.parametrize("bundled", BUNDLED, ids=[p.stem for p in BUNDLED])
def test_loader_and_schema_accept_the_same_keys(tmp_path, bundled):
    """At every mapping of a bundled protocol, the keys the loader names as accepted (when
    given an unknown key there) are exactly the keys the schema accepts there."""
    text = bundled.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    mappings = list(_mappings(protocol_schema(), data, ()))
    assert len(mappings) > 10
    for path, schema_keys in mappings:
        copy = tmp_path / bundled.name
        copy.write_text(_with_unknown_key(text, path), encoding="utf-8")
        for asset in ("cs", "us", "contexts", "scripts"):  # stimuli beside the copy
            if (bundled.parent.parent / "stimuli" / asset).exists() and not (
                tmp_path / asset
            ).exists():
                (tmp_path / asset).symlink_to(bundled.parent.parent / "stimuli" / asset)
        with pytest.raises(ProtocolError) as caught:
            load_protocol(copy)
        message = str(caught.value)
        found = re.search(r"expected one of the keys (.+), got unknown key 'zz_not_a_key'", message)
        assert found, (path, message)
        assert set(found[1].split(", ")) == schema_keys, path


def test_lab_loader_and_schema_accept_the_same_keys(tmp_path):
    """The lab file's blocks: the keys load_lab accepts are the schema's."""
    schema = lab_schema()
    blocks = {(): schema, **{(k,): v for k, v in schema["properties"].items() if "properties" in v}}
    for path, block in blocks.items():
        data = {path[0]: {UNKNOWN: 1}} if path else {UNKNOWN: 1}
        file = tmp_path / "lab.yaml"
        file.write_text(yaml.safe_dump(data), encoding="utf-8")
        with pytest.raises(LabFileError) as caught:
            load_lab(file)
        found = re.search(r"expected one of the keys (.+), got unknown key", str(caught.value))
        assert found and set(found[1].split(", ")) == set(block["properties"]), path


#: Mutations of a bundled protocol the loader rejects and a schema can express:
#: (description, old text, new text).
MUTATIONS = [
    ("misspelt key", "cs_duration:", "cs_duraton:"),
    ("text for a number", "cs_duration: 4", "cs_duration: four"),
    ("negative duration", "cs_duration: 4", "cs_duration: -4"),
    ("duration over the limit", "cs_duration: 4", "cs_duration: 61"),
    ("unknown phase type", "type: acquisition", "type: aquisition"),
    ("bad task label", "task: pavlovrev", "task: pavlov rev"),
    ("format version 2", "pavlov: 1", "pavlov: 2"),
    ("negative seed", "seed: 2011", "seed: -1"),
    ("bad role", "roles: [CS+, CS-]", "roles: [CSplus, CS-]"),
    ("max_run of 0", "max_run: 2", "max_run: 0"),
    ("boolean as text", "first_reinforced: true", "first_reinforced: often"),
    ("ITI range as text", "iti: {trs: [5, 7]}", "iti: 10-14"),
    ("two ITI draws", "iti: {trs: [5, 7]}", "iti: {trs: [5, 7], uniform: [1, 2]}"),
    ("unknown ITI draw", "iti: {trs: [5, 7]}", "iti: {normal: [5, 7]}"),
    ("rating input", "input: keys", "input: mouse"),
    ("rating scale of one number", "scale: [1, 4]", "scale: 4"),
    ("TR of 0", "tr: 2.0", "tr: 0"),
    ("too many dummies", "dummy_volumes: 5", "dummy_volumes: 500"),
    ("shock cap of 0", "max_shocks: 15", "max_shocks: 0"),
    ("train without count", ", count: 10}", "}"),
    ("unknown US type", "type: shock", "type: zap"),
    (
        "two CS kinds",
        "stripes: {image: cs/stripes.png}",
        "stripes: {image: cs/stripes.png, text: X}",
    ),
    ("no required study", "study: Probabilistic", "studdy: Probabilistic"),
    (
        "empty phases",
        "phases: [instructions, baseline, acquisition, reversal, end_rest]",
        "phases: []",
    ),
]


@pytest.mark.parametrize(("what", "old", "new"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_mutations_the_loader_rejects_the_schema_rejects(tmp_path, what, old, new):
    """Each mutation of the fMRI protocol is rejected by the loader and by check-jsonschema."""
    bundled = REPO / "protocols" / "aversive_pavlovian_fmri.yaml"
    text = bundled.read_text(encoding="utf-8")
    assert old in text, what
    path = tmp_path / bundled.name
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    (tmp_path / "cs").symlink_to(REPO / "stimuli" / "cs")
    with pytest.raises(ProtocolError):
        load_protocol(path)
    result = check_jsonschema(SCHEMA, path)
    assert result.returncode == 1, (what, result.stdout)
