"""`sfxkit index build --engine ray --address HOST:PORT` joins a Ray cluster started beforehand with
`ray start --head` (as on a real cluster, with Ray's token authentication), builds the same index
as the local engine, and leaves the cluster running.

The cluster is one head on this machine, bound to loopback and stopped by the test: Ray's switch
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` makes it bind to 127.0.0.1 (it also refuses a second
node, so this is a one-node cluster; what is tested is the joining, not the scheduling).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.cli_run import sfxkit
from tests.index.engines.test_ray_engine import _is_loopback, _library, _listening

pytest.importorskip("ray")

LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "token"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def head() -> Iterator[tuple[str, dict[str, str], subprocess.Popen[str]]]:
    env = {**os.environ, **LOOPBACK, "RAY_BACKEND_LOG_LEVEL": "error"}
    address = f"127.0.0.1:{_free_port()}"
    temp = tempfile.mkdtemp(prefix="rc", dir="/tmp")  # Ray's socket paths must stay short
    before = _listening()
    proc = subprocess.Popen(
        ["ray", "start", "--head", "--block", "--node-ip-address", "127.0.0.1",
         "--port", address.split(":")[1], "--num-cpus", "2", "--include-dashboard", "false",
         "--disable-usage-stats", "--temp-dir", temp],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        seen = []
        for line in proc.stdout or ():
            seen.append(line)
            if "Ray runtime started" in line:
                break
        else:
            pytest.fail("ray start --head did not start:\n" + "".join(seen[-20:]))
        opened = _listening() - before
        assert len(opened) >= 2  # GCS and raylet at least
        assert not [p for a, p in opened if not _is_loopback(a)], "the head listens beyond loopback"
        yield address, env, proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # --block: the head stops its processes with it
        proc.wait(timeout=60)


def _cli_build(lib: Path, out: Path, env: dict[str, str], *extra: str) -> list[str]:
    proc = sfxkit(
        "index", "build", lib, "--out", out, "--models", "tiny",
        "--sfx-model", "none", "--no-progress", *extra,
        env=env, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [ln for ln in proc.stdout.splitlines() if "broken.wav" in ln]


@pytest.mark.slow
def test_cli_build_joins_an_existing_cluster_and_equals_the_local_build(head, tmp_path: Path):
    from sfxkit.index.store import load_index

    address, env, proc = head
    lib = _library(tmp_path, 5)
    on_cluster = _cli_build(lib, tmp_path / "ray", env, "--engine", "ray", "--address", address)
    local = _cli_build(lib, tmp_path / "local", env)
    assert on_cluster == local and len(local) == 1  # the bad file, reported alike
    a, b = load_index(tmp_path / "local"), load_index(tmp_path / "ray")
    assert a.rows.equals(b.rows) and len(a.rows) == 5
    for view in ("clap_audio", "clap_text", "clip_text"):
        np.testing.assert_allclose(a.vectors(view).vectors, b.vectors(view).vectors, atol=1e-6)
    assert proc.poll() is None  # the build disconnected; the cluster is still up

    # a wrong address: one clear line, exit 1 or 2, nothing written
    bad = sfxkit(
        "index", "build", lib, "--out", tmp_path / "none", "--models",
        "tiny", "--no-progress", "--engine", "ray", "--address", f"127.0.0.1:{_free_port()}",
        env=env, timeout=300,
    )  # fmt: skip
    assert bad.returncode != 0
    assert "could not join the Ray cluster" in bad.stderr
    assert not (tmp_path / "none").exists()
