"""MP4s whose headers or timestamps claim hours (a huge stts delta, a last frame held for ten
hours, 136-year durations at a 1 Hz timescale, an mdhd timescale of 0) hold two seconds of frames:
every media function works on those two seconds, says what it ignored, and stays small."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import av
import numpy as np
import pytest

from sfxkit.media.frames import VideoTimingWarning, frames_at, video_info
from sfxkit.media.motion import motion_profile
from sfxkit.media.mux import mux_audio
from sfxkit.media.shots import detect_shots
from tests import synth
from tests.media import hostile_video as hv

ROOT = Path(__file__).resolve().parents[2]
KINDS = list(hv.PATCHES)
ONE_FRAME = 1.0 / hv.FPS
AAC_FRAME = 1024 / 48_000


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hostile")
    base = hv.make_base(root / "base.mp4")
    return {"base": base, **{k: hv.make_hostile(root / f"{k}.mp4", k, base) for k in KINDS}}


def claims_hours(path: Path) -> float:
    """What PyAV (FFmpeg) itself says the video stream lasts, from its headers or timestamps."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        header = float(s.duration * s.time_base) if s.duration else 0.0
        ends = [float((p.pts + p.duration) * s.time_base) for p in c.demux(s) if p.size]
    return max(header, max(ends)) / 3600


def audio_end(path: Path) -> float:
    with av.open(str(path)) as c:
        a = c.streams.audio[0]
        return max(float((p.pts + p.duration) * p.time_base) for p in c.demux(a) if p.size)


@pytest.mark.parametrize("kind", KINDS)
def test_the_files_really_claim_hours(videos: dict[str, Path], kind: str) -> None:
    assert claims_hours(videos["base"]) < 0.01
    assert claims_hours(videos[kind]) > 8


@pytest.mark.parametrize("kind", KINDS)
def test_video_info_takes_the_extent_from_the_frames_and_warns(
    videos: dict[str, Path], kind: str, tmp_path: Path
) -> None:
    # A fresh copy: the warning comes once per file (its timing is measured once).
    path = tmp_path / videos[kind].name
    path.write_bytes(videos[kind].read_bytes())
    with pytest.warns(VideoTimingWarning) as caught:
        info = video_info(path)
    assert info.duration == pytest.approx(hv.REAL_SECONDS, abs=ONE_FRAME)
    assert info.n_frames == hv.FPS * hv.REAL_SECONDS
    assert info.fps == pytest.approx(hv.FPS)
    assert info.claimed_duration > 8 * 3600
    message = str(caught[0].message)
    # names the file, the claim and what the frames fill
    assert str(path) in message and ("claim" in message or "spread" in message)
    assert f"{info.claimed_duration:.3f}".rstrip("0") in message and "2.0 s" in message


def test_an_honest_video_gives_no_warning(videos: dict[str, Path]) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", VideoTimingWarning)
        info = video_info(videos["base"])
    assert info.duration == pytest.approx(hv.REAL_SECONDS)
    assert info.claimed_duration == pytest.approx(info.duration)


@pytest.mark.filterwarnings("ignore::sfxkit.media.frames.VideoTimingWarning")
@pytest.mark.parametrize("kind", KINDS)
def test_shots_keyframes_and_motion_cover_the_real_two_seconds(
    videos: dict[str, Path], kind: str
) -> None:
    path = videos[kind]
    shots = detect_shots(path)
    # the cut between the red and the checker scene, and nothing past the frames
    assert [round(s.start, 2) for s in shots] == [0.0, pytest.approx(1.0, abs=ONE_FRAME)]
    assert shots[-1].end == pytest.approx(hv.REAL_SECONDS, abs=ONE_FRAME)
    keys = frames_at(path, [s.keyframe_time for s in shots])
    red, checker = keys[0].astype(int), keys[1].astype(int)
    assert red[..., 0].mean() > 150 and red[..., 2].mean() < 60
    assert np.abs(checker - synth.draw_frame("checker")).mean() < 40
    # frame times follow the frames: the last second shows the second scene, moving
    late = frames_at(path, [1.2, 1.9])
    assert np.abs(late[0].astype(int) - late[1].astype(int)).mean() > 1
    profile = motion_profile(path, start=shots[1].start)
    assert profile.end == pytest.approx(hv.REAL_SECONDS, abs=ONE_FRAME)
    assert len(profile.times) <= 26 and profile.moving


@pytest.mark.filterwarnings("ignore::sfxkit.media.frames.VideoTimingWarning")
@pytest.mark.parametrize("kind", KINDS)
def test_muxed_audio_is_not_longer_than_the_real_video(
    videos: dict[str, Path], kind: str, tmp_path: Path
) -> None:
    sound = synth.tone(440, 12.0, sr=48_000, channels=2, amp=0.2)
    out = mux_audio(videos[kind], sound, tmp_path / "out.mp4", sample_rate=48_000)
    assert audio_end(out) <= hv.REAL_SECONDS + AAC_FRAME
    assert audio_end(out) >= hv.REAL_SECONDS - AAC_FRAME
    # The written video lasts what its frames fill (same picture bytes, honest timestamps).
    assert claims_hours(out) * 3600 == pytest.approx(hv.REAL_SECONDS, abs=ONE_FRAME)
    with av.open(str(videos[kind])) as src, av.open(str(out)) as dst:
        before = [bytes(p) for p in src.demux(src.streams.video[0]) if p.size]
        after = [bytes(p) for p in dst.demux(dst.streams.video[0]) if p.size]
    assert after == before


MEDIA_CHILD = textwrap.dedent(
    """
    import json, resource, sys, warnings
    # A leak on a claimed length fails fast here instead of swapping the machine.
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
    import numpy as np
    from sfxkit.media.frames import frames_at, video_info
    from sfxkit.media.motion import motion_profile
    from sfxkit.media.mux import mux_audio
    from sfxkit.media.shots import detect_shots

    warnings.simplefilter("ignore")
    video, out = sys.argv[1:3]
    shots = detect_shots(video)
    frames_at(video, [s.keyframe_time for s in shots])
    for s in shots:
        motion_profile(video, start=s.start, end=s.end)
    sound = np.zeros((2, 48_000 * 12), dtype=np.float32)
    mux_audio(video, sound, out, sample_rate=48_000)
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the (large) forking test runner.
    status = open("/proc/self/status").read().split("VmHWM:")[1]
    peak_mb = int(status.split()[0]) / 1024
    print(json.dumps({"duration": video_info(video).duration, "peak_mb": peak_mb}))
    """
)


@pytest.mark.parametrize("kind", KINDS)
def test_media_on_a_hostile_file_stays_small_in_a_subprocess(
    videos: dict[str, Path], kind: str, tmp_path: Path
) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", MEDIA_CHILD, str(videos[kind]), str(tmp_path / "out.mp4")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["duration"] == pytest.approx(hv.REAL_SECONDS, abs=ONE_FRAME)
    assert result["peak_mb"] < 500, (result, time.monotonic() - started)
