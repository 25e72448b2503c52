"""A picture of one participant's session: ``pavlov schedule FILE -p ID --plot OUT``.

Everything here is a pure function of a schedule (and the protocol it came from): no files,
no clock. :func:`timeline` turns the schedule into :class:`Mark` s, one per thing drawn;
:func:`timeline_figure` draws them with matplotlib (PNG and SVG), and :func:`timeline_html`
wraps the same drawing in a self-contained page where hovering a mark tells what it is
(role, stimulus, onset, ITI). Both pictures come from the same marks, so they cannot
disagree.

Lanes, top to bottom: ``US`` (delivered USs: after reinforced trials and unsignalled ones),
``probes`` (startle probes, in sessions that have them: a probe in a CS in its role's colour,
a probe alone in grey), ``CS`` (every trial, coloured by CS role; reinforced trials drawn with
a black edge; generalisation stimuli in steps from the CS+ colour to the CS− colour, in
continuum order), ``rating`` (online rating windows and post-phase ratings), ``questions``
(questionnaire items, in sessions that have them, named by their id), ``screens``
(instructions, waits, rests, scripts, labelled with their length) and, in a scanner session,
``scanner`` (one tick per volume, the discarded dummy volumes before 0 in grey). Phases are
shaded bands named above the plot; the title gives the planned total duration.
"""

from __future__ import annotations

import html
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass

from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from pavlov.protocols.events import Event, Schedule
from pavlov.protocols.kinds.questionnaire import QuestionnaireItem, item_of
from pavlov.protocols.model import Protocol

__all__ = [
    "FORMATS",
    "LANES",
    "Mark",
    "Timeline",
    "render",
    "timeline",
    "timeline_figure",
    "timeline_html",
]

#: Output formats of :func:`render`, by file extension.
FORMATS = ("png", "svg", "html")

#: Lanes of the picture, top to bottom (the probes lane only in sessions with startle
#: probes, the questions lane only in sessions with questionnaires, the scanner lane only in
#: scanner sessions).
LANES = ("US", "probes", "CS", "rating", "questions", "screens", "scanner")
#: Lanes drawn only when a mark is in them.
OPTIONAL_LANES = ("probes", "questions")
#: A probe alone (in an ITI or a startle_habituation phase); a probe in a CS takes the colour
#: of the CS's role.
PROBE_COLOUR = "#555555"
#: Questionnaire items (an item about a CS, e.g. SAM valence, takes the role's colour).
QUESTION_COLOUR = "#7F7FBF"

#: Colours of the CS roles: reinforceable roles in warm colours, the others in cool ones,
#: in the order the roles first appear (colour-blind-safe Okabe–Ito palette).
WARM = ("#D55E00", "#E69F00", "#CC79A7", "#F0E442")
COOL = ("#0072B2", "#56B4E9", "#009E73", "#999999")
#: The middle of a generalisation continuum, between the CS+ and the CS− colours.
GS_MIDDLE = "#B0B0B0"
US_COLOUR = "#000000"
SCREEN_COLOUR = "#BBBBBB"
BAND_COLOURS = ("#F2F2F2", "#FFFFFF")

#: Resolution of the PNG picture (dots per inch).
DPI = 150


@dataclass(frozen=True)
class Mark:
    """One thing drawn on the timeline.

    Attributes
    ----------
    id : str
        Unique within the picture: ``trial-N``, ``us-N``, ``rating-N``, ``question-N``,
        ``probe-N``, ``screen-N`` (N counts from 1 in session order); the SVG element and
        the HTML hover use it.
    lane : str
        One of :data:`LANES`.
    start, duration : float
        Seconds from session start.
    colour : str
        Fill colour.
    info : Mapping[str, str]
        What hovering the mark tells, in order (kind, phase, role, stimulus, onset, ITI...).
    edge : bool
        Drawn with a black edge (a reinforced trial).
    label : str or None
        Text written on the mark when it fits (a wait's length, a questionnaire item's id).
    """

    id: str
    lane: str
    start: float
    duration: float
    colour: str
    info: Mapping[str, str]
    edge: bool = False
    label: str | None = None


@dataclass(frozen=True)
class Timeline:
    """Everything the picture shows, as data.

    Attributes
    ----------
    title, subtitle : str
        The study, and who/which session/which cell with the total duration.
    duration : float
        Planned total duration, seconds.
    phases : tuple of (str, float, float)
        Phase name, start and end, in session order.
    marks : tuple of Mark
        Every mark, in session order.
    roles : Mapping[str, str]
        CS role → colour, in the order the roles appear.
    volumes : tuple of float
        Onset of every scanner volume (dummy volumes negative); empty outside the scanner.
    tr : float or None
        Repetition time of the scanner session.
    """

    title: str
    subtitle: str
    duration: float
    phases: tuple[tuple[str, float, float], ...]
    marks: tuple[Mark, ...]
    roles: Mapping[str, str]
    volumes: tuple[float, ...] = ()
    tr: float | None = None

    def lane_marks(self, lane: str) -> tuple[Mark, ...]:
        """The marks of one lane."""
        return tuple(m for m in self.marks if m.lane == lane)

    @property
    def lanes(self) -> tuple[str, ...]:
        """The lanes drawn, top to bottom."""
        used = {m.lane for m in self.marks}
        return tuple(
            lane
            for lane in LANES
            if (lane != "scanner" or self.volumes) and (lane not in OPTIONAL_LANES or lane in used)
        )


def timeline(schedule: Schedule, protocol: Protocol) -> Timeline:
    """The marks of a session's picture.

    Parameters
    ----------
    schedule : Schedule
        One participant's session, from :func:`pavlov.protocols.schedule.build_schedule`.
    protocol : Protocol
        The protocol it was built from (for online rating windows and the scanner's TR).

    Returns
    -------
    Timeline
    """
    roles = _role_colours(schedule.events, protocol.cs_roles)
    marks: list[Mark] = []
    counts = dict.fromkeys(("trial", "us", "rating", "question", "screen", "probe"), 0)

    def add(prefix: str, **fields) -> None:
        counts[prefix] += 1
        marks.append(Mark(id=f"{prefix}-{counts[prefix]}", **fields))

    for event in schedule.events:
        common = {"phase": event.phase, "onset": _seconds(event.onset)}
        if event.kind == "trial":
            outcome = "reinforced" if event.reinforced else "unreinforced"
            add(
                "trial",
                lane="CS",
                start=event.onset,
                duration=event.duration,
                colour=_colour(roles, event),
                edge=event.reinforced,
                info={
                    "trial": f"{event.index} of {event.phase}",
                    **common,
                    "role": f"{event.cs} ({outcome})",
                    "stimulus": event.stimulus or "n/a",
                    "CS": _seconds(event.duration),
                    **_trace(event),
                    "ITI": _seconds(event.iti),
                },
            )
            if event.reinforced and event.us_onset is not None:
                add(
                    "us",
                    lane="US",
                    start=event.onset + event.us_onset,
                    duration=event.us_duration or 0.0,
                    colour=US_COLOUR,
                    info={
                        "US": event.us or "US",
                        "phase": event.phase,
                        "onset": _seconds(event.onset + event.us_onset),
                        "after": f"{event.cs} trial {event.index}",
                    },
                )
            window = _online_rating(protocol, event)
            if window is not None:
                onset, length = window
                add(
                    "rating",
                    lane="rating",
                    start=event.onset + onset,
                    duration=length,
                    colour=_colour(roles, event),
                    info={
                        "rating": f"online, {event.cs} trial {event.index}",
                        "phase": event.phase,
                        "onset": _seconds(event.onset + onset),
                        "window": _seconds(length),
                    },
                )
        elif event.kind == "us":
            add(
                "us",
                lane="US",
                start=event.onset,
                duration=event.duration,
                colour=US_COLOUR,
                info={
                    "US": f"{event.us or 'US'} (unsignalled, {event.index} of {event.phase})",
                    **common,
                    "ITI": _seconds(event.iti),
                },
            )
        elif event.kind == "probe":
            continue  # drawn with the other probes, below
        elif event.kind == "questionnaire":
            item = _item(protocol, event)
            add(
                "question",
                lane="questions",
                start=event.onset,
                duration=event.duration,
                colour=roles.get(event.cs or "", QUESTION_COLOUR),
                label=event.item,
                info={
                    "question": f"{event.item} ({item.form.replace('_', ' ')})",
                    "text": item.text,
                    **common,
                    **({"about": f"{event.cs} ({event.stimulus})"} if event.cs else {}),
                    **_answers(item, event),
                    "window": _seconds(event.duration),
                },
            )
        elif event.kind == "rating":
            add(
                "rating",
                lane="rating",
                start=event.onset,
                duration=event.duration,
                colour=_colour(roles, event),
                info={
                    "rating": f"{event.cs} ({event.stimulus})",
                    **common,
                    "window": _seconds(event.duration),
                },
            )
        else:  # instructions, wait, rest, script: screens with a length
            add(
                "screen",
                lane="screens",
                start=event.onset,
                duration=event.duration,
                colour=SCREEN_COLOUR,
                label=f"{event.kind} {_seconds(event.duration)}" if event.duration else None,
                info={event.kind: _seconds(event.duration), **common},
            )
    for probe in schedule.probes:
        where = f"{probe.cs} trial {probe.trial}" if probe.trial is not None else "alone (ITI)"
        add(
            "probe",
            lane="probes",
            start=probe.onset,
            duration=probe.duration,
            colour=roles.get(probe.cs or "", PROBE_COLOUR)
            if probe.trial is not None
            else PROBE_COLOUR,
            info={
                "startle probe": f"{probe.number} of {probe.phase}",
                "phase": probe.phase,
                "onset": _seconds(probe.onset),
                "in": where,
            },
        )
    marks.sort(key=lambda m: m.start)
    tr, volumes = _volumes(schedule, protocol)
    total = schedule.duration
    cell = schedule.cell
    subtitle = (
        f"participant {schedule.participant}, session {schedule.session}, counterbalancing "
        f"cell {cell.index + 1} of {cell.n_cells}, seed {schedule.seed}; "
        f"total {_clock(total)} ({len(schedule.trials)} trials)"
    )
    return Timeline(
        title=schedule.study,
        subtitle=subtitle,
        duration=total,
        phases=_phase_spans(schedule),
        marks=tuple(marks),
        roles=roles,
        volumes=volumes,
        tr=tr,
    )


def _role_colours(events, order: tuple[str, ...]) -> dict[str, str]:
    """CS role → colour: CS+ roles warm, CS− roles cool, in the order the roles appear;
    generalisation stimuli ``GSk`` a step of their own between the first CS+ colour and the
    first CS− colour, so the continuum reads in order and no GS shares a CS's colour."""
    used = {e.cs for e in events if e.cs is not None}
    roles = [r for r in order if r in used] + sorted(used - set(order))
    warm = iter(WARM * len(roles))
    cool = iter(COOL * len(roles))
    colours = {r: next(warm) if r.startswith("CS+") else next(cool) for r in roles if not _is_gs(r)}
    steps = sum(1 for r in order if _is_gs(r)) + 1  # GS1..GSn: n + 1 steps from CS+ to CS−
    for role in roles:
        if _is_gs(role):
            # A diverging scale through grey: the steps near the CS+ are tinted like it,
            # those near the CS− like it, and the middle ones differ from both ends.
            share = int(role[2:]) / steps
            if share <= 0.5:
                colours[role] = _blend(WARM[0], GS_MIDDLE, share * 2)
            else:
                colours[role] = _blend(GS_MIDDLE, COOL[0], share * 2 - 1)
    return {r: colours[r] for r in roles}


def _is_gs(role: str) -> bool:
    return role.startswith("GS") and role[2:].isdigit()


def _blend(a: str, b: str, share: float) -> str:
    """The colour ``share`` of the way from ``a`` to ``b`` (``#rrggbb``, linear in RGB)."""
    one, two = (tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in (a, b))
    return "#" + "".join(f"{round(x + (y - x) * share):02X}" for x, y in zip(one, two))


def _answers(item: QuestionnaireItem, event: Event) -> dict[str, str]:
    """What an item offers, for the hover text: its texts, or its pictures left to right."""
    if event.pictures:
        shown = (f"{role} ({picture})" for role, picture in zip(event.choices, event.pictures))
        return {"pictures": ", ".join(shown)}
    return {"choices": " / ".join(item.choices)} if item.choices else {}


def _item(protocol: Protocol, event: Event) -> QuestionnaireItem:
    """The questionnaire item a ``questionnaire`` event asks."""
    return item_of(protocol, event)


def _colour(roles: Mapping[str, str], event: Event) -> str:
    """The colour of an event's CS role (trials and ratings always have one)."""
    return roles.get(event.cs or "", SCREEN_COLOUR)


def _online_rating(protocol: Protocol, event: Event) -> tuple[float, float] | None:
    """Onset (after CS onset) and window of a trial's online rating, if it has one."""
    if not event.online_rating:
        return None
    rating = protocol.phases[event.phase].rating
    return (rating.onset, rating.window) if rating is not None else None


def _volumes(schedule: Schedule, protocol: Protocol) -> tuple[float | None, tuple[float, ...]]:
    """The TR and every volume's onset (dummies before 0) of a scanner session."""
    scanner = protocol.scanner
    if scanner is None or not protocol.session(schedule.session).scanner:
        return None, ()
    n = int(schedule.duration // scanner.tr) + 1
    onsets = [round(k * scanner.tr, 3) for k in range(-scanner.dummy_volumes, n)]
    return scanner.tr, tuple(onsets)


def _trace(event: Event) -> dict[str, str]:
    # Trace conditioning: the gap between CS offset and the US time, for the hover text.
    if event.us_onset is None or event.us_onset <= event.duration + 1e-9:
        return {}
    return {"trace": _seconds(event.us_onset - event.duration)}


def _phase_spans(schedule: Schedule) -> tuple[tuple[str, float, float], ...]:
    # A phase runs from the end of the one before (its lead-in included) to the end of its
    # last event's ITI.
    spans: dict[str, list[float]] = {}
    previous_end = 0.0
    for event in schedule.events:
        end = event.onset + event.span + event.iti
        spans.setdefault(event.phase, [previous_end, end])[1] = end
        previous_end = end
    return tuple((name, start, end) for name, (start, end) in spans.items())


def _seconds(value: float) -> str:
    """``12 s``, ``4.5 s``, ``1234.567 s``: at most millisecond precision, no trailing zeros."""
    return f"{value:.3f}".rstrip("0").rstrip(".") + " s"


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)} min {seconds % 60:04.1f} s"


def timeline_figure(line: Timeline) -> Figure:
    """Draw a timeline with matplotlib.

    Every mark is its own artist whose ``gid`` is the mark's id (so the SVG has an element
    per mark); scanner volumes are one artist with gid ``volumes``.

    Parameters
    ----------
    line : Timeline
        From :func:`timeline`.

    Returns
    -------
    matplotlib.figure.Figure
        Drawn without pyplot (no global state; nothing is shown).
    """
    lanes = line.lanes
    y = {lane: len(lanes) - 1 - i for i, lane in enumerate(lanes)}
    figure = Figure(figsize=(12, 1.5 + 0.55 * len(lanes)), layout="constrained")
    ax = figure.add_subplot()
    minutes = 1 / 60
    levels = _label_levels(line)
    for i, (name, start, end) in enumerate(line.phases):
        ax.axvspan(
            start * minutes, end * minutes, color=BAND_COLOURS[i % 2], zorder=0, gid=f"phase-{i}"
        )
        ax.annotate(
            name,
            ((start + end) / 2 * minutes, 1.0),
            xycoords=ax.get_xaxis_transform(),
            xytext=(0, 2 + 10 * levels[i]),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=8,
        )
        ax.axvline(start * minutes, color="#888888", lw=0.5, zorder=1)
    for mark in line.marks:
        height = 0.6 if mark.lane in ("CS", "screens") else 0.45
        # The shortest marks (a 2-ms US) still need a visible width: at least 1 s.
        width = max(mark.duration, 1.0) * minutes
        ax.add_patch(
            Rectangle(
                (mark.start * minutes, y[mark.lane] - height / 2),
                width,
                height,
                facecolor=mark.colour,
                edgecolor="black" if mark.edge else "none",
                linewidth=1.0,
                zorder=3,
                gid=mark.id,
            )
        )
        if mark.label and _fits(mark, line):
            ax.text(
                (mark.start + mark.duration / 2) * minutes,
                y[mark.lane],
                mark.label,
                ha="center",
                va="center",
                fontsize=7,
                zorder=4,
            )
    if line.volumes:
        onsets = [t * minutes for t in line.volumes]
        colours = ["#AAAAAA" if t < 0 else "#444444" for t in line.volumes]
        lane = y["scanner"]
        ax.vlines(onsets, lane - 0.25, lane + 0.25, colors=colours, lw=0.4, gid="volumes")
    ax.axvline(line.duration * minutes, color="black", lw=1.0, zorder=2)
    ax.set_yticks(range(len(lanes)), labels=list(reversed(_lane_labels(line))))
    ax.set_ylim(-0.6, len(lanes) - 0.4)
    start = min([0.0, *line.volumes]) * minutes
    ax.set_xlim(start, line.duration * minutes * 1.01 + 1e-9)
    ax.set_xlabel("minutes from session start")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="y", length=0)
    figure.suptitle(f"{line.title}\n{line.subtitle}", fontsize=9, x=0.01, ha="left")
    handles = [Patch(facecolor=c, label=role) for role, c in line.roles.items()]
    handles.append(Patch(facecolor="white", edgecolor="black", label="reinforced"))
    if "probes" in lanes:
        handles.append(Patch(facecolor=PROBE_COLOUR, label="probe alone"))
    ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        fontsize=8,
        frameon=False,
    )
    return figure


def _fits(mark: Mark, line: Timeline, width: float = 720.0, char: float = 4.3) -> bool:
    """Whether a mark's label (7-point text, ``char`` points a character) fits inside the
    mark on an axes ``width`` points wide: labels of short marks side by side would overlap."""
    return len(mark.label or "") * char <= mark.duration / max(line.duration, 1e-9) * width


def _label_levels(line: Timeline, width: float = 720.0, char: float = 4.8) -> list[int]:
    """Heights (0, 1, 2) of the phase names, so that the names of short phases side by side
    do not overlap; ``width`` is the axes' width and ``char`` a character's, in points."""
    levels: list[int] = []
    placed: list[tuple[float, float, int]] = []  # (left, right, level) in points
    scale = width / max(line.duration, 1e-9)
    for name, start, end in line.phases:
        centre, half = (start + end) / 2 * scale, len(name) * char / 2
        used = {lv for left, right, lv in placed if left < centre + half and centre - half < right}
        level = min(set(range(3)) - used or {0})
        levels.append(level)
        placed.append((centre - half - char, centre + half + char, level))
    return levels


def _lane_labels(line: Timeline) -> list[str]:
    labels = {
        "scanner": f"volumes (TR {line.tr:g} s)" if line.tr else "scanner",
        "probes": "startle probes",
        "questions": "questionnaire",
    }
    return [labels.get(lane, lane) for lane in line.lanes]


def _svg(figure: Figure) -> str:
    """The figure as SVG text: text kept as text, ids stable from run to run."""
    from matplotlib import rc_context

    buffer = io.StringIO()
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "pavlov"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def render(schedule: Schedule, protocol: Protocol, fmt: str) -> bytes:
    """The picture of a session as the bytes of a PNG, SVG or HTML file.

    Parameters
    ----------
    schedule, protocol
        As for :func:`timeline`.
    fmt : str
        One of :data:`FORMATS`.

    Returns
    -------
    bytes
    """
    line = timeline(schedule, protocol)
    if fmt == "html":
        return timeline_html(line).encode("utf-8")
    figure = timeline_figure(line)
    if fmt == "svg":
        return _svg(figure).encode("utf-8")
    if fmt != "png":
        raise ValueError(f"fmt: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def timeline_html(line: Timeline) -> str:
    """A self-contained HTML page of the timeline: inline SVG, inline style and script.

    Hovering (or focusing) a mark shows what :attr:`Mark.info` says about it. The page loads
    nothing from anywhere: no network, no other file. When its script has run, the element
    ``#status`` says how many marks answer hovering and ``<body data-ready>`` holds that
    number.

    Parameters
    ----------
    line : Timeline
        From :func:`timeline`.

    Returns
    -------
    str
    """
    svg = _svg(timeline_figure(line))
    svg = svg[svg.index("<svg") :]
    # The RDF metadata block names its vocabularies by URL; the page needs none of it.
    start, end = svg.find("<metadata>"), svg.find("</metadata>")
    if start != -1 and end != -1:
        svg = svg[:start] + svg[end + len("</metadata>") :]
    info = {m.id: m.info for m in line.marks}
    data = json.dumps(info, ensure_ascii=False).replace("</", "<\\/")
    rows = "\n".join(
        f"<tr><td>{html.escape(name)}</td><td>{_seconds(round(start, 3))}</td>"
        f"<td>{_seconds(round(end - start, 3))}</td>"
        f"<td>{sum(1 for m in line.marks if m.info.get('phase') == name and m.id.startswith('trial-'))}</td></tr>"
        for name, start, end in line.phases
    )
    return PAGE.format(
        title=html.escape(line.title),
        subtitle=html.escape(line.subtitle),
        svg=svg,
        rows=rows,
        data=data,
        script=SCRIPT,
        style=STYLE,
    )


STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; margin-bottom: 0.2em; }
#figure svg { max-width: 100%; height: auto; }
#figure [data-mark] { cursor: pointer; }
#figure [data-mark]:hover, #figure [data-mark]:focus { opacity: 0.6; outline: none; }
#tip { position: fixed; pointer-events: none; background: #fff; border: 1px solid #444;
       padding: 0.4em 0.6em; font-size: 0.85em; box-shadow: 2px 2px 4px #0003; }
#tip dt { font-weight: bold; float: left; clear: left; margin-right: 0.5em; }
#tip dd { margin: 0; }
table { border-collapse: collapse; font-size: 0.9em; }
td, th { border-bottom: 1px solid #ddd; padding: 0.2em 0.8em; text-align: left; }
"""

SCRIPT = """
(function () {
  "use strict";
  var info = JSON.parse(document.getElementById("marks").textContent);
  var tip = document.getElementById("tip");
  function show(id, x, y) {
    var list = document.createElement("dl");
    Object.keys(info[id]).forEach(function (key) {
      var term = document.createElement("dt");
      var value = document.createElement("dd");
      term.textContent = key;
      value.textContent = info[id][key];
      list.appendChild(term);
      list.appendChild(value);
    });
    tip.replaceChildren(list);
    tip.style.left = (x + 14) + "px";
    tip.style.top = (y + 14) + "px";
    tip.hidden = false;
  }
  var ready = 0;
  Object.keys(info).forEach(function (id) {
    var node = document.getElementById(id);
    if (!node) { return; }
    node.setAttribute("data-mark", id);
    node.setAttribute("tabindex", "0");
    node.addEventListener("mousemove", function (e) { show(id, e.clientX, e.clientY); });
    node.addEventListener("focus", function () {
      var box = node.getBoundingClientRect();
      show(id, box.right, box.top);
    });
    node.addEventListener("mouseleave", function () { tip.hidden = true; });
    node.addEventListener("blur", function () { tip.hidden = true; });
    ready += 1;
  });
  document.getElementById("status").textContent =
    "Hover over (or tab to) any of the " + ready + " marks to see what it is.";
  document.body.setAttribute("data-ready", String(ready));
})();
"""

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}: session timeline</title>
<style>{style}</style>
</head>
<body>
<h1>{title}</h1>
<p>{subtitle}</p>
<p id="status">(the page's script has not run: hovering shows nothing)</p>
<div id="figure">{svg}</div>
<div id="tip" role="tooltip" hidden></div>
<h2>Phases</h2>
<table>
<thead><tr><th>phase</th><th>starts at</th><th>lasts</th><th>trials</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
<script type="application/json" id="marks">{data}</script>
<script>{script}</script>
</body>
</html>
"""
