"""Anti-aliased periodic activations shared by both BigVGAN vocoders, in plain torch.

BigVGAN applies its Snake / SnakeBeta nonlinearity at twice the sample rate: upsample by 2 with a
Kaiser-windowed sinc low-pass, apply the activation, low-pass and decimate back. This module owns
those pieces (the filter design, the two resamplers, the activations and the wrapper that chains
them). Buffer and parameter names follow the released checkpoints (``act.alpha``, ``act.beta``,
``upsample.filter``, ``downsample.lowpass.filter``) so the generator state dicts load strictly.
No CUDA kernel: the fused kernel NVIDIA ships is an optional speed-up with the same maths.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_CPU = torch.device("cpu")


@lru_cache(maxsize=16)
def _kaiser_sinc_taps(cutoff: float, half_width: float, kernel_size: int) -> Tensor:
    """A low-pass FIR of ``kernel_size`` taps, shaped ``(1, 1, kernel_size)``, unit DC gain (CPU).

    ``cutoff`` and ``half_width`` are in cycles per sample (0.5 = Nyquist). The Kaiser ``beta``
    comes from Kaiser's empirical formula for the stop-band attenuation that a transition band
    of ``2 * half_width`` allows with this many taps.
    """
    if not 0.0 <= cutoff <= 0.5:
        raise ValueError(f"cutoff must be in [0, 0.5] cycles/sample, got {cutoff}")
    half = kernel_size // 2
    attenuation = 2.285 * (half - 1) * math.pi * (4 * half_width) + 7.95
    if attenuation > 50.0:
        beta = 0.1102 * (attenuation - 8.7)
    elif attenuation >= 21.0:
        beta = 0.5842 * (attenuation - 21.0) ** 0.4 + 0.07886 * (attenuation - 21.0)
    else:
        beta = 0.0
    window = torch.kaiser_window(kernel_size, periodic=False, beta=beta, device=_CPU)
    # Taps sit on half-integers for an even length so the filter is symmetric about the centre.
    if kernel_size % 2 == 0:
        t = torch.arange(-half, half, device=_CPU) + 0.5
    else:
        t = torch.arange(kernel_size, device=_CPU) - half
    if cutoff == 0.0:
        taps = torch.zeros_like(t)
    else:
        taps = 2 * cutoff * window * torch.sinc(2 * cutoff * t)
        taps = taps / taps.sum()  # unit gain at DC, so constants pass unchanged
    return taps.view(1, 1, kernel_size)


def kaiser_sinc_filter(cutoff: float, half_width: float, kernel_size: int) -> Tensor:
    """A fresh copy of the (cached) filter. Always built on the CPU: under a ``meta`` device
    context the window maths would run through slow decompositions, hundreds of times per model.
    """
    return _kaiser_sinc_taps(cutoff, half_width, kernel_size).clone()


class LowPassFilter1d(nn.Module):
    """Depthwise FIR low-pass with replicate padding and an optional stride (decimation)."""

    filter: Tensor

    def __init__(
        self, cutoff: float = 0.5, half_width: float = 0.6, stride: int = 1, kernel_size: int = 12
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride
        even = kernel_size % 2 == 0
        self.pad_left = kernel_size // 2 - int(even)
        self.pad_right = kernel_size // 2
        self.register_buffer("filter", kaiser_sinc_filter(cutoff, half_width, kernel_size))

    def forward(self, x: Tensor) -> Tensor:
        channels = x.shape[1]
        x = F.pad(x, (self.pad_left, self.pad_right), mode="replicate")
        return F.conv1d(
            x, self.filter.expand(channels, -1, -1), stride=self.stride, groups=channels
        )


class UpSample1d(nn.Module):
    """Zero-stuffing upsampler followed by the Kaiser-sinc interpolation filter."""

    filter: Tensor

    def __init__(self, ratio: int = 2, kernel_size: int | None = None) -> None:
        super().__init__()
        self.ratio = ratio
        self.kernel_size = int(6 * ratio // 2) * 2 if kernel_size is None else kernel_size
        self.pad = self.kernel_size // ratio - 1
        self.crop_left = self.pad * ratio + (self.kernel_size - ratio) // 2
        self.crop_right = self.pad * ratio + (self.kernel_size - ratio + 1) // 2
        filt = kaiser_sinc_filter(0.5 / ratio, 0.6 / ratio, self.kernel_size)
        self.register_buffer("filter", filt)

    def forward(self, x: Tensor) -> Tensor:
        channels = x.shape[1]
        x = F.pad(x, (self.pad, self.pad), mode="replicate")
        # The transposed conv inserts ratio-1 zeros between samples; the gain of `ratio` restores
        # the amplitude the zeros took away.
        x = self.ratio * F.conv_transpose1d(
            x, self.filter.expand(channels, -1, -1), stride=self.ratio, groups=channels
        )
        return x[..., self.crop_left : x.shape[-1] - self.crop_right]


class DownSample1d(nn.Module):
    """Low-pass then keep every ``ratio``-th sample."""

    def __init__(self, ratio: int = 2, kernel_size: int | None = None) -> None:
        super().__init__()
        self.ratio = ratio
        self.kernel_size = int(6 * ratio // 2) * 2 if kernel_size is None else kernel_size
        self.lowpass = LowPassFilter1d(0.5 / ratio, 0.6 / ratio, ratio, self.kernel_size)

    def forward(self, x: Tensor) -> Tensor:
        return self.lowpass(x)


class Snake(nn.Module):
    """``x + sin²(αx) / α`` per channel; α stored as log α when ``logscale``."""

    def __init__(self, channels: int, logscale: bool = True) -> None:
        super().__init__()
        self.logscale = logscale
        init = torch.zeros(channels) if logscale else torch.ones(channels)
        self.alpha = nn.Parameter(init)

    def forward(self, x: Tensor) -> Tensor:
        alpha = self.alpha[None, :, None]
        if self.logscale:
            alpha = torch.exp(alpha)
        return x + torch.sin(x * alpha).pow(2) / (alpha + 1e-9)


class SnakeBeta(nn.Module):
    """``x + sin²(αx) / β``: Snake with the magnitude decoupled from the frequency."""

    def __init__(self, channels: int, logscale: bool = True) -> None:
        super().__init__()
        self.logscale = logscale
        init = torch.zeros(channels) if logscale else torch.ones(channels)
        self.alpha = nn.Parameter(init.clone())
        self.beta = nn.Parameter(init.clone())

    def forward(self, x: Tensor) -> Tensor:
        alpha = self.alpha[None, :, None]
        beta = self.beta[None, :, None]
        if self.logscale:
            alpha = torch.exp(alpha)
            beta = torch.exp(beta)
        return x + torch.sin(x * alpha).pow(2) / (beta + 1e-9)


class Activation1d(nn.Module):
    """Upsample ×2 → activation → downsample ×2 (the 'anti-aliased multi-periodicity' unit)."""

    def __init__(self, activation: nn.Module, ratio: int = 2, kernel_size: int = 12) -> None:
        super().__init__()
        self.act = activation
        self.upsample = UpSample1d(ratio, kernel_size)
        self.downsample = DownSample1d(ratio, kernel_size)

    def forward(self, x: Tensor) -> Tensor:
        return self.downsample(self.act(self.upsample(x)))
