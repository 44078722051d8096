"""`sfxkit recommend --server URL` / SFXKIT_SERVER: the same output as in-process, no torch."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.serve.conftest import free_port, png_bytes, sfxkit_exe


def _run(args: list[str], cwd, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "SFXKIT_SERVER"}
    return subprocess.run(
        [sfxkit_exe(), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        env={**full, **env},
    )


def test_recommend_through_the_server_prints_the_same_without_torch(live_server, world, tmp_path):
    (tmp_path / "shot.png").write_bytes(png_bytes("circle"))
    args = ["recommend", "shot.png", "-k", "3"]
    remote = _run(args, tmp_path, SFXKIT_SERVER=live_server)
    local = _run([*args, "--index", str(world.index)], tmp_path)
    assert remote.returncode == local.returncode == 0, remote.stderr + local.stderr
    assert remote.stdout == local.stdout
    assert remote.stderr == ""
    assert re.search(r"^\s*1\s+[+-]\d\.\d{3}\s", remote.stdout, re.M)

    imports = subprocess.run(
        [sys.executable, "-X", "importtime", sfxkit_exe(), *args, "--server", live_server],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert imports.returncode == 0, imports.stderr
    modules = {
        line.rsplit("|", 1)[-1].strip() for line in imports.stderr.splitlines() if "|" in line
    }
    assert "sfxkit.serve.client" in modules
    heavy = ("torch", "open_clip", "faiss", "transformers", "fastapi", "av", "soundfile", "numpy")
    assert not {m for m in modules if m.split(".")[0] in heavy}
    # only the module of the command that runs: not soundtrack's, index's, bridge's, ...
    assert {m for m in modules if m.startswith("sfxkit.cli.")} <= {
        "sfxkit.cli.app",
        "sfxkit.cli.options",  # the shared option declarations (typer and the vocabulary only)
        "sfxkit.cli.output",
        "sfxkit.cli.recommend",
    }


@pytest.mark.slow
def test_every_query_kind_and_error_matches_in_process(live_server, world, tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    sound = world.library / "foley" / "footsteps_gravel.flac"
    cases = [
        ["recommend", "rain on a roof", "--text", "--json", "-k", "4"],
        ["recommend", str(sound), "--audio", "--category", "weather", "-k", "2"],
        ["recommend", f"{world.video}@2.0", "-k", "2"],
        ["recommend", str(world.video), "-k", "2"],
        ["recommend", str(world.video), "-k", "2", "--json"],
        ["recommend", "bad.jpg"],
        ["recommend", "missing.png"],
    ]
    for args in cases:
        remote = _run([*args, "--server", live_server], tmp_path)
        local = _run([*args, "--index", str(world.index)], tmp_path)
        assert (remote.returncode, remote.stdout, remote.stderr) == (
            local.returncode,
            local.stdout,
            local.stderr,
        ), args


def test_no_server_there_answers_in_process(world, tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"
    r = _run(
        ["recommend", "a door", "--text", "--index", str(world.index)], tmp_path, SFXKIT_SERVER=dead
    )
    assert r.returncode == 0
    assert f"no sfxkit server at {dead}" in r.stderr and "answering in-process" in r.stderr
    assert "text: a door" in r.stdout
