"""The knobs of a soundtrack in one frozen object: :class:`SoundtrackOptions`.

The CLI (``sfxkit soundtrack``), the Python API (``sfxkit.soundtrack(video, index, **knobs)``
or ``options=SoundtrackOptions(...)``) and the review page's export jobs all build this one
object, so a knob is named, defaulted and validated in one place. Things that are not choices
about the sound (where to write, which device, progress bars, pre-cut shots, a loaded
generator) stay plain arguments of :func:`sfxkit.editorial.soundtrack`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sfxkit.config import DEFAULT_MMAUDIO_VARIANT
from sfxkit.delivery.export import DEFAULT_HANDLES, check_delivery
from sfxkit.delivery.export import FORMATS as DELIVERY_FORMATS
from sfxkit.editorial.decision import (
    DEFAULT_THRESHOLDS,
    FORCED,
    POLICIES,
    Thresholds,
    check_overrides,
)
from sfxkit.errors import InputError
from sfxkit.media.events import EVENT_THRESHOLD
from sfxkit.vocabulary import term

STAGES: tuple[str, ...] = (
    "load",
    "decode",
    "encode",
    "search",
    "plan",
    "generate",
    "mix",
    "export",
)
FITS: tuple[str, ...] = ("auto", "trim", "loop")
LAYER_MODES: tuple[str, ...] = ("shot", "auto")
BLEND_MODES: tuple[str, ...] = ("layer", "crossfade")

DEFAULT_NEGATIVE_PROMPT: str = term("negative_prompt").default  # "speech, music"
DEFAULT_VARIANT = DEFAULT_MMAUDIO_VARIANT
DEFAULT_SAMPLE_RATE = 48_000
DEFAULT_SCENE_THRESHOLD = 0.90
"""Cosine similarity (CLIP image space) of a shot's keyframe to its scene's mean at and above
which the shot stays in the scene. Calibrated on drawn places with the tiny encoder
(:func:`~sfxkit.editorial.plan.calibrate_scene_threshold`; ``benchmarks/soundtrack.py`` records
the numbers): shots framing one place differently sit at 0.95-1.0, consecutive shots of
different places at 0.65-0.89, so 0.90 splits them. Not yet measured with the pretrained
ViT-B-32 (no weights on the build machine): recalibrate with ``--scene-threshold`` on real
footage, where similar-looking places may need a higher value."""


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InputError(f"unknown {name} {value!r}; use one of: {', '.join(allowed)}")


@dataclass(frozen=True)
class SoundtrackOptions:
    """Every choice :func:`sfxkit.soundtrack` makes about the sound, validated on creation.

    Decision: ``policy`` (auto, retrieve, generate, blend), ``overrides`` ({shot: decision}),
    ``choices`` (a review session file or mapping, see :func:`~sfxkit.editorial.load_choices`),
    ``thresholds``, ``k`` candidates per shot, catalog ``filters`` (default: no sound flagged
    ``silent``).
    Generation: ``prompt`` (default: from the best candidates), ``negative_prompt``, MMAudio
    ``variant``, ``steps``, ``cfg_strength``, ``seed`` (plus the cue number).
    Blend: ``blend_mode`` (layer or crossfade), ``blend_gains_db`` (retrieved, generated dB).
    Fitting: ``fit`` (auto, trim, loop; a bed loops when its sound is shorter than its scene),
    ``align`` onsets to motion, ``follow_motion`` (loudness follows motion; per-shot cues only:
    beds are steady, spots are events), ``pan`` (position; per-shot cues and spots).
    Layers: ``layers="shot"`` gives one sound per shot (cut to cut, as sfxkit always did);
    ``layers="auto"`` gives a sound editor's layers: one ambience ``bed`` per scene (shots whose
    keyframes are at least ``scene_threshold`` cosine-similar in CLIP image space), crossfaded over
    ``bed_crossfade`` s at scene changes and ``bed_level_db`` under the spots, and a ``spot``
    effect on each visible event (:func:`sfxkit.media.events.detect_events`; up to ``max_spots``
    per shot, at least ``spot_gap`` s apart, event score at least ``onset_rise`` above its running
    median), each at most ``spot_length`` s long.
    Mix: ``target_lufs``, ``true_peak`` dBTP, ``crossfade`` s at shot cuts (``layers="shot"``),
    ``sample_rate``.
    Shots: ``shot_detectors`` (:func:`sfxkit.media.shots.detect_shots`: ``adaptive`` cuts,
    ``fade`` through black, ``dissolve``; ``content`` is the old hard-cut-only detector).
    Delivery (:func:`sfxkit.delivery.export.export_all`): ``formats`` to write, ``start_tc`` (default: the
    video's own timecode, else 00:00:00:00), ``handles`` s around spot-effect clips, ``channels``
    (``"2"``, or ``"5.1"`` to add 5.1 stems and mix).
    """

    policy: str = "auto"
    overrides: Mapping[int, str] = field(default_factory=dict)
    choices: str | Path | Mapping[Any, Any] | None = None
    thresholds: Thresholds = DEFAULT_THRESHOLDS
    k: int = 5
    filters: Any = None
    prompt: str | None = None
    negative_prompt: str = DEFAULT_NEGATIVE_PROMPT
    variant: str = DEFAULT_VARIANT
    steps: int = 25
    cfg_strength: float = 4.5
    seed: int = 42
    blend_mode: str = "layer"
    blend_gains_db: tuple[float, float] = (0.0, 0.0)
    fit: str = "auto"
    align: bool = True
    follow_motion: bool = True
    pan: bool = False
    layers: str = "shot"
    scene_threshold: float = DEFAULT_SCENE_THRESHOLD
    bed_crossfade: float = 1.0
    bed_level_db: float = -8.0
    max_spots: int = 6
    spot_gap: float = 0.25
    onset_rise: float = EVENT_THRESHOLD
    spot_length: float = 2.0
    target_lufs: float = -23.0
    true_peak: float = -1.0
    crossfade: float = 0.02
    sample_rate: int = DEFAULT_SAMPLE_RATE
    shot_detectors: tuple[str, ...] = ("adaptive", "fade", "dissolve")
    formats: tuple[str, ...] = DELIVERY_FORMATS
    start_tc: str | None = None
    handles: float = DEFAULT_HANDLES
    channels: str = "2"

    def __post_init__(self) -> None:
        _check_choice("policy", self.policy, POLICIES)
        object.__setattr__(self, "formats", tuple(self.formats))
        object.__setattr__(self, "shot_detectors", tuple(self.shot_detectors))
        object.__setattr__(self, "channels", str(self.channels))
        # Delivery knobs are checked now, not after minutes of work (the timecode's frame rate is
        # checked against the video when it is known).
        check_delivery(
            None,
            start_tc=None,
            handles=self.handles,
            channels=self.channels,
            formats=self.formats,
        )
        if self.blend_mode not in BLEND_MODES:
            raise InputError(f"unknown blend_mode {self.blend_mode!r}; use 'layer' or 'crossfade'")
        _check_choice("fit", self.fit, FITS)
        _check_choice("layers", self.layers, LAYER_MODES)
        object.__setattr__(self, "overrides", check_overrides(self.overrides))
        if not isinstance(self.thresholds, Thresholds):
            raise InputError("thresholds must be a sfxkit.editorial.Thresholds")
        if int(self.k) < 1:
            raise InputError(f"k must be at least 1 (got {self.k})")
        if int(self.steps) < 1:
            raise InputError(f"steps must be >= 1, got {self.steps}")
        gains = tuple(float(g) for g in self.blend_gains_db)
        if len(gains) != 2:
            raise InputError("blend_gains_db takes two gains: (retrieved dB, generated dB)")
        object.__setattr__(self, "blend_gains_db", gains)
        if not -1.0 <= float(self.scene_threshold) <= 1.0:
            raise InputError(
                f"scene_threshold is a cosine similarity in [-1, 1], got {self.scene_threshold}"
            )
        for name in ("bed_crossfade", "spot_gap", "onset_rise", "crossfade"):
            value = float(getattr(self, name))
            if not math.isfinite(value) or value < 0:
                raise InputError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not float(self.spot_length) > 0:
            raise InputError(f"spot_length must be positive seconds, got {self.spot_length}")
        if int(self.max_spots) < 0:
            raise InputError(f"max_spots must be >= 0, got {self.max_spots}")
        if int(self.sample_rate) <= 0:
            raise InputError(f"sample_rate must be positive, got {self.sample_rate}")
        if self.layers == "auto" and self.overrides:
            raise InputError(
                "overrides name shots, which layers='auto' does not cut by; use layers='shot' "
                "(--layers shot) with --force, or review choices per cue (--choices)"
            )

    @classmethod
    def from_kwargs(
        cls, options: SoundtrackOptions | None = None, **knobs: Any
    ) -> SoundtrackOptions:
        """``options`` (or the defaults) with ``knobs`` replaced; unknown names are an error
        that lists the valid ones."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(knobs) - names)
        if unknown:
            raise InputError(
                f"unknown soundtrack option(s) {', '.join(unknown)}; valid: {', '.join(sorted(names))}"
            )
        base = options if options is not None else cls()
        return dataclasses.replace(base, **knobs) if knobs else base

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-safe): what a batch hashes to know a video is finished."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Thresholds):
                value = value.to_dict()
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, Mapping):
                value = {str(k): v for k, v in value.items()}
            out[f.name] = json.loads(json.dumps(value, default=str))
        return out


__all__ = [
    "DEFAULT_NEGATIVE_PROMPT",
    "DEFAULT_SAMPLE_RATE",
    "DEFAULT_SCENE_THRESHOLD",
    "DEFAULT_VARIANT",
    "FITS",
    "FORCED",
    "LAYER_MODES",
    "POLICIES",
    "STAGES",
    "SoundtrackOptions",
]
