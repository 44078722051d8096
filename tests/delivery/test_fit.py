"""Fitting a sound to a shot: exact lengths, fades, loops, onset alignment."""

from __future__ import annotations

import numpy as np
import pytest

from sfxkit.delivery.mix import audio_onset, fit_to_shot
from sfxkit.errors import InputError
from tests.synth import clicks, noise, tone

SR = 48_000


def first_loud_sample(x: np.ndarray, fraction: float = 0.5) -> float:
    """Independent onset measure for the tests: first sample over half the peak, in seconds."""
    mono = np.abs(x).max(axis=0)
    return float(np.argmax(mono >= fraction * mono.max()) / SR)


def hit_after(lead_in: float, *, seed: int = 0) -> np.ndarray:
    """A quiet noise bed, then a sharp decaying hit at ``lead_in`` seconds."""
    bed = noise(lead_in, amp=0.02, seed=seed) if lead_in > 0 else np.zeros((1, 0), np.float32)
    n = int(0.4 * SR)
    env = np.exp(-np.arange(n) / (0.03 * SR)).astype(np.float32)
    hit = 0.8 * env * noise(0.4, amp=1.0, seed=seed + 1)[0]
    return np.concatenate([bed, hit[None, :]], axis=1)


@pytest.mark.parametrize("duration", [0.5, 1.2345, 3.0])
@pytest.mark.parametrize("mode", ["trim", "loop"])
@pytest.mark.parametrize("sr", [48_000, 44_100])
def test_lengths_are_exact_to_the_sample(duration: float, mode: str, sr: int) -> None:
    for sound in (tone(440, 0.3, sr, channels=2), tone(440, 5.0, sr)):
        out = fit_to_shot(sound, sr, duration, mode=mode)  # type: ignore[arg-type]
        assert out.shape == (sound.shape[0], int(round(duration * sr)))
        assert out.dtype == np.float32


def test_trim_fades_a_cut_sound_and_pads_a_short_one() -> None:
    long = tone(440, 3.0, amp=0.5)
    out = fit_to_shot(long, SR, 1.0, fade=0.01)
    assert abs(out[0, -1]) < 0.01  # faded out, no click at the cut
    np.testing.assert_allclose(out[0, : SR // 2], long[0, : SR // 2])  # untouched before the fade
    short = tone(440, 0.25, amp=0.5)
    out = fit_to_shot(short, SR, 1.0)
    np.testing.assert_array_equal(out[:, : short.shape[1]], short)
    assert not np.any(out[:, short.shape[1] :])  # silence after the sound ends


def test_loop_repeats_without_gaps() -> None:
    sound = noise(0.3, amp=0.3, seed=2)
    out = fit_to_shot(sound, SR, 2.0, mode="loop", fade=0.01)
    # No silent stretch anywhere: every 10 ms window carries signal.
    win = SR // 100
    rms = np.sqrt((out[0, : out.shape[1] // win * win].reshape(-1, win) ** 2).mean(axis=1))
    assert rms.min() > 0.3 * float(np.sqrt((sound**2).mean()))
    # The second pass is the sound again, one period (length minus crossfade) later.
    period = sound.shape[1] - int(0.01 * SR)
    seg = slice(int(0.05 * SR), int(0.25 * SR))
    np.testing.assert_allclose(out[0, period:][seg], sound[0, seg], atol=1e-6)


def test_audio_onset_finds_the_hit_not_the_lead_in() -> None:
    for lead_in in (0.0, 0.137, 0.6):
        assert audio_onset(hit_after(lead_in), SR) == pytest.approx(lead_in, abs=0.005)
    assert audio_onset(np.zeros((1, SR), np.float32), SR) == 0.0


@pytest.mark.parametrize("mode", ["trim", "loop"])
@pytest.mark.parametrize(("lead_in", "want"), [(0.3, 0.1), (0.3, 0.7), (0.05, 0.9), (0.5, 0.0)])
def test_onset_lands_where_asked(lead_in: float, want: float, mode: str) -> None:
    sound = hit_after(lead_in, seed=3)
    assert first_loud_sample(sound) == pytest.approx(lead_in, abs=0.002)
    out = fit_to_shot(sound, SR, 1.5, mode=mode, onset_at=want)  # type: ignore[arg-type]
    assert out.shape == (1, int(1.5 * SR))
    assert first_loud_sample(out) == pytest.approx(want, abs=0.010)


def test_align_false_ignores_onset() -> None:
    sound = hit_after(0.3)
    out = fit_to_shot(sound, SR, 1.0, onset_at=0.8, align=False)
    assert first_loud_sample(out) == pytest.approx(0.3, abs=0.002)


def test_bad_arguments_say_what_to_do() -> None:
    with pytest.raises(InputError, match="trim"):
        fit_to_shot(clicks(0.5, 4), SR, 1.0, mode="stretch")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="positive"):
        fit_to_shot(clicks(0.5, 4), SR, 0.0)
