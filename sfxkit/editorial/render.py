"""Render: catalog hits and generated sounds made into timeline layers, fitted to their cue.

Owns turning a :class:`~sfxkit.recommender.Recommendation` or a
:class:`~sfxkit.generation.GeneratedSound` into a :class:`~sfxkit.delivery.timeline.Layer` with its
provenance and licence (:func:`retrieved_layer`, :func:`generated_layer`), the generator that
loads on first use (:class:`LazyGenerator`), and the fitting choices (:func:`fit_mode`).

Fitting: a retrieved sound is trimmed, or looped when it is shorter than its cue and at least
``LOOP_MIN_SECONDS`` long (sustained material; a shorter one-shot is not repeated), with short
fades; for a per-shot cue its main onset is aligned to the strongest motion onset in the shot's
first second, for a spot effect to the spot's own onset (the cue starts there), and an ambience
bed is not aligned (it has no onset to hit). A generated sound is already in sync with its
frames and is only trimmed. Optionally the loudness follows motion energy and the pan follows
the horizontal centroid of motion (:func:`sfxkit.delivery.mix.shape_layer`). Mixing and loudness are
:func:`sfxkit.delivery.mix.mix_timeline`'s; files are :func:`sfxkit.delivery.export.export_all`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sfxkit.editorial.decision import is_non_commercial
from sfxkit.editorial.options import DEFAULT_VARIANT, FITS
from sfxkit.errors import InputError, SfxkitError

if TYPE_CHECKING:
    from sfxkit.delivery.timeline import Layer
    from sfxkit.editorial.results import StageClock
    from sfxkit.generation.base import GeneratedSound, Generator
    from sfxkit.media.motion import MotionProfile
    from sfxkit.media.shots import Shot
    from sfxkit.recommender import Recommendation

LOOP_MIN_SECONDS = 1.0


def retrieved_layer(rec: Recommendation, *, gain_db: float = 0.0) -> Layer:
    """The catalog sound of ``rec`` as a layer (its own rate and channels) with its provenance.

    Raises :class:`MediaError` naming the file when it cannot be read.
    """
    from sfxkit.delivery.timeline import Layer
    from sfxkit.media.audio import load_audio

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
    from sfxkit.delivery.timeline import Layer

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
        return self.for_span(
            video,
            shot.start,
            duration,
            prompt=prompt,
            negative_prompt=negative_prompt,
            steps=steps,
            cfg_strength=cfg_strength,
            seed=seed + shot.index,
        )

    def for_span(
        self,
        video: str | Path,
        start: float,
        duration: float,
        *,
        prompt: str,
        negative_prompt: str,
        steps: int,
        cfg_strength: float,
        seed: int,
    ) -> GeneratedSound:
        """A sound for ``duration`` seconds of ``video`` from ``start``, conditioned on those
        frames (a scene's bed, a spot's event); ``seed`` is used as given."""
        return self.loaded.generate(
            video,
            start=start,
            duration=duration,
            prompt=prompt,
            negative_prompt=negative_prompt,
            steps=steps,
            cfg_strength=cfg_strength,
            seed=seed,
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


def nudged(layer: Layer, offset: float) -> Layer:
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


def first_readable(
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


def catalog_layer(
    cands: Sequence[Recommendation],
    gain_db: float,
    decision: str,
    numbers: dict[str, Any],
    clock: StageClock,
) -> tuple[Layer | None, str, str]:
    """The catalog sound for a ``retrieve``/``blend`` cue: ``(layer, decision, note)``.

    When no candidate decodes, a retrieve becomes silence and a blend becomes generate (never a
    generated sound behind a forced retrieve); ``note`` then says why, for the cue's reason, and
    the skipped candidates are recorded in ``numbers``."""
    layer, skipped = first_readable(cands, gain_db, clock)
    if skipped:
        numbers["unreadable_candidates"] = skipped
    if layer is not None:
        return layer, decision, ""
    fallback = "silence" if decision == "retrieve" else "generate"
    why = "; ".join(s["reason"] for s in skipped) or "no candidates"
    return None, fallback, f" — no candidate sound could be used ({why}): {fallback} instead"


__all__ = [
    "LOOP_MIN_SECONDS",
    "LazyGenerator",
    "catalog_layer",
    "first_readable",
    "fit_mode",
    "generated_layer",
    "generated_licence",
    "motion_for",
    "nudged",
    "retrieved_layer",
]
