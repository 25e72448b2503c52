"""Make pavlov's bundled stimuli (images and sounds) from code, with the standard library.

The files under ``stimuli/`` are the output of this module and are committed, so a
session never generates or downloads anything at run time. Regenerate them with::

    python -m pavlov.stimuli.generate

Each asset is fully determined by the code below (colours, patterns, a fixed noise seed);
``tests/stimuli/test_generate.py`` checks that the committed files hold exactly these
pixels and samples.
"""

from __future__ import annotations

import math
import random
import struct
import wave
import zlib
from collections.abc import Callable
from pathlib import Path

from pavlov.stimuli.resolve import STIMULI_ROOT

Pixel = tuple[int, int, int]

CS_SIZE = 256
CONTEXT_SIZE = (640, 480)
SAMPLE_RATE = 44_100


def png_bytes(width: int, height: int, pixel: Callable[[int, int], Pixel]) -> bytes:
    """Encode an RGB image as PNG; ``pixel(x, y)`` gives each pixel's colour."""
    raw = bytearray()
    for y in range(height):
        raw.append(0)  # filter type 0 (none) for every row
        for x in range(width):
            raw.extend(pixel(x, y))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(raw), 9))
        + chunk(b"IEND", b"")
    )


def png_pixels(data: bytes) -> tuple[int, int, bytes]:
    """Decode a PNG written by :func:`png_bytes` to (width, height, raw filtered rows)."""
    width, height = struct.unpack(">II", data[16:24])
    pos, idat = 8, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    return width, height, zlib.decompress(idat)


def square(color: Pixel, border: Pixel = (20, 20, 20)) -> Callable[[int, int], Pixel]:
    """A filled square with a thin dark border (a coloured-square CS, Schiller 2010 style)."""
    edge = CS_SIZE // 32

    def pixel(x: int, y: int) -> Pixel:
        inside = edge <= x < CS_SIZE - edge and edge <= y < CS_SIZE - edge
        return color if inside else border

    return pixel


def stripes(a: Pixel, b: Pixel, period: int, diagonal: bool) -> Callable[[int, int], Pixel]:
    """A striped pattern: perceptually distinct CSs of equal mean luminance."""

    def pixel(x: int, y: int) -> Pixel:
        t = (x + y) if diagonal else x
        return a if (t // period) % 2 == 0 else b

    return pixel


def checker(a: Pixel, b: Pixel, cell: int) -> Callable[[int, int], Pixel]:
    """A checkerboard."""

    def pixel(x: int, y: int) -> Pixel:
        return a if ((x // cell) + (y // cell)) % 2 == 0 else b

    return pixel


#: The screen's grey (PsychoPy's colour 0, 0, 0), so that a ring's picture blends into it.
SCREEN_GREY: Pixel = (128, 128, 128)

#: Outer radii (pixels of a 256-pixel CS picture) of the generalisation rings: each 25 %
#: larger than the one before, so neighbours differ by the same ratio (Lissek et al. 2008
#: used rings of graded size, 15 % steps over 10 rings; 6 rings need larger steps).
RING_RADII = tuple(round(40 * 1.25**k, 1) for k in range(6))


def ring(outer: float, width: float, color: Pixel, ground: Pixel = SCREEN_GREY):
    """A ring (annulus) centred on the picture: the continuum of a size-generalisation
    design. Edges are anti-aliased by 4 × 4 supersampling, so rings of every size look
    equally sharp."""
    centre = CS_SIZE / 2
    inner = outer - width
    offsets = [(i + 0.5) / 4 for i in range(4)]

    def pixel(x: int, y: int) -> Pixel:
        hits = 0
        for dy in offsets:
            for dx in offsets:
                r = math.hypot(x + dx - centre, y + dy - centre)
                hits += inner <= r <= outer
        f = hits / 16
        return tuple(round(g + (c - g) * f) for c, g in zip(color, ground))  # type: ignore[return-value]

    return pixel


def room(top: Pixel, bottom: Pixel, panel: Pixel, spacing: int) -> Callable[[int, int], Pixel]:
    """A context background: a vertical gradient (wall to floor) with panel lines."""
    height = CONTEXT_SIZE[1]

    def pixel(x: int, y: int) -> Pixel:
        if y > height * 2 // 3:
            return bottom
        if x % spacing < 4:
            return panel
        f = y / height
        return tuple(int(t + (b - t) * f) for t, b in zip(top, bottom))  # type: ignore[return-value]

    return pixel


def noise_burst(seconds: float, amplitude: float, seed: int) -> bytes:
    """16-bit mono white noise with 5-ms on/off ramps (an aversive-sound US)."""
    rng = random.Random(seed)
    n = int(seconds * SAMPLE_RATE)
    ramp = int(0.005 * SAMPLE_RATE)
    frames = bytearray()
    for i in range(n):
        gain = min(1.0, i / ramp, (n - 1 - i) / ramp)
        value = int(amplitude * gain * (2 * rng.random() - 1) * 32767)
        frames.extend(struct.pack("<h", value))
    return bytes(frames)


def startle_probe(seconds: float, seed: int) -> bytes:
    """16-bit mono white noise at full scale with an instantaneous rise (no onset ramp): an
    acoustic startle probe (Blumenthal et al. 2005: 50-ms white noise, rise time ~0 ms; its
    level, about 100 dB(A), is set with the lab's amplifier and a sound-level meter)."""
    rng = random.Random(seed)
    frames = bytearray()
    for _ in range(int(seconds * SAMPLE_RATE)):
        frames.extend(struct.pack("<h", int((2 * rng.random() - 1) * 32767)))
    return bytes(frames)


def narration(seconds: float, seed: int) -> bytes:
    """A speech-like example script: syllable-rate tone glides (4 Hz) with pauses.

    It stands in for a participant's recorded trauma or neutral script, so a bundled
    script-driven-imagery protocol can be rehearsed; real studies use each participant's
    own recording.
    """
    rng = random.Random(seed)
    rate = 16_000
    frames = bytearray()
    phase = 0.0
    t = 0.0
    while t < seconds:
        syllables = 3 + int(rng.random() * 6)
        for _ in range(syllables):
            f0 = 110 + 60 * rng.random()
            for i in range(int(0.22 * rate)):
                f = f0 * (1 + 0.15 * math.sin(math.pi * i / (0.22 * rate)))
                phase += 2 * math.pi * f / rate
                env = math.sin(math.pi * i / (0.22 * rate))
                frames.extend(struct.pack("<h", int(0.3 * env * math.sin(phase) * 32767)))
        pause = int((0.25 + 0.5 * rng.random()) * rate)
        frames.extend(b"\x00\x00" * pause)
        t = len(frames) / 2 / rate
    return bytes(frames[: int(seconds * rate) * 2])


def write_wav(path: Path, frames: bytes, rate: int) -> None:
    """Write 16-bit mono PCM."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)


#: Every bundled image: relative path → (width, height, pixel function).
IMAGES: dict[str, tuple[int, int, Callable[[int, int], Pixel]]] = {
    "cs/blue_square.png": (CS_SIZE, CS_SIZE, square((40, 90, 220))),
    "cs/yellow_square.png": (CS_SIZE, CS_SIZE, square((235, 200, 40))),
    "cs/purple_square.png": (CS_SIZE, CS_SIZE, square((140, 60, 170))),
    "cs/green_square.png": (CS_SIZE, CS_SIZE, square((50, 160, 80))),
    "cs/stripes.png": (CS_SIZE, CS_SIZE, stripes((230, 230, 230), (30, 30, 30), 16, True)),
    "cs/checker.png": (CS_SIZE, CS_SIZE, checker((230, 230, 230), (30, 30, 30), 32)),
    **{
        f"cs/ring_{k + 1}.png": (CS_SIZE, CS_SIZE, ring(radius, 8.0, (200, 30, 30)))
        for k, radius in enumerate(RING_RADII)
    },
    "contexts/room_a.png": (*CONTEXT_SIZE, room((200, 150, 110), (90, 60, 40), (150, 100, 70), 80)),
    "contexts/room_b.png": (*CONTEXT_SIZE, room((120, 160, 190), (40, 60, 80), (80, 110, 140), 48)),
}

#: Every bundled sound: relative path → (frames function, sample rate).
SOUNDS: dict[str, tuple[Callable[[], bytes], int]] = {
    "us/noise_burst.wav": (lambda: noise_burst(1.0, 0.9, seed=1), SAMPLE_RATE),
    "probes/startle_noise_50ms.wav": (lambda: startle_probe(0.05, seed=6), SAMPLE_RATE),
    "scripts/demo_trauma.wav": (lambda: narration(12.0, seed=2), 16_000),
    "scripts/demo_neutral.wav": (lambda: narration(12.0, seed=3), 16_000),
    "scripts/demo_trauma_cue.wav": (lambda: narration(4.0, seed=4), 16_000),
    "scripts/demo_neutral_cue.wav": (lambda: narration(4.0, seed=5), 16_000),
}


def generate(root: Path = STIMULI_ROOT) -> list[Path]:
    """Write every bundled stimulus under ``root``; return the paths written."""
    written = []
    for name, (width, height, pixel) in IMAGES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png_bytes(width, height, pixel))
        written.append(path)
    for name, (make, rate) in SOUNDS.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        write_wav(path, make(), rate)
        written.append(path)
    return written


if __name__ == "__main__":
    for path in generate():
        print(path.relative_to(STIMULI_ROOT))
