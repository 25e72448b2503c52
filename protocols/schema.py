"""JSON Schema (draft 2020-12) of protocol files and lab files, from the declarations.

``pavlov schema`` prints it; the package ships it beside the bundled protocols
(``protocol.schema.json``, ``lab.schema.json``), whose first line points a YAML language
server at it (``# yaml-language-server: $schema=protocol.schema.json``), so an editor
completes keys, shows each key's one-line doc on hover and marks wrong values as you type.

Everything comes from the declarations the loader reads with: the phase kinds'
(:data:`pavlov.protocols.kinds.KINDS`) and the rest of the format's
(:mod:`pavlov.protocols.format`). Rules across keys stay in the loader; the schema states
what a schema can (types, ranges, choices, patterns, required keys, one of several keys).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pavlov.protocols.format import (
    LAB,
    LABEL,
    NAME,
    ROLE,
    TOP,
    US_TYPES,
)
from pavlov.protocols.kinds import KINDS
from pavlov.protocols.kinds.keys import Key
from pavlov.protocols.kinds.shared import INSTRUCTIONS
from pavlov.protocols.reader import MAX_SECONDS

__all__ = ["DIALECT", "SCHEMA_FILES", "key_schema", "lab_schema", "protocol_schema", "to_json"]

DIALECT = "https://json-schema.org/draft/2020-12/schema"

#: The shipped schema files (beside the bundled protocols), by format.
SCHEMA_FILES = {"protocol": "protocol.schema.json", "lab": "lab.schema.json"}

_ITI_DRAWS = ("uniform", "choice", "sequence", "trs")


def key_schema(key: Key) -> dict[str, Any]:
    """The schema of one declared key's value (with its doc and default)."""
    schema = _value_schema(key)
    if key.doc:
        schema["description"] = key.doc
    default = _json_default(key)
    if default is not None:
        schema["default"] = default
    return schema


def _value_schema(key: Key) -> dict[str, Any]:
    kind = key.type
    if kind in ("number", "integer"):
        schema: dict[str, Any] = {"type": kind}
        if key.gt is not None:
            schema["exclusiveMinimum"] = key.gt
        if key.ge is not None:
            schema["minimum"] = key.ge
        high = key.le
        if high is None and kind == "number" and (key.what or "").startswith("seconds"):
            high = MAX_SECONDS
        if high is not None:
            schema["maximum"] = high
        return schema
    if kind == "boolean":
        return {"type": "boolean"}
    if kind == "text":
        return _text(key.pattern)
    if kind == "choice":
        return {"enum": list(key.enum)}
    if kind in ("file", "us"):
        return {"type": "string", "minLength": 1}
    if kind == "role":
        return _text(ROLE)
    if kind == "roles":
        return {"type": "array", "items": _text(ROLE), "minItems": 1}
    if kind == "context":
        return _text(LABEL)
    if kind == "counts":
        return {
            "anyOf": [
                {"type": "integer", "minimum": 0},
                {
                    "type": "object",
                    "propertyNames": _text(ROLE),
                    "additionalProperties": {"type": "number", "minimum": 0},
                },
            ]
        }
    if kind == "iti":
        numbers = {"type": "array", "items": {"type": "number", "minimum": 0}, "minItems": 1}
        return {
            "anyOf": [
                {"type": "number", "minimum": 0, "maximum": 300},
                {
                    "type": "object",
                    "properties": dict.fromkeys(_ITI_DRAWS, numbers),
                    "additionalProperties": False,
                    "minProperties": 1,
                    "maxProperties": 1,
                },
            ]
        }
    if kind == "files":
        one = {"type": "string", "minLength": 1}
        return {"anyOf": [one, {"type": "array", "items": one, "minItems": 1}]}
    if kind == "keymap":
        value = (
            _text(key.pattern) if key.pattern else {"type": "integer", "minimum": 0, "maximum": 255}
        )
        return {"type": "object", "additionalProperties": value}
    if kind == "block":
        return mapping(key.keys)
    if kind == "integers":
        return {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2}
    if kind == "texts":
        return {"type": "array", "items": _text(key.pattern), "minItems": 1}
    if kind == "list":
        return {"type": "array", "items": mapping(key.keys), "minItems": 1}
    if kind == "named":
        return {
            "type": "object",
            "propertyNames": _text(NAME),
            "additionalProperties": mapping(key.keys),
        }
    raise ValueError(f"key {key.name}: no schema for type {kind!r}")


def _text(pattern: str | None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "minLength": 1}
    if pattern:
        schema["pattern"] = f"^(?:{pattern})$"
    return schema


def _json_default(key: Key) -> Any:
    if key.required or key.default is None:
        return None
    value = key.default
    return list(value) if isinstance(value, tuple) else value


def mapping(keys: Sequence[Key], *, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A mapping that accepts exactly ``keys`` (the required ones required)."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {key.name: key_schema(key) for key in keys},
        "additionalProperties": False,
    }
    required = [key.name for key in keys if key.required]
    if required:
        schema["required"] = required
    if extra:
        schema.update(extra)
    return schema


def _by_type(variants: dict[str, Sequence[Key]], doc: str) -> dict[str, Any]:
    """A mapping whose accepted keys depend on its ``type`` (a phase, a US)."""
    return {
        "type": "object",
        "description": doc,
        "required": ["type"],
        "properties": {"type": {"enum": list(variants)}},
        "allOf": [
            {
                "if": {"properties": {"type": {"const": name}}, "required": ["type"]},
                "then": mapping(keys),
            }
            for name, keys in variants.items()
        ],
    }


def phase_keys(kind) -> tuple[Key, ...]:
    """Every key a phase of this kind accepts, ``type`` first (as the loader reads it)."""
    keys = (Key("type", "choice", "the phase's kind", enum=(kind.name,)), *kind.keys)
    if kind.instructions_key not in {key.name for key in keys}:
        keys = (*keys, INSTRUCTIONS)
    return keys


def protocol_schema() -> dict[str, Any]:
    """The JSON Schema of a protocol file."""
    phases = _by_type(
        {name: phase_keys(kind) for name, kind in KINDS.items()},
        "a phase; its type says which keys it takes",
    )
    us = _by_type(dict(US_TYPES), "a US; its type says which keys it takes")
    schema = mapping(TOP)
    props = schema["properties"]
    props["phases"].update(
        {
            "type": "object",
            "propertyNames": _text(NAME),
            "additionalProperties": phases,
            "minProperties": 1,
        }
    )
    props["us"].update({"type": "object", "propertyNames": _text(NAME), "additionalProperties": us})
    cs_stimuli = props["cs"]["properties"]["stimuli"]["additionalProperties"]
    cs_stimuli["oneOf"] = [{"required": [name]} for name in ("image", "shape", "text", "sound")]
    contexts = props["contexts"]["properties"]["stimuli"]["additionalProperties"]
    contexts["oneOf"] = [{"required": [name]} for name in ("image", "color")]
    return {
        "$schema": DIALECT,
        "title": "pavlov protocol file",
        "description": "A study for pavlov: stimuli, USs, phases, sessions, scanner and safety "
        "settings. Check it with `pavlov validate FILE`.",
        **schema,
    }


def lab_schema() -> dict[str, Any]:
    """The JSON Schema of a lab file."""
    return {
        "$schema": DIALECT,
        "title": "pavlov lab file",
        "description": "One room's devices, for `pavlov run --lab FILE`; an absent device is "
        "simulated.",
        **mapping(LAB),
    }


def to_json(schema: dict[str, Any]) -> str:
    """The schema as the text of its file (stable: sorted nowhere, indented, newline-ended)."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
