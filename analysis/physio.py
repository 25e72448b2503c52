"""Read continuous physiology: BIDS ``*_physio.tsv.gz`` + JSON sidecar, or a plain CSV.

BIDS physiology files have **no header**; the sidecar JSON names the columns
(``Columns``), the rate (``SamplingFrequency``, Hz) and the time of the first sample
relative to the events' zero (``StartTime``, seconds, may be negative). Sample ``i`` is
therefore at ``StartTime + i / SamplingFrequency`` in the same time base as the
``onset`` column of ``events.tsv`` (analysis.md §8.2).

Every problem with a file is reported as one line naming the file, the line and what was
expected (:class:`PhysioError`), never as a parser traceback.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pavlov.analysis.errors import AnalysisError
from pavlov.common.errors import suggest

__all__ = [
    "Physio",
    "PhysioError",
    "PhysioFileError",
    "read_physio",
    "read_physio_csv",
    "sidecar_path",
    "write_physio",
]

#: Strings read as a missing sample (BIDS ``n/a``; empty fields of CSV exports).
MISSING = ("n/a", "")


class PhysioError(AnalysisError):
    """A physiology file or its sidecar is malformed (one-line message)."""


class PhysioFileError(PhysioError, FileNotFoundError):
    """A physiology file or its sidecar does not exist."""


@dataclass(frozen=True)
class Physio:
    """A continuous recording: equally spaced samples of one or more channels.

    Attributes
    ----------
    data : pandas.DataFrame
        One float column per channel, one row per sample.
    sampling_frequency : float
        Samples per second (Hz).
    start_time : float
        Seconds of the first sample relative to the events' zero.
    path : str
        The file the data came from (empty when built in memory).
    units : Mapping[str, str]
        Channel → unit, when the sidecar gives them (e.g. ``{"scr": "uS"}``).
    """

    data: pd.DataFrame
    sampling_frequency: float
    start_time: float = 0.0
    path: str = ""
    units: Mapping[str, str] = field(default_factory=dict)

    @property
    def time(self) -> np.ndarray:
        """Seconds of every sample, in the events' time base."""
        return self.start_time + np.arange(len(self.data)) / self.sampling_frequency

    @property
    def columns(self) -> tuple[str, ...]:
        """Channel names, in file order."""
        return tuple(str(c) for c in self.data.columns)

    def channel(self, name: str) -> np.ndarray:
        """Return one channel's samples as a float array.

        Raises
        ------
        PhysioError
            If the recording has no channel called ``name``.
        """
        if name not in self.data.columns:
            hint = suggest(name, self.columns)
            tail = f". Did you mean '{hint}'?" if hint else ""
            raise PhysioError(
                f"{self.path or 'physio'}: expected a channel '{name}', "
                f"got columns {list(self.columns)}{tail}"
            )
        return self.data[name].to_numpy(dtype=float)


def sidecar_path(path: str | os.PathLike) -> Path:
    """Return the JSON sidecar of a BIDS physiology file (``_physio.tsv.gz`` → ``_physio.json``)."""
    path = Path(path)
    name = path.name
    for suffix in (".tsv.gz", ".tsv"):
        if name.endswith(suffix):
            return path.with_name(name[: -len(suffix)] + ".json")
    return path.with_suffix(".json")


def read_physio(path: str | os.PathLike) -> Physio:
    """Read a BIDS physiology recording and its JSON sidecar.

    Parameters
    ----------
    path : path-like
        ``…_physio.tsv.gz`` (or an uncompressed ``.tsv``); headerless, tab-separated,
        ``n/a`` for missing samples. The sidecar is the same name ending ``.json``.

    Returns
    -------
    Physio

    Raises
    ------
    PhysioFileError
        If the data file or the sidecar is missing.
    PhysioError
        If the sidecar lacks ``SamplingFrequency``, ``StartTime`` or ``Columns`` or has
        wrong types, or a data line has the wrong number of fields or a non-numeric value.
    """
    path = Path(path)
    meta_path = sidecar_path(path)
    if not path.is_file():
        raise PhysioFileError(f"{path}: expected a physiology file, got no such file")
    if not meta_path.is_file():
        raise PhysioFileError(
            f"{meta_path}: expected the JSON sidecar of {path.name} "
            "(SamplingFrequency, StartTime, Columns), got no such file"
        )
    meta = _read_sidecar(meta_path)
    columns = meta["Columns"]
    data = _read_table(path, columns, sep="\t", header_lines=0)
    units = {
        c: str(meta[c]["Units"])
        for c in columns
        if isinstance(meta.get(c), Mapping) and "Units" in meta[c]
    }
    return Physio(
        data=data,
        sampling_frequency=meta["SamplingFrequency"],
        start_time=meta["StartTime"],
        path=str(path),
        units=units,
    )


def read_physio_csv(
    path: str | os.PathLike,
    sampling_frequency: float,
    *,
    start_time: float = 0.0,
    columns: Sequence[str] | None = None,
    usecols: Sequence[str] | None = None,
) -> Physio:
    """Read a comma-separated recording exported by other software, at a stated rate.

    Parameters
    ----------
    path : path-like
        The CSV. If its first line is not all numbers it is a header naming the columns.
    sampling_frequency : float
        Samples per second (Hz); the file itself does not say.
    start_time : float
        Seconds of the first sample relative to the events' zero.
    columns : sequence of str, optional
        Channel names; required when the file has no header, and override a header
        (same number of names) when given.
    usecols : sequence of str, optional
        Keep only these columns (e.g. leave out an exported time-stamp text column);
        every column must be numeric when None.

    Returns
    -------
    Physio

    Raises
    ------
    PhysioFileError, PhysioError
    """
    path = Path(path)
    if not path.is_file():
        raise PhysioFileError(f"{path}: expected a physiology CSV file, got no such file")
    rate = _positive_rate(path, sampling_frequency)
    if not isinstance(start_time, int | float) or not math.isfinite(start_time):
        raise PhysioError(f"{path}: start_time: expected a number of seconds, got {start_time!r}")
    first = _first_line(path)
    fields = next(csv.reader([first]), [])
    has_header = bool(fields) and not all(_is_number(f) for f in fields)
    if columns is None:
        if not has_header:
            raise PhysioError(
                f"{path}:1: expected a header naming the columns (or columns=...), "
                f"got {first.strip()[:60]!r}"
            )
        columns = [f.strip() for f in fields]
    columns = [str(c) for c in columns]
    if has_header and len(fields) != len(columns):
        raise PhysioError(
            f"{path}:1: expected {len(columns)} header fields {columns}, got {len(fields)}"
        )
    if usecols is not None:
        for name in usecols:
            if name not in columns:
                hint = suggest(str(name), columns)
                tail = f". Did you mean '{hint}'?" if hint else ""
                raise PhysioError(
                    f"{path}: usecols: expected a column of {columns}, got {name!r}{tail}"
                )
    data = _read_table(path, columns, sep=",", header_lines=1 if has_header else 0, usecols=usecols)
    return Physio(data=data, sampling_frequency=rate, start_time=float(start_time), path=str(path))


def write_physio(
    path: str | os.PathLike,
    data: pd.DataFrame | Mapping[str, Sequence[float]],
    sampling_frequency: float,
    *,
    start_time: float = 0.0,
    units: Mapping[str, str] | None = None,
    extra: Mapping[str, object] | None = None,
) -> Path:
    """Write a BIDS ``*_physio.tsv.gz`` and its JSON sidecar, atomically.

    Parameters
    ----------
    path : path-like
        Target ``…_physio.tsv.gz``; the sidecar goes beside it.
    data : DataFrame or mapping of str to sequence of float
        One column per channel.
    sampling_frequency : float
        Hz.
    start_time : float
        Seconds of the first sample relative to the events' zero.
    units : mapping, optional
        Channel → unit (e.g. ``{"scr": "uS"}``), written as per-column ``Units``.
    extra : mapping, optional
        Further sidecar keys (``Manufacturer``, ``SCRCouplerType`` ...).

    Returns
    -------
    Path
        The data file written.
    """
    path = Path(path)
    frame = pd.DataFrame(data)
    rate = _positive_rate(path, sampling_frequency)
    meta: dict[str, object] = {
        "SamplingFrequency": rate,
        "StartTime": float(start_time),
        "Columns": [str(c) for c in frame.columns],
    }
    for name, unit in (units or {}).items():
        meta[str(name)] = {"Units": unit}
    meta.update(extra or {})
    buffer = io.StringIO()
    frame.to_csv(buffer, sep="\t", header=False, index=False, na_rep="n/a", float_format="%.6g")
    # Level 6 (gzip's own default): a quarter of level 9's time on an hour at 1 kHz, ~same size.
    _atomic_write(path, gzip.compress(buffer.getvalue().encode(), compresslevel=6, mtime=0))
    _atomic_write(sidecar_path(path), (json.dumps(meta, indent=2) + "\n").encode())
    return path


# --- helpers -------------------------------------------------------------------------


def _read_sidecar(meta_path: Path) -> dict:
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise PhysioError(
            f"{meta_path}:{error.lineno}: expected JSON, got {error.msg.lower()}"
        ) from None
    except UnicodeDecodeError:
        raise PhysioError(f"{meta_path}: expected UTF-8 JSON, got undecodable bytes") from None
    if not isinstance(meta, dict):
        raise PhysioError(f"{meta_path}: expected a JSON object, got {type(meta).__name__}")
    for key in ("SamplingFrequency", "StartTime", "Columns"):
        if key not in meta:
            hint = suggest(key, meta)
            tail = f". Did you mean '{hint}'?" if hint else ""
            raise PhysioError(f"{meta_path}: {key}: expected a value (REQUIRED), got none{tail}")
    meta["SamplingFrequency"] = _positive_rate(
        meta_path, meta["SamplingFrequency"], key="SamplingFrequency"
    )
    start = meta["StartTime"]
    if isinstance(start, bool) or not isinstance(start, int | float) or not math.isfinite(start):
        raise PhysioError(f"{meta_path}: StartTime: expected a number of seconds, got {start!r}")
    meta["StartTime"] = float(start)
    columns = meta["Columns"]
    if (
        not isinstance(columns, list)
        or not columns
        or not all(isinstance(c, str) and c for c in columns)
    ):
        raise PhysioError(
            f"{meta_path}: Columns: expected a non-empty list of names, got {columns!r}"
        )
    if len(set(columns)) != len(columns):
        raise PhysioError(f"{meta_path}: Columns: expected unique names, got {columns!r}")
    return meta


def _positive_rate(where: Path, value: object, key: str = "sampling_frequency") -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise PhysioError(f"{where}: {key}: expected a positive number of Hz, got {value!r}")
    return float(value)


def _first_line(path: Path) -> str:
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8", newline="") as handle:
            return handle.readline()
    except (OSError, UnicodeDecodeError) as error:
        raise PhysioError(f"{path}: expected readable text, got {error}") from None


def _read_table(
    path: Path,
    columns: Sequence[str],
    *,
    sep: str,
    header_lines: int,
    usecols: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Parse a numeric table; report the first bad line (field count or value) in one line."""
    try:
        data = _parse(path, columns, sep, header_lines, float, usecols)
    except ValueError:  # a non-numeric field: parse again as text to say where
        text = _parse(path, columns, sep, header_lines, str, usecols)
        _locate_non_numeric(text, path, header_lines)
        raise  # pragma: no cover - _locate_non_numeric always raises here
    if data.empty:
        raise PhysioError(f"{path}: expected at least one sample, got an empty file")
    missing = data.isna().any(axis=1).to_numpy()
    if missing.any():
        _check_short_lines(path, np.flatnonzero(missing), len(columns), sep, header_lines)
    return data


def _parse(
    path: Path, columns: Sequence[str], sep: str, header_lines: int, dtype, usecols=None
) -> pd.DataFrame:
    try:
        return pd.read_csv(
            path,
            usecols=None if usecols is None else list(usecols),
            sep=sep,
            header=None,
            names=list(columns),
            skiprows=header_lines,
            na_values=list(MISSING),
            keep_default_na=False,
            skip_blank_lines=False,
            compression="infer",
            dtype=dtype,
            engine="c",
        )
    except pd.errors.ParserError as error:  # too many fields on some line
        text = str(error)
        line, got = "?", "more fields"
        if " in line " in text and ", saw " in text:
            line = text.split(" in line ")[1].split(",")[0].strip()
            got = text.split(", saw ")[1].strip()
        raise PhysioError(
            f"{path}:{line}: expected {len(columns)} fields ({', '.join(columns)}), got {got}"
        ) from None
    except pd.errors.EmptyDataError:
        raise PhysioError(f"{path}: expected at least one sample, got an empty file") from None
    except (OSError, UnicodeDecodeError, EOFError) as error:
        raise PhysioError(f"{path}: expected readable text, got {error}") from None


def _locate_non_numeric(frame: pd.DataFrame, path: Path, header_lines: int) -> None:
    for name in frame.columns:
        raw = frame[name]
        bad = pd.to_numeric(raw, errors="coerce").isna() & raw.notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise PhysioError(
                f"{path}:{row + 1 + header_lines}: {name}: expected a number, "
                f"got {str(raw.iloc[row])[:40]!r}"
            )
    raise PhysioError(f"{path}: expected numbers, got a value pandas could not convert")


def _check_short_lines(
    path: Path, rows: np.ndarray, n_fields: int, sep: str, header_lines: int
) -> None:
    """Tell a short line (an error) from explicit ``n/a`` samples (allowed)."""
    wanted = set((rows + header_lines).tolist())
    last = max(wanted)
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        for number, line in enumerate(handle):
            if number in wanted:
                got = len(line.rstrip("\r\n").split(sep))
                if got != n_fields:
                    raise PhysioError(f"{path}:{number + 1}: expected {n_fields} fields, got {got}")
            if number >= last:
                break


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return text.strip() in MISSING
    return True


def _atomic_write(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        from pavlov.analysis.report import umask_mode

        os.fchmod(handle, umask_mode())  # mkstemp's 0600 would hide it from colleagues
        with os.fdopen(handle, "wb") as out:
            out.write(payload)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
