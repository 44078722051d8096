"""MMAudio variants as data: network hyper-parameters and the sequence geometry of a duration.

The five released checkpoints (``small_16k`` … ``large_44k_v2``) carry the reference's real
hyper-parameters; ``tiny_16k`` / ``tiny_44k`` are the same architecture at toy width for tests
(seeded random weights, never presented as trained). ``tiny_16k`` uses the v1 input projections
and timestep embedder, ``tiny_44k`` the v2 ones, so the two tiny variants cover both key layouts.

Nothing here imports torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sfxkit.config import DEFAULT_MMAUDIO_VARIANT
from sfxkit.errors import ModelError
from sfxkit.generation.mmaudio.dims import REAL, TINY, Dims, Mode

# The model was trained on 8 s clips; every sequence length below is derived from a duration.
TRAINING_DURATION = 8.0
CLIP_FPS = 8.0
SYNC_FPS = 25.0
SYNC_SEGMENT_FRAMES = 16  # Synchformer window
SYNC_SEGMENT_STEP = 8  # stride between windows
SYNC_TOKENS_PER_SEGMENT = 8  # each window yields 8 feature tokens
LATENT_DOWNSAMPLE = 2  # VAE latent frames per mel frame


@dataclass(frozen=True)
class NetworkConfig:
    """Hyper-parameters of one MMAudio flow network."""

    name: str
    mode: Mode
    dims: Dims
    hidden_dim: int
    depth: int  # joint + fused blocks
    fused_depth: int
    num_heads: int
    mlp_ratio: float = 4.0
    v2: bool = False
    tiny: bool = False

    @property
    def latent_dim(self) -> int:
        return self.dims.latent_dim

    @property
    def joint_depth(self) -> int:
        return self.depth - self.fused_depth

    @property
    def head_dim(self) -> int:
        return self.hidden_dim // self.num_heads

    @property
    def model_id(self) -> str:
        return f"mmaudio:{self.name}"


def _real(
    name: str, mode: Mode, heads: int, depth: int, fused: int, v2: bool = False
) -> NetworkConfig:
    return NetworkConfig(name, mode, REAL[mode], 64 * heads, depth, fused, heads, v2=v2)


VARIANTS: dict[str, NetworkConfig] = {
    "small_16k": _real("small_16k", "16k", 7, 12, 8),
    "small_44k": _real("small_44k", "44k", 7, 12, 8),
    "medium_44k": _real("medium_44k", "44k", 14, 12, 8),
    "large_44k": _real("large_44k", "44k", 14, 21, 14),
    "large_44k_v2": _real("large_44k_v2", "44k", 14, 21, 14, v2=True),
    # Two joint blocks (the first full, the second "pre-only" as in every real variant) and one
    # fused block: every code path of the real networks, at a size whose golden files stay small.
    "tiny_16k": NetworkConfig("tiny_16k", "16k", TINY["16k"], 8, 3, 1, 2, tiny=True),
    "tiny_44k": NetworkConfig("tiny_44k", "44k", TINY["44k"], 8, 3, 1, 2, v2=True, tiny=True),
}

# The names and the default are sfxkit.config's, which the model registry lists too
# (tests/generation/test_network_keys.py checks that the two agree).
DEFAULT_VARIANT = DEFAULT_MMAUDIO_VARIANT
REAL_VARIANTS = tuple(name for name, cfg in VARIANTS.items() if not cfg.tiny)


def get_variant(name: str) -> NetworkConfig:
    """The config of a variant by name (``"small_16k"``; a ``"mmaudio:"`` prefix is accepted)."""
    key = name.removeprefix("mmaudio:")
    try:
        return VARIANTS[key]
    except KeyError:
        raise ModelError(
            f"unknown MMAudio variant '{name}'; choose one of: {', '.join(VARIANTS)}"
        ) from None


@dataclass(frozen=True)
class SequenceGeometry:
    """Token counts of every stream for one clip duration (the reference's SequenceConfig)."""

    duration: float
    sampling_rate: int
    hop: int  # spectrogram frame rate (samples per mel frame)
    latent_seq_len: int
    clip_seq_len: int
    sync_seq_len: int

    @property
    def num_audio_samples(self) -> int:
        """Samples the decoder produces for this many latents (>= duration * sampling_rate)."""
        return self.latent_seq_len * self.hop * LATENT_DOWNSAMPLE

    @property
    def clip_frames(self) -> int:
        return int(self.duration * CLIP_FPS)

    @property
    def sync_frames(self) -> int:
        return int(self.duration * SYNC_FPS)


# Below this the Synchformer has no full 16-frame window; shorter requests run at this length
# and are trimmed.
MIN_DURATION = 1.0


def sequence_geometry(duration: float, mode: Mode) -> SequenceGeometry:
    """Sequence lengths for ``duration`` seconds, with the reference's exact (float) arithmetic."""
    if duration < SYNC_SEGMENT_FRAMES / SYNC_FPS:
        raise ValueError(f"duration {duration} s is shorter than one Synchformer window (0.64 s)")
    dims = REAL[mode]
    sr, hop = dims.sampling_rate, dims.spectrogram_frame_rate
    latent = int(math.ceil(duration * sr / hop / LATENT_DOWNSAMPLE))
    clip = int(duration * CLIP_FPS)
    n_sync_frames = duration * SYNC_FPS
    segments = (n_sync_frames - SYNC_SEGMENT_FRAMES) // SYNC_SEGMENT_STEP + 1
    sync = int(segments * SYNC_SEGMENT_FRAMES / 2)
    return SequenceGeometry(duration, sr, hop, latent, clip, sync)
