"""Shot detection on drawn videos with known cut times."""

from __future__ import annotations

import numpy as np
import pytest

from sfxkit.errors import InputError
from sfxkit.media.shots import Shot, detect_shots
from tests.synth import make_video

FPS = 25


def _cut_times(scenes: list[tuple[str, float]]) -> list[float]:
    """Where make_video's scenes start, in whole frames (it rounds each scene to frames)."""
    out, frames = [], 0
    for _, seconds in scenes[:-1]:
        frames += int(round(seconds * FPS))
        out.append(frames / FPS)
    return out


SCENES = [("red", 1.0), ("stripes", 1.5), ("circle", 1.0)]


@pytest.fixture(scope="module")
def three_shot_video(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("shots") / "three.mp4", SCENES, fps=FPS, moving=True)


def test_three_scenes_give_three_shots_at_the_cuts(three_shot_video):
    cuts = _cut_times(SCENES)  # [1.0, 2.52]
    shots = detect_shots(three_shot_video)
    assert [s.index for s in shots] == [0, 1, 2]
    assert shots[0].start == 0.0
    assert shots[-1].end == pytest.approx(3.52, abs=1e-6)
    # Refined boundaries land on the exact source frame.
    for shot, cut in zip(shots[1:], cuts, strict=True):
        assert shot.start == pytest.approx(cut, abs=1.0 / FPS / 2)
    for a, b in zip(shots, shots[1:], strict=False):
        assert a.end == b.start
    for s in shots:
        assert s.start <= s.keyframe_time < s.end
        assert abs(s.keyframe_time - (s.start + s.end) / 2) <= 0.1 + 1e-9
        assert s.duration == pytest.approx(s.end - s.start)


def test_same_cuts_as_the_previous_detector(three_shot_video):
    new = detect_shots(three_shot_video)
    previous = detect_shots(three_shot_video, detectors=("content",))
    assert [s.start for s in new] == pytest.approx([s.start for s in previous], abs=1e-9)
    assert [s.transition for s in new] == ["start", "cut", "cut"]


def test_unrefined_boundaries_within_one_analysis_frame(three_shot_video):
    shots = detect_shots(three_shot_video, refine=False, analysis_fps=10.0)
    assert len(shots) == 3
    for shot, cut in zip(shots[1:], _cut_times(SCENES), strict=True):
        assert abs(shot.start - cut) <= 0.1 + 1e-9
    shots = detect_shots(three_shot_video, detectors=("content",), refine=False)
    assert len(shots) == 3
    for shot, cut in zip(shots[1:], _cut_times(SCENES), strict=True):
        assert abs(shot.start - cut) <= 0.1 + 1e-9


def test_no_cut_is_one_shot_even_with_motion(tmp_path):
    video = make_video(tmp_path / "one.mp4", [("checker", 2.0)], fps=FPS, moving=True)
    shots = detect_shots(video)
    assert shots == [
        Shot(index=0, start=0.0, end=pytest.approx(2.0), keyframe_time=1.0, transition="start")
    ]


def test_cuts_closer_than_min_shot_merge(tmp_path):
    scenes = [("red", 1.0), ("blue", 0.2), ("stripes", 1.2)]
    video = make_video(tmp_path / "flash.mp4", scenes, fps=FPS)
    assert len(detect_shots(video, min_shot=0.5)) == 2
    assert len(detect_shots(video, min_shot=0.1)) == 3


def test_higher_threshold_finds_fewer_cuts(three_shot_video):
    assert len(detect_shots(three_shot_video, threshold=255.0)) == 1
    with pytest.raises(InputError):
        detect_shots(three_shot_video, analysis_fps=0)


def _write_frames(path, frames, fps=FPS):
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.options = {"preset": "ultrafast", "crf": "18"}
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def test_busy_footage_does_not_cut_everywhere(tmp_path):
    # Every frame differs a lot from the last (far above the threshold); the adaptive ratio
    # sees that this is the video's normal and reports one shot, not dozens.
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    frames = []
    for i in range(60):
        shifted = np.roll(base, i, axis=1).repeat(8, axis=0).repeat(8, axis=1)
        frames.append(shifted)
    video = _write_frames(tmp_path / "busy.mp4", np.stack(frames))
    from sfxkit.media.frames import sample_frames
    from sfxkit.media.shots import content_scores

    assert float(np.median(content_scores(sample_frames(video, 10.0, max_side=96)))) > 27.0
    assert len(detect_shots(video)) == 1


def test_chunked_analysis_gives_the_same_shots(three_shot_video, monkeypatch):
    import sfxkit.media.shots as shots_module

    whole = detect_shots(three_shot_video, refine=False)
    monkeypatch.setattr(shots_module, "ANALYSIS_CHUNK", 7)  # cuts fall across chunk edges
    assert detect_shots(three_shot_video, refine=False) == whole
