"""Plan: shots → scenes → events → cues, and the catalog candidates of each.

Owns cutting a video into shots (:func:`sfxkit.media.shots.detect_shots`), embedding one
keyframe per shot in CLIP image space and searching the index (:func:`shot_candidates`), and,
for ``layers="auto"``, grouping consecutive shots that look like one place into scenes
(:func:`group_scenes`), finding the visible events in each shot
(:func:`sfxkit.media.events.detect_events`: appearances, bounces, bursts, strikes; not the
transitions and camera moves that shot detection explains) and laying out the cues: one ambience ``bed`` per scene and one ``spot``
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
    from sfxkit.index.store import LoadedIndex
    from sfxkit.media.frames import VideoInfo
    from sfxkit.media.motion import MotionProfile
    from sfxkit.media.shots import Shot
    from sfxkit.recommender import Recommendation, Recommender


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
    # PE-AV video embeddings of each shot as a clip of its frames (None without pe_audio)
    av_embeddings: np.ndarray | None = None


def shot_candidates(
    video: str | Path,
    rec: Recommender,
    *,
    k: int,
    filters: Any = None,
    shots: Sequence[Shot] | None = None,
    clock: StageClock | None = None,
    detectors: Sequence[str] | None = None,
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
        cut = (
            check_shots(video, shots, info.duration)
            if shots is not None
            else detect_shots(video, **({"detectors": tuple(detectors)} if detectors else {}))
        )
        if not cut:
            raise MediaError(video, "no shots found", "check that the video has frames")
        keyframes = frames_at(video, [s.keyframe_time for s in cut])
    with clock("load"):
        encoder = rec.encoder("frame")
    with clock("encode"):
        embs = encoder.encode_images(list(keyframes))
        # each shot's own frames as one clip through PE-AV, where the index has pe_audio
        av = rec.av_shot_embeddings(video, cut)
    with clock("search"):
        cands = rec.search_frame_embeddings(embs, k, filters=filters, av_embs=av)
    return ShotCandidates(
        info, cut, keyframes, np.asarray(embs, dtype=np.float32), cands, av_embeddings=av
    )


# ---- scenes, events, layer cues ------------------------------------------------------------------

AMBIENCE_CATEGORIES: tuple[str, ...] = ("AMB", "AMBIENCE", "ROOM TONE", "ROOMTONE", "WEATHER")
"""UCS categories (and common library words for them) that hold ambience and backgrounds."""
# Ambience: a bed this long or longer can cover its scene with few loop seams.
BED_MIN_SECONDS = 2.0
# Spot effects: transients and short events; longer sounds are sustained material.
SPOT_MAX_SECONDS = 2.0


@dataclass(frozen=True)
class Scene:
    """Consecutive shots that look like one place: ``shots`` are shot numbers, ``similarity``
    the lowest similarity of a shot to the scene's running mean that kept it in."""

    index: int
    shots: tuple[int, ...]
    start: float
    end: float
    similarity: float = 1.0


@dataclass(frozen=True)
class Event:
    """A visible event (:func:`sfxkit.media.events.detect_events`) at ``time`` (seconds on the
    video) in shot ``shot``, with the ``rise`` of its event score above the running median."""

    shot: int
    time: float
    rise: float


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / max(float(np.linalg.norm(x)), 1e-12)


def group_scenes(shots: Sequence[Shot], embeddings: np.ndarray, threshold: float) -> list[Scene]:
    """Consecutive shots whose keyframe embeddings (CLIP image space) are at least ``threshold``
    cosine-similar to the running mean of the scene so far join it; a shot below starts a new
    scene. Comparing with the scene's mean rather than the previous shot stops a slow drift
    (shot by shot a little further away) from chaining two places into one."""
    if len(shots) != len(embeddings):
        raise InputError(f"{len(shots)} shots but {len(embeddings)} keyframe embeddings")
    scenes: list[Scene] = []
    members: list[int] = []
    total = np.zeros(0)
    low = 1.0
    for pos in range(len(shots)):
        e = _unit(embeddings[pos])
        if members:
            sim = float(_unit(total) @ e)
            if sim >= threshold:
                members.append(pos)
                total = total + e
                low = min(low, sim)
                continue
            scenes.append(_scene(len(scenes), shots, members, low))
        members, total, low = [pos], e.copy(), 1.0
    if members:
        scenes.append(_scene(len(scenes), shots, members, low))
    return scenes


def _scene(index: int, shots: Sequence[Shot], members: list[int], low: float) -> Scene:
    return Scene(
        index=index,
        shots=tuple(shots[m].index for m in members),
        start=shots[members[0]].start,
        end=shots[members[-1]].end,
        similarity=round(low, 6),
    )


def calibrate_scene_threshold(same: Sequence[float], different: Sequence[float]) -> float:
    """The scene threshold that best separates similarities of shot pairs known to show the same
    place (``same``) from pairs of different places (``different``): the midpoint of the gap
    when they separate, else the value with fewest mistakes (ties: the midpoint of the ties)."""
    a = np.sort(np.asarray(same, dtype=np.float64))
    b = np.sort(np.asarray(different, dtype=np.float64))
    if a.size == 0 or b.size == 0:
        raise InputError("calibrating the scene threshold needs same-place and different pairs")
    if a[0] > b[-1]:
        return float((a[0] + b[-1]) / 2)
    cands = np.unique(np.concatenate([a, b, [a[0] - 1e-6, b[-1] + 1e-6]]))
    errors = np.array([(a < t).sum() + (b >= t).sum() for t in cands])
    best = cands[errors == errors.min()]
    return float((best[0] + best[-1]) / 2)


def motion_onsets(
    profile: MotionProfile,
    *,
    max_onsets: int = 6,
    min_rise: float = 0.01,
    min_gap: float = 0.25,
) -> list[tuple[float, float]]:
    """``[(seconds from the shot start, rise), ...]`` in time order: onsets of motion energy, the
    spot detector before :func:`sfxkit.media.events.detect_events` (kept for comparison in
    ``benchmarks/events.py``; it lands on fades, dissolves and flashes and misses bounces).

    An onset is a local maximum of the rise in motion energy (frame to frame) of at least
    ``min_rise`` (mean grey difference, 0..1); of onsets closer than ``min_gap`` s the stronger
    is kept, and at most ``max_onsets`` of the strongest are returned. The rise into the first
    sample is not an onset: that frame's predecessor belongs to the previous shot.
    """
    e = np.asarray(profile.energy, dtype=np.float64)
    t = np.asarray(profile.times, dtype=np.float64)
    if e.size < 3 or max_onsets <= 0:
        return []
    rise = np.diff(e)  # rise[k] is the step into sample k + 1
    rise[0] = 0.0  # energy[0] is 0 by construction: the step into sample 1 is not a rise
    peaks = [
        k
        for k in range(rise.size)
        if rise[k] >= min_rise
        and rise[k] >= (rise[k - 1] if k > 0 else -np.inf)
        and rise[k] > (rise[k + 1] if k + 1 < rise.size else -np.inf)
    ]
    peaks.sort(key=lambda k: -rise[k])
    kept: list[int] = []
    for k in peaks:
        if all(abs(t[k + 1] - t[j + 1]) >= min_gap for j in kept):
            kept.append(k)
        if len(kept) >= max_onsets:
            break
    return sorted((float(t[k + 1]), float(rise[k])) for k in kept)


def is_ambience(rec: Recommendation) -> bool:
    """Whether a catalog sound is filed as ambience (UCS AMB and kin)."""
    cat = f"{rec.category} {rec.subcategory} {rec.predicted_category}".upper()
    return any(a in cat for a in AMBIENCE_CATEGORIES)


def fits_role(rec: Recommendation, role: str, span: float) -> bool:
    """Whether a catalog sound suits a cue of ``role``: a ``bed`` wants ambience or a sound long
    enough to loop under its scene (at least ``min(span, BED_MIN_SECONDS)`` s); a ``spot`` wants a
    short sound (at most ``SPOT_MAX_SECONDS``) that is not ambience."""
    dur = float(rec.duration or 0.0)
    if role == "bed":
        return is_ambience(rec) or dur >= min(max(span, 0.0), BED_MIN_SECONDS)
    if role == "spot":
        return 0.0 < dur <= SPOT_MAX_SECONDS and not is_ambience(rec)
    return True


def rescore_for_role(
    recs: Sequence[Recommendation], role: str, span: float
) -> list[Recommendation]:
    """``recs`` re-ranked for what a cue of ``role`` needs: the sounds that suit it
    (:func:`fits_role`) first, in retrieval order, then the rest. Only the order changes: each
    sound keeps the fused ``score`` that :func:`~sfxkit.editorial.decision.decide` grades, so a
    long but unfitting sound cannot become a confident match by being long, and a bed with no
    fitting candidate is graded on what there is (and generated when that is weak)."""
    if role not in ("bed", "spot"):
        return list(recs)
    return sorted(recs, key=lambda r: not fits_role(r, role, span))


@dataclass(frozen=True, eq=False)
class LayerPlan:
    """What ``layers="auto"`` will put on the timeline: scenes with their bed candidates, and
    events with their spot candidates (both best first, rescored for their role)."""

    scenes: list[Scene]
    bed_candidates: list[list[Recommendation]]
    events: list[Event]
    spot_candidates: list[list[Recommendation]]


def plan_layers(
    video: str | Path,
    rec: Recommender,
    found: ShotCandidates,
    *,
    k: int,
    filters: Any,
    scene_threshold: float,
    max_spots: int,
    onset_rise: float,
    spot_gap: float,
    clock: StageClock,
) -> LayerPlan:
    """Scenes from the shots' keyframe embeddings, events from each shot's motion, and their
    catalog candidates: a bed is searched with the mean keyframe embedding of its scene, a spot
    with the frame just after its onset (where the event shows). Candidates are fetched ``3k``
    deep and rescored for the role (:func:`rescore_for_role`), then cut to ``k``."""
    from sfxkit.media.events import detect_events
    from sfxkit.media.frames import frames_at

    with clock("plan"):
        scenes = group_scenes(found.shots, found.embeddings, scene_threshold)
    with clock("decode"):
        # Visible events, not motion-energy onsets: those land on fades, dissolves, flashes and
        # pan starts (what shot detection explains) and miss bounces (benchmarks/events.py).
        events = [
            Event(shot=e.shot, time=e.time, rise=e.strength)
            for e in detect_events(
                video, found.shots, threshold=onset_rise, min_gap=spot_gap, max_per_shot=max_spots
            )
        ]
        # Two frames after the onset the event is on screen (the onset frame may be mid-change).
        step = 2.0 / (found.info.fps or 25.0)
        ends = {s.index: s.end for s in found.shots}
        times = [min(ev.time + step, ends[ev.shot] - 1e-3) for ev in events]
        frames = frames_at(video, times) if events else None
    deep = max(3 * k, k)
    by_shot = {s.index: pos for pos, s in enumerate(found.shots)}
    with clock("encode"):
        means = np.stack(
            [
                _unit(np.sum([found.embeddings[by_shot[i]] for i in sc.shots], axis=0))
                for sc in scenes
            ]
        ).astype(np.float32)
        spot_embs = (
            np.asarray(rec.encoder("frame").encode_images(list(frames)), dtype=np.float32)
            if frames is not None
            else None
        )
        av_means = av_spots = None
        if found.av_embeddings is not None:  # PE-AV: a scene is its shots' clips, a spot its frame
            av = found.av_embeddings
            av_means = np.stack(
                [_unit(np.sum([av[by_shot[i]] for i in sc.shots], axis=0)) for sc in scenes]
            ).astype(np.float32)
            av_spots = rec.av_frame_embeddings(list(frames)) if frames is not None else None
    with clock("search"):
        beds = rec.search_frame_embeddings(means, deep, filters=filters, av_embs=av_means)
        spots = (
            rec.search_frame_embeddings(spot_embs, deep, filters=filters, av_embs=av_spots)
            if spot_embs is not None
            else []
        )
    with clock("plan"):
        bed_candidates = [
            rescore_for_role(c, "bed", sc.end - sc.start)[:k]
            for c, sc in zip(beds, scenes, strict=True)
        ]
        spot_candidates = [rescore_for_role(c, "spot", 0.0)[:k] for c in spots]
    return LayerPlan(scenes, bed_candidates, events, spot_candidates)


__all__ = [
    "AMBIENCE_CATEGORIES",
    "Event",
    "LayerPlan",
    "Scene",
    "ShotCandidates",
    "calibrate_scene_threshold",
    "fits_role",
    "is_ambience",
    "group_scenes",
    "motion_onsets",
    "open_recommender",
    "plan_layers",
    "rescore_for_role",
    "shot_candidates",
]
