"""Figures: learning curves with phase dividers, group panels and differential curves.

Built on :class:`matplotlib.figure.Figure` directly (no pyplot state), so they can be made
in any thread or process without a display. Phases are laid side by side on one x axis in
the order they occurred, with a dashed divider and the phase name above each (staggered
or slanted when neighbours would overlap). A solid divider marks a new session (day),
named at the top; :func:`phase_marks` adds what happened between the curves' trials
(unsignalled reinstatement USs, reminder trials). :func:`save_figure` writes PNG (at a
chosen dpi) and vector SVG and PDF.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

#: Colours of the curves (colour-blind safe: Okabe–Ito vermillion, blue, black).
COLOURS = {"CS+": "#D55E00", "CS-": "#0072B2", "diff": "#000000"}

#: Colours of CS roles beyond CS+/CS- (Okabe–Ito: vermillion, orange, reddish purple, sky
#: blue, bluish green, blue), in order of appearance; their differences are drawn dashed.
ROLE_COLOURS = ("#D55E00", "#E69F00", "#CC79A7", "#56B4E9", "#009E73", "#0072B2")

#: Gap between phases on the shared x axis, in trial/block units.
PHASE_GAP = 1.0


def _layout(curves: pd.DataFrame, x: str) -> tuple[dict[tuple[str, int], float], list[tuple]]:
    """Map (phase, x value) → position on the shared axis; return the phase spans."""
    phases = curves.drop_duplicates("phase").sort_values("phase_order")["phase"].tolist()
    positions: dict[tuple[str, int], float] = {}
    spans = []
    start = 0.0
    for phase in phases:
        values = sorted(pd.unique(curves.loc[curves["phase"] == phase, x]))
        for i, value in enumerate(values):
            positions[(phase, int(value))] = start + i
        end = start + max(len(values) - 1, 0)
        spans.append((phase, start, end))
        start = end + 1 + PHASE_GAP
    return positions, spans


#: Colour of the marks between phases (reinstatement USs, reminders, session dividers).
MARK_COLOUR = "#CC79A7"


def phase_marks(trials: pd.DataFrame, protocols: Sequence = (), protocol=None) -> list[tuple]:
    """What to mark on the curves besides the trials themselves.

    Parameters
    ----------
    trials : pandas.DataFrame
        The tidy trial frame (``phase``, ``phase_type``, ``session``, ``phase_order``).
    protocols : sequence of Protocol or None
        The protocols the runs recorded (None entries are skipped).
    protocol : Protocol, optional
        A protocol given on the command line (used first).

    Returns
    -------
    list of (kind, phase, label)
        ``session``: a new session (day) starts with ``phase``; ``us``: unsignalled USs
        (reinstatement) were given just before ``phase``; ``reminder``: ``phase`` is a
        reminder (reactivation) of the CS.
    """
    order = trials.drop_duplicates("phase").sort_values("phase_order")
    phases = order["phase"].tolist()
    marks: list[tuple] = []
    if "session" in order.columns:
        previous = None
        for phase, session in zip(order["phase"], order["session"].astype(str), strict=True):
            if previous is not None and session != previous and session:
                marks.append(("session", phase, session))
            previous = session
        if marks:
            marks.insert(0, ("first_session", phases[0], str(order["session"].iloc[0])))
    if "phase_type" in order.columns:
        for phase, kind in zip(order["phase"], order["phase_type"], strict=True):
            if kind == "reactivation":
                marks.append(("reminder", phase, "reminder"))
    seen: set[str] = set()
    for source in [protocol, *protocols]:
        if source is None:
            continue
        for session in source.sessions:
            names = list(session.phases)
            for i, name in enumerate(names):
                spec = source.phases.get(name)
                if spec is None or spec.type != "reinstatement" or name in seen:
                    continue
                after = next((n for n in names[i + 1 :] if n in phases), None)
                if after is not None:
                    seen.add(name)
                    n = getattr(spec.spec, "us_count", 0)
                    marks.append(("us", after, f"{n} US" if n else "US"))
    return marks


def _label_phases(ax, spans) -> list:
    """Phase names above the axis; staggered, then slanted, if neighbours would overlap."""
    labels = [
        ax.annotate(
            phase,
            xy=((start + end) / 2, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=8,
        )
        for phase, start, end in spans
    ]
    ax._pavlov_phase_labels = labels  # laid out by _untangle once the figure has its size
    return labels


def _untangle(fig: Figure) -> None:
    """Stagger, then slant, phase names that overlap once the layout is known."""
    fig.draw_without_rendering()  # constrained layout sets the axes' final widths
    for ax in fig.axes:
        labels = getattr(ax, "_pavlov_phase_labels", [])
        if not _overlapping(ax, labels):
            continue
        for i, label in enumerate(labels):
            label.set_position((0, 3 + 11 * (i % 2)))
        if _overlapping(ax, labels):
            for label in labels:
                label.set_position((0, 3))
                label.set_rotation(30)
                label.set_ha("left")
                label.set_rotation_mode("anchor")
        if ax.get_title():
            ax.set_title(ax.get_title(), pad=30)


def _overlapping(ax, labels) -> bool:
    renderer = ax.figure.canvas.get_renderer()
    boxes = [label.get_window_extent(renderer) for label in labels]
    return any(a.x1 > b.x0 - 2 and a.overlaps(b) for a, b in itertools.pairwise(boxes))


def _draw_marks(ax, spans, marks, top: bool) -> None:
    starts = {phase: start for phase, start, _ in spans}
    first = [m for m in marks if m[0] == "first_session"]
    if first and spans and top:  # name the first session too once there are several
        ax.annotate(
            f" {first[0][2]}",
            xy=(spans[0][1] - (1 + PHASE_GAP) / 2, 0.98),
            xycoords=("data", "axes fraction"),
            ha="left",
            va="top",
            fontsize=7,
            color="0.15",
            fontweight="bold",
        )
    for kind, phase, label in marks:
        if phase not in starts:
            continue
        x = starts[phase] - (1 + PHASE_GAP) / 2
        if kind == "session":
            ax.axvline(x, color="0.15", linewidth=1.4)
            if top:
                ax.annotate(
                    f" {label}",
                    xy=(x, 0.98),
                    xycoords=("data", "axes fraction"),
                    ha="left",
                    va="top",
                    fontsize=7,
                    color="0.15",
                    fontweight="bold",
                )
        elif kind == "us":
            ax.plot(
                [x],
                [0.99],
                marker="v",
                markersize=7,
                color=MARK_COLOUR,
                clip_on=False,
                transform=ax.get_xaxis_transform(),
                zorder=5,
            )
            if top:
                ax.annotate(
                    f"{label} (reinstatement)",
                    xy=(x, 0.92),
                    xycoords=("data", "axes fraction"),
                    ha="center",
                    va="top",
                    fontsize=6,
                    color=MARK_COLOUR,
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.8},
                )
        elif kind == "reminder":
            middle = starts[phase]
            ax.plot(
                [middle],
                [0.9],
                marker="*",
                markersize=9,
                color=MARK_COLOUR,
                transform=ax.get_xaxis_transform(),
                zorder=5,
            )
            if top:
                ax.annotate(
                    label,
                    xy=(middle, 0.9),
                    xycoords=("data", "axes fraction"),
                    xytext=(6, 0),
                    textcoords="offset points",
                    va="center",
                    fontsize=6,
                    color=MARK_COLOUR,
                )


def _decorate(ax, spans, x_label: str, y_label: str, marks: Sequence = (), top=True) -> None:
    """Dividers, phase names and marks."""
    for i, (_, start, _) in enumerate(spans):
        if i:
            ax.axvline(start - (1 + PHASE_GAP) / 2, color="0.5", linestyle="--", linewidth=0.8)
    _label_phases(ax, spans)
    _draw_marks(ax, spans, marks, top)
    ticks = [p for _, s, e in spans for p in np.arange(s, e + 1)]
    labels = [str(int(t - s + 1)) for _, s, e in spans for t in np.arange(s, e + 1)]
    if len(ticks) > 40:  # keep labels legible on long sessions
        step = int(np.ceil(len(ticks) / 40))
        ticks, labels = ticks[::step], labels[::step]
    ax.set_xticks(ticks)
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.spines[["top", "right"]].set_visible(False)


def plot_curves(
    group: pd.DataFrame,
    response: str,
    participants: pd.DataFrame | None = None,
    marks: Sequence = (),
) -> Figure:
    """Group learning curves: one column per group; CS+/CS- (top) and CS+ − CS- (bottom).

    Parameters
    ----------
    group : pandas.DataFrame
        From :func:`pavlov.analysis.curves.group_curves`, by CS type or by role
        (``cs`` column: roles on top, each CS+ role's difference from CS− below). Bands
        are ``sem_within`` (Cousineau–Morey) when present, else ``sem``.
    response : str
        Y-axis label.
    participants : pandas.DataFrame, optional
        From :func:`~pavlov.analysis.curves.participant_curves`: individual differential
        curves drawn thinly behind the group mean.
    marks : sequence of (kind, phase, label)
        Session dividers, reinstatement USs and reminders (:func:`phase_marks`).

    Returns
    -------
    matplotlib.figure.Figure
    """
    x = "block" if "block" in group.columns else "trial"
    # by CS type (CS+, CS-, diff) or by CS role (roles on top, diff:<role> below)
    level = "cs_type" if "cs_type" in group.columns else "cs"
    labels = [str(v) for v in pd.unique(group[level])]
    if level == "cs_type":
        labels = ["CS+", "CS-", "diff"]
        colours = dict(COLOURS)
    else:
        roles = [v for v in labels if not v.startswith("diff:")]
        colours = {r: ROLE_COLOURS[i % len(ROLE_COLOURS)] for i, r in enumerate(roles)}
        colours.update({f"diff:{r}": c for r, c in colours.items()})
        colours.update({r: COLOURS["CS-"] for r in roles if not r.startswith("CS+")})
    # the Cousineau–Morey within-subject SEM where the curves carry it
    spread = "sem_within" if "sem_within" in group.columns else "sem"
    positions, spans = _layout(group, x)
    groups = list(pd.unique(group["group"]))
    # Room for the points and for each phase's name (8-pt text: ~0.075 inch a character).
    width = max(
        4.0,
        sum(max(0.18 * (e - s + 1 + PHASE_GAP), 0.08 * len(p) + 0.2) for p, s, e in spans),
    )
    fig = Figure(figsize=(min(width, 14) * len(groups), 6.0), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, len(groups), squeeze=False, sharex=True, sharey="row")
    for column, name in enumerate(groups):
        rows = group[group["group"] == name]
        top, bottom = axes[0, column], axes[1, column]
        panels = [(k, bottom if k.startswith("diff") else top) for k in labels]
        for kind, ax in panels:
            part = rows[rows[level] == kind]
            colour = colours[kind]
            style = "o--" if kind.startswith("diff:") else "o-"
            for phase, lines in part.groupby("phase", sort=False):
                xs = np.array([positions[(phase, int(v))] for v in lines[x]])
                mean = lines["mean"].to_numpy(dtype=float)
                sem = np.nan_to_num(lines[spread].to_numpy(dtype=float))
                label = kind if phase == part["phase"].iloc[0] else None
                ax.plot(xs, mean, style, color=colour, markersize=3, linewidth=1.2, label=label)
                ax.fill_between(xs, mean - sem, mean + sem, color=colour, alpha=0.2, linewidth=0)
        if participants is not None and level == "cs_type":
            mine = participants[
                (participants["group"] == name) & (participants["cs_type"] == "diff")
            ]
            # One artist for every participant's lines (NaN breaks them between participants
            # and phases): a thousand participants draw in milliseconds, not seconds.
            xs = np.array(
                [positions.get((p, int(v)), np.nan) for p, v in zip(mine["phase"], mine[x])]
            )
            ys = mine["value"].to_numpy(dtype=float)
            keys = list(zip(mine["participant"], mine["phase"]))
            breaks = np.flatnonzero([a != b for a, b in zip(keys[1:], keys[:-1])]) + 1
            if len(xs):
                bottom.plot(
                    np.insert(xs, breaks, np.nan),
                    np.insert(ys, breaks, np.nan),
                    color="0.6",
                    linewidth=0.4,
                    alpha=0.5,
                    zorder=0,
                )
        bottom.axhline(0, color="0.3", linewidth=0.6)
        title = name if name else "all participants"
        n = int(rows["n"].max()) if len(rows) else 0
        top.set_title(f"{title} (n = {n})", pad=16)
        _decorate(top, spans, "", f"{response} (mean ± within-subject SEM)", marks)
        _decorate(bottom, spans, f"{x} within phase", f"CS+ − CS− {response}", marks, top=False)
        top.legend(frameon=False, fontsize=8)
        if level == "cs":
            bottom.legend(frameon=False, fontsize=8)
    _untangle(fig)
    return fig


def save_figure(
    fig: Figure, stem: str | Path, dpi: int = 150, formats: Sequence[str] = ("png", "svg", "pdf")
) -> list[Path]:
    """Write ``fig`` as ``<stem>.png`` (at ``dpi``) and vector ``.svg`` and ``.pdf``,
    each atomically (temp file + rename) and readable as the umask allows.

    Returns
    -------
    list of Path
        The written files.
    """
    stem = Path(stem)
    written = []
    engine = fig.get_layout_engine()
    try:
        for suffix in (f".{f}" for f in formats):
            written.append(_save_one(fig, stem.with_suffix(suffix), dpi))
            # The first save laid the figure out; the others keep that layout rather than
            # solve it again (constrained layout was half of a figure's three saves).
            fig.set_layout_engine("none")
    finally:
        fig.set_layout_engine(engine)
    return written


def _save_one(fig: Figure, target: Path, dpi: int) -> Path:
    """Write one file of :func:`save_figure`."""
    from pavlov.analysis.report import umask_mode

    suffix = target.suffix
    handle, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=suffix)
    try:
        os.fchmod(handle, umask_mode())
        # A fixed hash salt makes SVG element ids, and so the file, reproducible.
        with os.fdopen(handle, "wb") as stream, rc_context({"svg.hashsalt": "pavlov"}):
            fig.savefig(stream, format=suffix[1:], dpi=dpi, metadata=_metadata(suffix))
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target


def _metadata(suffix: str) -> dict:
    # SVG embeds a date by default; leave it out so the same data give the same file.
    if suffix == ".svg":
        return {"Date": None}
    if suffix == ".pdf":
        return {"CreationDate": None, "ModDate": None}
    return {}


def plot_participant(participant: pd.DataFrame, response: str, label: str) -> Figure:
    """One participant's curves (CS+/CS- and their difference), from the rows of
    :func:`~pavlov.analysis.curves.participant_curves` for that participant."""
    rows = participant.rename(columns={"value": "mean"}).assign(sem=0.0, n=1, group=label)
    return plot_curves(rows, response)


def save_participant_figures(
    per: pd.DataFrame, response: str, folder: str | Path, workers: int | None = None
) -> list[Path]:
    """Write ``folder/sub-<id>_curves.png`` for every participant (PNG only: a thousand
    SVGs would be large); in forked processes, one share per CPU, when there are many."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ids = list(pd.unique(per["participant"]))
    if workers is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        workers = cpus if len(ids) >= 20 else 1
    jobs = [(per[per["participant"] == p], response, p, str(folder)) for p in ids]
    if workers <= 1:
        return [_participant_figure(job) for job in jobs]
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as pool:
        return list(pool.map(_participant_figure, jobs, chunksize=8))


def _participant_figure(job: tuple) -> Path:
    rows, response, participant, folder = job
    fig = plot_participant(rows, response, f"sub-{participant}")
    target = Path(folder) / f"sub-{participant}_curves.png"
    handle, temp = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".png")
    try:
        from pavlov.analysis.report import umask_mode

        os.fchmod(handle, umask_mode())  # readable by colleagues, as the umask allows
        with os.fdopen(handle, "wb") as stream:
            fig.savefig(stream, format="png", dpi=100)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target


#: Colour of inter-trial-interval (noise-alone) startle probes.
ITI_COLOUR = "#7F7F7F"


def plot_startle(group: pd.DataFrame, potentiation: pd.DataFrame) -> Figure:
    """Startle by CS role and ITI (top: T-score by block of probes, phases side by side)
    and potentiation per phase (bottom: CS+ − ITI, CS− − ITI, CS+ − CS−, mean ± SEM).

    Parameters
    ----------
    group : pandas.DataFrame
        From :func:`pavlov.analysis.startle.group_startle` (by block).
    potentiation : pandas.DataFrame
        From :func:`pavlov.analysis.startle.potentiation`.
    """
    fig = Figure(figsize=(8.0, 6.5), layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1)
    everyone = group[group["group"] == group["group"].iloc[0]] if len(group) else group
    positions, spans = _layout(everyone, "block")
    roles = list(pd.unique(everyone["cs"]))
    others = [c for c in ROLE_COLOURS if c not in COLOURS.values()]
    colours: dict[str, object] = {r: others[i % len(others)] for i, r in enumerate(roles)}
    colours.update({r: COLOURS["CS-"] for r in roles if r.startswith("CS-")})
    gs = [r for r in roles if r.startswith("GS")]
    colours.update(_continuum_colours(gs))
    colours.update({"CS+": COLOURS["CS+"], "ITI": ITI_COLOUR})
    for role in roles:
        part = everyone[everyone["cs"] == role]
        for i, (phase, lines) in enumerate(part.groupby("phase", sort=False)):
            xs = np.array([positions[(phase, int(v))] for v in lines["block"]])
            mean = lines["mean"].to_numpy(dtype=float)
            sem = np.nan_to_num(lines["sem_within"].to_numpy(dtype=float))
            style = "s--" if role == "ITI" else "o-"
            top.plot(xs, mean, style, color=colours[role], markersize=3,
                     label=role if i == 0 else None)  # fmt: skip
            top.fill_between(xs, mean - sem, mean + sem, color=colours[role], alpha=0.2, lw=0)
    _decorate(top, spans, "block of probes within phase", "startle (T, mean ± within-SEM)")
    top.legend(frameon=False, fontsize=8)
    measures = (
        ("potentiation_cs_plus", "CS+ − ITI", COLOURS["CS+"]),
        ("potentiation_cs_minus", "CS− − ITI", COLOURS["CS-"]),
        ("differential", "CS+ − CS−", COLOURS["diff"]),
    )
    phases = potentiation.drop_duplicates("phase").sort_values("phase_order")["phase"].tolist()
    width = 0.8 / len(measures)
    for k, (column, label, colour) in enumerate(measures):
        values = [potentiation.loc[potentiation["phase"] == p, column].dropna() for p in phases]
        means = [v.mean() if len(v) else np.nan for v in values]
        sems = [v.std() / np.sqrt(len(v)) if len(v) > 1 else 0.0 for v in values]
        xs = np.arange(len(phases)) + (k - 1) * width
        bottom.bar(xs, means, width, yerr=sems, color=colour, alpha=0.8, label=label)
    bottom.axhline(0, color="0.3", linewidth=0.6)
    bottom.set_xticks(np.arange(len(phases)), phases, fontsize=8)
    bottom.set_ylabel("potentiation (T, mean ± SEM)")
    bottom.legend(frameon=False, fontsize=8)
    return fig


def _continuum_colours(roles: Sequence[str]) -> dict[str, tuple]:
    """Colours of GS roles between the CS+ colour (GS1) and the CS− colour (GSn)."""
    from matplotlib.colors import to_rgb

    plus, minus = np.array(to_rgb(COLOURS["CS+"])), np.array(to_rgb(COLOURS["CS-"]))
    n = len(roles)
    return {r: tuple(plus + (minus - plus) * (i + 1) / (n + 1)) for i, r in enumerate(roles)}


def plot_gradient(gradient: pd.DataFrame, response: str) -> Figure:
    """Generalisation gradients: mean response by continuum position (CS+, GS1 ... GSn,
    CS−) with the within-subject 95 % CI, one line per phase, one panel per group.

    Parameters
    ----------
    gradient : pandas.DataFrame
        From :func:`pavlov.analysis.gradient.group_gradient`.
    response : str
        Y-axis label.
    """
    groups = list(pd.unique(gradient["group"]))
    fig = Figure(figsize=(4.5 * max(len(groups), 1), 4.0), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, max(len(groups), 1), squeeze=False, sharey=True)[0]
    ticks = gradient.drop_duplicates("position").sort_values("position")
    for ax, name in zip(axes, groups):
        rows = gradient[gradient["group"] == name]
        for i, (phase, line) in enumerate(rows.groupby("phase", sort=False)):
            line = line.sort_values("position")
            colour = ROLE_COLOURS[(i + 3) % len(ROLE_COLOURS)] if i else "#000000"
            xs = line["position"].to_numpy(dtype=float)
            mean = line["mean"].to_numpy(dtype=float)
            ax.plot(xs, mean, "o-", color=colour, markersize=4, label=phase)
            ax.fill_between(
                xs,
                line["ci_low"].fillna(line["mean"]).to_numpy(dtype=float),
                line["ci_high"].fillna(line["mean"]).to_numpy(dtype=float),
                color=colour,
                alpha=0.2,
                linewidth=0,
            )
        ax.set_xticks(ticks["position"].to_numpy(dtype=float), ticks["cs"].tolist(), fontsize=8)
        n = int(rows["n"].max()) if len(rows) else 0
        ax.set_title(f"{name or 'all participants'} (n = {n})")
        ax.set_xlabel("continuum position (CS+ … CS−)")
        ax.legend(frameon=False, fontsize=8)
    axes[0].set_ylabel(f"{response} (mean, within-subject 95 % CI)")
    return fig
