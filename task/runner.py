"""The run loop: the one place where time passes.

:func:`run_session` plays a :class:`~pavlov.protocols.events.Schedule` on injected objects
(display, clock, scanner trigger, shock device, marker output, responder, log, console).
It imports no PsychoPy and touches no hardware itself, so the same loop runs a scanner
session, a ``--simulate`` rehearsal and the fast unit tests with a fake display.

Timing rules (see ``task/LOG.md`` and psychopy.md §4):

- *Non-slip onsets.* Session zero is the first stored scanner volume (after the dummy
  volumes) or, without a scanner, the first frame. Every event is aimed at
  ``zero + planned_onset / speed``: the loop idles (fixation) until the flip nearest that
  time, so errors never accumulate from trial to trial. Only self-paced screens
  (instructions, a wait ended by the experimenter, a rest waiting for a pulse) move later
  onsets, by exactly their overrun, which is logged as ``planned_onset``.
- *Durations in frames.* A stimulus lasts ``round(seconds / speed / frame_period)`` flips;
  a US starts on the frame ``round(us_onset / speed / frame_period)`` after CS onset, so
  a co-terminating US ends on the CS's last frame. Shock trains, sounds and markers are
  started by ``display.call_on_flip`` right after the flip that shows their frame.
- *Logging off the frame loop.* An event's rows are built when it ends and written
  (one write, fsync) by a worker thread while the loop flips the following ITI; the loop
  waits for that write only at the next event's onset, so every completed trial is on
  disk before the next one begins and no ITI frame waits for the disk (a write longer
  than the ITI delays that onset, logged as its ``onset_error``).
- *Every exit is clean.* Escape (confirmed with ``y``), a ``SessionAbort`` raised by a
  signal handler, or any error: the shock line goes low, devices close, completed events
  are on disk, and the session record says how the session ended.

Log times are in protocol seconds (clock seconds × speed), so a log recorded at
``--speed 50`` has the same onsets and durations as the real session would.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from pavlov.common.errors import PavlovError
from pavlov.protocols.kinds import ROW_KEYS, event_kind
from pavlov.protocols.kinds.wait import END_WAIT_KEY
from pavlov.stimuli.check import stim_file
from pavlov.task.console import Console, Status, format_clock
from pavlov.task.devices.base import DeviceError, SafetyError, TrainRecord
from pavlov.task.devices.codes import DEFAULT_MARKER_CODES, marker_code
from pavlov.task.devices.safety import SessionStop, ShockGuard, guard_shock
from pavlov.task.display import Scene, script_sound
from pavlov.task.log import EventLog, LogWriter

if typing.TYPE_CHECKING:
    from pavlov.protocols.events import Event, Schedule
    from pavlov.protocols.model import Protocol, ScannerSpec
    from pavlov.stimuli.check import SessionStimuli
    from pavlov.task.devices.base import Clock, MarkerOutput, ScannerTrigger, ShockDevice
    from pavlov.task.display import Display
    from pavlov.task.responder import Responder
    from pavlov.task.sidecar import SessionRecord

__all__ = [
    "END_WAIT_KEY",
    "ESCAPE_KEY",
    "ResumePoint",
    "RunResult",
    "ScannerTimeout",
    "SessionAbort",
    "reopen_for_resume",
    "resume_point",
    "run_session",
]

#: Key that asks to end the session (confirmed with ``y``, cancelled with ``n``).
ESCAPE_KEY = "escape"


class SessionAbort(SystemExit):
    """Raised (by a signal handler) to end the session cleanly; ``reason`` goes to the record.

    Parameters
    ----------
    reason : str
        e.g. ``aborted: SIGTERM``.
    status : int
        Exit status of the process.
    """

    def __init__(self, reason: str, status: int = 143) -> None:
        super().__init__(status)
        self.reason = reason


class ScannerTimeout(DeviceError):
    """No (or too few) scanner pulses arrived within the protocol's timeout."""

    exit_status = 3


class _EscapePressed(Exception):
    """Escape was pressed during an event (internal)."""


class _Quit(Exception):
    """The experimenter confirmed the quit (internal)."""


@dataclass(frozen=True)
class RunResult:
    """How a run ended.

    Attributes
    ----------
    end_reason : str
        ``completed``, ``aborted: escape``, ``aborted: SIGTERM``, ``error: ...``.
    completed_events : int
        Events logged in this run.
    completed_total : int
        Events logged in the session, including earlier runs when resumed.
    dropped_frames : int
        Dropped frames in this run.
    pulses : int
        Scanner pulses received (including dummy volumes).
    shocks : int
        Shock trains delivered.
    zero : float
        Clock time of session zero for this run.
    frame_period : float
        Seconds per frame.
    """

    end_reason: str
    completed_events: int
    completed_total: int
    dropped_frames: int
    pulses: int
    shocks: int
    zero: float
    frame_period: float


@dataclass(frozen=True)
class ResumePoint:
    """Where a resumed session continues.

    Attributes
    ----------
    start_index : int
        Index in ``schedule.events`` of the first event not in the log.
    keep_rows : int
        Rows of the log to keep (rows of an event cut off by a crash come after them).
    time_base : float
        Log time (protocol seconds) at which the resumed part starts: the planned onset of
        the next event, or the end of the last logged row if that is later.
    """

    start_index: int
    keep_rows: int
    time_base: float


def _event_keys(event: Event) -> list[tuple[str, str, str]]:
    """(phase, trial_type, trial) of the rows that must be in the log for ``event``."""
    return [(event.phase, row, str(event.index)) for row in event_kind(event.kind).done_rows(event)]


def resume_point(schedule: Schedule, rows: Sequence[Mapping[str, str]]) -> ResumePoint:
    """Find where to continue a session from the rows already logged.

    An event counts as done when all its rows are there (a trial with a US time needs its
    ``cs`` and its ``us`` row). Done events must be a prefix of the schedule.

    Parameters
    ----------
    schedule : Schedule
        The session's schedule (rebuilt from the protocol and participant).
    rows : sequence of dict
        The log's rows, as :meth:`pavlov.task.log.EventLog.reopen` returns them.

    Raises
    ------
    PavlovError
        If the log holds events the schedule does not have in that order, or every event
        is already done.
    """
    positions: dict[tuple[str, str, str], int] = {}
    for i, row in enumerate(rows):
        kind = row.get("trial_type", "")
        key = (row.get("phase", ""), kind, row.get(ROW_KEYS.get(kind, "trial"), ""))
        positions.setdefault(key, i)
    done = [all(k in positions for k in _event_keys(e)) for e in schedule.events]
    start = next((i for i, d in enumerate(done) if not d), len(done))
    if start == len(done):
        raise PavlovError("nothing to resume: every scheduled event is already in the log")
    if any(done[start:]):
        later = schedule.events[start + done[start:].index(True)]
        raise PavlovError(
            f"cannot resume: the log has {later.phase} {event_kind(later.kind).row} "
            f"{later.index} but not {schedule.events[start].phase} "
            f"{event_kind(schedule.events[start].kind).row} {schedule.events[start].index}; "
            "it was not written for this schedule"
        )
    present = [positions[k] for k in _event_keys(schedule.events[start]) if k in positions]
    keep = min(present) if present else len(rows)
    base = schedule.events[start].onset
    for row in rows[:keep]:
        try:
            end = float(row["onset"]) + (
                float(row["duration"]) if row.get("duration", "n/a") != "n/a" else 0.0
            )
        except (KeyError, ValueError):
            continue
        base = max(base, end)
    return ResumePoint(start, keep, base)


def reopen_for_resume(
    path: str | os.PathLike[str], schedule: Schedule
) -> tuple[EventLog, list[dict[str, str]], ResumePoint]:
    """Reopen a run's log to continue it: cut a torn last line and an incomplete event.

    The one resume sequence (``pavlov run --resume`` and the kill-anywhere test's child).

    Returns
    -------
    tuple
        The open log, its rows as they were, and where to continue.

    Raises
    ------
    PavlovError
        If the log cannot be reopened or does not fit the schedule (see :func:`resume_point`).
    """
    log, rows = EventLog.reopen(path)
    try:
        point = resume_point(schedule, rows)
        if point.keep_rows < len(rows):
            log.truncate_rows(point.keep_rows)
    except BaseException:
        log.close()
        raise
    return log, rows, point


@dataclass
class _Pending:
    """Rows of an event that ended, waiting for the shock train report (if any)."""

    rows: list[tuple[float, dict]]
    train: str | None
    us_row: dict | None


class _Session:
    """State of one run; see :func:`run_session`."""

    def __init__(
        self,
        schedule: Schedule,
        protocol: Protocol,
        *,
        display: Display,
        clock: Clock,
        trigger: ScannerTrigger | None,
        shock: ShockGuard | None,
        markers: MarkerOutput | None,
        responder: Responder,
        log: EventLog,
        console: Console,
        speed: float,
        start_index: int,
        time_base: float,
        scanner: ScannerSpec | None,
        record: SessionRecord | None,
        marker_codes: Mapping[str, int],
        stimuli: SessionStimuli | None,
        completed_before: int,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed!r}")
        if not 0 <= start_index < max(len(schedule.events), 1):
            raise ValueError(
                f"start_index must be 0..{len(schedule.events) - 1}, got {start_index!r}"
            )
        if scanner is not None and trigger is None:
            raise ValueError("a scanner session needs a trigger")
        self.schedule = schedule
        self.protocol = protocol
        self.display = display
        self.clock = clock
        self.trigger = trigger
        self.shock = shock
        self.markers = markers
        self.responder = responder
        self.participant = responder  # the name a kind's presenter uses (Stage)
        self.log = log
        self.console = console
        self.speed = float(speed)
        self.start_index = start_index
        self.time_base = time_base
        self.scanner = scanner
        self.record = record
        self.codes = marker_codes
        self.stimuli = stimuli
        self.completed_before = completed_before
        self.period = float(display.frame_period)
        self.zero = 0.0
        self.on_zero: Callable[[float, float], None] | None = None
        self.slip = 0.0
        self.last_flip: float | None = None
        self.keys: list[tuple[str, float]] = []
        self.extra: list[tuple[float, dict]] = []
        self.pending: _Pending | None = None
        # Train label -> its record once reported, the refusal text, or None (started).
        self.trains: dict[str, TrainRecord | str | None] = {}
        self.pulses = 0
        self.pulse_times: list[float] = []
        self.scanning = False
        self.scanner_started = False
        self.writer = LogWriter(log)
        self.trials_total = sum(1 for e in schedule.events if _is_trial(e))
        self.trials_done = sum(1 for e in schedule.events[:start_index] if _is_trial(e))
        self.refusals: list[str] = []
        self.fatal: BaseException | None = None  # an on-flip error that stops the session
        self.current: Event | None = None
        self.current_number = 0  # 1-based position of ``current`` in the schedule
        self.dropped_at_start = 0
        self._status_at = -1.0
        # For the console: the last rating, missed ones, and where the next USs are.
        self.last_rating = ""
        self.ratings_missed = 0
        self.ratings_seen = 0
        self.us_positions = [
            i
            for i, e in enumerate(schedule.events)
            if e.kind == "us" or (e.kind == "trial" and e.reinforced and e.us)
        ]

    # -- time -------------------------------------------------------------------------

    def frames(self, seconds: float | None, minimum: int = 0) -> int:
        """Frames that ``seconds`` of protocol time last at this speed and refresh."""
        if not seconds:
            return minimum
        return max(minimum, round(seconds / self.speed / self.period))

    def to_log(self, t: float) -> float:
        """Clock time → log time (protocol seconds from session zero)."""
        return self.time_base + (t - self.zero) * self.speed

    def to_clock(self, planned: float) -> float:
        """Log time → clock time."""
        return self.zero + (planned - self.time_base) / self.speed

    # -- frames -----------------------------------------------------------------------

    def frame(self, scene: Scene) -> float:
        """Draw, flip, and do the per-frame chores (keys, pulses); return the flip time."""
        self.display.draw(scene)
        t = self.display.flip()
        self.last_flip = t
        self.keys = self.display.poll_keys()
        if self.scanning:
            self.poll_scanner(t)
        if self.pending is not None:
            # A completed event waiting for its train report is queued for writing as soon
            # as the report comes, whatever is on screen (the ITI, a trial's ITI probe).
            self.settle_pending(force=False)
        if self.keys and any(k == ESCAPE_KEY for k, _ in self.keys):
            raise _EscapePressed
        return t

    def scanner_and_trigger(self) -> tuple[ScannerSpec, ScannerTrigger]:
        """The scanner settings and trigger of a scanner session (checked at construction)."""
        if self.scanner is None or self.trigger is None:
            raise RuntimeError("not a scanner session")
        return self.scanner, self.trigger

    def poll_scanner(self, t: float) -> None:
        """Count the scanner's pulses; ignore (and log) too-fast ones; stop if it stopped."""
        spec, trigger = self.scanner_and_trigger()
        tr = spec.tr / self.speed
        for pulse in trigger.poll():
            if self.pulse_times and pulse - self.pulse_times[-1] < 0.5 * tr:
                # A bouncing trigger or a repeating key is not a volume.
                gap = (pulse - self.pulse_times[-1]) * self.speed
                note = f"pulse ignored: {gap:.3f} s after the previous one (TR {spec.tr:g} s)"
                self.extra.append((pulse, {"trial_type": "event", "value": note}))
                self.console.message(f"scanner: {note}")
                continue
            self.pulses += 1
            self.pulse_times.append(pulse)
            self.extra.append((pulse, {"trial_type": "pulse", "value": self.pulses}))
        if self.scanner_started and t - self.pulse_times[-1] > max(3 * tr, 4 * self.period):
            raise ScannerTimeout(
                f"the scanner stopped: no pulse on {trigger.name} for "
                f"{(t - self.pulse_times[-1]) * self.speed:.1f} s after volume {self.pulses} "
                f"(TR {spec.tr:g} s); the session stopped so that nothing is shown unscanned; "
                "continue with --resume when the scanner runs again"
            )

    def idle_until(self, target: float, scene: Scene) -> None:
        """Flip ``scene`` until the next flip is the one nearest ``target`` (clock time)."""
        while self.last_flip is None or self.last_flip + 1.5 * self.period <= target:
            self.frame(scene)
            self.tick()

    def tick(self, note: str = "") -> None:
        """Refresh the console at most 4 times a second (clock time)."""
        now = self.last_flip or 0.0
        if now - self._status_at < 0.25:
            return
        self._status_at = now
        self.status(note)

    def status(self, note: str = "") -> None:
        event = self.current
        index = self.current_number if event is not None else 0
        now = self.to_log(self.last_flip or self.zero)
        left = self.schedule.duration - (now - self.slip)
        playing = event is not None and _is_trial(event)
        self.console.update(
            Status(
                phase=event.phase if event else "",
                what=event_kind(event.kind).describe(event) if event else "",
                event=index,
                events=len(self.schedule.events),
                trial=self.trials_done + (1 if playing else 0),
                trials=self.trials_total,
                pulses=self.pulses,
                shocks=self.shock.shocks_delivered if self.shock is not None else 0,
                time_left=max(0.0, left),
                note=note,
                scanner=self.scanner is not None,
                last_rating=self.last_rating,
                missed_ratings=self.ratings_missed,
                ratings=self.ratings_seen,
                next_us=self.next_us(index - 1, now),
            )
        )

    def next_us(self, position: int, now: float) -> str:
        """The next US from schedule position ``position`` on, for the console."""
        at = bisect.bisect_left(self.us_positions, max(position, 0))
        if at == len(self.us_positions):
            return ""
        event = self.schedule.events[self.us_positions[at]]
        spec = self.protocol.us.get(event.us or "")
        kind = spec.kind if spec is not None else "US"
        where = f"{event.phase} trial {event.index}"
        onset = event.onset + (event.us_onset or 0.0) + self.slip
        if event.kind == "us":
            where = f"{event.phase} unsignalled US {event.index}"
        if onset <= now:
            return f"{kind} ({where}) now"
        return f"{kind} ({where}) in {format_clock(onset - now)}"

    def rated(self, event: Event, value: float | None) -> None:
        """Count a rating window for the console (answered with ``value``, or missed)."""
        self.ratings_seen += 1
        if value is None:
            self.ratings_missed += 1
        else:
            self.last_rating = f"{value:g} ({event.cs or event.stimulus}, {event.phase})"

    # -- devices ----------------------------------------------------------------------

    def mark(self, name: str, label: str, on_flip: bool = True) -> None:
        """Send the marker code for ``name`` (after the next flip, by default)."""
        if self.markers is None:
            return
        code = marker_code(self.codes, name)
        if code is None:
            return
        if on_flip:
            self.display.call_on_flip(self.markers.send, code, label)
        else:
            self.markers.send(code, label)

    def deliver_shock(self, train, label: str) -> None:
        """On-flip callback: deliver a scaled train through the guard; log a refusal."""
        if self.shock is None:  # start_us schedules this only with a shock device
            return
        try:
            # Pulse widths stay physical at any --speed: the stimulator gets the real train.
            self.shock.deliver(train.pulse_width, train.interval, train.count, label)
            self.trains[label] = None
        except SafetyError as error:
            self.refusals.append(str(error))
            self.trains[label] = f"refused: {error}"
            self.console.message(str(error))
            if isinstance(error, SessionStop):
                # A US that cannot be recorded could be repeated after a crash (or one that
                # no watchdog could end): stop the session as a full log does, once this
                # trial is logged with the refusal.
                self.fatal = error

    def start_us(self, event: Event, label: str, planned: float | None = None) -> str | None:
        """Start the US of ``event`` on the next flip; return the train label if a shock.

        The guard's window runs from the flip the US was planned on (``planned``, else the
        next flip) for ``max(4 frames, 0.25 s)``: a stall that delays the loop before the US
        flip makes the train late, and a train later than the window is refused by the guard.
        """
        spec = self.protocol.us.get(event.us or "")
        if spec is None:
            return None
        self.mark("USp", label)
        if spec.kind == "shock" and spec.train is not None and self.shock is not None:
            now = self.clock.now()
            window = max(4 * self.period, 0.25)
            at = now if planned is None else planned
            self.shock.arm(label, min(now, at), at + window)
            self.display.call_on_flip(self.deliver_shock, spec.train, label)
            return label
        if spec.kind == "sound":
            self.display.call_on_flip(self.display.play, f"us:{spec.name}")
        return None

    def settle_pending(self, force: bool) -> None:
        """Write the last event's rows once its shock train is reported (or when forced)."""
        pending = self.pending
        if pending is None:
            return
        if pending.train is not None and self.shock is not None:
            for delivered in self.shock.delivered():
                self.trains[delivered.label] = delivered
            reported = self.trains.get(pending.train) is not None
            if not reported and not force:
                return
        if pending.train is not None and pending.us_row is not None:
            record = self.trains.pop(pending.train, None)
            if isinstance(record, str):
                pending.us_row["value"] = record
                pending.us_row["duration"] = 0.0  # refused: no US was given
            elif isinstance(record, TrainRecord) and record.pulses:
                edges = [self.to_log(rise) for rise, _ in record.pulses]
                pending.us_row["value"] = ";".join(f"{t:.4f}" for t in edges)
                # Protocol seconds, like every duration: a simulated train at --speed X
                # ran in 1/X of the time; a real one (speed 1) is its physical length.
                pending.us_row["duration"] = (
                    record.pulses[-1][1] - record.pulses[0][0]
                ) * self.speed
            elif record is None:
                pending.us_row["value"] = "train not reported"
            else:
                pending.us_row["value"] = "no pulse delivered"
        self.pending = None
        self.submit(pending.rows, counts_event=True)

    def submit(self, rows: list[tuple[float, dict]], counts_event: bool) -> None:
        """Queue rows (with clock times) plus the pulses/keys seen so far for writing."""
        rows = rows + self.extra
        self.extra = []
        if not rows:
            return
        rows.sort(key=lambda item: item[0])
        out = []
        for t, row in rows:
            row = dict(row)
            row.setdefault("onset", self.to_log(t))
            row.setdefault("duration", 0.0)
            out.append(row)
        self.writer.submit(out, counts_event)

    def before_event(self) -> None:
        """Queue the previous event's rows; its write runs during the ITI (see :meth:`play`)."""
        if self.pending is not None:
            deadline = (self.last_flip or 0.0) + 1.0
            while self.pending is not None and self.pending.train and self.clock.now() < deadline:
                # The train outlasts the CS only when the protocol says so; wait for its report.
                self.frame(self.idle_scene)
                self.settle_pending(force=False)
            self.settle_pending(force=True)
        if self.fatal is not None:
            # Raised once the event with the refused US is logged (its row says so), not
            # inside the flip callback that refused it.
            self.writer.wait()
            raise self.fatal
        if self.shock is not None:
            # A train cut by a device error is reported (and logged) before the error itself;
            # busy() raises the stored error, so a dead device ends the session here instead
            # of at the next scheduled US (or never, after the last one).
            self.shock.busy()

    # -- session ----------------------------------------------------------------------

    idle_scene = Scene(fixation=True)

    def start(self) -> None:
        """Open devices, wait for the scanner (if any), and set session zero."""
        if self.shock is not None:
            self.shock.open()
        if self.markers is not None:
            self.markers.open()
        self.display.load(self.protocol, self.schedule, self.stimuli)
        self.console.start(
            f"{self.schedule.study}: sub-{self.schedule.participant} ses-{self.schedule.session}"
        )
        if self.scanner is None:
            # Session zero is the refresh after this first one, so an event planned at 0
            # is shown exactly at zero.
            self.zero = self.frame(self.idle_scene) + self.period
        else:
            self.zero = self.wait_for_scanner()
        self.mark("session_start", "session start", on_flip=False)
        if self.on_zero is not None:  # e.g. an LSL recorder, to place its samples in log time
            self.on_zero(self.zero, self.time_base)
        self.display.record_frame_intervals(True)
        self.dropped_at_start = self.display.dropped_frames()
        if self.start_index > 0:
            self.extra.append((self.zero, {"trial_type": "event", "value": "resumed"}))
        self.slip = self.time_base - self.schedule.events[self.start_index].onset

    def wait_for_scanner(self) -> float:
        """Flip a waiting screen until the first stored volume; return its clock time."""
        spec, trigger = self.scanner_and_trigger()
        needed = spec.dummy_volumes + 1
        scene = Scene(text="Waiting for the scanner...")
        trigger.start()
        self.scanning = True
        self.frame(scene)
        started = self.clock.now()
        self.console.message(
            f"waiting for the scanner on {trigger.name} "
            f"({spec.dummy_volumes} dummy volumes, timeout {spec.timeout:g} s)"
        )
        while self.pulses < needed:
            if self.pulses and not self.scanner_started:
                # The timeout is for the first pulse (protocols/README.md); from then on the
                # scanner runs, and a silence of 3 TRs during the dummy volumes stops it.
                self.scanner_started = True
            if not self.pulses and self.clock.now() - started > spec.timeout:
                raise ScannerTimeout(
                    f"no scanner pulse on {trigger.name} within {spec.timeout:g} s "
                    f"({self.pulses} of {needed} received, sync {spec.sync}): check that the "
                    "scanner runs and sends its trigger to this computer"
                )
            try:
                self.frame(scene)
            except _EscapePressed:
                self.confirm_quit()
            self.tick("waiting for the scanner")
        self.scanner_started = True
        return self.pulse_times[needed - 1]

    def run(self) -> None:
        """Play the events from ``start_index`` to the end, then the last ITI."""
        previous_phase = None
        for number, event in enumerate(
            self.schedule.events[self.start_index :], start=self.start_index + 1
        ):
            self.current, self.current_number = event, number
            self.status()
            if event.phase != previous_phase:
                self.mark("phase_start", f"phase {event.phase}")
                previous_phase = event.phase
            while True:
                try:
                    self.before_event()
                    self.play(event)
                    break
                except _EscapePressed:
                    self.confirm_quit()
                    # Continue: the interrupted event starts again, now.
                    self.slip = max(self.slip, self.to_log(self.clock.now()) - event.onset)
            if _is_trial(event):
                self.trials_done += 1
        last = self.schedule.events[-1]
        end = self.to_clock(last.onset + self.slip + last.span + last.iti)
        self.before_event()
        # Every event is done: escape in the final ITI just ends it.
        with contextlib.suppress(_EscapePressed):
            self.idle_until(end, Scene(context=None, fixation=True))

    def confirm_quit(self) -> None:
        """Escape: stop the US, ask the experimenter; raise ``_Quit`` on ``y``."""
        if self.shock is not None:
            self.shock.set_low()
        self.console.message("escape pressed: quit the session? (y = quit, n = continue)")
        scene = Scene(text="Quit the session?\n\ny = quit    n = continue")
        while True:
            try:
                self.frame(scene)
            except _EscapePressed:
                continue
            names = [k for k, _ in self.keys]
            if "y" in names:
                raise _Quit
            if "n" in names:
                self.console.message("continuing")
                return

    # -- events -----------------------------------------------------------------------

    def play(self, event: Event) -> None:
        """Idle until ``event``'s onset, then present it and queue its rows."""
        planned = event.onset + self.slip
        target = self.to_clock(planned)
        self.idle_until(target, Scene(context=event.context, fixation=True))
        # The previous event's write ran during the ITI's frames; it must be on disk
        # (fsynced) before this event starts: a kill now loses no completed event.
        self.writer.wait()
        dropped = self.display.dropped_frames()
        shown = event_kind(event.kind).present(self, event, planned)
        rows, end = shown.rows, shown.end
        main = rows[0][1]
        main["planned_onset"] = planned
        main["onset_error"] = self.to_log(rows[0][0]) - planned
        main["dropped_frames"] = self.display.dropped_frames() - dropped
        if end is not None:  # self-paced: later events move by the overrun (or underrun)
            self.slip += self.to_log(end) - (planned + event.duration)
        self.pending = _Pending(rows, shown.train, shown.us_row)
        self.settle_pending(force=False)
        if shown.then is not None and self.fatal is None:
            self.play_rest(event, shown.then)

    def play_rest(self, event: Event, then: Callable[[], list[tuple[float, dict]]]) -> None:
        """Present what follows a completed event (a trial's ITI probes); log its rows after
        the event's.

        The event's rows are queued already (or wait for its train report only), so a kill
        now loses no completed trial. Escape here skips the rest: the event is done and is
        not presented again (its ITI probes are not in the log).
        """
        try:
            rows = then()
        except _EscapePressed:
            self.confirm_quit()
            self.console.message(f"{event_kind(event.kind).describe(event)}: ITI probe skipped")
            return
        if self.pending is not None:
            self.pending.rows.extend(rows)  # still waiting for the train: written with it
        else:
            self.submit(rows, counts_event=False)

    def stim_file(self, kind: str, name: str | None) -> str | None:
        """The ``stim_file`` of a CS (``cs``) or US (``us``): the resolved file's label."""
        return stim_file(self.protocol, self.stimuli, kind, name)

    def refresh_index(self, t: float, t0: float, f: int) -> int:
        """Index of the refresh a flip at ``t`` showed, counting from ``t0`` (frame 0).

        Counting refreshes rather than flips keeps a dropped frame from stretching the
        stimulus: after a drop, the loop skips to the frame the screen is really at.
        """
        return max(f, round((t - t0) / self.period))

    # -- what a kind's presenter is given (pavlov.protocols.kinds.base.Stage) ----------

    def on_flip(self, function: Callable[..., object], *args: object) -> None:
        """Call ``function(*args)`` right after the next flip."""
        self.display.call_on_flip(function, *args)

    def play_sound(self, sound: str) -> None:
        """Start a loaded sound now."""
        self.display.play(sound)

    def stop(self, sound: str) -> None:
        """Stop a sound."""
        self.display.stop(sound)

    def script(self, phase: str) -> tuple[str | None, str | None]:
        """A script phase's sound key and ``stim_file`` (None, None without the file)."""
        path, label = self.stimuli.script(phase) if self.stimuli is not None else (None, None)
        return (script_sound(phase) if path is not None else None), label

    def note(self, t: float, row: dict) -> None:
        """Log a row of the run (an experimenter key, a pulse) at clock time ``t``."""
        self.extra.append((t, row))

    def message(self, text: str) -> None:
        """Tell the experimenter."""
        self.console.message(text)

    # -- the end ----------------------------------------------------------------------

    def finish(self, reason: str, raised: BaseException | None = None) -> RunResult:
        """Stop the US, write what is complete, close devices, record the end.

        Every step is attempted. A step that failed is raised (the first) when the run
        ended without an error (completed, or Escape): a final log write or record update
        that failed must not go unreported. When an error or signal already ends the run
        (``raised``), that one is raised by the caller and a failed step is one console
        line (``raised`` itself, met again while closing, is not repeated), so the first
        error is never hidden by a second.
        """
        errors: list[BaseException] = []

        def attempt(step, *args, **kwargs):
            try:
                step(*args, **kwargs)
            except BaseException as error:
                errors.append(error)

        if self.shock is not None:
            attempt(self.shock.set_low)
        if self.pending is not None:
            attempt(self.settle_pending, True)
        if self.extra:
            attempt(self.submit, [], False)
        attempt(self.writer.close)
        if self.markers is not None:
            attempt(self.mark, "session_end", "session end", False)
            attempt(self.markers.close)
        if self.shock is not None:
            attempt(self.shock.close)
        if self.trigger is not None and self.scanning:
            attempt(self.trigger.close)
        dropped = 0
        with contextlib.suppress(Exception):
            dropped = self.display.dropped_frames() - self.dropped_at_start
        result = RunResult(
            end_reason=reason,
            completed_events=self.writer.events,
            completed_total=self.completed_before + self.writer.events,
            dropped_frames=dropped,
            pulses=self.pulses,
            shocks=self.shock.shocks_delivered if self.shock is not None else 0,
            zero=self.zero,
            frame_period=self.period,
        )
        if self.record is not None:
            previous = int(self.record.data.get("dropped_frames") or 0)
            attempt(
                self.record.finish,
                end_reason=reason,
                completed_events=result.completed_total,
                completed_trials=self.trials_done,
                dropped_frames=previous + dropped,
                scanner_pulses=int(self.record.data.get("scanner_pulses") or 0) + self.pulses,
                # With a ledger the guard counts every process of this run already; adding
                # the earlier record's count too would count resumed runs' shocks twice.
                shocks_delivered=result.shocks
                if self.shock is not None and self.shock.has_ledger
                else int(self.record.data.get("shocks_delivered") or 0) + result.shocks,
                shock_refusals=list(self.record.data.get("shock_refusals") or []) + self.refusals,
            )
        self.console.message(
            f"session {reason}: {result.completed_total} of {len(self.schedule.events)} events "
            f"logged, {dropped} dropped frames"
        )
        if raised is not None:
            for error in errors:
                if error is not raised:
                    text = " ".join(str(error).split())
                    self.console.message(f"also during the clean-up: {text}")
        attempt(self.console.stop)
        if errors and raised is None:
            raise errors[0]
        return result


def _is_trial(event: Event) -> bool:
    """A CS trial or an unsignalled US: what the console counts as a trial."""
    return event_kind(event.kind).counts_as_trial


def run_session(
    schedule: Schedule,
    protocol: Protocol,
    *,
    display: Display,
    clock: Clock,
    trigger: ScannerTrigger | None,
    shock: ShockGuard | ShockDevice | None,
    markers: MarkerOutput | None,
    responder: Responder,
    log: EventLog,
    console: Console,
    speed: float = 1.0,
    start_index: int = 0,
    time_base: float | None = None,
    scanner: ScannerSpec | None = None,
    record: SessionRecord | None = None,
    marker_codes: Mapping[str, int] = DEFAULT_MARKER_CODES,
    stimuli: SessionStimuli | None = None,
    completed_before: int = 0,
    on_zero: Callable[[float, float], None] | None = None,
) -> RunResult:
    """Play a session's schedule; return how it ended.

    Parameters
    ----------
    schedule : Schedule
        What to play (from :func:`pavlov.protocols.build_schedule`).
    protocol : Protocol
        Its protocol (stimuli, USs, phases' ratings, instructions and keys).
    display : Display
        The screen (PsychoPy window, or :class:`~pavlov.task.display.RecordingDisplay`).
    clock : Clock
        The display's time base.
    trigger : ScannerTrigger or None
        Scanner pulses; required when ``scanner`` is given.
    shock : ShockGuard, ShockDevice or None
        The shock device behind its :class:`~pavlov.task.devices.safety.ShockGuard` (only
        armed, scheduled trains are delivered); a bare device is put behind one with the
        protocol's caps here (:func:`~pavlov.task.devices.safety.guard_shock`, which
        refuses a protocol without them); None when the protocol has no shock US.
    markers : MarkerOutput or None
        Event codes to the physiology recorder.
    responder : Responder
        The participant (real or simulated).
    log : EventLog
        The open events log (rows are appended, never rewritten).
    console : Console
        Experimenter console.
    speed : float
        Every duration is divided by ``speed`` (rehearsals); logs stay in protocol seconds.
    start_index : int
        First event to play (resume).
    time_base : float, optional
        Log time of session zero of this run (resume: see :func:`resume_point`); defaults
        to the planned onset of ``schedule.events[start_index]``.
    scanner : ScannerSpec or None
        Wait for the scanner (dummy volumes, timeout) and log every pulse.
    record : SessionRecord or None
        Provenance sidecar; updated with the end reason, counts and dropped frames.
    marker_codes : Mapping[str, int]
        Marker code table.
    stimuli : SessionStimuli, optional
        Resolved stimulus files (:func:`pavlov.stimuli.check.prepare_stimuli`): passed to
        the display, and named in ``stim_file``. Without it, the protocol's paths are logged
        and script events play nothing.
    completed_before : int
        Events already logged by earlier runs (resume).
    on_zero : callable, optional
        Called with (clock time of session zero, its log time) once zero is known.

    Returns
    -------
    RunResult
        Also when the experimenter quit with Escape (``end_reason`` says so).

    Raises
    ------
    SessionAbort
        Re-raised after a clean end when a signal handler raised it.
    PavlovError
        Device, scanner or log errors, after a clean end (record says ``error: ...``);
        also after a completed or Escape-ended run whose clean-up failed (the last log
        write, the record update, closing a device).
    """
    events = schedule.events
    guard = (
        shock
        if shock is None or isinstance(shock, ShockGuard)
        else guard_shock(shock, protocol.safety, clock, source=protocol.path)
    )
    session = _Session(
        schedule,
        protocol,
        display=display,
        clock=clock,
        trigger=trigger,
        shock=guard,
        markers=markers,
        responder=responder,
        log=log,
        console=console,
        speed=speed,
        start_index=start_index,
        time_base=events[start_index].onset if time_base is None and events else time_base or 0.0,
        scanner=scanner,
        record=record,
        marker_codes=marker_codes,
        stimuli=stimuli,
        completed_before=completed_before,
    )
    session.on_zero = on_zero
    try:
        if events:
            session.start()
            session.run()
        reason = "completed"
    except _Quit:
        reason = "aborted: escape"
    except BaseException as error:
        session.finish(_end_reason(error), raised=error)
        raise
    # Completed or Escape: a clean-up step that failed (the last log write, the record)
    # is raised here, so `pavlov run` reports it in one line with a non-zero status.
    return session.finish(reason)


def _end_reason(error: BaseException) -> str:
    """The record's ``end_reason`` for an exception that ends a run."""
    if isinstance(error, SessionAbort):
        return error.reason
    if isinstance(error, KeyboardInterrupt):
        return "aborted: interrupt"
    if isinstance(error, PavlovError):
        return f"error: {' '.join(str(error).split())}"
    return f"error: {type(error).__name__}: {' '.join(str(error).split())}"
