"""The encoder Protocols every part of sfxkit codes against, and the small helpers they share.

``FrameEncoder`` turns frames (and visual descriptions) into CLIP vectors; ``AudioEncoder`` turns
sounds (and audio descriptions) into CLAP vectors. Every vector sfxkit hands out is float32,
L2-normalised, shaped ``(N, dim)``. Nothing here imports torch at import time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from sfxkit.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from PIL import Image

__all__ = [
    "AudioEncoder",
    "FrameEncoder",
    "describe_model",
]

UNTRAINED_NOTE = "UNTRAINED tiny model: results are meaningless"


@runtime_checkable
class FrameEncoder(Protocol):
    """Frames and visual text → one CLIP space."""

    model_id: str
    dim: int
    untrained: bool
    device: str
    model: Any

    def preprocess(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """The model's own transform, batched: ``(N, 3, H, W)`` float32."""
        ...

    def encode_images(
        self, images: Sequence[Image.Image | np.ndarray], *, batch_size: int = 32
    ) -> np.ndarray: ...

    def encode_preprocessed(self, pixels: torch.Tensor) -> np.ndarray: ...

    def encode_texts(self, texts: Sequence[str], *, batch_size: int = 256) -> np.ndarray: ...


@runtime_checkable
class AudioEncoder(Protocol):
    """Sounds and audio text → one CLAP space."""

    model_id: str
    dim: int
    untrained: bool
    device: str
    sample_rate: int
    model: Any

    def encode_audio(
        self, waveforms: Sequence[np.ndarray], *, sample_rate: int, batch_size: int = 16
    ) -> np.ndarray: ...

    def encode_texts(self, texts: Sequence[str], *, batch_size: int = 256) -> np.ndarray: ...


def describe_model(encoder: Any) -> str:
    """How a model is named wherever results are shown; tiny models say they are untrained.

    >>> describe_model(load_frame_encoder("open_clip:tiny"))
    'open_clip:tiny (UNTRAINED tiny model: results are meaningless)'
    """
    model_id = str(getattr(encoder, "model_id", encoder))
    if getattr(encoder, "untrained", False):
        return f"{model_id} ({UNTRAINED_NOTE})"
    return model_id


# ----------------------------------------------------------------------------- shared helpers


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Row-wise unit length, float32; zero rows stay zero instead of becoming NaN."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


def empty(dim: int) -> np.ndarray:
    return np.zeros((0, dim), dtype=np.float32)


def check_batch_size(batch_size: int) -> int:
    if int(batch_size) < 1:
        raise InputError(f"batch_size must be at least 1 (got {batch_size})")
    return int(batch_size)


def check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        # A bare string is a sequence of characters; encoding each letter is never what was meant.
        raise InputError(
            f"texts must be a list of strings, got the single string {texts!r}; wrap it: [text]"
        )
    out = []
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise InputError(f"texts[{i}] is {type(t).__name__}, not str")
        out.append(t)
    return out


def to_pil(image: Any, index: int) -> Image.Image:
    """PIL image or ``HxWx3`` / ``HxW`` uint8 array → PIL RGB."""
    from PIL import Image

    if isinstance(image, Image.Image):
        return image if image.mode == "RGB" else image.convert("RGB")
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InputError(
            f"images[{index}] has shape {arr.shape}; expected a PIL image or an HxWx3 uint8 array"
        )
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating) and arr.size and float(np.nanmax(arr)) <= 1.0:
            arr = arr * 255.0  # float images in [0, 1]
        arr = np.clip(np.nan_to_num(arr), 0, 255).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(arr[..., :3]), mode="RGB")


def to_mono(waveform: Any, index: int) -> np.ndarray:
    """1-D or ``(channels, samples)`` float audio → 1-D float32 mono (channels averaged)."""
    x = np.asarray(waveform, dtype=np.float32)
    if x.ndim == 2:
        if x.shape[0] > 16 and x.shape[1] <= 16:
            raise InputError(
                f"waveforms[{index}] has shape {x.shape}, which looks like (samples, channels); "
                "sfxkit audio is (channels, samples): pass array.T"
            )
        x = x.mean(axis=0) if x.shape[0] > 1 else x[0]
    if x.ndim != 1:
        raise InputError(
            f"waveforms[{index}] has shape {x.shape}; expected 1-D mono or (channels, samples)"
        )
    if x.size == 0:
        raise InputError(f"waveforms[{index}] is empty; pass at least one sample")
    if not np.all(np.isfinite(x)):
        raise InputError(
            f"waveforms[{index}] contains NaN or infinite samples; clean the audio first"
        )
    return np.ascontiguousarray(x)


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """1-D float32 resampled (sfxkit's one resampler, soxr HQ); a no-op at equal rates."""
    if int(sr_in) == int(sr_out):
        return x
    from sfxkit.media.audio import resample as resample_audio

    return resample_audio(x, int(sr_in), int(sr_out))[0]


def batches(n: int, size: int) -> list[slice]:
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


GPU_PRECISIONS = ("fp32", "fp16", "bf16")


def gpu_autocast(device: Any) -> Any:
    """Autocast to half precision on a GPU when ``SFXKIT_GPU_PRECISION`` is ``fp16`` or ``bf16``
    (default ``fp32``: a no-op). The CPU always runs fp32: half precision there is slower and
    less exact. Wrap only the model's forward: input features (CLAP's mel spectrogram) stay in
    their own precision. Encoders return float32 either way."""
    import contextlib
    import os

    raw = os.environ.get("SFXKIT_GPU_PRECISION", "fp32").strip().lower() or "fp32"
    if raw not in GPU_PRECISIONS:
        from sfxkit.errors import ConfigError

        raise ConfigError(f"SFXKIT_GPU_PRECISION={raw!r}: use one of {', '.join(GPU_PRECISIONS)}")
    if raw == "fp32" or not str(device).startswith("cuda"):
        return contextlib.nullcontext()
    import torch

    return torch.autocast("cuda", dtype=torch.float16 if raw == "fp16" else torch.bfloat16)
