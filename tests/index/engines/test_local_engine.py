"""The local engine: CPU stages in worker processes give the same build as one process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sfxkit.errors import ConfigError
from tests import synth


def _library(root: Path, n: int) -> Path:
    lib = root / "lib"
    for i in range(n):
        x = synth.noise(0.5, seed=i, band=(200 + 40 * i, 3000 + 90 * i))
        synth.write_audio(lib / f"clip_{i:02d}.wav", x)
    (lib / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt junk")
    return lib


def _build(lib: Path, out: Path, workers: str, monkeypatch: pytest.MonkeyPatch):
    from sfxkit.index.build import build_index
    from sfxkit.index.store import IndexStore, LoadedIndex

    monkeypatch.setenv("SFXKIT_BUILD_WORKERS", workers)
    report = build_index(lib, out, models="tiny", sfx_model=None, progress=False)
    loaded = LoadedIndex(IndexStore(out))
    return report, loaded


def test_worker_processes_build_the_same_index(tmp_path: Path, monkeypatch) -> None:
    lib = _library(tmp_path, 20)  # > 2 measure batches and > 1 embedding batch: the pool runs
    seq, a = _build(lib, tmp_path / "seq", "0", monkeypatch)
    par, b = _build(lib, tmp_path / "par", "1", monkeypatch)
    assert seq.failures == par.failures and len(par.failures) == 1
    assert par.failures[0][0].endswith("broken.wav")
    assert (seq.items, seq.decoded, seq.embedded) == (par.items, par.decoded, par.embedded)
    assert a.rows.equals(b.rows)
    for view in ("clap_audio", "clap_text", "clip_text"):
        np.testing.assert_allclose(a.vectors(view).vectors, b.vectors(view).vectors, atol=1e-6)


def test_bad_worker_count_is_refused(tmp_path: Path, monkeypatch) -> None:
    from sfxkit.index.build import build_index

    lib = _library(tmp_path, 1)
    monkeypatch.setenv("SFXKIT_BUILD_WORKERS", "many")
    with pytest.raises(ConfigError, match="SFXKIT_BUILD_WORKERS"):
        build_index(lib, tmp_path / "idx", models="tiny", sfx_model=None, progress=False)
    assert not (tmp_path / "idx" / "manifest.json").exists()


def test_stage_functions_report_bad_files_with_the_build_reason(tmp_path: Path) -> None:
    from sfxkit.index.engines.local import decode_batch, measure_batch

    lib = _library(tmp_path, 1)
    good, bad = str(lib / "clip_00.wav"), str(lib / "broken.wav")
    m_good, m_bad = measure_batch([good, bad])
    assert m_good.duration == pytest.approx(0.5, abs=0.01) and isinstance(m_bad, str)
    (wave, none), (missing, why) = decode_batch([good, bad], 16_000, None)
    assert wave is not None and wave.shape == (8000,) and none == ""
    assert missing is None and why == m_bad


def test_default_workers_leave_a_small_cpu_to_the_model(monkeypatch) -> None:
    """No worker processes on 2 cores (they slowed a CPU build); all but one core when a GPU
    runs the models; the environment variable wins."""
    import os

    from sfxkit.index.engines.local import build_workers

    monkeypatch.delenv("SFXKIT_BUILD_WORKERS", raising=False)
    for cores, device, expected in (
        (2, "cpu", 0),
        (2, "cuda", 0),
        (16, "cpu", 2),
        (16, "cuda", 15),
    ):
        monkeypatch.setattr(os, "sched_getaffinity", lambda _pid, n=cores: set(range(n)))
        assert build_workers(device) == expected
    monkeypatch.setenv("SFXKIT_BUILD_WORKERS", "3")
    assert build_workers("cpu") == 3
