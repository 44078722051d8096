"""Settings: where caches and weights live, offline mode, device, default models.

Everything can be set by environment variable or argument; arguments win.

| env var               | meaning                                                   | default             |
|-----------------------|-----------------------------------------------------------|---------------------|
| SFXKIT_CACHE          | sfxkit cache (weights pulled by `sfxkit models pull`)     | ~/.cache/sfxkit     |
| SFXKIT_WEIGHTS_DIR    | extra directory searched first for weights                | unset               |
| SFXKIT_OFFLINE        | 1 = loads never touch the network (`models pull` excepted) | 1 unless set to 0   |
| SFXKIT_DEVICE         | auto / cpu / cuda / cuda:1 / mps                          | auto                |
| SFXKIT_FRAME_MODEL    | default frame + visual-text encoder                       | see DEFAULT_*       |
| SFXKIT_AUDIO_MODEL    | default audio + audio-text encoder                        | see DEFAULT_*       |
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_FRAME_MODEL = "open_clip:ViT-B-32/laion2b_s34b_b79k"
DEFAULT_AUDIO_MODEL = "clap:laion/larger_clap_general"
# The MMAudio variants by name, released first then the toy test sizes: the one list that both
# the model registry (ids, `sfxkit models list`) and sfxkit.generation.mmaudio.variants (their
# hyper-parameters, keyed by these names) read.
MMAUDIO_VARIANTS = (
    "small_16k",
    "small_44k",
    "medium_44k",
    "large_44k",
    "large_44k_v2",
    "tiny_16k",
    "tiny_44k",
)
DEFAULT_MMAUDIO_VARIANT = "large_44k_v2"
DEFAULT_GENERATOR = f"mmaudio:{DEFAULT_MMAUDIO_VARIANT}"
TINY_FRAME_MODEL = "open_clip:tiny"
TINY_AUDIO_MODEL = "clap:tiny"


def _truthy(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() not in {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Settings:
    cache_dir: Path = field(
        default_factory=lambda: Path(
            os.environ.get("SFXKIT_CACHE", Path.home() / ".cache" / "sfxkit")
        ).expanduser()
    )
    weights_dir: Path | None = field(
        default_factory=lambda: (
            Path(os.environ["SFXKIT_WEIGHTS_DIR"]).expanduser()
            if os.environ.get("SFXKIT_WEIGHTS_DIR")
            else None
        )
    )
    # Offline is the default: a library should not reach the network behind a user's back.
    # `sfxkit models pull` is the one place that downloads, and it flips this off for itself.
    offline: bool = field(default_factory=lambda: _truthy(os.environ.get("SFXKIT_OFFLINE"), True))
    device: str = field(default_factory=lambda: os.environ.get("SFXKIT_DEVICE", "auto"))
    frame_model: str = field(
        default_factory=lambda: os.environ.get("SFXKIT_FRAME_MODEL", DEFAULT_FRAME_MODEL)
    )
    audio_model: str = field(
        default_factory=lambda: os.environ.get("SFXKIT_AUDIO_MODEL", DEFAULT_AUDIO_MODEL)
    )

    def weight_roots(self) -> list[Path]:
        """Directories searched for weights, in order."""
        roots = [self.weights_dir] if self.weights_dir else []
        return [*roots, self.cache_dir / "weights"]


def get_settings() -> Settings:
    return Settings()


def resolve_device(device: str | None = None) -> str:
    """'auto' → cuda if available, else mps, else cpu. Imports torch."""
    import torch

    device = device or get_settings().device
    if device != "auto":
        return device
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"
