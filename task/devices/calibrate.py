"""The shock work-up (field.md §3.8): an experimenter-driven ascending series.

Each step the experimenter sets the stimulator's dial (the software cannot read it) and
types the value in mA; one test train is delivered; the participant rates it on the
protocol's scale and the experimenter types the rating. The series stops when a rating
reaches the target ("unpleasant but not painful"), at the ceiling, after ``max_steps``,
or when the experimenter types ``q``. The experimenter then types the final dial value.

The record is kept in ``DATA/sub-<id>/sub-<id>_calibration.json`` with every work-up the
participant has had (a later work-up is appended, never overwriting an earlier one), so
later sessions show and log the intensity (:func:`load_calibration`).

:func:`run_workup` does the procedure with injected ``ask``/``say``/``wait`` callables,
so tests drive it without a terminal or hardware.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pavlov.common.bids import MAX_LABEL, is_label
from pavlov.common.errors import PavlovError
from pavlov.protocols.model import CalibrationSpec, PulseTrain, Source
from pavlov.task.devices.base import Clock, ShockDevice

__all__ = [
    "DEFAULT_CALIBRATION",
    "CalibrationError",
    "CalibrationStep",
    "Workup",
    "WorkupInterrupted",
    "calibration_path",
    "load_calibration",
    "run_workup",
    "save_workup",
]

#: Used when a shock protocol gives no ``calibration`` block (Dunsmoor-style 1–10 scale).
DEFAULT_CALIBRATION = CalibrationSpec(
    scale=(1, 10),
    target=7,
    target_text="unpleasant but not painful",
    start_ma=0.5,
    step_ma=0.5,
    ceiling_ma=10.0,
    max_steps=15,
    source=Source("<default>", 0),
)


class CalibrationError(PavlovError, ValueError):
    """The work-up cannot run or its record cannot be read or written."""

    exit_status = 2


class WorkupInterrupted(CalibrationError):
    """The work-up was cut short after test shocks were given.

    Attributes
    ----------
    workup : Workup
        What was done, marked incomplete (``complete`` False, no final intensity): the
        caller saves it, because those shocks were given.
    """

    def __init__(self, message: str, workup: Workup) -> None:
        super().__init__(message)
        self.workup = workup


@dataclass(frozen=True)
class CalibrationStep:
    """One test shock: the dial value typed, the participant's rating, and when."""

    step: int
    intensity_ma: float
    rating: int | None
    time: str
    pulses: int


@dataclass(frozen=True)
class Workup:
    """One completed (or stopped) work-up.

    Attributes
    ----------
    participant : str
        BIDS label without ``sub-``.
    started, ended : str
        ISO 8601 local times.
    steps : tuple of CalibrationStep
    final_ma : float or None
        The dial value the experimenter confirmed for the study; None if abandoned.
    stopped : str
        ``target reached``, ``target overshot``, ``ceiling reached``, ``max steps
        reached``, ``stopped by experimenter`` or ``interrupted: <why>``.
    target, target_text, scale
        The protocol's target rating, its wording and the rating scale.
    protocol : str
        Protocol file the work-up used (for the record).
    device : str
        The shock device spec.
    complete : bool
        False for a work-up cut short (input ended, Ctrl-C): its steps are kept because
        the shocks were given, but it has no final intensity.
    """

    participant: str
    started: str
    ended: str
    steps: tuple[CalibrationStep, ...]
    final_ma: float | None
    stopped: str
    target: int
    target_text: str
    scale: tuple[int, int]
    protocol: str = ""
    device: str = ""
    complete: bool = True

    def to_json(self) -> dict[str, Any]:
        """Return the work-up as a JSON-ready dict."""
        data = asdict(self)
        data["steps"] = [asdict(step) for step in self.steps]
        data["scale"] = list(self.scale)
        return data


def _now() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def _ask_number(
    ask: Callable[[str], str], prompt: str, default: float, ceiling: float
) -> float | None:
    # Returns None when the experimenter quits.
    while True:
        answer = ask(prompt).strip()
        if answer.lower() in ("q", "quit"):
            return None
        if not answer:
            return default
        try:
            value = float(answer)
        except ValueError:
            prompt = f"Type a number of mA (0 < mA <= {ceiling:g}), Enter for {default:g}, or q: "
            continue
        if 0 < value <= ceiling:
            return value
        prompt = f"The ceiling is {ceiling:g} mA. Type 0 < mA <= {ceiling:g}, or q: "


def _ask_rating(ask: Callable[[str], str], prompt: str, low: int, high: int) -> int | None:
    while True:
        answer = ask(prompt).strip()
        if answer.lower() in ("q", "quit"):
            return None
        if answer.isdigit() and low <= int(answer) <= high:
            return int(answer)
        prompt = f"Type the rating as a whole number {low}-{high}, or q: "


def run_workup(
    participant: str,
    spec: CalibrationSpec | None,
    train: PulseTrain,
    shock: ShockDevice,
    *,
    ask: Callable[[str], str],
    say: Callable[[str], None],
    wait: Callable[[float], None],
    clock: Clock,
    protocol: str = "",
    device: str = "",
    arm: Callable[[str, float, float], None] | None = None,
) -> Workup:
    """Run the ascending series and return its record (not yet saved).

    Parameters
    ----------
    participant : str
        BIDS label (letters and digits).
    spec : CalibrationSpec or None
        The protocol's ``calibration``; :data:`DEFAULT_CALIBRATION` when None.
    train : PulseTrain
        The protocol's shock train; each step delivers one.
    shock : ShockDevice
        Opened device (wrapped in a ShockGuard by the caller).
    ask : callable
        ``prompt -> answer`` (the experimenter's typing).
    say : callable
        Shows one line to the experimenter.
    wait : callable
        ``seconds -> None``, used while a train is delivered.
    clock : Clock
        For the guard's windows.
    protocol, device : str
        Stored in the record.
    arm : callable, optional
        ``(label, start, end)``: opens the guard's window for each test shock.
    """
    check_participant(participant)
    spec = spec or DEFAULT_CALIBRATION
    low, high = spec.scale
    started = _now()
    steps: list[CalibrationStep] = []
    say(
        f"Shock work-up for sub-{participant}: target rating {spec.target} on {low}-{high} "
        f"({spec.target_text}); ceiling {spec.ceiling_ma:g} mA, at most {spec.max_steps} steps."
    )
    record: dict[str, Any] = {
        "participant": participant,
        "started": started,
        "target": spec.target,
        "target_text": spec.target_text,
        "scale": (low, high),
        "protocol": protocol,
        "device": device,
    }
    try:
        return _series(
            spec, train, shock, steps, record, ask=ask, say=say, wait=wait, clock=clock, arm=arm
        )
    except (CalibrationError, KeyboardInterrupt, EOFError) as error:
        if not steps:
            raise
        why = str(error) or type(error).__name__
        if isinstance(error, KeyboardInterrupt):
            why = "interrupted (Ctrl-C)"
        workup = Workup(
            **record,
            ended=_now(),
            steps=tuple(steps),
            final_ma=None,
            stopped=f"interrupted: {why}",
            complete=False,
        )
        raise WorkupInterrupted(why, workup) from None


def _series(spec, train, shock, steps, record, *, ask, say, wait, clock, arm) -> Workup:
    """The ascending series proper (see :func:`run_workup`); appends to ``steps``."""
    low, high = spec.scale
    suggested = spec.start_ma
    stopped = "max steps reached"
    overshoot: float | None = None
    for number in range(1, spec.max_steps + 1):
        ma = _ask_number(
            ask,
            f"Step {number}: set the dial (suggested {suggested:g} mA) and type the value, "
            "Enter to accept, q to stop: ",
            suggested,
            spec.ceiling_ma,
        )
        if ma is None:
            stopped = "stopped by experimenter"
            break
        label = f"calibration/{number}"
        if arm is not None:
            now = clock.now()
            arm(label, now, now + 1.0)
        shock.deliver(train.pulse_width, train.interval, train.count, label)
        wait(train.duration)
        while shock.busy():
            wait(0.005)
        pulses = sum(len(train_record.pulses) for train_record in shock.delivered())
        say(f"Step {number}: shock delivered ({ma:g} mA, {pulses} pulse(s)).")
        # On record before its rating is asked: an interruption now still keeps the shock.
        steps.append(CalibrationStep(number, ma, None, _now(), pulses))
        rating = _ask_rating(
            ask,
            f"Participant's rating {low}-{high} (target {spec.target}: {spec.target_text}): ",
            low,
            high,
        )
        steps[-1] = CalibrationStep(number, ma, rating, steps[-1].time, pulses)
        if rating is None:
            stopped = "stopped by experimenter"
            break
        say(f"Step {number}: {ma:g} mA rated {rating}.")
        if rating > spec.target:
            # Over the target is not "reached": the intensity to use is the last one
            # rated below it (or one step down from the first).
            below = [
                s.intensity_ma for s in steps if s.rating is not None and s.rating < spec.target
            ]
            overshoot = below[-1] if below else max(ma - spec.step_ma, spec.step_ma)
            stopped = "target overshot"
            say(
                f"Rating {rating} is above the target {spec.target} ({spec.target_text}): "
                f"{ma:g} mA overshot; use {overshoot:g} mA"
                + (
                    " (the last intensity rated below the target)."
                    if below
                    else " (one step down)."
                )
            )
            break
        if rating == spec.target:
            stopped = "target reached"
            break
        if ma >= spec.ceiling_ma:
            stopped = "ceiling reached"
            break
        suggested = min(ma + spec.step_ma, spec.ceiling_ma)
    final: float | None = None
    if steps:
        last = overshoot if overshoot is not None else steps[-1].intensity_ma
        final = _ask_number(
            ask,
            f"Stopped ({stopped}). Type the final dial value for the study in mA "
            f"(Enter for {last:g}, q to record none): ",
            last,
            spec.ceiling_ma,
        )
    say(f"Final intensity: {final:g} mA." if final is not None else "No final intensity recorded.")
    return Workup(**record, ended=_now(), steps=tuple(steps), final_ma=final, stopped=stopped)


def check_participant(participant: str) -> str:
    """Return ``participant`` if it is a BIDS label, else raise CalibrationError."""
    if not is_label(participant):
        raise CalibrationError(
            "participant must be a BIDS label (letters and digits only, no 'sub-'), "
            f"got {participant!r}"
        )
    if len(participant) > MAX_LABEL:  # as pavlov run's labels (file names stay short)
        raise CalibrationError(
            f"participant must be a BIDS label of at most 64 characters, got {len(participant):,}"
        )
    return participant


def calibration_path(data: str | os.PathLike[str], participant: str) -> Path:
    """Return ``DATA/sub-<id>/sub-<id>_calibration.json``."""
    check_participant(participant)
    return Path(data) / f"sub-{participant}" / f"sub-{participant}_calibration.json"


def _read_record(path: Path) -> dict[str, Any] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as error:
        raise CalibrationError(
            f"{path}: cannot read the calibration record ({error.strerror})"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise CalibrationError(
            f"{path}:{error.lineno}: expected a pavlov calibration record (JSON), got invalid JSON"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("workups"), list):
        raise CalibrationError(
            f"{path}: expected a pavlov calibration record with 'workups', got something else"
        )
    return data


def save_workup(data: str | os.PathLike[str], workup: Workup) -> Path:
    """Add ``workup`` to the participant's record and return the file.

    The first record is created exclusively; later ones replace the file atomically
    (temporary file, fsync, rename) with the history kept in ``workups``.
    """
    path = calibration_path(data, workup.participant)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = _read_record(path)
    if record is None:
        record = {"participant": workup.participant, "workups": []}
    record["workups"].append(workup.to_json())
    record["final_ma"] = workup.final_ma if workup.final_ma is not None else record.get("final_ma")
    text = json.dumps(record, indent=2) + "\n"
    if len(record["workups"]) == 1:
        try:
            with open(path, "x", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
        except FileExistsError:
            raise CalibrationError(
                f"{path}: appeared while the work-up ran; run calibrate again"
            ) from None
        return path
    fd, temp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes the file 0600; the record is as readable as any other file here.
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return path


def _umask() -> int:
    """The process umask (read from /proc where it can be; setting it back elsewhere)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def load_calibration(data: str | os.PathLike[str], participant: str) -> dict[str, Any] | None:
    """Return the participant's latest work-up with a final intensity, or None.

    The dict is the stored work-up (``final_ma``, ``steps``, ``ended``, ...) plus
    ``n_workups``, the number of work-ups on record.
    """
    record = _read_record(calibration_path(data, participant))
    if record is None:
        return None
    workups = [w for w in record["workups"] if isinstance(w, dict)]
    for workup in reversed(workups):
        if workup.get("final_ma") is not None:
            return {**workup, "n_workups": len(workups)}
    return None
