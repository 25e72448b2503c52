"""What makes a pavlov data folder a valid BIDS dataset beyond the run's own files.

- ``.bidsignore``: pavlov's own per-run files that BIDS has no place for (the provenance
  sidecar ``_session.json``, the shock ledger ``_shocks.tsv``, the LSL recorder's
  crash-safe raw file) stay beside the log, where the runner and ``--resume`` find them,
  and the validator skips them.
- ``stimuli/``: every file the session presents, copied in under the name the log's
  ``stim_file`` column gives (BIDS reads ``stim_file`` relative to ``stimuli/``).
- ``README`` and ``Authors``/``License`` in ``dataset_description.json``, from the protocol's
  study name and the lab file (written once, never overwritten).
- ``StimulusPresentation`` (OS, software, versions, refresh rate, screen) and HED tags for
  the ``trial_type`` and ``event_type`` levels (:data:`HED_TRIAL_TYPE`,
  :data:`HED_EVENT_TYPE`, valid under HED :data:`HED_VERSION`) in ``_events.json``.

Every write here is create-once (exclusive) or atomic; a file that exists is kept.
"""

from __future__ import annotations

import filecmp
import os
import platform
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

__all__ = [
    "BIDSIGNORE",
    "HED_EVENT_TYPE",
    "HED_TRIAL_TYPE",
    "HED_VERSION",
    "copy_stimuli",
    "ensure_bidsignore",
    "stimulus_presentation",
    "write_readme",
]

#: HED schema the annotations are written against (``HEDVersion`` of the dataset).
HED_VERSION = "8.3.0"

#: Patterns of pavlov files BIDS does not define (``.bidsignore`` syntax).
BIDSIGNORE = (
    "*_session.json",
    "*_shocks.tsv",
    "*_physio.raw.tsv",  # the LSL recorder's crash-safe raw file (task/recorder.py)
)

#: HED annotation of each ``trial_type`` level.
HED_TRIAL_TYPE: Mapping[str, str] = {
    "cs": "(Sensory-event, Experimental-stimulus, Cue)",
    "us": "(Condition-variable/Unconditioned-stimulus-time)",
    "rating": "(Sensory-event, Instructional, (Participant-response, Predict))",
    "questionnaire": "(Sensory-event, Instructional, Visual-presentation, Participant-response)",
    "instructions": "(Sensory-event, Instructional, Visual-presentation)",
    "wait": "(Experiment-structure, Waiting-for)",
    "rest": "(Experiment-structure, Rest)",
    "script": "(Sensory-event, Experimental-stimulus, Auditory-presentation)",
    "probe": "(Sensory-event, Experimental-stimulus, Auditory-presentation, Loud)",
    "event": "(Agent-action, (Experimenter, Press, Keyboard-key))",
    "pulse": "(Data-marker, Temporal-marker)",
}

#: HED annotation of each M-BIDS ``event_type`` level: which CS, and what happened at the
#: US time (added to the row's ``trial_type`` tags). Each annotation is one group, so rows
#: that share an onset (a CS and its US in a fast rehearsal) never repeat a tag.
HED_EVENT_TYPE: Mapping[str, str] = {
    "CSpr": "(Condition-variable/CS-plus-reinforced)",
    "CSpu": "(Condition-variable/CS-plus-unreinforced)",
    "CSm": "(Condition-variable/CS-minus)",
    "GS": "(Condition-variable/Generalization-stimulus)",
    "USp": "(Sensory-event, Experimental-stimulus, Condition-variable/US-delivered)",
    "USo": "(Condition-variable/US-omitted)",
    "USm": "(Condition-variable/US-time-on-CS-minus)",
}


def ensure_bidsignore(root: str | os.PathLike) -> Path:
    """Create ``root/.bidsignore`` with :data:`BIDSIGNORE`, or add the patterns it lacks."""
    path = Path(root) / ".bidsignore"
    old = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    missing = [p for p in BIDSIGNORE if p not in old]
    if missing:
        _atomic_text(path, "\n".join([*old, *missing]) + "\n")
    return path


def write_readme(root: str | os.PathLike, study: str, task: str) -> Path:
    """Create the dataset ``README`` once (never overwritten: the lab edits it)."""
    path = Path(root) / "README"
    if path.exists():
        return path
    text = (
        f"# {study}\n\n"
        f"Human Pavlovian conditioning data (BIDS task `{task}`), recorded with pavlov.\n\n"
        "- `sub-*/ses-*/beh|func/*_events.tsv`: every event as shown (onsets in seconds from\n"
        "  session zero; M-BIDS `event_type`); `_events.json` describes each column, with HED.\n"
        "- `*_recording-*_physio.tsv.gz`: physiology aligned to the events, when recorded.\n"
        "- `stimuli/`: the files presented, named as in `stim_file`.\n"
        "- pavlov's own files (listed in `.bidsignore`): `*_session.json` (the protocol, seed,\n"
        "  versions and devices of the run) and `*_shocks.tsv` (the shock ledger).\n"
    )
    _create(path, text)
    return path


def update_description(
    root: str | os.PathLike, authors: Iterable[str] = (), license_: str | None = None
) -> Path:
    """Add ``HEDVersion`` (and ``Authors``/``License`` when known and not yet there) to
    ``dataset_description.json``; keys already present are kept."""
    import json

    path = Path(root) / "dataset_description.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return path
    if not isinstance(data, dict):
        return path
    changed = False
    additions: dict[str, object] = {"HEDVersion": HED_VERSION}
    authors = [str(a) for a in authors if str(a).strip()]
    if authors:
        additions["Authors"] = authors
    if license_:
        additions["License"] = str(license_)
    for key, value in additions.items():
        if key not in data:
            data[key] = value
            changed = True
    if changed:
        _atomic_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return path


def copy_stimuli(root: str | os.PathLike, files: Mapping[str, Path]) -> list[str]:
    """Copy presented files into ``root/stimuli/<label>``; return labels left out.

    Parameters
    ----------
    files : Mapping[str, Path]
        ``stim_file`` label → the file presented. An absolute label (a file outside the
        bundled stimuli and the protocol's folder) is not copied (BIDS needs a relative
        name) and is returned, as is a label whose copy in the dataset has other content
        (an earlier study's different file of the same name is never overwritten).
    """
    root = Path(root)
    left = []
    for label, source in files.items():
        if Path(label).is_absolute() or ".." in Path(label).parts:
            left.append(label)
            continue
        target = root / "stimuli" / label
        if target.exists():
            if not filecmp.cmp(source, target, shallow=False):
                left.append(label)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        shutil.copyfile(source, temp)
        os.replace(temp, target)
    return left


def stimulus_presentation(
    versions: Mapping[str, str], refresh_rate: float | None, size: Iterable[int] | None = None
) -> dict:
    """The BIDS ``StimulusPresentation`` object of ``_events.json``."""
    system = f"{platform.system()} {platform.release()}".strip()
    out: dict[str, object] = {
        "OperatingSystem": system or "n/a",
        "SoftwareName": "pavlov (PsychoPy)",
        "SoftwareRRID": "RRID:SCR_006571",  # PsychoPy
        "SoftwareVersion": (
            f"pavlov {versions.get('pavlov', 'n/a')}, PsychoPy {versions.get('psychopy', 'n/a')}, "
            f"Python {versions.get('python', 'n/a')}"
        ),
        "Code": "https://pypi.org/project/pavlov/",
    }
    if refresh_rate:
        out["ScreenRefreshRate"] = round(float(refresh_rate), 3)
    if size:
        out["ScreenResolution"] = "x".join(str(int(s)) for s in size)
    return out


def _create(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def _atomic_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)


def events_json_extra(versions: Mapping[str, str], refresh_rate: float | None) -> dict:
    """Entries added to the run's ``_events.json``: HED for the levels, StimulusPresentation."""
    from pavlov.task.log import COLUMN_DESCRIPTIONS

    trial_type = dict(COLUMN_DESCRIPTIONS["trial_type"])
    trial_type["HED"] = dict(HED_TRIAL_TYPE)
    event_type = dict(COLUMN_DESCRIPTIONS["event_type"])
    event_type["HED"] = dict(HED_EVENT_TYPE)
    return {
        "trial_type": trial_type,
        "event_type": event_type,
        "StimulusPresentation": stimulus_presentation(versions, refresh_rate),
    }


def prepare_dataset(root: str | os.PathLike, protocol, stimuli) -> list[str]:
    """Make ``root`` a valid BIDS dataset for this run: ``.bidsignore``, ``README``,
    ``HEDVersion``, the presented stimuli in ``stimuli/``. Returns stimulus labels that
    could not be copied (see :func:`copy_stimuli`)."""
    ensure_bidsignore(root)
    write_readme(root, protocol.study, protocol.task)
    update_description(
        root, getattr(protocol, "authors", ()) or (), getattr(protocol, "license", None)
    )
    files: dict[str, Path] = {}
    for group in (stimuli.cs, stimuli.contexts, stimuli.us, stimuli.scripts):
        for path in group.values():
            files[stimuli.label(path)] = Path(path)
    return copy_stimuli(root, files)
