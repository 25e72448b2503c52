"""The pre-session check resolves every file a participant's session uses, or stops it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pavlov.protocols.loader import load_protocol
from pavlov.protocols.schedule import build_schedule
from pavlov.stimuli.check import prepare_stimuli
from pavlov.stimuli.errors import StimulusError
from pavlov.stimuli.generate import narration, write_wav

REPO = Path(__file__).resolve().parents[2]
KETAMINE = REPO / "protocols" / "ketamine_reconsolidation.yaml"


def test_demo_participant_has_every_recording():
    """The bundled demo recordings satisfy the ketamine protocol's per-participant files."""
    protocol = load_protocol(KETAMINE)
    stimuli = prepare_stimuli(protocol, build_schedule(protocol, "demo", "infusion"))
    assert stimuli.label(stimuli.scripts["script_reactivation"]) == "scripts/demo_trauma.wav"
    assert sorted(stimuli.cs) == ["neutral_cue", "trauma_cue"]


def test_missing_recording_stops_the_session_in_one_line():
    """A participant without recordings is stopped before the first trial."""
    protocol = load_protocol(KETAMINE)
    with pytest.raises(StimulusError) as caught:
        prepare_stimuli(protocol, build_schedule(protocol, "07", "infusion"))
    message = str(caught.value)
    assert "\n" not in message
    assert (
        "cs.stimuli.neutral_cue: expected an existing sound file for this participant, got no file 'scripts/07_neutral_cue.wav'"
        in message
    )
    assert message.endswith("Did you mean 'scripts/demo_neutral_cue.wav'?")


def test_recordings_beside_a_copied_protocol_are_used(tmp_path):
    """A lab keeps participants' recordings beside its copy of the protocol."""
    copy = tmp_path / "ketamine.yaml"
    shutil.copy(KETAMINE, copy)
    (tmp_path / "scripts").mkdir()
    for name in ("trauma", "trauma_cue", "neutral_cue"):
        write_wav(tmp_path / "scripts" / f"12_{name}.wav", narration(2.0, seed=9), 16_000)
    protocol = load_protocol(copy)
    stimuli = prepare_stimuli(protocol, build_schedule(protocol, "12", "infusion"))
    assert stimuli.scripts["script_reactivation"] == tmp_path / "scripts" / "12_trauma.wav"
    assert stimuli.label(stimuli.cs["trauma_cue"]) == "scripts/12_trauma_cue.wav"


def test_script_longer_than_its_phase_is_refused(tmp_path):
    """A recording longer than the phase's duration would be cut off: refused up front."""
    copy = tmp_path / "ketamine.yaml"
    copy.write_text(KETAMINE.read_text().replace("duration: 60 ", "duration: 1 "))
    (tmp_path / "scripts").mkdir()
    for name in ("trauma", "trauma_cue", "neutral_cue"):
        write_wav(tmp_path / "scripts" / f"12_{name}.wav", narration(2.0, seed=9), 16_000)
    protocol = load_protocol(copy)
    with pytest.raises(
        StimulusError,
        match=r"expected a script no longer than the phase's duration \(1 s\), got .*12_trauma\.wav lasting 2\.0 s$",
    ):
        prepare_stimuli(protocol, build_schedule(protocol, "12", "infusion"))
