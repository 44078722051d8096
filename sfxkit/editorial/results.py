"""Results of a soundtrack: per-cue decisions, the finished soundtrack, time per stage."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sfxkit.editorial.options import STAGES

if TYPE_CHECKING:
    from sfxkit.delivery.export import ExportResult
    from sfxkit.delivery.mix import Stem
    from sfxkit.delivery.timeline import Timeline
    from sfxkit.media.shots import Shot
    from sfxkit.recommender import Recommendation


@dataclass(frozen=True)
class ShotDecision:
    """What was decided for one cue, why, and from what. Per-shot cues (``role="shot"``) are the
    shot's own; a bed's ``shot`` is the first shot of its scene and a spot's the shot its event
    is in, with the cue number and its ``span`` (start, end seconds) beside it."""

    shot: Shot
    decision: str
    reason: str
    numbers: dict[str, Any]
    candidates: list[Recommendation]
    prompt: str
    negative_prompt: str
    role: str = "shot"
    cue: int | None = None
    span: tuple[float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        layered = {} if self.role == "shot" else {"cue": self.cue, "cue_span": self.span}
        return {
            **self.shot.to_dict(),
            "role": self.role,
            **layered,
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


__all__ = ["ShotDecision", "SoundtrackResult", "StageClock"]
