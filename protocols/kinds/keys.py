"""The declaration API: what a protocol key accepts, said once.

Every phase kind declares its keys as a tuple of :class:`Key`. The same declaration

- tells the loader which keys a phase of that kind may have (a misspelt key is an error
  with a "did you mean"), reads the simple ones (:func:`read_key`: type, range, choices,
  default), and leaves cross-key checks to the kind's own reader;
- generates the format tables of ``protocols/README.md`` (:func:`markdown_table`);
- is walked, key path by key path, by tools such as a JSON Schema generator (:func:`walk`).

A key's ``type`` is one of :data:`KEY_TYPES`. Compound keys carry their sub-keys
(``keys``, a block such as ``rating`` or ``constraints``) or say in ``type_doc`` what they
hold (``iti``: seconds or one of four draws). Ranges are inclusive (``ge``/``le``) or
exclusive (``gt``) bounds on numbers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pavlov.protocols.reader import MISSING, Section

__all__ = [
    "KEY_TYPES",
    "REQUIRED",
    "Key",
    "markdown_table",
    "read_key",
    "walk",
]

#: Marks a key that must be given (the loader's ``MISSING``).
REQUIRED: Any = MISSING

#: What a key's value may be:
#:
#: - ``number`` (real; ``gt``/``ge``/``le`` bounds), ``integer`` (whole), ``boolean``,
#:   ``text`` (non-empty; ``pattern`` a regular expression it must match), ``choice``
#:   (one of ``enum``);
#: - ``file`` (a path, resolved beside the protocol then in pavlov's stimuli; may hold
#:   ``{participant}`` when ``template``), ``role`` (a CS role of the protocol),
#:   ``roles`` (a list of CS roles), ``context`` (a context role), ``us`` (a US name);
#: - ``counts`` (a whole number for every CS role, or a mapping role → whole/number),
#:   ``iti`` (seconds, or a mapping ``uniform|choice|sequence|trs`` → list of numbers),
#:   ``files`` (one file or a list of files), ``keymap`` (a mapping key name → label),
#:   ``block`` (a mapping whose keys are ``keys``);
#: - ``integers`` (a list of whole numbers, e.g. a scale's ``[low, high]``), ``texts`` (a list
#:   of texts; ``pattern`` each must match), ``list`` (a list of blocks whose keys are
#:   ``keys``), ``named`` (a mapping from names the user chooses to blocks whose keys are
#:   ``keys``, e.g. ``cs.stimuli``).
KEY_TYPES = (
    "number",
    "integer",
    "boolean",
    "text",
    "choice",
    "file",
    "role",
    "roles",
    "context",
    "us",
    "counts",
    "iti",
    "files",
    "keymap",
    "block",
    "integers",
    "texts",
    "list",
    "named",
)


@dataclass(frozen=True)
class Key:
    """One key a protocol may give, with everything a reader or a writer of docs needs.

    Attributes
    ----------
    name : str
        The key as written in the file.
    type : str
        One of :data:`KEY_TYPES`.
    doc : str
        One line: what the key means (the README's "meaning" column).
    default : object
        The value when the key is absent: :data:`REQUIRED`, or a value (None: absent is
        allowed and means "none"). Defaults computed from other keys are None here and
        described in ``default_doc``.
    default_doc : str or None
        How the README says the default, when the value alone does not say it.
    type_doc : str or None
        How the README says the type (e.g. ``seconds, 0 < x ≤ 60``); derived when None.
    gt, ge, le : float or None
        Bounds of a number or whole number.
    enum : tuple of str
        The allowed words of a ``choice``.
    pattern : str or None
        A regular expression a ``text`` must match in full.
    what : str or None
        The expected value as an error message says it (``expected <what>, got ...``).
    keys : tuple of Key
        Sub-keys of a ``block``.
    template : bool
        ``file``: the path may contain ``{participant}``.
    """

    name: str
    type: str
    doc: str
    default: Any = REQUIRED
    default_doc: str | None = None
    type_doc: str | None = None
    gt: float | None = None
    ge: float | None = None
    le: float | None = None
    enum: tuple[str, ...] = ()
    pattern: str | None = None
    what: str | None = None
    keys: tuple[Key, ...] = ()
    template: bool = False

    def __post_init__(self) -> None:
        if self.type not in KEY_TYPES:
            raise ValueError(f"key {self.name}: type {self.type!r} is not one of {KEY_TYPES}")
        if self.type == "choice" and not self.enum:
            raise ValueError(f"key {self.name}: a choice needs its enum")

    @property
    def required(self) -> bool:
        """True when the key must be given."""
        return self.default is REQUIRED

    def describe_type(self) -> str:
        """The README's "type" column for this key."""
        if self.type_doc is not None:
            return self.type_doc
        if self.type == "choice":
            return ", ".join(f"`{v}`" for v in self.enum)
        if self.type in ("number", "integer"):
            unit = (
                "seconds"
                if (self.what or "").startswith("seconds")
                else ("whole" if self.type == "integer" else "number")
            )
            bounds = _bounds_doc(self.gt, self.ge, self.le)
            return f"{unit}, {bounds}" if bounds else unit
        return {
            "boolean": "bool",
            "text": "text",
            "file": "file",
            "role": "a CS role",
            "roles": "list of CS roles",
            "context": "a context role",
            "us": "a US name",
            "counts": "mapping CS role → number",
            "iti": "seconds, or a draw",
            "files": "file, or a list of files",
            "keymap": "mapping key → label",
            "block": "mapping",
            "integers": "list of whole numbers",
            "texts": "list of texts",
            "list": "list of mappings",
            "named": "mapping name → mapping",
        }[self.type]

    def describe_default(self) -> str:
        """The README's "default" column for this key."""
        if self.default_doc is not None:
            return self.default_doc
        if self.required:
            return "required"
        if self.default is None:
            return "none"
        if isinstance(self.default, bool):
            return "true" if self.default else "false"
        if isinstance(self.default, str):
            return f"`{self.default}`"
        return f"{self.default:g}" if isinstance(self.default, float) else str(self.default)


def walk(keys: Sequence[Key], prefix: str = "") -> Iterator[tuple[str, Key]]:
    """Every key path of a declaration, depth first (``constraints.max_run`` after
    ``constraints``).

    Parameters
    ----------
    keys : sequence of Key
        A kind's (or a block's) declaration.
    prefix : str
        Path of the block the keys belong to.

    Yields
    ------
    (str, Key)
        The dotted key path and its declaration.
    """
    for key in keys:
        path = f"{prefix}.{key.name}" if prefix else key.name
        yield path, key
        yield from walk(key.keys, path)


class _Declared:
    def __repr__(self) -> str:
        return "DECLARED"


_DECLARED: Any = _Declared()


def read_key(section: Section, key: Key, default: Any = _DECLARED) -> Any:
    """Read a scalar key (number, integer, boolean, text, choice) as its declaration says.

    Parameters
    ----------
    section : Section
        The mapping that holds the key.
    key : Key
        Its declaration.
    default : object, optional
        Overrides the declared default (for defaults computed from other keys;
        :data:`REQUIRED` makes the key required).

    Returns
    -------
    object
        The checked value, or the default when absent.
    """
    value = key.default if default is _DECLARED else default
    if key.type == "number":
        return section.number(
            key.name, value, gt=key.gt, ge=key.ge, le=key.le, what=key.what or "a number"
        )
    if key.type == "integer":
        return section.integer(
            key.name,
            value,
            ge=None if key.ge is None else int(key.ge),
            le=None if key.le is None else int(key.le),
            what=key.what or "a whole number",
        )
    if key.type == "boolean":
        return section.boolean(key.name, value)
    if key.type == "text":
        return section.text(key.name, value, pattern=key.pattern, what=key.what or "a text")
    if key.type == "choice":
        return section.choice(key.name, key.enum, value)
    raise TypeError(f"read_key reads scalar keys; {key.name} is a {key.type}")


def markdown_table(keys: Sequence[Key], prefix: str = "") -> str:
    """The README's table of a declaration: key, type, default, meaning.

    A block whose ``type_doc`` names it (``rating block``) is one row, documented in a
    table of its own; any other block is spelled out as ``block.key`` rows.

    Parameters
    ----------
    keys : sequence of Key
        A kind's keys (the caller leaves out keys documented elsewhere).
    prefix : str
        Path of the block the keys belong to.

    Returns
    -------
    str
        A Markdown table, ending with a newline.
    """
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
    lines.extend(_rows(keys, prefix))
    return "\n".join(lines) + "\n"


def _rows(keys: Sequence[Key], prefix: str) -> Iterator[str]:
    for key in keys:
        path = f"{prefix}.{key.name}" if prefix else key.name
        if key.type == "block" and key.type_doc is None:
            yield from _rows(key.keys, path)
            continue
        cells = (f"`{path}`", key.describe_type(), key.describe_default(), key.doc)
        yield ("| " + " | ".join(cells) + " |").replace("|  |", "| |")


def _bounds_doc(gt: float | None, ge: float | None, le: float | None) -> str:
    low = f"{gt:g} < x" if gt is not None else (f"{ge:g} ≤ x" if ge is not None else "")
    if le is None:
        return f"x > {gt:g}" if gt is not None else (f"x ≥ {ge:g}" if ge is not None else "")
    return f"{low} ≤ {le:g}" if low else f"x ≤ {le:g}"
