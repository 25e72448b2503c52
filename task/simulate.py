"""``pavlov simulate``: a whole study's sessions without a window, frames or real time.

For every participant and session, the protocol's schedule (:func:`pavlov.protocols.build_schedule`)
is played by the same simulated learner as ``pavlov run --simulate``
(:class:`~pavlov.task.simulated_participant.SimulatedParticipant`, seeded the same way, fed
the same events in the same order), and the rows the run loop would log are written with the
same writer (:class:`~pavlov.task.log.EventLog`) and sidecars (:mod:`pavlov.task.sidecar`):
``events.tsv``/``.json``, ``session.json``, the shock ledger, ``participants.tsv`` (with a
``group`` column when groups are simulated) and ``dataset_description.json``, plus simulated
skin conductance as BIDS physio (:mod:`pavlov.task.simulated_physio`).

Onsets are the planned ones, as a session without dropped frames would have them: the run
loop's rows differ only by frame timing (each onset lands on a refresh of the display).
Self-paced screens last what the simulated participant takes (instructions: ``continue_rt``
after their minimum; post-phase ratings: the answer time), rests that wait for the scanner
start on the next volume, and later onsets move by the same overrun as in the run loop.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import multiprocessing as mp
import os
import sys
import typing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path

from pavlov.common.argtypes import file_name, positive_int, seed
from pavlov.common.errors import PavlovError
from pavlov.protocols.kinds import event_kind
from pavlov.stimuli.check import stim_file
from pavlov.task.simulated_participant import LearnerParameters, SimulatedParticipant
from pavlov.task.simulated_physio import (
    TrialResponse,
    probes_from_log,
    responses_from_log,
    write_simulated_physio,
)

if typing.TYPE_CHECKING:
    from pavlov.protocols.events import Schedule
    from pavlov.protocols.model import Protocol, ScannerSpec
    from pavlov.stimuli.check import SessionStimuli
    from pavlov.task.log import RunPaths

__all__ = [
    "SimulateUsageError",
    "SimulatedSession",
    "register",
    "simulate_run_physio",
    "simulate_session",
    "write_session",
]


class SimulateUsageError(PavlovError, ValueError):
    """A ``pavlov simulate`` option is not usable (one line, exit status 2)."""

    exit_status = 2


@dataclass(frozen=True)
class SimulatedSession:
    """One simulated run: its log rows (in file order), each trial's expectation, and each
    startle probe's log time and the expectation then."""

    rows: list[dict]
    responses: list[TrialResponse]
    end: float
    probes: list[tuple[float, float]] = field(default_factory=list)


def learner_for(protocol: Protocol, schedule: Schedule, parameters: LearnerParameters | None):
    """The simulated participant as ``pavlov run --simulate`` builds it: seeded with the
    schedule's seed, having learnt from every earlier session of the protocol."""
    from pavlov.protocols import build_schedule

    learner = SimulatedParticipant(schedule.seed, 1.0, parameters)
    earlier = []
    for session in protocol.sessions:
        if session.name == schedule.session:
            break
        earlier.extend(build_schedule(protocol, schedule.participant, session.name).events)
    learner.replay(earlier)
    return learner


def expectations(protocol: Protocol, schedule: Schedule) -> list[float]:
    """The learner's value of each trial's CS at its onset (trials and unsignalled USs in
    schedule order; 1.0 for an unsignalled US). Learning is deterministic, so a replay gives
    the values the session's learner had (used for ``run --simulate``'s physiology)."""
    learner = learner_for(protocol, schedule, None)
    values = []
    for event in schedule.events:
        if event.kind == "trial":
            learner.enter(event)
            values.append(learner.value(event.stimulus))
            learner.observe(event, event.reinforced)
        elif event.kind == "us":
            values.append(1.0)
            learner.observe(event, True)
    return values


@dataclass(frozen=True)
class _Rehearsal:
    """What a kind's simulation is given (:class:`pavlov.protocols.kinds.base.Rehearsal`)."""

    protocol: Protocol
    scanner: ScannerSpec | None
    learner: SimulatedParticipant
    stimuli: SessionStimuli | None

    def stim_file(self, kind: str, name: str | None) -> str | None:
        return stim_file(self.protocol, self.stimuli, kind, name)

    def script(self, phase: str) -> tuple[str | None, str | None]:
        path, label = self.stimuli.script(phase) if self.stimuli is not None else (None, None)
        return (str(path) if path is not None else None), label

    def shock(self, us_row: dict, name: str | None, onset: float) -> None:
        us = self.protocol.us.get(name or "")
        if us is None or us.kind != "shock" or us.train is None:
            return
        train = us.train
        edges = [onset + i * train.interval for i in range(train.count)]
        us_row["value"] = ";".join(f"{t:.4f}" for t in edges)
        us_row["duration"] = (train.count - 1) * train.interval + train.pulse_width


def simulate_session(
    protocol: Protocol,
    schedule: Schedule,
    *,
    learner: SimulatedParticipant | None = None,
    stimuli=None,
) -> SimulatedSession:
    """Play ``schedule`` without a display: the rows ``run_session`` would log.

    Parameters
    ----------
    protocol, schedule
        The protocol and one participant's session.
    learner : SimulatedParticipant, optional
        Defaults to :func:`learner_for` (what ``run --simulate`` uses).
    stimuli : SessionStimuli, optional
        Resolved stimulus files, for ``stim_file`` (the protocol's paths without).
    """
    learner = learner if learner is not None else learner_for(protocol, schedule, None)
    spec = protocol.session(schedule.session)
    scanner = protocol.scanner if spec.scanner else None
    rows: list[dict] = []
    responses: list[TrialResponse] = []
    probes: list[tuple[float, float]] = []
    slip = 0.0

    rehearsal = _Rehearsal(protocol, scanner, learner, stimuli)
    for event in schedule.events:
        planned = event.onset + slip
        simulated = event_kind(event.kind).rehearse(rehearsal, event, planned)
        row, extra, end = simulated.row, simulated.extra, simulated.end
        onset = simulated.onset if simulated.onset is not None else planned
        if simulated.response is not None:
            responses.append(TrialResponse(onset, *simulated.response))
        probes.extend(simulated.probes)
        row["onset"] = onset
        row["planned_onset"] = planned
        row["onset_error"] = onset - planned
        row["dropped_frames"] = 0
        rows.append(row)
        rows.extend(extra)
        if end is not None:
            slip += end - (planned + event.duration)
    last = schedule.events[-1] if schedule.events else None
    session_end = last.onset + slip + last.span + last.iti if last is not None else 0.0
    if scanner is not None:
        # every volume from the first dummy to the end, numbered from the first pulse
        n = scanner.dummy_volumes + math.floor(session_end / scanner.tr + 1e-9) + 1
        for k in range(n):
            t = (k - scanner.dummy_volumes) * scanner.tr
            rows.append({"trial_type": "pulse", "value": k + 1, "onset": t, "duration": 0.0})
    rows.sort(key=lambda r: r["onset"])
    return SimulatedSession(rows, responses, session_end, probes)


# --- the command -------------------------------------------------------------------------


def register(subparsers) -> None:
    """Add the ``simulate`` subcommand to ``pavlov``'s subparsers."""
    parser = subparsers.add_parser(
        "simulate",
        help="simulate a whole study's sessions (logs, sidecars, skin conductance) in seconds",
        description=(
            "Write, for N simulated participants, the BIDS logs, sidecars, participants.tsv "
            "and simulated skin conductance that 'pavlov run --simulate' would, from the same "
            "schedules and simulated learner, without a window or real time: a pipeline dry "
            "run before data collection, or power analysis with --groups."
        ),
    )
    parser.add_argument("protocol", metavar="PROTOCOL", help="protocol file (YAML)")
    parser.add_argument(
        "--participants", type=positive_int, required=True, metavar="N", help="how many"
    )
    parser.add_argument(
        "--sessions",
        nargs="+",
        metavar="SESSION",
        help="sessions to simulate, in order (default: every session of the protocol)",
    )
    parser.add_argument(
        "--groups",
        nargs="+",
        metavar="NAME=EFFECT",
        help="groups, assigned in turn (participant 1 to the first, ...); EFFECT scales the "
        "group's extinction learning rate by 1 + EFFECT (e.g. placebo=0 drug=0.5: the drug "
        "group extinguishes 50%% faster)",
    )
    parser.add_argument(
        "--codes",
        type=file_name,
        metavar="FILE",
        help="a blinded code list (CSV: participant, code), as pavlov run --codes: each "
        "participant is recorded as blinded with its kit code, the arm hidden",
    )
    parser.add_argument(
        "--unblind",
        action="store_true",
        help="with --codes: each participant plays the arm the list's arm column names, and "
        "the arm is written (as pavlov run --arm would)",
    )
    parser.add_argument("--data", default="data", metavar="DIR", help="dataset folder (./data)")
    parser.add_argument(
        "--seed",
        type=seed,
        metavar="S",
        help="varies the simulated participants' answers and physiology (default: the "
        "schedule's own seed, as pavlov run --simulate)",
    )
    parser.add_argument(
        "--no-physio", action="store_true", help="no simulated skin conductance recordings"
    )
    parser.add_argument(
        "--first",
        type=positive_int,
        default=1,
        metavar="K",
        help="number of the first participant (IDs K, K+1, ... zero-padded; default 1)",
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        metavar="N",
        help="processes writing sessions side by side (default: twice the CPUs; 1 for a few)",
    )
    parser.set_defaults(func=run_simulate)


#: Largest --groups EFFECT: the extinction learning rate times 101 (it is capped at 1).
MAX_GROUP_EFFECT = 100.0


def _groups(specs: Sequence[str] | None) -> list[tuple[str, float]]:
    from pavlov.common.bids import bids_label

    groups = []
    for spec in specs or []:
        name, sep, effect = spec.partition("=")
        try:
            value = float(effect)
        except ValueError:
            value = math.nan
        # 1 + EFFECT scales a learning rate capped at 1: beyond 100-fold it means nothing
        # (1e308 was taken as given)
        if not sep or not name or not -1 < value <= MAX_GROUP_EFFECT:
            raise SimulateUsageError(
                "--groups: expected NAME=EFFECT with EFFECT a number > -1 and <= "
                f"{MAX_GROUP_EFFECT:g}, got {spec!r}"
            )
        bids_label(name, "--groups")
        groups.append((name, value))
    return groups


def run_simulate(args: argparse.Namespace) -> int:
    """Run ``pavlov simulate``; return the exit status."""
    from pavlov.protocols import load_protocol
    from pavlov.protocols.cli import print_warnings
    from pavlov.task.log import LogError, run_paths

    protocol = load_protocol(args.protocol)
    print_warnings(protocol)
    names = [s.name for s in protocol.sessions]
    sessions = args.sessions or names
    for session in sessions:
        if session not in names:
            from pavlov.common.errors import suggest

            hint = suggest(session, names)
            tail = f". Did you mean '{hint}'?" if hint else ""
            raise SimulateUsageError(
                f"--sessions: expected sessions of {protocol.path} ({', '.join(names)}), "
                f"got {session!r}{tail}"
            )
    groups = _groups(args.groups)
    width = max(3, len(str(args.first + args.participants - 1)))
    participants = [f"{i:0{width}d}" for i in range(args.first, args.first + args.participants)]
    # Each participant's arm: (arm, kit code), arm None for one kept blinded; checked for
    # every participant before anything is written.
    arms = _coded_arms(args, protocol, participants, groups)
    root = Path(args.data)
    # Refuse before writing anything when any run already has data (never overwritten).
    for participant in participants:
        for session in sessions:
            spec = protocol.session(session)
            paths = run_paths(root, participant, session, protocol.task, 1, bool(spec.scanner))
            if paths.events.exists() or paths.session_json.exists():
                raise LogError(
                    f"{paths.events}: this run already has data (existing data is never "
                    "overwritten); simulate into another --data folder or --first K"
                )
    from pavlov.task.sidecar import write_dataset_description

    write_dataset_description(root, protocol.study)
    jobs = [
        (
            participant,
            groups[i % len(groups)][1] if groups else 0.0,
            arms.get(participant, (None, None))[0],
            participant in arms,
        )
        for i, participant in enumerate(participants)
    ]
    total = len(participants) * len(sessions)
    options = (str(args.protocol), tuple(sessions), str(root), args.seed, not args.no_physio)
    # Never more processes than participants (the tasks): with fork, a pool starts all
    # its workers at once, and `--workers 100000` forked until the machine gave out.
    workers = min(args.workers or _default_workers(total), len(jobs))
    with _progress(total, f"simulating {total} sessions") as advance:
        if workers <= 1:
            for job in jobs:
                advance(_simulate_participant(options, job, protocol))
        else:
            # Each participant in its own task, several processes at once: the work is
            # numpy, zlib and fsync waits, so a process per CPU and as many again to cover
            # the disk waits. fork: a worker starts with the protocol already loaded.
            context = mp.get_context("fork")
            with ProcessPoolExecutor(workers, mp_context=context) as pool:
                futures = [pool.submit(_simulate_participant, options, job) for job in jobs]
                for future in as_completed(futures):
                    advance(future.result())
    from pavlov.protocols.schedule import arm_for

    # Without --groups, a protocol's arms are the groups (each participant's by number,
    # as pavlov run assigns them, or the code list's), and participants.tsv has their arm
    # column too; a blinded participant's arm is 'blinded', its group n/a and its kit code
    # recorded, as pavlov run --codes writes them.
    chosen = {p: arms[p][0] if p in arms else arm_for(protocol, p) for p in participants}
    _write_participants(
        root,
        {
            p: (groups[i % len(groups)][0] if groups else chosen[p] or "n/a")
            for i, p in enumerate(participants)
        }
        if groups or protocol.arms
        else {p: None for p in participants},
        {p: chosen[p] or "blinded" for p in participants} if protocol.arms else None,
        {p: code for p, (_, code) in arms.items()} if args.codes else None,
    )
    print(f"{total} sessions of {len(participants)} participants written to {root}")
    return 0


def _coded_arms(
    args: argparse.Namespace,
    protocol: Protocol,
    participants: list[str],
    groups: list[tuple[str, float]],
) -> dict[str, tuple[str | None, str]]:
    """Each participant's (arm, kit code) from ``--codes`` (arm None: kept blinded), or
    nothing without it.

    Raises
    ------
    SimulateUsageError
        For --unblind without --codes, or --codes with --groups.
    ScheduleError, CodeListError
        For a protocol without arms, arms that cannot stay hidden, a code list that is not
        valid or does not list a participant (as ``pavlov run --codes``).
    """
    from pavlov.protocols.arms import choose_arm, read_codes

    if args.unblind and not args.codes:
        raise SimulateUsageError("--unblind: expected --codes FILE (the list that holds the arms)")
    if not args.codes:
        return {}
    if groups:
        raise SimulateUsageError(
            "--groups: expected --groups or --codes, got both (a coded study's groups are its arms)"
        )
    codes = read_codes(args.codes, unblind=args.unblind, arms=tuple(protocol.arms))
    arms: dict[str, tuple[str | None, str]] = {}
    for participant in participants:
        view = choose_arm(protocol, participant, codes=codes)  # one line if not listed
        arms[participant] = (view.arm, codes[participant].code)
    return arms


def _default_workers(total: int) -> int:
    if total < 8 or "fork" not in mp.get_all_start_methods():
        return 1
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    return 2 * cpus


_PROTOCOLS: dict = {}


def _simulate_participant(options: tuple, job: tuple, protocol: Protocol | None = None) -> int:
    """Every session of one participant (a worker's task); return the sessions written."""
    from pavlov.protocols import build_schedule, load_protocol
    from pavlov.stimuli.check import prepare_stimuli

    path, sessions, root, seed, physio = options
    participant, effect, arm, coded = job
    if protocol is None:
        if path not in _PROTOCOLS:
            _PROTOCOLS[path] = load_protocol(path)
        protocol = _PROTOCOLS[path]
    from pavlov.protocols.arms import choose_arm

    if coded and arm is None:
        protocol = protocol.blind()  # a blinded code list: the arm stays hidden
    else:  # the code list's arm (unblinded), else the participant's by number
        protocol = choose_arm(protocol, participant, arm=arm)
    names = {s.name for s in protocol.sessions}
    sessions = tuple(s for s in sessions if s in names)  # an arm may leave a session out
    for session in sessions:
        schedule = build_schedule(protocol, participant, session)
        key = (
            path,
            session,
            schedule.cell.index,
            participant if _per_participant(protocol) else "",
            schedule.arm,
        )
        if key not in _STIMULI:
            from pavlov.task import bids

            _STIMULI[key] = prepare_stimuli(protocol, schedule)
            # README, .bidsignore, the presented stimuli in stimuli/ (as pavlov run does);
            # concurrent workers are safe: files are created once or replaced atomically
            bids.prepare_dataset(Path(root), protocol, _STIMULI[key])
        write_session(
            Path(root),
            protocol,
            schedule,
            stimuli=_STIMULI[key],
            effect=effect,
            seed=seed,
            physio=physio,
            register=False,
        )
    return len(sessions)


_STIMULI: dict = {}


def _per_participant(protocol: Protocol) -> bool:
    # stimulus files named per participant (scripts/<id>_...) cannot be shared between them
    return "{participant}" in protocol.text


def write_session(
    root: Path,
    protocol: Protocol,
    schedule: Schedule,
    *,
    stimuli=None,
    effect: float = 0.0,
    seed: int | None = None,
    physio: bool = True,
    register: bool = True,
) -> SimulatedSession:
    """Simulate one session and write its run (run 1) under ``root``, as ``pavlov run`` lays
    it out; return the simulated session. ``register=False`` leaves ``participants.tsv`` and
    ``dataset_description.json`` to the caller (one write for a whole study)."""
    from pavlov.task.devices.safety import ShockLedger
    from pavlov.task.log import EventLog, run_paths, write_events_json
    from pavlov.task.sidecar import (
        SessionRecord,
        add_participant,
        write_dataset_description,
    )

    parameters = LearnerParameters()
    if effect:
        parameters = replace(
            parameters, alpha_extinguish=min(1.0, parameters.alpha_extinguish * (1 + effect))
        )
    learner = learner_for(protocol, schedule, parameters)
    if seed is not None:
        import numpy as np

        learner.rng = np.random.default_rng([seed, schedule.seed])
    if stimuli is None:
        from pavlov.stimuli.check import prepare_stimuli

        stimuli = prepare_stimuli(protocol, schedule)
    result = simulate_session(protocol, schedule, learner=learner, stimuli=stimuli)
    spec = protocol.session(schedule.session)
    paths = run_paths(
        root, schedule.participant, schedule.session, protocol.task, 1, bool(spec.scanner)
    )
    record = SessionRecord.create(paths.session_json, _session_data(protocol, schedule, effect))
    write_events_json(paths.events_json, _events_json_extra())
    if register:
        from pavlov.task import bids

        write_dataset_description(root, protocol.study)
        bids.prepare_dataset(root, protocol, stimuli)
        add_participant(root, schedule.participant)
    ledger = ShockLedger(paths.shocks)
    try:
        for row in result.rows:
            us = protocol.us.get(row.get("us") or "")
            if us is not None and us.kind == "shock" and row.get("value"):
                ledger.record(f"{row['phase']}/{row['trial']}", row["onset"])
    finally:
        ledger.close()
    with EventLog.create(paths.events) as log:
        log.append(result.rows)  # one write and fsync for the whole session
    if physio:
        write_simulated_physio(
            paths,
            result.responses,
            result.end,
            seed=schedule.seed if seed is None else seed,
            probes=result.probes,
        )
    record.finish(
        end_reason="completed",
        completed_events=len(schedule.events),
        completed_trials=sum(1 for e in schedule.events if e.kind in ("trial", "us")),
        scanner_pulses=sum(1 for r in result.rows if r["trial_type"] == "pulse"),
        shocks_delivered=sum(
            1 for r in result.rows if r["trial_type"] == "us" and r.get("event_type") == "USp"
        ),
    )
    return result


@functools.cache
def _events_json_extra() -> dict:
    from pavlov.task import bids

    # as pavlov run writes it (HED, StimulusPresentation), without a display's refresh rate
    return bids.events_json_extra(_versions(), None)


@functools.cache
def _versions() -> dict[str, str]:
    from pavlov.task.sidecar import package_versions

    return package_versions()  # read once: reading package metadata takes ~20 ms


def _session_data(protocol: Protocol, schedule: Schedule, effect: float) -> dict:
    from pavlov.task.sidecar import now_iso, schedule_header, schedule_record

    return {
        **schedule_header(protocol, schedule, 1),
        "versions": _versions(),
        "refresh_rate": None,
        "frame_period": None,
        "devices": {"shock": "simulated", "markers": "simulated", "trigger": "simulated"},
        "shock_intensity_ma": None,
        "shock_intensity_source": "n/a (simulated shock)",
        "simulate": True,
        "simulator": "pavlov simulate (no display: planned onsets, no frames)",
        "group_effect": effect,
        "speed": None,
        "started": now_iso(),
        "ended": None,
        "end_reason": "running",
        "completed_events": 0,
        "completed_trials": 0,
        "dropped_frames": 0,
        "resumes": [],
        "schedule": schedule_record(schedule),
    }


def _write_participants(
    root: Path,
    groups: dict[str, str | None],
    arms: dict[str, str | None] | None = None,
    codes: dict[str, str] | None = None,
) -> None:
    """Add the simulated participants to ``participants.tsv`` (one write), with their
    ``group`` when groups were simulated, their ``arm`` when the protocol has arms and
    their kit ``code`` under a code list; rows already there are kept."""
    from pavlov.task.log import LogError
    from pavlov.task.sidecar import _atomic_write

    path = root / "participants.tsv"
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    lines = [line for line in lines if line.strip()] or ["participant_id"]
    header = lines[0].split("\t")
    if "participant_id" not in header:
        raise LogError(f"{path}: expected a participant_id column, got {header}")
    if any(g is not None for g in groups.values()) and "group" not in header:
        header.append("group")
        lines = ["\t".join(header), *(line + "\tn/a" for line in lines[1:])]
    if arms is not None and "arm" not in header:
        header.append("arm")
        lines = ["\t".join(header), *(line + "\tn/a" for line in lines[1:])]
    if codes is not None and "code" not in header:
        header.append("code")
        lines = ["\t".join(header), *(line + "\tn/a" for line in lines[1:])]
    ident = header.index("participant_id")
    column = header.index("group") if "group" in header else None
    arm_column = header.index("arm") if arms is not None else None
    rows = [line.split("\t") for line in lines[1:]]
    known = {cells[ident].removeprefix("sub-"): cells for cells in rows}
    for participant, group in groups.items():
        cells = known.get(participant)
        if cells is None:
            cells = ["n/a"] * len(header)
            cells[ident] = f"sub-{participant}"
            rows.append(cells)
        if column is not None and group is not None:
            cells[column] = group
        if arm_column is not None and arms is not None and arms.get(participant):
            cells[arm_column] = str(arms[participant])
        if codes is not None and participant in codes:
            cells[header.index("code")] = codes[participant]
    text = "\n".join(["\t".join(header), *("\t".join(c) for c in rows)]) + "\n"
    _atomic_write(path, text.encode("utf-8"))
    sidecar = root / "participants.json"
    if column is not None and not sidecar.exists():  # BIDS: describe the added column
        meta = {"group": {"Description": "Group (pavlov simulate --groups NAME=EFFECT)"}}
        if arms is not None:
            meta = {
                "group": {
                    "Description": "Group compared by the analysis: the arm, or a "
                    "pavlov simulate --groups NAME"
                },
                "arm": {"Description": "The protocol's between-subject arm"},
            }
            if codes is not None:
                meta["group"]["Description"] += " (n/a while the arm is blinded)"
                meta["arm"]["Description"] += " (blinded: hidden by a code list)"
                meta["code"] = {"Description": "Kit code from the blinded code list"}
        _atomic_write(sidecar, (json.dumps(meta, indent=2) + "\n").encode("utf-8"))


class _progress:
    """A rich progress bar on a terminal; nothing when output is piped."""

    def __init__(self, total: int, what: str) -> None:
        self.total, self.what = total, what
        self.bar = None

    def __enter__(self):
        if sys.stderr.isatty() and os.environ.get("TERM") != "dumb":
            from rich.console import Console
            from rich.progress import Progress

            self.bar = Progress(console=Console(stderr=True), transient=True)
            self.bar.start()
            task = self.bar.add_task(self.what, total=self.total)
            return lambda n=1: self.bar.advance(task, n)
        return lambda n=1: None

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()


def simulate_run_physio(paths: RunPaths, protocol, schedule) -> list[Path]:
    """``pavlov run --simulate``: the run's skin conductance from its log and the learner's
    replayed expectations (seeded by the schedule, like the simulated participant)."""
    stem = paths.events.name[: -len("_events.tsv")]
    if (paths.directory / f"{stem}_recording-scr_physio.tsv.gz").exists():
        return []  # existing data is never overwritten
    responses, end = responses_from_log(paths.events, expectations(protocol, schedule))
    probes = probes_from_log(paths.events, responses)
    return write_simulated_physio(paths, responses, end, seed=schedule.seed, probes=probes)
