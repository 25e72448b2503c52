"""Reading delimited text files strictly, and importing other tools' trial tables.

A trial table is a CSV or TSV (optionally ``.gz``) with one row per CS trial and the columns

====================  =====================================================================
``participant``       participant ID
``phase``             phase name; phases keep the order in which they first occur
``trial``             1-based trial number within the phase (positive integer)
``cs_type``           ``CS+`` or ``CS-``
``us``                ``1`` when the trial was reinforced, else ``0``
``response``          the measured response (number; empty, ``n/a`` or ``NA`` when missing)
====================  =====================================================================

and optionally ``session``, ``group``, ``block`` (positive integer), and these pavlov
extensions: ``cs`` (the CS role, e.g. ``CS+R`` or ``CS+1``; defaults to ``cs_type``, and
gives ``cs_type`` when that column is absent), ``stimulus`` (the
CS identity, e.g. ``faceA``, which reversal designs need), ``phase_type``
(guessed from the phase name when absent), and the numeric columns ``onset``, ``rating``,
``rating_rt``, ``scr``, ``us_scr`` and ``startle`` (a startle magnitude per trial, T-scored
within participant by :mod:`pavlov.analysis.startle`). Generalisation stimuli have
``cs_type`` ``GS`` and roles ``GS1`` ... ``GSn`` (the number is the position on the
continuum from the CS+ end; :mod:`pavlov.analysis.gradient`). ``response`` becomes the tidy column named by
``response_name`` (``rating`` by default) and ``us`` becomes ``reinforced``.

A table with other column names is read as it is with a mapping (their name → ours,
``pavlov analyze --columns subject=participant,stim=cs``, see :func:`parse_column_map`).

Anything malformed raises :class:`~pavlov.analysis.errors.TableError` naming the file, the
row and the column.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from pavlov.analysis.errors import TableError
from pavlov.analysis.frame import GS_TYPE, finish_trials, is_gs_role
from pavlov.common.errors import suggest

#: Columns every trial table must have.
REQUIRED_COLUMNS = ("participant", "phase", "trial", "cs_type", "us", "response")

#: Columns a trial table may have besides the required ones.
OPTIONAL_COLUMNS = (
    "session",
    "group",
    "block",
    "cs",
    "stimulus",
    "phase_type",
    "onset",
    "rating",
    "rating_rt",
    "scr",
    "us_scr",
    "startle",
)

#: Cell values read as missing (compared case-insensitively, after stripping blanks).
MISSING = frozenset({"", "n/a", "na", "nan", "none", "null"})

#: Allowed ``cs_type`` values.
CS_TYPES = ("CS+", "CS-")

#: Allowed ``cs_type`` values of trial tables and logs: the CS types and ``GS``.
TRIAL_TYPES = (*CS_TYPES, GS_TYPE)

#: Largest table (after gzip) pavlov reads: 1 GiB, far above a study's trial table.
MAX_TABLE_BYTES = 1 << 30


def read_delimited(path: str | Path, sep: str | None = None) -> pd.DataFrame:
    """Read a delimited UTF-8 text file into a frame of stripped strings.

    Parameters
    ----------
    path : str or Path
        A ``.csv``, ``.tsv`` or ``.txt`` file, optionally gzip-compressed (``.gz``).
    sep : str, optional
        The delimiter; when None, a tab if the header has one, else a comma.

    Returns
    -------
    pandas.DataFrame
        One column per header field (``object`` dtype of ``str``), one row per data line.
        Blank lines are skipped. The index is the 1-based data row.

    Raises
    ------
    TableError
        If the path is a directory, unreadable, empty, binary, has duplicate or empty
        header names, or a row with the wrong number of fields.
    """
    from pavlov.common.files import FileProblem, read_regular

    path = Path(path)
    name = str(path)
    try:
        # The kind and size are checked before reading: /dev/zero or a FIFO never end.
        data = read_regular(path, MAX_TABLE_BYTES)
    except FileNotFoundError:
        raise TableError(name, 0, "", "a readable file", "no such file") from None
    except FileProblem as problem:
        got = str(problem)
        if got == "a directory":
            raise TableError(name, 0, "", "a CSV or TSV file", got) from None
        if got.endswith(" bytes"):
            raise TableError(
                name, 0, "", f"a table of at most {MAX_TABLE_BYTES:,} bytes", got
            ) from None
        raise TableError(name, 0, "", "a readable file", got) from None
    if path.suffix == ".gz":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as unzipped:
                data = unzipped.read(MAX_TABLE_BYTES + 1)
        except (OSError, EOFError) as error:
            raise TableError(name, 0, "", "gzip-compressed text", f"{error}") from None
        if len(data) > MAX_TABLE_BYTES:
            raise TableError(
                name, 0, "", f"a table of at most {MAX_TABLE_BYTES:,} bytes", "more, once unzipped"
            )
    if b"\x00" in data:  # anywhere: the csv module fails on a NUL byte with a traceback
        raise TableError(name, 0, "", "a UTF-8 text table", "binary data (NUL bytes)")
    plain = read_plain(data, sep or ("\t" if b"\t" in data.split(b"\n", 1)[0] else ","))
    if plain is not None:  # the same frame, from pandas' C reader (10x faster)
        return plain
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise TableError(
            name, 0, "", "a UTF-8 text table", f"undecodable byte at offset {error.start}"
        ) from None
    if not text.strip():
        raise TableError(name, 0, "", "a header line and rows", "an empty file")
    first = text.split("\n", 1)[0]
    if sep is None:
        sep = "\t" if "\t" in first else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    header: list[str] | None = None
    rows: list[list[str]] = []
    numbers: list[int] = []
    row = 0
    # The lambda reads the current row on purpose (late binding) to name it in an error.
    for fields in _lines(reader, name, lambda: row):  # noqa: B023
        if not fields or all(not f.strip() for f in fields):
            if header is not None:
                row += 1
            continue
        if header is None:
            header = [f.strip() for f in fields]
            _check_header(name, header)
            continue
        row += 1
        if len(fields) != len(header):
            raise TableError(
                name,
                row,
                "",
                f"{len(header)} fields like the header",
                f"{len(fields)}",
            )
        rows.append([f.strip() for f in fields])
        numbers.append(row)
    if header is None:  # e.g. a lone quote: text, but not one field of a header
        raise TableError(name, 0, "", "a header line and rows", "no header line")
    frame = pd.DataFrame(rows, columns=header, dtype=object)
    frame.index = pd.Index(numbers, name="row")
    return frame


def plain_line_lengths(data: bytes, sep: str) -> np.ndarray | None:
    """Each line's length in bytes when ``data`` may be plain (no NUL, BOM or quote, every
    line with the header's number of ``sep``), else None."""
    if not data.strip() or b"\x00" in data or data.startswith(b"\xef\xbb\xbf") or b'"' in data:
        return None
    # every line must have the header's number of fields (pandas would pad a short one)
    raw = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(raw == 10)
    if len(ends) == 0 or ends[-1] != len(raw) - 1:
        ends = np.append(ends, len(raw))
    starts = np.r_[0, ends[:-1] + 1]
    seps = np.r_[0, np.cumsum(raw == ord(sep))]
    per_line = seps[ends] - seps[starts]
    if (per_line != per_line[0]).any():
        return None
    return ends - starts


def read_plain(data: bytes, sep: str) -> pd.DataFrame | None:
    """``data`` as :func:`read_delimited` gives it, parsed by pandas' C reader, or None
    when it is not plain (bad bytes, quotes, blank rows, odd header or row lengths), for
    the strict reader, whose errors name the row and column."""
    if plain_line_lengths(data, sep) is None:
        return None
    try:
        frame = pd.read_csv(
            io.BytesIO(data), sep=sep, dtype=str, keep_default_na=False, na_filter=False,
            quoting=3, skip_blank_lines=False, encoding="utf-8",
        )  # fmt: skip
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError):
        return None
    header = [f.strip() for f in data.split(b"\n", 1)[0].decode("utf-8").rstrip("\r").split(sep)]
    if list(frame.columns) != header or len(set(header)) != len(header) or "" in header:
        return None
    cells = frame.to_numpy(dtype=object)
    if cells.size and (pd.isna(cells).any() or not all(type(c) is str for c in cells.ravel())):
        return None  # short rows (filled with NaN)
    stripped = np.array([c.strip() for c in cells.ravel()], dtype=object).reshape(cells.shape)
    if len(stripped) and (stripped == "").all(axis=1).any():
        return None  # a blank row: the strict reader numbers rows around it
    out = pd.DataFrame(stripped, columns=header, dtype=object)
    out.index = pd.Index(np.arange(1, len(out) + 1), name="row")
    return out


def _lines(reader, name: str, row):
    """The csv reader's lines, its errors (a field over the size limit ...) as TableError."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise TableError(
                name, row() + 1, "", "a well-formed CSV/TSV line", str(error)
            ) from None


def _check_header(name: str, header: list[str]) -> None:
    seen: set[str] = set()
    for position, column in enumerate(header, start=1):
        if not column:
            raise TableError(
                name, 0, "", "a name for every header field", f"field {position} empty"
            )
        if column in seen:
            raise TableError(name, 0, column, "unique column names", "it twice")
        seen.add(column)


def require_columns(frame: pd.DataFrame, path: str, columns: tuple[str, ...]) -> None:
    """Raise :class:`TableError` naming the first of ``columns`` missing from ``frame``."""
    for column in columns:
        if column not in frame.columns:
            close = suggest(column, frame.columns)
            got = "columns " + ", ".join(map(str, frame.columns))
            if close:
                got += f" (is '{close}' meant to be '{column}'?)"
            raise TableError(path, 0, column, "a column with that name", got)


#: Every spelling of a :data:`MISSING` word in any letter case ("N/A", "NaN", "NULL", ...).
_MISSING_FORMS = frozenset(
    "".join(chars)
    for word in MISSING
    for chars in itertools.product(*({c.lower(), c.upper()} for c in word))
)


def missing_mask(values: pd.Series) -> np.ndarray:
    """True where a string cell means 'missing' (see :data:`MISSING`)."""
    # Each distinct cell is judged once: a table's columns repeat a few values (phases,
    # CS types, ratings) over 10^5 rows, and one hash pass over the cells costs far less
    # than a Python test per cell (1.1 s of a 1,000-participant table's 12 s, measured).
    # Null cells (None, NaN, pd.NA) are judged one by one: factorize would merge them.
    cells = values.to_numpy(dtype=object)
    codes, uniques = pd.factorize(cells)
    mask = np.fromiter(map(_means_missing, uniques), dtype=bool, count=len(uniques))[codes]
    nulls = np.flatnonzero(codes < 0)
    mask[nulls] = [_means_missing(cells[i]) for i in nulls]
    return mask


def _means_missing(cell: object) -> bool:
    # most cells are stripped strings, found (or not) in one set lookup
    if cell in _MISSING_FORMS:
        return True
    unusual = type(cell) is not str or cell[:1].isspace() or cell[-1:].isspace()
    return bool(unusual and str(cell).strip().lower() in MISSING)


def parse_numeric(
    frame: pd.DataFrame,
    column: str,
    path: str,
    *,
    missing_ok: bool = True,
    integer: bool = False,
    positive: bool = False,
) -> np.ndarray:
    """Parse a string column as float, raising :class:`TableError` at the first bad cell.

    Parameters
    ----------
    frame : pandas.DataFrame
        From :func:`read_delimited` (index = 1-based data row).
    column : str
        Column to parse.
    path : str
        File name for messages.
    missing_ok : bool
        Whether missing cells (NaN in the result) are allowed.
    integer : bool
        Values must be whole numbers.
    positive : bool
        Values must be > 0.

    Returns
    -------
    numpy.ndarray of float
    """
    raw = frame[column].astype(str)
    missing = missing_mask(raw)
    cells = raw.to_numpy(dtype=object).copy()
    cells[missing] = "nan"
    values = pd.to_numeric(cells, errors="coerce").astype(float)
    what = "a whole number" if integer else "a number"
    if positive:
        what = "a positive whole number" if integer else "a positive number"
    bad = np.isnan(values) & ~missing
    bad |= np.isinf(values)
    if not missing_ok:
        bad |= missing
    if integer:
        bad |= ~np.isnan(values) & (values != np.round(values))
    if positive:
        bad |= ~np.isnan(values) & (values <= 0)
    if bad.any():
        at = int(np.flatnonzero(bad)[0])
        cell = raw.iloc[at]
        raise TableError(path, int(frame.index[at]), column, what, repr(cell) if cell else "empty")
    return values


def parse_choice(
    frame: pd.DataFrame, column: str, path: str, allowed: tuple[str, ...]
) -> np.ndarray:
    """Check that every cell of ``column`` is one of ``allowed``; return the values."""
    values = frame[column].astype(str).to_numpy()
    bad = ~np.isin(values, np.asarray(allowed, dtype=object))
    if bad.any():
        at = int(np.flatnonzero(bad)[0])
        cell = values[at]
        expected = " or ".join(repr(a) for a in allowed)
        got = repr(cell) if cell else "empty"
        close = suggest(cell, allowed)
        if close:
            got += f" (did you mean '{close}'?)"
        raise TableError(path, int(frame.index[at]), column, expected, got)
    return values


def _check_cs_types(raw: pd.DataFrame, name: str) -> None:
    """A CS role (``CS+1``, ``CS+R``) in ``cs_type`` belongs in the ``cs`` column: say so,
    rather than suggest the nearest type."""
    values = raw["cs_type"].astype(str).to_numpy()
    for at, cell in enumerate(values):
        if cell not in CS_TYPES and cell[:3] in CS_TYPES and len(cell) > 3:
            raise TableError(
                name,
                int(raw.index[at]),
                "cs_type",
                "'CS+' or 'CS-'",
                f"{cell!r}, a CS role: it belongs in the 'cs' column (e.g. --columns "
                "<your column>=cs), from which cs_type is then taken",
            )


def parse_labels(frame: pd.DataFrame, column: str, path: str) -> np.ndarray:
    """Check that no cell of a label column (participant, phase) is missing; return them."""
    values = frame[column].astype(str)
    bad = missing_mask(values)
    if bad.any():
        at = int(np.flatnonzero(bad)[0])
        cell = values.iloc[at]
        raise TableError(path, int(frame.index[at]), column, "a label", repr(cell) or "empty")
    return values.to_numpy(dtype=object)


def parse_column_map(text: str) -> dict[str, str]:
    """Parse ``--columns THEIRS=OURS[,THEIRS=OURS...]`` into a dict (their name → ours).

    Raises
    ------
    ValueError
        One line naming the malformed entry, an unknown target (with a suggestion) or a
        name given twice.
    """
    known = (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)
    mapping: dict[str, str] = {}
    for entry in text.split(","):
        theirs, sep, ours = (part.strip() for part in entry.partition("="))
        if not sep or not theirs or not ours:
            raise ValueError(f"expected THEIRS=OURS (e.g. subject=participant), got {entry!r}")
        if ours not in known:
            close = suggest(ours, known)
            hint = f". Did you mean '{close}'?" if close else f" (one of {', '.join(known)})"
            raise ValueError(f"{entry!r}: expected a trial table column, got {ours!r}{hint}")
        if theirs in mapping or ours in mapping.values():
            raise ValueError(f"{entry!r}: each column may be mapped once")
        mapping[theirs] = ours
    return mapping


def read_table(
    path: str | Path, response_name: str = "rating", columns: dict[str, str] | None = None
) -> pd.DataFrame:
    """Import another tool's trial table as pavlov's tidy trial frame.

    Parameters
    ----------
    path : str or Path
        CSV/TSV file (see the module docstring for its columns).
    response_name : str
        Tidy column that receives the ``response`` values: ``rating``, ``scr`` or a
        name of your own.
    columns : dict, optional
        The table's own column names → pavlov's (``{"subject": "participant"}``), so a
        table is read as it is (``pavlov analyze --columns subject=participant``).

    Returns
    -------
    pandas.DataFrame
        The tidy trial frame (:data:`pavlov.analysis.frame.TRIAL_COLUMNS`, plus
        ``response_name`` and ``block`` when given), in presentation order.

    Raises
    ------
    TableError
        Naming the file, row and column of the first malformed cell.
    """
    name = str(path)
    raw = read_delimited(path)
    if columns:
        for theirs, ours in columns.items():
            if theirs not in raw.columns:
                close = suggest(theirs, raw.columns)
                got = "columns " + ", ".join(map(str, raw.columns))
                if close:
                    got += f" (did you mean '{close}'?)"
                raise TableError(name, 0, theirs, f"a column to read as '{ours}'", got)
            if ours in raw.columns and ours not in columns:
                raise TableError(
                    name, 0, ours, f"one column '{ours}' (--columns maps '{theirs}' to it)", "two"
                )
        raw = raw.rename(columns=columns)
    if "cs_type" not in raw.columns and "cs" in raw.columns:
        # Roles like CS+1, CS+2, CS- say their type: the table need not repeat it.
        raw["cs_type"] = [
            GS_TYPE if is_gs_role(r) else r[:3] for r in raw["cs"].astype(str).to_numpy()
        ]
    require_columns(raw, name, REQUIRED_COLUMNS)
    if response_name in raw.columns and response_name != "response":
        raise TableError(
            name,
            0,
            response_name,
            f"no column '{response_name}' when 'response' is imported as '{response_name}'",
            "both",
        )
    out = pd.DataFrame(index=raw.index)
    out["participant"] = parse_labels(raw, "participant", name)
    out["phase"] = parse_labels(raw, "phase", name)
    out["trial"] = parse_numeric(raw, "trial", name, missing_ok=False, integer=True, positive=True)
    _check_cs_types(raw, name)
    out["cs_type"] = parse_choice(raw, "cs_type", name, TRIAL_TYPES)
    us = parse_choice(raw, "us", name, ("0", "1"))
    out["reinforced"] = us == "1"
    out[response_name] = parse_numeric(raw, "response", name)
    for column in ("session", "group"):
        if column in raw.columns:
            values = raw[column].astype(str)
            out[column] = values.where(~missing_mask(values), "").to_numpy(dtype=object)
    if "cs" in raw.columns:
        roles = raw["cs"].astype(str)
        out["cs"] = roles.where(~missing_mask(roles), out["cs_type"]).to_numpy(dtype=object)
        wrong = np.array(
            [
                not (r.startswith(t) or (t == GS_TYPE and is_gs_role(r)))
                for r, t in zip(out["cs"], out["cs_type"])
            ],
            dtype=bool,
        )
        if wrong.any():
            at = int(np.flatnonzero(wrong)[0])
            raise TableError(
                name,
                int(raw.index[at]),
                "cs",
                f"a role starting with its cs_type '{out['cs_type'].iloc[at]}'",
                repr(out["cs"].iloc[at]),
            )
    if "stimulus" in raw.columns:
        values = raw["stimulus"].astype(str)
        out["stimulus"] = values.where(~missing_mask(values), "").to_numpy(dtype=object)
    if "phase_type" in raw.columns:
        out["phase_type"] = raw["phase_type"].astype(str).to_numpy(dtype=object)
    if "block" in raw.columns:
        out["block"] = parse_numeric(raw, "block", name, integer=True, positive=True)
    for column in ("onset", "rating", "rating_rt", "scr", "us_scr", "startle"):
        if column in raw.columns and column != response_name:
            out[column] = parse_numeric(raw, column, name)
    keys = [c for c in ("participant", "session", "phase", "trial") if c in out.columns]
    duplicated = out.duplicated(keys).to_numpy()
    if duplicated.any():
        at = int(np.flatnonzero(duplicated)[0])
        raise TableError(
            name,
            int(raw.index[at]),
            "trial",
            "one row per participant, session, phase and trial",
            f"a second trial {int(out['trial'].iloc[at])} of phase '{out['phase'].iloc[at]}'",
        )
    # Presentation order: sessions and phases in order of first appearance, then trial number.
    session = out["session"] if "session" in out.columns else pd.Series("", index=out.index)
    session_rank = pd.factorize(session)[0]
    phase_rank = pd.factorize(out["phase"])[0]
    out["_position"] = session_rank * 1e12 + phase_rank * 1e6 + out["trial"].to_numpy()
    return finish_trials(out.reset_index(drop=True))
