"""SMPTE timecode: frames <-> ``HH:MM:SS:FF`` (drop-frame ``HH:MM:SS;FF`` at 29.97/59.94 fps).

Frames are counted at the real rate (``30000/1001`` for 29.97) and labelled at the nominal integer
rate. Non-drop labels drift from the wall clock at fractional rates (3.6 s an hour at 29.97);
drop-frame labels skip frame numbers 0 and 1 (0-3 at 59.94) at every minute not divisible by ten
so that they keep up. SMPTE 12M defines drop-frame for the 29.97 family only, so every other
rate (23.976 included) is non-drop.

:func:`start_timecode` reads a video's start timecode from its timecode track (QuickTime/MP4
``tmcd``) or its stream/container ``timecode`` tag (Matroska ``TIMECODE``), as FFmpeg exposes them.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from sfxkit.errors import InputError

_TC = re.compile(r"^\s*(\d{1,2})[:;.](\d{2})[:;.](\d{2})([:;.])(\d{2,3})\s*$")
_DF_RATES = (30000 / 1001, 60000 / 1001)


def nominal_rate(fps: float) -> int:
    """The integer rate timecode labels count in: 30 for 29.97, 24 for 23.976, 25 for 25."""
    if not (math.isfinite(fps) and fps > 0):
        raise InputError(f"frame rate must be a positive number, got {fps}")
    return max(1, int(round(fps)))


def is_drop_frame_rate(fps: float) -> bool:
    """True for 29.97 and 59.94 fps (within 0.01), the rates SMPTE drop-frame is defined for."""
    return any(abs(fps - r) < 0.01 for r in _DF_RATES)


def _drop(fps: float, drop_frame: bool | None) -> int:
    """Frame numbers skipped per minute (0 for non-drop)."""
    df = is_drop_frame_rate(fps) if drop_frame is None else drop_frame
    if df and not is_drop_frame_rate(fps):
        raise InputError(f"drop-frame timecode exists for 29.97 and 59.94 fps only, not {fps:g}")
    return nominal_rate(fps) // 15 if df else 0  # 2 at 29.97, 4 at 59.94


def frames_to_timecode(frames: int, fps: float, *, drop_frame: bool | None = None) -> str:
    """Timecode label of frame number ``frames`` (0 = 00:00:00:00).

    ``drop_frame`` defaults to :func:`is_drop_frame_rate`; drop-frame labels use ``;`` before the
    frames. Labels wrap at 24 hours, as SMPTE timecode does.
    """
    base = nominal_rate(fps)
    drop = _drop(fps, drop_frame)
    frames = int(frames)
    if frames < 0:
        raise InputError(f"timecode needs a frame number >= 0, got {frames}")
    if drop:
        per_min = base * 60 - drop
        per_10min = per_min * 10 + drop
        tens, rem = divmod(frames, per_10min)
        # The first minute of each ten keeps all its labels; the next nine each skip `drop`.
        skipped = 9 * drop * tens + (drop * ((rem - drop) // per_min) if rem > drop else 0)
        frames += skipped
    frames %= base * 86400
    ff = frames % base
    secs = frames // base
    sep = ";" if drop else ":"
    return f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}{sep}{ff:02d}"


def timecode_to_frames(tc: str, fps: float, *, drop_frame: bool | None = None) -> int:
    """Frame number of the label ``tc`` (``HH:MM:SS:FF``, or ``HH:MM:SS;FF`` for drop-frame).

    A ``;`` (or ``.``) before the frames marks drop-frame, as editors write it; otherwise
    ``drop_frame`` decides, defaulting to :func:`is_drop_frame_rate`. Labels that do not exist
    (frames past the rate, or a drop-frame label that is skipped) are refused.
    """
    m = _TC.match(str(tc))
    if not m:
        raise InputError(f"timecode {tc!r} is not HH:MM:SS:FF (or HH:MM:SS;FF for drop-frame)")
    h, mm, ss, sep, ff = int(m[1]), int(m[2]), int(m[3]), m[4], int(m[5])
    base = nominal_rate(fps)
    if sep in ";.":
        drop_frame = True
    drop = _drop(fps, drop_frame)
    if h > 23 or mm > 59 or ss > 59 or ff >= base:
        raise InputError(
            f"timecode {tc!r} is out of range at {fps:g} fps (frames 00-{base - 1:02d})"
        )
    if drop and ss == 0 and mm % 10 and ff < drop:
        raise InputError(
            f"timecode {tc!r} does not exist in drop-frame: frames 00-{drop - 1:02d} are skipped "
            "at every minute not divisible by 10"
        )
    minutes = 60 * h + mm
    return (minutes * 60 + ss) * base + ff - drop * (minutes - minutes // 10)


def timecode_to_seconds(tc: str, fps: float, *, drop_frame: bool | None = None) -> float:
    """Real time of the label ``tc`` in seconds: its frame number over the real rate."""
    return timecode_to_frames(tc, fps, drop_frame=drop_frame) / _real_rate(fps)


def seconds_to_timecode(seconds: float, fps: float, *, drop_frame: bool | None = None) -> str:
    """Label of the frame nearest ``seconds`` of real time."""
    return frames_to_timecode(int(round(seconds * _real_rate(fps))), fps, drop_frame=drop_frame)


def _real_rate(fps: float) -> float:
    # 29.97 typed by a person means 30000/1001; keep the exact value so an hour of frames is
    # an hour of the video's own clock.
    for r in _DF_RATES + (24000 / 1001,):
        if abs(fps - r) < 0.01:
            return r
    return float(fps)


def normalize_timecode(tc: str, fps: float) -> str:
    """``tc`` re-labelled in the canonical form for ``fps`` (``;`` for drop-frame rates)."""
    return frames_to_timecode(timecode_to_frames(tc, fps), fps)


def start_timecode(video: str | Path) -> str | None:
    """The start timecode recorded in ``video``, or None when it has none (or it is unreadable).

    Looked up, first found wins: the timecode track's tag (QuickTime/MP4 ``tmcd``), the video
    stream's ``timecode`` tag (Matroska writes ``TIMECODE``), the container's ``timecode`` tag.
    The label is returned as written (``01:00:00;00`` keeps its drop-frame ``;``).
    """
    import av

    try:
        with av.open(str(video)) as c:
            streams = sorted(c.streams, key=lambda s: (s.type != "data", s.type != "video"))
            tags = [s.metadata for s in streams] + [c.metadata]
    except (av.FFmpegError, OSError):
        return None
    for tag in tags:
        for key, value in tag.items():
            if key.lower() == "timecode" and _TC.match(str(value)):
                return str(value).strip()
    return None


__all__ = [
    "frames_to_timecode",
    "is_drop_frame_rate",
    "nominal_rate",
    "normalize_timecode",
    "seconds_to_timecode",
    "start_timecode",
    "timecode_to_frames",
    "timecode_to_seconds",
]
