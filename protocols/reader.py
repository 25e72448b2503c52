"""Typed, strict reading of YAML mappings with one-line errors.

:class:`Section` wraps one mapping of a file. Each reader method takes a key, checks the
value's type and range, and on any mistake raises the section's kind of
:class:`~pavlov.common.errors.FileError` (:class:`ProtocolError` unless told otherwise)
naming the file, line, full key path, what was expected and what was found, with a "did
you mean" for misspelt keys and choices. Protocol files and lab files are both read with it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final, NoReturn, overload

from pavlov.common.errors import FileError, suggest
from pavlov.common.yamlio import Node
from pavlov.protocols.errors import ProtocolError

#: Longest duration any protocol field may have, in seconds (a day).
MAX_SECONDS = 86400.0
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_YAML11_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


#: Marks a key without a default: it is required.
MISSING: Final = _Missing()


def describe(node: Node | None) -> str:
    """Say what a node holds, the way an error message quotes it ("got ...")."""
    if node is None or node.value is None:
        return "nothing"
    value = node.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"'{value}'" if value else "an empty text"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return f"a list of {len(value)}" if value else "an empty list"
    if isinstance(value, dict):
        return "a mapping"
    return f"{type(value).__name__} {value!r}"


class Section:
    """One mapping of a YAML file, with its allowed keys.

    Parameters
    ----------
    path : str
        The file, as shown in messages.
    node : Node
        The mapping node.
    key : str
        Dotted key path of this mapping ('' for the top level).
    allowed : iterable of str, or None
        Keys this mapping may have; any other key is an error with a suggestion. None
        admits every key (mappings whose keys the user names, such as phases).
    error : type of FileError
        What a mistake raises, naming the kind of file (lab files pass ``LabFileError``).
    """

    def __init__(
        self,
        path: str,
        node: Node,
        key: str,
        allowed: Iterable[str] | None,
        error: type[FileError] = ProtocolError,
    ) -> None:
        self.path = path
        self.error = error
        self.key = key
        self.line = node.line
        if not node.is_mapping:
            self._fail_at(node.line, key, "a mapping", describe(node))
        self.items: dict[str, Node] = node.value
        self.key_lines = node.key_lines or {}
        allowed = None if allowed is None else tuple(allowed)
        for name in self.items:
            if allowed is not None and name not in allowed:
                self._fail_at(
                    self.key_lines[name],
                    self.sub(name),
                    f"one of the keys {', '.join(allowed)}",
                    f"unknown key '{name}'",
                    suggest(name, allowed),
                )

    # -- plumbing ----------------------------------------------------------------------

    def sub(self, name: str) -> str:
        """Full key path of a key of this mapping."""
        return f"{self.key}.{name}" if self.key else name

    def has(self, name: str) -> bool:
        """True if the key is present (even with an empty value)."""
        return name in self.items

    def node(self, name: str) -> Node | None:
        """The key's node, or None."""
        return self.items.get(name)

    def child(self, name: str) -> Node:
        """The node of a key known to be present (an item of :attr:`items`)."""
        return self.items[name]

    def line_of(self, name: str) -> int:
        """Line of a key's value (or of the mapping, if the key is absent)."""
        node = self.items.get(name)
        return node.line if node is not None else self.line

    def fail(self, name: str, expected: str, got: str, suggestion: str | None = None) -> NoReturn:
        """Raise the one-line error for key ``name`` of this mapping."""
        self._fail_at(self.line_of(name), self.sub(name), expected, got, suggestion)

    def _fail_at(self, line, key, expected, got, suggestion=None) -> NoReturn:
        raise self.error(self.path, line, key, expected, got, suggestion)

    def _get(self, name: str, default: Any, expected: str) -> tuple[Node | None, Any]:
        node = self.items.get(name)
        if node is None or node.value is None:
            if default is MISSING:
                self.fail(name, f"{expected} (required)", "nothing")
            return None, default
        return node, None

    # -- typed readers -----------------------------------------------------------------

    @overload
    def section(
        self, name: str, allowed: Iterable[str] | None, default: _Missing = ...
    ) -> Section: ...

    @overload
    def section(
        self, name: str, allowed: Iterable[str] | None, default: _Missing | None
    ) -> Section | None: ...

    def section(
        self, name: str, allowed: Iterable[str] | None, default: _Missing | None = MISSING
    ) -> Section | None:
        """Read a nested mapping (required by default); None when absent and ``default`` is
        None."""
        node, fallback = self._get(name, default, "a mapping")
        if node is None:
            return fallback
        return Section(self.path, node, self.sub(name), allowed, self.error)

    def number(
        self,
        name: str,
        default: Any = MISSING,
        *,
        gt: float | None = None,
        ge: float | None = None,
        le: float | None = None,
        what: str = "a number",
    ) -> float:
        """Read a real number within bounds (``gt``/``ge`` below, ``le`` above).

        A duration (``what`` starting with ``seconds``) is at most :data:`MAX_SECONDS`
        unless a tighter ``le`` is given: 1e300 s would make every later onset equal.
        """
        if le is None and what.startswith("seconds"):
            le = MAX_SECONDS
        expected = _bounded(what, gt, ge, le)
        node, fallback = self._get(name, default, expected)
        if node is None:
            return fallback
        return self.check_number(node, self.sub(name), expected, gt=gt, ge=ge, le=le)

    def check_number(
        self, node: Node, key: str, expected: str, *, gt=None, ge=None, le=None
    ) -> float:
        """Check one node holds a number within bounds; return it as float."""
        value = node.value
        if isinstance(value, str) and _YAML11_FLOAT.fullmatch(value.strip()):
            # YAML 1.1 (PyYAML) reads 1e9, 1.0e9 and 2e-3 as text: a number needs a dot and
            # a signed exponent (1.0e+9, 2.0e-3).
            mantissa, _, exponent = value.strip().lower().partition("e")
            mantissa = mantissa if "." in mantissa else mantissa + ".0"
            exponent = exponent if exponent[:1] in "+-" else "+" + exponent
            fixed = f"{mantissa}e{exponent}"
            self._fail_at(
                node.line,
                key,
                expected,
                f"{describe(node)}, which YAML reads as text: write {fixed}",
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            self._fail_at(node.line, key, expected, describe(node))
        if value in (float("inf"), float("-inf")):
            self._fail_at(node.line, key, expected, describe(node))
        if (gt is not None and not value > gt) or (ge is not None and not value >= ge):
            self._fail_at(node.line, key, expected, describe(node))
        if le is not None and not value <= le:
            self._fail_at(node.line, key, expected, describe(node))
        return float(value)

    def integer(
        self,
        name: str,
        default: Any = MISSING,
        *,
        ge: int | None = None,
        le: int | None = None,
        what: str = "a whole number",
    ) -> int:
        """Read a whole number within bounds."""
        expected = _bounded(what, None, ge, le)
        node, fallback = self._get(name, default, expected)
        if node is None:
            return fallback
        return self.check_integer(node, self.sub(name), expected, ge=ge, le=le)

    def check_integer(self, node: Node, key: str, expected: str, *, ge=None, le=None) -> int:
        """Check one node holds a whole number within bounds; return it."""
        value = node.value
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self._fail_at(node.line, key, expected, describe(node))
        if (ge is not None and value < ge) or (le is not None and value > le):
            self._fail_at(node.line, key, expected, describe(node))
        return value

    def text(
        self,
        name: str,
        default: Any = MISSING,
        *,
        pattern: str | None = None,
        what: str = "a text",
    ) -> str:
        """Read a non-empty string, optionally matching a regular expression."""
        node, fallback = self._get(name, default, what)
        if node is None:
            return fallback
        return self.check_text(node, self.sub(name), what, pattern=pattern)

    def check_text(self, node: Node, key: str, what: str, *, pattern: str | None = None) -> str:
        """Check one node holds a non-empty string (matching ``pattern``); return it."""
        value = node.value
        if not isinstance(value, str) or not value.strip():
            self._fail_at(node.line, key, what, describe(node))
        bad = _CONTROL.search(value)
        if bad is not None:
            # A NUL or other control character (a YAML "\0" escape) would end up in the
            # log and make it unreadable.
            self._fail_at(
                node.line,
                key,
                f"{what} without control characters",
                f"{describe(node)} (character U+{ord(bad.group()):04X})",
            )
        if pattern is not None and re.fullmatch(pattern, value) is None:
            self._fail_at(node.line, key, what, describe(node))
        return value

    def boolean(self, name: str, default: Any = MISSING) -> bool:
        """Read ``true`` or ``false``."""
        node, fallback = self._get(name, default, "true or false")
        if node is None:
            return fallback
        if not isinstance(node.value, bool):
            self._fail_at(node.line, self.sub(name), "true or false", describe(node))
        return node.value

    def choice(self, name: str, options: Iterable[str], default: Any = MISSING) -> str:
        """Read one of a fixed set of words, suggesting the nearest for a typo."""
        options = tuple(options)
        expected = "one of " + ", ".join(options)
        node, fallback = self._get(name, default, expected)
        if node is None:
            return fallback
        return self.check_choice(node, self.sub(name), options)

    def check_choice(self, node: Node, key: str, options: Iterable[str]) -> str:
        """Check one node holds one of ``options``; return it."""
        options = tuple(options)
        value = node.value
        if not isinstance(value, str) or value not in options:
            expected = "one of " + ", ".join(options)
            hint = suggest(value, options) if isinstance(value, str) else None
            self._fail_at(node.line, key, expected, describe(node), hint)
        return value

    @overload
    def sequence(
        self, name: str, default: _Missing = ..., *, min_len: int = 1, what: str = "a list"
    ) -> list[Node]: ...

    @overload
    def sequence(
        self, name: str, default: _Missing | None, *, min_len: int = 1, what: str = "a list"
    ) -> list[Node] | None: ...

    def sequence(
        self,
        name: str,
        default: _Missing | None = MISSING,
        *,
        min_len: int = 1,
        what: str = "a list",
    ) -> list[Node] | None:
        """Read a list (a single scalar is not accepted: lists are explicit)."""
        node, fallback = self._get(name, default, what)
        if node is None:
            return fallback
        if not node.is_sequence:
            self._fail_at(node.line, self.sub(name), what, describe(node))
        if len(node.value) < min_len:
            self._fail_at(node.line, self.sub(name), what, describe(node))
        return node.value


def _bounded(what: str, gt, ge, le) -> str:
    parts = []
    if gt is not None:
        parts.append(f"> {_fmt(gt)}")
    if ge is not None:
        parts.append(f">= {_fmt(ge)}")
    if le is not None:
        parts.append(f"<= {_fmt(le)}")
    return f"{what} {' and '.join(parts)}" if parts else what


def _fmt(x: float) -> str:
    return f"{x:g}"
