"""`sfxkit soundtrack --start-tc/--handles/--channels/--formats`, through the console script."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest
import soundfile as sf
import wavinfo

from tests.cli_run import sfxkit
from tests.delivery.helpers import video_with_timecode
from tests.synth import make_video


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--start-tc", "00:01:00;00", "--start-tc"),  # a label drop-frame skips
        ("--start-tc", "25:00:00:00", "--start-tc"),
        ("--channels", "7.1", "5.1"),
        ("--formats", "wav,pdf", "pdf"),
    ],
)
def test_bad_delivery_options_exit_2_before_any_work(
    tmp_path: Path, option: str, value: str, says: str
) -> None:
    video = video_with_timecode(tmp_path / "v.mov", None, fps=Fraction(30000, 1001))
    proc = sfxkit("soundtrack", video, "--index", tmp_path / "no-index", "--out", tmp_path / "o",
                  option, value)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0]
    assert not (tmp_path / "o").exists()


@pytest.mark.slow  # a whole soundtrack run in a subprocess: ~25 s on the shared 2 cores
def test_soundtrack_delivers_with_start_tc_and_51(tiny_index, tmp_path: Path) -> None:
    video = make_video(tmp_path / "film.mp4", [("red", 1.0), ("checker", 1.0)], moving=True)
    out = tmp_path / "out"
    proc = sfxkit(
        "soundtrack", video, "--index", tiny_index[0], "--out", out, "--policy", "retrieve",
        "--no-progress", "--json", "--start-tc", "10:00:00:00", "--channels", "5.1",
        "--formats", "wav,aaf,edl", "--handles", "0.5",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    files = json.loads(proc.stdout)["files"]
    assert files["start_tc"] == "10:00:00:00" and Path(files["aaf"]).is_file()
    assert sf.info(files["mix_51"]).channels == 6
    bext = wavinfo.WavInfoReader(str(out / "mix.wav")).bext
    assert bext.time_reference == 36000 * 48_000
    assert "10:00:00:00" in (out / "cues.edl").read_text()
