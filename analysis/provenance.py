"""The protocol each run was played from, recovered from its provenance sidecar.

Every ``*_session.json`` (``task/LOG.md``) holds ``protocol_text``, the exact protocol file
the run was played from, and its ``protocol_sha256``. :func:`recorded_protocols` groups the
runs by that hash and re-reads each protocol, so the report's methods section describes
what ran without the user having to find the file again; :func:`protocol_sections` turns
that (or a ``--protocol`` override) into report sections and notes, saying when runs used
different protocol files.

A recorded protocol is read from its original ``protocol_path`` when that file still has
the recorded hash (so stimulus files named relative to it resolve), else from the recorded
text, written to a temporary folder (bundled stimuli still resolve; files that only
existed beside the original protocol do not, and the report then says why the protocol
could not be described).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pavlov.common.errors import PavlovError

__all__ = ["RecordedProtocol", "load_recorded_protocol", "protocol_sections", "recorded_protocols"]

Section = tuple[str, list[str]]


@dataclass(frozen=True)
class RecordedProtocol:
    """One protocol file as recorded by the runs that used it.

    Attributes
    ----------
    sha256 : str
        ``protocol_sha256`` of the sidecars.
    path : str
        ``protocol_path`` as recorded (where the file was when the first of these runs started).
    runs : int
        Runs (events logs) played from it.
    participants : tuple of str
        Their participants, in first-seen order.
    protocol : Protocol or None
        The protocol re-read from the record; None when that failed (see ``problem``).
    source : str
        Where it was read from: ``protocol_path`` or ``protocol_text``.
    problem : str
        Why it could not be read (empty when it was).
    meta : dict
        ``study``, ``task`` and ``seed`` as the sidecar states them.
    """

    sha256: str
    path: str
    runs: int
    participants: tuple[str, ...]
    protocol: object | None
    source: str
    problem: str
    meta: dict


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_recorded_protocol(text: str, sha256: str = "", path: str = "") -> tuple[object, str]:
    """Re-read a protocol recorded in a session sidecar.

    Parameters
    ----------
    text : str
        ``protocol_text``.
    sha256 : str
        ``protocol_sha256``; the text is checked against it when given.
    path : str
        ``protocol_path``; read instead of the text when it exists with the same hash.

    Returns
    -------
    protocol : Protocol
    source : str
        ``"protocol_path"`` or ``"protocol_text"``.

    Raises
    ------
    PavlovError
        The text does not match its hash, or the protocol does not load (one line).
    """
    from pavlov.protocols import load_protocol

    if sha256 and _digest(text) != sha256:
        raise PavlovError(
            f"protocol_text: expected text with sha256 {sha256[:12]}..., got "
            f"{_digest(text)[:12]}... (the sidecar was edited)"
        )
    original = Path(path) if path else None
    if original is not None and original.is_file():
        try:
            same = _digest(original.read_text(encoding="utf-8")) == _digest(text)
        except (OSError, UnicodeDecodeError):
            same = False
        if same:
            return load_protocol(original), "protocol_path"
    name = original.name if original is not None and original.suffix else "protocol.yaml"
    with tempfile.TemporaryDirectory(prefix="pavlov-protocol-") as folder:
        copy = Path(folder) / name
        copy.write_text(text, encoding="utf-8")
        try:
            return load_protocol(copy), "protocol_text"
        except PavlovError as error:
            message = str(error).replace(str(copy.resolve()), name).replace(str(copy), name)
            raise PavlovError(message) from None


def recorded_protocols(sessions: pd.DataFrame) -> list[RecordedProtocol]:
    """Group runs by their recorded protocol and re-read each protocol once.

    Parameters
    ----------
    sessions : pandas.DataFrame
        :func:`pavlov.analysis.load.load_sessions` output.

    Returns
    -------
    list of RecordedProtocol
        Most used first; empty when no sidecar records a protocol.
    """
    if sessions.empty or "protocol_sha256" not in sessions.columns:
        return []
    rows = sessions[sessions["protocol_sha256"].map(lambda v: isinstance(v, str) and v != "")]
    out = []
    for sha, group in rows.groupby("protocol_sha256", sort=False):
        first = group.iloc[0]
        text = first.get("protocol_text")
        path = first.get("protocol_path")
        path = path if isinstance(path, str) else ""
        meta = {k: first.get(k) for k in ("study", "task", "seed") if _present(first.get(k))}
        protocol, source, problem = None, "", ""
        if isinstance(text, str) and text:
            try:
                protocol, source = load_recorded_protocol(text, sha, path)
            except PavlovError as error:
                problem = str(error)
        else:
            problem = "the sidecar has no protocol_text"
        out.append(
            RecordedProtocol(
                sha256=sha,
                path=path,
                runs=len(group),
                participants=tuple(dict.fromkeys(group["participant"].astype(str))),
                protocol=protocol,
                source=source,
                problem=problem,
                meta=meta,
            )
        )
    return sorted(out, key=lambda r: -r.runs)


def _present(value: object) -> bool:
    return value is not None and not (isinstance(value, float) and value != value)


def _who(participants: Sequence[str], limit: int = 6) -> str:
    names = [f"sub-{p}" for p in participants]
    if len(names) > limit:
        return ", ".join(names[:limit]) + f" and {len(names) - limit} more"
    return ", ".join(names)


def protocol_sections(
    recorded: Sequence[RecordedProtocol],
    sessions: pd.DataFrame | None = None,
    *,
    override=None,
    override_path: str = "",
) -> tuple[list[Section], list[str]]:
    """Report sections describing the protocol(s), and notes on mismatches.

    Parameters
    ----------
    recorded : sequence of RecordedProtocol
        From :func:`recorded_protocols`.
    sessions : pandas.DataFrame, optional
        The run sidecars; used to count runs without a protocol record.
    override : Protocol, optional
        ``--protocol``: described instead of the recorded protocols.
    override_path : str
        The file the override came from.

    Returns
    -------
    sections : list of (heading, lines)
    notes : list of str
    """
    from pavlov.analysis.report import describe_protocol

    sections: list[Section] = []
    notes: list[str] = []
    total = 0 if sessions is None else len(sessions)
    unrecorded = total - sum(r.runs for r in recorded)
    if override is not None:
        lines = [f"From --protocol {override_path} (sha256 {override.sha256[:12]}...)."]
        sections.append(("Protocol", lines + describe_protocol(override)))
        differing = [r for r in recorded if r.sha256 != override.sha256]
        if differing:
            hashes = ", ".join(f"{r.sha256[:12]}... ({r.runs} runs)" for r in differing)
            notes.append(
                f"--protocol {override_path} (sha256 {override.sha256[:12]}...) is not the "
                f"protocol recorded in the logs ({hashes}): the Protocol section describes the "
                "file given, not necessarily what ran."
            )
        return sections, notes
    if len(recorded) > 1:
        listing = "; ".join(
            f"{r.path or 'unnamed'} sha256 {r.sha256[:12]}... ({r.runs} runs: "
            f"{_who(r.participants)})"
            for r in recorded
        )
        notes.append(f"The runs used {len(recorded)} different protocol files: {listing}.")
    for item in recorded:
        heading = "Protocol"
        if len(recorded) > 1:
            heading = f"Protocol sha256 {item.sha256[:12]}... ({item.runs} runs)"
        origin = (
            f"Recorded in {item.runs} run sidecar(s) ({_who(item.participants)}): "
            f"{item.path or 'path not recorded'}, sha256 {item.sha256[:12]}..."
        )
        if item.protocol is not None:
            how = "the original file" if item.source == "protocol_path" else "the recorded text"
            lines = [f"{origin}; read from {how}.", *describe_protocol(item.protocol)]
        else:
            stated = ", ".join(f"{k} {v}" for k, v in item.meta.items())
            lines = [f"{origin}{'; ' + stated if stated else ''}."]
            lines.append(f"Could not be re-read, so not described further: {item.problem}")
            notes.append(f"Protocol sha256 {item.sha256[:12]}... not described: {item.problem}")
        sections.append((heading, lines))
    if recorded and unrecorded > 0:
        notes.append(
            f"{unrecorded} run(s) have no protocol record in their sidecar; the Protocol "
            "section describes the others."
        )
    return sections, notes
