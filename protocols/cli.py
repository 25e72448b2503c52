"""``pavlov validate`` and ``pavlov schedule``: check protocol files and print schedules."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import asdict

from pavlov.common.errors import PavlovError
from pavlov.protocols.events import Event, Schedule
from pavlov.protocols.kinds import KINDS
from pavlov.protocols.loader import load_protocol
from pavlov.protocols.schedule import build_schedule, counterbalancing_table

FORMATS = ("table", "csv", "json")

#: Columns of the printed schedule, in order.
COLUMNS = (
    "phase",
    "kind",
    "trial",
    "cs",
    "cs_type",
    "stimulus",
    "reinforced",
    "event_type",
    "onset",
    "duration",
    "us_onset",
    "iti",
    "context",
)


def register(subparsers) -> None:
    """Add the ``validate`` and ``schedule`` subcommands."""
    validate = subparsers.add_parser(
        "validate",
        help="check protocol files",
        description="Check protocol files; print one line per file. Exit 0 if all are valid, 2 if not.",
    )
    validate.add_argument("files", nargs="+", metavar="FILE", help="protocol YAML files")
    validate.set_defaults(func=run_validate)

    schedule = subparsers.add_parser(
        "schedule",
        help="print a participant's planned session",
        description="Print every planned trial and event of one participant's session.",
    )
    schedule.add_argument("file", metavar="FILE", help="protocol YAML file")
    schedule.add_argument("--participant", "-p", required=True, metavar="ID", help="participant ID")
    schedule.add_argument("--session", "-s", metavar="S", help="session name (default: the first)")
    schedule.add_argument("--format", "-f", choices=FORMATS, default="table", help="output format")
    schedule.add_argument(
        "--counterbalancing",
        action="store_true",
        help="print the protocol's counterbalancing table instead",
    )
    schedule.set_defaults(func=run_schedule)


def run_validate(args: argparse.Namespace) -> int:
    """Validate every file; report each on one line."""
    failed = 0
    for path in args.files:
        try:
            protocol = load_protocol(path)
        except PavlovError as error:
            print(str(error), file=sys.stderr)
            failed += 1
            continue
        n_cells = len(counterbalancing_table(protocol))
        print(
            f"{path}: ok ({len(protocol.sessions)} session(s), {len(protocol.phases)} phases, "
            f"{n_cells} counterbalancing cell(s))"
        )
    return 2 if failed else 0


def run_schedule(args: argparse.Namespace) -> int:
    """Print a schedule (or the counterbalancing table) in the chosen format."""
    protocol = load_protocol(args.file)
    if args.counterbalancing:
        print(format_cells(protocol), end="")
        return 0
    schedule = build_schedule(protocol, args.participant, args.session)
    if args.format == "csv":
        write_csv(schedule, sys.stdout)
    elif args.format == "json":
        print(json.dumps(schedule_dict(schedule), indent=2))
    else:
        print(format_table(schedule), end="")
    return 0


def event_row(event: Event) -> dict[str, object]:
    """One schedule row: the printed columns of an event (None for n/a)."""
    return {
        "phase": event.phase,
        "kind": event.kind,
        "trial": event.index,
        "cs": event.cs,
        "cs_type": event.cs_type,
        "stimulus": event.stimulus,
        "reinforced": int(event.reinforced) if event.kind in ("trial", "us") else None,
        "event_type": event.event_type,
        "onset": event.onset,
        "duration": event.duration,
        "us_onset": event.us_onset,
        "iti": event.iti,
        "context": event.context,
    }


def write_csv(schedule: Schedule, stream) -> None:
    """Write the schedule as CSV with ``n/a`` for missing values."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(COLUMNS)
    for event in schedule.events:
        row = event_row(event)
        writer.writerow(["n/a" if row[c] is None else row[c] for c in COLUMNS])


def schedule_dict(schedule: Schedule) -> dict[str, object]:
    """The schedule as plain JSON-ready data."""
    return {
        "study": schedule.study,
        "task": schedule.task,
        "protocol": schedule.protocol_path,
        "protocol_sha256": schedule.protocol_sha256,
        "participant": schedule.participant,
        "session": schedule.session,
        "seed": schedule.seed,
        "cell": asdict(schedule.cell),
        "duration": round(schedule.duration, 3),
        "events": [asdict(e) for e in schedule.events],
    }


def format_table(schedule: Schedule) -> str:
    """A fixed-width table of every event, then a summary of the session."""
    rows = [{k: _cell(v) for k, v in event_row(e).items()} for e in schedule.events]
    widths = {c: max([len(c)] + [len(r[c]) for r in rows]) for c in COLUMNS}
    lines = [
        f"{schedule.study}",
        f"participant {schedule.participant}, session {schedule.session}, "
        f"counterbalancing cell {schedule.cell.index + 1} of {schedule.cell.n_cells} "
        f"({_assignment(schedule)}), seed {schedule.seed}",
        "",
        "  ".join(c.ljust(widths[c]) for c in COLUMNS).rstrip(),
    ]
    for row in rows:
        lines.append("  ".join(row[c].ljust(widths[c]) for c in COLUMNS).rstrip())
    lines += ["", summarize(schedule)]
    return "\n".join(lines) + "\n"


def summarize(schedule: Schedule) -> str:
    """One line: trials per CS role, USs, and the planned total duration."""
    counts: dict[str, int] = {}
    for event in schedule.trials:
        role = event.cs or ""
        counts[role] = counts.get(role, 0) + 1
    per_cs = ", ".join(f"{n} {role}" for role, n in counts.items()) or "no CS"
    n_us = sum(1 for e in schedule.events if e.reinforced)
    total = schedule.duration
    return (
        f"{len(schedule.trials)} trials ({per_cs}), {n_us} US(s), {len(schedule.events)} events; "
        f"total duration {int(total // 60)} min {total % 60:04.1f} s ({total:.1f} s)"
    )


def format_cells(protocol) -> str:
    """The counterbalancing table: which participant numbers get which assignment."""
    cells = counterbalancing_table(protocol)
    lines = [
        f"{len(cells)} counterbalancing cell(s); a participant's cell is "
        f"(last number in the ID) mod {len(cells)}",
        "",
    ]
    for cell in cells:
        parts = [", ".join(f"{role}={name}" for role, name in cell.cs.items())]
        if cell.contexts:
            parts.append(
                ", ".join(f"context {role}={name}" for role, name in cell.contexts.items())
            )
        if any(KINDS[p.type].orders(p) for p in protocol.phases.values()):
            parts.append(f"order {cell.order + 1}")
        lines.append(
            f"cell {cell.index + 1} (IDs {cell.index}, {cell.index + len(cells)}, ...): "
            + "; ".join(parts)
        )
    return "\n".join(lines) + "\n"


def _assignment(schedule: Schedule) -> str:
    parts = [f"{role}={name}" for role, name in schedule.cell.cs.items()]
    parts += [f"context {role}={name}" for role, name in schedule.cell.contexts.items()]
    return ", ".join(parts)


def _cell(value: object) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)
