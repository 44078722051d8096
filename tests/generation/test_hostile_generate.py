"""`sfxkit generate` on videos whose headers or timestamps claim hours (136-year durations, a
huge stts delta, an mdhd timescale of 0), through the installed entry point: it generates for
the two seconds of frames the file holds, as `recommend` and `soundtrack` do, with the same
honest timing (sfxkit.media.frames.video_timing) and one warning line about what it ignored."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import av
import pytest
import soundfile as sf

from tests.media import hostile_video as hv

EXE = Path(sys.executable).with_name("sfxkit")
HOSTILE = ["136_years", "stts_delta", "timescale_0"]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hv.make_base(tmp_path_factory.mktemp("hostile") / "base.mp4")


def video_end(path: Path) -> float:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return max(float((p.pts - (s.start_time or 0)) * s.time_base) for p in c.demux(s) if p.size)


@pytest.mark.slow  # one tiny MMAudio run per video (~15 s each on a quiet machine)
@pytest.mark.parametrize("kind", HOSTILE)
def test_generate_makes_the_two_seconds_the_video_holds(base, tmp_path, kind):
    video = hv.make_hostile(tmp_path / f"{kind}.mp4", kind, base)
    out, muxed = tmp_path / "sound.wav", tmp_path / "with_sound.mp4"
    proc = subprocess.run(
        [str(EXE), "generate", str(video), "--variant", "tiny_16k", "--steps", "2"]
        + ["--out", str(out), "--mux", str(muxed), "--no-progress"],
        capture_output=True,
        text=True,
        env={**os.environ, "SFXKIT_PROGRESS": "0"},
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    assert "no frames could be decoded" not in proc.stderr
    warned = [x for x in proc.stderr.splitlines() if x.startswith("sfxkit: warning:")]
    assert any(str(video) in x and " 2.0 s" in x for x in warned), proc.stderr
    assert sf.info(str(out)).duration == pytest.approx(2.0, abs=0.05)
    assert video_end(muxed) < 2.1  # the muxed copy is not hours long either
