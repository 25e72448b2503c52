"""``pavlov run``: run (or rehearse, or resume) one session of a protocol.

The imperative shell around :func:`pavlov.task.runner.run_session`: it loads the protocol,
builds the participant's schedule, checks stimuli and the data folder before a window
opens, builds the devices, opens the window, writes the provenance, installs the signal
handlers, runs, and closes everything whatever happens.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from pavlov.common.argtypes import (
    arm_name,
    day_tolerance,
    file_name,
    folder_name,
    positive_float,
    positive_int,
    shown,
    speed,
)
from pavlov.common.errors import PavlovError
from pavlov.protocols.kinds import KINDS

__all__ = ["register", "run_command"]


class RunError(PavlovError, ValueError):
    """A ``pavlov run`` argument or situation that stops the session before it starts."""

    exit_status = 2


def register(subparsers) -> None:
    """Add the ``run`` subcommand to the ``pavlov`` parser."""
    parser = subparsers.add_parser(
        "run",
        help="run a session (or rehearse it with --simulate)",
        description="Run one session of a protocol in a PsychoPy window and log it (BIDS).",
    )
    parser.add_argument("protocol", help="protocol file (.yaml)")
    parser.add_argument("--participant", "-p", help="participant ID (letters and digits)")
    parser.add_argument("--session", "-s", help="session name (default: the protocol's first)")
    parser.add_argument("--run", type=positive_int, default=1, help="run number (default 1)")
    parser.add_argument(
        "--data", type=folder_name, default="data", help="dataset folder (default ./data)"
    )
    parser.add_argument(
        "--simulate",
        action="store_true",
        help="a rehearsal: simulated participant, and simulated scanner and devices unless "
        "--shock/--trigger/--markers name a real one",
    )
    parser.add_argument(
        "--speed",
        type=speed,
        default=1.0,
        help="divide every duration by X, 0.1-100000 (rehearse a 40-minute session in a minute)",
    )
    parser.add_argument("--windowed", action="store_true", help="a window, not full screen")
    parser.add_argument(
        "--resume", action="store_true", help="continue a partial session in the same files"
    )
    parser.add_argument("--shock", help="shock device spec (default: simulated)")
    parser.add_argument("--trigger", help="scanner trigger spec (default: the protocol's sync)")
    parser.add_argument("--markers", help="marker output spec (default: simulated)")
    parser.add_argument("--lab", help="lab file naming the devices")
    parser.add_argument(
        "--record",
        action="append",
        metavar="lsl:STREAM",
        help="record an LSL stream (e.g. an amplifier's) during the session, as BIDS physio "
        "beside the log (repeatable; default: the lab file's record: list)",
    )
    parser.add_argument(
        "--arm",
        type=arm_name,
        metavar="NAME",
        help="the participant's between-subject arm (default: the one participants.tsv "
        "recorded, else by participant number)",
    )
    parser.add_argument(
        "--codes",
        type=file_name,
        metavar="FILE",
        help="a blinded code list from the pharmacy (CSV: participant, code): the kit code is "
        "recorded and the arm stays hidden",
    )
    parser.add_argument(
        "--allow-session-gap",
        action="store_true",
        help="run the session although earlier sessions are missing or today is not its "
        "planned day (the problems are printed as warnings)",
    )
    parser.add_argument(
        "--day-tolerance",
        type=day_tolerance,
        default=1.0,
        metavar="DAYS",
        help="days a session may be early or late against the protocol's day (default 1)",
    )
    parser.add_argument(
        "--intensity",
        type=positive_float,
        help="shock intensity set on the stimulator, mA (at most the protocol's ceiling_ma)",
    )
    parser.set_defaults(func=run_command)


#: Signals that end a session cleanly (line low, data saved, ``end_reason`` set) instead of
#: killing the process: every catchable one whose default action terminates it. SIGINT
#: keeps Python's KeyboardInterrupt; SIGPIPE and SIGXFSZ are ignored by Python already.
#: Deaths no handler sees (SIGKILL, a C ``exit()`` after an X IO error, a segfault) are the
#: watchdog's (:mod:`pavlov.task.devices.watchdog`).
END_SIGNALS = tuple(
    getattr(signal, name)
    for name in (
        "SIGTERM",
        "SIGHUP",
        "SIGQUIT",
        "SIGUSR1",
        "SIGUSR2",
        "SIGALRM",
        "SIGVTALRM",
        "SIGPROF",
        "SIGIO",
        "SIGPWR",
        "SIGSTKFLT",
        "SIGXCPU",
        "SIGSYS",
    )
    if hasattr(signal, name)
) + tuple(range(signal.SIGRTMIN, signal.SIGRTMAX + 1) if hasattr(signal, "SIGRTMIN") else ())


@contextmanager
def _signals_end_session() -> Iterator[Callable[[], BaseException | None]]:
    """Every terminating signal ends the session cleanly (SessionAbort), not by killing it.

    The first signal raises; later ones are ignored while the session ends (a second
    Ctrl-\\ must not interrupt the clean-up that sets the line low and saves the data).
    Yields ``pending()``: the exception of a signal received so far, else None. Code that
    swallows exceptions (pyglet's library loading catches everything) can eat the raise;
    ``pavlov run`` checks ``pending()`` before the session starts and before every train.
    """
    from pavlov.task.runner import SessionAbort

    seen: list[int] = []

    def abort(number: int) -> BaseException:
        if number == signal.SIGINT:
            return KeyboardInterrupt()
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return SessionAbort(f"aborted: {name}", 128 + number)

    def handler(number, frame):
        if seen:
            return
        seen.append(number)
        raise abort(number)

    previous = {}
    for name in ("SIGTSTP", "SIGTTIN", "SIGTTOU"):
        # Ctrl-Z (or a background read/write) would freeze the process mid-pulse with the
        # line high and the watchdog still waiting: a session cannot be paused this way.
        sig = getattr(signal, name, None)
        if sig is not None:
            with contextlib.suppress(OSError, ValueError):
                previous[sig] = signal.signal(sig, signal.SIG_IGN)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        # Ctrl-C stays KeyboardInterrupt, but only the first: a second one (or a SIGTERM
        # after it) would cut the clean-up that saves the record (`end_reason: running`).
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, handler)
    for sig in END_SIGNALS:
        try:
            if signal.getsignal(sig) != signal.SIG_DFL:
                continue  # ignored on purpose (nohup) or handled by someone else
            previous[sig] = signal.signal(sig, handler)
        except (OSError, ValueError):
            continue
    try:
        yield lambda: abort(seen[0]) if seen else None
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _signal_problem(signalled) -> str | None:
    """Why no train may start: the session received a terminating signal, else None."""
    error = signalled() if signalled is not None else None
    if error is None:
        return None
    return f"the session is ending ({getattr(error, 'reason', 'aborted: interrupt')})"


def _ask_participant(has_display: bool) -> str:
    """The participant dialog (psychopy.gui), used when --participant is not given."""
    if not has_display:
        raise RunError("--participant: expected a participant ID (no display for the dialog)")
    try:
        from psychopy import gui
    except Exception:  # gui imports Qt at import time; any failure means no dialog
        gui = None
    if gui is None or not getattr(gui, "haveQt", False):
        raise RunError(
            "--participant: expected a participant ID (the participant dialog needs PyQt6, "
            "which is not installed)"
        )
    info = {"participant": ""}
    dialog = gui.DlgFromDict(info, title="pavlov", sortKeys=False)
    if not dialog.OK or not str(info["participant"]).strip():
        raise RunError("--participant: expected a participant ID, got none (dialog cancelled)")
    return str(info["participant"]).strip()


def _intensity(args, participant: str, simulated_shock: bool) -> tuple[float | None, str]:
    """Shock intensity in mA and where it came from (option, calibration, prompt)."""
    if args.intensity is not None:
        return args.intensity, "--intensity"
    from pavlov.task.devices.calibrate import load_calibration

    # A record that cannot be read (corrupt JSON, not a record) is one line, not "no
    # record": the experimenter would otherwise type an intensity the work-up never set.
    record = load_calibration(args.data, participant)
    if record and record.get("final_ma") is not None:
        return float(record["final_ma"]), "calibration"
    if simulated_shock:
        return None, "n/a (simulated shock)"
    if sys.stdin.isatty():
        text = input("Shock intensity set on the stimulator (mA): ").strip()
        try:
            value = float(text)
        except ValueError:
            raise RunError(f"shock intensity: expected a number in mA, got {text!r}") from None
        if not value > 0 or not math.isfinite(value):
            raise RunError(f"shock intensity: expected a number > 0 mA, got {text!r}")
        return value, "typed by the experimenter"
    raise RunError(
        "--intensity: expected the shock intensity in mA (no calibration record for "
        f"sub-{participant} and no terminal to ask)"
    )


def _check_intensity(protocol, intensity: float | None, source: str) -> None:
    """Refuse an intensity that is not > 0 or is above the protocol's ``ceiling_ma``."""
    if intensity is None:
        return
    from pavlov.task.devices.calibrate import DEFAULT_CALIBRATION

    spec = protocol.calibration or DEFAULT_CALIBRATION
    what = "--intensity" if source == "--intensity" else f"shock intensity ({source})"
    if not (math.isfinite(intensity) and 0 < intensity <= spec.ceiling_ma):
        raise RunError(
            f"{what}: expected 0 < mA <= the protocol's calibration ceiling_ma "
            f"{spec.ceiling_ma:g}, got {intensity:g}"
        )


def _recorders(args, lab, paths, clock) -> list:
    """Connect to every ``--record`` stream, or the lab file's ``record:`` ones when the
    command line names none (a missing stream stops here, before any file)."""
    specs = args.record or (list(lab.record) if lab is not None else [])
    if not specs:
        return []
    from pavlov.task.recorder import LSLRecorder, parse_record_spec

    stem = paths.events.name[: -len("_events.tsv")]
    recorders = []
    for spec in specs:
        recorder = LSLRecorder(
            parse_record_spec(spec), paths.directory, stem, clock.now, args.speed
        )
        recorder.connect()
        recorders.append(recorder)
    return recorders


def _set_zero(recorders, zero: float, base: float) -> None:
    """Tell every stream recorder the session's time zero (``run_session``'s ``on_zero``)."""
    for recorder in recorders:
        recorder.set_zero(zero, base)


def _session_data(protocol, schedule, args, run, display, devices, intensity, source) -> dict:
    from pavlov.task.sidecar import now_iso, package_versions, schedule_header, schedule_record

    return {
        **schedule_header(protocol, schedule, run),
        "versions": package_versions(),
        "refresh_rate": round(1.0 / display.frame_period, 3),
        "measured_flip_rate": round(display.measured_rate, 3),
        "vsync": display.vsync,
        "frame_period": display.frame_period,
        "devices": devices.describe(),
        "shock_intensity_ma": intensity,
        "shock_intensity_source": source,
        "simulate": bool(args.simulate),
        "speed": args.speed,
        "started": now_iso(),
        "ended": None,
        "end_reason": "running",
        "completed_events": 0,
        "completed_trials": 0,
        "dropped_frames": 0,
        "resumes": [],
        "schedule": schedule_record(schedule),
    }


def run_command(args) -> int:
    """Run ``pavlov run``; return the exit status (0 completed, 1 aborted with Escape)."""
    from pavlov.common.bids import bids_label
    from pavlov.protocols import build_schedule, load_protocol
    from pavlov.protocols.cli import print_warnings
    from pavlov.stimuli.check import prepare_stimuli
    from pavlov.task.log import LogError, run_paths
    from pavlov.task.sidecar import participant_row

    protocol = load_protocol(args.protocol)
    print_warnings(protocol)
    has_display = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    participant = args.participant
    if participant is None:
        participant = _ask_participant(has_display)
    participant = bids_label(participant, "--participant")
    # participants.tsv is rewritten once the run's log and record exist: one that cannot
    # be read (not UTF-8, not a regular file) stops the run now, before any file is made.
    try:
        participant_row(args.data, participant)
    except LogError as error:  # the lab's file to fix (exit 2), not a disk fault
        raise RunError(str(error)) from None
    protocol, code = _choose_arm(args, protocol, participant)
    schedule = build_schedule(protocol, participant, args.session)
    if not args.resume:  # a resumed run passed these checks when it started
        _check_session_gap(args, protocol, schedule.session, participant)
        _check_same_pictures(args.data, protocol, schedule)
    spec = protocol.session(schedule.session)
    scanner = protocol.scanner if spec.scanner else None
    stimuli = prepare_stimuli(protocol, schedule)
    paths = run_paths(
        args.data, participant, schedule.session, protocol.task, args.run, scanner is not None
    )
    _check_run_files(args, protocol, paths)  # read-only: nothing is created on an error
    if not has_display:
        raise RunError(
            "no display: pavlov run needs a screen ($DISPLAY); on a machine without one use "
            'xvfb-run -a -s "-screen 0 1024x768x24" pavlov run ...'
        )
    named = [
        f"--{role} {spec}"
        for role, spec in (
            ("shock", args.shock),
            ("trigger", args.trigger),
            ("markers", args.markers),
        )
        if spec and spec.strip() != "simulated"
    ]
    if args.speed != 1.0 and (named or (args.lab and not args.simulate)):
        # Pulse widths and scanner pulses are physical: a real device runs at speed 1 only.
        raise RunError(
            f"--speed {args.speed:g}: rehearsals at a speed other than 1 use simulated devices "
            f"only, got {', '.join(named) or '--lab ' + args.lab}"
        )
    from pavlov.task.devices.safety import SessionLock

    # One process per participant's session, before anything is opened: a second
    # `pavlov run` (a frozen window, a second terminal, another --run) would also deliver.
    lock = SessionLock(paths.lock).acquire()
    try:
        _check_run_files(args, protocol, paths)  # again, now that no one else can change them
        _check_session_ledgers(paths)  # before any file of this run is written
        # Over the whole run, its start-up and its clean-up too: the first signal ends it
        # cleanly, later ones cannot cut closing the log, recorders, devices, watchdog.
        with _signals_end_session() as signalled:
            return _run(
                args,
                protocol,
                schedule,
                scanner,
                stimuli,
                paths,
                participant,
                lock,
                signalled,
                _arm_columns(protocol, schedule, code),
            )
    finally:
        lock.release()


def _choose_arm(args, protocol, participant: str):
    """The protocol as this participant runs it, and the kit code of a blinded arm.

    The arm (and a blinded participant's kit code) that earlier sessions recorded holds: a
    later session must not move the participant. Both ``participants.tsv`` and the earlier
    runs' records (``_session.json``) say it, and they must agree: the records are what was
    delivered, participants.tsv a table a lab may edit, merge or restore from an old copy.
    ``--arm`` must agree with them, and a blinded participant needs the code list again.
    """
    from pavlov.protocols.arms import choose_arm, read_codes
    from pavlov.task.sidecar import participant_row

    table = os.path.join(args.data, "participants.tsv")
    recorded = participant_row(args.data, participant) if protocol.arms else {}
    ran_arm, ran_code, record = (
        _sidecar_arm(args.data, participant) if protocol.arms else (None, None, None)
    )
    for column, listed, ran in (
        ("arm", recorded.get("arm"), ran_arm),
        ("code", recorded.get("code"), ran_code),
    ):
        if listed is not None and ran is not None and listed != ran:
            raise RunError(
                f"sub-{participant}'s {column}: expected {ran} (what {record} ran), got {listed} "
                f"in {table}; restore that file's row (pavlov keeps the arm a participant ran)"
            )
    earlier = recorded.get("arm") or ran_arm
    earlier_code = recorded.get("code") or ran_code
    # participants.tsv lost or restored from an older copy: the run records still say which
    # arm (and kit) the participant's earlier runs delivered, so neither can move.
    where = f"sub-{participant}'s arm in {table if recorded.get('arm') else record}"
    if args.codes:
        if args.arm:
            raise RunError("--arm: expected --arm or --codes, got both")
        if earlier is not None and earlier != "blinded":
            raise RunError(f"--codes: expected no code list ({where} is {earlier}, not blinded)")
        codes = read_codes(args.codes)
        code = codes.get(participant)
        if code is not None and earlier_code not in (None, code.code):
            source = table if recorded.get("code") else record
            raise RunError(
                f"--codes {args.codes}: expected the code {earlier_code} recorded for "
                f"sub-{participant} (in {source}), got {code.code}"
            )
        view = choose_arm(protocol, participant, codes=codes)
        return view, code.code if code is not None else None
    if earlier == "blinded":
        raise RunError(f"--codes: expected the blinded code list ({where} is blinded)")
    if args.arm and earlier is not None and args.arm != earlier:
        # A value with a control character or of any length is shown escaped, shortened.
        got = args.arm if args.arm.isprintable() and len(args.arm) <= 40 else shown(args.arm)
        raise RunError(f"--arm: expected {earlier} ({where}), got {got}")
    return choose_arm(protocol, participant, arm=args.arm or earlier), None


def _sidecar_arm(data: str, participant: str) -> tuple[str | None, str | None, str | None]:
    """The arm an earlier run of the participant recorded in its ``_session.json`` (any
    run, completed or not: a partial run delivered under that arm too), the kit code a
    blinded run recorded, and that record's path; Nones when no readable record names an
    arm."""
    from pavlov.task.sidecar import participant_records

    for path, record in participant_records(data, participant):
        arm, code = record.get("arm"), record.get("code")
        if isinstance(arm, str) and arm:
            return arm, (code if isinstance(code, str) and code else None), str(path)
    return None, None, None


def _check_same_pictures(data: str, protocol, schedule) -> None:
    """The participant's roles keep the pictures (sounds) earlier runs of the study gave
    them: a protocol edited between sessions (stimuli reordered, GS roles or a stimulus
    added) can move the participant to another counterbalancing cell, swapping the CS+
    and the CS- between days without a word. One line naming the earlier run, exit 2."""
    from pavlov.task.sidecar import participant_records

    now = dict(schedule.cell.cs)
    for path, record in participant_records(data, schedule.participant):
        same_study = (record.get("study"), record.get("task")) == (protocol.study, protocol.task)
        cell = record.get("cell")
        before = cell.get("cs") if isinstance(cell, dict) else None
        if not same_study or not isinstance(before, dict):
            continue
        changed = [
            role for role in sorted(set(before) & set(now)) if str(before[role]) != now[role]
        ]
        if changed:
            was = ", ".join(f"{role} {before[role]}" for role in changed)
            got = ", ".join(f"{role} {now[role]}" for role in changed)
            raise RunError(
                f"sub-{schedule.participant}'s stimuli: expected {was} (what {path} ran), "
                f"got {got}: the protocol's stimuli changed since; restore their order"
            )


def _check_session_gap(args, protocol, session: str, participant: str) -> None:
    """Earlier sessions missing, or today not the session's planned day: one line each,
    then exit 2, or warnings with ``--allow-session-gap`` (:mod:`pavlov.task.session_gap`)."""
    from datetime import date

    from pavlov.task.session_gap import gap_problems, recorded_dates

    problems = gap_problems(
        protocol,
        participant,
        session,
        recorded_dates(args.data, participant),
        date.today(),
        args.day_tolerance,
        check_days=not args.simulate,
    )
    if not problems:
        return
    if args.allow_session_gap:
        for line in problems:
            print(f"pavlov: warning: {line} (allowed)", file=sys.stderr)
        return
    anyway = "; add --allow-session-gap to run it anyway"
    for line in problems[:-1]:
        print(f"pavlov: {line}{anyway}", file=sys.stderr)
    raise RunError(problems[-1] + anyway)


def _arm_columns(protocol, schedule, code: str | None) -> dict[str, str]:
    """The ``participants.tsv`` cells of the participant's arm: ``arm``, ``group`` (what
    the analysis compares) and, when blinded, the kit ``code``; none without arms."""
    if not protocol.arms:
        return {}
    if protocol.blinded:
        return {"arm": "blinded", "group": "n/a", "code": code or "n/a"}
    return {"arm": schedule.arm, "group": schedule.arm}


def _check_run_files(args, protocol, paths) -> None:
    """A new run must not exist yet; a resumed run must be this protocol, mode and speed."""
    from pavlov.task.log import LogError
    from pavlov.task.sidecar import SessionRecord

    if not args.resume:
        for path in (paths.events, paths.session_json, paths.shocks):
            if path.exists():
                raise LogError(
                    f"{path}: this run already has data; use --resume to continue it or "
                    "--run N for a new run (existing data is never overwritten; max_shocks "
                    "counts the shocks of every run of the session)"
                )
        return
    record = SessionRecord.open(paths.session_json)
    if record.data.get("end_reason") == "completed":
        raise LogError(f"{paths.session_json}: this run is already complete; nothing to resume")
    if record.data.get("protocol_sha256") != protocol.sha256:
        raise LogError(
            f"{paths.session_json}: the protocol file changed since this run started "
            f"(sha256 {str(record.data.get('protocol_sha256'))[:12]}... vs "
            f"{protocol.sha256[:12]}...); resume with the original file"
        )
    recorded = record.data.get("schedule_files")
    if isinstance(recorded, dict):
        from pavlov.task.sidecar import schedule_files

        now = schedule_files(protocol, record.data.get("session") or protocol.sessions[0].name)
        for name in sorted(set(recorded) | set(now)):
            if recorded.get(name) != now.get(name):
                # The schedule built now would not be the one the run started with.
                raise LogError(
                    f"{paths.session_json}: {_schedule_file_kind(name)} {name} changed since this run "
                    f"started (sha256 {str(recorded.get(name))[:12]}... vs "
                    f"{str(now.get(name))[:12]}...); resume with the original file"
                )
    # A real participant's log must not get simulated rows (or another time scale).
    was_simulated = bool(record.data.get("simulate", False))
    if was_simulated != bool(args.simulate):
        started = "with --simulate" if was_simulated else "without --simulate"
        raise RunError(
            f"--resume: this run was started {started}; resume it the same way "
            f"({'add' if was_simulated else 'drop'} --simulate)"
        )
    speed = record.data.get("speed", 1.0)
    try:
        same_speed = float(speed) == float(args.speed)
    except (TypeError, ValueError):
        same_speed = False
    if not same_speed:
        raise RunError(
            f"--resume: this run was started at --speed {speed}; resume it at the same "
            f"speed, got --speed {args.speed:g}"
        )


def _schedule_file_kind(name: str) -> str:
    """What a file of ``schedule_files`` is, for a message: a probe sound or an order."""
    from pavlov.stimuli.resolve import SOUND_SUFFIXES

    return "the probe sound" if name.lower().endswith(tuple(SOUND_SUFFIXES)) else "the order file"


def _run(
    args,
    protocol,
    schedule,
    scanner,
    stimuli,
    paths,
    participant,
    lock=None,
    signalled=None,
    columns=None,
) -> int:
    from pavlov.task.console import make_console
    from pavlov.task.devices.safety import ShockLedger, guard_shock
    from pavlov.task.devices.spec import build_devices
    from pavlov.task.devices.watchdog import start_watchdog
    from pavlov.task.keyboard import KeyboardInput, KeyTrigger, PsychopyClock, check_keyboard
    from pavlov.task.log import EventLog, write_events_json
    from pavlov.task.psychopy_display import PsychopyDisplay, SilentSound, psychopy_sound
    from pavlov.task.responder import ParticipantResponder, Responder
    from pavlov.task.runner import reopen_for_resume, run_session
    from pavlov.task.sidecar import SessionRecord, now_iso, package_versions
    from pavlov.task.simulated_participant import SimulatedParticipant

    console = make_console()
    clock = PsychopyClock()
    keyboard = KeyboardInput()
    sounds: list = []

    def sound_factory(path, volume):
        if args.simulate:
            return SilentSound(str(path), volume, sounds)
        return psychopy_sound(path, volume)

    def key_trigger(key: str):
        keyboard.sync_key = key
        return KeyTrigger(keyboard)

    if args.simulate:
        # A rehearsal simulates every device the command line does not name: an explicit
        # --shock/--trigger/--markers wins, so one real device can be proved in a rehearsal.
        device_specs = {"shock": args.shock or "simulated", "markers": args.markers or "simulated"}
        device_specs["trigger"] = args.trigger or ("simulated" if scanner is not None else None)
    else:
        device_specs = {"shock": args.shock, "markers": args.markers}
        device_specs["trigger"] = args.trigger or (scanner.sync if scanner is not None else None)
    lab = None
    if args.lab and not args.simulate:
        from pavlov.task.devices.lab import load_lab

        lab = load_lab(args.lab)
    devices = build_devices(
        shock=device_specs["shock"],
        trigger=device_specs["trigger"],
        markers=device_specs["markers"],
        lab=lab,
        clock=clock,
        tr=scanner.tr / args.speed if scanner is not None else None,
        key_trigger_factory=key_trigger,
        speed=args.speed,
    )
    has_shock_us = any(us.kind == "shock" for us in protocol.us.values())
    display = None
    watchdog = None
    guard = None
    clean = False
    try:
        # Before the line can go high: if this process dies where no Python code runs
        # (SIGKILL, an X IO error's exit()), the watchdog drives the line low.
        watchdog = start_watchdog(devices.specs.get("shock") or "", devices.shock_code)
        # Only a protocol with a shock US drives the shock device, always behind its guard
        # (a protocol without caps is refused here, in one line).
        guard = (
            guard_shock(devices.shock, protocol.safety, clock, source=protocol.path)
            if has_shock_us
            else None
        )
        if guard is not None:
            # A watchdog killed during the session (kill -9 of its PID): no later train may
            # start, or a death of this process would leave that train's line high. A lock
            # file deleted or replaced: a second process may be running this session.
            # A signal whose SessionAbort some library swallowed: no train after it.
            guard.require(
                lambda: (
                    (watchdog.problem() if watchdog is not None else None)
                    or (lock.problem() if lock is not None else None)
                    or _signal_problem(signalled)
                )
            )
        _check_trigger_key(protocol, schedule, devices.specs.get("trigger") if scanner else None)
        simulated_shock = (devices.specs.get("shock") or "simulated").startswith("simulated")
        intensity, source = (
            _intensity(args, participant, simulated_shock)
            if has_shock_us
            else (None, "n/a (no shock)")
        )
        _check_intensity(protocol, intensity, source)
        recorders = _recorders(args, lab, paths, clock)  # before the window: fails fast
        display = PsychopyDisplay(keyboard, fullscr=not args.windowed, sound_factory=sound_factory)
        held: dict = {}  # what the X IO error handler finishes (and the handler itself)
        held["x_handler"] = _on_x_connection_lost(lambda: _x_lost(devices, held))
        if not display.vsync:
            console.message(
                f"the display has no vsync (flips at {display.measured_rate:.0f} Hz): frames "
                f"are paced in software at {1 / display.frame_period:.0f} Hz; timing is not "
                "valid for data"
            )
        if not args.simulate:
            check_keyboard(display, keyboard, say=console.message)
        if schedule.arm is not None:  # a blinded arm is never shown (schedule.arm is None)
            console.message(f"sub-{participant}: arm {schedule.arm}")
        start_index, time_base, completed_before = 0, None, 0
        if args.resume:
            record = SessionRecord.open(paths.session_json)
            log, rows, point = reopen_for_resume(paths.events, schedule)
            start_index, time_base = point.start_index, point.time_base
            completed_before = point.start_index
            record.update(
                end_reason="running",
                resumes=[
                    *record.data.get("resumes", []),
                    {
                        "time": now_iso(),
                        "from_event": start_index,
                        "simulate": bool(args.simulate),
                        "speed": args.speed,
                        "devices": devices.describe(),
                        "shock_intensity_ma": intensity,
                        "shock_intensity_source": source,
                    },
                ],
            )
            console.message(f"resuming at event {start_index + 1} of {len(schedule.events)}")
        else:
            log = EventLog.create(paths.events)
            data = _session_data(
                protocol, schedule, args, args.run, display, devices, intensity, source
            )
            if columns and columns.get("code", "n/a") != "n/a":
                # The kit a blinded run delivered: later sessions keep it even when
                # participants.tsv is lost or edited (the arm alone says only "blinded").
                data["code"] = columns["code"]
            record = SessionRecord.create(paths.session_json, data)
        held["record"] = record
        # Written (again) on every run and resume: a resume repairs metadata that a full
        # disk or a deleted folder cost an earlier process. Each is idempotent.
        from pavlov.task import bids

        uncopied = _write_metadata(
            paths,
            protocol,
            participant,
            write_events_json,
            bids.events_json_extra(package_versions(), 1.0 / display.frame_period),
            lambda: bids.prepare_dataset(paths.root, protocol, stimuli),
            columns,
        )
        for label in uncopied:
            console.message(f"stim_file {label}: not copied into the dataset's stimuli/")
        if guard is not None:
            # Opened with the log (new run) or after it (resume): USs that an earlier,
            # killed process delivered count against max_shocks and are never given again,
            # and max_shocks counts every run of the participant's session.
            ledger = ShockLedger(paths.shocks, paths.session_ledgers)
            if args.resume:
                _check_ledger_against_log(ledger, rows)
            guard.use_ledger(ledger)
            earlier = _session_max_shocks(paths)
            if earlier is not None and earlier < guard.max_shocks:
                # The protocol edited between runs to raise the cap: the lowest cap any
                # run of this participant's session was given still holds.
                console.message(
                    f"max_shocks {earlier} of an earlier run of this session applies "
                    f"(this protocol says {guard.max_shocks})"
                )
                guard.max_shocks = earlier
            before = guard.session_shocks
            if before and protocol.safety is not None:
                console.message(
                    f"sub-{participant} ses-{schedule.session} already had {before} of "
                    f"max_shocks {protocol.safety.max_shocks} shocks (shock ledgers)"
                )
        responder: Responder
        if args.simulate:
            responder = SimulatedParticipant(schedule.seed, args.speed)
            seen = []  # what the simulated participant learnt in the sessions before this one
            from pavlov.protocols import build_schedule

            for session in protocol.sessions:
                if session.name == schedule.session:
                    break
                seen.extend(build_schedule(protocol, participant, session.name).events)
            responder.replay([*seen, *schedule.events[:start_index]])
        else:
            responder = ParticipantResponder(display)
        for recorder in recorders:
            recorder.start()
        if signalled is not None and signalled() is not None:
            raise signalled()  # a signal during start-up that a library swallowed
        try:
            # Signals: run_command wraps the whole run in _signals_end_session.
            result = run_session(
                schedule,
                protocol,
                display=display,
                clock=clock,
                trigger=devices.trigger if scanner is not None else None,
                shock=guard,
                markers=devices.markers,
                responder=responder,
                log=log,
                console=console,
                speed=args.speed,
                start_index=start_index,
                time_base=time_base,
                scanner=scanner,
                record=record,
                marker_codes=devices.marker_codes,
                stimuli=stimuli,
                completed_before=completed_before,
                on_zero=lambda zero, base: _set_zero(recorders, zero, base),
            )
        finally:
            log.close()
            for recorder in recorders:
                written = recorder.stop()
                console.message(
                    recorder.error
                    or f"LSL {recorder.stream}: {recorder.samples} samples, "
                    + (f"written to {written}" if written else "none in the session")
                )
        clean = True
    finally:
        if guard is not None:
            guard.close()  # line low, device and shock ledger closed (never raises)
        devices.close()
        if display is not None:
            display.close()
        if watchdog is not None:
            # Only a clean end tells the watchdog to stand down; otherwise it drives the
            # line low once more as this process goes (closing the pipe).
            if clean:
                watchdog.disarm()
            else:
                watchdog.close()
    if args.simulate and result.end_reason == "completed":
        # A rehearsal records simulated skin conductance too, so the whole pipeline
        # (analyze scores SCR by itself) runs end to end.
        from pavlov.task.simulate import simulate_run_physio

        simulate_run_physio(paths, protocol, schedule)
    print(f"{paths.events}", file=sys.stdout)
    return 0 if result.end_reason == "completed" else 1


def _on_x_connection_lost(cleanup):
    """Run ``cleanup`` when Xlib reports the X server gone, before it calls C ``exit()``.

    Without this, a dead X server ends the process from C: no ``finally`` runs, the line
    is left to the watchdog and the record says ``running``. Returns the handler (keep a
    reference), or None where PsychoPy's window is not on X11.
    """
    try:
        from pyglet.libs.x11 import xlib
    except Exception:  # not X11 (Windows, macOS, Wayland without XWayland)
        return None

    def handler(_display):
        with contextlib.suppress(BaseException):
            cleanup()
        return 0  # Xlib then exits the process

    callback = xlib.XIOErrorHandler(handler)
    xlib.XSetIOErrorHandler(callback)
    return callback


def _x_lost(devices, held) -> None:
    """The X server is gone: line low at once, then the record says why."""
    with contextlib.suppress(BaseException):
        devices.shock.set_low()
    record = held.get("record")
    if record is not None:
        record.finish(
            end_reason="error: the X server connection was lost (the display closed); "
            "continue with --resume"
        )


def _check_session_ledgers(paths) -> None:
    """Every other run of this participant's session: the USs its log shows delivered must
    be in its shock ledger. A ledger deleted or cut after run 1 would let ``--run 2`` and
    ``--run 3`` count too few shocks against ``max_shocks``."""
    from pavlov.task.log import LogError

    session = paths.directory.parent
    sub, ses = session.parent.name, session.name
    for folder in ("beh", "func"):
        for events in sorted((session / folder).glob(f"{sub}_{ses}_task-*_run-*_events.tsv")):
            if events == paths.events:
                continue  # this run's own log: checked on --resume with its rows
            ledger = events.with_name(events.name.removesuffix("_events.tsv") + "_shocks.tsv")
            try:
                lines = events.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError as error:
                raise LogError(
                    f"{events}: cannot read this session's log: {error.strerror or error}"
                ) from None
            header = lines[0].split("\t") if lines else []
            rows = [dict(zip(header, line.split("\t"), strict=False)) for line in lines[1:]]
            _check_ledger_against_log(_Ledger(ledger), rows)


def _session_max_shocks(paths) -> int | None:
    """The lowest ``safety.max_shocks`` of the protocols recorded by this participant's
    session's runs (their records keep the protocol's text), or None."""
    import json

    import yaml

    session = paths.directory.parent
    sub, ses = session.parent.name, session.name
    caps = []
    for folder in ("beh", "func"):
        for record in (session / folder).glob(f"{sub}_{ses}_task-*_run-*_session.json"):
            with contextlib.suppress(Exception):  # an unreadable record has no cap to add
                text = json.loads(record.read_text(encoding="utf-8"))["protocol_text"]
                cap = yaml.safe_load(text)["safety"]["max_shocks"]
                if isinstance(cap, int) and not isinstance(cap, bool) and cap >= 0:
                    caps.append(cap)
    return min(caps, default=None)


class _Ledger:
    """A ledger read for checking only: a missing file holds no trains."""

    def __init__(self, path) -> None:
        self.path = path

    def labels(self) -> list[str]:
        from pavlov.task.devices.safety import ShockLedger
        from pavlov.task.log import LogError

        if not os.path.lexists(self.path):
            return []
        try:
            return ShockLedger._parse(ShockLedger._read_path(self.path))
        except OSError as error:
            raise LogError(
                f"{self.path}: cannot read the shock ledger: {error.strerror or error}"
            ) from None


def _check_ledger_against_log(ledger, rows) -> None:
    """Every US the log shows delivered must be in the shock ledger (else it was deleted or
    changed, and the caps and the no-repeat rule could not be trusted on this resume)."""
    from pavlov.task.log import LogError

    given = set(ledger.labels())
    missing = []
    for row in rows:
        if row.get("trial_type") != "us" or row.get("event_type") != "USp":
            continue
        first = (row.get("value") or "").split(";", 1)[0]
        try:
            float(first)  # rising-edge times: a train was delivered
        except ValueError:
            continue
        label = f"{row.get('phase')}/{row.get('trial')}"
        if label not in given:
            missing.append(label)
    if missing:
        raise LogError(
            f"{ledger.path}: the shock ledger lacks {len(missing)} US(s) the log shows delivered "
            f"({', '.join(missing[:3])}); it was deleted or changed, so max_shocks cannot be "
            "checked: restore it before running this session again"
        )


def _check_trigger_key(protocol, schedule, trigger: str | None) -> None:
    """A keyboard pulse key must not be a rating or event key of this session."""
    if not trigger or not trigger.startswith("key:"):
        return
    key = trigger[4:]
    for name in protocol.session(schedule.session).phases:
        phase = protocol.phases[name]
        if key in KINDS[phase.type].used_keys(phase):
            raise RunError(
                f"--trigger {trigger}: phase {name} uses the key '{key}' (its presses would be "
                "scanner pulses, so that answer could never be given); use another pulse key"
            )


def _write_metadata(
    paths, protocol, participant, write_events_json, extra=None, prepare=None, columns=None
) -> list:
    """Write the run's ``events.json`` (with ``extra`` entries), the dataset's description
    and participants, then ``prepare()`` (the BIDS dataset files); return what it returns."""
    from pavlov.task.log import LogError
    from pavlov.task.sidecar import add_participant, write_dataset_description

    try:
        write_events_json(paths.events_json, extra)
        write_dataset_description(paths.root, protocol.study)
        add_participant(paths.root, participant, columns)
        return list(prepare()) if prepare is not None else []
    except OSError as error:
        if isinstance(error, LogError):
            raise
        full = error.errno in (errno.ENOSPC, errno.EDQUOT)
        raise LogError(
            f"{error.filename or paths.root}: cannot write the dataset metadata: "
            f"{'disk full' if full else error.strerror or error}; free space or fix the "
            "folder, then continue with --resume (it writes them again)"
        ) from None
