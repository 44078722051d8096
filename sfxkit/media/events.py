"""Visible events for spot effects: what happens *in* a shot that a sound editor would spot.

Frame-difference energy (:mod:`sfxkit.media.motion`) rises on everything that changes the
picture, so onsets of it land on fades, dissolves, flashes and the start of camera pans, which
shot detection already explains and which want no spot effect; and it does not rise at all when
a moving ball bounces (the ball moves as much before as after). This detector measures the two
things that make a sound instead, on grey frames at the video's own rate, shrunk to ``max_side``:

- **change of motion** (a bounce, a collision, a strike that stops, something that starts
  moving): dense optical flow (OpenCV's Farnebäck) from frame ``j`` forward to ``j+1`` plus the
  flow from ``j`` back to ``j-1`` is zero wherever things keep moving the way they moved (both
  are measured at frame ``j``'s pixels, so no warping is needed) and is the change of velocity
  where they do not; the median over the frame (the camera starting or stopping a pan) is taken
  off first, and so is half the speed there (flow smoothing leaves a residue at fast moving
  edges). Pixels that either flow cannot explain (new content) count as novelty, not change.
- **novelty** (an object appearing, a burst, a flash of fire): frame ``k`` minus frame ``k-1``
  warped onto it by the backward flow, so what merely moved (a pan, a moving object) is
  explained and what was not there before is left.

Each frame is first scaled to zero mean and unit contrast, so a fade (the same picture at another
gain) and a dissolve (each frame 1/25 of the way to the next picture) leave little of either
measure; frames with almost no contrast (black or white: the middle of a fade, a flash frame)
are skipped, with the frames around them. A change over most of the frame is global (a flash, a
cut that shot detection missed) and is not an event. Events are the peaks of ``change + novelty``
above a running median (sustained motion is no event) of at least ``threshold``, at least
``min_gap`` s apart. Shot boundaries reached by a fade or a dissolve are guarded by ``guard`` s:
shot detection already explains the change there. Defaults were chosen on the tuning half of
``benchmarks/events.py`` (results in ``benchmarks/results/events.json``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sfxkit.errors import InputError

if TYPE_CHECKING:
    from sfxkit.media.shots import Shot

EVENT_THRESHOLD = 0.03
"""Minimum event score (change of motion in pixels at ``max_side`` plus novelty in contrast units,
each averaged over the frame, above the running median)."""
EVENT_GAP = 0.25
NOVELTY_WEIGHT = 2.0
"""Weight of novelty against change of motion in the event score."""
EVENT_GUARD = 0.5
"""Seconds either side of a fade or dissolve boundary in which no event is looked for."""
BLANK_CONTRAST = 0.03
"""A frame whose grey standard deviation (0..1) is below this is blank: black, white, mid-fade."""
ACCEL_FLOOR = 0.5
"""Change of flow (pixels) under this is flow noise."""
SPEED_SHARE = 0.5
"""Change of flow under this share of the speed there is steady motion (a bounce changes the
velocity by twice the speed, a stop by the speed)."""
NOVELTY_FLOOR = 0.6
"""Warped residual (contrast units) under this is noise, codec or a dissolve's small step."""
GLOBAL_FRACTION = 0.5
"""A change of more than this fraction of the frame is global: a flash, a missed cut."""
BASELINE_SECONDS = 0.5
EVENT_CHUNK = 400
"""Frames decoded per pass (16 s at 25 fps; about 3 MB of grey at 96 px)."""
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class VisibleEvent:
    """An event at ``time`` (seconds on the video) in shot ``shot`` with its ``strength`` (the
    score above the running median)."""

    shot: int
    time: float
    strength: float


def _cv2():  # noqa: ANN202 - the module
    try:
        import cv2
    except ImportError as exc:  # pragma: no cover - scenedetect brings opencv
        raise InputError(
            "event detection needs OpenCV: pip install opencv-python-headless"
        ) from exc
    return cv2


def _normalise(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frames scaled to zero mean and unit contrast (as uint8 for the flow, 40 levels a unit),
    and which frames are blank."""
    mean = grey.mean(axis=(1, 2), keepdims=True)
    std = grey.std(axis=(1, 2), keepdims=True)
    blank = std[:, 0, 0] < BLANK_CONTRAST
    norm = (grey - mean) / np.maximum(std, BLANK_CONTRAST)
    return norm.astype(np.float32), blank


def _flow(cv2, a: np.ndarray, b: np.ndarray) -> np.ndarray:  # noqa: ANN001
    a8 = np.clip(128 + 40 * a, 0, 255).astype(np.uint8)
    b8 = np.clip(128 + 40 * b, 0, 255).astype(np.uint8)
    return cv2.calcOpticalFlowFarneback(a8, b8, None, 0.5, 3, 9, 3, 5, 1.1, 0)


def event_scores(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame ``(change, novelty)`` of ``grey`` frames ``(n, H, W)`` in 0..1 (one shot): see
    the module docstring. Both are 0 where a frame or its neighbours are blank or the change is
    global, and at the first and last frame."""
    cv2 = _cv2()
    grey = np.asarray(grey, dtype=np.float32)
    n = len(grey)
    change = np.zeros(n, dtype=np.float64)
    novelty = np.zeros(n, dtype=np.float64)
    if n < 3:
        return change, novelty
    norm, blank = _normalise(grey)
    h, w = grey.shape[1:]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    fwd: list[np.ndarray | None] = [None] * n  # fwd[k]: flow k -> k+1 at frame k's pixels
    bwd: list[np.ndarray | None] = [None] * n  # bwd[k]: flow k -> k-1 at frame k's pixels
    glob = np.zeros(n, dtype=bool)
    # Pixels of frame k that the flow to k+1 (or back to k-1) cannot explain: new content, whose
    # "flow" is noise. It counts as novelty there, not as a change of motion.
    unexplained = np.zeros((n, h, w), dtype=bool)  # n x 96 x 54 bytes: 5 KB a frame

    def warp(img: np.ndarray, flow: np.ndarray) -> np.ndarray:
        return cv2.remap(
            img,
            gx + flow[..., 0],
            gy + flow[..., 1],
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )

    for k in range(1, n):
        if blank[k] or blank[k - 1]:
            continue
        fwd[k - 1] = _flow(cv2, norm[k - 1], norm[k])
        bwd[k] = _flow(cv2, norm[k], norm[k - 1])
        resid = np.abs(norm[k] - warp(norm[k - 1], bwd[k]))
        unexplained[k] |= resid > NOVELTY_FLOOR
        unexplained[k - 1] |= np.abs(norm[k - 1] - warp(norm[k], fwd[k - 1])) > NOVELTY_FLOOR
        if float(np.mean(resid > NOVELTY_FLOOR)) > GLOBAL_FRACTION:
            glob[k] = True
            continue
        novelty[k] = float(np.mean(np.maximum(resid - NOVELTY_FLOOR, 0.0)))
    for j in range(1, n - 1):
        f, b = fwd[j], bwd[j]
        if f is None or b is None or glob[j] or glob[j + 1]:
            continue
        acc = f + b
        acc = acc - np.median(acc.reshape(-1, 2), axis=0)  # the camera's own change
        mag = np.hypot(acc[..., 0], acc[..., 1])
        # Flow is smoothed over its window, so fast steady motion leaves a residue at moving
        # edges that grows with speed; a real change of velocity is as big as the speed itself.
        speed = (np.hypot(f[..., 0], f[..., 1]) + np.hypot(b[..., 0], b[..., 1])) / 2
        excess = np.maximum(mag - SPEED_SHARE * speed - ACCEL_FLOOR, 0.0)
        change[j] = float(np.mean(np.where(unexplained[j], 0.0, excess)))
    # Just after a blank frame (a flash, the black of a fade) the picture comes back: no event.
    after = np.zeros(n, dtype=bool)
    for k in np.flatnonzero(blank):
        after[k : k + 3] = True
    change[after] = 0.0
    novelty[after] = 0.0
    return change, novelty


def pick_events(
    score: np.ndarray,
    fps: float,
    *,
    threshold: float = EVENT_THRESHOLD,
    min_gap: float = EVENT_GAP,
    max_events: int = 6,
) -> list[tuple[int, float]]:
    """``[(frame, strength), ...]`` in frame order: peaks of ``score`` above its running median
    (``BASELINE_SECONDS`` either side) by at least ``threshold``, the stronger of two closer
    than ``min_gap`` s kept, at most ``max_events`` of the strongest."""
    s = np.asarray(score, dtype=np.float64)
    n = s.size
    if n < 3 or max_events <= 0:
        return []
    half = max(1, int(round(BASELINE_SECONDS * fps)))
    base = np.array([np.median(s[max(0, i - half) : i + half + 1]) for i in range(n)])
    lift = s - base
    peaks = [
        i
        for i in range(n)
        if lift[i] >= threshold and (i == 0 or s[i] >= s[i - 1]) and (i == n - 1 or s[i] > s[i + 1])
    ]
    peaks.sort(key=lambda i: -lift[i])
    kept: list[int] = []
    for i in peaks:
        if all(abs(i - j) / fps >= min_gap for j in kept):
            kept.append(i)
        if len(kept) >= max_events:
            break
    return sorted((i, float(lift[i])) for i in kept)


def _grey_frames(video: Path, times: np.ndarray, max_side: int) -> np.ndarray:
    from sfxkit.media.frames import frames_at

    out = []
    for lo in range(0, len(times), EVENT_CHUNK):
        rgb = frames_at(video, times[lo : lo + EVENT_CHUNK], max_side=max_side)
        out.append((rgb.astype(np.float32) @ LUMA) / 255.0)
    return np.concatenate(out) if out else np.zeros((0, 1, 1), np.float32)


@dataclass(frozen=True, eq=False)
class ShotScores:
    """One shot's per-frame event measures: ``times`` (seconds on the video), ``change`` and
    ``novelty`` (:func:`event_scores`), at ``fps``."""

    shot: int
    times: np.ndarray
    change: np.ndarray
    novelty: np.ndarray
    fps: float


def shot_scores(
    video: str | Path, shots: Sequence[Shot], *, max_side: int = 96
) -> list[ShotScores]:
    """:func:`event_scores` of every shot of ``video``, every frame at the video's own rate (at
    most 30 fps: faster footage is sampled at 30). Memory: ``EVENT_CHUNK`` frames decoded at a
    time, one shot's grey frames and flows (about 60 KB a frame at 96 px)."""
    from sfxkit.media.frames import video_info

    path = Path(video)
    info = video_info(path)
    fps = min(float(info.fps or 25.0), 30.0)
    out: list[ShotScores] = []
    for shot in sorted(shots, key=lambda s: s.start):
        end = min(shot.end, info.duration)
        count = int(np.floor((end - shot.start) * fps + 1e-6))
        times = shot.start + np.arange(max(count, 0)) / fps
        if count < 3:
            out.append(ShotScores(shot.index, times, np.zeros(count), np.zeros(count), fps))
            continue
        # A quarter frame in: the frame shown there is frame i whatever the rounding of times.
        grey = _grey_frames(path, times + 0.25 / fps, max_side)
        change, novelty = event_scores(grey)
        out.append(ShotScores(shot.index, times, change, novelty, fps))
    return out


def events_from_scores(
    scores: Sequence[ShotScores],
    shots: Sequence[Shot],
    *,
    threshold: float = EVENT_THRESHOLD,
    min_gap: float = EVENT_GAP,
    max_per_shot: int = 6,
    guard: float = EVENT_GUARD,
    novelty_weight: float = NOVELTY_WEIGHT,
) -> list[VisibleEvent]:
    """The events in ``scores`` (:func:`pick_events` on ``change + novelty_weight * novelty``),
    none within ``guard`` s of a boundary that ``shots`` reach by a fade or a dissolve."""
    if threshold < 0 or min_gap < 0 or guard < 0 or novelty_weight < 0:
        raise InputError(
            "event detection needs threshold, min_gap, guard and novelty_weight >= 0 (got "
            f"{threshold}, {min_gap}, {guard}, {novelty_weight})"
        )
    # Boundaries shot detection found gradual: their neighbourhood is explained already.
    soft = [s.start for s in shots if s.transition in ("fade", "dissolve")]
    events: list[VisibleEvent] = []
    for sc in scores:
        score = sc.change + novelty_weight * sc.novelty
        for i, strength in pick_events(
            score, sc.fps, threshold=threshold, min_gap=min_gap, max_events=max_per_shot
        ):
            at = float(sc.times[i])
            if any(abs(at - b) < guard for b in soft):
                continue
            events.append(VisibleEvent(sc.shot, round(at, 6), round(strength, 6)))
    return sorted(events, key=lambda e: e.time)


def detect_events(
    video: str | Path,
    shots: Sequence[Shot],
    *,
    threshold: float = EVENT_THRESHOLD,
    min_gap: float = EVENT_GAP,
    max_per_shot: int = 6,
    guard: float = EVENT_GUARD,
    novelty_weight: float = NOVELTY_WEIGHT,
    max_side: int = 96,
) -> list[VisibleEvent]:
    """The visible events of ``video`` shot by shot (see the module docstring), in time order:
    :func:`shot_scores` then :func:`events_from_scores`."""
    events_from_scores(
        [], shots, threshold=threshold, min_gap=min_gap, guard=guard, novelty_weight=novelty_weight
    )  # validates before any decoding
    return events_from_scores(
        shot_scores(video, shots, max_side=max_side),
        shots,
        threshold=threshold,
        min_gap=min_gap,
        max_per_shot=max_per_shot,
        guard=guard,
        novelty_weight=novelty_weight,
    )


__all__ = [
    "EVENT_GAP",
    "EVENT_GUARD",
    "EVENT_THRESHOLD",
    "NOVELTY_WEIGHT",
    "ShotScores",
    "VisibleEvent",
    "detect_events",
    "event_scores",
    "events_from_scores",
    "pick_events",
    "shot_scores",
]
