"""A frame asked for at a time outside the video is refused with the video's duration, in Python
(``(video, seconds)``) and on the command line (``VIDEO@SECONDS``, exit 2)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from sfxkit.errors import InputError
from sfxkit.media.frames import load_frame
from tests import synth
from tests.cli_run import sfxkit

ROOT = Path(__file__).resolve().parents[2]
SFXKIT = Path(sys.executable).with_name("sfxkit")


@pytest.fixture(scope="module")
def nine_seconds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("times")
    return synth.make_video(root / "shot.mp4", [("red", 4.5), ("blue", 4.5)], fps=10, size=32)


@pytest.mark.parametrize(
    ("seconds", "shown"), [(30, "30"), (9.5, "9.5"), (-1.0, "-1"), (float("nan"), "nan")]
)
def test_a_time_outside_the_video_is_refused_with_its_duration(
    nine_seconds: Path, seconds: float, shown: str
) -> None:
    with pytest.raises(InputError) as caught:
        load_frame((nine_seconds, seconds))
    message = str(caught.value)
    assert message == (
        f"{nine_seconds}: time {shown} s is outside the video (duration 9.0 s); "
        "pick a time from 0 to 9.0"
    )


def test_times_inside_the_video_give_the_frame_shown_then(nine_seconds: Path) -> None:
    first, last, end = (np.asarray(load_frame((nine_seconds, t)), dtype=int) for t in (0, 8.9, 9.0))
    assert first[..., 0].mean() > 150 and first[..., 2].mean() < 60  # red
    assert last[..., 2].mean() > 150 and last[..., 0].mean() < 60  # blue
    assert np.array_equal(last, end)


@pytest.mark.parametrize(("at", "shown"), [("30", "30"), ("-1", "-1")])
def test_cli_refuses_a_time_outside_the_video(
    nine_seconds: Path, tiny_index, at: str, shown: str
) -> None:
    proc = sfxkit("recommend", f"{nine_seconds}@{at}", "--index", str(tiny_index[0]))
    assert proc.returncode == 2, proc.stderr
    assert f"time {shown} s is outside the video (duration 9.0 s)" in proc.stderr
    assert "pick a time from 0 to 9.0" in proc.stderr
    assert "np.float64" not in proc.stderr + proc.stdout
