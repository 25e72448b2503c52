"""Find and check stimulus files before a session.

A protocol names stimulus files by relative path. A path is looked up first beside the
protocol file (a lab's own stimuli), then in pavlov's bundled stimuli folder (so a bundled
protocol copied elsewhere still runs). Files are checked by content, not by name: an image
must start like a PNG, JPEG, GIF, BMP or TIFF; a sound like a WAV, FLAC, Ogg or MP3 file.
Every image is decoded in full (Pillow) and every sound to its last sample (the standard
library for WAV, libsndfile through ``soundfile`` for FLAC, Ogg and MP3), so a truncated PNG,
a cut-off FLAC or a 12000 x 12000 picture is refused before a session starts, not in the
middle of it.
Only regular files of bounded size are read.
"""

from __future__ import annotations

import difflib
import functools
import os
import stat
import wave
from pathlib import Path

#: The bundled stimuli (``cs/``, ``us/``, ``contexts/``, ``scripts/``).
STIMULI_ROOT = Path(__file__).resolve().parent

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff")
SOUND_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")

_IMAGE_MAGIC = (
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",
    b"GIF87a",
    b"GIF89a",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
)
_SOUND_MAGIC = (b"fLaC", b"OggS", b"ID3", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2")

#: Most pixels a stimulus image may have: 40 million (a 4K screen has 8.3 million; a
#: 12000 x 12000 PNG took 3.3 GB to load).
MAX_IMAGE_PIXELS = 40_000_000
#: Largest stimulus file, bytes (a 10-minute uncompressed stereo WAV is about 100 MB).
MAX_FILE_BYTES = 1 << 30


def article(word: str) -> str:
    """``an image``, ``a sound``: the word with its indefinite article."""
    return f"an {word}" if word[:1].lower() in "aeiou" else f"a {word}"


def file_problem(path: str | os.PathLike[str], limit: int = MAX_FILE_BYTES) -> str | None:
    """Say why ``path`` is not a regular file of at most ``limit`` bytes, or return None.

    Checked before any read: ``/dev/zero``, ``/dev/urandom``, a FIFO or a 10-GB sparse file
    would otherwise be read for ever (or until memory runs out).
    """
    try:
        info = os.stat(path)
    except OSError as error:
        return f"an unreadable file ({error.strerror})"
    if stat.S_ISDIR(info.st_mode):
        return "a folder, not a file"
    if not stat.S_ISREG(info.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(info.st_mode) else "a device or special file"
        return f"{kind}, not a regular file"
    if info.st_size > limit:
        return f"a file of {info.st_size / 2**20:,.0f} MiB (at most {limit / 2**20:,.0f} MiB)"
    return None


def not_regular(name: str, protocol_dir: str | os.PathLike[str]) -> str | None:
    """If ``name`` names something that exists but is not a regular file, say what it is."""
    candidate = Path(name).expanduser()
    roots = [Path("/")] if candidate.is_absolute() else list(search_roots(protocol_dir))
    for root in roots:
        path = root / candidate
        if os.path.lexists(path) and not path.is_file():
            return file_problem(path) or "not a regular file"
    return None


def search_roots(protocol_dir: str | os.PathLike[str]) -> tuple[Path, ...]:
    """The folders a relative stimulus path is looked up in, in order."""
    return (Path(protocol_dir).resolve(), STIMULI_ROOT)


def resolve(name: str, protocol_dir: str | os.PathLike[str]) -> Path | None:
    """Return the absolute path of a stimulus file, or None if it exists nowhere.

    Parameters
    ----------
    name : str
        The path as written in the protocol (relative, or absolute).
    protocol_dir : path-like
        Folder of the protocol file.
    """
    candidate = Path(name).expanduser()
    if candidate.is_absolute():
        return candidate if candidate.is_file() else None
    for root in search_roots(protocol_dir):
        path = root / candidate
        if path.is_file():
            return path.resolve()
    return None


def near_name(name: str, protocol_dir: str | os.PathLike[str]) -> str | None:
    """Suggest an existing file whose relative path is close to a missing ``name``."""
    candidate = Path(name)
    if candidate.is_absolute():
        pool = [str(p) for p in candidate.parent.glob("*")] if candidate.parent.is_dir() else []
    else:
        pool = []
        for root in search_roots(protocol_dir):
            folder = root / candidate.parent
            if folder.is_dir():
                pool += [str(p.relative_to(root)) for p in folder.iterdir() if p.is_file()]
    pool = [p for p in pool if p != name]  # never "Did you mean" the name itself
    matches = difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
    return matches[0] if matches else None


def image_problem(path: str | os.PathLike[str]) -> str | None:
    """Say why a file is not a usable image, or return None if it is one.

    The file must be a regular file, start like an image, have at most
    :data:`MAX_IMAGE_PIXELS` pixels, and decode in full.
    """
    problem = file_problem(path) or _magic_problem(
        path, _IMAGE_MAGIC, "image (PNG, JPEG, GIF, BMP or TIFF)"
    )
    if problem is not None:
        return problem
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            # The pixel count is checked below, in our words, before anything is decoded.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return _decode_problem(path)
    except Image.DecompressionBombError:
        return f"an image of more than {MAX_IMAGE_PIXELS / 1e6:g} million pixels"


def _decode_problem(path: str | os.PathLike[str]) -> str | None:
    from PIL import Image

    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                return (
                    f"an image of {width} x {height} pixels (at most "
                    f"{MAX_IMAGE_PIXELS / 1e6:g} million; scale it to the screen)"
                )
            image.verify()
        with Image.open(path) as image:
            image.load()  # verify() does not decode the pixels; a truncated file fails here
    except Image.DecompressionBombError:
        raise
    except Exception as error:  # Pillow raises OSError, SyntaxError, ValueError, ...
        text = " ".join(str(error).split()) or type(error).__name__
        return f"a broken or truncated image ({text})"
    return None


#: The participant window's background (PsychoPy rgb 0, 0, 0), as 8-bit RGB.
SCREEN_GREY = (128, 128, 128)


@functools.lru_cache(maxsize=256)
def drawn_below_centre(path: str) -> float:
    """How far below its centre an image shows anything, as a fraction of its height.

    The lowest row holding a pixel that is neither transparent nor the screen's grey
    (:data:`SCREEN_GREY`, within 3 levels) counts; a picture that fills its box reaches 0.5,
    a ring drawn on the screen's grey only as far as the ring. An image that cannot be read
    counts as filling its box (the stimulus check reports the file itself).

    Parameters
    ----------
    path : str
        The image file.

    Returns
    -------
    float
        0 to 0.5.
    """
    import numpy as np
    from PIL import Image

    try:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGBA"), dtype=int)
    except Exception:  # Pillow raises OSError, SyntaxError, ValueError, ...
        return 0.5
    grey = (np.abs(pixels[..., :3] - np.array(SCREEN_GREY)) <= 3).all(axis=2)
    shown = np.flatnonzero(((pixels[..., 3] > 0) & ~grey).any(axis=1))
    if shown.size == 0:
        return 0.0
    return max(0.0, (shown[-1] + 1) / pixels.shape[0] - 0.5)


def sound_problem(path: str | os.PathLike[str]) -> str | None:
    """Say why a file is not a usable sound, or return None if it is one."""
    path = Path(path)
    problem = file_problem(path)
    if problem is not None:
        return problem
    if path.suffix.lower() == ".wav":
        try:
            with wave.open(str(path), "rb") as reader:
                if reader.getnframes() == 0:
                    return "a WAV file with no samples"
                # Read every frame: a WAV cut short (a copy interrupted) declares more
                # samples than it holds, and would play short or fail in the session.
                frame = reader.getsampwidth() * reader.getnchannels()
                wanted = reader.getnframes()
                got = 0
                while got < wanted:
                    chunk = reader.readframes(min(wanted - got, 1 << 16))
                    if not chunk:
                        break
                    got += len(chunk) // max(frame, 1)
                if got < wanted:
                    return f"a truncated WAV file ({got:,} of {wanted:,} samples)"
        except (wave.Error, EOFError) as error:
            # EOFError carries no message: a file that ends inside the WAV header.
            return f"a broken WAV file ({str(error) or 'it ends inside its header'})"
        except OSError as error:
            return f"an unreadable file ({error.strerror})"
        return None
    problem = _magic_problem(path, _SOUND_MAGIC, "sound (WAV, FLAC, Ogg or MP3)")
    if problem is not None:
        return problem
    return _sound_decode_problem(path)


def _sound_decode_problem(path: Path) -> str | None:
    """Decode a FLAC, Ogg or MP3 file to its last sample (libsndfile): a file cut short or
    damaged after its header would otherwise pass the magic check and fail in the session."""
    import soundfile

    try:
        with soundfile.SoundFile(str(path)) as reader:
            declared = reader.frames
            got = 0
            while True:
                block = reader.read(1 << 16, dtype="int16", always_2d=True)
                if not len(block):
                    break
                got += len(block)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as error:
        text = " ".join(str(error).split()) or type(error).__name__
        return f"a broken sound file ({text})"
    except OSError as error:
        return f"an unreadable file ({error.strerror or error})"
    if got == 0:
        return "a sound file with no samples"
    if declared > 0 and got < declared:
        return f"a truncated sound file ({got:,} of {declared:,} samples)"
    return None


def sound_duration(path: str | os.PathLike[str]) -> float | None:
    """Seconds of a sound file, or None when its length cannot be read.

    A WAV is read with the standard library; FLAC, Ogg and MP3 (the other formats
    :data:`SOUND_SUFFIXES` allows, all of which PsychoPy loads through ``soundfile``) with
    libsndfile, from the frame count and rate the file declares. Call it on a file
    :func:`sound_problem` passed: that decodes the file to its end, so the declared count
    is the real one.
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".wav":
        try:
            with wave.open(str(path), "rb") as reader:
                return reader.getnframes() / reader.getframerate()
        except (wave.Error, EOFError, OSError, ZeroDivisionError):
            return None
    if suffix not in SOUND_SUFFIXES:
        return None
    import soundfile

    try:
        info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError, OSError):
        return None
    if info.frames <= 0 or info.samplerate <= 0:
        # libsndfile reports an unknown length (a stream) as 0 or as a huge sentinel
        return None
    length = info.frames / info.samplerate
    return length if length < 24 * 3600 else None


def _magic_problem(path, magics, what) -> str | None:
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
    except OSError as error:
        return f"an unreadable file ({error.strerror})"
    if not head:
        return "an empty file"
    if not any(head.startswith(m) for m in magics):
        return f"a file that is not {article(what)}"
    return None


def script_file(template: str, participant: str) -> str:
    """Fill a per-participant file template such as ``scripts/{participant}_trauma.wav``."""
    return template.replace("{participant}", participant)
