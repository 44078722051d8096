"""Rotary position embeddings for the latent and CLIP token streams.

Pairs of channels ``(2i, 2i+1)`` of every head are rotated by ``pos * freq_i``. The CLIP stream
is 8 fps against the latent's ~31 (16k) or ~43 (44k) tokens per second, so its frequencies are
scaled by ``latent_len / clip_len``: both streams then rotate at the same rate per second of video,
for any duration. Tables are always float32, whatever the network's dtype.
"""

from __future__ import annotations

import torch
from torch import Tensor

ROPE_THETA = 10_000


def rope_tables(
    length: int,
    head_dim: int,
    *,
    theta: float = ROPE_THETA,
    freq_scaling: float = 1.0,
    device: torch.device | str = "cpu",
) -> tuple[Tensor, Tensor]:
    """``(cos, sin)`` tables of shape ``(length, head_dim // 2)`` in float32."""
    if head_dim % 2:
        raise ValueError(f"rotary embeddings need an even head dimension, got {head_dim}")
    # The same float32 operations in the same order as the checkpoints' reference, so the angles
    # agree to the bit.
    pos = torch.arange(length, dtype=torch.float32, device=device)
    exponents = torch.arange(0, head_dim, 2, dtype=torch.float32, device=device) / head_dim
    freqs = 1.0 / (theta**exponents)
    freqs = freqs * freq_scaling
    angles = pos[:, None] * freqs[None, :]
    return torch.cos(angles), torch.sin(angles)


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate ``x`` (..., length, head_dim) by the tables; computed in float32, returned in x's dtype."""
    pairs = x.float().unflatten(-1, (-1, 2))
    even, odd = pairs[..., 0], pairs[..., 1]
    rotated = torch.stack((cos * even - sin * odd, sin * even + cos * odd), dim=-1)
    return rotated.flatten(-2).to(x.dtype)
