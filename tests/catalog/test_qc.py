"""QC flags a user sees on catalog items: silent, clipped, too_short."""

from __future__ import annotations

import numpy as np

from sfxkit.catalog.qc import CLIPPED_FRACTION, qc_flags
from sfxkit.media.audio import Audio
from tests.synth import clicks, noise, tone

SR = 48_000


def test_clean_sound_has_no_flags():
    assert qc_flags(Audio(tone(440, 1.0, amp=0.5), SR)) == ()


def test_silent_below_minus_60_dbfs():
    assert qc_flags(Audio(np.zeros((1, SR), np.float32), SR)) == ("silent",)
    assert qc_flags(Audio(tone(440, 1.0, amp=10 ** (-61 / 20)), SR)) == ("silent",)
    assert qc_flags(Audio(tone(440, 1.0, amp=10 ** (-59 / 20)), SR)) == ()


def test_clipped_by_fraction_or_run():
    hard = np.clip(tone(440, 1.0, amp=1.5), -1, 1)
    assert "clipped" in qc_flags(Audio(hard, SR))
    # Three consecutive full-scale samples anywhere is clipping, even if rare overall.
    x = noise(1.0, amp=0.3)
    x[0, 1000:1003] = 1.0
    assert qc_flags(Audio(x, SR)) == ("clipped",)
    # Two isolated full-scale peaks are not.
    y = noise(1.0, amp=0.3)
    y[0, 1000] = y[0, 5000] = 1.0
    assert qc_flags(Audio(y, SR)) == ()
    # A fraction at full scale over the limit (but never 3 in a row) is clipped too.
    z = noise(1.0, amp=0.3)
    idx = np.arange(0, SR, 2)[: int(SR * CLIPPED_FRACTION) + 2]
    z[0, idx] = -1.0
    assert qc_flags(Audio(z, SR)) == ("clipped",)


def _clicks(seconds: float) -> np.ndarray:
    x = clicks(seconds, 10)
    return (x * (0.5 / np.max(np.abs(x)))).astype(np.float32)


def test_too_short_and_combined():
    assert qc_flags(Audio(_clicks(0.05), SR)) == ("too_short",)
    assert qc_flags(Audio(_clicks(0.2), SR)) == ()
    assert qc_flags(Audio(np.zeros((2, 100), np.float32), SR)) == ("silent", "too_short")
