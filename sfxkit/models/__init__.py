"""Encoders and the model registry: model ids, open_clip and CLAP encoders, tiny variants, weights.

    >>> from sfxkit.models import load_frame_encoder, load_audio_encoder
    >>> clip = load_frame_encoder()                 # open_clip:ViT-B-32/laion2b_s34b_b79k
    >>> clap = load_audio_encoder("clap:tiny")      # untrained toy CLAP, built offline
    >>> sfx = load_sfx_encoder("aisfx")              # aiSFX (after `sfxkit models pull aisfx`)
    >>> clip.encode_images([frame]).shape           # (1, 512), float32, unit length

Importing this package imports no torch; each name loads its module on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sfxkit._lazy import lazy_exports

_LAZY: dict[str, str] = {
    "ModelSpec": "sfxkit.models.registry",
    "parse_model_id": "sfxkit.models.registry",
    "list_models": "sfxkit.models.registry",
    "load_frame_encoder": "sfxkit.models.registry",
    "load_audio_encoder": "sfxkit.models.registry",
    "load_sfx_encoder": "sfxkit.models.registry",
    "load_av_encoder": "sfxkit.models.registry",
    "find_weights": "sfxkit.models.registry",
    "pull": "sfxkit.models.registry",
    "clear_cache": "sfxkit.models.registry",
    "describe_model": "sfxkit.models.base",
    "FrameEncoder": "sfxkit.models.base",
    "AudioEncoder": "sfxkit.models.base",
}

__all__ = [
    "AudioEncoder",
    "FrameEncoder",
    "ModelSpec",
    "clear_cache",
    "describe_model",
    "find_weights",
    "list_models",
    "load_audio_encoder",
    "load_av_encoder",
    "load_frame_encoder",
    "load_sfx_encoder",
    "parse_model_id",
    "pull",
]

if TYPE_CHECKING:  # pragma: no cover
    from sfxkit.models.base import AudioEncoder, FrameEncoder, describe_model
    from sfxkit.models.registry import (
        ModelSpec,
        clear_cache,
        find_weights,
        list_models,
        load_audio_encoder,
        load_av_encoder,
        load_frame_encoder,
        load_sfx_encoder,
        parse_model_id,
        pull,
    )


__getattr__, __dir__ = lazy_exports("sfxkit.models", globals(), _LAZY, __all__)
