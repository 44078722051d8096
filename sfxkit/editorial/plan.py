"""Plan: shots → scenes → events → cues, and the catalog candidates of each.

Owns cutting a video into shots (:func:`sfxkit.media.shots.detect_shots`), embedding one
keyframe per shot in CLIP image space and searching the index (:func:`shot_candidates`), and,
for ``layers="auto"``, grouping consecutive shots that look like one place into scenes
(:func:`group_scenes`), finding the visible events (motion onsets) in each shot
(:func:`motion_onsets`) and laying out the cues: one ambience ``bed`` per scene and one ``spot``
effect per event (:func:`plan_layers`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sfxkit.editorial.results import StageClock
from sfxkit.errors import InputError, MediaError

if TYPE_CHECKING:
    from sfxkit.media.frames import VideoInfo
    from sfxkit.media.shots import Shot
    from sfxkit.recommender import Recommendation, Recommender
    from sfxkit.store import LoadedIndex


def open_recommender(
    index: str | Path | LoadedIndex | Recommender, device: str | None = None
) -> Recommender:
    from sfxkit.recommender import Recommender

    if isinstance(index, Recommender):
        return index
    return Recommender(index, device=device)


@dataclass(frozen=True, eq=False)
class ShotCandidates:
    """The shots of a video, their keyframes and CLIP embeddings, and each shot's candidates."""

    info: VideoInfo
    shots: list[Shot]
    keyframes: np.ndarray
    embeddings: np.ndarray
    candidates: list[list[Recommendation]]


def shot_candidates(
    video: str | Path,
    rec: Recommender,
    *,
    k: int,
    filters: Any = None,
    shots: Sequence[Shot] | None = None,
    clock: StageClock | None = None,
) -> ShotCandidates:
    """Cut ``video`` into shots (unless ``shots`` are given), embed one keyframe per shot and
    search the index: the recommend part of :func:`soundtrack`, timed per stage."""
    from sfxkit.media.frames import frames_at, video_info
    from sfxkit.media.shots import check_shots, detect_shots

    clock = clock or StageClock()
    if k < 1:
        raise InputError(f"k must be at least 1 (got {k})")
    with clock("decode"):
        info = video_info(video)
        cut = check_shots(video, shots, info.duration) if shots is not None else detect_shots(video)
        if not cut:
            raise MediaError(video, "no shots found", "check that the video has frames")
        keyframes = frames_at(video, [s.keyframe_time for s in cut])
    with clock("load"):
        encoder = rec.encoder("frame")
    with clock("encode"):
        embs = encoder.encode_images(list(keyframes))
    with clock("search"):
        cands = rec.search_frame_embeddings(embs, k, filters=filters)
    return ShotCandidates(info, cut, keyframes, np.asarray(embs, dtype=np.float32), cands)


__all__ = ["ShotCandidates", "open_recommender", "shot_candidates"]
