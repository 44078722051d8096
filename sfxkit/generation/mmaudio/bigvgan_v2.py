"""NVIDIA BigVGAN v2 44.1 kHz vocoder (``nvidia/bigvgan_v2_44khz_128band_512x``) for MMAudio 44k.

The generator is :class:`~sfxkit.generation.mmaudio.bigvgan.BigVGANGenerator`; this module owns
the v2 release's configuration (128 mel bands, hop 512, no final tanh and no bias on the last
conv — values of the model's ``config.json``), reading that ``config.json`` when it sits next to
the weights, and loading ``bigvgan_generator.pt`` (``{"generator": state_dict}``) strictly. The
``bigvgan`` PyPI package and NVIDIA's CUDA kernel are not used.
"""

from __future__ import annotations

import json
from pathlib import Path

from sfxkit.errors import ModelError
from sfxkit.generation.mmaudio.bigvgan import (
    BigVGANConfig,
    BigVGANGenerator,
    generator_state,
    load_generator_weights,
)
from sfxkit.generation.mmaudio.checkpoint import read_checkpoint

WEIGHTS_NAME = "bigvgan_generator.pt"
CONFIG_NAME = "config.json"

# The generator part of the release's config.json.
BIGVGAN_V2_44K = BigVGANConfig(
    num_mels=128,
    upsample_rates=(8, 4, 2, 2, 2, 2),
    upsample_kernel_sizes=(16, 8, 4, 4, 4, 4),
    upsample_initial_channel=1536,
    resblock_kernel_sizes=(3, 7, 11),
    resblock_dilation_sizes=((1, 3, 5), (1, 3, 5), (1, 3, 5)),
    resblock="1",
    activation="snakebeta",
    snake_logscale=True,
    use_bias_at_final=False,
    use_tanh_at_final=False,
    sampling_rate=44_100,
)

# Toy sizes (real bands and hop, and the v2 head: no tanh, no final bias).
TINY_BIGVGAN_V2_44K = BigVGANConfig(
    num_mels=128,
    upsample_rates=(8, 8, 8),
    upsample_kernel_sizes=(16, 16, 16),
    upsample_initial_channel=16,
    resblock_kernel_sizes=(3, 7),
    resblock_dilation_sizes=((1, 3, 5), (1, 3, 5)),
    use_bias_at_final=False,
    use_tanh_at_final=False,
    sampling_rate=44_100,
)


def read_config(path: Path) -> BigVGANConfig:
    """Parse a BigVGAN ``config.json`` and check it is the 44.1 kHz / 128-band / ×512 model."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: cannot read the BigVGAN v2 config ({exc})") from exc
    try:
        cfg = BigVGANConfig.from_dict(raw)
    except ModelError as exc:
        raise ModelError(f"{path}: {exc}") from exc
    if (cfg.num_mels, cfg.hop_length) != (BIGVGAN_V2_44K.num_mels, BIGVGAN_V2_44K.hop_length):
        raise ModelError(
            f"{path}: this BigVGAN has {cfg.num_mels} mel bands and hop {cfg.hop_length}; MMAudio 44k "
            f"needs {BIGVGAN_V2_44K.num_mels} bands and hop {BIGVGAN_V2_44K.hop_length} "
            "(nvidia/bigvgan_v2_44khz_128band_512x)"
        )
    return cfg


def load_bigvgan_v2(
    path: str | Path, *, model_id: str = "mmaudio:large_44k_v2"
) -> BigVGANGenerator:
    """Load the v2 44.1 kHz vocoder from ``bigvgan_generator.pt`` or the directory holding it.

    A ``config.json`` beside the weights is read and checked; without one the built-in config
    (the release's values) is used.
    """
    path = Path(path)
    weights = path / WEIGHTS_NAME if path.is_dir() else path
    checkpoint = read_checkpoint(weights, model_id=model_id, what="BigVGAN v2 44.1 kHz vocoder")
    config_path = weights.parent / CONFIG_NAME
    cfg = read_config(config_path) if config_path.is_file() else BIGVGAN_V2_44K
    model = BigVGANGenerator(cfg)
    state = generator_state(checkpoint, source=str(weights), model_id=model_id)
    return load_generator_weights(model, state, source=str(weights), model_id=model_id)


__all__ = ["BIGVGAN_V2_44K", "TINY_BIGVGAN_V2_44K", "load_bigvgan_v2", "read_config"]
