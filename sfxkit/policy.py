"""A video's soundtrack, shot by shot: retrieve, generate or blend, then fit, mix and export.

Owns the per-shot decision (:func:`decide`), the retrieval-augmented prompt for generation
(:func:`build_prompt`), the turning of catalog hits and generated sounds into timeline layers, the
one verb :func:`soundtrack` (shots → recommend → decide → fetch or generate → fit to the shot →
mix → export) and :func:`soundtrack_batch` (a folder of videos, resumable).

The decision (policy ``"auto"``)
--------------------------------
Every shot's candidates come from :meth:`sfxkit.Recommender.search_frame_embeddings` (best first).
The *strength* of the best candidate is measured on one of two scales:

- **calibrated** — when the index has a calibration, ``Recommendation.confidence`` (a probability
  that the sound fits). ``Thresholds.retrieve_confidence`` (default 0.70) and
  ``Thresholds.generate_confidence`` (default 0.35) bound the three zones.
- **raw** — without calibration (``confidence is None``) each view's cosine score is placed on its
  own scale, 0 at that view's *generate-below* threshold and 1 at its *retrieve-at* threshold, and
  the positions of the views the candidate was scored on are averaged. Defaults
  (``Thresholds.raw``; heuristics for the pretrained models until an index is calibrated):

  ============  ==============  =============  =====================================================
  view          generate below  retrieve at    why
  ============  ==============  =============  =====================================================
  clip_text     0.20            0.27           CLIP ViT-B-32 image↔caption cosines: ~0.3 for a
                                               fitting caption, ~0.15–0.2 for an unrelated one
  bridge        0.30            0.50           trained heads spread matches and non-matches wider
  clap_audio    0.25            0.45           CLAP text/audio cosines of a fitting pair
  clap_text     0.25            0.45           as clap_audio
  ============  ==============  =============  =====================================================

Then, with ``margin`` = top-1 score − top-2 score (fused raw scores; ``Thresholds.min_margin``,
default 0.01):

- strength at or above *retrieve* and margin ≥ ``min_margin`` (or a single candidate) → ``retrieve``;
- strength at or above *retrieve* but margin < ``min_margin`` → ``blend`` (a strong match that does
  not stand out from the next one: the picture is close to many sounds, so a generated layer
  made for this shot ties the retrieved sound to it);
- strength below *generate* → ``generate`` (no confident match);
- in between → ``blend``;
- no candidate at all (empty index or filters too tight) → ``generate``.

Policies ``retrieve``, ``generate`` and ``blend`` force the decision for every shot and
``overrides={shot: decision}`` forces single shots (``silence`` is also allowed there); the auto
verdict is still computed and kept in the numbers. A forced ``retrieve`` with no candidate, or none
whose audio can be read, leaves the shot silent rather than generating behind the user's back.
Every decision records its reason (one line) and its numbers (scores, thresholds, margin).

Generation is retrieval-augmented: the prompt is built from the best candidates' titles and the
top candidate's visual description (:func:`build_prompt`), the negative prompt defaults to
``"speech, music"``; both can be overridden. Generated sounds are flagged non-commercial unless
their weights' licence is known and allows commercial use (no MMAudio checkpoint does:
CC-BY-NC 4.0; untrained tiny weights have no licence and are not cleared either).

Fitting: a retrieved sound is trimmed, or looped when it is shorter than the shot and at least
``LOOP_MIN_SECONDS`` long (sustained material; a shorter one-shot is not repeated), with short
fades, and its main onset is aligned to the strongest motion onset in the shot's first second; a
generated sound is already in sync with the shot and is only trimmed. Optionally the loudness
follows motion energy and the pan follows the horizontal centroid of motion
(:func:`sfxkit.mix.shape_layer`). Mixing and loudness are :func:`sfxkit.mix.mix_timeline`'s;
files are :func:`sfxkit.export.export_all`'s.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sfxkit.errors import (
    ConfigError,
    InputError,
    MediaError,
    MissingExtraError,
    ModelError,
    SfxkitError,
)

if TYPE_CHECKING:
    from sfxkit.export import ExportResult
    from sfxkit.generation.base import GeneratedSound, Generator
    from sfxkit.media.frames import VideoInfo
    from sfxkit.media.motion import MotionProfile
    from sfxkit.media.shots import Shot
    from sfxkit.mix import Stem
    from sfxkit.recommender import Recommendation, Recommender
    from sfxkit.store import LoadedIndex
    from sfxkit.timeline import Layer, Timeline

POLICIES: tuple[str, ...] = ("auto", "retrieve", "generate", "blend")
FORCED: tuple[str, ...] = ("retrieve", "generate", "blend", "silence")
STAGES: tuple[str, ...] = ("load", "decode", "encode", "search", "generate", "mix", "export")
FITS: tuple[str, ...] = ("auto", "trim", "loop")

DEFAULT_NEGATIVE_PROMPT = "speech, music"
DEFAULT_VARIANT = "large_44k_v2"
DEFAULT_SAMPLE_RATE = 48_000
LOOP_MIN_SECONDS = 1.0
PROMPT_CANDIDATES = 3
# CLIP's text tower reads 77 tokens; a prompt longer than this many words would be cut anyway.
PROMPT_MAX_WORDS = 40

RAW_THRESHOLDS: dict[str, tuple[float, float]] = {
    "clip_text": (0.20, 0.27),
    "bridge": (0.30, 0.50),
    "clap_audio": (0.25, 0.45),
    "clap_text": (0.25, 0.45),
}
"""Per view: (generate below, retrieve at) raw cosine scores; see the module docstring."""

# Licences whose text says the material may not be used commercially (CC-BY-NC-*, "NC", ...).
_NON_COMMERCIAL = re.compile(r"(\bNC\b|non[-\s]?commercial)", re.IGNORECASE)
# The describer's templates ("a photo of ...") help CLIP, not a sound prompt.
_VISUAL_PREFIX = re.compile(
    r"^(a photo of|a close-up of|a scene with|a video frame showing|a film still of|a wide shot of)\s+",
    re.IGNORECASE,
)


# ---- thresholds and the decision --------------------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    """The numbers :func:`decide` uses (see the module docstring for how)."""

    retrieve_confidence: float = 0.70
    generate_confidence: float = 0.35
    min_margin: float = 0.01
    raw: Mapping[str, tuple[float, float]] = field(default_factory=lambda: dict(RAW_THRESHOLDS))

    def __post_init__(self) -> None:
        if not 0.0 <= self.generate_confidence <= self.retrieve_confidence <= 1.0:
            raise InputError(
                "thresholds need 0 <= generate_confidence <= retrieve_confidence <= 1, got "
                f"{self.generate_confidence} and {self.retrieve_confidence}"
            )
        if self.min_margin < 0:
            raise InputError(f"min_margin must be >= 0, got {self.min_margin}")
        raw = {}
        for view, pair in dict(self.raw).items():
            lo, hi = (float(v) for v in pair)
            if not lo < hi:
                raise InputError(
                    f"raw thresholds for view '{view}' need generate-below < retrieve-at, "
                    f"got ({lo}, {hi})"
                )
            raw[view] = (lo, hi)
        object.__setattr__(self, "raw", raw)

    def to_dict(self) -> dict[str, Any]:
        return {
            "retrieve_confidence": self.retrieve_confidence,
            "generate_confidence": self.generate_confidence,
            "min_margin": self.min_margin,
            "raw": {v: list(p) for v, p in self.raw.items()},
        }


DEFAULT_THRESHOLDS = Thresholds()


def _check_policy(policy: str) -> None:
    if policy not in POLICIES:
        raise InputError(f"unknown policy {policy!r}; use one of: {', '.join(POLICIES)}")


def _evidence(
    recs: Sequence[Recommendation], th: Thresholds
) -> tuple[str | None, str, dict[str, Any]]:
    """(zone, wording, numbers) for the best candidate: zone is 'strong', 'middle', 'weak', or
    None when no threshold applies to any of its views."""
    top = recs[0]
    numbers: dict[str, Any] = {
        "candidates": len(recs),
        "top_id": top.id,
        "top_title": top.title,
        "top_score": round(float(top.score), 6),
        "view_scores": {v: round(float(s), 6) for v, s in top.view_scores.items()},
        "second_score": round(float(recs[1].score), 6) if len(recs) > 1 else None,
        "margin": round(float(top.score - recs[1].score), 6) if len(recs) > 1 else None,
        "min_margin": th.min_margin,
    }
    if top.confidence is not None:
        conf = float(top.confidence)
        numbers.update(
            scale="calibrated",
            confidence=round(conf, 6),
            retrieve_at=th.retrieve_confidence,
            generate_below=th.generate_confidence,
        )
        wording = f"confidence {conf:.2f}"
        if conf >= th.retrieve_confidence:
            return "strong", f"{wording} >= {th.retrieve_confidence:.2f}", numbers
        if conf < th.generate_confidence:
            return "weak", f"{wording} < {th.generate_confidence:.2f}", numbers
        return (
            "middle",
            f"{wording} between {th.generate_confidence:.2f} and {th.retrieve_confidence:.2f}",
            numbers,
        )
    positions: dict[str, float] = {}
    parts: list[str] = []
    for view, score in top.view_scores.items():
        pair = th.raw.get(view)
        if pair is None:
            continue
        lo, hi = pair
        positions[view] = (float(score) - lo) / (hi - lo)
        parts.append(f"{view} {float(score):.3f} (generate < {lo:.2f}, retrieve >= {hi:.2f})")
    numbers.update(
        scale="raw",
        confidence=None,
        raw_thresholds={v: list(th.raw[v]) for v in positions},
        positions={v: round(p, 6) for v, p in positions.items()},
    )
    if not positions:
        numbers["strength"] = None
        views = ", ".join(top.view_scores) or "none"
        return (
            None,
            f"no raw thresholds for the views it was scored on ({views}); pass "
            "thresholds=Thresholds(raw={...}) or calibrate the index",
            numbers,
        )
    strength = float(np.mean(list(positions.values())))
    numbers["strength"] = round(strength, 6)
    wording = "; ".join(parts) + (f"; mean position {strength:.2f}" if len(parts) > 1 else "")
    if strength >= 1.0:
        return "strong", wording, numbers
    if strength < 0.0:
        return "weak", wording, numbers
    return "middle", wording, numbers


def _auto(recs: Sequence[Recommendation], th: Thresholds) -> tuple[str, str, dict[str, Any]]:
    if not recs:
        return (
            "generate",
            "no catalog sound passes the filters: nothing to retrieve",
            {"candidates": 0},
        )
    zone, wording, numbers = _evidence(recs, th)
    title = recs[0].title or recs[0].id
    margin = numbers["margin"]
    if zone == "strong":
        if margin is None or margin >= th.min_margin:
            extra = f", margin {margin:.3f} over #2" if margin is not None else ", only candidate"
            return "retrieve", f"confident match '{title}': {wording}{extra}", numbers
        second = recs[1].title or recs[1].id
        return (
            "blend",
            f"strong but ambiguous match: '{title}' and '{second}' are {margin:.3f} apart "
            f"(< {th.min_margin:.3f}); {wording}",
            numbers,
        )
    if zone == "weak":
        return "generate", f"no confident match: best '{title}' has {wording}", numbers
    if zone is None:
        return "blend", f"cannot grade '{title}': {wording}", numbers
    return "blend", f"partial match '{title}': {wording}", numbers


def decide(
    recs: Sequence[Recommendation],
    *,
    policy: str = "auto",
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> tuple[str, str, dict[str, Any]]:
    """``(decision, reason, numbers)`` for one shot's candidates (best first).

    ``decision`` is ``retrieve``, ``generate``, ``blend`` or (a forced retrieve with nothing to
    retrieve) ``silence``. The rules and thresholds are in the module docstring; ``numbers`` holds
    everything the reason cites, plus ``policy`` and, for a forced policy, the ``auto_decision``.
    """
    _check_policy(policy)
    auto, reason, numbers = _auto(list(recs), thresholds)
    numbers = {**numbers, "policy": policy}
    if policy == "auto":
        return auto, reason, numbers
    numbers["auto_decision"] = auto
    if policy in ("retrieve", "blend") and not recs:
        forced = "silence" if policy == "retrieve" else "generate"
        why = "shot left silent" if forced == "silence" else "generating only"
        return forced, f"policy '{policy}' but {reason}; {why}", numbers
    return policy, f"policy '{policy}' (auto would {auto}: {reason})", numbers


# ---- prompts, layers --------------------------------------------------------------------------


def _visual_phrase(text: str) -> str:
    first = text.split("|")[0].strip()
    return _VISUAL_PREFIX.sub("", first).strip().rstrip(".")


def build_prompt(candidates: Sequence[Recommendation], n: int = PROMPT_CANDIDATES) -> str:
    """A generation prompt from the best ``n`` candidates: their titles (or descriptions) and the
    top candidate's visual description without its "a photo of" template, deduplicated, in rank
    order. Empty when there are no candidates."""
    phrases: list[str] = []
    seen: set[str] = set()

    def add(text: str) -> None:
        text = " ".join(text.split()).strip(" ,;.")
        key = text.lower()
        if text and key not in seen:
            seen.add(key)
            phrases.append(text)

    for r in list(candidates)[: max(n, 0)]:
        add(r.title or r.description)
    if candidates:
        add(_visual_phrase(candidates[0].visual_description))
    words = ", ".join(phrases).split()
    return " ".join(words[:PROMPT_MAX_WORDS])


def is_non_commercial(licence: str | None) -> bool:
    """Whether a licence text names a non-commercial restriction (CC-BY-NC-4.0, "NC", ...)."""
    return bool(licence) and bool(_NON_COMMERCIAL.search(str(licence)))


def retrieved_layer(rec: Recommendation, *, gain_db: float = 0.0) -> Layer:
    """The catalog sound of ``rec`` as a layer (its own rate and channels) with its provenance.

    Raises :class:`MediaError` naming the file when it cannot be read.
    """
    from sfxkit.media.audio import load_audio
    from sfxkit.timeline import Layer

    audio = load_audio(rec.path)
    return Layer(
        kind="retrieved",
        waveform=audio.samples,
        sample_rate=audio.sample_rate,
        source={
            "id": rec.id,
            "path": rec.path,
            "title": rec.title,
            "category": rec.category,
            "score": float(rec.score),
            "confidence": rec.confidence,
            "rank": rec.rank,
            "untrained_index": rec.untrained,
        },
        licence=rec.licence or "unknown",
        non_commercial=is_non_commercial(rec.licence),
        gain_db=gain_db,
    )


def generated_licence(sound: GeneratedSound) -> tuple[str, bool]:
    """``(licence, non_commercial)`` of a generated sound from its provenance.

    The weights' licence decides; a sound whose weights have no known licence (untrained tiny
    variants) is not cleared for commercial use either, so it is flagged too.
    """
    licence = sound.provenance.get("weights_licence")
    if licence:
        return str(licence), is_non_commercial(str(licence))
    if sound.untrained:
        return "none: untrained test weights (real MMAudio weights are CC-BY-NC-4.0)", True
    return "unknown", True


def generated_layer(sound: GeneratedSound, *, gain_db: float = 0.0) -> Layer:
    """A generated sound as a layer; provenance kept, licence and non-commercial flag set."""
    from sfxkit.timeline import Layer

    licence, nc = generated_licence(sound)
    prov = dict(sound.provenance)
    model = prov.get("model") or "generator"
    variant = prov.get("variant")
    source = {**prov, "generator": f"{model}:{variant}" if variant else str(model)}
    return Layer(
        kind="generated",
        waveform=sound.waveform,
        sample_rate=sound.sample_rate,
        source=source,
        licence=licence,
        non_commercial=nc,
        gain_db=gain_db,
    )


# ---- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShotDecision:
    """What was decided for one shot, why, and from what."""

    shot: Shot
    decision: str
    reason: str
    numbers: dict[str, Any]
    candidates: list[Recommendation]
    prompt: str
    negative_prompt: str

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.shot.to_dict(),
            "decision": self.decision,
            "reason": self.reason,
            "numbers": self.numbers,
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "candidates": [r.to_dict() for r in self.candidates],
        }


@dataclass(frozen=True, eq=False)
class SoundtrackResult:
    """A video's soundtrack: the plan (``timeline``), the per-shot ``decisions``, the ``mix``
    (float32 ``(channels, samples)`` at ``timeline.sample_rate``), its ``stems``, the files
    written (``exports``, when ``out`` was given) and ``stats`` (loudness, true peak, seconds
    per stage, decision counts, whether untrained models took part)."""

    video: Path
    timeline: Timeline
    decisions: list[ShotDecision]
    mix: np.ndarray
    stems: tuple[Stem, ...]
    exports: ExportResult | None
    stats: dict[str, Any]

    @property
    def non_commercial(self) -> bool:
        return self.timeline.non_commercial


class StageClock:
    """Seconds spent per stage, summed over every entry of a stage: ``load`` (models), ``decode``
    (shots, keyframes, motion, catalog audio), ``encode`` (CLIP on keyframes), ``search``,
    ``generate``, ``mix`` (fitting, shaping, mixing, measuring) and ``export``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = dict.fromkeys(STAGES, 0.0)

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - t0


# ---- shared steps (also used by sfxkit.report) ------------------------------------------------


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


class LazyGenerator:
    """Loads the generator on first use, so a soundtrack that never generates loads no model."""

    def __init__(
        self,
        variant: str = DEFAULT_VARIANT,
        device: str | None = None,
        generator: Generator | None = None,
    ) -> None:
        self.variant = variant
        self.device = device
        self._gen = generator

    @property
    def loaded(self) -> Generator:
        if self._gen is None:
            from sfxkit._progress import stage
            from sfxkit.generation.mmaudio.pipeline import get_generator

            with stage(f"loading MMAudio {self.variant}"):
                self._gen = get_generator(self.variant, device=self.device or "auto")
        return self._gen

    def for_shot(
        self,
        video: str | Path,
        shot: Shot,
        video_duration: float,
        *,
        tail: float,
        prompt: str,
        negative_prompt: str,
        steps: int,
        cfg_strength: float,
        seed: int,
    ) -> GeneratedSound:
        """The shot's sound, conditioned on its own frames, ``tail`` seconds longer where the
        video goes on (material for the crossfade into the next shot). Each shot gets its own
        seed (``seed + shot.index``) so equal prompts do not give equal noise."""
        duration = min(shot.duration + max(tail, 0.0), video_duration - shot.start)
        return self.loaded.generate(
            video,
            start=shot.start,
            duration=duration,
            prompt=prompt,
            negative_prompt=negative_prompt,
            steps=steps,
            cfg_strength=cfg_strength,
            seed=seed + shot.index,
            progress=False,
        )


def fit_mode(layer: Layer, shot_duration: float, fit: str) -> str:
    """``trim`` or ``loop`` for a retrieved layer (see the module docstring for ``auto``)."""
    if fit not in FITS:
        raise InputError(f"unknown fit {fit!r}; use one of: {', '.join(FITS)}")
    if fit != "auto":
        return fit
    return "loop" if LOOP_MIN_SECONDS <= layer.duration < shot_duration else "trim"


def motion_for(video: str | Path, shot: Shot) -> MotionProfile:
    from sfxkit.media.motion import motion_profile

    return motion_profile(video, start=shot.start, end=shot.end)


# ---- the verb ---------------------------------------------------------------------------------


def _check_overrides(overrides: Mapping[int, str] | None) -> dict[int, str]:
    out: dict[int, str] = {}
    for key, value in dict(overrides or {}).items():
        try:
            index = int(key)
        except (TypeError, ValueError):
            raise InputError(f"overrides keys are shot numbers, got {key!r}") from None
        if value not in FORCED:
            raise InputError(
                f"override for shot {index} is {value!r}; use one of: {', '.join(FORCED)}"
            )
        out[index] = value
    return out


@dataclass(frozen=True)
class ShotChoice:
    """What a person chose for one shot (the review page's session file): ``decision``
    (retrieve, generate, blend, silence; None keeps the policy's), the catalog ``sound`` id to
    use instead of the best candidate, and ``gain_db`` and ``offset`` (seconds, later when
    positive, within the shot) nudges of that sound. ``blend`` is the generated share of a blended
    shot, 0 (all catalog) to 1 (all generated), an equal-power balance (:func:`share_gains_db`);
    None keeps ``soundtrack(blend_gains_db=)``."""

    decision: str | None = None
    sound: str | None = None
    gain_db: float = 0.0
    offset: float = 0.0
    blend: float | None = None

    def __post_init__(self) -> None:
        if self.decision is not None and self.decision not in FORCED:
            raise InputError(f"choice decision {self.decision!r}; use one of: {', '.join(FORCED)}")
        if self.blend is not None and not 0.0 <= self.blend <= 1.0:
            raise InputError(
                f"choice blend {self.blend!r}: the generated share goes from 0 (all catalog) "
                "to 1 (all generated)"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "sound": self.sound,
            "gain_db": self.gain_db,
            "offset": self.offset,
            "blend": self.blend,
        }


def share_gains_db(share: float) -> tuple[float, float]:
    """(catalog dB, generated dB) of a blend whose generated share is ``share`` in [0, 1]:
    equal power, so the sum keeps its loudness across the range (-3 dB each at 0.5); an end of
    the range mutes the other sound (-120 dB)."""
    import math

    def db(x: float) -> float:
        return 20.0 * math.log10(max(x, 1e-6))

    return db(math.cos(share * math.pi / 2)), db(math.sin(share * math.pi / 2))


def load_choices(choices: str | Path | Mapping[Any, Any] | None) -> dict[int, ShotChoice]:
    """Per-shot choices from a session file (JSON ``{"shots": {"2": {"decision": "retrieve",
    "sound": ID, "gain_db": -3}}}``) or the same mapping; shot numbers as keys."""
    if choices is None:
        return {}
    if isinstance(choices, (str, Path)):
        path = Path(choices)
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            raise InputError(f"{path}: no such choices file") from None
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: not a choices file ({exc})") from None
    else:
        doc = dict(choices)
    shots = doc.get("shots", doc) if isinstance(doc, Mapping) else None
    if not isinstance(shots, Mapping):
        raise InputError('choices: expected {"shots": {"SHOT": {"decision": ..., "sound": ...}}}')
    out: dict[int, ShotChoice] = {}
    for key, value in shots.items():
        try:
            index = int(key)
        except (TypeError, ValueError):
            raise InputError(f"choices keys are shot numbers, got {key!r}") from None
        if isinstance(value, ShotChoice):
            out[index] = value
            continue
        if not isinstance(value, Mapping):
            raise InputError(f"choice for shot {index} must be an object, got {value!r}")
        unknown = set(value) - {"decision", "sound", "gain_db", "offset", "blend"}
        if unknown:
            raise InputError(
                f"choice for shot {index}: unknown key(s) {sorted(unknown)}; "
                "use decision, sound, gain_db, offset, blend"
            )
        blend = value.get("blend")
        if blend is not None and not isinstance(blend, (int, float)):
            raise InputError(f"choice for shot {index}: blend {blend!r} is not a number in [0, 1]")
        out[index] = ShotChoice(
            decision=value.get("decision"),
            sound=value.get("sound"),
            gain_db=float(value.get("gain_db") or 0.0),
            offset=float(value.get("offset") or 0.0),
            blend=None if blend is None else float(blend),
        )
    return out


def _nudged(layer: Layer, offset: float) -> Layer:
    """``layer`` moved ``offset`` seconds later (earlier when negative) inside its own length."""
    import dataclasses

    wave = layer.waveform
    n = int(round(abs(offset) * layer.sample_rate))
    moved = np.zeros_like(wave)
    if n < wave.shape[-1]:
        if offset > 0:
            moved[..., n:] = wave[..., : wave.shape[-1] - n]
        else:
            moved[..., : wave.shape[-1] - n] = wave[..., n:]
    return dataclasses.replace(layer, waveform=moved)


def _chosen_sound(
    rec: Recommender, cands: Sequence[Recommendation], sound: str, shot: int
) -> Recommendation:
    for r in cands:
        if r.id == sound:
            return r
    rows = rec.index.rows
    hit = rows.index[rows["id"] == sound]
    if len(hit) == 0:
        raise InputError(f"choices: shot {shot} names sound {sound!r}, which is not in this index")
    fid = int(rows.loc[hit[0], "faiss_id"])
    return rec._make(np.array([fid]), np.array([0.0], dtype=np.float32), {})[0]


def soundtrack(
    video: str | Path,
    index: str | Path | LoadedIndex | Recommender,
    *,
    out: str | Path | None = None,
    policy: str = "auto",
    overrides: Mapping[int, str] | None = None,
    k: int = 5,
    target_lufs: float = -23.0,
    true_peak: float = -1.0,
    prompt: str | None = None,
    negative_prompt: str = DEFAULT_NEGATIVE_PROMPT,
    variant: str = DEFAULT_VARIANT,
    steps: int = 25,
    seed: int = 42,
    blend_mode: str = "layer",
    follow_motion: bool = True,
    pan: bool = False,
    device: str | None = None,
    progress: bool | None = None,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    filters: Any = None,
    cfg_strength: float = 4.5,
    blend_gains_db: tuple[float, float] = (0.0, 0.0),
    fit: str = "auto",
    align: bool = True,
    crossfade: float = 0.02,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    shots: Sequence[Shot] | None = None,
    generator: Generator | LazyGenerator | None = None,
    choices: str | Path | Mapping[Any, Any] | None = None,
) -> SoundtrackResult:
    """Give ``video`` its sound effects from the index at ``index``, shot by shot.

    Cuts the video into shots, recommends ``k`` sounds per shot and decides ``retrieve``,
    ``generate`` or ``blend`` (``policy``; ``overrides={shot: decision}`` forces single shots;
    rules in the module docstring). Retrieved sounds are fitted to their shot (trim/loop, onset
    aligned to the visual motion onset when ``align``), optionally follow motion energy
    (``follow_motion``) and position (``pan``); generated ones (MMAudio ``variant``, ``steps``,
    ``cfg_strength``, ``seed`` + shot number) are prompted by ``prompt`` or, by default, by the
    shot's best candidates. ``blend`` layers both (``blend_gains_db`` = retrieved, generated dB)
    or crossfades (``blend_mode="crossfade"``). The mix is at ``target_lufs`` integrated loudness
    under ``true_peak`` dBTP with equal-power ``crossfade`` s at shot boundaries. With ``out`` it
    also writes the stems, mix, muxed video, CSV/EDL/OTIO cue sheets, provenance and
    ``decisions.json`` there. Catalog sounds flagged ``silent`` are never used unless
    ``filters`` says otherwise. ``choices`` (a review session file or mapping, see
    :func:`load_choices`) override the decision, sound, gain and blend share of single shots.
    """
    from sfxkit.mix import mix_stats, mix_timeline, shape_layer
    from sfxkit.timeline import Cue, Timeline

    _check_policy(policy)
    forced = _check_overrides(overrides)
    chosen = load_choices(choices)
    forced.update({i: c.decision for i, c in chosen.items() if c.decision is not None})
    if blend_mode not in ("layer", "crossfade"):
        raise InputError(f"unknown blend_mode {blend_mode!r}; use 'layer' or 'crossfade'")
    if fit not in FITS:
        raise InputError(f"unknown fit {fit!r}; use one of: {', '.join(FITS)}")
    if steps < 1:
        raise InputError(f"steps must be >= 1, got {steps}")
    if len(blend_gains_db) != 2:
        raise InputError("blend_gains_db takes two gains: (retrieved dB, generated dB)")
    video = Path(video)
    clock = StageClock()
    rec = open_recommender(index, device)
    if filters is None:
        filters = {"exclude_flags": ("silent",)}
    from sfxkit._progress import stage

    with stage(f"{video.name}: shots and catalog candidates", enabled=progress):
        found = shot_candidates(video, rec, k=k, filters=filters, shots=shots, clock=clock)
    info, shot_list = found.info, found.shots
    bad = sorted(i for i in {*forced, *chosen} if not 0 <= i < len(shot_list))
    if bad:
        raise InputError(
            f"overrides name shot(s) {bad} but {video} has {len(shot_list)} shot(s), "
            f"numbered 0..{len(shot_list) - 1}"
        )
    gen = (
        generator
        if isinstance(generator, LazyGenerator)
        else LazyGenerator(variant, device, generator)
    )
    handle = max(crossfade, 0.0) / 2.0
    r_gain, g_gain = (float(g) for g in blend_gains_db)

    from sfxkit._progress import track

    decisions: list[ShotDecision] = []
    cues: list[Cue] = []
    for shot, cands in track(
        list(zip(shot_list, found.candidates, strict=True)),
        total=len(shot_list),
        desc="soundtrack",
        unit="shot",
        enabled=progress,
    ):
        decision, reason, numbers = decide(cands, policy=policy, thresholds=thresholds)
        if shot.index in forced:
            if "auto_decision" not in numbers:
                numbers["auto_decision"] = decision
            decision = forced[shot.index]
            by = "the review choices" if shot.index in chosen else f"overrides[{shot.index}]"
            reason = f"forced by {by} = '{decision}' (policy gave: {reason})"
            numbers["override"] = decision
        choice = chosen.get(shot.index)
        rg, gg = r_gain, g_gain
        if choice is not None and choice.blend is not None:
            rg, gg = share_gains_db(choice.blend)
            if decision == "blend":
                numbers["blend_share"] = choice.blend
        if choice is not None and choice.sound is not None:
            pick = _chosen_sound(rec, cands, choice.sound, shot.index)
            cands = [pick, *(c for c in cands if c.id != pick.id)]
            numbers["chosen_sound"] = pick.id
        shot_prompt = prompt if prompt is not None else build_prompt(cands)
        layers: list[Layer] = []
        profile = None
        if decision in ("retrieve", "blend"):
            nudge = choice.gain_db if choice is not None else 0.0
            layer, skipped = _first_readable(
                cands, (rg if decision == "blend" else 0.0) + nudge, clock
            )
            if skipped:
                numbers["unreadable_candidates"] = skipped
            if layer is None:
                fallback = "silence" if decision == "retrieve" else "generate"
                why = "; ".join(s["reason"] for s in skipped) or "no candidates"
                reason += f" — no candidate sound could be used ({why}): {fallback} instead"
                decision = fallback
            else:
                with clock("decode"):
                    profile = motion_for(video, shot) if (align or follow_motion or pan) else None
                with clock("mix"):
                    layers.append(
                        shape_layer(
                            layer,
                            video,
                            shot.start,
                            shot.end,
                            mode=fit_mode(layer, shot.duration, fit),  # type: ignore[arg-type]
                            align=align,
                            follow_motion=follow_motion,
                            pan=pan,
                            handle=handle,
                            profile=profile,
                        )
                    )
                    if choice is not None and choice.offset:
                        layers[-1] = _nudged(layers[-1], choice.offset)
                        numbers["offset_nudge"] = choice.offset
                numbers["retrieved_id"] = layer.source.get("id")
        if decision in ("generate", "blend"):
            with clock("load"):
                gen.loaded  # noqa: B018 - load the model outside the generate timing
            with clock("generate"):
                sound = gen.for_shot(
                    video,
                    shot,
                    info.duration,
                    tail=handle,
                    prompt=shot_prompt,
                    negative_prompt=negative_prompt,
                    steps=steps,
                    cfg_strength=cfg_strength,
                    seed=seed,
                )
            glayer = generated_layer(sound, gain_db=gg if decision == "blend" else 0.0)
            if (follow_motion or pan) and profile is None:
                with clock("decode"):
                    profile = motion_for(video, shot)
            with clock("mix"):
                layers.append(
                    shape_layer(
                        glayer,
                        video,
                        shot.start,
                        shot.end,
                        mode="trim",
                        align=False,  # generated from the shot's own frames: already in sync
                        follow_motion=follow_motion,
                        pan=pan,
                        handle=handle,
                        profile=profile,
                    )
                )
        numbers["decision"] = decision
        decisions.append(
            ShotDecision(
                shot=shot,
                decision=decision,
                reason=reason,
                numbers=numbers,
                candidates=list(cands),
                prompt=shot_prompt if decision in ("generate", "blend") else "",
                negative_prompt=negative_prompt if decision in ("generate", "blend") else "",
            )
        )
        cues.append(
            Cue(
                index=shot.index,
                start=shot.start,
                end=min(shot.end, info.duration),
                decision=decision,  # type: ignore[arg-type]
                reason=reason,
                numbers=numbers,
                layers=tuple(layers),
                blend=blend_mode if decision == "blend" else "layer",  # type: ignore[arg-type]
            )
        )

    timeline = Timeline(
        video=str(video),
        duration=info.duration,
        sample_rate=sample_rate,
        channels=2,
        cues=tuple(cues),
        fps=info.fps or None,
    )
    with clock("mix"):
        mix, stems = mix_timeline(
            timeline, target_lufs=target_lufs, true_peak=true_peak, crossfade=crossfade
        )
        measured = mix_stats(mix, sample_rate, target_lufs=target_lufs, ceiling_dbtp=true_peak)
    exports = None
    if out is not None:
        from sfxkit.export import export_all
        from sfxkit.timeline import json_default, write_text

        with clock("export"):
            exports = export_all(
                timeline,
                mix,
                stems,
                out,
                video=video,
                target_lufs=target_lufs,
                true_peak=true_peak,
            )
            write_text(
                Path(out) / "decisions.json",
                json.dumps(
                    {
                        "video": str(video),
                        "policy": policy,
                        "thresholds": thresholds.to_dict(),
                        "untrained_index": rec.untrained,
                        "shots": [d.to_dict() for d in decisions],
                    },
                    indent=2,
                    default=json_default,
                )
                + "\n",
            )
    counts = Counter(d.decision for d in decisions)
    generated = [
        lay
        for c in cues
        for lay in c.layers
        if lay.kind == "generated" and lay.source.get("untrained")
    ]
    stats = {
        "shots": len(shot_list),
        "duration": info.duration,
        "decisions": {d: counts.get(d, 0) for d in (*FORCED,)},
        "target_lufs": target_lufs,
        "loudness": measured.loudness,
        "loudness_kind": measured.loudness_kind,
        "true_peak_dbtp": measured.true_peak_dbtp,
        "ceiling_dbtp": true_peak,
        "non_commercial": timeline.non_commercial,
        "untrained_index": rec.untrained,
        "untrained_generator": bool(generated),
        "seconds": {s: round(v, 4) for s, v in clock.seconds.items()},
    }
    return SoundtrackResult(
        video=video,
        timeline=timeline,
        decisions=decisions,
        mix=mix,
        stems=tuple(stems),
        exports=exports,
        stats=stats,
    )


def _first_readable(
    cands: Sequence[Recommendation], gain_db: float, clock: StageClock
) -> tuple[Layer | None, list[dict[str, str]]]:
    """The best candidate whose audio decodes, and the ones skipped on the way (with why)."""
    skipped: list[dict[str, str]] = []
    for r in cands:
        try:
            with clock("decode"):
                return retrieved_layer(r, gain_db=gain_db), skipped
        except SfxkitError as exc:  # MediaError/InputError: a missing or broken catalog file
            skipped.append({"id": r.id, "path": r.path, "reason": str(exc)})
    return None, skipped


# ---- batch ------------------------------------------------------------------------------------

DONE_MARKER = "sfxkit_done.json"
BATCH_REPORT = "batch_report.json"
# Problems of the setup, not of one video: every other video would fail the same way.
_FATAL = (ModelError, MissingExtraError, ConfigError)


@dataclass(frozen=True)
class BatchItem:
    """One video of a batch: ``status`` is ``done``, ``skipped`` (finished by an earlier run with
    the same settings) or ``failed`` (``error`` says why)."""

    video: Path
    out: Path
    status: str
    error: str = ""
    seconds: float = 0.0
    decisions: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchReport:
    """What :func:`soundtrack_batch` did, per video; also written to ``out_dir/batch_report.json``."""

    out_dir: Path
    items: tuple[BatchItem, ...]
    report: Path | None = None

    @property
    def done(self) -> list[BatchItem]:
        return [i for i in self.items if i.status == "done"]

    @property
    def skipped(self) -> list[BatchItem]:
        return [i for i in self.items if i.status == "skipped"]

    @property
    def failed(self) -> list[BatchItem]:
        return [i for i in self.items if i.status == "failed"]

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir),
            "done": len(self.done),
            "skipped": len(self.skipped),
            "failed": len(self.failed),
            "videos": [
                {
                    "video": str(i.video),
                    "out": str(i.out),
                    "status": i.status,
                    "error": i.error,
                    "seconds": round(i.seconds, 3),
                    "decisions": i.decisions,
                }
                for i in self.items
            ],
        }


def list_videos(videos_or_dir: str | Path | Sequence[str | Path]) -> tuple[list[Path], Path | None]:
    """The videos a batch covers (a folder is searched recursively by extension) and the folder."""
    from sfxkit.media.frames import is_video

    if isinstance(videos_or_dir, (str, Path)):
        root = Path(videos_or_dir)
        if root.is_dir():
            found = sorted(p for p in root.rglob("*") if p.is_file() and is_video(p))
            if not found:
                raise InputError(
                    f"{root}: no video files here (looked for common video extensions)"
                )
            return found, root
        return [root], None
    return [Path(v) for v in videos_or_dir], None


def _out_names(videos: Sequence[Path], root: Path | None) -> list[str]:
    """One folder name per video: its path under ``root`` joined with ``__``, unique."""
    names: list[str] = []
    used: set[str] = set()
    for v in videos:
        rel = v.relative_to(root) if root is not None else Path(v.name)
        base = "__".join([*rel.parts[:-1], rel.stem]) or "video"
        name = base
        if name in used:
            name = f"{base}_{rel.suffix.lstrip('.')}"
        n = 2
        while name in used:
            name = f"{base}_{n}"
            n += 1
        used.add(name)
        names.append(name)
    return names


def _identity(video: Path, settings: Mapping[str, Any]) -> dict[str, Any]:
    st = video.stat()
    blob = json.dumps(settings, sort_keys=True, default=str)
    return {
        "video": str(video.resolve()),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "settings": hashlib.sha256(blob.encode()).hexdigest()[:16],
    }


def _finished(out: Path, identity: Mapping[str, Any]) -> bool:
    marker = out / DONE_MARKER
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return all(data.get(k) == v for k, v in identity.items())


def soundtrack_batch(
    videos_or_dir: str | Path | Sequence[str | Path],
    index: str | Path | LoadedIndex | Recommender,
    out_dir: str | Path,
    *,
    progress: bool | None = None,
    device: str | None = None,
    **kw: Any,
) -> BatchReport:
    """:func:`soundtrack` for every video in a folder (recursively) or list, into
    ``out_dir/<name>/``.

    Resumable: a video's folder gets ``sfxkit_done.json`` last, after all its files; a rerun skips
    a video whose marker matches its path, size, modification time and these settings, and
    redoes it otherwise. A bad video is reported (``failed``, with the error) and the batch goes
    on; problems of the setup (model weights missing, an optional package absent) stop it, since
    every video would fail the same way. ``kw`` are :func:`soundtrack`'s keyword arguments. The
    index and generator are loaded once for the whole batch.
    """
    from sfxkit._progress import track
    from sfxkit.timeline import write_text

    if "out" in kw:
        raise InputError("soundtrack_batch writes into out_dir/<video name>; do not pass out=")
    videos, root = list_videos(videos_or_dir)
    out_root = Path(out_dir)
    out_root.mkdir(parents=True, exist_ok=True)
    rec = open_recommender(index, device)
    given = kw.pop("generator", None)
    gen = (
        given
        if isinstance(given, LazyGenerator)
        else LazyGenerator(kw.get("variant", DEFAULT_VARIANT), device, given)
    )
    settings = {k: v for k, v in sorted(kw.items())}
    items: list[BatchItem] = []
    names = _out_names(videos, root)
    for video, name in track(
        list(zip(videos, names, strict=True)),
        total=len(videos),
        desc="videos",
        unit="video",
        enabled=progress,
    ):
        out = out_root / name
        t0 = time.perf_counter()
        try:
            identity = _identity(video, settings)
        except OSError as exc:
            items.append(
                BatchItem(video, out, "failed", f"{video}: cannot read ({exc.strerror or exc})")
            )
            continue
        if _finished(out, identity):
            items.append(BatchItem(video, out, "skipped"))
            continue
        (out / DONE_MARKER).unlink(missing_ok=True)
        try:
            result = soundtrack(
                video,
                rec,
                out=out,
                device=device,
                progress=False,
                generator=gen,
                **kw,
            )
        except _FATAL:
            raise
        except Exception as exc:  # noqa: BLE001 - one bad video must not stop the batch
            message = str(exc) if isinstance(exc, SfxkitError) else f"{type(exc).__name__}: {exc}"
            items.append(BatchItem(video, out, "failed", message, time.perf_counter() - t0))
            continue
        write_text(
            out / DONE_MARKER,
            json.dumps({**identity, "stats": result.stats}, indent=2, default=str) + "\n",
        )
        items.append(
            BatchItem(
                video,
                out,
                "done",
                seconds=time.perf_counter() - t0,
                decisions=dict(result.stats["decisions"]),
            )
        )
    report = BatchReport(out_root, tuple(items))
    path = write_text(out_root / BATCH_REPORT, json.dumps(report.to_dict(), indent=2) + "\n")
    return BatchReport(out_root, tuple(items), path)


__all__ = [
    "DEFAULT_THRESHOLDS",
    "POLICIES",
    "BatchItem",
    "BatchReport",
    "ShotDecision",
    "SoundtrackResult",
    "Thresholds",
    "build_prompt",
    "decide",
    "soundtrack",
    "soundtrack_batch",
]
