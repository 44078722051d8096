"""5.1 placement by role, the stereo fold-down, and BS.1770 loudness with its channel weights."""

from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest

from sfxkit.delivery.mix import limit_true_peak, normalize
from sfxkit.delivery.surround import LAYOUT_51, fold_down, pan_front, place_51
from sfxkit.errors import InputError
from sfxkit.media.loudness import integrated_loudness
from tests.synth import noise, tone

SR = 48_000


def energy(x: np.ndarray) -> np.ndarray:
    return np.sum(np.square(x.astype(np.float64)), axis=1)


def test_spot_effects_pan_across_the_front_by_screen_position() -> None:
    mono = noise(0.5, amp=0.3, seed=1)
    ch = {name: i for i, name in enumerate(LAYOUT_51)}
    e_left, e_centre, e_right = (energy(pan_front(mono, x)) for x in (-1.0, 0.0, 1.0))
    assert np.flatnonzero(e_left).tolist() == [ch["L"]]
    assert np.flatnonzero(e_centre).tolist() == [ch["C"]]
    assert np.flatnonzero(e_right).tolist() == [ch["R"]]
    # Half-right: C and R share it, constant power, nothing behind or in the LFE.
    e = energy(place_51(mono, "spot", x=0.5))
    assert e[ch["C"]] == pytest.approx(e[ch["R"]], rel=1e-4)
    assert e.sum() == pytest.approx(energy(mono).sum(), rel=1e-4)
    assert e[[ch["L"], ch["LFE"], ch["Ls"], ch["Rs"]]].sum() == 0
    # Moving right moves energy right.
    share_r = [energy(pan_front(mono, x))[ch["R"]] for x in (0.0, 0.3, 0.7, 1.0)]
    assert share_r == sorted(share_r) and share_r[0] == 0


def test_beds_reach_the_surrounds_and_shots_stay_front() -> None:
    bed = noise(0.5, channels=2, amp=0.3, seed=2)
    e = energy(place_51(bed, "bed"))
    assert e[4] == pytest.approx(e[0] * 10 ** (-3 / 10), rel=1e-3)  # Ls 3 dB under L
    assert e[2] == 0 and e[3] == 0  # C left for dialogue, nothing in the LFE
    shot = energy(place_51(bed, "shot"))
    assert shot[[2, 3, 4, 5]].sum() == 0 and shot[0] > 0
    with pytest.raises(InputError, match="role"):
        place_51(bed, "music")


def test_fold_down_keeps_a_centred_sound_centred() -> None:
    mono = tone(440, 0.5, amp=0.5)
    lo_ro = fold_down(place_51(mono, "spot", x=0.0))
    assert lo_ro.shape == (2, mono.shape[1])
    np.testing.assert_allclose(lo_ro[0], lo_ro[1])
    np.testing.assert_allclose(lo_ro[0], mono[0] / np.sqrt(2), atol=1e-6)
    with pytest.raises(InputError, match="6, samples"):
        fold_down(np.zeros((2, 10)))


def five_one(seconds: float = 3.0) -> np.ndarray:
    """A synthetic 5.1 mix: a bed in L/R/Ls/Rs, two spot effects, and an LFE rumble."""
    n = int(seconds * SR)
    mix = place_51(noise(seconds, channels=2, amp=0.1, seed=3, band=(200, 4000)), "bed")
    for x, at in ((-0.6, 0.5), (0.8, 1.7)):
        hit = noise(0.4, amp=0.6, seed=int(at * 10))
        s = int(at * SR)
        mix[:, s : s + hit.shape[1]] += place_51(hit, "spot", x=x)[:, : n - s]
    mix[3] = tone(40, seconds, amp=0.7)[0]
    return mix


def test_51_loudness_uses_bs1770_weights_like_pyloudnorm() -> None:
    mix = five_one()
    no_lfe = mix[[0, 1, 2, 4, 5]]  # pyloudnorm's 5-channel order: L R C Ls Rs, no LFE
    ref = pyloudnorm.Meter(SR).integrated_loudness(no_lfe.T.astype(np.float64))
    assert integrated_loudness(mix, SR) == pytest.approx(ref, abs=0.01)
    # The LFE is not measured; the same sound in a surround reads 1.5 dB (10 log 1.41) louder.
    quiet_lfe = mix.copy()
    quiet_lfe[3] = 0
    assert integrated_loudness(quiet_lfe, SR) == pytest.approx(integrated_loudness(mix, SR))
    sig = noise(2.0, amp=0.2, seed=5)[0]
    front_only, back_only = np.zeros((6, sig.size)), np.zeros((6, sig.size))
    front_only[0], back_only[4] = sig, sig
    diff = integrated_loudness(back_only, SR) - integrated_loudness(front_only, SR)
    assert diff == pytest.approx(10 * np.log10(1.41), abs=0.01)


@pytest.mark.parametrize("target", [-23.0, -27.0])
def test_normalised_51_mix_is_on_target(target: float) -> None:
    out = limit_true_peak(normalize(five_one(), SR, target), SR, -1.0)
    assert out.shape[0] == 6
    assert integrated_loudness(out, SR) == pytest.approx(target, abs=0.5)
    ref = pyloudnorm.Meter(SR).integrated_loudness(out[[0, 1, 2, 4, 5]].T.astype(np.float64))
    assert ref == pytest.approx(target, abs=0.5)
