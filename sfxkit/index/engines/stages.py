"""Stage functions the engines map over inputs: plain functions, one input (or batch) in,
arrays out, with the reason an input is skipped in any engine's words.

Frames of the user's videos for the bridge's frame pool: shots detected, ``per_shot`` frames taken
evenly inside each shot (at ``start + (j + 0.5) * duration / per_shot``), downscaled to
``max_side``, embedded by the CLIP image tower.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sfxkit.errors import InputError, MediaError

DEFAULT_PER_SHOT = 3
DEFAULT_MAX_SIDE = 336  # enough for CLIP's 224 px input, a quarter of the decode cost of 720p


def shot_frame_times(shots: Sequence[Any], per_shot: int) -> tuple[np.ndarray, np.ndarray]:
    """(times, shot index) of ``per_shot`` evenly spaced frames inside each shot."""
    times: list[float] = []
    idx: list[int] = []
    for shot in shots:
        span = max(float(shot.end) - float(shot.start), 0.0)
        for j in range(per_shot):
            times.append(float(shot.start) + (j + 0.5) * span / per_shot)
            idx.append(int(shot.index))
    return np.asarray(times, dtype=np.float64), np.asarray(idx, dtype=np.int64)


def sample_shot_frames(
    video: str | Path,
    *,
    per_shot: int = DEFAULT_PER_SHOT,
    max_side: int = DEFAULT_MAX_SIDE,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One video → (times, shot indices, frames ``(n, H, W, 3)`` uint8). Raises MediaError."""
    from sfxkit.media.frames import frames_at
    from sfxkit.media.shots import detect_shots

    if per_shot < 1:
        raise InputError(f"per_shot must be >= 1, got {per_shot}")
    shots = detect_shots(video)
    times, shot_idx = shot_frame_times(shots, per_shot)
    frames = frames_at(video, times, max_side=max_side)
    return times, shot_idx, frames


def sample_video(
    video: str, *, per_shot: int, max_side: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | str:
    """:func:`sample_shot_frames`, or the reason the pool skips ``video`` (any engine's words)."""
    try:
        return sample_shot_frames(video, per_shot=per_shot, max_side=max_side)
    except MediaError as exc:
        return exc.reason
    except InputError as exc:
        return str(exc)
    except OSError as exc:
        return f"cannot read ({exc.strerror or exc})"


def embed_frames(
    frames: Sequence[Any] | np.ndarray, encoder: Any, batch_size: int = 64
) -> np.ndarray:
    """Frames (``HxWx3`` uint8 arrays or PIL images) → CLIP image embeddings ``(n, dim)``."""
    return np.asarray(encoder.encode_images(list(frames), batch_size=batch_size), dtype=np.float32)
