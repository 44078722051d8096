"""Layers of the MMAudio flow transformer, with the parameter names of the official checkpoints.

Attribute names (``qkv``, ``q_norm``, ``adaLN_modulation``, ``linear1``, ``ffn``, ``w1``/``w2``/``w3``
…) are the checkpoint's key names and must not change: ``load_state_dict(strict=True)`` depends
on them. Sequences are channel-last everywhere: ``(batch, tokens, channels)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sfxkit.generation.mmaudio.rope import apply_rope

LAYER_NORM_EPS = 1e-5  # torch's LayerNorm default, which the checkpoints were trained with
RopeTables = tuple[Tensor, Tensor]


class SeqConv1d(nn.Conv1d):
    """A 1-D convolution over the token axis of a channel-last ``(B, N, C)`` sequence."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


def swiglu_width(hidden: int, multiple_of: int = 256) -> int:
    """Inner width of the gated MLPs: 2/3 of the nominal width, rounded up to ``multiple_of``."""
    width = int(2 * hidden / 3)
    return multiple_of * ((width + multiple_of - 1) // multiple_of)


class GatedMLP(nn.Module):
    """SwiGLU feed-forward: ``w2(silu(w1 x) * w3 x)``, no biases."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        inner = swiglu_width(hidden)
        self.w1 = nn.Linear(dim, inner, bias=False)
        self.w2 = nn.Linear(inner, dim, bias=False)
        self.w3 = nn.Linear(dim, inner, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class GatedConvMLP(nn.Module):
    """SwiGLU feed-forward whose three projections are convolutions along the tokens."""

    def __init__(self, dim: int, hidden: int, kernel_size: int = 3) -> None:
        super().__init__()
        inner = swiglu_width(hidden)
        pad = kernel_size // 2
        self.w1 = SeqConv1d(dim, inner, kernel_size, padding=pad, bias=False)
        self.w2 = SeqConv1d(inner, dim, kernel_size, padding=pad, bias=False)
        self.w3 = SeqConv1d(dim, inner, kernel_size, padding=pad, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class QKNormAttention(nn.Module):
    """Projects tokens to per-head queries, keys and values with RMS-normalised q and k.

    The checkpoint's ``qkv`` output interleaves q, k and v per channel: feature
    ``(head, channel, j)`` with j = 0, 1, 2 for q, k, v, so it is viewed as ``(..., H, d, 3)``.
    """

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.q_norm = nn.RMSNorm(self.head_dim)
        self.k_norm = nn.RMSNorm(self.head_dim)

    def project(self, x: Tensor, rope: RopeTables | None) -> tuple[Tensor, Tensor, Tensor]:
        """``(B, N, D)`` → q, k, v each ``(B, H, N, d)``."""
        b, n, _ = x.shape
        q, k, v = self.qkv(x).view(b, n, self.num_heads, self.head_dim, 3).unbind(-1)
        q = self.q_norm(q).transpose(1, 2)
        k = self.k_norm(k).transpose(1, 2)
        v = v.transpose(1, 2).contiguous()  # strided v sends SDPA to its slow math path
        if rope is not None:
            q = apply_rope(q, *rope)
            k = apply_rope(k, *rope)
        return q, k, v


def attend(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Full (non-causal) attention; ``(B, H, N, d)`` → ``(B, N, H*d)``."""
    out = F.scaled_dot_product_attention(q, k, v)
    return out.transpose(1, 2).flatten(2)


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    return x * (1 + scale) + shift


class ModulatedBlock(nn.Module):
    """One stream of a transformer block with adaptive-LayerNorm conditioning (DiT style).

    ``pre_only`` blocks (the clip and text streams of the last joint block) only contribute keys
    and values to the joint attention: their outputs are never read, so they have no output path.
    ``kernel_size > 1`` makes the attention output projection and the MLP convolutional.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        *,
        mlp_ratio: float = 4.0,
        pre_only: bool = False,
        kernel_size: int = 3,
    ) -> None:
        super().__init__()
        self.pre_only = pre_only
        self.attn = QKNormAttention(dim, num_heads)
        n_mod = 2 if pre_only else 6
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, n_mod * dim, bias=True))
        if not pre_only:
            hidden = int(dim * mlp_ratio)
            self.linear1: nn.Module
            self.ffn: nn.Module
            if kernel_size == 1:
                self.linear1 = nn.Linear(dim, dim)
                self.ffn = GatedMLP(dim, hidden)
            else:
                self.linear1 = SeqConv1d(dim, dim, kernel_size, padding=kernel_size // 2)
                self.ffn = GatedConvMLP(dim, hidden, kernel_size)

    def pre_attention(
        self, x: Tensor, c: Tensor, rope: RopeTables | None
    ) -> tuple[tuple[Tensor, Tensor, Tensor], tuple[Tensor, ...]]:
        """Modulated q, k, v of ``x`` and the modulation left for after attention.

        ``c`` is ``(B, 1, D)`` (one condition for all tokens) or ``(B, N, D)`` (per token).
        """
        mods = self.adaLN_modulation(c).chunk(2 if self.pre_only else 6, dim=-1)
        h = modulate(F.layer_norm(x, x.shape[-1:], eps=LAYER_NORM_EPS), mods[0], mods[1])
        return self.attn.project(h, rope), mods[2:]

    def post_attention(self, x: Tensor, attn_out: Tensor, mods: tuple[Tensor, ...]) -> Tensor:
        if self.pre_only:
            return x
        gate_attn, shift_mlp, scale_mlp, gate_mlp = mods
        x = x + self.linear1(attn_out) * gate_attn
        h = modulate(F.layer_norm(x, x.shape[-1:], eps=LAYER_NORM_EPS), shift_mlp, scale_mlp)
        return x + self.ffn(h) * gate_mlp

    def forward(self, x: Tensor, c: Tensor, rope: RopeTables | None) -> Tensor:
        qkv, mods = self.pre_attention(x, c, rope)
        return self.post_attention(x, attend(*qkv), mods)


class JointBlock(nn.Module):
    """MM-DiT block: latent, CLIP and text streams attend jointly, each with its own weights.

    The latent stream is modulated per token (global condition + aligned sync features); the
    CLIP and text streams by the global condition only.
    """

    def __init__(self, dim: int, num_heads: int, *, mlp_ratio: float = 4.0, pre_only: bool) -> None:
        super().__init__()
        self.pre_only = pre_only
        self.latent_block = ModulatedBlock(dim, num_heads, mlp_ratio=mlp_ratio, kernel_size=3)
        self.clip_block = ModulatedBlock(
            dim, num_heads, mlp_ratio=mlp_ratio, pre_only=pre_only, kernel_size=3
        )
        self.text_block = ModulatedBlock(
            dim, num_heads, mlp_ratio=mlp_ratio, pre_only=pre_only, kernel_size=1
        )

    def forward(
        self,
        latent: Tensor,
        clip: Tensor,
        text: Tensor,
        global_c: Tensor,
        extended_c: Tensor,
        latent_rope: RopeTables,
        clip_rope: RopeTables,
    ) -> tuple[Tensor, Tensor, Tensor]:
        lq, lmod = self.latent_block.pre_attention(latent, extended_c, latent_rope)
        cq, cmod = self.clip_block.pre_attention(clip, global_c, clip_rope)
        tq, tmod = self.text_block.pre_attention(text, global_c, None)
        q, k, v = (torch.cat((lq[i], cq[i], tq[i]), dim=2) for i in range(3))
        out = attend(q, k, v)
        n_lat, n_clip = latent.shape[1], clip.shape[1]
        latent = self.latent_block.post_attention(latent, out[:, :n_lat], lmod)
        if not self.pre_only:
            clip = self.clip_block.post_attention(clip, out[:, n_lat : n_lat + n_clip], cmod)
            text = self.text_block.post_attention(text, out[:, n_lat + n_clip :], tmod)
        return latent, clip, text


class FinalBlock(nn.Module):
    """adaLN + convolution from the hidden width back to the latent channels."""

    def __init__(self, dim: int, out_dim: int) -> None:
        super().__init__()
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim, bias=True))
        self.conv = SeqConv1d(dim, out_dim, kernel_size=7, padding=3)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=-1)
        x = modulate(F.layer_norm(x, x.shape[-1:], eps=LAYER_NORM_EPS), shift, scale)
        return self.conv(x)


class TimestepEmbedder(nn.Module):
    """Sinusoidal features of the flow time ``t`` in [0, 1] followed by an MLP.

    v1 networks use 256 frequencies with period up to 10000 (DiT); v2 networks use
    ``hidden_dim`` frequencies rescaled for ``t`` in [0, 1] (``max_period=1``). The frequency
    table is float32 whatever the network's dtype, as in training.
    """

    def __init__(self, dim: int, frequency_size: int, max_period: float) -> None:
        super().__init__()
        self.frequency_size = frequency_size
        self.max_period = max_period
        self.mlp = nn.Sequential(nn.Linear(frequency_size, dim), nn.SiLU(), nn.Linear(dim, dim))
        self._freqs: dict[torch.device, Tensor] = {}

    def frequencies(self, device: torch.device) -> Tensor:
        freqs = self._freqs.get(device)
        if freqs is None:
            n = self.frequency_size
            base = 1.0 / (10000 ** (torch.arange(0, n, 2, dtype=torch.float32, device=device) / n))
            freqs = (10000 / self.max_period) * base
            self._freqs[device] = freqs
        return freqs

    def forward(self, t: Tensor) -> Tensor:
        args = t[:, None].float() * self.frequencies(t.device)[None]
        features = torch.cat((torch.cos(args), torch.sin(args)), dim=-1).to(t.dtype)
        return self.mlp(features)
