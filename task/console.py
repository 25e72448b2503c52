"""The experimenter's console in the terminal: phase, trial n/N, pulses, USs, time left.

The run loop reports a :class:`Status` at event boundaries (and about once a second during
long waits); the console shows it. :class:`RichConsole` draws a live panel with ``rich``
when stderr is a terminal; :class:`PlainConsole` prints only messages (one line each),
which is what a log file or a test wants. :func:`make_console` picks one.
"""

from __future__ import annotations

import sys
import time
import typing
from dataclasses import dataclass, field

from pavlov.protocols.kinds.screen import format_clock

__all__ = [
    "Console",
    "PlainConsole",
    "RecordingConsole",
    "RichConsole",
    "Status",
    "make_console",
    "status_rows",
]


@dataclass(frozen=True)
class Status:
    """What the experimenter sees.

    Attributes
    ----------
    phase : str
        Current phase name.
    what : str
        Current event, e.g. ``cs CS+ (blue)``.
    event : int
        1-based number of the current event.
    events : int
        Events in the session.
    trial : int
        Number of the trial (CS or unsignalled US) playing, or of the last one played,
        counting those of earlier runs when resumed (``trial 1/48`` while trial 1 plays).
    trials : int
        Trials in the session.
    pulses : int
        Scanner pulses received.
    shocks : int
        USs delivered in this run.
    time_left : float
        Planned seconds left (protocol seconds).
    note : str
        Free text (e.g. a countdown or a warning).
    scanner : bool
        Whether the session uses a scanner (the pulse count is shown only then).
    last_rating : str
        The participant's last rating, e.g. ``62 (CS+, acquisition 4)``; empty before one.
    missed_ratings : int
        Rating windows that ended without an answer.
    ratings : int
        Rating windows so far (answered or missed).
    next_us : str
        The next scheduled US, e.g. ``shock (acquisition trial 5) in 00:12``; the
        experimenter sees a shock coming.
    """

    phase: str = ""
    what: str = ""
    event: int = 0
    events: int = 0
    trial: int = 0
    trials: int = 0
    pulses: int = 0
    shocks: int = 0
    time_left: float = 0.0
    note: str = ""
    scanner: bool = False
    last_rating: str = ""
    missed_ratings: int = 0
    ratings: int = 0
    next_us: str = ""


class Console(typing.Protocol):
    """Where the run loop reports progress."""

    def start(self, title: str) -> None:
        """The session starts."""
        ...

    def update(self, status: Status) -> None:
        """Show the current status."""
        ...

    def message(self, text: str) -> None:
        """Show a one-line message (warning, pause, end)."""
        ...

    def stop(self) -> None:
        """The session ended; release the terminal. Safe to call more than once."""
        ...


class PlainConsole:
    """Prints messages to a stream, one line each; status updates are not printed.

    Parameters
    ----------
    stream : file, optional
        Defaults to ``sys.stderr``.
    """

    def __init__(self, stream: typing.TextIO | None = None) -> None:
        self.stream = stream or sys.stderr

    def start(self, title: str) -> None:
        """Print the title."""
        self.message(title)

    def update(self, status: Status) -> None:
        """Not shown: a non-terminal stream gets no live panel."""

    def message(self, text: str) -> None:
        """Print one line."""
        print(f"pavlov: {text}", file=self.stream, flush=True)

    def stop(self) -> None:
        """Nothing to release."""


@dataclass
class RecordingConsole:
    """Keeps everything it is told (for tests)."""

    title: str = ""
    statuses: list[Status] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    stopped: bool = False

    def start(self, title: str) -> None:
        """Keep the title."""
        self.title = title

    def update(self, status: Status) -> None:
        """Keep the status."""
        self.statuses.append(status)

    def message(self, text: str) -> None:
        """Keep the message."""
        self.messages.append(text)

    def stop(self) -> None:
        """Mark stopped."""
        self.stopped = True


class RichConsole:
    """A live ``rich`` panel on the terminal, redrawn at most once a second.

    Parameters
    ----------
    stream : file, optional
        Terminal stream; defaults to ``sys.stderr``.
    """

    def __init__(self, stream: typing.TextIO | None = None) -> None:
        from rich.console import Console as _RichConsole

        self._console = _RichConsole(file=stream or sys.stderr)
        self._live = None
        self._title = ""
        self._status = Status()
        self._drawn_at = 0.0

    def start(self, title: str) -> None:
        """Start the live panel."""
        from rich.live import Live

        self._title = title
        # No refresh thread: the panel is redrawn from update(), at most once a second and
        # only with news. Each redraw holds the GIL for ~3 ms; rich's own 4-Hz refresh cost
        # the run loop ~8 % more CPU per frame (benchmarks/run_loop.py).
        self._live = Live(
            self._render(), console=self._console, auto_refresh=False, transient=False
        )
        self._live.start(refresh=True)
        self._drawn_at = time.monotonic()

    def update(self, status: Status) -> None:
        """Show a new status (redrawn at once when the event changes, else once a second)."""
        previous, self._status = self._status, status
        now = time.monotonic()
        # A new event (or phase) is news the experimenter must see now: the panel showed
        # "phase -" through a whole instruction screen when its first status was throttled.
        news = (status.phase, status.event) != (previous.phase, previous.event)
        if self._live is not None and (news or now - self._drawn_at >= 1.0):
            self._drawn_at = now
            self._live.update(self._render(), refresh=True)

    def message(self, text: str) -> None:
        """Print a line above the panel."""
        self._console.print(f"pavlov: {text}", markup=False, highlight=False)

    def stop(self) -> None:
        """Stop the live panel."""
        if self._live is not None:
            live, self._live = self._live, None
            live.update(self._render(), refresh=True)
            live.stop()

    def _render(self):
        from rich.panel import Panel
        from rich.text import Text

        # Plain text in a panel, not a rich Table: a redraw costs ~0.35 ms instead of
        # ~1.7 ms of the frame loop's interpreter time.
        text = Text()
        rows = status_rows(self._status)
        for i, (label, value) in enumerate(rows):
            text.append(f"{label:<10}", style="bold")
            style = "bold red" if label == "next US" and value.startswith("shock") else None
            text.append(value, style=style)
            text.append("\n" if i < len(rows) - 1 else "")
        return Panel(text, title=self._title or "pavlov", expand=False)


def status_rows(s: Status) -> list[tuple[str, str]]:
    """The console panel's (label, value) lines for a status."""
    rows = [
        ("phase", s.phase or "-"),
        ("now", s.what or "-"),
        ("event", f"{s.event}/{s.events}"),
        ("trial", f"{s.trial}/{s.trials}"),
    ]
    if s.scanner:
        rows.append(("pulses", str(s.pulses)))
    rows.append(("USs", str(s.shocks)))
    if s.next_us:
        rows.append(("next US", s.next_us))
    if s.ratings:
        rows.append(
            ("rating", f"last {s.last_rating or '-'}; missed {s.missed_ratings}/{s.ratings}")
        )
    rows.append(("time left", format_clock(s.time_left)))
    if s.note:
        rows.append(("note", s.note))
    return rows


def make_console(stream: typing.TextIO | None = None, quiet: bool = False) -> Console:
    """A :class:`RichConsole` on a terminal, else a :class:`PlainConsole`."""
    stream = stream or sys.stderr
    if not quiet and getattr(stream, "isatty", lambda: False)():
        return RichConsole(stream)
    return PlainConsole(stream)
