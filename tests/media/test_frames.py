"""Frame loading and video sampling: exact counts and exactly which source frame is picked."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from PIL import Image

from sfxkit.errors import InputError, MediaError
from sfxkit.media.frames import (
    frames_at,
    is_image,
    is_video,
    load_frame,
    sample_frames,
    video_info,
)
from tests.synth import draw_frame, make_indexed_video, make_video, read_index_frame, tone

SOURCE_RATES = [24, 25, 30, Fraction(30000, 1001)]
N_SOURCE_FRAMES = 100


@pytest.fixture(scope="module")
def indexed_videos(tmp_path_factory) -> dict[str, tuple[object, Fraction]]:
    root = tmp_path_factory.mktemp("indexed")
    out = {}
    for rate in SOURCE_RATES:
        fps = Fraction(rate)
        out[str(rate)] = (
            make_indexed_video(root / f"v{float(fps):.2f}.mp4", N_SOURCE_FRAMES, fps),
            fps,
        )
    return out


def _expected_index(t: Fraction, fps: Fraction) -> int:
    """The frame displayed at t: the last frame k with k / fps <= t (exact arithmetic)."""
    return min(math.floor(t * fps), N_SOURCE_FRAMES - 1)


@pytest.mark.parametrize("source", [str(r) for r in SOURCE_RATES])
@pytest.mark.parametrize("sample_fps", [8, 25])
def test_sample_frames_exact_count_and_picks(indexed_videos, source, sample_fps):
    path, fps = indexed_videos[source]
    duration = Fraction(N_SOURCE_FRAMES) / fps
    frames = sample_frames(path, sample_fps)
    # floor(duration * fps_sample): 8 fps over 100 frames of 24 fps (4.1667 s) -> 33 frames.
    assert len(frames) == math.floor(duration * sample_fps)
    picked = [read_index_frame(f) for f in frames]
    expected = [_expected_index(Fraction(i, sample_fps), fps) for i in range(len(frames))]
    assert picked == expected


@pytest.mark.parametrize("source", ["24", "30000/1001"])
def test_sample_frames_with_start_and_clipped_duration(indexed_videos, source):
    path, fps = indexed_videos[source]
    frames = sample_frames(path, 8, start=1.5, duration=100.0)  # clipped to the video's end
    end = Fraction(N_SOURCE_FRAMES) / fps
    assert len(frames) == math.floor((end - Fraction(3, 2)) * 8 + Fraction(1, 10**6))
    picked = [read_index_frame(f) for f in frames]
    assert picked == [
        _expected_index(Fraction(3, 2) + Fraction(i, 8), fps) for i in range(len(frames))
    ]
    assert len(sample_frames(path, 25, start=1.0, duration=2.0)) == 50
    with pytest.raises(InputError, match="past the end"):
        sample_frames(path, 8, start=60.0)


def test_frames_at_any_order_past_end_and_downscale(indexed_videos):
    path, fps = indexed_videos["25"]
    # The first sorted time is past the seek threshold, so this exercises the seek path too.
    times = [3.5, 2.9, 3.04, 99.0, 2.5]
    frames = frames_at(path, times, max_side=32)
    assert frames.shape == (5, 32, 32, 3) and frames.dtype == np.uint8
    assert [read_index_frame(f) for f in frames] == [87, 72, 76, 99, 62]

    early = frames_at(path, [0.0, 0.039, 0.04, 1.0])
    assert [read_index_frame(f) for f in early] == [0, 0, 1, 25]
    assert frames_at(path, []).shape == (0, 64, 64, 3)
    with pytest.raises(InputError):
        frames_at(path, [-1.0])


def test_video_info(tmp_path, indexed_videos):
    path, _ = indexed_videos["30000/1001"]
    info = video_info(path)
    assert info.fps == pytest.approx(29.97, abs=0.01)
    assert info.n_frames == N_SOURCE_FRAMES
    assert info.duration == pytest.approx(N_SOURCE_FRAMES * 1001 / 30000, abs=1e-3)
    assert (info.width, info.height) == (64, 64)
    assert not info.has_audio and info.audio_sample_rate is None

    with_audio = make_video(tmp_path / "a.mp4", [("red", 0.5)], audio=tone(440, 0.5, channels=2))
    info = video_info(with_audio)
    assert info.has_audio and info.audio_sample_rate == 48_000 and info.audio_channels == 2

    with pytest.raises(MediaError, match="not found"):
        video_info(tmp_path / "missing.mp4")
    (tmp_path / "junk.mp4").write_bytes(b"\x00" * 2000)
    with pytest.raises(MediaError) as err:
        video_info(tmp_path / "junk.mp4")
    assert "junk.mp4" in str(err.value)


def test_load_frame_accepts_every_documented_form(tmp_path, indexed_videos):
    rgb = draw_frame("checker", 32)

    png = tmp_path / "f.png"
    Image.fromarray(rgb).save(png)
    assert np.array_equal(np.asarray(load_frame(png)), rgb)
    assert np.array_equal(np.asarray(load_frame(str(png))), rgb)

    jpg = tmp_path / "f.jpg"
    Image.fromarray(rgb).convert("L").save(jpg)
    img = load_frame(jpg)
    assert img.mode == "RGB" and img.size == (32, 32)

    rgba_png = tmp_path / "a.png"
    Image.fromarray(np.dstack([rgb, np.full((32, 32), 255, np.uint8)])).save(rgba_png)
    assert np.array_equal(np.asarray(load_frame(rgba_png)), rgb)

    path, _ = indexed_videos["25"]
    assert read_index_frame(np.asarray(load_frame((path, 1.0)))) == 25
    assert read_index_frame(np.asarray(load_frame((str(path), 2)))) == 50

    assert load_frame(Image.fromarray(rgb)).mode == "RGB"
    assert np.array_equal(np.asarray(load_frame(Image.fromarray(rgb).convert("RGBA"))), rgb)
    assert np.array_equal(np.asarray(load_frame(rgb)), rgb)

    grey = rgb[..., 0]
    assert np.array_equal(np.asarray(load_frame(grey)), np.dstack([grey] * 3))
    rgba = np.dstack([rgb, np.zeros((32, 32), np.uint8)])
    assert np.array_equal(np.asarray(load_frame(rgba)), rgb)
    as_float = rgb.astype(np.float32) / 255.0
    assert np.array_equal(np.asarray(load_frame(as_float)), rgb)


def test_load_frame_errors_say_what_is_accepted(tmp_path, indexed_videos):
    path, _ = indexed_videos["25"]
    with pytest.raises(InputError) as err:
        load_frame(path)
    assert "(path, seconds)" in str(err.value) and "recommend_video" in str(err.value)

    with pytest.raises(InputError, match=r"\[0, 1\]"):
        load_frame(np.full((8, 8, 3), 2.0, np.float32))
    with pytest.raises(InputError, match="transpose"):
        load_frame(np.zeros((3, 8, 8), np.uint8))
    with pytest.raises(InputError, match="accepted"):
        load_frame(np.zeros((8, 8, 3), np.int64))
    with pytest.raises(InputError, match="accepted"):
        load_frame([[1, 2], [3, 4]])  # type: ignore[arg-type]
    with pytest.raises(InputError, match="seconds"):
        load_frame((path, "later"))  # type: ignore[arg-type]
    with pytest.raises(MediaError, match="not found"):
        load_frame(tmp_path / "nope.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(MediaError) as err:
        load_frame(bad)
    assert "bad.png" in str(err.value)


def test_extension_helpers():
    assert is_video("a/b/clip.MOV") and is_video("x.mp4") and not is_video("x.png")
    assert is_image("x.JPG") and is_image("x.webp") and not is_image("x.wav")
