"""Before a later session: are the participant's earlier sessions there, and is today the
day the protocol plans?

``pavlov run --session S`` checks the data folder: each session before ``S`` (in the
participant's arm) must have a completed run, and today's date minus the date the
participant's first recorded session started must be ``S.day`` minus that session's
``day`` (the protocol's ``day`` counts days after the first session), within
``--day-tolerance`` days (default 1). Each problem is one line; the run stops (exit 2)
unless ``--allow-session-gap``, which prints them as warnings and goes on. A rehearsal
(``--simulate``) skips the date check: it runs days in minutes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path

from pavlov.task.sidecar import participant_records

__all__ = ["gap_problems", "recorded_dates"]


def recorded_dates(data: str | Path, participant: str) -> dict[str, date]:
    """Session name → the local date its first completed run started, from the run
    records (``_session.json``) under ``data/sub-<participant>/``; unreadable records and
    runs that did not complete are left out."""
    dates: dict[str, date] = {}
    for _, record in participant_records(data, participant):
        if record.get("end_reason") != "completed":
            continue
        try:
            started = datetime.fromisoformat(str(record["started"])).date()
            session = str(record["session"])
        except (ValueError, KeyError):
            continue  # not a record this check can read: as if the run were missing
        if session not in dates or started < dates[session]:
            dates[session] = started
    return dates


def gap_problems(
    protocol,
    participant: str,
    session: str,
    dates: Mapping[str, date],
    today: date,
    tolerance: float,
    check_days: bool = True,
) -> list[str]:
    """One line per problem with running ``session`` today (empty when there is none).

    Parameters
    ----------
    protocol : Protocol
        The protocol as the participant runs it (their arm's sessions).
    participant, session : str
        Who and which session is about to run.
    dates : Mapping[str, date]
        The date each of the participant's sessions ran (:func:`recorded_dates`).
    today : date
        The date of this run.
    tolerance : float
        Days the gap may differ from the protocol's.
    check_days : bool
        Compare the gap in days (False for rehearsals).
    """
    names = [s.name for s in protocol.sessions]
    spec = protocol.session(session)
    earlier = protocol.sessions[: names.index(spec.name)]
    problems = [
        f"--session {session}: expected sub-{participant}'s earlier session {s.name} first "
        "(no completed run of it in the data)"
        for s in earlier
        if s.name not in dates
    ]
    if not check_days:
        return problems
    anchor = next((s for s in protocol.sessions if s.name in dates and s.name != session), None)
    if anchor is None or names.index(anchor.name) > names.index(spec.name):
        return problems
    planned = spec.day - anchor.day
    actual = (today - dates[anchor.name]).days
    if abs(actual - planned) > tolerance:
        problems.append(
            f"--session {session}: expected it {planned} day(s) after {anchor.name} "
            f"(± {tolerance:g}, --day-tolerance), got {actual} day(s) ({anchor.name} ran on "
            f"{dates[anchor.name].isoformat()})"
        )
    return problems
