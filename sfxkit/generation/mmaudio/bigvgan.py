"""BigVGAN mel-spectrogram vocoder (inference only), and the 16 kHz vocoder MMAudio's small_16k uses.

One generator serves both vocoders MMAudio needs: the 16 kHz BigVGAN of the v0.1 release
(``best_netG.pt``, 80 mel bands, hop 256, config below) and NVIDIA's BigVGAN v2 44.1 kHz
(``bigvgan_v2.py`` holds its config and loader). The module owns the config dataclass, the AMP
residual blocks, the generator, and the load-time weight transform: the checkpoints store every
convolution weight-normalised (either as ``weight_g``/``weight_v`` or as torch's
``parametrizations.weight.original0/1``); we fold ``g * v / ‖v‖`` once at load into a plain
``weight`` so inference runs ordinary convolutions. Attribute names equal the checkpoint's keys.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal, cast

import torch
from torch import Tensor, nn

from sfxkit.errors import CheckpointError, ModelError
from sfxkit.generation.mmaudio.alias_free import Activation1d, Snake, SnakeBeta
from sfxkit.generation.mmaudio.checkpoint import (
    check_finite,
    fix_for,
    load_strict,
    read_checkpoint,
    tensor_dict,
)


@dataclass(frozen=True)
class BigVGANConfig:
    """The generator hyper-parameters (the training-only keys of the JSON/YAML configs are dropped)."""

    num_mels: int
    upsample_rates: tuple[int, ...]
    upsample_kernel_sizes: tuple[int, ...]
    upsample_initial_channel: int
    resblock_kernel_sizes: tuple[int, ...]
    resblock_dilation_sizes: tuple[tuple[int, ...], ...]
    resblock: Literal["1", "2"] = "1"
    activation: Literal["snake", "snakebeta"] = "snakebeta"
    snake_logscale: bool = True
    use_bias_at_final: bool = True
    use_tanh_at_final: bool = True
    sampling_rate: int | None = None

    @property
    def hop_length(self) -> int:
        """Waveform samples per mel frame (the product of the upsampling rates)."""
        return math.prod(self.upsample_rates)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> BigVGANConfig:
        """Build from a BigVGAN ``config.json`` / YAML mapping, ignoring training-only keys."""
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {k: v for k, v in raw.items() if k in known}
        required = {"num_mels", "upsample_rates", "upsample_kernel_sizes"}
        required |= {"upsample_initial_channel", "resblock_kernel_sizes", "resblock_dilation_sizes"}
        missing = sorted(required - values.keys())
        if missing:
            raise ModelError(
                f"BigVGAN config lacks {', '.join(missing)}; is this a BigVGAN config.json?"
            )
        for key in ("upsample_rates", "upsample_kernel_sizes", "resblock_kernel_sizes"):
            values[key] = tuple(int(v) for v in values[key])
        values["resblock_dilation_sizes"] = tuple(
            tuple(int(d) for d in ds) for ds in values["resblock_dilation_sizes"]
        )
        values["resblock"] = str(values.get("resblock", "1"))
        return cls(**values)


# The 16 kHz vocoder of MMAudio small_16k: the generator part of the reference's
# `ext/bigvgan/bigvgan_vocoder.yml` (v0.1 BigVGAN trained at 16 kHz, 80 bands, hop 256).
BIGVGAN_16K = BigVGANConfig(
    num_mels=80,
    upsample_rates=(4, 4, 2, 2, 2, 2),
    upsample_kernel_sizes=(8, 8, 4, 4, 4, 4),
    upsample_initial_channel=1536,
    resblock_kernel_sizes=(3, 7, 11),
    resblock_dilation_sizes=((1, 3, 5), (1, 3, 5), (1, 3, 5)),
    resblock="1",
    activation="snakebeta",
    snake_logscale=True,
    sampling_rate=16_000,
)

# Toy sizes for tests and the `tiny` pipeline: the real mel bands and hop (so output lengths are
# exact), three upsampling stages instead of six and 32 channels instead of 1536.
TINY_BIGVGAN_16K = BigVGANConfig(
    num_mels=80,
    upsample_rates=(8, 8, 4),
    upsample_kernel_sizes=(16, 16, 8),
    upsample_initial_channel=16,
    resblock_kernel_sizes=(3, 7),
    resblock_dilation_sizes=((1, 3, 5), (1, 3, 5)),
    sampling_rate=16_000,
)


def _padding(kernel_size: int, dilation: int) -> int:
    return (kernel_size * dilation - dilation) // 2


class AMPBlock(nn.Module):
    """Anti-aliased multi-periodicity residual block (``resblock`` "1": two convs per dilation)."""

    def __init__(
        self, cfg: BigVGANConfig, channels: int, kernel_size: int, dilations: Sequence[int]
    ) -> None:
        super().__init__()
        self.two_convs = cfg.resblock == "1"  # (not `double`: that is nn.Module.double())

        def conv(d: int) -> nn.Conv1d:
            return nn.Conv1d(
                channels, channels, kernel_size, dilation=d, padding=_padding(kernel_size, d)
            )

        if self.two_convs:
            self.convs1 = nn.ModuleList(conv(d) for d in dilations)
            self.convs2 = nn.ModuleList(conv(1) for _ in dilations)
            n_acts = 2 * len(dilations)
        else:
            self.convs = nn.ModuleList(conv(d) for d in dilations)
            n_acts = len(dilations)
        self.activations = nn.ModuleList(Activation1d(_snake(cfg, channels)) for _ in range(n_acts))

    def forward(self, x: Tensor) -> Tensor:
        acts = list(self.activations)
        if self.two_convs:
            for c1, c2, a1, a2 in zip(self.convs1, self.convs2, acts[::2], acts[1::2], strict=True):
                x = x + c2(a2(c1(a1(x))))
        else:
            for c, a in zip(self.convs, acts, strict=True):
                x = x + c(a(x))
        return x


def _snake(cfg: BigVGANConfig, channels: int) -> nn.Module:
    if cfg.activation == "snakebeta":
        return SnakeBeta(channels, logscale=cfg.snake_logscale)
    if cfg.activation == "snake":
        return Snake(channels, logscale=cfg.snake_logscale)
    raise ModelError(
        f"unknown BigVGAN activation {cfg.activation!r}; expected 'snake' or 'snakebeta'"
    )


class BigVGANGenerator(nn.Module):
    """Mel ``(B, num_mels, frames)`` → waveform ``(B, 1, frames * hop_length)`` in [-1, 1]."""

    def __init__(self, cfg: BigVGANConfig) -> None:
        super().__init__()
        self.cfg = cfg
        ch0 = cfg.upsample_initial_channel
        n_stages = len(cfg.upsample_rates)
        if ch0 // 2**n_stages < 1:
            raise ModelError(f"upsample_initial_channel {ch0} is too small for {n_stages} stages")
        self.num_kernels = len(cfg.resblock_kernel_sizes)
        self.conv_pre = nn.Conv1d(cfg.num_mels, ch0, 7, padding=3)
        # Each stage is a one-element ModuleList because that is how the checkpoints nest it.
        self.ups = nn.ModuleList(
            nn.ModuleList(
                [nn.ConvTranspose1d(ch0 // 2**i, ch0 // 2 ** (i + 1), k, u, padding=(k - u) // 2)]
            )
            for i, (u, k) in enumerate(
                zip(cfg.upsample_rates, cfg.upsample_kernel_sizes, strict=True)
            )
        )
        self.resblocks = nn.ModuleList(
            AMPBlock(cfg, ch0 // 2 ** (i + 1), k, d)
            for i in range(n_stages)
            for k, d in zip(cfg.resblock_kernel_sizes, cfg.resblock_dilation_sizes, strict=True)
        )
        ch = ch0 // 2**n_stages
        self.activation_post = Activation1d(_snake(cfg, ch))
        self.conv_post = nn.Conv1d(ch, 1, 7, padding=3, bias=cfg.use_bias_at_final)

    @property
    def hop_length(self) -> int:
        return self.cfg.hop_length

    def forward(self, mel: Tensor) -> Tensor:
        x = self.conv_pre(mel)
        for i, stage in enumerate(self.ups):
            x = cast(nn.ModuleList, stage)[0](x)
            blocks = self.resblocks[i * self.num_kernels : (i + 1) * self.num_kernels]
            acc = blocks[0](x)
            for block in blocks[1:]:
                acc = acc + block(x)
            x = acc / self.num_kernels
        x = self.conv_post(self.activation_post(x))
        # v2 checkpoints trained without the final tanh clamp instead, to keep full scale.
        return torch.tanh(x) if self.cfg.use_tanh_at_final else x.clamp(-1.0, 1.0)

    @torch.no_grad()
    def init_random(self, generator: torch.Generator) -> BigVGANGenerator:
        """Seeded random weights for the untrained ``tiny`` pipeline.

        Scaled so a typical log-mel (mean ≈ -5, std ≈ 3) gives a waveform of moderate level
        instead of a saturated square wave: unit-gain stem and upsamplers, near-identity
        residual blocks (as BigVGAN's own N(0, 0.01) init), a quiet output head.
        """
        for name, module in self.named_modules():
            if not isinstance(module, nn.Conv1d | nn.ConvTranspose1d):
                continue
            w = module.weight
            # A transposed conv sees in_channels * kernel / stride inputs per output sample.
            if isinstance(module, nn.ConvTranspose1d):
                fan_in = w.shape[0] * w.shape[2] // module.stride[0]
            else:
                fan_in = w[0].numel()
            std = fan_in**-0.5
            if name == "conv_pre":
                std *= 0.3  # log-mels are large and offset; bring them to ~unit scale
            elif name.startswith("resblocks."):
                std = 0.01
            elif name == "conv_post":
                std *= 0.1
            w.normal_(0.0, std, generator=generator)
            if module.bias is not None:
                module.bias.zero_()
        for module in self.modules():
            if isinstance(module, Snake | SnakeBeta):
                for p in module.parameters():
                    p.normal_(0.0, 0.1, generator=generator)
        return self


_PARTNER = {  # weight-norm magnitude <-> direction, in both spellings
    ".weight_g": ".weight_v",
    ".weight_v": ".weight_g",
    ".parametrizations.weight.original0": ".parametrizations.weight.original1",
    ".parametrizations.weight.original1": ".parametrizations.weight.original0",
}


def fold_weight_norm(
    state_dict: Mapping[str, Tensor], *, source: str = "checkpoint", model_id: str | None = None
) -> dict[str, Tensor]:
    """Replace every weight-normalised pair by its plain ``weight = g * v / ‖v‖``.

    Accepts both spellings the released files use: ``<m>.weight_g`` / ``<m>.weight_v`` (the
    pre-2.1 ``torch.nn.utils.weight_norm``) and ``<m>.parametrizations.weight.original0`` /
    ``original1`` (``torch.nn.utils.parametrizations.weight_norm``). The norm runs over every
    dim but 0, as weight norm's default ``dim=0`` does for Conv1d and ConvTranspose1d alike.
    A half pair or a magnitude whose shape does not fit its direction is refused naming the key
    (the folded weight's own shape is checked against the model afterwards).
    """
    suffixes = {
        ".weight_g": "g",
        ".weight_v": "v",
        ".parametrizations.weight.original0": "g",
        ".parametrizations.weight.original1": "v",
    }
    pairs: dict[str, dict[str, tuple[str, Tensor]]] = {}
    out: dict[str, Tensor] = {}
    for key, value in state_dict.items():
        for suffix, role in suffixes.items():
            if key.endswith(suffix):
                pairs.setdefault(key[: -len(suffix)], {})[role] = (key, value)
                break
        else:
            out[key] = value
    fix = fix_for(model_id)
    for base, pair in pairs.items():
        if set(pair) != {"g", "v"}:
            have = "g" if "g" in pair else "v"
            key = pair[have][0]
            partner = next(
                key[: -len(suffix)] + other
                for suffix, other in _PARTNER.items()
                if key.endswith(suffix)
            )
            raise CheckpointError(
                source,
                f"does not match the BigVGAN generator layout: missing tensor '{partner}' "
                f"(the weight-norm partner of '{key}')",
                fix,
            )
        (g_key, g), (v_key, v) = pair["g"], pair["v"]
        want = (v.shape[0],) + (1,) * (v.ndim - 1)
        if tuple(g.shape) != want:
            raise CheckpointError(
                source,
                f"does not match the BigVGAN generator layout: tensors '{g_key}' "
                f"{list(g.shape)} and '{v_key}' {list(v.shape)} do not fit each other",
                fix,
            )
        g32, v32 = g.float(), v.float()
        norm = torch.linalg.vector_norm(v32, dim=tuple(range(1, v.ndim)), keepdim=True)
        out[f"{base}.weight"] = (v32 * (g32 / norm)).to(v.dtype)
    return out


def load_generator_weights(
    model: BigVGANGenerator,
    state_dict: Mapping[str, Tensor],
    *,
    source: str,
    model_id: str | None = None,
) -> BigVGANGenerator:
    """Fold weight norm and load strictly (every key used, none missing, all finite)."""
    state = tensor_dict(state_dict, path=source, fix=fix_for(model_id))
    check_finite(state, path=source, fix=fix_for(model_id))  # before folding renames the keys
    load_strict(
        model,
        fold_weight_norm(state, source=source, model_id=model_id),
        what="BigVGAN generator",
        source=source,
        model_id=model_id,
    )
    return model.eval()


def generator_state(
    checkpoint: Any, *, source: str, model_id: str | None = None
) -> Mapping[str, Tensor]:
    """The generator state dict inside a BigVGAN training checkpoint ``{"generator": ...}``."""
    return tensor_dict(checkpoint, path=source, fix=fix_for(model_id), entry="generator")


def load_bigvgan_16k(
    path: str | Path, *, model_id: str = "mmaudio:small_16k", cfg: BigVGANConfig = BIGVGAN_16K
) -> BigVGANGenerator:
    """The 16 kHz vocoder from ``best_netG.pt`` (BigVGAN v0.1 release); ``cfg`` is the
    release's (tests pass a toy one to load toy files through the same path)."""
    path = Path(path)
    checkpoint = read_checkpoint(path, model_id=model_id, what="16 kHz BigVGAN vocoder")
    model = BigVGANGenerator(cfg)
    state = generator_state(checkpoint, source=str(path), model_id=model_id)
    return load_generator_weights(model, state, source=str(path), model_id=model_id)


def vocode(model: BigVGANGenerator, mel: Tensor) -> Tensor:
    """Mel ``(B, n_mels, frames)`` → waveform ``(B, frames * hop)`` (channel dim dropped)."""
    if mel.ndim != 3 or mel.shape[1] != model.cfg.num_mels:
        raise ModelError(
            f"vocoder expects a mel of shape (batch, {model.cfg.num_mels}, frames), got {tuple(mel.shape)}"
        )
    return model(mel).squeeze(1)


__all__ = [
    "BIGVGAN_16K",
    "TINY_BIGVGAN_16K",
    "AMPBlock",
    "BigVGANConfig",
    "BigVGANGenerator",
    "fold_weight_norm",
    "generator_state",
    "load_bigvgan_16k",
    "load_generator_weights",
    "vocode",
]
