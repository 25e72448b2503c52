"""The bundled stimuli are exactly what the generator makes."""

from __future__ import annotations

import wave

import pytest

from pavlov.stimuli.generate import IMAGES, SOUNDS, generate, png_bytes, png_pixels
from pavlov.stimuli.resolve import STIMULI_ROOT, image_problem, sound_problem


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_committed_image_holds_the_generated_pixels(name):
    """Each bundled PNG decodes to the pixels its pixel function gives."""
    width, height, pixel = IMAGES[name]
    committed = png_pixels((STIMULI_ROOT / name).read_bytes())
    assert committed == png_pixels(png_bytes(width, height, pixel))
    assert committed[:2] == (width, height)


@pytest.mark.parametrize("name", sorted(SOUNDS))
def test_committed_sound_holds_the_generated_samples(name):
    """Each bundled WAV holds the samples its generator gives, at its rate."""
    make, rate = SOUNDS[name]
    with wave.open(str(STIMULI_ROOT / name), "rb") as reader:
        assert reader.getframerate() == rate
        assert reader.getnchannels() == 1 and reader.getsampwidth() == 2
        assert reader.readframes(reader.getnframes()) == make()


def test_generate_writes_valid_files(tmp_path):
    """Regenerating into a fresh folder gives files the checks accept."""
    written = generate(tmp_path)
    assert len(written) == len(IMAGES) + len(SOUNDS)
    for path in written:
        problem = image_problem(path) if path.suffix == ".png" else sound_problem(path)
        assert problem is None, (path, problem)
