"""Loudness measurement (ITU-R BS.1770 / EBU R128 via pyloudnorm) and peak levels.

Audio arrays here are float32 ``(channels, samples)``, as everywhere in sfxkit.
BS.1770 gating needs at least one 400 ms block; shorter clips are measured by peak instead.
"""

from __future__ import annotations

import math

import numpy as np

MIN_GATED_SECONDS = 0.4
SILENCE_DB = -120.0


def _as_channels_last(samples: np.ndarray) -> np.ndarray:
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim == 1:
        return x[:, None]
    if x.ndim != 2:
        raise ValueError(f"expected (channels, samples) audio, got shape {x.shape}")
    return x.T


def integrated_loudness(samples: np.ndarray, sample_rate: int) -> float | None:
    """Integrated loudness in LUFS, or None when the clip is shorter than one 400 ms block.

    Silence returns -inf (pyloudnorm's answer) mapped to ``SILENCE_DB`` so it stays a number.
    """
    import pyloudnorm

    x = _as_channels_last(samples)
    if x.shape[0] < int(MIN_GATED_SECONDS * sample_rate) + 1:
        return None
    meter = pyloudnorm.Meter(sample_rate)
    with np.errstate(divide="ignore"):
        value = float(meter.integrated_loudness(x))
    if not math.isfinite(value):
        return SILENCE_DB
    return value


def peak_dbfs(samples: np.ndarray) -> float:
    """Sample peak in dBFS (``SILENCE_DB`` for digital silence)."""
    peak = float(np.max(np.abs(samples))) if np.size(samples) else 0.0
    return 20.0 * math.log10(peak) if peak > 0 else SILENCE_DB


def true_peak_dbtp(samples: np.ndarray, sample_rate: int, oversample: int = 4) -> float:
    """True peak in dBTP: the peak of the signal oversampled 4x (BS.1770-4 Annex 2).

    Streams through :func:`true_peak_envelope` so a long mix never holds its 4x copy in memory.
    """
    if np.size(samples) == 0:
        return SILENCE_DB
    return peak_dbfs(true_peak_envelope(samples, sample_rate, oversample))


def level(samples: np.ndarray, sample_rate: int) -> tuple[float, str]:
    """The level sfxkit reports for a clip: (LUFS, "integrated"), or (dBFS, "peak") under 400 ms."""
    lufs = integrated_loudness(samples, sample_rate)
    if lufs is None:
        return peak_dbfs(samples), "peak"
    return lufs, "integrated"


def gain_to(samples: np.ndarray, sample_rate: int, target: float) -> float:
    """Linear gain that brings the clip to ``target`` (LUFS, or dBFS peak for short clips)."""
    current, _ = level(samples, sample_rate)
    if current <= SILENCE_DB:
        return 1.0
    return float(10.0 ** ((target - current) / 20.0))


def true_peak_envelope(
    samples: np.ndarray, sample_rate: int, oversample: int = 4, chunk_seconds: float = 1.0
) -> np.ndarray:
    """Per-sample true peak (linear, max over channels) of ``(channels, samples)`` audio.

    Element ``k`` is the largest absolute value of the 4x-oversampled signal within half an input
    sample of input sample ``k`` (the same resampler as :func:`true_peak_dbtp`, streamed in chunks
    so long mixes stay small in memory). A limiter uses it to know where, not just whether, the
    ceiling is crossed; its maximum is the clip's true peak.
    """
    import soxr

    x = np.asarray(samples, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    channels, n = x.shape
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    stream = soxr.ResampleStream(
        sample_rate, sample_rate * oversample, channels, dtype="float32", quality="VHQ"
    )
    want = n * oversample
    # mag[half + j] holds |oversampled point j| (max over channels), so input sample k's
    # neighbourhood j in [k*os - half, k*os + os - half) is mag[k*os : (k+1)*os].
    half = oversample // 2
    mag = np.zeros(want + oversample, dtype=np.float32)
    pos = half
    step = max(1, int(chunk_seconds * sample_rate))
    for i in range(0, n, step):
        chunk = np.ascontiguousarray(x[:, i : i + step].T)
        up = stream.resample_chunk(chunk, last=i + step >= n)
        take = min(up.shape[0], mag.size - pos)
        if take <= 0:
            continue
        # Channel-wise maxima with np.maximum: reductions over a tiny trailing axis are slow.
        block = np.abs(up[:take, 0])
        for c in range(1, channels):
            np.maximum(block, np.abs(up[:take, c]), out=block)
        mag[pos : pos + take] = block
        pos += take
    env = np.abs(x[0])
    for c in range(1, channels):
        env = np.maximum(env, np.abs(x[c]))
    for r in range(oversample):
        env = np.maximum(env, mag[r:want:oversample])
    return env.astype(np.float32, copy=False)
