"""Loudness matching, blending and equal-power crossfades."""

from __future__ import annotations

import numpy as np
import pytest

from sfxkit.delivery.mix import blend_layers, equal_power_crossfade, loudness_match
from sfxkit.errors import InputError
from sfxkit.media.loudness import integrated_loudness, peak_dbfs
from tests.synth import clicks, noise, tone

SR = 48_000


def rms_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.asarray(x, np.float64) ** 2)))


def test_loudness_match_meets_in_the_middle() -> None:
    a = tone(300, 2.0, amp=0.02)
    b = noise(2.0, amp=0.8, seed=1)
    la, lb = integrated_loudness(a, SR), integrated_loudness(b, SR)
    assert lb - la > 20
    a2, b2 = loudness_match(a, b, SR)
    ma, mb = integrated_loudness(a2, SR), integrated_loudness(b2, SR)
    assert ma == pytest.approx(mb, abs=0.1)
    assert ma == pytest.approx((la + lb) / 2, abs=0.1)


def test_loudness_match_uses_peak_for_short_clips() -> None:
    a, b = clicks(0.2, 10, amp=0.9), tone(300, 2.0, amp=0.05)
    a2, b2 = loudness_match(a, b, SR)
    assert peak_dbfs(a2) == pytest.approx(peak_dbfs(b2), abs=0.01)


def test_blend_layers_matches_before_applying_gains() -> None:
    quiet, loud = tone(300, 2.0, amp=0.01), noise(2.0, amp=0.9, seed=2)
    only_a = blend_layers([quiet, loud], SR, gains_db=[0.0, -200.0])
    only_b = blend_layers([quiet, loud], SR, gains_db=[-200.0, 0.0])
    # Each layer, heard alone, has the same loudness although the inputs differ by ~40 dB.
    assert integrated_loudness(only_a, SR) == pytest.approx(
        integrated_loudness(only_b, SR), abs=0.1
    )
    minus6 = blend_layers([quiet, loud], SR, gains_db=[0.0, -206.0])
    assert integrated_loudness(minus6, SR) == pytest.approx(
        integrated_loudness(only_a, SR), abs=0.1
    )
    both = blend_layers([quiet, loud], SR, gains_db=[0.0, -6.0])
    np.testing.assert_allclose(
        both, only_a + blend_layers([quiet, loud], SR, gains_db=[-200.0, -6.0]), atol=1e-5
    )


def test_blend_mono_with_stereo_and_uneven_lengths() -> None:
    out = blend_layers([tone(300, 1.0), noise(1.5, channels=2, seed=3)], SR)
    assert out.shape == (2, int(1.5 * SR))


def test_crossfade_mode_moves_from_first_to_second() -> None:
    a, b = tone(300, 4.0, amp=0.3), noise(4.0, amp=0.3, seed=4, band=(3000, 8000))
    out = blend_layers([a, b], SR, mode="crossfade")
    early, late = out[0, : SR // 2], out[0, -SR // 2 :]
    # Early is (almost) the tone, late is (almost) the noise.
    corr = lambda x, y: abs(float(np.corrcoef(x, y)[0, 1]))  # noqa: E731
    assert corr(early, a[0, : SR // 2]) > 0.95
    assert corr(late, b[0, -SR // 2 :]) > 0.95


def test_equal_power_crossfade_keeps_power_through_the_overlap() -> None:
    a = noise(1.0, amp=0.3, seed=5)
    b = noise(1.0, amp=0.3, seed=6)
    n = SR // 4
    out = equal_power_crossfade(a, b, n)
    assert out.shape == (1, 2 * SR - n)
    overlap = out[0, SR - n : SR]
    # Uncorrelated signals at equal level: the overlap keeps their power (no 3 dB dip, no bump).
    assert rms_db(overlap) == pytest.approx(rms_db(a), abs=0.5)
    np.testing.assert_array_equal(out[:, : SR - n], a[:, : SR - n])
    np.testing.assert_array_equal(out[:, SR:], b[:, n:])
    with pytest.raises(InputError, match="shorter crossfade"):
        equal_power_crossfade(a, b, 2 * SR)
