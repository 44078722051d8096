"""`sfxkit.soundtrack` on MP4s that claim hours but hold two seconds of frames: it works on the two
seconds, muxes two seconds of sound, and needs no more memory than for an honest two-second video
(measured in a subprocess, which is killed if it grows past a few GB)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.media import hostile_video as hv

ROOT = Path(__file__).resolve().parents[2]
KILL_AT_MB = 3072
AAC_FRAME = 1024 / 48_000

CHILD = textwrap.dedent(
    """
    import json, os, stat, sys, warnings
    import av, torch
    import sfxkit
    from sfxkit.media.frames import VideoTimingWarning

    torch.set_num_threads(1)
    os.umask(0o022)
    index, out_root, *videos = sys.argv[1:]
    report = {}
    for video in videos:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", VideoTimingWarning)
            r = sfxkit.soundtrack(
                video, index, out=os.path.join(out_root, os.path.basename(video)),
                variant="tiny_16k", steps=2,
            )
        with av.open(str(r.exports.video)) as c:
            a = c.streams.audio[0]
            audio_end = max(float((p.pts + p.duration) * p.time_base) for p in c.demux(a) if p.size)
        report[os.path.basename(video)] = {
            "duration": r.timeline.duration,
            "last_shot_end": r.decisions[-1].shot.end,
            "mix_seconds": r.mix.shape[1] / r.timeline.sample_rate,
            "audio_end": audio_end,
            "mode": stat.S_IMODE(os.stat(r.exports.video).st_mode),
            "warned": [str(w.message) for w in caught if issubclass(w.category, VideoTimingWarning)],
            # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking test runner.
            "peak_mb": int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) / 1024,
        }
    print(json.dumps(report))
    """
)


def run_watched(args: list[str], timeout: float) -> tuple[str, str]:
    """Run a child, killing it if its peak RSS passes ``KILL_AT_MB`` or it runs past ``timeout``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    started, peak_mb = time.monotonic(), 0.0
    while proc.poll() is None:
        try:
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak_mb = int(line.split()[1]) / 1024
        except OSError:
            pass
        if peak_mb > KILL_AT_MB or time.monotonic() - started > timeout:
            proc.kill()
            proc.wait()
            pytest.fail(
                f"killed: peak RSS {peak_mb:.0f} MB after {time.monotonic() - started:.0f} s"
            )
        time.sleep(0.1)
    out, err = proc.communicate()
    assert proc.returncode == 0, err[-3000:]
    return out, err


@pytest.mark.slow
def test_soundtrack_on_videos_that_claim_hours(tiny_index, tmp_path: Path) -> None:
    base = hv.make_base(tmp_path / "base.mp4")
    videos = [base] + [hv.make_hostile(tmp_path / f"{k}.mp4", k, base) for k in hv.PATCHES]
    out, _ = run_watched(
        [sys.executable, "-c", CHILD, str(tiny_index[0]), str(tmp_path / "out")]
        + [str(v) for v in videos],
        timeout=400,
    )
    report = json.loads(out.strip().splitlines()[-1])
    honest = report["base.mp4"]
    assert not honest["warned"]
    for name, r in report.items():
        assert r["duration"] == pytest.approx(hv.REAL_SECONDS, abs=1 / hv.FPS), name
        assert r["last_shot_end"] == pytest.approx(hv.REAL_SECONDS, abs=1 / hv.FPS), name
        assert r["mix_seconds"] <= hv.REAL_SECONDS + 0.05, name
        assert r["audio_end"] <= hv.REAL_SECONDS + AAC_FRAME, name
        assert r["mode"] == 0o644, name
        if name != "base.mp4":
            assert r["warned"] and name in r["warned"][0], name
    # Peak RSS is cumulative in the child: the hostile files added next to nothing to what the
    # honest one (models included) needed.
    peak = max(r["peak_mb"] for r in report.values())
    assert peak < honest["peak_mb"] + 300 and peak < 2500, report


def test_shots_past_the_video_are_refused(tiny_index, tmp_path: Path) -> None:
    import sfxkit
    from sfxkit.errors import InputError
    from sfxkit.media.shots import Shot

    video = hv.make_base(tmp_path / "two.mp4")
    long_shot = [Shot(index=0, start=0.0, end=5.0, keyframe_time=1.0)]
    with pytest.raises(InputError, match=r"shot 0 \(0-5 s\) is outside the video \(duration 2 s\)"):
        sfxkit.soundtrack(video, tiny_index[0], shots=long_shot, policy="retrieve")
