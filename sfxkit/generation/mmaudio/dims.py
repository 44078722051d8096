"""The tensor widths that join the MMAudio network to its feature extractors and codecs.

One place for them so the flow network (``network.py``) and the encoders/decoders
(``features.py``) agree, for the real checkpoints and for the ``tiny`` test variants.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Mode = Literal["16k", "44k"]


@dataclass(frozen=True)
class Dims:
    clip_dim: int  # CLIP image embedding per frame (DFN5B ViT-H-14-384: 1024)
    sync_dim: int  # Synchformer feature per sync token (768)
    text_dim: int  # CLIP text transformer width, per token (1024)
    text_seq_len: int  # CLIP context length (77)
    latent_dim: int  # VAE latent channels (16k: 20, 44k: 40)
    n_mels: int  # mel bins the VAE decodes to (16k: 80, 44k: 128)
    sampling_rate: int  # output sample rate
    spectrogram_frame_rate: int  # hop length in samples (16k: 256, 44k: 512)


REAL: dict[Mode, Dims] = {
    "16k": Dims(1024, 768, 1024, 77, 20, 80, 16_000, 256),
    "44k": Dims(1024, 768, 1024, 77, 40, 128, 44_100, 512),
}

# Tiny variants keep the real sequence geometry (sample rates, hops, latent and mel sizes) so
# durations and output lengths are exercised exactly; only the encoders' widths shrink.
TINY: dict[Mode, Dims] = {
    "16k": Dims(64, 32, 64, 77, 20, 80, 16_000, 256),
    "44k": Dims(64, 32, 64, 77, 40, 128, 44_100, 512),
}
