"""Motion profile of a shot: energy, horizontal centroid and the strongest visual onset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sfxkit.errors import InputError, MediaError
from sfxkit.media.motion import MotionProfile, motion_profile, strongest_onset
from tests.synth import make_video


def test_centroid_tracks_a_square_moving_left_to_right(tmp_path: Path) -> None:
    video = make_video(tmp_path / "moving.mp4", [("red", 2.0)], moving=True)
    p = motion_profile(video, start=0.0, end=2.0, fps=25.0)
    assert p.times.shape == p.energy.shape == p.centroid_x.shape == (50,)
    assert p.times[0] == 0.0 and p.times[-1] == pytest.approx(1.96)
    assert np.all(p.energy[1:] > 0) and p.moving
    assert p.centroid_x[1] < -0.6 and p.centroid_x[-1] > 0.6
    # Moves steadily: the centroid never steps back by more than a few pixels' worth.
    assert np.all(np.diff(p.centroid_x) > -0.05)
    assert np.all((p.centroid_x >= -1) & (p.centroid_x <= 1))


def test_still_shot_has_no_energy_and_no_onset(tmp_path: Path) -> None:
    video = make_video(tmp_path / "still.mp4", [("checker", 1.5)])
    p = motion_profile(video)
    assert p.end == pytest.approx(1.5, abs=0.05)
    assert float(p.energy.max()) < 1e-3 and not p.moving
    assert np.all(p.centroid_x == 0.0)
    assert strongest_onset(p) is None


def test_strongest_onset_is_the_cut_inside_the_first_second(tmp_path: Path) -> None:
    # A still picture that changes completely at 0.48 s: the biggest rise in motion energy.
    video = make_video(tmp_path / "flash.mp4", [("blue", 0.48), ("stripes", 1.0), ("red", 0.6)])
    p = motion_profile(video, start=0.0, end=2.0)
    assert strongest_onset(p) == pytest.approx(0.48, abs=0.041)
    # The change at 1.48 s is past the first second of that profile; seen from a shot starting
    # at 1.0 s it is that shot's onset, in shot time.
    later = motion_profile(video, start=1.0, end=2.0)
    assert strongest_onset(later) == pytest.approx(0.48, abs=0.041)
    assert strongest_onset(p, within=0.3) is None


def test_profile_of_a_later_shot_ignores_the_cut_before_it(tmp_path: Path) -> None:
    video = make_video(tmp_path / "two.mp4", [("red", 1.0), ("checker", 1.0)], moving=True)
    p = motion_profile(video, start=1.0, end=2.0)
    assert p.energy[0] == 0.0
    assert float(p.energy.max()) < 0.05  # the cut (energy ~0.4) is not inside this shot
    assert p.centroid_x[1] < -0.5 and p.centroid_x[-1] > 0.5


def test_synthetic_profile_onset() -> None:
    t = np.arange(25) / 25.0
    e = np.zeros(25, np.float32)
    e[10:] = 0.02
    e[20:] = 0.2  # bigger, but after `within`
    assert strongest_onset(
        MotionProfile(t, e, np.zeros(25, np.float32)), within=0.6
    ) == pytest.approx(0.4)


def test_bad_inputs_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="nothing.mp4"):
        motion_profile(tmp_path / "nothing.mp4")
    with pytest.raises(InputError, match="start"):
        motion_profile(tmp_path / "nothing.mp4", start=2.0, end=1.0)
