"""The analysis report: a self-contained HTML page whose methods section is generated.

:func:`describe_methods` turns the trial frame, the session sidecars, the protocol (when
given) and the analysis options into a reporting checklist (Lonsdorf et al. 2017; field.md
§3.3): participants and groups, trial counts and reinforcement per phase, timings, devices
and provenance, ratings, exclusions and analysis choices. :func:`render_report` lays that
out with the figures and result tables; :func:`write_text` writes files atomically.
"""

from __future__ import annotations

import html
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

Section = tuple[str, list[str]]


def umask_mode() -> int:
    """File mode a plain ``open()`` would give: 0o666 less the process umask.

    Atomic writes go through ``tempfile.mkstemp``, which makes files 0600; outputs are
    set to this mode so colleagues can read ``report.html`` as they read anything else.
    """
    try:  # read, not set-and-restore, where Linux allows (threads may be writing files)
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (temporary file in the same folder, fsync,
    rename), readable as the umask allows (:func:`umask_mode`)."""
    path = Path(path)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(handle, umask_mode())
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def write_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a frame as CSV atomically (no index, full float precision)."""
    return write_text(path, frame.to_csv(index=False, lineterminator="\n"))


def _range(values: pd.Series, unit: str = "s", digits: int = 2) -> str:
    values = pd.to_numeric(values, errors="coerce").dropna()
    if values.empty:
        return "not recorded"
    low, high = values.min(), values.max()
    if np.isclose(low, high):
        return f"{low:.{digits}f} {unit}"
    return f"{values.mean():.{digits}f} {unit} (range {low:.{digits}f}–{high:.{digits}f})"


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _count_text(counts: pd.Series) -> str:
    """'10' when every participant had the same count, else 'median 10 (8–10)'."""
    if counts.empty:
        return "0"
    if counts.min() == counts.max():
        return str(int(counts.iloc[0]))
    return f"median {counts.median():g} ({int(counts.min())}–{int(counts.max())})"


def describe_design(trials: pd.DataFrame) -> list[str]:
    """One line per phase, in order: trials per CS role, reinforcement, timings."""
    lines = []
    phases = trials.drop_duplicates("phase").sort_values("phase_order")
    for phase, kind in zip(phases["phase"], phases["phase_type"]):
        rows = trials[trials["phase"] == phase]
        parts = []
        for role, part in rows.groupby("cs", sort=True):
            per_person = part.groupby("participant").size()
            text = f"{role} {_count_text(per_person)}"
            reinforced = part.groupby("participant")["reinforced"].sum()
            if reinforced.sum():
                share = part["reinforced"].mean()
                text += f" ({_count_text(reinforced)} reinforced, {share:.0%})"
            parts.append(text)
        line = f"{phase} ({kind or 'type not given'}): " + ", ".join(parts)
        if rows["duration"].notna().any():
            line += f"; CS duration {_range(rows['duration'])}"
        if rows["us_onset"].notna().any():
            line += f"; CS–US interval {_range(rows['us_onset'])}"
        if rows["iti"].notna().any():
            line += f"; ITI {_range(rows['iti'])}"
        contexts = sorted(set(rows["context"]) - {""})
        if contexts:
            line += f"; context {', '.join(contexts)}"
        lines.append(line + ".")
    return lines


def _unique(sessions: pd.DataFrame, key: str) -> list[str]:
    if key not in sessions.columns:
        return []
    values = []
    for value in sessions[key].dropna():
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        if text not in values:
            values.append(text)
    return values


def _setting(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_setting(v)}" for k, v in value.items()) or "none"
    if isinstance(value, list | tuple):
        return ", ".join(map(_setting, value)) or "none"
    return str(value)


def _settings_table(sessions: pd.DataFrame, key: str) -> pd.DataFrame | None:
    """Dict-valued sidecar entries (``devices``, ``versions``) as one row per setting and
    one column per distinct record (with how many runs had it); None if not dicts."""
    if key not in sessions.columns:
        return None
    records = [v for v in sessions[key] if isinstance(v, dict)]
    if not records:
        return None
    distinct: list[dict] = []
    runs: list[int] = []
    for record in records:
        if record in distinct:
            runs[distinct.index(record)] += 1
        else:
            distinct.append(record)
            runs.append(1)
    names = list(dict.fromkeys(k for record in distinct for k in record))
    table = pd.DataFrame({"setting": [n.replace("_", " ") for n in names]})
    for i, (record, n) in enumerate(zip(distinct, runs, strict=True)):
        column = "value" if len(distinct) == 1 else f"record {i + 1} ({n} run{'s' * (n > 1)})"
        table[column] = [_setting(record[k]) if k in record else "" for k in names]
    return table


def report_title(sessions: pd.DataFrame, protocol=None, data: str | Path = "") -> str:
    """The report's title: the study's name (protocol or sidecars), else the data's name."""
    studies = [protocol.study] if protocol is not None else _unique(sessions, "study")
    if studies:
        return "pavlov analysis: " + "; ".join(studies)
    return f"pavlov analysis: {Path(data).name}"


def describe_provenance(sessions: pd.DataFrame) -> list[str | pd.DataFrame]:
    """Protocol files, versions, devices, timing quality and how sessions ended.

    Lines of text; the ``versions`` and ``devices`` records come as tables (DataFrames)
    after their label line, for :func:`render_report` to lay out.
    """
    if sessions.empty:
        return ["Imported trial table: no session logs, so no provenance or device records."]
    lines = [
        f"{len(sessions)} run log(s) from {sessions['participant'].nunique()} participant(s); "
        f"sessions: {', '.join(sorted(set(sessions['session']) - {''})) or 'one (unlabelled)'}."
    ]
    for key, label in (
        ("protocol_path", "Protocol file"),
        ("protocol_sha256", "Protocol SHA-256"),
        ("pavlov_version", "pavlov version"),
        ("versions", "Software versions"),
        ("devices", "Devices"),
        ("refresh_rate", "Display refresh rate (Hz)"),
    ):
        table = _settings_table(sessions, key)
        if table is not None:  # a record of settings: a table a reader can scan
            lines.extend([f"{label}:", table])
            continue
        values = _unique(sessions, key)
        if values:
            lines.append(f"{label}: {'; '.join(values)}.")
    if "measured_flip_rate" in sessions.columns:
        lines.append(f"Measured flip rate: {_range(sessions['measured_flip_rate'], 'Hz')}.")
    if "simulate" in sessions.columns:
        simulated = sessions["simulate"].map(lambda v: v is True)
        if simulated.any():
            speeds = ", ".join(_unique(sessions[simulated], "speed")) or "not recorded"
            lines.append(
                f"Simulated (rehearsal) runs: {int(simulated.sum())} of {len(sessions)} "
                f"(speed {speeds}): not data from participants."
            )
    if "shock_intensity_ma" in sessions.columns:
        lines.append(f"Shock intensity: {_range(sessions['shock_intensity_ma'], 'mA')}.")
    for key, label in (
        ("shocks_delivered", "Shock trains delivered"),
        ("shock_refusals", "Shock trains refused by the safety guard"),
    ):
        if key in sessions.columns:
            # shocks_delivered is a count; shock_refusals lists the refusals
            values = sessions[key].map(lambda v: len(v) if isinstance(v, list) else _float(v))
            if values.notna().any():
                lines.append(f"{label}: {int(values.sum(skipna=True))} in total over all runs.")
    if "dropped_frames" in sessions.columns:
        dropped = pd.to_numeric(sessions["dropped_frames"], errors="coerce")
        lines.append(f"Dropped frames: {int(dropped.sum(skipna=True))} in total over all runs.")
    if "end_reason" in sessions.columns:
        reasons = sessions["end_reason"].fillna("not recorded (session did not end cleanly)")
        counts = reasons.value_counts()
        lines.append("Run endings: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + ".")
    if "resumes" in sessions.columns:
        resumed = sessions["resumes"].map(lambda r: len(r) if isinstance(r, list) else 0)
        lines.append(f"Resumed runs: {int((resumed > 0).sum())}.")
    return lines


def describe_protocol(protocol) -> list[str]:
    """US and rating settings from a :class:`pavlov.protocols.model.Protocol`."""
    if protocol is None:
        return []
    lines = [f"Study '{protocol.study}', task '{protocol.task}', protocol seed {protocol.seed}."]
    for us in protocol.us.values():
        text = f"US '{us.name}': {us.kind}, {us.duration:g} s"
        if us.train is not None:
            train = us.train
            text += (
                f", train of {train.count} pulses of {train.pulse_width * 1000:g} ms every "
                f"{train.interval * 1000:g} ms"
            )
        lines.append(text + ".")
    for phase in protocol.phases.values():
        if phase.rating is not None:
            rating = phase.rating
            lines.append(
                f"Rating in {phase.name}: '{rating.question}', scale {rating.low}–{rating.high} "
                f"({rating.anchors[0]} – {rating.anchors[1]}), {rating.input}, "
                f"{rating.window:g} s window."
            )
    return lines


def describe_methods(
    trials: pd.DataFrame,
    *,
    sessions: pd.DataFrame | None = None,
    ratings: pd.DataFrame | None = None,
    protocol=None,
    options: Mapping[str, object] | None = None,
    counts: pd.DataFrame | None = None,
    protocol_sections: Sequence[Section] = (),
    extra: Sequence[Section] = (),
) -> list[Section]:
    """The reporting checklist as (heading, lines) sections.

    Parameters
    ----------
    trials : pandas.DataFrame
        Tidy trial frame.
    sessions : pandas.DataFrame, optional
        From :func:`pavlov.analysis.load.load_sessions`.
    ratings : pandas.DataFrame, optional
        From :func:`pavlov.analysis.load.load_ratings`.
    protocol : Protocol, optional
        The study's protocol, for US and rating details.
    options : mapping, optional
        The analysis options (name → value), listed verbatim.
    counts : pandas.DataFrame, optional
        From :func:`pavlov.analysis.exclusions.exclusion_counts`.
    protocol_sections : sequence of (heading, lines)
        Protocol descriptions built elsewhere (:func:`pavlov.analysis.provenance.protocol_sections`,
        from the run sidecars), placed where ``protocol``'s section goes.
    extra : sequence of (heading, lines)
        Further sections (e.g. the fMRI regressors), placed before the analysis options.
    """
    people = trials.drop_duplicates("participant")
    named = people["group"].where(people["group"] != "")  # "" = no group
    groups = named.dropna().value_counts().sort_index()
    sample = [f"{len(people)} participants, {len(trials)} CS trials."]
    if len(groups):
        sample.append("Groups: " + ", ".join(f"{g} {n}" for g, n in groups.items()) + ".")
    online = trials["rating"].notna()
    if online.any():
        asked = trials.groupby("phase")["rating"].apply(lambda r: r.notna().any())
        in_asked = trials[trials["phase"].isin(asked[asked].index)]
        missed = in_asked["rating"].isna().mean()
        sample.append(
            f"Online expectancy ratings: {missed:.1%} missed in phases that asked for them."
        )
    if ratings is not None and len(ratings):
        sample.append(
            f"Post-phase ratings: {len(ratings)} ({ratings['rating'].isna().mean():.1%} missed)."
        )
    sections: list[Section] = [
        ("Sample", sample),
        ("Design (from the logged trials)", describe_design(trials)),
    ]
    protocol_lines = describe_protocol(protocol)
    if protocol_lines:
        sections.append(("Protocol", protocol_lines))
    sections.extend((heading, list(lines)) for heading, lines in protocol_sections)
    if sessions is not None:
        sections.append(("Provenance, devices and timing", describe_provenance(sessions)))
    if counts is not None and len(counts):
        overall = counts[counts["group"] == ""]
        lines = [
            f"{row.flag}: {row.flagged} of {row.total} flagged"
            + (f" ({row.unknown} could not be assessed)" if row.unknown else "")
            for row in overall.itertuples()
        ]
        sections.append(("Exclusions", lines))
    sections.extend((heading, list(lines)) for heading, lines in extra)
    if options:
        sections.append(("Analysis options", [f"{k}: {v}" for k, v in options.items()]))
    return sections


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, border=0, float_format=lambda v: f"{v:.4g}", na_rep="")


_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:12px;margin:0.5em 0 1.5em}
th,td{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}
th{background:#f4f4f4} img{max-width:100%} h2{border-bottom:2px solid #333}
.settings{margin-left:2.5em} .settings td,.settings th{text-align:left}
"""


def render_report(
    title: str,
    methods: Sequence[Section],
    *,
    figures: Sequence[tuple[str, str]] = (),
    tables: Sequence[tuple[str, pd.DataFrame]] = (),
    notes: Sequence[str] = (),
) -> str:
    """Render the report as one HTML page.

    Parameters
    ----------
    title : str
        Page title.
    methods : sequence of (heading, lines)
        From :func:`describe_methods`.
    figures : sequence of (caption, file name)
        Images referenced relative to the report (written beside it).
    tables : sequence of (caption, DataFrame)
        Result tables.
    notes : sequence of str
        Remarks (e.g. analyses that could not run and why).
    """
    esc = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        "<h2>Methods</h2>",
    ]
    for heading, lines in methods:
        out.append(f"<h3>{esc(heading)}</h3><ul>")
        for line in lines:
            if isinstance(line, pd.DataFrame):  # a settings table inside the list
                out.append(f'</ul><div class="settings">{_table(line)}</div><ul>')
            else:
                out.append(f"<li>{esc(line)}</li>")
        out.append("</ul>")
    out.append("<h2>Results</h2>")
    for caption, name in figures:
        out.append(f'<figure><img src="{esc(name)}" alt="{esc(caption)}">')
        out.append(f"<figcaption>{esc(caption)}</figcaption></figure>")
    for caption, frame in tables:
        out.append(f"<h3>{esc(caption)}</h3>")
        out.append(_table(frame) if len(frame) else "<p>Nothing to show.</p>")
    if notes:
        out.append("<h2>Notes</h2><ul>")
        out.extend(f"<li>{esc(note)}</li>" for note in notes)
        out.append("</ul>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
