"""Finding stimulus files (beside the protocol, then bundled) and checking their content."""

from __future__ import annotations

import wave

import pytest

from pavlov.stimuli.resolve import (
    STIMULI_ROOT,
    image_problem,
    near_name,
    resolve,
    script_file,
    sound_duration,
    sound_problem,
)


def test_bundled_file_is_found_from_any_folder(tmp_path):
    """A bundled path resolves even when the protocol lives elsewhere."""
    assert resolve("cs/blue_square.png", tmp_path) == STIMULI_ROOT / "cs" / "blue_square.png"


def test_file_beside_the_protocol_comes_first(tmp_path):
    """A lab's own file shadows the bundled one of the same name."""
    own = tmp_path / "cs" / "blue_square.png"
    own.parent.mkdir()
    own.write_bytes(b"\x89PNG\r\n\x1a\nrest")
    assert resolve("cs/blue_square.png", tmp_path) == own


def test_missing_file_resolves_to_none_with_a_suggestion(tmp_path):
    """A misspelt bundled path is not found, and the near name is offered."""
    assert resolve("cs/blue_sqare.png", tmp_path) is None
    assert near_name("cs/blue_sqare.png", tmp_path) == "cs/blue_square.png"


def test_image_and_sound_are_checked_by_content(tmp_path):
    """A text file is neither an image nor a sound, whatever its name."""
    fake = tmp_path / "x.png"
    fake.write_text("hello")
    assert image_problem(fake) == "a file that is not an image (PNG, JPEG, GIF, BMP or TIFF)"
    assert image_problem(STIMULI_ROOT / "cs" / "checker.png") is None
    broken = tmp_path / "x.wav"
    broken.write_bytes(b"RIFF....WAVE")
    assert sound_problem(broken).startswith("a broken WAV file")
    empty = tmp_path / "e.png"
    empty.write_bytes(b"")
    assert image_problem(empty) == "an empty file"


def test_wav_without_samples_is_refused(tmp_path):
    """A WAV with no frames cannot be played as a stimulus."""
    path = tmp_path / "silent.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
    assert sound_problem(path) == "a WAV file with no samples"


def test_wav_cut_inside_its_header_says_so(tmp_path):
    """A WAV copy cut inside its header (30 bytes) names that, not an empty '()'."""
    path = tmp_path / "cut.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0" * 800)
    path.write_bytes(path.read_bytes()[:30])
    assert sound_problem(path) == "a broken WAV file (it ends inside its header)"


def test_sound_duration_of_bundled_noise():
    """The bundled noise burst lasts 1 s."""
    assert sound_duration(STIMULI_ROOT / "us" / "noise_burst.wav") == 1.0


@pytest.mark.parametrize(("fmt", "suffix"), [("FLAC", ".flac"), ("OGG", ".ogg"), ("MP3", ".mp3")])
def test_sound_duration_of_compressed_sounds_is_read_from_the_file(tmp_path, fmt, suffix):
    """A FLAC, Ogg or MP3 file's length is read from the file (0.25 s of tone), not
    refused as a non-WAV; a file whose header libsndfile cannot read has no length."""
    import numpy as np
    import soundfile

    if fmt not in soundfile.available_formats():
        pytest.skip(f"this libsndfile ({soundfile.__libsndfile_version__}) cannot write {fmt}")
    path = tmp_path / f"tone{suffix}"
    soundfile.write(str(path), np.zeros(11025), 44100, format=fmt)
    # MP3 frames are padded by the encoder: within one frame (1152 samples) of the length
    assert sound_duration(path) == pytest.approx(0.25, abs=0.03 if fmt == "MP3" else 1e-9)
    junk = tmp_path / f"junk{suffix}"
    junk.write_bytes(b"\0" * 4096)
    assert sound_duration(junk) is None
    assert sound_duration(tmp_path / "tone.aiff") is None


def test_script_template_is_filled():
    """{participant} is replaced by the ID."""
    assert script_file("scripts/{participant}_trauma.wav", "07") == "scripts/07_trauma.wav"


@pytest.mark.parametrize(("fmt", "suffix"), [("FLAC", ".flac"), ("OGG", ".ogg"), ("MP3", ".mp3")])
def test_compressed_sounds_are_decoded_to_the_last_sample(tmp_path, fmt, suffix):
    """A FLAC, Ogg or MP3 file cut short or damaged after its header is refused before a
    session (the magic bytes alone passed it); the intact file passes."""
    import numpy as np
    import soundfile

    if fmt not in soundfile.available_formats():
        pytest.skip(f"this libsndfile ({soundfile.__libsndfile_version__}) cannot write {fmt}")
    path = tmp_path / f"tone{suffix}"
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(44100) / 44100)
    soundfile.write(str(path), tone, 44100, format=fmt)
    assert sound_problem(path) is None
    data = path.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) // 3])
    junk = tmp_path / f"junk{suffix}"
    junk.write_bytes(data[:64] + bytes(range(256)) * 40)
    for damaged in (cut, junk):
        problem = sound_problem(damaged)
        assert problem is not None and problem.startswith(("a broken", "a truncated")), problem
