"""Find and check stimulus files before a session.

A protocol names stimulus files by relative path. A path is looked up first beside the
protocol file (a lab's own stimuli), then in pavlov's bundled stimuli folder (so a bundled
protocol copied elsewhere still runs). Files are checked by content, not by name: an image
must start like a PNG, JPEG, GIF, BMP or TIFF; a sound must be a readable WAV, or start
like FLAC, Ogg or MP3. Only the standard library is used: nothing here draws or plays.
"""

from __future__ import annotations

import difflib
import os
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
    matches = difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
    return matches[0] if matches else None


def image_problem(path: str | os.PathLike[str]) -> str | None:
    """Say why a file is not a usable image, or return None if it is one."""
    return _magic_problem(path, _IMAGE_MAGIC, "image (PNG, JPEG, GIF, BMP or TIFF)")


def sound_problem(path: str | os.PathLike[str]) -> str | None:
    """Say why a file is not a usable sound, or return None if it is one."""
    path = Path(path)
    if path.suffix.lower() == ".wav":
        try:
            with wave.open(str(path), "rb") as reader:
                if reader.getnframes() == 0:
                    return "a WAV file with no samples"
        except (wave.Error, EOFError) as error:
            return f"a broken WAV file ({error})"
        except OSError as error:
            return f"an unreadable file ({error.strerror})"
        return None
    return _magic_problem(path, _SOUND_MAGIC, "sound (WAV, FLAC, Ogg or MP3)")


def sound_duration(path: str | os.PathLike[str]) -> float | None:
    """Seconds of a WAV file, or None for other formats (PsychoPy knows them at run time)."""
    if Path(path).suffix.lower() != ".wav":
        return None
    with wave.open(str(path), "rb") as reader:
        return reader.getnframes() / reader.getframerate()


def _magic_problem(path, magics, what) -> str | None:
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
    except OSError as error:
        return f"an unreadable file ({error.strerror})"
    if not head:
        return "an empty file"
    if not any(head.startswith(m) for m in magics):
        return f"a file that is not an {what}" if what[0] in "aeiou" else f"not a {what}"
    return None


def script_file(template: str, participant: str) -> str:
    """Fill a per-participant file template such as ``scripts/{participant}_trauma.wav``."""
    return template.replace("{participant}", participant)
