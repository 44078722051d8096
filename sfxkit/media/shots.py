"""Shot (cut) detection by frame differences, with one keyframe per shot.

The method, kept simple on purpose:

1. Sample frames at ``analysis_fps`` (default 10), downscaled to ``max_side`` pixels.
2. Score each step between consecutive samples by the mean absolute difference of their pixels
   over six channels, H, S, V and R, G, B (0..255 scale, hue circular). HSV alone (PySceneDetect's
   content score) barely sees a cut between two equally bright, saturated colours (red -> blue
   scores ~28); RGB alone over-reacts to lighting. Both react to a change of picture far more
   than to motion inside one.
3. A step is a cut when its score is at least ``threshold`` *and* at least ``ADAPTIVE_RATIO``
   times the median score of its neighbours (``ADAPTIVE_WINDOW`` steps each side). The ratio
   test adapts to the video: handheld or busy footage has high scores everywhere, a cut stands
   out. The median (not the mean) keeps two cuts close together from hiding each other.
4. Each cut is refined to the exact source frame by decoding the frames between the two
   samples and taking the largest step.
5. Cuts closer than ``min_shot`` seconds to the previous one (or to the end) are dropped, so
   flashes and flicker do not make tiny shots. A video with no cut is one shot.

Keyframe: the analysed frame nearest the middle of the shot (simple and predictable; a shot's
middle is rarely mid-transition).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sfxkit.errors import InputError

DEFAULT_THRESHOLD = 27.0
"""Minimum content score (mean abs difference over H, S, V, R, G, B on 0..255) for a cut."""
ADAPTIVE_RATIO = 3.0
ADAPTIVE_WINDOW = 2
ANALYSIS_CHUNK = 600
"""Analysis frames decoded per pass (60 s at 10 fps; about 10 MB at 96 px)."""


@dataclass(frozen=True)
class Shot:
    """One shot: ``[start, end)`` in seconds, and the time of its representative frame."""

    index: int
    start: float
    end: float
    keyframe_time: float

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict[str, float | int]:
        return {
            "shot": self.index,
            "start": self.start,
            "end": self.end,
            "keyframe_time": self.keyframe_time,
        }


def _hsv(frames: np.ndarray) -> np.ndarray:
    """(n, H, W, 3) uint8 RGB -> float32 HSV on a 0..255 scale (hue wraps at 255)."""
    rgb = frames.astype(np.float32) / 255.0
    mx = rgb.max(axis=-1)
    mn = rgb.min(axis=-1)
    delta = mx - mn
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    safe = np.where(delta > 0, delta, 1.0)
    hue = np.where(
        mx == r,
        ((g - b) / safe) % 6.0,
        np.where(mx == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0),
    )
    hue = np.where(delta > 0, hue / 6.0, 0.0)
    sat = np.where(mx > 0, delta / np.where(mx > 0, mx, 1.0), 0.0)
    return np.stack([hue, sat, mx], axis=-1).astype(np.float32) * 255.0


def content_scores(frames: np.ndarray) -> np.ndarray:
    """Scores (len(frames) - 1,) of each step between consecutive frames (0..255 scale)."""
    if len(frames) < 2:
        return np.zeros(0, dtype=np.float32)
    hsv = _hsv(frames)
    diff = np.abs(hsv[1:] - hsv[:-1])
    # Hue is circular: a step from 250 to 5 is small.
    diff[..., 0] = np.minimum(diff[..., 0], 255.0 - diff[..., 0])
    rgb = frames.astype(np.float32)
    rgb_diff = np.abs(rgb[1:] - rgb[:-1])
    total = diff.mean(axis=(1, 2, 3)) + rgb_diff.mean(axis=(1, 2, 3))
    return (total / 2.0).astype(np.float32)


def _cut_steps(scores: np.ndarray, threshold: float) -> list[int]:
    cuts = []
    for i, s in enumerate(scores):
        if s < threshold:
            continue
        lo, hi = max(0, i - ADAPTIVE_WINDOW), min(len(scores), i + ADAPTIVE_WINDOW + 1)
        neighbours = np.concatenate([scores[lo:i], scores[i + 1 : hi]])
        local = float(np.median(neighbours)) if neighbours.size else 0.0
        if s >= ADAPTIVE_RATIO * local:
            cuts.append(i)
    return cuts


def detect_shots(
    video: str | Path,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    min_shot: float = 0.5,
    analysis_fps: float = 10.0,
    max_side: int = 96,
    refine: bool = True,
) -> list[Shot]:
    """Split a video into shots at hard cuts; see the module docstring for the method.

    ``refine=False`` skips the exact-frame refinement (boundaries are then accurate to one
    analysis step, ``1 / analysis_fps`` seconds).
    """
    from sfxkit.media.frames import video_info

    if analysis_fps <= 0:
        raise InputError(f"analysis_fps must be > 0, got {analysis_fps}")
    if min_shot < 0:
        raise InputError(f"min_shot must be >= 0 seconds, got {min_shot}")
    info = video_info(video)
    # Same times as sample_frames(video, analysis_fps).
    n = int(np.floor(info.duration * analysis_fps + 1e-6))
    times = np.arange(n, dtype=np.float64) / analysis_fps
    scores = _scores_in_chunks(video, times, max_side)
    steps = _cut_steps(scores, threshold)

    cut_times: list[float] = []
    if steps:
        if refine and info.fps > 0:
            cut_times = _refine(video, steps, times, info.fps, max_side)
        else:
            cut_times = [float(times[i + 1]) for i in steps]

    kept: list[float] = []
    last = 0.0
    for c in cut_times:
        if c - last >= min_shot and info.duration - c >= min_shot:
            kept.append(c)
            last = c
    bounds = [0.0, *kept, info.duration]
    shots = []
    for k in range(len(bounds) - 1):
        start, end = bounds[k], bounds[k + 1]
        inside = np.nonzero((times >= start - 1e-9) & (times < end))[0]
        mid = 0.5 * (start + end)
        key = float(times[inside[np.argmin(np.abs(times[inside] - mid))]]) if inside.size else mid
        shots.append(Shot(index=k, start=start, end=end, keyframe_time=key))
    return shots


def check_shots(video: str | Path, shots: Sequence[Shot], duration: float) -> list[Shot]:
    """``shots`` as a list, or an :class:`InputError` when one does not lie inside the video
    (``duration`` seconds, what its frames fill): a shot list must not stretch the work past it."""
    out = list(shots)
    tolerance = 1e-3
    for shot in out:
        if not (0.0 <= shot.start < shot.end <= duration + tolerance):
            d = f"{duration:.3f}".rstrip("0").rstrip(".")
            raise InputError(
                f"{video}: shot {shot.index} ({shot.start:g}-{shot.end:g} s) is outside the video "
                f"(duration {d} s); give shots with 0 <= start < end <= {d}"
            )
    return out


def _scores_in_chunks(video: str | Path, times: np.ndarray, max_side: int) -> np.ndarray:
    """Content scores between consecutive sampled frames, decoding ``ANALYSIS_CHUNK`` frames at
    a time so a feature-length video never holds all its analysis frames in memory."""
    from sfxkit.media.frames import frames_at

    parts: list[np.ndarray] = []
    last: np.ndarray | None = None
    for lo in range(0, len(times), ANALYSIS_CHUNK):
        frames = frames_at(video, times[lo : lo + ANALYSIS_CHUNK], max_side=max_side)
        joined = frames if last is None else np.concatenate([last[None], frames])
        parts.append(content_scores(joined))
        last = frames[-1]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def _refine(
    video: str | Path, steps: list[int], times: np.ndarray, fps: float, max_side: int
) -> list[float]:
    """For each cut step (between samples i and i+1), the time of the first frame of the new shot."""
    from sfxkit.media.frames import frames_at

    windows: list[np.ndarray] = []
    for i in steps:
        t0, t1 = float(times[i]), float(times[i + 1])
        # Source frames whose start lies in (t0, t1], plus the frame shown at t0.
        first = int(np.floor(t0 * fps + 1e-6))
        last = int(np.floor(t1 * fps + 1e-6))
        windows.append(np.arange(first, last + 1, dtype=np.float64) / fps)
    flat = np.concatenate(windows)
    frames = frames_at(video, flat, max_side=max_side)
    out: list[float] = []
    pos = 0
    for i, w in zip(steps, windows, strict=True):
        chunk = frames[pos : pos + len(w)]
        pos += len(w)
        sc = content_scores(chunk)
        out.append(float(w[int(np.argmax(sc)) + 1]) if sc.size else float(times[i + 1]))
    return out
