"""Shot boundaries at cuts, fades and dissolves, and none at flashes or pans, on drawn videos
(160x90, 25 fps) whose true boundaries are known."""

from __future__ import annotations

import numpy as np
import pytest

from sfxkit.errors import InputError
from sfxkit.media.shots import detect_shots
from tests import synth

FPS = 25
FRAME = 1.0 / FPS


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[object, list[float]]]:
    root = tmp_path_factory.mktemp("transitions")
    return {k: synth.make_transition_video(root / f"{k}.mp4", k) for k in synth.TRANSITIONS}


def starts(shots) -> list[float]:
    return [s.start for s in shots[1:]]


def test_hard_cut_on_its_frame_and_as_the_previous_detector(clips) -> None:
    video, truth = clips["cut"]
    shots = detect_shots(video)
    assert [s.transition for s in shots] == ["start", "cut"]
    assert starts(shots) == pytest.approx(truth, abs=FRAME / 2)
    assert starts(detect_shots(video, detectors=("content",))) == pytest.approx(starts(shots))


@pytest.mark.parametrize("kind", ["fade", "dissolve"])
def test_gradual_transition_splits_in_its_middle(clips, kind: str) -> None:
    video, truth = clips[kind]
    shots = detect_shots(video)
    assert [s.transition for s in shots] == ["start", kind]
    assert abs(shots[1].start - truth[0]) <= 2 * FRAME
    # The previous detector saw hard cuts only.
    assert len(detect_shots(video, detectors=("content",))) == 1


@pytest.mark.parametrize("seconds", [0.4, 2.0])
def test_short_and_long_dissolves(tmp_path, seconds: float) -> None:
    video, truth = synth.make_transition_video(
        tmp_path / "d.mp4", "dissolve", length=seconds, seed=3
    )
    shots = detect_shots(video)
    assert [s.transition for s in shots] == ["start", "dissolve"]
    assert abs(shots[1].start - truth[0]) <= 2 * FRAME


def test_dissolve_needs_the_dissolve_detector(clips) -> None:
    video, _ = clips["dissolve"]
    assert len(detect_shots(video, detectors=("adaptive", "fade"))) == 1


@pytest.mark.parametrize("kind", ["flash", "flash2", "dip"])
def test_a_flash_is_not_a_cut(clips, kind: str) -> None:
    video, _ = clips[kind]
    assert len(detect_shots(video)) == 1
    # Without the flash check, the flash's first frame is taken for a cut.
    assert len(detect_shots(video, flash_frames=0)) == 2


def test_while_the_camera_pans_a_cut_is_found_and_a_flash_is_not(tmp_path) -> None:
    cut, truth = synth.make_transition_video(tmp_path / "cut.mp4", "cut", pan=1.5)
    assert starts(detect_shots(cut)) == pytest.approx(truth, abs=FRAME / 2)
    flash, _ = synth.make_transition_video(tmp_path / "flash.mp4", "flash2", pan=1.5)
    assert len(detect_shots(flash)) == 1


def test_dissolve_while_the_camera_pans(tmp_path) -> None:
    video, truth = synth.make_transition_video(tmp_path / "d.mp4", "dissolve", pan=1.5, seed=1)
    shots = detect_shots(video)
    assert [s.transition for s in shots] == ["start", "dissolve"]
    assert abs(shots[1].start - truth[0]) <= 3 * FRAME
    # The contrast test is what finds it: the middle is no average of the ends.
    assert len(detect_shots(video, detectors=("adaptive", "fade"))) == 1


def test_a_pan_past_a_blank_wall_is_not_a_dissolve(tmp_path) -> None:
    # The middle of the pan shows only the wall: contrast dips there, but not everywhere at
    # once as in a dissolve.
    wide = synth.texture(5, 160 * 3 + 400, 90)
    wide[:, 260:420] = wide[:, 260:420].mean(axis=(0, 1))
    frames = [np.ascontiguousarray(wide[:, 4 * i : 4 * i + 160]) for i in range(180)]
    video = synth.write_video_frames(tmp_path / "wall.mp4", frames)
    assert len(detect_shots(video)) == 1


def test_a_slow_pan_is_not_a_cut(clips) -> None:
    video, _ = clips["pan"]
    assert len(detect_shots(video)) == 1


def test_light_dimming_inside_a_shot_is_not_a_dissolve(tmp_path) -> None:
    base = synth.texture(7).astype(float)
    n = 3 * FPS
    gains = np.interp(np.arange(n), [FPS, 2 * FPS], [1.0, 0.55])
    frames = [
        np.clip(synth.with_square(base.astype(np.uint8), i, n) * g, 0, 255).astype(np.uint8)
        for i, g in enumerate(gains)
    ]
    video = synth.write_video_frames(tmp_path / "dim.mp4", frames)
    assert len(detect_shots(video)) == 1


def test_opening_fade_from_black_is_not_a_boundary(tmp_path) -> None:
    frames, _ = synth.transition_frames("fade")
    black = int(np.argmin([f.mean() for f in frames]))
    video = synth.write_video_frames(tmp_path / "open.mp4", frames[black:])
    assert len(detect_shots(video)) == 1


def test_every_kind_in_one_video_and_chunking_changes_nothing(tmp_path, monkeypatch) -> None:
    frames: list[np.ndarray] = []
    truth: list[float] = []
    for seed, kind in enumerate(["dissolve", "flash", "fade", "pan", "cut"]):
        if frames:
            truth.append(len(frames) / FPS)  # each clip starts with a cut from the last
        clip, bounds = synth.transition_frames(kind, seed=seed)
        truth += [len(frames) / FPS + b for b in bounds]
        frames += clip
    video = synth.write_video_frames(tmp_path / "all.mp4", frames)
    shots = detect_shots(video)
    assert len(shots) == len(truth) + 1
    for got, want in zip(starts(shots), truth, strict=True):
        assert abs(got - want) <= 2 * FRAME
    import sfxkit.media.shots as shots_module

    monkeypatch.setattr(shots_module, "ANALYSIS_CHUNK", 7)  # windows straddle chunk edges
    assert detect_shots(video) == shots


def test_sparser_analysis_still_places_cuts_on_their_frame(clips) -> None:
    video, truth = clips["cut"]
    shots = detect_shots(video, analysis_fps=12.5)
    assert starts(shots) == pytest.approx(truth, abs=FRAME / 2)


@pytest.mark.parametrize("kind", ["cut", "dissolve"])
def test_fifty_fps_is_analysed_at_thirty_and_cuts_still_land_on_their_frame(
    tmp_path, kind: str
) -> None:
    # 81 frames a scene: the cut (1.62 s) falls between two 30 fps samples.
    video, truth = synth.make_transition_video(tmp_path / "f.mp4", kind, fps=50, shot=1.62)
    shots = detect_shots(video)
    assert [s.transition for s in shots] == ["start", kind]
    if kind == "cut":  # refined to the exact 50 fps frame
        assert shots[1].start == pytest.approx(truth[0], abs=0.5 / 50)
    else:
        assert abs(shots[1].start - truth[0]) <= 2 / 30


def test_bad_detector_choices_are_input_errors(clips) -> None:
    video, _ = clips["cut"]
    with pytest.raises(InputError, match="adaptive, fade, dissolve"):
        detect_shots(video, detectors=("cuts",))
    with pytest.raises(InputError):
        detect_shots(video, detectors=("content", "fade"))
    with pytest.raises(InputError):
        detect_shots(video, dissolve_window=0)


def test_missing_pyscenedetect_is_a_clear_error(clips, monkeypatch) -> None:
    import sys

    from sfxkit.errors import ConfigError

    video, _ = clips["cut"]
    monkeypatch.setitem(sys.modules, "scenedetect", None)  # import fails as without cv2/libGL
    with pytest.raises(ConfigError, match="pip install .*scenedetect"):
        detect_shots(video)
    # The previous detector needs no PySceneDetect.
    assert len(detect_shots(video, detectors=("content",))) == 2
