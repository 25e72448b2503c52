"""Read a YAML file into nodes that remember their line, rejecting what PyYAML lets pass.

PyYAML's ``safe_load`` forgets where values came from and silently keeps the last of two
duplicate keys. Protocol and lab files need both: every error names its line, and a
duplicated phase name is an error. :func:`read_yaml` composes the document (PyYAML's own
parser), then builds :class:`Node` objects carrying plain Python values and 1-based lines.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor

from pavlov.common.errors import FileError
from pavlov.common.files import FileProblem, read_regular

#: Largest file pavlov reads as a protocol or lab file; anything bigger is not one.
MAX_BYTES = 2_000_000
#: Most values a document may hold once aliases are expanded (a "billion laughs" guard).
MAX_VALUES = 100_000


@dataclass(frozen=True)
class Node:
    """A YAML value and where it stands.

    Attributes
    ----------
    value : Any
        ``dict[str, Node]`` for mappings (keys in file order), ``list[Node]`` for
        sequences, or a plain scalar (str, int, float, bool, None).
    line : int
        1-based line of the value.
    key_lines : dict of str to int
        For mappings: 1-based line of each key.
    """

    value: Any
    line: int
    key_lines: dict[str, int] | None = None

    @property
    def is_mapping(self) -> bool:
        """True for a mapping."""
        return isinstance(self.value, dict)

    @property
    def is_sequence(self) -> bool:
        """True for a sequence."""
        return isinstance(self.value, list)

    def plain(self) -> Any:
        """Return the value with every nested node unwrapped to plain Python."""
        if self.is_mapping:
            return {k: v.plain() for k, v in self.value.items()}
        if self.is_sequence:
            return [v.plain() for v in self.value]
        return self.value


def read_text(
    path: str | os.PathLike[str],
    what: str = "a protocol file",
    error: type[FileError] = FileError,
) -> str:
    """Return a file's text, or raise the one-line error for anything that is not one.

    Parameters
    ----------
    path : path-like
        The file.
    what : str
        How to name the expected file in messages (``a protocol file``, ``a lab file``).
    error : type of FileError
        The error to raise, naming the kind of file (``ProtocolError``, ``LabFileError``).

    Raises
    ------
    FileError
        (as ``error``) For a missing path, a directory, an unreadable, oversized or binary file.
    """
    try:
        return _read_text(path, what)
    except FileError as problem:
        raise _as(problem, error) from None


def _read_text(path: str | os.PathLike[str], what: str) -> str:
    shown = str(path)
    try:
        data = read_regular(path, MAX_BYTES)
    except FileNotFoundError:
        raise FileError(shown, 1, "", what, "no such file") from None
    except FileProblem as problem:
        size = str(problem)
        if size.endswith(" bytes"):  # too large; checked before reading
            raise FileError(shown, 1, "", f"{what} under 2 MB", size) from None
        if size in ("a directory",) or "regular file" in size:
            raise FileError(shown, 1, "", what, size) from None
        raise FileError(shown, 1, "", f"{what} pavlov can read", size) from None
    if b"\0" in data:
        raise FileError(shown, 1, "", f"{what} (UTF-8 text)", "binary data")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise FileError(shown, line, "", "UTF-8 text", "bytes that are not UTF-8") from None
    return text


def read_yaml(
    path: str | os.PathLike[str],
    what: str = "a protocol file",
    error: type[FileError] = FileError,
) -> tuple[str, Node]:
    """Read and compose a YAML file whose top level is a mapping.

    Parameters
    ----------
    path : path-like
        The file.
    what : str
        How to name the expected file in messages.
    error : type of FileError
        The error to raise, naming the kind of file (``ProtocolError``, ``LabFileError``).

    Returns
    -------
    text : str
        The file's text.
    root : Node
        The top-level mapping.

    Raises
    ------
    FileError
        (as ``error``) For every problem, as one line: unreadable or binary files, YAML
        syntax errors, an empty document, several documents, anchors/tags PyYAML's safe
        loader refuses, non-text keys, duplicate keys, a top level that is not a mapping.
    """
    try:
        return _read_yaml(path, what)
    except FileError as problem:
        raise _as(problem, error) from None


def _as(problem: FileError, error: type[FileError]) -> FileError:
    """The same one-line report as the caller's kind of file error."""
    if type(problem) is error:
        return problem
    return error(
        problem.path, problem.line, problem.key, problem.expected, problem.got, problem.suggestion
    )


def _read_yaml(path: str | os.PathLike[str], what: str) -> tuple[str, Node]:
    shown = str(path)
    text = _read_text(path, what)
    try:
        documents = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except RecursionError:
        raise FileError(shown, 1, "", "valid YAML", "nesting too deep to read") from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = error.problem or "invalid YAML"
        raise FileError(shown, line, "", "valid YAML", f"a syntax error ({problem})") from None
    except yaml.YAMLError as error:  # reader errors (control characters) carry no mark
        raise FileError(shown, 1, "", "valid YAML", f"a syntax error ({error})") from None
    documents = [d for d in documents if d is not None]
    if not documents:
        raise FileError(shown, 1, "", f"{what} (a YAML mapping)", "an empty file")
    if len(documents) > 1:
        line = documents[1].start_mark.line + 1
        raise FileError(shown, line, "", "one YAML document", f"{len(documents)} documents")
    try:
        root = _convert(documents[0], shown, "", _Budget())
    except RecursionError:
        raise FileError(shown, 1, "", f"{what} of reasonable depth", "nesting too deep") from None
    if not root.is_mapping:
        raise FileError(shown, root.line, "", f"{what} (a YAML mapping)", _kind(root))
    return text, root


_constructor = SafeConstructor()


class _Budget:
    """Values converted so far and the nodes being converted (to catch alias loops)."""

    def __init__(self) -> None:
        self.values = 0
        self.active: set[int] = set()


def _convert(node: yaml.Node, path: str, key: str, budget: _Budget) -> Node:
    line = node.start_mark.line + 1
    budget.values += 1
    if budget.values > MAX_VALUES:
        raise FileError(
            path, line, key, f"at most {MAX_VALUES:,} values", "more (aliases expand too far)"
        )
    if id(node) in budget.active:
        raise FileError(path, line, key, "an alias to an earlier value", "a recursive alias")
    if not isinstance(node, yaml.ScalarNode):
        budget.active.add(id(node))
        try:
            return _convert_collection(node, path, key, budget, line)
        finally:
            budget.active.discard(id(node))
    return Node(_scalar(node, path, key, budget), line)


def _convert_collection(node: yaml.Node, path: str, key: str, budget: _Budget, line: int) -> Node:
    if isinstance(node, yaml.MappingNode):
        values: dict[str, Node] = {}
        lines: dict[str, int] = {}
        try:
            _constructor.flatten_mapping(node)  # resolves YAML merge keys (<<)
        except ConstructorError as error:
            raise FileError(
                path, line, key, "a mapping", f"a bad merge ({error.problem})"
            ) from None
        for key_node, value_node in node.value:
            name = _scalar(key_node, path, key, budget)
            key_line = key_node.start_mark.line + 1
            sub = f"{key}.{name}" if key else str(name)
            if not isinstance(name, str):
                raise FileError(path, key_line, sub, "text keys", f"the key {name!r}")
            if name in values:
                raise FileError(
                    path, key_line, sub, "each key once", f"it again (first at line {lines[name]})"
                )
            values[name] = _convert(value_node, path, sub, budget)
            lines[name] = key_line
        return Node(values, line, lines)
    if isinstance(node, yaml.SequenceNode):
        return Node(
            [_convert(item, path, f"{key}[{i}]", budget) for i, item in enumerate(node.value)],
            line,
        )
    raise FileError(path, line, key, "a YAML value", "an unknown node")


def _scalar(node: yaml.Node, path: str, key: str, budget: _Budget) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        return _convert(node, path, key, budget).plain().__repr__()
    try:
        return _constructor.construct_object(node, deep=True)
    except ConstructorError as error:
        line = node.start_mark.line + 1
        raise FileError(path, line, key, "a plain value", f"{error.problem}") from None


def _kind(node: Node) -> str:
    if node.is_sequence:
        return "a list"
    if node.is_mapping:
        return "a mapping"
    return f"the value {node.value!r}"
