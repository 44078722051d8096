"""Which files are sounds, videos and pictures, by extension: no numpy, PyAV or soundfile, so
the CLI can sort a query before deciding whether anything heavy is needed (``sfxkit recommend
--server`` never loads them). ``sfxkit.media.audio`` and ``sfxkit.media.frames`` re-export these."""

from __future__ import annotations

from pathlib import Path

AUDIO_EXTENSIONS: frozenset[str] = frozenset(
    {
        ".wav",
        ".wave",
        ".bwf",
        ".rf64",
        ".w64",
        ".flac",
        ".ogg",
        ".oga",
        ".opus",
        ".mp3",
        ".mp2",
        ".aif",
        ".aiff",
        ".aifc",
        ".caf",
        ".m4a",
        ".aac",
        ".wma",
        ".wv",
        ".ape",
        ".au",
        ".snd",
    }
)
VIDEO_EXTENSIONS: frozenset[str] = frozenset(
    {
        ".mp4",
        ".m4v",
        ".mov",
        ".mkv",
        ".webm",
        ".avi",
        ".mpg",
        ".mpeg",
        ".ts",
        ".mts",
        ".m2ts",
        ".mxf",
        ".wmv",
        ".flv",
        ".3gp",
        ".ogv",
        ".dv",
    }
)
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".tga"}
)


def is_video(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def is_image(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS
