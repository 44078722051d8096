"""The feature extractor on the released MMAudio weights (opt-in: ``-m real_weights``).

Needs the files of ``sfxkit models pull mmaudio:small_16k`` / ``mmaudio:large_44k_v2`` under
``SFXKIT_WEIGHTS_DIR/mmaudio`` and ``SFXKIT_REAL_WEIGHTS_TEST=1`` (so the test session keeps that
directory). Several GB of RAM; minutes on a CPU.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sfxkit.errors import WeightsMissingError
from sfxkit.generation.mmaudio.dims import REAL
from sfxkit.generation.mmaudio.features import (
    FeatureFiles,
    build_feature_extractor,
    clip_frames,
    sync_frames,
)

pytestmark = [pytest.mark.real_weights, pytest.mark.slow]


@pytest.mark.parametrize(("mode", "variant"), [("16k", "small_16k"), ("44k", "large_44k_v2")])
def test_released_weights_load_strictly_and_run(mode: str, variant: str) -> None:
    from sfxkit.models import mmaudio_files

    try:
        found = mmaudio_files.locate(variant)
    except WeightsMissingError as exc:
        pytest.skip(f"released weights not present: {exc}")
    files = FeatureFiles(
        vae=found["vae"],
        vocoder=found["vocoder"],
        synchformer=found["synchformer"],
        clip_dir=found["clip_config"].parent,
    )
    extractor = build_feature_extractor(mode, files=files)
    dims = REAL[mode]
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (24, 120, 160, 3), dtype=np.uint8)
    clip_feats = extractor.encode_video_with_clip(clip_frames(frames[:8])[None])
    sync_feats = extractor.encode_video_with_sync(sync_frames(frames)[None])
    text = extractor.encode_text(["a dog barking"])
    assert clip_feats.shape == (1, 8, dims.clip_dim)
    assert sync_feats.shape == (1, 16, dims.sync_dim)
    assert text.shape == (1, 77, dims.text_dim)
    # Latents of zeros decode to a finite mel and a bounded waveform of the exact length.
    wav = extractor.vocode(extractor.decode(torch.zeros(1, 20, dims.latent_dim)))
    assert wav.shape == (1, 40 * dims.spectrogram_frame_rate)
    assert torch.isfinite(wav).all() and float(wav.abs().max()) <= 1.0
