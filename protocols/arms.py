"""Between-subject arms: blinded code lists and who is in which arm.

A pharmacy running a blinded drug arm gives the study a code list: a CSV with one row per
participant, columns ``participant`` and ``code`` (the kit's label), and, kept by the
pharmacy until unblinding, ``arm``. ``pavlov run --codes FILE`` reads only the code (the arm
stays hidden on the console and in the log); ``pavlov schedule`` and ``pavlov analyze`` with
``--codes FILE --unblind`` read the arm too. A participant is the same however the list or
the command line writes it: ``1``, ``01`` and ``sub-01`` name one participant
(:func:`participant_key`), and a list naming one participant twice is refused.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from pavlov.common.argtypes import shown as shown_value
from pavlov.common.bids import LabelError, bids_label
from pavlov.common.errors import FileError, suggest
from pavlov.common.files import FileProblem, read_regular
from pavlov.protocols.errors import ScheduleError
from pavlov.protocols.model import Protocol
from pavlov.protocols.schedule import arm_for

__all__ = ["Code", "CodeList", "CodeListError", "choose_arm", "participant_key", "read_codes"]

#: The columns a code list must have; ``arm`` is read only to unblind.
CODE_COLUMNS = ("participant", "code")


#: A code list holds one short row per participant: a larger file is not one.
MAX_CODES_BYTES = 16 << 20

#: Control characters (a tab, a line break, NUL, ESC ...): never part of a kit code, and
#: one in participants.tsv splits or corrupts its row.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class CodeListError(FileError):
    """A blinded code list is not valid (one line, ``file:line: key: expected X, got Y``)."""


@dataclass(frozen=True)
class Code:
    """One participant's row of a code list.

    Attributes
    ----------
    participant : str
        The participant label (without ``sub-``).
    code : str
        The kit code, recorded in place of the arm.
    arm : str or None
        The arm, when the list has an ``arm`` column and it was asked for (unblinding).
    line : int
        The row's line in the file, for messages.
    """

    participant: str
    code: str
    arm: str | None
    line: int


def participant_key(participant: str) -> str:
    """The participant a label names, as a code list matches it: the BIDS label
    (:func:`~pavlov.common.bids.bids_label`, so ``sub-01`` is ``01``) with a number's
    leading zeros dropped (a pharmacy writes ``1`` where the lab types ``01``).

    Raises
    ------
    LabelError
        For anything but a BIDS label (letters and digits, an optional ``sub-``).
    """
    label = bids_label(participant, "participant")
    return str(int(label)) if label.isdigit() else label


class CodeList(Mapping[str, Code]):
    """A read code list: :class:`Code` by participant, looked up by
    :func:`participant_key` (``1``, ``01`` and ``sub-01`` find the same row).

    Parameters
    ----------
    codes : Mapping[str, Code]
        The rows, by :func:`participant_key` of their participant.
    """

    def __init__(self, codes: Mapping[str, Code]) -> None:
        self._codes = dict(codes)

    def __getitem__(self, participant: str) -> Code:
        try:
            key = participant_key(participant)
        except LabelError:
            raise KeyError(participant) from None
        return self._codes[key]

    def __iter__(self) -> Iterator[str]:
        return (code.participant for code in self._codes.values())

    def __len__(self) -> int:
        return len(self._codes)


def read_codes(
    path: str | os.PathLike[str], *, unblind: bool = False, arms: tuple[str, ...] = ()
) -> CodeList:
    """Read a blinded code list: participant label → :class:`Code`, matched as
    :func:`participant_key` matches labels.

    Parameters
    ----------
    path : path-like
        The CSV file.
    unblind : bool
        Read the ``arm`` column too (required then; each value one of ``arms`` when given).
    arms : tuple of str
        The protocol's arm names, to check the ``arm`` column against.

    Raises
    ------
    CodeListError
        For a missing file or column, a file that is not a regular UTF-8 file of at most
        :data:`MAX_CODES_BYTES`, an empty code or one with a control character, a
        participant that is not a BIDS label, a participant listed twice (``1`` and ``01``
        too), a kit code given twice, or an arm the protocol does not have.
    """
    shown = str(path)
    try:
        # Kind and size first: /dev/zero or a FIFO given as --codes never end.
        data = read_regular(path, MAX_CODES_BYTES)
        text = data.decode("utf-8-sig")
    except FileNotFoundError:
        raise CodeListError(shown, 0, "", "a readable CSV code list", "no such file") from None
    except FileProblem as problem:
        raise CodeListError(shown, 0, "", "a readable CSV code list", str(problem)) from None
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise CodeListError(
            shown, line, "", "UTF-8 text", f"byte 0x{data[error.start]:02x}"
        ) from None
    rows = _csv_rows(shown, text)
    header = [cell.strip() for cell in rows[0][1]] if rows else []
    needed = (*CODE_COLUMNS, "arm") if unblind else CODE_COLUMNS
    for column in needed:
        if column not in header:
            why = " (--unblind reads the arm)" if column == "arm" else ""
            raise CodeListError(
                shown,
                1,
                "header",
                f"a column {column}{why}",
                ", ".join(header) or "no header",
                # A misspelt header cell: the hint is the column's right name, not the typo.
                column if suggest(column, header) else None,
            )
    at = {column: header.index(column) for column in needed}
    codes: dict[str, Code] = {}
    kits: dict[str, Code] = {}
    for number, row in rows[1:]:
        if not any(cell.strip() for cell in row):
            continue
        cells = {c: (row[i].strip() if i < len(row) else "") for c, i in at.items()}
        if not cells["participant"]:
            raise CodeListError(shown, number, "participant", "a participant ID", "nothing")
        try:
            participant = bids_label(cells["participant"], "participant")
        except LabelError:
            raise CodeListError(
                shown,
                number,
                "participant",
                "a participant ID of letters and digits (a BIDS label, sub- optional)",
                repr(cells["participant"]),
            ) from None
        if not cells["code"]:
            raise CodeListError(shown, number, "code", "the participant's kit code", "nothing")
        if _CONTROL.search(cells["code"]):
            raise CodeListError(
                shown,
                number,
                "code",
                "a kit code without control characters (tab, line break, NUL, escape)",
                shown_value(cells["code"]),
            )
        key = participant_key(participant)
        if key in codes:
            first = codes[key]
            same = (
                ""
                if first.participant == participant
                else f", the same participant as '{first.participant}'"
            )
            raise CodeListError(
                shown,
                number,
                "participant",
                f"each participant once (first on line {first.line})",
                f"'{participant}' again{same}",
            )
        kit = kits.get(cells["code"])
        if kit is not None:
            # One kit, one participant: at unblinding one of the two would be analysed
            # under the other's drug.
            raise CodeListError(
                shown,
                number,
                "code",
                f"each kit code once (first on line {kit.line}, for '{kit.participant}')",
                f"{shown_value(cells['code'])} again for '{participant}'",
            )
        arm = cells.get("arm") or None
        if unblind and (arm is None or (arms and arm not in arms)):
            raise CodeListError(
                shown,
                number,
                "arm",
                f"one of the protocol's arms ({', '.join(arms)})" if arms else "an arm",
                f"'{arm or ''}'",
                suggest(arm or "", arms),
            )
        codes[key] = kits[cells["code"]] = Code(
            participant, cells["code"], arm if unblind else None, number
        )
    return CodeList(codes)


def _csv_rows(shown: str, text: str) -> list[tuple[int, list[str]]]:
    """The CSV rows of ``text`` with the line each starts on. The csv module reads the
    text itself, so that a quoted cell keeps its line break (and is refused with it)
    instead of losing it."""
    reader = csv.reader(io.StringIO(text, newline=""))
    rows = []
    start = 1
    try:
        for row in reader:
            rows.append((start, row))
            start = reader.line_num + 1
    except csv.Error as error:
        raise CodeListError(shown, start, "", "a CSV code list", str(error)) from None
    return rows


def choose_arm(
    protocol: Protocol,
    participant: str,
    *,
    arm: str | None = None,
    codes: Mapping[str, Code] | None = None,
    option: str = "--arm",
) -> Protocol:
    """The protocol as ``participant`` runs it: the arm named by ``arm``, else by the code
    list (the arm hidden, or revealed when the list was read with ``unblind``), else by
    the participant's number (:func:`~pavlov.protocols.schedule.arm_for`).

    Raises
    ------
    ScheduleError
        For an arm the protocol does not have, ``arm`` or ``codes`` with a protocol without
        arms, a participant missing from the code list, or a blinded participant whose arms
        run different sessions.
    """
    if not protocol.arms:
        if arm is not None or codes is not None:
            given = option if arm is not None else "--codes"
            raise ScheduleError(
                f"{given}: expected a protocol with arms (an arms: block), got "
                f"{Path(protocol.path).name} without one"
            )
        return protocol
    if arm is not None:
        if arm not in protocol.arms:
            hint = suggest(arm, protocol.arms)
            raise ScheduleError(
                f"{option}: expected one of the protocol's arms ({', '.join(protocol.arms)}), "
                f"got {shown_value(arm)}" + (f". Did you mean '{hint}'?" if hint else "")
            )
        return protocol.for_arm(arm)
    if codes is not None:
        code = codes.get(participant)
        if code is None:
            raise ScheduleError(
                f"--codes: expected a row for participant {participant} in the code list, got none"
            )
        if code.arm is not None:
            return protocol.for_arm(code.arm)
        try:
            return protocol.blind()
        except ValueError as error:
            raise ScheduleError(f"--codes: {error}") from None
    return protocol.for_arm(arm_for(protocol, participant) or "")
