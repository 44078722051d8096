"""SMPTE timecode: drop-frame at 29.97/59.94, non-drop elsewhere, and a video's start timecode."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from sfxkit.delivery.timecode import (
    frames_to_timecode,
    seconds_to_timecode,
    start_timecode,
    timecode_to_frames,
    timecode_to_seconds,
)
from sfxkit.errors import InputError
from tests.delivery.helpers import video_with_timecode

NTSC = 30000 / 1001


@pytest.mark.parametrize(
    ("frames", "label"),
    [
        (0, "00:00:00;00"),
        (1799, "00:00:59;29"),
        (1800, "00:01:00;02"),  # ;00 and ;01 are skipped at minute 1
        (17981, "00:09:59;29"),
        (17982, "00:10:00;00"),  # minute 10 keeps them
        (17984, "00:10:00;02"),
        (107892, "01:00:00;00"),  # an hour of drop-frame labels is 107892 frames
    ],
)
def test_drop_frame_29_97(frames: int, label: str) -> None:
    assert frames_to_timecode(frames, NTSC) == label
    assert timecode_to_frames(label, NTSC) == frames


def test_drop_frame_59_94_skips_four() -> None:
    assert frames_to_timecode(3600, 60000 / 1001) == "00:01:00;04"
    assert timecode_to_frames("01:00:00;00", 59.94) == 2 * 107892


def test_every_label_round_trips_and_counts_up() -> None:
    # Over 11 minutes of 29.97 DF: each frame has one label, labels increase one frame at a time.
    labels = [frames_to_timecode(f, NTSC) for f in range(11 * 1800)]
    assert len(set(labels)) == len(labels)
    assert all(timecode_to_frames(tc, NTSC) == f for f, tc in enumerate(labels))


def test_non_drop_and_other_rates() -> None:
    assert frames_to_timecode(1800, NTSC, drop_frame=False) == "00:01:00:00"
    assert frames_to_timecode(86400 * 24 + 10, 24) == "00:00:00:10"  # wraps at 24 h
    assert frames_to_timecode(24 * 3600, 24000 / 1001) == "01:00:00:00"  # 23.976 is non-drop
    assert timecode_to_frames("10:00:00:00", 25) == 900_000
    # An hour of 29.97 NDF labels is 3.6 s more than an hour of real time; DF is within 4 ms.
    assert timecode_to_seconds("01:00:00:00", NTSC, drop_frame=False) == pytest.approx(3603.6)
    assert timecode_to_seconds("01:00:00;00", NTSC) == pytest.approx(3600, abs=0.004)
    assert seconds_to_timecode(2.0, 25) == "00:00:02:00"


@pytest.mark.parametrize(
    ("tc", "fps"),
    [("00:01:00;00", NTSC), ("00:00:00:25", 25), ("1:2:3", 25), ("00:00:00;00", 25), ("x", 30)],
)
def test_labels_that_do_not_exist_are_refused(tc: str, fps: float) -> None:
    with pytest.raises(InputError, match="timecode|drop-frame"):
        timecode_to_frames(tc, fps)


@pytest.mark.parametrize(
    ("suffix", "where", "fps", "tc"),
    [
        (".mov", "container", Fraction(25), "10:00:00:00"),  # tmcd track
        (".mp4", "container", Fraction(30000, 1001), "00:59:58;10"),  # tmcd track, drop-frame
        (".mkv", "stream", Fraction(24), "01:00:00:00"),  # Matroska TIMECODE tag
    ],
)
def test_start_timecode_from_the_video(
    tmp_path: Path, suffix: str, where: str, fps: Fraction, tc: str
) -> None:
    video = video_with_timecode(tmp_path / f"tc{suffix}", tc, fps=fps, where=where)
    assert start_timecode(video) == tc


def test_no_timecode_is_none(tmp_path: Path) -> None:
    assert start_timecode(video_with_timecode(tmp_path / "plain.mp4", None)) is None
    assert start_timecode(tmp_path / "missing.mp4") is None
