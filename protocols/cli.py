"""``pavlov validate``, ``pavlov schedule`` and ``pavlov schema``: check protocol files,
print and draw schedules, print the format's JSON Schema.

``pavlov schedule FILE -p ID [-s S]`` prints one participant's session (``--format
table|csv|json``) or, with ``--plot OUT.png|svg|html``, draws it (:mod:`pavlov.protocols.plot`);
``pavlov schedule FILE --participants 01-24 [-s S] --format csv`` prints many participants'
sessions (every session unless ``-s`` names one) with ``participant`` and ``session`` columns.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import re
import sys
import typing
from dataclasses import asdict

from pavlov.common.argtypes import arm_name, file_name
from pavlov.common.errors import PavlovError
from pavlov.common.files import write_new
from pavlov.protocols.errors import ScheduleError, error_lines
from pavlov.protocols.events import Event, Probe, Schedule
from pavlov.protocols.kinds import KINDS
from pavlov.protocols.loader import load_protocol
from pavlov.protocols.model import Protocol
from pavlov.protocols.schedule import arm_for, build_schedule, cell_for, counterbalancing_table

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
    "item",
)


def register(subparsers) -> None:
    """Add the ``validate``, ``schedule`` and ``schema`` subcommands."""
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
    who = schedule.add_mutually_exclusive_group(required=True)
    who.add_argument("--participant", "-p", metavar="ID", help="participant ID")
    who.add_argument(
        "--participants",
        metavar="IDS",
        help="many participants, e.g. 01-24 or 01,03,10-12 (zero-padding kept): their "
        "schedules one after another, with participant and session columns (every session "
        "unless --session names one)",
    )
    schedule.add_argument("--session", "-s", metavar="S", help="session name (default: the first)")
    schedule.add_argument("--format", "-f", choices=FORMATS, default="table", help="output format")
    schedule.add_argument(
        "--plot",
        metavar="OUT",
        help="draw the session's timeline into OUT.png, OUT.svg or OUT.html (interactive, "
        "self-contained) instead of printing it; an existing file is never replaced",
    )
    schedule.add_argument(
        "--counterbalancing",
        action="store_true",
        help="print the protocol's counterbalancing table (and its arms, and with "
        "--participants who is in which cell and arm) instead",
    )
    schedule.add_argument(
        "--arm",
        type=arm_name,
        metavar="NAME",
        help="the participant's arm (default: by participant number)",
    )
    schedule.add_argument(
        "--codes",
        type=file_name,
        metavar="FILE",
        help="a blinded code list (CSV: participant, code[, arm]): listed participants' arms "
        "stay hidden unless --unblind",
    )
    schedule.add_argument(
        "--unblind", action="store_true", help="read the code list's arm column and show the arms"
    )
    schedule.set_defaults(func=run_schedule)

    schema = subparsers.add_parser(
        "schema",
        help="print the JSON Schema of protocol files (for editors)",
        description="Print the JSON Schema (draft 2020-12) of protocol files, or of lab files "
        "with --lab, for a YAML language server: completion, hover docs and inline errors. "
        "The bundled protocols point at the copy shipped beside them with a first line "
        "'# yaml-language-server: $schema=protocol.schema.json'.",
    )
    schema.add_argument("--lab", action="store_true", help="the lab-file format instead")
    schema.set_defaults(func=run_schema)


def run_validate(args: argparse.Namespace) -> int:
    """Validate every file; report each on one line."""
    failed = 0
    for path in args.files:
        try:
            protocol = load_protocol(path)
        except PavlovError as error:
            for line in error_lines(error):  # every independent mistake, one line each
                print(line, file=sys.stderr)
            failed += 1
            continue
        print_warnings(protocol)
        n_cells = len(counterbalancing_table(protocol))
        print(
            f"{path}: ok ({len(protocol.sessions)} session(s), {len(protocol.phases)} phases, "
            f"{n_cells} counterbalancing cell(s)"
            + (f", {len(protocol.arms)} arms)" if protocol.arms else ")")
        )
    return 2 if failed else 0


def print_warnings(protocol: Protocol, stream: typing.TextIO | None = None) -> None:
    """Print the protocol's warnings, one line each, on stderr (they never stop a command)."""
    for line in protocol.warnings:
        print(line, file=stream or sys.stderr)


def run_schema(args: argparse.Namespace) -> int:
    """Print the protocol-file (or lab-file) JSON Schema."""
    from pavlov.protocols.schema import lab_schema, protocol_schema, to_json

    print(to_json(lab_schema() if args.lab else protocol_schema()), end="")
    return 0


def run_schedule(args: argparse.Namespace) -> int:
    """Print a schedule (or the counterbalancing table) in the chosen format, or draw it."""
    plot_format = _plot_format(args)
    participants = participant_ids(args.participants) if args.participants else None
    protocol = load_protocol(args.file)
    print_warnings(protocol)
    codes = _codes(args, protocol)
    if args.counterbalancing:
        print(format_cells(protocol, participants, codes), end="")
        return 0
    if participants is not None:
        views = {p: _view(protocol, p, args, codes) for p in participants}
        pairs = [
            (p, s)
            for p in participants
            for s in ([args.session] if args.session else [s.name for s in views[p].sessions])
        ]
        schedules = [build_schedule(views[p], p, s) for p, s in _progress(pairs)]
        write_many(schedules, args.format, sys.stdout)
        return 0
    view = _view(protocol, args.participant, args, codes)
    schedule = build_schedule(view, args.participant, args.session)
    if plot_format:
        from pavlov.protocols.plot import render  # matplotlib: only when drawing

        _write_plot(args.plot, render(schedule, protocol, plot_format))
        print(f"{args.plot}: timeline of {len(schedule.events)} events written")
    elif args.format == "csv":
        write_csv(schedule, sys.stdout)
    elif args.format == "json":
        print(json.dumps(schedule_dict(schedule), indent=2))
    else:
        print(format_table(schedule), end="")
    return 0


def _codes(args: argparse.Namespace, protocol):
    """The code list of ``--codes`` (with its arms under ``--unblind``), or None."""
    from pavlov.protocols.arms import read_codes

    if args.unblind and not args.codes:
        raise ScheduleError("--unblind: expected --codes FILE (the list that holds the arms)")
    if not args.codes:
        return None
    return read_codes(args.codes, unblind=args.unblind, arms=tuple(protocol.arms))


def _view(protocol, participant: str, args: argparse.Namespace, codes):
    """The protocol as ``participant`` runs it (``--arm``, the code list, or the number)."""
    from pavlov.protocols.arms import choose_arm

    listed = codes if codes is not None and participant in codes else None
    return choose_arm(protocol, participant, arm=args.arm, codes=listed)


def _progress(pairs: list[tuple[str, str]]):
    """Iterate, with a progress bar on a terminal's stderr (quiet when piped)."""
    from rich.console import Console
    from rich.progress import track

    console = Console(stderr=True)
    return track(
        pairs,
        description="planning sessions",
        console=console,
        transient=True,
        disable=not console.is_terminal or len(pairs) < 50,
    )


#: ``--plot`` file extensions and the format each gives.
PLOT_EXTENSIONS = {".png": "png", ".svg": "svg", ".html": "html", ".htm": "html"}


def _plot_format(args: argparse.Namespace) -> str | None:
    """The picture format ``--plot`` asks for, after checking it goes with the other options."""
    if args.plot is None:
        return None
    if args.participants or args.counterbalancing:
        other = "--participants" if args.participants else "--counterbalancing"
        raise ScheduleError(f"--plot: expected one participant (-p ID), got {other}")
    extension = os.path.splitext(args.plot)[1].lower()
    if extension not in PLOT_EXTENSIONS:
        raise ScheduleError(
            f"--plot: expected a file name ending .png, .svg or .html, got '{args.plot}'"
        )
    if os.path.lexists(args.plot):
        raise ScheduleError(
            f"--plot: {args.plot} already exists; existing files are never replaced "
            "(remove it or choose another name)"
        )
    folder = os.path.dirname(args.plot) or "."
    if not os.path.isdir(folder):
        raise ScheduleError(f"--plot: expected an existing folder, got '{folder}'")
    return PLOT_EXTENSIONS[extension]


def _write_plot(path: str, data: bytes) -> None:
    try:
        write_new(path, data)
    except FileExistsError:
        raise ScheduleError(
            f"--plot: {path} already exists; existing files are never replaced "
            "(remove it or choose another name)"
        ) from None
    except OSError as error:
        raise ScheduleError(f"--plot: cannot write {path}: {error.strerror or error}") from None


#: Most participants one ``--participants`` may name.
MAX_PARTICIPANTS = 10_000


def participant_ids(spec: str) -> list[str]:
    """The participant IDs of a ``--participants`` value, in order.

    ``01-24`` gives ``01`` ... ``24`` (the first ID's zero-padding is kept), ``1,5,7-9``
    gives ``1, 5, 7, 8, 9``; an ID may also be a plain label (``pilot``).

    Raises
    ------
    ScheduleError
        For an empty or reversed range, a repeated ID, or more than
        :data:`MAX_PARTICIPANTS` IDs.
    """
    ids: list[str] = []
    for part in (p.strip() for p in spec.split(",")):
        bounds = re.fullmatch(r"(\d+)-(\d+)", part)
        if bounds:
            first, last = bounds.groups()
            if int(last) < int(first) or int(last) - int(first) >= MAX_PARTICIPANTS:
                raise ScheduleError(
                    f"--participants: expected a range FIRST-LAST with FIRST <= LAST and at most "
                    f"{MAX_PARTICIPANTS:,} IDs, got '{part}'"
                )
            width = len(first)
            ids += [f"{n:0{width}d}" for n in range(int(first), int(last) + 1)]
        elif re.fullmatch(r"[A-Za-z0-9]+", part):
            ids.append(part)
        else:
            raise ScheduleError(
                "--participants: expected IDs or ranges separated by commas (e.g. 01-24 or "
                f"01,03,10-12), got '{part or spec}'"
            )
    if len(set(ids)) != len(ids):
        raise ScheduleError(f"--participants: expected each ID once, got '{spec}'")
    if len(ids) > MAX_PARTICIPANTS:
        raise ScheduleError(
            f"--participants: expected at most {MAX_PARTICIPANTS:,} IDs, got {len(ids):,}"
        )
    return ids


def write_many(schedules: list[Schedule], fmt: str, stream) -> None:
    """Write several schedules: one CSV with ``participant`` and ``session`` columns, a JSON
    list, or one table after another."""
    if fmt == "csv":
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(("participant", "session", *COLUMNS))
        for schedule in schedules:
            for row in schedule_rows(schedule):
                writer.writerow([schedule.participant, schedule.session, *csv_cells(row)])
    elif fmt == "json":
        stream.write(json.dumps([schedule_dict(s) for s in schedules], indent=2) + "\n")
    else:
        stream.write("\n".join(format_table(s) for s in schedules))


def probe_row(probe: Probe) -> dict[str, object]:
    """One schedule row of a startle probe: the trial it falls in, or ``ITI`` as its ``cs``
    when it sounds alone."""
    return {
        "phase": probe.phase,
        "kind": "probe",
        "trial": probe.trial,
        "cs": probe.cs if probe.trial is not None else "ITI",
        "cs_type": probe.cs_type,
        "stimulus": probe.stimulus,
        "reinforced": None,
        "event_type": None,
        "onset": probe.onset,
        "duration": probe.duration,
        "us_onset": None,
        "iti": None,
        "context": probe.context,
        "item": None,
    }


def schedule_rows(schedule: Schedule) -> list[dict[str, object]]:
    """The printed rows of a schedule: each event, each startle probe after the event it
    sounds in (a probe alone stands for its ``probe`` event)."""
    probes = iter(schedule.probes)
    rows = []
    for event in schedule.events:
        if event.kind != "probe":
            rows.append(event_row(event))
        rows.extend(probe_row(next(probes)) for _ in event.probes)
    return rows


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
        "item": event.item,
    }


def write_csv(schedule: Schedule, stream) -> None:
    """Write the schedule as CSV with ``n/a`` for missing values."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in schedule_rows(schedule):
        writer.writerow(csv_cells(row))


def csv_cells(row: Event | dict[str, object]) -> list[object]:
    """A schedule row's (or an event's) CSV cells in :data:`COLUMNS` order, ``n/a`` for
    missing values."""
    if isinstance(row, Event):
        row = event_row(row)
    return ["n/a" if row[c] is None else row[c] for c in COLUMNS]


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
        "arm": schedule.arm,
        "duration": round(schedule.duration, 3),
        "events": [asdict(e) for e in schedule.events],
        "probes": [asdict(p) for p in schedule.probes],
    }


def format_table(schedule: Schedule) -> str:
    """A fixed-width table of every event, then a summary of the session."""
    rows = [{k: _cell(v) for k, v in row.items()} for row in schedule_rows(schedule)]
    widths = {c: max([len(c)] + [len(r[c]) for r in rows]) for c in COLUMNS}
    lines = [
        f"{schedule.study}",
        f"participant {schedule.participant}, session {schedule.session}, "
        f"counterbalancing cell {schedule.cell.index + 1} of {schedule.cell.n_cells} "
        f"({_assignment(schedule)}), seed {schedule.seed}"
        + (f", arm {schedule.arm}" if schedule.arm else ""),
        "",
        "  ".join(c.ljust(widths[c]) for c in COLUMNS).rstrip(),
    ]
    for row in rows:
        lines.append("  ".join(row[c].ljust(widths[c]) for c in COLUMNS).rstrip())
    lines += ["", *runs(schedule), summarize(schedule)]
    return "\n".join(lines) + "\n"


def runs(schedule: Schedule) -> list[str]:
    """One line: each trial phase's longest runs of one CS, of one CS type (CS+ roles
    pooled) and of reinforced trials, the quantities the order constraints bound."""
    phases: dict[str, list[Event]] = {}
    for event in schedule.trials:
        if event.kind == "trial":
            phases.setdefault(event.phase, []).append(event)
    if not phases:
        return []

    def longest(values: list[object]) -> int:
        return max((len(list(g)) for k, g in itertools.groupby(values) if k), default=0)

    parts = [
        f"{name} {longest([e.cs for e in trials])}/{longest([e.cs_type for e in trials])}/"
        f"{longest([e.reinforced for e in trials])}"
        for name, trials in phases.items()
    ]
    return ["longest runs (one CS/one CS type/reinforced): " + ", ".join(parts)]


def summarize(schedule: Schedule) -> str:
    """One line: trials per CS role, USs, and the planned total duration."""
    counts: dict[str, int] = {}
    for event in schedule.trials:
        role = event.cs or "no CS"  # every trial has one
        counts[role] = counts.get(role, 0) + 1
    per_cs = ", ".join(f"{n} {role}" for role, n in counts.items()) or "no CS"
    n_us = sum(1 for e in schedule.events if e.reinforced)
    total = schedule.duration
    probes = schedule.probes
    alone = sum(1 for p in probes if p.trial is None)
    startle = f"{len(probes)} startle probes ({alone} alone), " if probes else ""
    return (
        f"{len(schedule.trials)} trials ({per_cs}), {n_us} US(s), {startle}"
        f"{len(schedule.events)} events; "
        f"total duration {int(total // 60)} min {total % 60:04.1f} s ({total:.1f} s)"
    )


def format_cells(protocol, participants=None, codes=None) -> str:
    """The counterbalancing table: which participant numbers get which assignment; with
    arms, the arms and their numbers too; with ``participants``, each one's cell and arm
    (a participant of the blinded code list ``codes`` shows its code, or its arm when the
    list was read to unblind)."""
    cells = counterbalancing_table(protocol)
    lines = [
        f"{len(cells)} counterbalancing cell(s); a participant's cell is "
        f"(last number in the ID) mod {len(cells)}",
        "",
    ]
    for cell in cells:
        parts = [_cs_assignment(cell)]
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
    if protocol.arms:
        lines += ["", *_arm_lines(protocol, len(cells))]
    if participants:
        lines += ["", "participant  cell  arm"]
        for participant in participants:
            cell = cell_for(protocol, participant)
            code = (codes or {}).get(participant)
            if code is not None and code.arm is None:
                arm = f"blinded (code {code.code})"
            elif code is not None:
                arm = f"{code.arm} (code {code.code})"
            else:
                arm = arm_for(protocol, participant) or "n/a"
            lines.append(f"{participant:<11}  {cell.index + 1:<4}  {arm}")
    return "\n".join(lines) + "\n"


def _arm_lines(protocol, n_cells: int) -> list[str]:
    """The arms, the formula that assigns them, and each arm's first participant numbers."""
    n_arms = len(protocol.arms)
    lines = [
        f"{n_arms} arms, crossed with the cells; a participant's arm is "
        f"(n mod {n_cells} + n div {n_cells}) mod {n_arms} (n: the last number in the ID; "
        "--arm or a blinded code list overrides it)"
    ]
    block = n_cells * n_arms
    for index, (name, arm) in enumerate(protocol.arms.items()):
        numbers = [
            n for n in range(block + n_arms) if (n % n_cells + n // n_cells) % n_arms == index
        ]
        changes = [f"{old} → {new}" for old, new in arm.replace.items()]
        changes += [f"no {what}" for what in arm.omit]
        what = "; ".join(filter(None, [arm.description, ", ".join(changes)]))
        shown = ", ".join(str(n) for n in numbers[: n_cells + 1])
        lines.append(f"arm {name}{f' ({what})' if what else ''}: IDs {shown}, ...")
    return lines


def _assignment(schedule: Schedule) -> str:
    parts = [_cs_assignment(schedule.cell)]
    parts += [f"context {role}={name}" for role, name in schedule.cell.contexts.items()]
    return ", ".join(parts)


def _cs_assignment(cell) -> str:
    """``CS+=a, GS1=b/h, ...``: a GS on a circle names both its stimuli."""
    return ", ".join(
        f"{role}={'/'.join(cell.faces.get(role, (name,)))}" for role, name in cell.cs.items()
    )


def _cell(value: object) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)
