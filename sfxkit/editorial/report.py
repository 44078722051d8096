"""`sfxkit.compare`: retrieved against generated sounds, shot by shot, as one HTML file and JSON.

Owns :func:`compare` and what it writes. For each shot of a video it takes the top-``k`` catalog
sounds and a sound generated for the shot (prompted like :func:`sfxkit.soundtrack` would), fits
each to the shot as the soundtrack would, and scores them side by side:

- **frame↔sound**: the index's frame views: ``clip_text`` (the keyframe's CLIP image embedding
  against the CLIP text embedding of the sound's visual description; for the generated sound,
  of its prompt) and ``bridge`` (trained heads, when the index has them and they can embed
  audio);
- **CLAP↔prompt**: cosine of the CLAP audio embedding of the sound (as fitted to the shot) and
  the CLAP text embedding of the shot's prompt;
- **loudness**: integrated LUFS of the fitted sound (sample-peak dBFS when under 400 ms);
- **duration fit**: ``min(d, s) / max(d, s)`` of the sound's own duration ``d`` and the shot's
  ``s`` (1.0 = no trimming or looping needed);
- **onset vs motion**: the sound's main onset as placed in the shot minus the strongest visual
  motion onset in the shot's first second (None when the shot has none).

Plus the decision :func:`sfxkit.editorial.decision` makes and its reason, and every licence (sounds
under a non-commercial licence are flagged). The HTML is self-contained: keyframes and
spectrograms are PNG data URIs, the sounds WAV data URIs (mono 16-bit previews at
``preview_rate``), no script, no external file, so it works when moved or mailed. Spectrograms
are drawn here with numpy (STFT, dBFS, a built-in colour map) and PIL; no plotting library.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sfxkit.editorial.decision import (
    Thresholds,
    build_prompt,
    decide,
    is_non_commercial,
)
from sfxkit.editorial.options import SoundtrackOptions
from sfxkit.editorial.plan import open_recommender, shot_candidates
from sfxkit.editorial.render import (
    LazyGenerator,
    fit_mode,
    generated_layer,
    motion_for,
    retrieved_layer,
)
from sfxkit.editorial.results import StageClock
from sfxkit.errors import InputError, SfxkitError

if TYPE_CHECKING:
    from PIL import Image

    from sfxkit.delivery.timeline import Layer
    from sfxkit.generation.base import Generator
    from sfxkit.index.store import LoadedIndex
    from sfxkit.media.shots import Shot
    from sfxkit.recommender import Recommendation, Recommender

PREVIEW_RATE = 22_050
SPECTROGRAM_SIZE = (256, 80)
SPECTROGRAM_FLOOR_DB = -90.0
KEYFRAME_MAX_SIDE = 320
# Inferno-like anchors (position, RGB): dark for quiet, bright yellow for loud.
_COLOURS = np.array(
    [
        (0.00, 0, 0, 4),
        (0.25, 87, 16, 110),
        (0.50, 188, 55, 84),
        (0.75, 249, 142, 9),
        (1.00, 252, 255, 164),
    ],
    dtype=np.float64,
)


# ---- media helpers ----------------------------------------------------------------------------


def spectrogram(
    audio: np.ndarray,
    sr: int,
    *,
    size: tuple[int, int] = SPECTROGRAM_SIZE,
    floor_db: float = SPECTROGRAM_FLOOR_DB,
) -> Image.Image:
    """A spectrogram picture of ``audio`` (channels are averaged): time left→right, frequency
    0 Hz (bottom) to ``sr / 2`` (top) on a linear axis, level in dBFS from ``floor_db`` (black) to
    0 (bright yellow). A full-scale sine reads 0 dBFS, so pictures of different sounds compare."""
    from PIL import Image

    x = np.asarray(audio, dtype=np.float64)
    x = x.mean(axis=0) if x.ndim == 2 else x.ravel()
    n_fft = 1024 if sr >= 32_000 else 512
    hop = n_fft // 4
    if x.size < n_fft:
        x = np.pad(x, (0, n_fft - x.size))
    window = np.hanning(n_fft)
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop]
    spec = np.abs(np.fft.rfft(frames * window, axis=1)) * (2.0 / window.sum())
    db = 20.0 * np.log10(spec + 1e-12)
    level = np.clip((db - floor_db) / -floor_db, 0.0, 1.0).T[::-1]  # (bins, frames), low at bottom
    rgb = np.stack(
        [np.interp(level, _COLOURS[:, 0], _COLOURS[:, c]) for c in (1, 2, 3)], axis=-1
    ).astype(np.uint8)
    return Image.fromarray(rgb, mode="RGB").resize(size, Image.Resampling.BILINEAR)


def png_data_uri(image: Image.Image | np.ndarray) -> str:
    from PIL import Image

    img = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def wav_data_uri(audio: np.ndarray, sr: int) -> str:
    """``audio`` as a 16-bit PCM WAV data URI (every browser plays it)."""
    import soundfile as sf

    x = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    x = x[None, :] if x.ndim == 1 else x
    buf = io.BytesIO()
    sf.write(buf, x.T, int(sr), format="WAV", subtype="PCM_16")
    return "data:audio/wav;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _preview(audio: np.ndarray, sr: int, rate: int) -> np.ndarray:
    from sfxkit.media.audio import resample

    mono = np.asarray(audio, dtype=np.float32).mean(axis=0, keepdims=True)
    return resample(mono, sr, rate) if rate < sr else mono


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    return float(a @ b / (na * nb)) if na > 0 and nb > 0 else 0.0


# ---- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SoundScores:
    """One sound of a shot, scored (see the module docstring for each number)."""

    kind: str  # "generated" | "retrieved"
    label: str
    rank: int | None
    id: str | None
    path: str | None
    licence: str
    non_commercial: bool
    untrained: bool
    duration: float
    frame_similarity: dict[str, float]
    frame_similarity_note: str
    clap_prompt: float | None
    loudness: float | None
    loudness_kind: str
    duration_fit: float | None
    audio_onset: float | None
    onset_offset: float | None
    error: str = ""
    # The catalog item's category, else the one predicted from its sound (aiSFX), marked
    # "predicted ..." so a guess never reads as the library's own metadata.
    category: str = ""


@dataclass(frozen=True)
class ShotComparison:
    """The sounds of one shot side by side, with the decision the policy makes for it."""

    shot: Shot
    decision: str
    reason: str
    numbers: dict[str, Any]
    prompt: str
    negative_prompt: str
    visual_onset: float | None
    sounds: tuple[SoundScores, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.shot.to_dict(),
            "decision": self.decision,
            "reason": self.reason,
            "numbers": self.numbers,
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "visual_onset": self.visual_onset,
            "sounds": [asdict(s) for s in self.sounds],
        }


@dataclass(frozen=True)
class CompareResult:
    """Where the report went and what it says."""

    html: Path
    json: Path
    video: Path
    shots: tuple[ShotComparison, ...]
    untrained: bool
    non_commercial: bool
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class _Media:
    keyframe: str
    players: tuple[str | None, ...]
    spectrograms: tuple[str | None, ...]


# ---- scoring ----------------------------------------------------------------------------------


class _Scorer:
    """Embeds sounds and prompts with the index's own models and scores them for one shot."""

    def __init__(self, rec: Recommender) -> None:
        self.rec = rec
        self.audio_enc = rec.encoder("audio")
        self.frame_enc = rec.encoder("frame")
        heads = getattr(rec, "_bridge", None)
        # Bridge scores for a generated sound need the audio head; older heads may lack it.
        self.bridge = heads if heads is not None and hasattr(heads, "embed_audio") else None

    def clap_audio(self, audio: np.ndarray, sr: int) -> np.ndarray:
        from sfxkit.media.audio import resample

        mono = np.asarray(audio, dtype=np.float32).mean(axis=0, keepdims=True)
        rate = int(self.audio_enc.sample_rate)
        wav = resample(mono, sr, rate)[0]
        return np.asarray(self.audio_enc.encode_audio([wav], sample_rate=rate))[0]

    def clap_text(self, text: str) -> np.ndarray | None:
        if not text.strip():
            return None
        return np.asarray(self.audio_enc.encode_texts([text]))[0]

    def clip_text(self, text: str) -> np.ndarray | None:
        if not text.strip():
            return None
        return np.asarray(self.frame_enc.encode_texts([text]))[0]

    def bridge_score(self, image_emb: np.ndarray, clap_emb: np.ndarray) -> float | None:
        if self.bridge is None:
            return None
        query = self.rec.frame_queries(image_emb[None])["bridge"][0]
        return _cos(query, np.asarray(self.bridge.embed_audio(clap_emb[None]))[0])


def _score(
    layer: Layer,
    fitted: np.ndarray,
    *,
    kind: str,
    label: str,
    rank: int | None,
    frame_sim: dict[str, float],
    note: str,
    clap_emb: np.ndarray,
    prompt_emb: np.ndarray | None,
    shot: Shot,
    visual_onset: float | None,
) -> SoundScores:
    from sfxkit.delivery.mix import audio_onset
    from sfxkit.media.loudness import level

    sr = layer.sample_rate
    loud, loud_kind = level(fitted, sr)
    onset = audio_onset(fitted[:, : max(1, int(round(shot.duration * sr)))], sr)
    src = layer.source
    return SoundScores(
        kind=kind,
        label=label,
        rank=rank,
        id=src.get("id"),
        path=src.get("path"),
        licence=layer.licence,
        non_commercial=layer.non_commercial,
        untrained=bool(src.get("untrained") or src.get("untrained_index")),
        duration=round(layer.duration, 4),
        frame_similarity={k: round(v, 6) for k, v in frame_sim.items()},
        frame_similarity_note=note,
        clap_prompt=None if prompt_emb is None else round(_cos(clap_emb, prompt_emb), 6),
        loudness=round(loud, 3),
        loudness_kind=loud_kind,
        duration_fit=round(
            min(layer.duration, shot.duration) / max(layer.duration, shot.duration), 4
        ),
        audio_onset=round(onset, 4),
        onset_offset=None if visual_onset is None else round(onset - visual_onset, 4),
    )


# ---- the verb ---------------------------------------------------------------------------------


def compare(
    video: str | Path,
    index: str | Path | LoadedIndex | Recommender,
    options: SoundtrackOptions | None = None,
    *,
    out: str | Path = "report.html",
    device: str | None = None,
    progress: bool | None = None,
    generator: Generator | LazyGenerator | None = None,
    preview_rate: int = PREVIEW_RATE,
    json_out: str | Path | None = None,
    **knobs: Any,
) -> CompareResult:
    """Write ``out`` (HTML) and ``json_out`` (default: ``out`` with ``.json``) comparing, per shot
    of ``video``, the index's top-``k`` sounds with one generated for the shot.

    The knobs are :func:`sfxkit.soundtrack`'s, as one :class:`SoundtrackOptions` (``options``,
    and/or its field names as keywords): generation, prompts and the decision work as there (same
    ``variant``, ``steps``, ``cfg_strength``, ``seed`` + shot number, ``prompt``/
    ``negative_prompt``, ``policy``, ``thresholds``, ``k``, ``filters`` — by default catalog
    sounds flagged ``silent`` are left out). ``preview_rate`` and ``json_out`` are the report's
    own. See the module docstring for the scores.
    """
    opts = SoundtrackOptions.from_kwargs(options, **knobs)
    k, variant, steps, seed = opts.k, opts.variant, opts.steps, opts.seed
    prompt, negative_prompt, policy = opts.prompt, opts.negative_prompt, opts.policy
    thresholds, filters, cfg_strength = opts.thresholds, opts.filters, opts.cfg_strength
    from sfxkit._atomic import atomic_write_text as write_text
    from sfxkit._json import write_json
    from sfxkit._progress import track

    video = Path(video)
    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"{out}: the report is HTML; name it like report.html")
    json_path = Path(json_out) if json_out is not None else out.with_suffix(".json")
    if preview_rate < 8000:
        raise InputError(f"preview_rate must be at least 8000 Hz, got {preview_rate}")
    t0 = time.perf_counter()
    clock = StageClock()
    rec = open_recommender(index, device)
    if filters is None:
        filters = {"exclude_flags": ("silent",)}
    found = shot_candidates(video, rec, k=k, filters=filters, clock=clock)
    gen = (
        generator
        if isinstance(generator, LazyGenerator)
        else LazyGenerator(variant, device, generator)
    )
    with clock("load"):
        scorer = _Scorer(rec)
    shots: list[ShotComparison] = []
    media: list[_Media] = []
    for i, shot in track(
        list(enumerate(found.shots)),
        total=len(found.shots),
        desc="compare",
        unit="shot",
        enabled=progress,
    ):
        cmp, shot_media = _compare_shot(
            video,
            shot,
            found.candidates[i],
            found.embeddings[i],
            found.keyframes[i],
            scorer=scorer,
            gen=gen,
            clock=clock,
            video_duration=found.info.duration,
            prompt=prompt,
            negative_prompt=negative_prompt,
            policy=policy,
            thresholds=thresholds,
            steps=steps,
            cfg_strength=cfg_strength,
            seed=seed,
            preview_rate=preview_rate,
        )
        shots.append(cmp)
        media.append(shot_media)

    untrained = bool(rec.untrained or getattr(gen.loaded, "untrained", False))
    non_commercial = any(s.non_commercial for c in shots for s in c.sounds)
    seconds = {k: round(v, 3) for k, v in clock.seconds.items()}
    doc = {
        "sfxkit_report": 1,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "video": str(video),
        "index": str(rec.index.store.root) if hasattr(rec.index, "store") else "",
        "untrained": untrained,
        "non_commercial": non_commercial,
        "generator": {"variant": getattr(gen.loaded, "variant", variant), "steps": steps},
        "policy": policy,
        "thresholds": thresholds.to_dict(),
        "k": k,
        "shots": [s.to_dict() for s in shots],
    }
    write_json(json_path, doc)
    seconds["total"] = round(time.perf_counter() - t0, 3)
    page = _html(video, doc, shots, media, json_path, out)
    write_text(out, page)
    return CompareResult(
        html=out,
        json=json_path,
        video=video,
        shots=tuple(shots),
        untrained=untrained,
        non_commercial=non_commercial,
        seconds=seconds,
    )


def _media(fitted: np.ndarray, sr: int, preview_rate: int) -> tuple[str, str]:
    """(WAV data URI, spectrogram PNG data URI) of a sound's mono preview."""
    rate = min(preview_rate, sr)
    pv = _preview(fitted, sr, preview_rate)
    return wav_data_uri(pv, rate), png_data_uri(spectrogram(pv, rate))


def category_words(r: Recommendation) -> str:
    """``CATEGORY/SUBCATEGORY``, else ``predicted CATEGORY/SUBCATEGORY 0.87``, else ''."""
    if r.category:
        return f"{r.category}/{r.subcategory}" if r.subcategory else str(r.category)
    if r.predicted_category:
        return (
            f"predicted {r.predicted_category}/{r.predicted_subcategory} "
            f"{r.predicted_confidence or 0:.2f}"
        )
    return ""


def _unreadable(r: Recommendation, error: str) -> SoundScores:
    return SoundScores(
        kind="retrieved",
        category=category_words(r),
        label=r.title or r.id,
        rank=r.rank,
        id=r.id,
        path=r.path,
        licence=r.licence,
        non_commercial=is_non_commercial(r.licence),
        untrained=r.untrained,
        duration=r.duration,
        frame_similarity={v: float(s) for v, s in r.view_scores.items()},
        frame_similarity_note="index scores for the keyframe",
        clap_prompt=None,
        loudness=None,
        loudness_kind="",
        duration_fit=None,
        audio_onset=None,
        onset_offset=None,
        error=error,
    )


def _compare_shot(
    video: Path,
    shot: Shot,
    cands: list[Recommendation],
    image_emb: np.ndarray,
    keyframe: np.ndarray,
    *,
    scorer: _Scorer,
    gen: LazyGenerator,
    clock: StageClock,
    video_duration: float,
    prompt: str | None,
    negative_prompt: str,
    policy: str,
    thresholds: Thresholds,
    steps: int,
    cfg_strength: float,
    seed: int,
    preview_rate: int,
) -> tuple[ShotComparison, _Media]:
    """Generate, fit and score every sound of one shot (the generated one first)."""
    from sfxkit.delivery.mix import fit_to_shot
    from sfxkit.media.motion import strongest_onset

    decision, reason, numbers = decide(cands, policy=policy, thresholds=thresholds)
    shot_prompt = prompt if prompt is not None else build_prompt(cands)
    with clock("decode"):
        visual_onset = strongest_onset(motion_for(video, shot))
    with clock("encode"):
        prompt_clap = scorer.clap_text(shot_prompt)
        prompt_clip = scorer.clip_text(shot_prompt)
    sounds: list[SoundScores] = []
    players: list[str | None] = []
    specs: list[str | None] = []

    with clock("load"):
        gen.loaded  # noqa: B018 - load the model outside the generate timing
    with clock("generate"):
        sound = gen.for_shot(
            video,
            shot,
            video_duration,
            tail=0.0,
            prompt=shot_prompt,
            negative_prompt=negative_prompt,
            steps=steps,
            cfg_strength=cfg_strength,
            seed=seed,
        )
    glayer = generated_layer(sound)
    g_fit = fit_to_shot(glayer.waveform, glayer.sample_rate, shot.duration, mode="trim")
    with clock("encode"):
        g_clap = scorer.clap_audio(g_fit, glayer.sample_rate)
        g_sim: dict[str, float] = {}
        if prompt_clip is not None:
            g_sim["clip_text"] = _cos(image_emb, prompt_clip)
        bridge = scorer.bridge_score(image_emb, g_clap)
        if bridge is not None:
            g_sim["bridge"] = bridge
    seed_used = sound.provenance.get("seed")
    sounds.append(
        _score(
            glayer,
            g_fit,
            kind="generated",
            label=f"generated ({glayer.source.get('generator')}, seed {seed_used})",
            rank=None,
            frame_sim=g_sim,
            note="clip_text: keyframe vs the prompt (a generated sound has no visual description)",
            clap_emb=g_clap,
            prompt_emb=prompt_clap,
            shot=shot,
            visual_onset=visual_onset,
        )
    )
    with clock("mix"):
        player, spec = _media(g_fit, glayer.sample_rate, preview_rate)
    players.append(player)
    specs.append(spec)

    for r in cands:
        try:
            with clock("decode"):
                layer = retrieved_layer(r)
        except SfxkitError as exc:  # a missing or broken catalog file: shown, not fatal
            sounds.append(_unreadable(r, str(exc)))
            players.append(None)
            specs.append(None)
            continue
        with clock("mix"):
            fitted = fit_to_shot(
                layer.waveform,
                layer.sample_rate,
                shot.duration,
                mode=fit_mode(layer, shot.duration, "auto"),  # type: ignore[arg-type]
                onset_at=visual_onset,
            )
        sim = {v: float(s) for v, s in r.view_scores.items()}
        with clock("encode"):
            clap = scorer.clap_audio(fitted, layer.sample_rate)
            if "bridge" not in sim:
                b = scorer.bridge_score(image_emb, clap)
                if b is not None:
                    sim["bridge"] = b
        scored = _score(
            layer,
            fitted,
            kind="retrieved",
            label=r.title or r.id,
            rank=r.rank,
            frame_sim=sim,
            note="index scores for the keyframe",
            clap_emb=clap,
            prompt_emb=prompt_clap,
            shot=shot,
            visual_onset=visual_onset,
        )
        sounds.append(dataclasses.replace(scored, category=category_words(r)))
        with clock("mix"):
            player, spec = _media(fitted, layer.sample_rate, preview_rate)
        players.append(player)
        specs.append(spec)

    cmp = ShotComparison(
        shot=shot,
        decision=decision,
        reason=reason,
        numbers=numbers,
        prompt=shot_prompt,
        negative_prompt=negative_prompt,
        visual_onset=visual_onset,
        sounds=tuple(sounds),
    )
    return cmp, _Media(png_data_uri(_thumbnail(keyframe)), tuple(players), tuple(specs))


def _thumbnail(frame: np.ndarray) -> Image.Image:
    from PIL import Image

    img = Image.fromarray(np.asarray(frame, dtype=np.uint8), mode="RGB")
    scale = KEYFRAME_MAX_SIDE / max(img.size)
    if scale < 1.0:
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))))
    return img


# ---- HTML (the page itself is sfxkit/templates/compare.html.j2) ------------------------------


def _num(value: float | None, fmt: str = "{:.3f}") -> str:
    return "–" if value is None else fmt.format(value)


def _best(values: list[float | None], *, smallest: bool = False) -> int | None:
    scored = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(scored) < 2:
        return None
    pick = min if smallest else max
    return pick(scored, key=lambda t: t[1])[0]


def _rows(cmp: ShotComparison, m: _Media) -> tuple[list[str], list[dict[str, Any]]]:
    """The table's view columns and one row per sound, each cell marked when it is the best."""
    views = sorted({v for s in cmp.sounds for v in s.frame_similarity})
    cols: dict[str, list[float | None]] = {
        v: [s.frame_similarity.get(v) for s in cmp.sounds] for v in views
    }
    best = {v: _best(vals) for v, vals in cols.items()}
    best_clap = _best([s.clap_prompt for s in cmp.sounds])
    best_fit = _best([s.duration_fit for s in cmp.sounds])
    offsets = [None if s.onset_offset is None else abs(s.onset_offset) for s in cmp.sounds]
    best_onset = _best(offsets, smallest=True)
    rows = []
    for j, s in enumerate(cmp.sounds):
        loud = (
            "–"
            if s.loudness is None
            else (
                f"{s.loudness:.1f} LUFS"
                if s.loudness_kind == "integrated"
                else f"{s.loudness:.1f} dBFS peak"
            )
        )
        cells = [{"value": _num(s.frame_similarity.get(v)), "best": best[v] == j} for v in views]
        cells += [
            {"value": _num(s.clap_prompt), "best": best_clap == j},
            {"value": loud, "best": False},
            {"value": _num(s.duration_fit, "{:.2f}"), "best": best_fit == j},
            {"value": _num(s.onset_offset, "{:+.3f}"), "best": best_onset == j},
        ]
        rows.append(
            {
                "kind": s.kind,
                "generated": s.kind == "generated",
                "label": s.label,
                "category": s.category,
                "rank": s.rank,
                "untrained": s.untrained,
                "path": s.path,
                "error": s.error,
                "player": m.players[j],
                "spec": m.spectrograms[j],
                "cells": cells,
                "licence": s.licence or "unknown",
                "non_commercial": s.non_commercial,
            }
        )
    return views, rows


def _html(
    video: Path,
    doc: dict[str, Any],
    shots: list[ShotComparison],
    media: list[_Media],
    json_path: Path,
    out: Path,
) -> str:
    from sfxkit._templates import render
    from sfxkit.delivery.export import NC_NOTICE

    context = []
    for cmp, m in zip(shots, media, strict=True):
        views, rows = _rows(cmp, m)
        context.append(
            {
                "s": cmp.shot,
                "decision": cmp.decision,
                "keyframe": m.keyframe,
                "reason": cmp.reason,
                "prompt": cmp.prompt,
                "negative_prompt": cmp.negative_prompt,
                "onset": "none" if cmp.visual_onset is None else f"{cmp.visual_onset:.2f} s",
                "views": views,
                "rows": rows,
            }
        )
    rel = json_path.name if json_path.parent.resolve() == out.parent.resolve() else str(json_path)
    return render(
        "compare.html.j2",
        video_name=video.name,
        doc=doc,
        shots=context,
        nc_notice=NC_NOTICE,
        spec_size=SPECTROGRAM_SIZE,
        json_rel=rel,
    )


__all__ = [
    "CompareResult",
    "ShotComparison",
    "SoundScores",
    "compare",
    "png_data_uri",
    "spectrogram",
    "wav_data_uri",
]
