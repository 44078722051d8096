"""Memory and time stay bounded on long media: ten hours of FLAC silence (under 1 MB on disk)
is ingested in a subprocess whose peak RSS stays under 1 GB, and a build over it costs no more
memory than a build over a one-second file. Slow: each file is ten hours of audio."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

GB = 1 << 30


def write_silence_flac(path: Path, sample_rate: int, hours: float) -> Path:
    """Hours of 16-bit silence, written a minute at a time (the test itself stays small)."""
    minute = np.zeros(sample_rate * 60, dtype=np.int16)
    with sf.SoundFile(path, "w", sample_rate, 1, "PCM_16", format="FLAC") as f:
        for _ in range(int(hours * 60)):
            f.write(minute)
    return path


def _run_measuring_rss(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; it leaves a dict in ``out``; adds peak RSS in bytes."""
    # VmHWM (this process's own peak), not ru_maxrss: Linux carries ru_maxrss over from the
    # forking test runner, which is over 1 GB once earlier tests have loaded their models.
    wrapper = (
        "import json\n" + code + "\nstatus = open('/proc/self/status').read().split('VmHWM:')[1]\n"
        "out['rss'] = int(status.split()[0]) * 1024\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", wrapper], capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _ingest(folder: Path) -> dict:
    return _run_measuring_rss(
        "from sfxkit.catalog.ingest import ingest\n"
        f"r = ingest({str(folder)!r}, progress=False)\n"
        "it = r.items[0]\n"
        "out = {'duration': it.duration, 'flags': list(it.qc_flags), 'loudness': it.loudness,\n"
        "       'failures': [f.reason for f in r.failures]}\n"
    )


@pytest.mark.slow
def test_ten_hours_of_8khz_flac_ingest_under_1gb(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    flac = write_silence_flac(lib / "ten_hours.flac", 8_000, 10)
    assert flac.stat().st_size < 2_000_000
    out = _ingest(lib)
    assert out["failures"] == []
    assert out["duration"] == pytest.approx(36_000.0)
    assert "silent" in out["flags"]
    assert out["rss"] < GB, f"peak RSS {out['rss'] / 2**20:.0f} MiB"


@pytest.mark.slow
def test_ten_hours_of_48khz_flac_ingest_under_1gb(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    write_silence_flac(lib / "ten_hours_48k.flac", 48_000, 10)
    out = _ingest(lib)
    assert out["failures"] == [] and out["duration"] == pytest.approx(36_000.0)
    assert out["rss"] < GB, f"peak RSS {out['rss'] / 2**20:.0f} MiB"


@pytest.mark.slow
def test_build_over_ten_hours_costs_no_more_memory_than_over_one_second(tmp_path):
    def build(folder: Path) -> dict:
        return _run_measuring_rss(
            "from sfxkit.index.build import build_index\n"
            f"r = build_index({str(folder)!r}, {str(folder) + '-idx'!r}, models='tiny',"
            " progress=False)\n"
            "out = {'items': r.items, 'failures': list(r.failures)}\n"
        )

    short, long = tmp_path / "short", tmp_path / "long"
    short.mkdir()
    long.mkdir()
    sf.write(short / "one_second.flac", np.zeros(8_000, np.int16), 8_000, subtype="PCM_16")
    write_silence_flac(long / "ten_hours.flac", 8_000, 10)
    base, big = build(short), build(long)
    assert base["items"] == big["items"] == 1 and big["failures"] == []
    # The models dominate a tiny build's memory; ten hours of audio must add little to it.
    assert big["rss"] - base["rss"] < 256 << 20, (base["rss"] >> 20, big["rss"] >> 20)
