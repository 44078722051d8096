"""MMAudio's 1-D mel VAE (``v1-16.pth`` / ``v1-44.pth``): latents ↔ normalised log-mel frames.

The VAE is built from EDM2-style magnitude-preserving layers: bias-free convolutions whose
weights are *force-normalised* per output channel, magnitude-preserving SiLU and residual sums,
pixel-norm before each residual branch, cosine attention (q, k, v unit-normalised). The
checkpoints store the raw weights; :func:`fold_mp_weight` turns each into the effective weight
once at load, exactly as the reference's ``remove_weight_norm()`` does, so inference is a plain
convolution. The decoder upsamples time ×2 once: ``L`` latents decode to ``2L`` mel frames.

Latent (un)normalisation belongs to the flow network; :meth:`MelVAE.decode` takes raw latents
``(B, latent_dim, L)`` and returns the *un*-normalised mel (the data mean/std buffers applied),
which is what the vocoder eats. The encoder is implemented too (it shares every block), but it is
only built on request: by default its checkpoint keys are verified against its layout — names
and shapes — and set aside.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sfxkit.generation.mmaudio.checkpoint import (
    IgnoredKeys,
    check_finite,
    fix_for,
    load_strict,
    read_checkpoint,
    tensor_dict,
)

_MP_SILU_GAIN = 0.596  # E[silu(x)^2]^0.5 for x ~ N(0, 1): keeps unit variance through the SiLU
_RESIDUAL_T = 0.3  # blend weight of the residual branch in the magnitude-preserving sum
_ACT_CLIP = 256.0  # activations are clamped to ±256 after each stage (fp16 headroom)


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split())


# Per-band mean and std of the training set's log-mel frames. The checkpoints carry them as the
# `data_mean` / `data_std` buffers (loading overwrites these); they are here so a VAE built
# without a checkpoint (the tiny pipeline) decodes to plausibly scaled mels.
_MEAN_80 = _floats(
    """
    -1.6058 -1.3676 -1.252 -1.2453 -1.2078 -1.2224 -1.2419 -1.2439 -1.2922 -1.2927 -1.317
    -1.3543 -1.3401 -1.3836 -1.3907 -1.3912 -1.4313 -1.4152 -1.4527 -1.4728 -1.4568 -1.5101
    -1.5051 -1.5172 -1.5623 -1.5373 -1.5746 -1.5687 -1.6032 -1.6131 -1.6081 -1.6331 -1.6489
    -1.6489 -1.67 -1.6738 -1.6953 -1.6969 -1.7048 -1.728 -1.7361 -1.7495 -1.7658 -1.7814
    -1.7889 -1.8064 -1.8221 -1.8377 -1.8417 -1.8643 -1.8857 -1.8929 -1.9173 -1.9379 -1.9531
    -1.9673 -1.9824 -2.0042 -2.0215 -2.0436 -2.0766 -2.1064 -2.1418 -2.1855 -2.2319 -2.2767
    -2.3161 -2.3572 -2.3954 -2.4282 -2.4659 -2.5072 -2.5552 -2.6074 -2.6584 -2.7107 -2.7634
    -2.8266 -2.8981 -2.9673
    """
)
_STD_80 = _floats(
    """
    1.0291 1.0411 1.0043 0.982 0.9677 0.9543 0.945 0.9392 0.9343 0.9297 0.9276 0.9263 0.9242
    0.9254 0.9232 0.9281 0.9263 0.9315 0.9274 0.9247 0.9277 0.9199 0.9188 0.9194 0.916
    0.9161 0.9146 0.9161 0.91 0.9095 0.9145 0.9076 0.9066 0.9095 0.9032 0.9043 0.9038 0.9011
    0.9019 0.901 0.8984 0.8983 0.8986 0.8961 0.8962 0.8978 0.8962 0.8973 0.8993 0.8976
    0.8995 0.9016 0.8982 0.8972 0.8974 0.8949 0.894 0.8947 0.8936 0.8939 0.8951 0.8956
    0.9017 0.9167 0.9436 0.969 1.0003 1.0225 1.0381 1.0491 1.0545 1.0604 1.0761 1.0929
    1.1089 1.1196 1.1176 1.1156 1.1117 1.107
    """
)
_MEAN_128 = _floats(
    """
    -3.3462 -2.6723 -2.4893 -2.3143 -2.2664 -2.3317 -2.1802 -2.4006 -2.2357 -2.4597 -2.3717
    -2.469 -2.5142 -2.4919 -2.661 -2.5047 -2.7483 -2.5926 -2.7462 -2.7033 -2.7386 -2.8112
    -2.7502 -2.9594 -2.7473 -3.0035 -2.8891 -2.9922 -2.9856 -3.0157 -3.1191 -2.9893 -3.1718
    -3.0745 -3.1879 -3.231 -3.1424 -3.2296 -3.2791 -3.2782 -3.2756 -3.3134 -3.3509 -3.375
    -3.3951 -3.3698 -3.4505 -3.4509 -3.5089 -3.4647 -3.5536 -3.5788 -3.5867 -3.6036 -3.64
    -3.6747 -3.7072 -3.7279 -3.7283 -3.7795 -3.8259 -3.8447 -3.8663 -3.9182 -3.9605 -3.9861
    -4.0105 -4.0373 -4.0762 -4.1121 -4.1488 -4.1874 -4.2461 -4.317 -4.3639 -4.4452 -4.5282
    -4.6297 -4.7019 -4.796 -4.87 -4.9507 -5.0303 -5.0866 -5.1634 -5.2342 -5.3242 -5.4053
    -5.4927 -5.5712 -5.6464 -5.7052 -5.7619 -5.841 -5.9188 -6.0103 -6.0955 -6.1673 -6.2362
    -6.312 -6.3926 -6.4797 -6.5565 -6.6511 -6.813 -6.9961 -7.1275 -7.2457 -7.3576 -7.4663
    -7.6136 -7.7469 -7.8815 -8.0132 -8.1515 -8.3071 -8.4722 -8.7418 -9.3975 -9.6628 -9.7671
    -9.8863 -9.9992 -10.086 -10.1709 -10.5418 -11.2795 -11.3861
    """
)
_STD_128 = _floats(
    """
    2.3804 2.4368 2.3772 2.3145 2.2803 2.251 2.2316 2.2083 2.1996 2.1835 2.1769 2.1659
    2.1631 2.1618 2.154 2.1606 2.1571 2.1567 2.1612 2.1579 2.1679 2.1683 2.1634 2.1557
    2.1668 2.1518 2.1415 2.1449 2.1406 2.135 2.1313 2.1415 2.1281 2.1352 2.1219 2.1182
    2.1327 2.1195 2.1137 2.108 2.1179 2.1036 2.1087 2.1036 2.1015 2.1068 2.0975 2.0991
    2.0902 2.1015 2.0857 2.092 2.0893 2.0897 2.091 2.0881 2.0925 2.0873 2.096 2.09 2.0957
    2.0958 2.0978 2.0936 2.0886 2.0905 2.0845 2.0855 2.0796 2.084 2.0813 2.0817 2.0838 2.084
    2.0917 2.1061 2.1431 2.1976 2.2482 2.3055 2.37 2.4088 2.4372 2.4609 2.4731 2.4847 2.5072
    2.5451 2.5772 2.6147 2.6529 2.6596 2.6645 2.6726 2.6803 2.6812 2.6899 2.6916 2.6931
    2.6998 2.7062 2.7262 2.7222 2.7158 2.7041 2.7485 2.7491 2.7451 2.7485 2.7233 2.7297
    2.7233 2.7145 2.6958 2.6788 2.6439 2.6007 2.4786 2.2469 2.1877 2.1392 2.0717 2.0107
    1.9676 1.914 1.7102 0.9101 0.7164
    """
)
MEL_STATS: dict[int, tuple[tuple[float, ...], tuple[float, ...]]] = {
    80: (_MEAN_80, _STD_80),
    128: (_MEAN_128, _STD_128),
}


@dataclass(frozen=True)
class VAEConfig:
    data_dim: int  # mel bands (80 at 16 kHz, 128 at 44.1 kHz)
    embed_dim: int  # latent channels (20 / 40)
    hidden_dim: int  # base width (384 / 512)
    ch_mult: tuple[int, ...] = (1, 2, 4)
    num_res_blocks: int = 2
    # Levels with attention after each residual block. With three levels, index 3 never
    # matches: as released, the only attention is the one in the middle block.
    attn_layers: tuple[int, ...] = (3,)
    # Levels after which the encoder halves time (the decoder doubles it back there).
    down_layers: tuple[int, ...] = (0,)


VAE_16K = VAEConfig(data_dim=80, embed_dim=20, hidden_dim=384)
VAE_44K = VAEConfig(data_dim=128, embed_dim=40, hidden_dim=512)
# Toy width for tests and the tiny pipeline; mel bands and latent channels stay real.
TINY_VAE_16K = VAEConfig(data_dim=80, embed_dim=20, hidden_dim=8)
TINY_VAE_44K = VAEConfig(data_dim=128, embed_dim=40, hidden_dim=8)


def mp_silu(x: Tensor) -> Tensor:
    return F.silu(x) / _MP_SILU_GAIN


def mp_sum(a: Tensor, b: Tensor, t: float = _RESIDUAL_T) -> Tensor:
    """``lerp(a, b, t)`` rescaled so two unit-variance inputs give a unit-variance output."""
    return a.lerp(b, t) / math.sqrt((1 - t) ** 2 + t**2)


def pixel_norm(x: Tensor, dim: int, eps: float = 1e-4) -> Tensor:
    """Scale to unit RMS along ``dim`` (EDM2's ``normalize``)."""
    norm = torch.linalg.vector_norm(x, dim=dim, keepdim=True, dtype=torch.float32)
    norm = torch.add(eps, norm, alpha=math.sqrt(norm.numel() / x.numel()))
    return x / norm.to(x.dtype)


def fold_mp_weight(weight: Tensor) -> Tensor:
    """The effective weight of a force-normalised MP convolution.

    Each output channel's filter is scaled to unit RMS (the EDM2 ``normalize``) and then by
    ``1/sqrt(fan_in)`` so unit-variance inputs give unit-variance outputs. Computed in fp32.
    """
    w = weight.to(torch.float32)
    w = pixel_norm(w, dim=tuple(range(1, w.ndim)))  # type: ignore[arg-type]
    w = w / math.sqrt(w[0].numel())
    return w.to(weight.dtype)


class MPConv1d(nn.Module):
    """Bias-free 'same'-padded convolution holding an already folded weight."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size))

    def forward(self, x: Tensor, gain: Tensor | float = 1.0) -> Tensor:
        w = self.weight * gain
        return F.conv1d(x, w, padding=w.shape[-1] // 2)


class ResnetBlock1d(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.in_dim, self.out_dim = in_dim, out_dim
        self.conv1 = MPConv1d(in_dim, out_dim, kernel_size)
        self.conv2 = MPConv1d(out_dim, out_dim, kernel_size)
        if in_dim != out_dim:
            self.nin_shortcut = MPConv1d(in_dim, out_dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = pixel_norm(x, dim=1)
        h = self.conv2(mp_silu(self.conv1(mp_silu(x))))
        if self.in_dim != self.out_dim:
            x = self.nin_shortcut(x)
        return mp_sum(x, h)


class AttnBlock1d(nn.Module):
    """Single-head cosine self-attention over time with a magnitude-preserving residual."""

    def __init__(self, channels: int, num_heads: int = 1) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = MPConv1d(channels, channels * 3, 1)
        self.proj_out = MPConv1d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        b, _, n = x.shape
        # The 3C channels are laid out (head, per-head channel, q/k/v) — the checkpoint's order.
        y = self.qkv(x).reshape(b, self.num_heads, -1, 3, n)
        q, k, v = pixel_norm(y, dim=2).unbind(3)  # each (b, heads, c, n)
        h = F.scaled_dot_product_attention(
            q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2)
        )
        h = h.transpose(-1, -2).reshape(b, -1, n)
        return mp_sum(x, self.proj_out(h))


class Upsample1d(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = MPConv1d(channels, channels, 3)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest-exact"))


class Downsample1d(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = MPConv1d(channels, channels, 1)
        self.conv2 = MPConv1d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv2(F.avg_pool1d(self.conv1(x), kernel_size=2, stride=2))


class _Level(nn.Module):
    """One resolution level: residual blocks (+ attention where configured) and a resampler."""

    upsample: Upsample1d  # decoder levels in `up_levels` only
    downsample: Downsample1d  # encoder levels in `down_layers` only

    def __init__(self) -> None:
        super().__init__()
        self.block = nn.ModuleList()
        self.attn = nn.ModuleList()


class _Mid(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.block_1 = ResnetBlock1d(channels, channels)
        self.attn_1 = AttnBlock1d(channels)
        self.block_2 = ResnetBlock1d(channels, channels)

    def forward(self, h: Tensor) -> Tensor:
        return self.block_2(self.attn_1(self.block_1(h)))


class Encoder1d(nn.Module):
    """Normalised mel ``(B, data_dim, T)`` → moments ``(B, 2 * embed_dim, T / 2)`` (mean, logvar)."""

    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        dim = cfg.hidden_dim
        self.conv_in = MPConv1d(cfg.data_dim, dim, 3)
        in_mult = (1, *cfg.ch_mult)
        self.down = nn.ModuleList()
        block_in = dim
        for level, mult in enumerate(cfg.ch_mult):
            stage = _Level()
            block_in = dim * in_mult[level]
            for _ in range(cfg.num_res_blocks):
                stage.block.append(ResnetBlock1d(block_in, dim * mult))
                block_in = dim * mult
                if level in cfg.attn_layers:
                    stage.attn.append(AttnBlock1d(block_in))
            if level in cfg.down_layers:
                stage.downsample = Downsample1d(block_in)
            self.down.append(stage)
        self.mid = _Mid(block_in)
        self.conv_out = MPConv1d(block_in, 2 * cfg.embed_dim, 3)
        self.learnable_gain = nn.Parameter(torch.zeros([]))

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv_in(x)
        for level, stage in enumerate(cast(list[_Level], list(self.down))):
            for i, block in enumerate(stage.block):
                h = block(h)
                if len(stage.attn) > 0:
                    h = stage.attn[i](h)
                h = h.clamp(-_ACT_CLIP, _ACT_CLIP)
            if level in self.cfg.down_layers:
                h = stage.downsample(h)
        h = self.mid(h).clamp(-_ACT_CLIP, _ACT_CLIP)
        return self.conv_out(mp_silu(h), gain=self.learnable_gain + 1)


class Decoder1d(nn.Module):
    """Latents ``(B, embed_dim, L)`` → normalised mel ``(B, data_dim, 2L)``."""

    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        dim = cfg.hidden_dim
        self.up_levels = tuple(i + 1 for i in cfg.down_layers)  # upsample where the encoder halved
        block_in = dim * cfg.ch_mult[-1]
        self.conv_in = MPConv1d(cfg.embed_dim, block_in, 3)
        self.mid = _Mid(block_in)
        levels: list[_Level] = []
        for level in reversed(range(len(cfg.ch_mult))):
            stage = _Level()
            block_out = dim * cfg.ch_mult[level]
            for _ in range(cfg.num_res_blocks + 1):
                stage.block.append(ResnetBlock1d(block_in, block_out))
                block_in = block_out
                if level in cfg.attn_layers:
                    stage.attn.append(AttnBlock1d(block_in))
            if level in self.up_levels:
                stage.upsample = Upsample1d(block_in)
            levels.insert(0, stage)  # index by level, as the checkpoint does
        self.up = nn.ModuleList(levels)
        self.conv_out = MPConv1d(block_in, cfg.data_dim, 3)
        self.learnable_gain = nn.Parameter(torch.zeros([]))

    def forward(self, z: Tensor) -> Tensor:
        h = self.conv_in(z)
        h = self.mid(h).clamp(-_ACT_CLIP, _ACT_CLIP)
        for level in reversed(range(len(self.up))):
            stage = cast(_Level, self.up[level])
            for i, block in enumerate(stage.block):
                h = block(h)
                if len(stage.attn) > 0:
                    h = stage.attn[i](h)
                h = h.clamp(-_ACT_CLIP, _ACT_CLIP)
            if level in self.up_levels:
                h = stage.upsample(h)
        return self.conv_out(mp_silu(h), gain=self.learnable_gain + 1)


class MelVAE(nn.Module):
    """The VAE with its mel statistics; the encoder is optional (``with_encoder``)."""

    data_mean: Tensor
    data_std: Tensor

    def __init__(self, cfg: VAEConfig, *, with_encoder: bool = False) -> None:
        super().__init__()
        if cfg.data_dim not in MEL_STATS:
            raise ValueError(
                f"no mel statistics for {cfg.data_dim} bands; known: {sorted(MEL_STATS)}"
            )
        self.cfg = cfg
        mean, std = MEL_STATS[cfg.data_dim]
        # (1, n_mels, 1) buffers, saved in the checkpoints under these names and shapes.
        self.register_buffer("data_mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1))
        self.register_buffer("data_std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1))
        self.encoder = Encoder1d(cfg) if with_encoder else None
        self.decoder = Decoder1d(cfg)

    def decode(self, z: Tensor) -> Tensor:
        """Latents ``(B, embed_dim, L)`` → log-mel ``(B, data_dim, 2L)`` in natural units."""
        return self.decoder(z) * self.data_std + self.data_mean

    def encode(self, mel: Tensor) -> tuple[Tensor, Tensor]:
        """Log-mel ``(B, data_dim, T)`` → ``(mean, logvar)`` of the posterior, each ``(B, embed_dim, T/2)``."""
        if self.encoder is None:
            raise RuntimeError(
                "this VAE was loaded without its encoder; build it with with_encoder=True"
            )
        moments = self.encoder((mel - self.data_mean) / self.data_std)
        mean, logvar = moments.chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def mp_convs(self) -> list[str]:
        """State-dict keys of every MP convolution weight (the ones folded at load)."""
        return [f"{name}.weight" for name, m in self.named_modules() if isinstance(m, MPConv1d)]

    @torch.no_grad()
    def init_random(self, generator: torch.Generator) -> MelVAE:
        """Seeded random raw weights, folded like a checkpoint's, for the untrained tiny pipeline."""
        for key in self.mp_convs():
            weight = self.get_parameter(key)
            weight.copy_(fold_mp_weight(torch.randn(weight.shape, generator=generator)))
        for name, p in self.named_parameters():
            if name.endswith("learnable_gain"):
                p.zero_()
        return self


def encoder_layout(cfg: VAEConfig) -> dict[str, tuple[int, ...]]:
    """Names and shapes of the encoder's checkpoint entries (built on the meta device: no memory)."""
    with torch.device("meta"):
        encoder = Encoder1d(cfg)
    return {f"encoder.{k}": tuple(v.shape) for k, v in encoder.state_dict().items()}


def load_vae_weights(
    model: MelVAE, state_dict: Mapping[str, Tensor], *, source: str, model_id: str | None = None
) -> list[str]:
    """Fold the MP weights and load strictly; returns the checkpoint keys deliberately skipped.

    When ``model`` has no encoder, the checkpoint's encoder entries must still be exactly the
    encoder's layout (names and shapes); anything else missing or extra is an error.
    """
    folded = dict(tensor_dict(state_dict, path=source, fix=fix_for(model_id)))
    check_finite(folded, path=source, fix=fix_for(model_id))  # before folding hides the key
    for key in model.mp_convs():
        if key in folded:
            folded[key] = fold_mp_weight(folded[key])
    ignored = None
    if model.encoder is None:
        ignored = IgnoredKeys(
            exact=encoder_layout(model.cfg), reason="the VAE encoder is not needed for generation"
        )
    return load_strict(
        model, folded, what="MMAudio VAE", source=source, ignored=ignored, model_id=model_id
    )


def load_vae(
    path: str | Path, cfg: VAEConfig, *, model_id: str, with_encoder: bool = False
) -> MelVAE:
    """Load ``v1-16.pth`` / ``v1-44.pth`` (a plain state dict) into a :class:`MelVAE`."""
    path = Path(path)
    state = read_checkpoint(path, model_id=model_id, what=f"MMAudio VAE ({cfg.data_dim} mel bands)")
    model = MelVAE(cfg, with_encoder=with_encoder)
    load_vae_weights(model, state, source=str(path), model_id=model_id)
    return model.eval()


def decode_latents(model: MelVAE, z: Tensor) -> Tensor:
    """Channel-last latents ``(B, L, latent_dim)`` → mel ``(B, n_mels, 2L)``."""
    return model.decode(z.transpose(1, 2))


__all__: Sequence[str] = [
    "TINY_VAE_16K",
    "TINY_VAE_44K",
    "VAE_16K",
    "VAE_44K",
    "MelVAE",
    "VAEConfig",
    "decode_latents",
    "encoder_layout",
    "fold_mp_weight",
    "load_vae",
    "load_vae_weights",
]
