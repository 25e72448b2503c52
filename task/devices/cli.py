"""Commands of the device room: ``pavlov calibrate`` and ``pavlov devices check``.

Both build their devices the way ``pavlov run`` does (``--lab`` file, then ``--shock`` /
``--trigger`` / ``--markers`` overriding it; simulated unless a real device is named).
"""

from __future__ import annotations

import argparse
import contextlib
import time

from pavlov.common.argtypes import nonnegative_float, positive_float
from pavlov.task.devices.spec import FORMS

__all__ = ["MonotonicClock", "add_device_options", "register"]


class MonotonicClock:
    """``time.perf_counter`` as a Clock, for commands that run without PsychoPy."""

    def now(self) -> float:
        """Seconds on ``perf_counter``'s base."""
        return time.perf_counter()


def add_device_options(
    parser: argparse.ArgumentParser, roles=("shock", "trigger", "markers")
) -> None:
    """Add ``--lab`` and the ``--shock/--trigger/--markers`` spec options to ``parser``."""
    parser.add_argument("--lab", metavar="FILE", help="lab file naming this room's devices")
    for role in roles:
        parser.add_argument(
            f"--{role}",
            metavar="SPEC",
            help=" | ".join(FORMS[role]) + " (overrides the lab file; default simulated)",
        )


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``calibrate`` and ``devices check`` to the ``pavlov`` command."""
    calibrate = subparsers.add_parser(
        "calibrate",
        help="shock work-up: ascending test shocks rated by the participant",
        description="Run the shock work-up and store it in the participant's record.",
    )
    calibrate.add_argument("protocol", help="protocol file (its calibration, safety and shock US)")
    calibrate.add_argument(
        "--participant", "-p", required=True, metavar="ID", help="BIDS label, e.g. 01"
    )
    calibrate.add_argument(
        "--data", default="data", metavar="DIR", help="BIDS data folder (default ./data)"
    )
    calibrate.add_argument("--us", metavar="NAME", help="shock US to use (default: the first)")
    add_device_options(calibrate, roles=("shock",))
    calibrate.set_defaults(func=calibrate_command)

    devices = subparsers.add_parser("devices", help="device tools (devices check)")
    device_commands = devices.add_subparsers(dest="devices_command", metavar="COMMAND")
    check = device_commands.add_parser(
        "check",
        help="send a test marker, listen for scanner pulses, test the shock line",
        description="Exercise the configured devices and report in plain words.",
    )
    add_device_options(check)
    check.add_argument(
        "--listen",
        type=nonnegative_float,
        default=10.0,
        metavar="SECONDS",
        help="seconds to listen for scanner pulses (default 10)",
    )
    check.add_argument(
        "--tr",
        type=positive_float,
        metavar="SECONDS",
        help="expected TR; also makes a simulated trigger send pulses",
    )
    check.add_argument(
        "--yes", action="store_true", help="do not ask: the stimulator output is disabled"
    )
    check.set_defaults(func=check_command)
    devices.set_defaults(func=lambda args: (devices.print_help(), 2)[1])


def _lab(args: argparse.Namespace):
    if not getattr(args, "lab", None):
        return None
    from pavlov.task.devices.lab import load_lab

    return load_lab(args.lab)


def calibrate_command(args: argparse.Namespace) -> int:
    """Run ``pavlov calibrate``; return the exit status."""
    from pavlov.protocols import load_protocol
    from pavlov.task.devices.calibrate import (
        CalibrationError,
        check_participant,
        load_calibration,
        run_workup,
        save_workup,
    )
    from pavlov.task.devices.safety import Caps, guard_shock
    from pavlov.task.devices.spec import build_devices

    check_participant(args.participant)
    protocol = load_protocol(args.protocol)
    shocks = {name: us for name, us in protocol.us.items() if us.kind == "shock" and us.train}
    if not shocks:
        raise CalibrationError(f"{args.protocol}: expected a shock US to calibrate, got none")
    name = args.us or next(iter(shocks))
    if name not in shocks:
        raise CalibrationError(
            f"--us: expected one of the protocol's shock USs {', '.join(shocks)}, got {name!r}"
        )
    train = shocks[name].train
    spec = protocol.calibration
    previous = load_calibration(args.data, args.participant)
    if previous is not None:
        print(
            f"sub-{args.participant} already has {previous['n_workups']} work-up(s); latest "
            f"final intensity {previous['final_ma']:g} mA ({previous['ended']}). "
            "This work-up is added to the record."
        )
    clock = MonotonicClock()
    devices = build_devices(
        shock=args.shock, trigger="simulated", markers="simulated", lab=_lab(args), clock=clock
    )
    from pavlov.task.devices.calibrate import DEFAULT_CALIBRATION

    max_steps = (spec or DEFAULT_CALIBRATION).max_steps
    max_train = protocol.safety.max_train_duration if protocol.safety else train.duration
    guard = guard_shock(devices.shock, Caps(max_steps, max_train), clock, source=args.protocol)
    from pavlov.task.devices.watchdog import watching
    from pavlov.task.run_cli import _signals_end_session

    try:
        # Test shocks are real shocks: the same exit-path protection as a session (the
        # line low on every signal, a watchdog for deaths no Python code sees).
        with watching(devices.specs["shock"], devices.shock_code) as dog, _signals_end_session():
            if dog is not None:
                guard.require(dog.problem)  # no test shock once the watchdog is gone
            try:
                guard.open()
                workup = _workup_or_save_incomplete(
                    args.data,
                    run_workup,
                    args.participant,
                    spec,
                    train,
                    guard,
                    ask=_experimenter_input,
                    say=print,
                    wait=time.sleep,
                    clock=clock,
                    protocol=protocol.path,
                    device=devices.specs["shock"],
                    arm=guard.arm,
                )
            finally:
                # Line low and port closed now, on a signal too: not after the watchdog
                # stood down (it cannot open a port this process still holds, and the
                # pulse ran its full width).
                devices.close()
    finally:
        with contextlib.suppress(Exception):
            devices.close()
    path = save_workup(args.data, workup)
    print(f"Saved to {path}")
    return 0


def _workup_or_save_incomplete(data, run_workup, *args, **kwargs):
    """Run the work-up; if it is cut short after shocks were given, save it marked
    incomplete and say so in one line (the shocks happened: the record must show them)."""
    from pavlov.task.devices.calibrate import CalibrationError, WorkupInterrupted, save_workup

    try:
        return run_workup(*args, **kwargs)
    except WorkupInterrupted as stop:
        path = save_workup(data, stop.workup)
        n = len(stop.workup.steps)
        raise CalibrationError(
            f"{stop}; the {n} test shock(s) given are saved in {path}, marked "
            "incomplete (no final intensity): run calibrate again to finish"
        ) from None


def check_command(args: argparse.Namespace) -> int:
    """Run ``pavlov devices check``; return 0 if every check passed, else 3."""
    from pavlov.task.devices.base import DeviceError
    from pavlov.task.devices.check import run_checks
    from pavlov.task.devices.spec import DeviceSet, build_devices

    clock = MonotonicClock()
    lab = _lab(args)
    given: dict[str, str | None] = {
        "shock": args.shock,
        "trigger": args.trigger,
        "markers": args.markers,
    }

    def build(specs: dict[str, str | None], tr: float | None = None) -> DeviceSet:
        return build_devices(
            shock=specs["shock"],
            trigger=specs["trigger"],
            markers=specs["markers"],
            lab=lab,
            clock=clock,
            tr=tr,
        )

    broken: dict[str, tuple[str, str]] = {}
    try:
        devices = build(given, tr=args.tr)
    except DeviceError:
        # One device cannot be opened: find which (each alone, the others simulated), report
        # it as failed and still check the others.
        for role in given:
            alone = {other: "simulated" if other != role else spec for other, spec in given.items()}
            try:
                build(alone).close()
            except DeviceError as error:
                spec = given[role] or getattr(lab, role, None) or "simulated"
                broken[role] = (f"{role} {spec}", str(error))
        stand_in = {role: "simulated" if role in broken else spec for role, spec in given.items()}
        devices = build(stand_in, tr=args.tr)
    from pavlov.task.devices.watchdog import watching
    from pavlov.task.run_cli import _signals_end_session

    try:
        with watching(devices.specs["shock"], devices.shock_code), _signals_end_session():
            try:
                results = run_checks(
                    devices,
                    clock=clock,
                    listen=args.listen,
                    confirm=(lambda q: True) if args.yes else _confirmed,
                    say=print,
                    wait=time.sleep,
                    tr=args.tr,
                    broken=broken,
                )
            finally:
                devices.close()  # line low at once, before the watchdog stands down
    finally:
        devices.close()
    return 0 if all(result.ok for result in results) else 3


def _experimenter_input(prompt: str) -> str:
    """A line typed by the experimenter; the end of input stops the work-up cleanly."""
    from pavlov.task.devices.calibrate import CalibrationError

    try:
        return input(prompt)
    except EOFError:
        print()
        raise CalibrationError(
            "calibrate: the terminal's input ended before the work-up finished (run it at an "
            "interactive terminal)"
        ) from None


def _confirmed(prompt: str) -> bool:
    """A yes/no question; no answer (end of input) is a no."""
    try:
        return input(prompt).strip().lower() in ("y", "yes")
    except EOFError:
        print()
        return False
