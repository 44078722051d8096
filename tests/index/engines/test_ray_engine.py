"""The Ray Data engine gives the local engine's index, reports bad files alike, survives a killed
actor or fails leaving the previous version, and builds the bridge's frame pool.

One local Ray runtime (2 CPUs, loopback, no dashboard) serves every test of this module.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests import ROOT, synth
from tests.cli_run import sfxkit

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")


@pytest.fixture(scope="module")
def ray_runtime():
    from sfxkit.index.engines.ray_data import start_local_runtime

    before = _listening()
    start_local_runtime(
        num_cpus=2,
        # the workers import this test module (the pausing encoder below) from the checkout
        runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}},
    )
    ray.get(ray.remote(lambda: 1).remote())  # a worker process up, listening too
    yield ray, _listening() - before
    ray.shutdown()


def _listening() -> set[tuple[str, int]]:
    """(address, port) of every listening TCP socket on this machine (/proc/net/tcp{,6})."""
    out = set()
    for name in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{name}").read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if state == "0A":  # LISTEN
                addr, port = local.split(":")
                out.add((addr, int(port, 16)))
    return out


def _is_loopback(hex_addr: str) -> bool:
    if len(hex_addr) == 8:  # IPv4, little-endian: 127.x.x.x ends in 7F
        return hex_addr.endswith("7F")
    # IPv6: ::1, or ::ffff:127.x.x.x (IPv4-mapped)
    return hex_addr == "00000000000000000000000001000000" or (
        hex_addr[:24] == "0000000000000000FFFF0000" and hex_addr.endswith("7F")
    )


@pytest.mark.slow
def test_the_private_runtime_listens_on_loopback_only(ray_runtime):
    _, opened = ray_runtime
    assert len(opened) >= 3  # GCS, raylet, a worker: the check below is not vacuous
    exposed = sorted(p for a, p in opened if not _is_loopback(a))
    assert not exposed, f"Ray listens beyond loopback on ports {exposed}"


def _library(root: Path, n: int, *, start: int = 0) -> Path:
    lib = root / "lib"
    for i in range(start, start + n):
        x = synth.noise(0.5 + 0.1 * (i % 3), seed=i, band=(200 + 40 * i, 3000 + 90 * i))
        synth.write_audio(lib / f"clip_{i:02d}.wav", x)
    (lib / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt junk")
    return lib


def _build(lib: Path, out: Path, engine: str, **kw: Any):
    from sfxkit.index.build import build_index
    from sfxkit.index.store import IndexStore, LoadedIndex

    report = build_index(
        lib, out, models="tiny", sfx_model=None, progress=False, engine=engine, **kw
    )
    return report, LoadedIndex(IndexStore(out))


def _assert_same_index(a: Any, b: Any) -> None:
    assert a.rows.equals(b.rows)
    for view in ("clap_audio", "clap_text", "clip_text"):
        np.testing.assert_allclose(a.vectors(view).vectors, b.vectors(view).vectors, atol=1e-6)


@pytest.mark.slow
def test_ray_build_equals_local_build_and_rebuilds_incrementally(ray_runtime, tmp_path: Path):
    lib = _library(tmp_path, 6)
    local, a = _build(lib, tmp_path / "local", "local")
    remote, b = _build(lib, tmp_path / "ray", "ray")
    assert remote.failures == local.failures and len(remote.failures) == 1
    assert remote.failures[0][0].endswith("broken.wav")
    assert (remote.items, remote.decoded, remote.embedded) == (6, 6, local.embedded)
    _assert_same_index(a, b)

    # one file added, one removed: only the new one is decoded and embedded
    (lib / "clip_00.wav").unlink()
    _library(tmp_path, 1, start=6)
    local2, a2 = _build(lib, tmp_path / "local", "local")
    remote2, b2 = _build(lib, tmp_path / "ray", "ray")
    assert (remote2.version, remote2.added, remote2.removed, remote2.decoded) == (2, 1, 1, 1)
    assert remote2.embedded == local2.embedded == {"clip_text": 1, "clap_audio": 1, "clap_text": 1}
    _assert_same_index(a2, b2)


class PausingEncoder:
    """The tiny CLAP encoder; in ``pause`` mode its first batch writes the actor's pid to
    ``signal_dir`` and waits there until the test has killed that process; in ``die`` mode
    every batch kills its own process."""

    def __init__(self, inner: Any, signal_dir: str, mode: str) -> None:
        self.inner, self.signal_dir, self.mode = inner, Path(signal_dir), mode
        self.model_id, self.dim, self.untrained = inner.model_id, inner.dim, inner.untrained
        self.sample_rate = inner.sample_rate

    def encode_texts(self, texts: Any, **kw: Any) -> Any:
        return self.inner.encode_texts(texts, **kw)

    def encode_audio(self, waves: Any, **kw: Any) -> Any:
        if self.mode == "die":
            os.kill(os.getpid(), signal.SIGKILL)
        if not (self.signal_dir / "killed").exists():
            (self.signal_dir / "pid").write_text(str(os.getpid()))
            for _ in range(600):  # 60 s at most: the test kills this process long before
                time.sleep(0.1)
        return self.inner.encode_audio(waves, **kw)


def _pausing(tmp_path: Path, mode: str) -> PausingEncoder:
    from sfxkit.config import TINY_AUDIO_MODEL
    from sfxkit.models.registry import load_audio_encoder

    d = tmp_path / "signals"
    d.mkdir()
    return PausingEncoder(load_audio_encoder(TINY_AUDIO_MODEL, device="cpu"), str(d), mode)


@pytest.mark.slow
def test_killed_embedding_actor_is_retried_and_the_build_completes(ray_runtime, tmp_path: Path):
    lib = _library(tmp_path, 4)
    enc = _pausing(tmp_path, "pause")
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["out"] = _build(lib, tmp_path / "ray", "ray", encoders={"audio": enc})
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            box["error"] = exc

    t = threading.Thread(target=run)
    t.start()
    pid_file = enc.signal_dir / "pid"
    for _ in range(1200):
        if pid_file.exists() or not t.is_alive():
            break
        time.sleep(0.1)
    assert pid_file.exists(), box.get("error")
    pid = int(pid_file.read_text())
    assert pid != os.getpid()  # an actor process, not this one
    (enc.signal_dir / "killed").touch()
    os.kill(pid, signal.SIGKILL)
    t.join(timeout=300)
    assert "error" not in box, box.get("error")
    report, b = box["out"]
    _, a = _build(lib, tmp_path / "local", "local")
    assert report.items == 4 and len(report.failures) == 1
    _assert_same_index(a, b)


@pytest.mark.slow
def test_actor_dying_every_time_fails_clearly_and_keeps_the_previous_version(
    ray_runtime, tmp_path: Path
):
    from sfxkit.errors import SfxkitError
    from sfxkit.index.store import IndexStore

    lib = _library(tmp_path, 3)
    first, _ = _build(lib, tmp_path / "idx", "local")
    _library(tmp_path, 1, start=3)  # a new file to embed on the Ray engine
    with pytest.raises(SfxkitError, match="keeps its previous version") as err:
        _build(lib, tmp_path / "idx", "ray", encoders={"audio": _pausing(tmp_path, "die")})
    assert "clap_audio" in str(err.value)
    store = IndexStore(tmp_path / "idx")
    assert store.manifest().version == first.version
    assert store.verify() == []


@pytest.mark.slow
def test_cli_ray_build_reports_bad_files_as_the_local_build(tmp_path: Path):
    """Through the entry point, with the CLI's own Ray runtime (started and stopped by it)."""
    lib = _library(tmp_path, 3)
    outs = {}
    for engine in ("local", "ray"):
        proc = sfxkit(
            "index", "build", lib, "--out", tmp_path / engine,
            "--models", "tiny", "--sfx-model", "none", "--no-progress", "--engine", engine,
            timeout=600,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        outs[engine] = [ln for ln in proc.stdout.splitlines() if "broken.wav" in ln]
    assert outs["ray"] == outs["local"] and len(outs["ray"]) == 1
    assert "truncated" in outs["ray"][0]


def test_cli_refuses_unknown_engine_and_address_without_ray(tmp_path: Path):
    lib = _library(tmp_path, 1)
    for extra, word in ((["--engine", "spark"], "--engine"), (["--address", "auto"], "--address")):
        proc = sfxkit(
            "index", "build", lib, "--out", tmp_path / "idx", "--models", "tiny", *extra,
            timeout=120,
        )  # fmt: skip
        assert proc.returncode == 2
        assert word in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "idx" / "manifest.json").exists()


def test_embedding_actors_leave_cpus_to_the_decode_tasks():
    from sfxkit.index.engines.ray_data import actor_resources

    for cpus in (1, 2, 3, 4, 8, 16, 64):
        actors, per_actor, gpus = actor_resources(cpus, 0)
        assert actors >= 1 and gpus == 0
        assert actors * per_actor <= max(cpus / 2, 0.5)  # the rest feeds them
    assert actor_resources(16, 4) == (4, 1.0, 1.0)  # one actor per GPU


@pytest.mark.slow
def test_frame_pool_on_ray_equals_local(ray_runtime, tmp_path: Path):
    from sfxkit.bridge.pool import build_frame_pool

    videos = tmp_path / "videos"
    synth.make_video(videos / "a.mp4", [("red", 1.0), ("checker", 1.0)], size=64, moving=True)
    synth.make_video(videos / "b.mp4", [("stripes", 1.0)], size=64)
    (videos / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    kw = {"model": "open_clip:tiny", "per_shot": 2, "progress": False}
    local = build_frame_pool([videos], pool_dir=tmp_path / "local", **kw)
    remote = build_frame_pool([videos], pool_dir=tmp_path / "ray", engine="ray", **kw)
    assert remote.failures == local.failures and len(remote.failures) == 1
    assert remote.added == local.added == 2
    assert remote.pool.records.equals(local.pool.records)
    np.testing.assert_allclose(remote.pool.embeddings, local.pool.embeddings, atol=1e-6)
