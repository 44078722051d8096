"""Loudness measurement (ITU-R BS.1770-4 / EBU R128) and peak levels.

Audio arrays here are float32 ``(channels, samples)``, as everywhere in sfxkit.
BS.1770 gating needs at least one 400 ms block; shorter clips are measured by peak instead.

:class:`LoudnessMeter` measures a stream: the K-weighting filters (pyloudnorm's coefficients)
carry their state from block to block, and each 400 ms gating block is assembled from 100 ms
steps, so the result equals pyloudnorm's on the whole signal while memory stays at one block of
input plus 8 bytes per 100 ms (7 MB for a day of audio).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence

import numpy as np

MIN_GATED_SECONDS = 0.4
SILENCE_DB = -120.0


def integrated_loudness(
    samples: np.ndarray, sample_rate: int, *, weights: Sequence[float] | None = None
) -> float | None:
    """Integrated loudness in LUFS, or None when the clip is shorter than one 400 ms block.

    Silence returns ``SILENCE_DB`` (pyloudnorm says -inf) so it stays a number. Channels are
    weighted as :func:`channel_weights` says (6 channels are 5.1 in SMPTE order, LFE excluded)
    unless ``weights`` are given.
    """
    x = np.asarray(samples)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise ValueError(f"expected (channels, samples) audio, got shape {x.shape}")
    meter = LoudnessMeter(sample_rate, x.shape[0], weights=weights)
    step = 1 << 16
    for i in range(0, x.shape[1], step):
        meter.update(x[:, i : i + step])
    return meter.integrated()


_ABSOLUTE_GATE = -70.0
SURROUND_WEIGHT = 1.41  # BS.1770-4 Table 3: +1.5 dB for the surround channels


def channel_weights(channels: int) -> tuple[float, ...]:
    """BS.1770-4 weight of each channel for a layout of ``channels``.

    Five channels are L R C Ls Rs (pyloudnorm's order, no LFE); six are 5.1 in SMPTE order,
    L R C LFE Ls Rs, where the LFE is not measured (weight 0). Other counts weigh every channel 1.
    """
    if channels == 5:
        return (1.0, 1.0, 1.0, SURROUND_WEIGHT, SURROUND_WEIGHT)
    if channels == 6:
        return (1.0, 1.0, 1.0, 0.0, SURROUND_WEIGHT, SURROUND_WEIGHT)
    return (1.0,) * channels


class LoudnessMeter:
    """Integrated loudness (BS.1770-4) of audio fed in ``(channels, n)`` blocks of any size."""

    def __init__(
        self, sample_rate: int, channels: int, *, weights: Sequence[float] | None = None
    ) -> None:
        from pyloudnorm.iirfilter import IIRfilter

        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        # pyloudnorm's K-weighting stages (its Meter uses exactly these two).
        stages = (
            IIRfilter(4.0, 1 / np.sqrt(2), 1500.0, self.sample_rate, "high_shelf"),
            IIRfilter(0.0, 0.5, 38.0, self.sample_rate, "high_pass"),
        )
        self._sos = np.array([np.concatenate([st.b, st.a]) for st in stages])
        self._zi = np.zeros((len(stages), self.channels, 2))
        w = channel_weights(self.channels) if weights is None else tuple(weights)
        if len(w) != self.channels:
            raise ValueError(f"{len(w)} channel weights for {self.channels} channels")
        self._gain = np.array(w, dtype=np.float64)
        self.n = 0
        self._step = 0  # index of the 100 ms step being filled
        self._step_energy = 0.0
        self._recent: list[float] = []  # the last three completed steps
        self._blocks = array("d")  # mean square of each complete 400 ms block

    def _bound(self, k: int) -> int:
        # pyloudnorm's block bounds, int(T_g * (j * step) * rate); k * 0.25 is exact in binary.
        return int(0.4 * (k * 0.25) * self.sample_rate)

    def update(self, block: np.ndarray) -> None:
        from scipy.signal import sosfilt

        x = np.asarray(block)
        if x.ndim == 1:
            x = x[None, :]
        n = x.shape[1]
        if n == 0:
            return
        if not x.any() and not self._zi.any():
            # Digital silence into a filter at rest stays silence (long ambience tails, and
            # hours of zeros in a hostile file): skip the filter.
            energy = np.zeros(n)
        else:
            y, self._zi = sosfilt(self._sos, x.astype(np.float64), axis=1, zi=self._zi)
            energy = self._gain @ np.square(y)  # channel-weighted per sample
        end = self.n + n
        # The 100 ms step boundaries that fall inside this block, as local cut points.
        ks = np.arange(self._step + 1, int(end * 10 / self.sample_rate) + 3)
        bounds = (0.4 * (ks * 0.25) * self.sample_rate).astype(np.int64)
        cuts = bounds[bounds <= end] - self.n
        starts = np.concatenate(([0], cuts[cuts < n]))
        sums = np.add.reduceat(energy, starts)
        for i in range(cuts.size):
            self._step_energy += float(sums[i])
            self._close_step()
        if starts.size > cuts.size:
            self._step_energy += float(sums[-1])
        self.n = end

    def _close_step(self) -> None:
        recent = self._recent + [self._step_energy]
        if len(recent) == 4:
            self._blocks.append(sum(recent) / (0.4 * self.sample_rate))
            recent = recent[1:]
        self._recent = recent
        self._step += 1
        self._step_energy = 0.0

    def integrated(self) -> float | None:
        """LUFS of everything fed so far; None under one 400 ms block; ``SILENCE_DB`` for silence."""
        if self.n < int(MIN_GATED_SECONDS * self.sample_rate) + 1:
            return None
        n_blocks = int(np.round((self.n / self.sample_rate - 0.4) / 0.1)) + 1
        z = np.frombuffer(self._blocks, dtype=np.float64)[:n_blocks]
        if z.size < n_blocks:
            # The last block(s) reach past the end: the partial step, then nothing.
            tail = self._recent + [self._step_energy, 0.0, 0.0, 0.0]
            extra = [
                sum(tail[i : i + 4]) / (0.4 * self.sample_rate) for i in range(n_blocks - z.size)
            ]
            z = np.concatenate([z, extra])
        with np.errstate(divide="ignore"):
            lj = -0.691 + 10.0 * np.log10(z)
        above = z[lj >= _ABSOLUTE_GATE]
        if above.size == 0:
            return SILENCE_DB
        relative = -0.691 + 10.0 * np.log10(above.mean()) - 10.0
        gated = z[(lj > relative) & (lj > _ABSOLUTE_GATE)]
        if gated.size == 0 or gated.mean() <= 0:
            return SILENCE_DB
        return float(-0.691 + 10.0 * np.log10(gated.mean()))


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
