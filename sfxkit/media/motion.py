"""Visual motion over a shot: frame-difference energy and where the motion is, for fitting sound.

:func:`motion_profile` samples a shot at a fixed rate, diffs consecutive grey frames and returns
per-sample energy (mean absolute difference, 0..1) and the horizontal centroid of the difference
(−1 = left edge, +1 = right edge). :func:`strongest_onset` finds where motion starts hardest in
the shot's first second, which :func:`sfxkit.delivery.mix.fit_to_shot` aligns a sound's onset to. The
envelope and pan that follow motion live in :mod:`sfxkit.delivery.mix`.

Frames come from :func:`sfxkit.media.frames.frames_at` (the frame displayed at each sample time,
time 0 = the first frame), shrunk to ``max_side`` and compared in grey.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sfxkit.errors import InputError

# Pixel differences below this (on a 0..1 scale) are codec noise on still pictures, not motion;
# counting them would pull the centroid towards the middle of the frame.
NOISE_FLOOR = 3.0 / 255.0
# Energy under this is "no motion" for the centroid (which is then held from its neighbours).
STILL_ENERGY = 1e-5
MOTION_CHUNK = 500
"""Frames decoded per pass (20 s at 25 fps; about 14 MB at 96 px as RGB, 55 MB as float), so a
long shot never holds all its frames at once."""
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True, eq=False)
class MotionProfile:
    """Motion sampled over a shot.

    ``times`` are seconds from the shot start (``start``), so they index the shot's own audio.
    ``energy[k]`` is the mean absolute grey difference between the frames at ``times[k-1]`` and
    ``times[k]`` (``energy[0]`` is 0: the frame before the shot belongs to another shot).
    ``centroid_x[k]`` is the horizontal centroid of that difference in [−1, 1]; where nothing
    moves it holds the nearest moving value (0 if nothing moves in the whole shot).
    """

    times: np.ndarray
    energy: np.ndarray
    centroid_x: np.ndarray
    start: float = 0.0
    end: float = 0.0
    fps: float = 25.0

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def moving(self) -> bool:
        return bool(self.energy.size) and float(np.max(self.energy)) > STILL_ENERGY


def _fill_holes(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Hold the nearest valid value across invalid samples (0 where nothing is valid)."""
    if not np.any(valid):
        return np.zeros_like(values)
    idx = np.arange(values.size)
    return np.interp(idx, idx[valid], values[valid]).astype(values.dtype)


def motion_profile(
    video: str | Path,
    *,
    start: float = 0.0,
    end: float | None = None,
    fps: float = 25.0,
    max_side: int | None = 96,
) -> MotionProfile:
    """Frame-difference energy and horizontal motion centroid of ``video`` from ``start`` to ``end``.

    Frames are sampled at ``fps`` (the frame shown at each sample time), shrunk so their longer side
    is at most ``max_side`` pixels, and compared in grey. ``end=None`` (or an ``end`` past it) means
    the end of the video.
    """
    from sfxkit.media.frames import frames_at, video_info

    path = Path(video)
    if fps <= 0:
        raise InputError(f"fps must be positive, got {fps}")
    if start < 0 or (end is not None and end <= start):
        raise InputError(f"motion_profile needs 0 <= start < end, got start={start}, end={end}")
    # The video ends where its frames do (a header may claim hours more): sample no further.
    length = video_info(path).duration
    end = length if end is None else min(end, length)
    if end <= start:
        raise InputError(
            f"{path}: start={start} is at or after the end of the video ({length:.3f} s)"
        )
    count = max(1, math.ceil((end - start) * fps - 1e-9))
    targets = start + np.arange(count) / fps
    energy = np.zeros(count, dtype=np.float32)
    centroid = np.zeros(count, dtype=np.float32)
    prev: np.ndarray | None = None
    for lo in range(0, count, MOTION_CHUNK):
        rgb = frames_at(path, targets[lo : lo + MOTION_CHUNK], max_side=max_side)
        # BT.601 luma: motion is seen in brightness; colour-only changes matter little for sound.
        grey = (rgb.astype(np.float32) @ LUMA) / 255.0
        del rgb
        frames = grey if prev is None else np.concatenate([prev[None], grey])
        first = lo if prev is None else lo - 1  # the sample index of frames[0]
        prev = grey[-1]
        if len(frames) < 2:
            continue
        diff = np.abs(np.diff(frames, axis=0))
        diff[diff < NOISE_FLOOR] = 0.0
        width = frames.shape[2]
        xs = ((np.arange(width) + 0.5) / width * 2.0 - 1.0).astype(np.float32)
        column = diff.sum(axis=1)  # (steps, width): difference mass per column
        mass = column.sum(axis=1)
        steps = slice(first + 1, first + 1 + len(mass))
        energy[steps] = mass / (frames.shape[1] * width)
        with np.errstate(invalid="ignore", divide="ignore"):
            centroid[steps] = (column @ xs) / np.where(mass > 0, mass, 1.0)
    valid = energy > STILL_ENERGY
    valid[0] = False
    centroid = _fill_holes(centroid, valid)
    return MotionProfile(
        times=(targets - start).astype(np.float64),
        energy=energy,
        centroid_x=np.clip(centroid, -1.0, 1.0),
        start=float(start),
        end=float(end),
        fps=float(fps),
    )


def strongest_onset(
    profile: MotionProfile, within: float = 1.0, *, min_rise: float = 1e-3
) -> float | None:
    """Seconds from the shot start of the biggest rise in motion energy in the first ``within`` s.

    ``None`` when motion never rises by at least ``min_rise`` (mean grey difference, 0..1) there:
    a still shot has no visual onset to align a sound to.
    """
    e = np.asarray(profile.energy, dtype=np.float64)
    t = np.asarray(profile.times, dtype=np.float64)
    if e.size < 2:
        return None
    rise = np.diff(e)
    rise_t = t[1:]
    window = rise_t <= within + 1e-9
    if not np.any(window):
        return None
    rise = np.where(window, rise, -np.inf)
    k = int(np.argmax(rise))
    if rise[k] < min_rise:
        return None
    return float(rise_t[k])
