"""Synchformer's visual branch: the features MMAudio uses to lock sound onto on-screen events.

A MotionFormer-style video ViT with *divided* space-time attention: a 16-frame, 224 px window is
cut into 2×16×16 tubelets (8 temporal × 14×14 spatial tokens, plus a CLS token); each block
attends over time (same spatial position across the 8 steps), then over space (same step across
the 196 positions), then an MLP; the CLS token attends to everything. After the final LayerNorm,
one transformer-encoder layer with its own CLS token pools each time step's 196 tokens, giving 8
tokens of width 768 per window.

Only the visual branch is built. ``synchformer_state_dict.pth`` also holds the audio branch, the
projections and the synchronisation transformer (``afeat_extractor.``, ``aproj.``, ``vproj.``,
``transformer.``) and the visual ViT's unused 2-D patch stem (``patch_embed.proj``): they are
set aside by an explicit, checked list (see :data:`OTHER_BRANCHES`, :func:`unused_keys`).

Tiny config: width 32, 2 heads, 1 block, with the real 224 px / 16 px / tubelet 2 geometry (the
positional tables are sized from it, so the real input shape is kept and nothing is resized).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sfxkit.generation.mmaudio.checkpoint import IgnoredKeys, load_strict, read_checkpoint

LAYER_NORM_EPS = 1e-6
OTHER_BRANCHES = ("afeat_extractor.", "aproj.", "vproj.", "transformer.")


@dataclass(frozen=True)
class SynchformerConfig:
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: int = 4
    img_size: int = 224
    patch_size: int = 16
    tubelet: int = 2  # frames per temporal patch
    num_frames: int = 16  # frames per window
    qkv_bias: bool = True

    @property
    def grid(self) -> int:
        return self.img_size // self.patch_size

    @property
    def n_patches(self) -> int:
        return self.grid * self.grid

    @property
    def n_time(self) -> int:
        return self.num_frames // self.tubelet


REAL_SYNCHFORMER = SynchformerConfig()
TINY_SYNCHFORMER = SynchformerConfig(embed_dim=32, depth=1, num_heads=2)


class DividedAttention(nn.Module):
    """Multi-head attention within time groups or space groups; CLS attends globally."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(
        self, x: Tensor, axis: Literal["time", "space"], n_time: int, n_patches: int
    ) -> Tensor:
        n, length, dim = x.shape
        heads = self.num_heads
        # The fused projection is laid out (q|k|v, head, channel), as the checkpoint stores it.
        q, k, v = self.qkv(x).view(n, length, 3, heads, dim // heads).permute(2, 0, 3, 1, 4)
        q = q * self.scale
        cls_out = F.scaled_dot_product_attention(q[:, :, :1], k, v, scale=1.0)

        def grouped(t: Tensor) -> Tensor:
            # (n, h, T*P, d) tokens, time-major → (n, h, groups, seq, d)
            t = t[:, :, 1:].reshape(n, heads, n_time, n_patches, -1)
            return t.transpose(2, 3) if axis == "time" else t

        qg, kg, vg = grouped(q), grouped(k), grouped(v)
        groups = qg.shape[2]
        # Every group also sees the CLS token's key and value.
        kg = torch.cat([k[:, :, None, :1].expand(-1, -1, groups, -1, -1), kg], dim=3)
        vg = torch.cat([v[:, :, None, :1].expand(-1, -1, groups, -1, -1), vg], dim=3)
        # Groups folded into the head axis: 4-D inputs let SDPA pick its fused kernels.
        seq, d = qg.shape[-2], qg.shape[-1]
        out = F.scaled_dot_product_attention(
            qg.reshape(n, heads * groups, seq, d),
            kg.reshape(n, heads * groups, seq + 1, d),
            vg.reshape(n, heads * groups, seq + 1, d),
            scale=1.0,
        ).view(n, heads, groups, seq, d)
        if axis == "time":
            out = out.transpose(2, 3)
        out = torch.cat([cls_out, out.reshape(n, heads, n_time * n_patches, -1)], dim=2)
        return self.proj(out.transpose(1, 2).reshape(n, length, dim))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class DividedSpaceTimeBlock(nn.Module):
    """Time attention (``norm3``/``timeattn``) → space attention (``norm1``/``attn``) → MLP."""

    def __init__(self, cfg: SynchformerConfig) -> None:
        super().__init__()
        dim = cfg.embed_dim
        self.norm1 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.attn = DividedAttention(dim, cfg.num_heads, cfg.qkv_bias)
        self.timeattn = DividedAttention(dim, cfg.num_heads, cfg.qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.mlp = Mlp(dim, int(dim * cfg.mlp_ratio))
        self.norm3 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)

    def forward(self, x: Tensor, n_time: int, n_patches: int) -> Tensor:
        x = x + self.timeattn(self.norm3(x), "time", n_time, n_patches)
        x = x + self.attn(self.norm1(x), "space", n_time, n_patches)
        return x + self.mlp(self.norm2(x))


class PatchEmbed3d(nn.Module):
    def __init__(self, cfg: SynchformerConfig) -> None:
        super().__init__()
        kernel = (cfg.tubelet, cfg.patch_size, cfg.patch_size)
        self.proj = nn.Conv3d(3, cfg.embed_dim, kernel_size=kernel, stride=kernel)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)  # (N, t*h*w, D), time-major


class ClsPooling(nn.TransformerEncoderLayer):
    """A pre-norm encoder layer over ``[CLS, tokens]`` that returns the CLS output."""

    def __init__(self, cfg: SynchformerConfig) -> None:
        super().__init__(
            d_model=cfg.embed_dim,
            nhead=cfg.num_heads,
            dim_feedforward=cfg.mlp_ratio * cfg.embed_dim,
            dropout=0.0,
            activation=nn.GELU(),
            layer_norm_eps=LAYER_NORM_EPS,
            batch_first=True,
            norm_first=True,
        )
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.embed_dim))

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        return super().forward(x)[:, 0]


class MotionFormer(nn.Module):
    """Windows ``(N, 3, 16, 224, 224)`` → per-time-step features ``(N, 8, D)``."""

    def __init__(self, cfg: SynchformerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        dim = cfg.embed_dim
        self.patch_embed_3d = PatchEmbed3d(cfg)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.n_patches + 1, dim))
        self.temp_embed = nn.Parameter(torch.zeros(1, cfg.n_time, dim))
        self.blocks = nn.ModuleList(DividedSpaceTimeBlock(cfg) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.spatial_attn_agg = ClsPooling(cfg)

    def forward(self, x: Tensor) -> Tensor:
        cfg = self.cfg
        n = x.shape[0]
        expected = (3, cfg.num_frames, cfg.img_size, cfg.img_size)
        if tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"Synchformer windows must be (N, {', '.join(map(str, expected))}), got {tuple(x.shape)}"
            )
        tokens = self.patch_embed_3d(x)
        # Spatial table tiled over time plus one temporal vector per step (time-major order).
        pos = self.pos_embed[:, 1:].repeat(1, cfg.n_time, 1)
        pos = pos + self.temp_embed.repeat_interleave(cfg.n_patches, dim=1)
        tokens = tokens + pos
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(n, -1, -1)
        h = torch.cat([cls, tokens], dim=1)
        for block in self.blocks:
            h = block(h, cfg.n_time, cfg.n_patches)
        h = self.norm(h[:, 1:])  # the CLS token is not used for sync features
        h = h.reshape(n * cfg.n_time, cfg.n_patches, -1)
        return self.spatial_attn_agg(h).view(n, cfg.n_time, -1)


class Synchformer(nn.Module):
    """Windows ``(B, S, 16, 3, 224, 224)`` → features ``(B, S, 8, D)``."""

    def __init__(self, cfg: SynchformerConfig = REAL_SYNCHFORMER) -> None:
        super().__init__()
        self.cfg = cfg
        self.vfeat_extractor = MotionFormer(cfg)

    def forward(self, windows: Tensor) -> Tensor:
        b, s, t, c, h, w = windows.shape
        x = windows.permute(0, 1, 3, 2, 4, 5).reshape(b * s, c, t, h, w)
        return self.vfeat_extractor(x).view(b, s, self.cfg.n_time, -1)

    @torch.no_grad()
    def init_random(self, generator: torch.Generator) -> Synchformer:
        """Seeded random weights (ViT-style scales) for the untrained tiny pipeline."""
        for name, p in self.named_parameters():
            if isinstance(self.get_submodule(name.rsplit(".", 1)[0]), nn.LayerNorm):
                p.fill_(1.0 if name.endswith("weight") else 0.0)
            elif name.endswith("patch_embed_3d.proj.weight"):
                p.normal_(0.0, p[0].numel() ** -0.5, generator=generator)
            else:
                p.normal_(0.0, 0.02, generator=generator)
        return self


def unused_keys(cfg: SynchformerConfig) -> IgnoredKeys:
    """The checkpoint entries the visual branch does not use (the exact 2-D stem + other branches)."""
    dim, p = cfg.embed_dim, cfg.patch_size
    return IgnoredKeys(
        exact={
            # A 2-D patch stem the ViT keeps only to count patches; tubelets replace it.
            "vfeat_extractor.patch_embed.proj.weight": (dim, 3, p, p),
            "vfeat_extractor.patch_embed.proj.bias": (dim,),
        },
        prefixes=OTHER_BRANCHES,
        reason="audio branch, sync transformer and the unused 2-D patch stem",
    )


def load_synchformer_weights(
    model: Synchformer, state_dict: dict[str, Tensor], *, source: str, model_id: str | None = None
) -> list[str]:
    return load_strict(
        model,
        state_dict,
        what="Synchformer (visual branch)",
        source=source,
        ignored=unused_keys(model.cfg),
        model_id=model_id,
    )


def load_synchformer(
    path: str | Path,
    *,
    model_id: str = "mmaudio:large_44k_v2",
    cfg: SynchformerConfig = REAL_SYNCHFORMER,
) -> Synchformer:
    """Load the visual branch from ``synchformer_state_dict.pth`` (``cfg``: the release's; tests
    pass a toy one to load toy files through the same path)."""
    path = Path(path)
    state = read_checkpoint(path, model_id=model_id, what="Synchformer")
    model = Synchformer(cfg)
    load_synchformer_weights(model, state, source=str(path), model_id=model_id)
    return model.eval()


__all__ = [
    "OTHER_BRANCHES",
    "REAL_SYNCHFORMER",
    "TINY_SYNCHFORMER",
    "Synchformer",
    "SynchformerConfig",
    "load_synchformer",
    "load_synchformer_weights",
    "unused_keys",
]
