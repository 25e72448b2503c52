"""Resolve and check every stimulus file a session will use, before it starts.

Protocol loading already checked every fixed file. Per-participant files (paths with
``{participant}``, such as a trauma-script recording) can only be checked once the
participant is known; :func:`prepare_stimuli` does that, and returns the absolute path of
every file the runner needs, so a missing recording stops the session before the first
trial rather than in the middle of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pavlov.stimuli.errors import StimulusError
from pavlov.stimuli.resolve import (
    STIMULI_ROOT,
    article,
    image_problem,
    near_name,
    resolve,
    script_file,
    sound_duration,
    sound_problem,
)


@dataclass(frozen=True)
class SessionStimuli:
    """Absolute paths of the files one session uses.

    Attributes
    ----------
    cs : dict of str to Path
        CS identity → file (identities drawn as shapes or text are absent).
    contexts : dict of str to Path
        Context identity → image file.
    us : dict of str to Path
        US name → file (sound and image USs).
    scripts : dict of str to Path
        Phase name → the sound the phase plays itself: a script, or its startle probe.
    protocol_dir : Path
        Folder of the protocol file.
    """

    cs: dict[str, Path]
    contexts: dict[str, Path]
    us: dict[str, Path]
    scripts: dict[str, Path]
    protocol_dir: Path

    def script(self, phase: str) -> tuple[Path | None, str | None]:
        """A script phase's file and its ``stim_file`` label (None, None without one)."""
        path = self.scripts.get(phase)
        return path, self.label(path)

    def label(self, path: Path | None) -> str | None:
        """How a file is named in the log's ``stim_file`` column: relative to the bundled
        stimuli or the protocol's folder when inside them, else absolute."""
        if path is None:
            return None
        for root in (STIMULI_ROOT, self.protocol_dir):
            try:
                return path.relative_to(root).as_posix()
            except ValueError:
                continue
        return str(path)


def stim_file(protocol, stimuli: SessionStimuli | None, kind: str, name: str | None) -> str | None:
    """The log's ``stim_file`` of a CS (``kind`` ``cs``) or US (``us``): the resolved file's
    label, or the protocol's path when the session's files were not resolved."""
    if name is None:
        return None
    if stimuli is not None:
        path = getattr(stimuli, kind).get(name)
        return stimuli.label(path) if path is not None else None
    item = (protocol.cs if kind == "cs" else protocol.us).get(name)
    return item.file if item is not None else None


def prepare_stimuli(protocol, schedule) -> SessionStimuli:
    """Resolve and check the stimulus files of one participant's session.

    Parameters
    ----------
    protocol : Protocol
        The loaded protocol.
    schedule : Schedule
        The participant's session schedule.

    Returns
    -------
    SessionStimuli

    Raises
    ------
    StimulusError
        For the first missing or unusable file, in one line naming the file and the
        protocol key that uses it.
    """
    folder = Path(protocol.path).parent
    participant = schedule.participant
    used_cs = {e.stimulus for e in schedule.events if e.stimulus}
    used_cs |= {picture for e in schedule.events for picture in e.pictures}
    used_contexts = {e.context for e in schedule.events if e.context}
    used_us = {e.us for e in schedule.events if e.us}
    cs = {}
    for name in sorted(used_cs):
        spec = protocol.cs[name]
        if spec.file is not None:
            cs[name] = _checked(
                spec.file, spec.kind, participant, folder, protocol, f"cs.stimuli.{name}"
            )
    contexts = {}
    for name in sorted(used_contexts):
        spec = protocol.contexts[name]
        if spec.file is not None:
            contexts[name] = _checked(
                spec.file, "image", participant, folder, protocol, f"contexts.stimuli.{name}"
            )
    us = {}
    for name in sorted(used_us):
        spec = protocol.us[name]
        if spec.file is not None:
            us[name] = _checked(spec.file, spec.kind, participant, folder, protocol, f"us.{name}")
    scripts = {}
    # Files a phase itself needs (a script), as its kind names them.
    for name in dict.fromkeys(e.phase for e in schedule.events):
        phase = protocol.phases[name]
        for need in phase.files:
            path = _checked(need.template, need.kind, participant, folder, protocol, need.key)
            length = sound_duration(path) if need.kind == "sound" else None
            if length is not None and need.longest is not None and length > need.longest + 1e-6:
                raise StimulusError(
                    f"{protocol.path}: {need.key}: expected a script no longer than the phase's "
                    f"duration ({need.longest:g} s), got {path} lasting {length:.1f} s"
                )
            scripts[phase.name] = path
    return SessionStimuli(cs, contexts, us, scripts, folder)


def _checked(written: str, kind: str, participant: str, folder: Path, protocol, key: str) -> Path:
    name = script_file(written, participant)
    path = resolve(name, folder)
    if path is None:
        hint = near_name(name, folder)
        more = f". Did you mean '{hint}'?" if hint else ""
        per = " for this participant" if "{participant}" in written else ""
        raise StimulusError(
            f"{protocol.path}: {key}: expected an existing {kind} file{per}, got no file '{name}' "
            f"(looked in {folder} and {STIMULI_ROOT}){more}"
        )
    problem = sound_problem(path) if kind == "sound" else image_problem(path)
    if problem is not None:
        raise StimulusError(
            f"{protocol.path}: {key}: expected {article(kind)} file, got {path}: {problem}"
        )
    return path
