"""Typed, strict reading of YAML mappings with one-line errors.

:class:`Section` wraps one mapping of a file. Each reader method takes a key, checks the
value's type and range, and on any mistake raises the section's kind of
:class:`~pavlov.common.errors.FileError` (:class:`ProtocolError` unless told otherwise)
naming the file, line, full key path, what was expected and what was found, with a "did
you mean" for misspelt keys and choices. Protocol files and lab files are both read with it.
value's type and range, and on any mistake raises :class:`ProtocolError` naming the file,
line, full key path, what was expected and what was found, with a "did you mean" for
misspelt keys and choices. Protocol files and lab files are both read with it.

Every mistake in one run: a reader given a :class:`Collector` marks its independent units
(a top-level block, a phase, a session) with :meth:`Collector.attempt`. A mistake ends its
unit only; the others are still read, and the collector reports every mistake (up to
:data:`MAX_ERRORS`) as one :class:`~pavlov.protocols.errors.ProtocolErrors`, one line each,
in file order. A unit that needs another (phases need the CS roles) is skipped when that one
failed, and an unknown key that is a misspelling of a required one is not reported a second
time as missing: a file with one mistake gets exactly the one line it always got.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from typing import Any, Final, NoReturn, TypeVar, overload

from pavlov.common.errors import FileError, suggest
from pavlov.common.yamlio import Node
from pavlov.protocols.errors import ProtocolError, ProtocolErrors

#: Longest duration any protocol field may have, in seconds (a day).
MAX_SECONDS = 86400.0
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_YAML11_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")
#: A range written as text (``10-14``, ``10 to 14``, ``10–14 s``) where a number was expected.
_RANGE_TEXT = re.compile(
    r"\s*(\d+(?:\.\d*)?)\s*(?:-|–|—|to|\.\.)\s*(\d+(?:\.\d*)?)\s*(?:s|sec|seconds)?\s*"
)


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


#: Marks a key without a default: it is required.
MISSING: Final = _Missing()

#: Most mistakes one run reports: past them, the rest are usually consequences.
MAX_ERRORS = 20

T = TypeVar("T")


class Collector:
    """The independent mistakes of one file, gathered so that one run reports them all.

    Parameters
    ----------
    limit : int
        Stop reading at this many mistakes (:data:`MAX_ERRORS`).
    """

    def __init__(self, limit: int = MAX_ERRORS) -> None:
        self.limit = limit
        self.errors: list[FileError] = []
        self.failed: set[str] = set()
        #: How many unknown keys looked like misspellings of known ones.
        self.misspellings = 0

    def add(self, error: FileError) -> None:
        """Record a mistake (each of a :class:`ProtocolErrors`); a repeated line is dropped.

        Raises
        ------
        ProtocolErrors
            When the limit is reached: reading stops there.
        """
        seen = {e.message for e in self.errors}
        for one in getattr(error, "errors", (error,)):
            if one.message not in seen:
                seen.add(one.message)
                self.errors.append(one)
        if len(self.errors) >= self.limit:
            raise self.combined()

    def attempt(
        self, read: Callable[[], T], *, name: str | None = None, needs: Iterable[str] = ()
    ) -> T | None:
        """Run one independent unit of reading; on a mistake record it and return None.

        Parameters
        ----------
        read : callable
            Reads the unit and returns its value.
        name : str, optional
            The unit's name, for units that need it; marked failed on a mistake.
        needs : iterable of str
            Units this one depends on: if any failed, it is skipped (None, and marked
            failed too), so a mistake is not reported again through its consequences.
            For the same reason a unit in which an unknown key looked like a misspelling
            reports that misspelling only.
        """
        if not self.ready(*needs):
            if name is not None:
                self.failed.add(name)
            return None
        misspellings = self.misspellings
        try:
            return read()
        except ProtocolError as error:
            if name is not None:
                self.failed.add(name)
            # After a misspelt key in this unit, its own later mistakes are most likely the
            # misspelling's consequences (the key it meant was never read): report the
            # misspelling only.
            if self.misspellings == misspellings:
                self.add(error)
            return None

    def each(self, items: Iterable[str], read: Callable[[str], T], *, name: str) -> dict[str, T]:
        """Read the entries of a block (stimuli, USs) as units of their own.

        Returns the entries read without a mistake; when any had one, the block ``name``
        is marked failed (for the units that need it), once every entry has been tried.
        """
        out: dict[str, T] = {}
        for item in list(items):
            value = self.attempt(functools.partial(read, item))
            if value is None:
                self.failed.add(name)
            else:
                out[item] = value
        return out

    def ready(self, *names: str) -> bool:
        """True when none of the named units failed."""
        return not any(name in self.failed for name in names)

    def combined(self) -> FileError:
        """The mistakes so far as one error: the single one, or all of them in file order."""
        errors = sorted(self.errors, key=lambda e: e.line)  # stable: same line, read order
        return errors[0] if len(errors) == 1 else ProtocolErrors(errors)

    def finish(self) -> None:
        """Raise the mistakes recorded, if any."""
        if self.errors:
            raise self.combined()


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
    collector : Collector, optional
        Gathers every mistake of the file: unknown keys are all recorded (and left out)
        instead of stopping at the first. Nested sections share it.
    """

    def __init__(
        self,
        path: str,
        node: Node,
        key: str,
        allowed: Iterable[str] | None,
        error: type[FileError] = ProtocolError,
        collector: Collector | None = None,
    ) -> None:
        self.path = path
        self.error = error
        self.key = key
        self.line = node.line
        self.collector = collector
        #: Required key → the unknown key that misspells it (already reported).
        self.misspelt: dict[str, FileError] = {}
        if not node.is_mapping:
            self._fail_at(node.line, key, "a mapping", describe(node))
        self.items: dict[str, Node] = dict(node.value)
        self.key_lines = node.key_lines or {}
        allowed = None if allowed is None else tuple(allowed)
        for name in list(self.items):
            if allowed is not None and name not in allowed:
                hint = suggest(name, allowed)
                # A blank or spaced key is quoted, so the message stays one readable line.
                shown = name if re.fullmatch(r"[^\s]+", str(name)) else f"'{name}'"
                mistake = self.error(
                    self.path,
                    self.key_lines[name],
                    self.sub(shown),
                    f"one of the keys {', '.join(allowed)}",
                    f"unknown key '{name}'",
                    hint,
                )
                if collector is None:
                    raise mistake
                collector.add(mistake)
                del self.items[name]
                if hint is not None:
                    collector.misspellings += 1
                    if hint not in self.items:
                        self.misspelt[hint] = mistake

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
                if node is None and name in self.misspelt:
                    raise self.misspelt[name]  # reported once, as the misspelling it is
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
        return Section(self.path, node, self.sub(name), allowed, self.error, self.collector)

    def number(
        self,
        name: str,
        default: Any = MISSING,
        *,
        gt: float | None = None,
        ge: float | None = None,
        le: float | None = None,
        what: str = "a number",
        range_hint: str | None = None,
    ) -> float:
        """Read a real number within bounds (``gt``/``ge`` below, ``le`` above).

        A duration (``what`` starting with ``seconds``) is at most :data:`MAX_SECONDS`
        unless a tighter ``le`` is given: 1e300 s would make every later onset equal.
        ``range_hint`` is what to suggest when the value is a range written as text
        (``iti: 10-14``), with ``{low}`` and ``{high}`` (e.g. ``{{uniform: [{low}, {high}]}}``).
        """
        if le is None and what.startswith("seconds"):
            le = MAX_SECONDS
        expected = _bounded(what, gt, ge, le)
        node, fallback = self._get(name, default, expected)
        if node is None:
            return fallback
        return self.check_number(
            node, self.sub(name), expected, gt=gt, ge=ge, le=le, range_hint=range_hint
        )

    def check_number(
        self,
        node: Node,
        key: str,
        expected: str,
        *,
        gt=None,
        ge=None,
        le=None,
        range_hint: str | None = None,
    ) -> float:
        """Check one node holds a number within bounds; return it as float.

        Two mistakes get a hint: a range written as text (with ``range_hint``, see
        :meth:`number`) and a percentage where a proportion from 0 to 1 is expected
        (``reinforcement_rate: 50``: did you mean 0.5?).
        """
        value = node.value
        span = _RANGE_TEXT.fullmatch(value) if isinstance(value, str) else None
        if span is not None and range_hint is not None:
            low, high = (_fmt(float(v)) for v in span.groups())
            self._fail_at(
                node.line, key, expected, describe(node), range_hint.format(low=low, high=high)
            )
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
            # 50 for a 0-1 rate is a percentage; 1.5 is not obviously one.
            if le == 1 and (ge == 0 or gt == 0) and 2 <= value <= 100:
                noun = "rates" if "rate" in expected else "proportions"
                self._fail_at(
                    node.line,
                    key,
                    expected,
                    f"{describe(node)} ({noun} are 0–1, not percentages)",
                    _fmt(value / 100),
                )
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
    """``what`` with its bounds (``seconds > 0 and <= 60``), unless it already states them
    (``a rate from 0 to 1`` stays as it is)."""
    low = ge if ge is not None else gt
    if low is not None and le is not None and f"from {_fmt(low)} to {_fmt(le)}" in what:
        return what
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
