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
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from pavlov.common.bids import LabelError, bids_label
from pavlov.common.errors import FileError, suggest
from pavlov.protocols.errors import ScheduleError
from pavlov.protocols.model import Protocol
from pavlov.protocols.schedule import arm_for

__all__ = ["Code", "CodeList", "CodeListError", "choose_arm", "participant_key", "read_codes"]

#: The columns a code list must have; ``arm`` is read only to unblind.
CODE_COLUMNS = ("participant", "code")


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
        For a missing file or column, an empty code, a participant that is not a BIDS
        label, a participant listed twice (``1`` and ``01`` too), or an arm the protocol
        does not have.
    """
    shown = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise CodeListError(
            shown, 0, "", "a readable CSV code list", getattr(error, "strerror", None) or str(error)
        ) from None
    rows = list(csv.reader(text.splitlines()))
    header = [cell.strip() for cell in rows[0]] if rows else []
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
    for number, row in enumerate(rows[1:], start=2):
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
        codes[key] = Code(participant, cells["code"], arm if unblind else None, number)
    return CodeList(codes)


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
                f"got '{arm}'" + (f". Did you mean '{hint}'?" if hint else "")
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
