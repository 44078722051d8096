"""What every sound generator returns and the protocol it implements.

``GeneratedSound`` is the result type of :func:`sfxkit.generate` and of any ``Generator``; it
carries the waveform and the provenance (model, variant, weights licence, seed, prompt, ...)
that the rest of sfxkit (mixing, export, reports) passes along. No torch here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image


@dataclass(frozen=True)
class GeneratedSound:
    """A generated sound: float32 ``(channels, samples)`` audio and how it was made.

    ``provenance`` keys (MMAudio): model, variant, weights_licence ("CC-BY-NC-4.0" for the real
    checkpoints, None for the untrained tiny variants), untrained, seed, prompt, negative_prompt,
    steps, cfg_strength, source ("video" | "image" | "text"), input, start, duration, windows,
    device, dtype.
    """

    waveform: np.ndarray
    sample_rate: int
    duration: float
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def channels(self) -> int:
        return int(self.waveform.shape[0])

    @property
    def num_samples(self) -> int:
        return int(self.waveform.shape[1])

    @property
    def untrained(self) -> bool:
        return bool(self.provenance.get("untrained", False))

    def save(self, path: str | Path) -> Path:
        """Write a 24-bit WAV atomically (temporary file, fsync, rename); returns the path."""
        from sfxkit.media.audio import write_wav

        return write_wav(path, self.waveform, self.sample_rate, subtype="PCM_24")


@runtime_checkable
class Generator(Protocol):
    """Something that turns a video, an image or a prompt into a sound."""

    def generate(
        self,
        video: str | Path | None = None,
        *,
        image: str | Path | Image.Image | np.ndarray | None = None,
        start: float = 0.0,
        duration: float | None = None,
        prompt: str = "",
        negative_prompt: str = "",
        steps: int = 25,
        cfg_strength: float = 4.5,
        seed: int = 42,
        progress: bool | None = None,
    ) -> GeneratedSound: ...
