"""Sound shaped by picture: pan following the moving object, level following motion energy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sfxkit.delivery.mix import motion_envelope, pan_by_motion
from sfxkit.media.motion import MotionProfile, motion_profile
from tests.synth import make_video, noise

SR = 48_000


def test_pan_follows_a_square_moving_left_to_right(tmp_path: Path) -> None:
    video = make_video(tmp_path / "moving.mp4", [("red", 2.0)], moving=True)
    profile = motion_profile(video, start=0.0, end=2.0)
    mono = noise(2.0, amp=0.3, seed=1)
    stereo = pan_by_motion(mono, SR, profile)
    assert stereo.shape == (2, 2 * SR)
    first, last = slice(0, SR // 2), slice(-SR // 2, None)
    left_early, right_early = (np.sqrt(np.mean(stereo[c, first] ** 2)) for c in (0, 1))
    left_late, right_late = (np.sqrt(np.mean(stereo[c, last] ** 2)) for c in (0, 1))
    assert left_early > 2 * right_early
    assert right_late > 2 * left_late
    # Equal-power law: the two channels together carry the mono signal's power at every sample.
    np.testing.assert_allclose(stereo[0] ** 2 + stereo[1] ** 2, mono[0] ** 2, atol=1e-6)


def test_envelope_follows_motion_energy() -> None:
    times = np.arange(50) / 25.0
    energy = np.where(times < 1.0, 0.0, 0.05).astype(np.float32)  # still, then moving
    profile = MotionProfile(times, energy, np.zeros(50, np.float32), start=0.0, end=2.0)
    x = noise(2.0, amp=0.3, seed=2)
    y = motion_envelope(x, SR, profile, floor_db=-12.0)
    gain_still = np.sqrt(np.mean(y[0, : int(0.8 * SR)] ** 2) / np.mean(x[0, : int(0.8 * SR)] ** 2))
    gain_moving = np.sqrt(np.mean(y[0, int(1.2 * SR) :] ** 2) / np.mean(x[0, int(1.2 * SR) :] ** 2))
    assert 20 * np.log10(gain_still) == pytest.approx(-12.0, abs=0.2)
    assert 20 * np.log10(gain_moving) == pytest.approx(0.0, abs=0.2)
    # A still shot leaves the sound alone.
    still = MotionProfile(times, np.zeros(50, np.float32), np.zeros(50, np.float32), end=2.0)
    np.testing.assert_array_equal(motion_envelope(x, SR, still), x)


def test_shape_layer_aligns_to_the_visual_onset_and_pans(tmp_path: Path) -> None:
    from sfxkit.delivery.mix import shape_layer
    from sfxkit.delivery.timeline import Layer

    # The picture changes completely 0.48 s into the shot; the sound's hit is at 0.3 s.
    video = make_video(tmp_path / "hit.mp4", [("blue", 1.48), ("stripes", 1.52)], moving=True)
    n = int(0.4 * SR)
    hit = np.concatenate(
        [
            np.zeros((1, int(0.3 * SR)), np.float32),
            (np.exp(-np.arange(n) / (0.03 * SR)) * noise(0.4, seed=3)[0])[None, :],
        ],
        axis=1,
    ).astype(np.float32)
    layer = Layer("retrieved", hit, SR, source={"id": "hit"}, licence="CC0")
    shaped = shape_layer(layer, video, 1.0, 3.0, pan=True, handle=0.01)
    assert shaped.waveform.shape == (2, round(2.01 * SR))  # shot + crossfade handle, now stereo
    assert shaped.source == layer.source and shaped.licence == "CC0"
    env = np.abs(shaped.waveform).max(axis=0)
    assert np.argmax(env >= 0.5 * env.max()) / SR == pytest.approx(0.48, abs=0.05)
    plain = shape_layer(layer, video, 1.0, 3.0, align=False, handle=0.0)
    assert plain.waveform.shape == (1, 2 * SR)
    assert np.argmax(np.abs(plain.waveform[0]) >= 0.5 * np.abs(hit).max()) / SR == pytest.approx(
        0.3, abs=0.002
    )
