"""Fixed trial orders from CSV files, to replicate a published sequence.

An order file has one row per trial, in presentation order, with the columns

- ``cs``: a CS role of the protocol (``CS+``, ``CS-`` ...);
- ``reinforced``: ``1`` or ``0`` (only CS+ roles may be ``1``);
- ``iti`` (optional): seconds of fixation after the trial.

Comma-separated (``.csv``) or tab-separated (``.tsv``); a header row is required. Errors
name the order file, its line, and the column.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from pavlov.common.errors import suggest
from pavlov.common.yamlio import read_text
from pavlov.protocols.errors import ProtocolError
from pavlov.protocols.model import cs_type

ORDER_COLUMNS = ("cs", "reinforced", "iti")


@dataclass(frozen=True)
class OrderRow:
    """One trial of a fixed order."""

    cs: str
    reinforced: bool
    iti: float | None


@dataclass(frozen=True)
class FixedOrder:
    """A fixed trial order read from a file.

    Attributes
    ----------
    path : str
        Absolute path of the file.
    rows : tuple of OrderRow
        The trials in order.
    """

    path: str
    rows: tuple[OrderRow, ...]

    @property
    def has_iti(self) -> bool:
        """True when the file gives the ITIs."""
        return self.rows[0].iti is not None

    def trial_counts(self) -> dict[str, int]:
        """Trials per CS role."""
        counts: dict[str, int] = {}
        for row in self.rows:
            counts[row.cs] = counts.get(row.cs, 0) + 1
        return counts

    def reinforced_counts(self) -> dict[str, int]:
        """Reinforced trials per CS role (roles with none are left out)."""
        counts: dict[str, int] = {}
        for row in self.rows:
            if row.reinforced:
                counts[row.cs] = counts.get(row.cs, 0) + 1
        return counts


def read_order(path: str | Path, roles: tuple[str, ...], shown: str | None = None) -> FixedOrder:
    """Read and check a fixed order file.

    Parameters
    ----------
    path : str or Path
        The file.
    roles : tuple of str
        The protocol's CS roles.
    shown : str, optional
        How to name the file in messages (default: ``path``).

    Raises
    ------
    ProtocolError
        For a bad file, header, role, reinforcement flag or ITI, naming file, line and column.
    """
    shown = shown or str(path)
    text = read_text(path, "a CSV order file", ProtocolError)
    delimiter = "\t" if Path(path).suffix.lower() == ".tsv" else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    lines = [(i + 1, row) for i, row in enumerate(reader) if any(cell.strip() for cell in row)]
    if not lines:
        raise ProtocolError(shown, 1, "", "a header row and one row per trial", "an empty file")
    header_line, header = lines[0]
    header = [h.strip() for h in header]
    for column in header:
        if column not in ORDER_COLUMNS:
            raise ProtocolError(
                shown,
                header_line,
                column,
                "columns cs, reinforced[, iti]",
                f"unknown column '{column}'",
                suggest(column, ORDER_COLUMNS),
            )
    for column in ("cs", "reinforced"):
        if column not in header:
            raise ProtocolError(
                shown, header_line, column, f"a '{column}' column", "no such column"
            )
    if len(lines) == 1:
        raise ProtocolError(shown, header_line, "", "one row per trial", "only a header")
    rows = []
    for line, cells in lines[1:]:
        if len(cells) != len(header):
            raise ProtocolError(shown, line, "", f"{len(header)} columns", f"{len(cells)}")
        record = dict(zip(header, (c.strip() for c in cells)))
        role = record["cs"]
        if role not in roles:
            raise ProtocolError(
                shown,
                line,
                "cs",
                f"one of the CS roles ({', '.join(roles)})",
                f"'{role}'",
                suggest(role, roles),
            )
        flag = record["reinforced"]
        if flag not in ("0", "1"):
            raise ProtocolError(shown, line, "reinforced", "1 or 0", f"'{flag}'")
        if flag == "1" and cs_type(role) != "CS+":
            raise ProtocolError(
                shown, line, "reinforced", f"0 for the {role} (only CS+ roles are reinforced)", "1"
            )
        iti = None
        if "iti" in record:
            try:
                iti = float(record["iti"])
            except ValueError:
                iti = float("nan")
            if not 0 <= iti <= 300:  # NaN fails too
                raise ProtocolError(
                    shown, line, "iti", "seconds from 0 to 300", f"'{record['iti']}'"
                )
        rows.append(OrderRow(role, flag == "1", iti))
    return FixedOrder(str(Path(path).resolve()), tuple(rows))
