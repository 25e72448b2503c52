"""Stimulus files that used to pass `validate` and then fail or exhaust memory in `run`
(issue 15 items 14, 16, 18): every image is decoded in full with a pixel limit, and only
regular files of bounded size are read. Each is one line from the loader."""

from __future__ import annotations

import os
import struct
import time
import zlib
from pathlib import Path

import pytest

from pavlov.protocols.errors import ProtocolError
from pavlov.protocols.loader import load_protocol
from pavlov.stimuli.resolve import image_problem, sound_problem

BLUE = Path(__file__).resolve().parents[2] / "stimuli" / "cs" / "blue_square.png"
PROTOCOL = """\
pavlov: 1
study: Files
task: files
seed: 1
cs:
  roles: [CS+, CS-]
  stimuli:
    a: {{image: {image}}}
    b: {{shape: square, color: "#e8c800"}}
us:
  noise: {{type: sound, file: {sound}}}
phases:
  acquisition:
    type: acquisition
    trials: 2
    reinforced: {{CS+: 1}}
    cs_duration: 4
    iti: 2
"""


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` pixels and holds almost no data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def load(tmp_path, image="cs/blue_square.png", sound="us/noise_burst.wav"):
    path = tmp_path / "p.yaml"
    path.write_text(PROTOCOL.format(image=image, sound=sound))
    return load_protocol(path)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (lambda: BLUE.read_bytes()[:300], "broken or truncated image"),
        (lambda: BLUE.read_bytes()[:8] + b"junk" * 40, "broken or truncated image"),
        (lambda: png_header(12000, 12000), r"12000 x 12000 pixels \(at most 40 million"),
    ],
    ids=["truncated", "junk-after-magic", "12000x12000"],
)
def test_undecodable_or_huge_images_are_rejected_by_validate(tmp_path, content, expected):
    """A truncated PNG, junk after the PNG magic, a 12000x12000 picture: one line from
    the loader (they passed, then failed after the run's files existed, or took 3.3 GB)."""
    (tmp_path / "bad.png").write_bytes(content())
    with pytest.raises(
        ProtocolError, match=rf"cs\.stimuli\.a\.image: expected an image file, got .*{expected}"
    ):
        load(tmp_path, image="bad.png")


def test_special_files_are_never_read(tmp_path):
    """/dev/zero, /dev/urandom, a FIFO, a huge sparse file: refused before any read, at
    once ('Did you mean /dev/zero?' and unbounded reads before)."""
    fifo = tmp_path / "fifo.png"
    os.mkfifo(fifo)
    sparse = tmp_path / "big.wav"
    with open(sparse, "wb") as handle:
        handle.truncate(10 * 2**30)
    started = time.monotonic()
    for name in ("/dev/zero", "/dev/urandom", str(fifo)):
        with pytest.raises(
            ProtocolError, match=r"expected an image file, got '.*', .*not a regular file"
        ) as caught:
            load(tmp_path, image=name)
        assert "Did you mean" not in str(caught.value)
    with pytest.raises(
        ProtocolError, match=r"us\.noise\.file: expected a sound file, got a file of 10,240 MiB"
    ):
        load(tmp_path, sound=str(sparse))
    assert time.monotonic() - started < 30  # nothing was read (it used to run past 20 s each)
    assert image_problem(fifo) and sound_problem(fifo)


def test_article_of_the_kind(tmp_path):
    """'a sound file', never 'an sound file'."""
    with pytest.raises(
        ProtocolError, match=r"expected a sound file, got a file that is not a sound"
    ) as caught:
        load(tmp_path, sound=str(BLUE))
    assert "an sound" not in str(caught.value)


def test_truncated_wav_is_rejected(tmp_path):
    """A WAV cut short declares more samples than it holds: refused in one line."""
    wav = Path(__file__).resolve().parents[2] / "stimuli" / "us" / "noise_burst.wav"
    data = wav.read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[: len(data) // 2])
    with pytest.raises(
        ProtocolError,
        match=r"us\.noise\.file: expected a sound file, got a truncated WAV file \([\d,]+ of [\d,]+ samples\)",
    ):
        load(tmp_path, sound="cut.wav")
