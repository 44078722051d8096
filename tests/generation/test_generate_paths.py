"""`sfxkit generate` names what is wrong with the VIDEO path before loading any weights."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests import synth

ROOT = Path(__file__).resolve().parents[2]
SFXKIT = Path(sys.executable).with_name("sfxkit")


def run_generate(video: Path, out: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SFXKIT_PROGRESS": "0"}
    return subprocess.run(
        [str(SFXKIT), "generate", str(video), "--out", str(out), "--variant", "tiny_16k"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_a_directory_named_like_a_video_is_called_a_directory(tmp_path: Path) -> None:
    folder = tmp_path / "dir.mp4"
    clip = synth.make_video(folder / "clip.mp4", [("red", 0.4)], fps=10, size=32)
    proc = run_generate(folder, tmp_path / "x.wav")
    assert proc.returncode == 2, proc.stderr
    assert "file not found" not in proc.stderr
    assert f"{folder}: is a directory, not a video file" in proc.stderr
    # ...and says what to pass instead: a video inside it, or the batch command for a folder
    assert str(clip) in proc.stderr and "sfxkit soundtrack" in proc.stderr
    assert not (tmp_path / "x.wav").exists()


def test_a_missing_video_is_still_not_found(tmp_path: Path) -> None:
    proc = run_generate(tmp_path / "nope.mp4", tmp_path / "x.wav")
    assert proc.returncode == 2 and "nope.mp4: file not found" in proc.stderr
