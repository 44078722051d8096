"""Loudness against EBU Tech 3341 signals (synthesised here), normalisation and the limiter."""

from __future__ import annotations

import numpy as np
import pytest

from sfxkit.delivery.mix import limit_true_peak, normalize
from sfxkit.media.loudness import integrated_loudness, peak_dbfs, true_peak_dbtp
from tests.synth import noise

SR = 48_000


def sine(
    dbfs: float,
    seconds: float,
    *,
    channels: int = 2,
    freq: float = 1000.0,
    phase: float = 0.0,
    sr: int = SR,
) -> np.ndarray:
    """A sine whose peak amplitude is ``dbfs`` (AES17: a full-scale sine is 0 dBFS)."""
    t = np.arange(int(round(seconds * sr))) / sr
    x = (10 ** (dbfs / 20) * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)
    return np.repeat(x[None, :], channels, axis=0)


@pytest.mark.parametrize(("dbfs", "expected"), [(-23.0, -23.0), (-33.0, -33.0)])
def test_ebu3341_stereo_sine_cases_1_and_2(dbfs: float, expected: float) -> None:
    # Tech 3341 cases 1 and 2: 1 kHz stereo sine, 20 s, at -23 / -33 dBFS per channel.
    assert integrated_loudness(sine(dbfs, 20.0), SR) == pytest.approx(expected, abs=0.1)


def test_mono_sine_is_one_channel_three_db_under_stereo() -> None:
    # BS.1770 sums channel powers: the same sine on one channel reads 3.01 dB under the pair.
    assert integrated_loudness(sine(-23.0, 10.0, channels=1), SR) == pytest.approx(-26.0, abs=0.1)


def test_ebu3341_case_5_relative_gate() -> None:
    # Case 5: -26 dBFS 20 s, -20 dBFS 20.1 s, -26 dBFS 20 s (stereo 1 kHz) -> -23.0 LUFS.
    x = np.concatenate([sine(-26, 20.0), sine(-20, 20.1), sine(-26, 20.0)], axis=1)
    assert integrated_loudness(x, SR) == pytest.approx(-23.0, abs=0.1)


def test_true_peak_sees_the_inter_sample_peak() -> None:
    # In the spirit of Tech 3341's true-peak cases: fs/4 sine sampled 45 degrees off its peaks,
    # so every sample is 3 dB under the waveform's real -6 dBFS peak.
    x = sine(-6.0, 1.0, freq=SR / 4, phase=np.pi / 4)
    assert peak_dbfs(x) == pytest.approx(-9.03, abs=0.05)
    assert -6.4 <= true_peak_dbtp(x, SR) <= -5.8  # the meter tolerance Tech 3341 allows


@pytest.mark.parametrize("target", [-23.0, -14.0, -30.0])
def test_normalize_hits_target(target: float) -> None:
    x = noise(6.0, channels=2, amp=0.05, seed=4, band=(100, 8000))
    assert integrated_loudness(normalize(x, SR, target), SR) == pytest.approx(target, abs=0.1)


def test_normalize_levels_short_clip_by_peak() -> None:
    click = noise(0.2, amp=0.1, seed=5)
    out = normalize(click, SR, -12.0)
    assert integrated_loudness(out, SR) is None  # too short to gate
    assert peak_dbfs(out) == pytest.approx(-12.0, abs=0.01)


def test_limiter_holds_the_ceiling_on_inter_sample_peaks_and_hot_noise() -> None:
    hot_isp = sine(2.5, 2.0, freq=SR / 4, phase=np.pi / 4)  # samples at -0.5 dBFS, true +2.5
    hot_noise = noise(2.0, channels=2, amp=1.0, seed=6) * 2.0  # true peak about +6 dBTP
    for x in (hot_isp, hot_noise):
        assert true_peak_dbtp(x, SR) > 0.0
        for ceiling in (-1.0, -2.0):
            y = limit_true_peak(x, SR, ceiling)
            assert y.shape == x.shape
            assert true_peak_dbtp(y, SR) <= ceiling


def test_limiter_only_touches_the_peak() -> None:
    x = noise(3.0, channels=2, amp=0.1, seed=7)
    x[:, SR] = 1.5  # one spike at 1 s
    y = limit_true_peak(x, SR, -1.0)
    assert true_peak_dbtp(y, SR) <= -1.0
    # Half a second away from the spike the limiter has let go: the signal is untouched there.
    far = np.r_[0 : int(0.5 * SR), int(1.5 * SR) : 3 * SR]
    np.testing.assert_allclose(y[:, far], x[:, far], atol=1e-4)
    # A signal already under the ceiling passes unchanged.
    quiet = noise(1.0, amp=0.2, seed=8)
    np.testing.assert_array_equal(limit_true_peak(quiet, SR, -1.0), quiet)
