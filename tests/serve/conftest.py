"""A tiny index of its own for the service tests (the rebuild tests add to it), the app over
it as a loopback server would be, and helpers to start a real `sfxkit serve` on loopback."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import synth
from tests.synth import make_sfx_library

HEADERS = {"X-Sfxkit": "1"}
BASE = "http://127.0.0.1"


@dataclass
class World:
    library: Path
    index: Path
    outside: Path
    video: Path


_one_thread = pytest.fixture(autouse=True, scope="package")(synth.one_torch_thread)


@pytest.fixture(scope="package")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    from sfxkit.index.build import build_index

    root = tmp_path_factory.mktemp("serve")
    library = make_sfx_library(root / "library")
    # a catalog entry whose file lies outside the catalog: it is indexed, never served
    outside = root / "outside" / "secret.wav"
    synth.write_audio(outside, synth.tone(440, 0.8))
    (library / "linked").mkdir()
    os.symlink(outside, library / "linked" / "secret_link.wav")
    index = root / "index"
    build_index(library, index, models="tiny", progress=False)
    video = synth.make_video(
        root / "three.mp4", [("red", 1.5), ("checker", 1.5), ("circle", 1.5)], moving=True
    )
    return World(library, index, outside, video)


@pytest.fixture
def client(world: World) -> Iterator[object]:
    from starlette.testclient import TestClient

    from sfxkit.serve import create_app

    with TestClient(create_app(world.index), base_url=BASE) as c:
        yield c


def png_bytes(kind: str = "checker", seed: int = 0) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(synth.draw_frame(kind, 64, seed=seed)).save(buf, "PNG")
    return buf.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sfxkit_exe() -> str:
    return str(Path(sys.executable).with_name("sfxkit"))


@contextmanager
def serve_process(
    index: Path, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> Iterator[str]:
    """`sfxkit serve --index INDEX ARGS` through the installed entry point, in a subprocess on a
    loopback port (started from ``cwd``); it stops itself after 600 s. Yields its URL."""
    port = free_port()
    proc = subprocess.Popen(
        [
            "timeout",
            "600",
            sfxkit_exe(),
            "serve",
            "--index",
            str(index),
            "--port",
            str(port),
            *args,
        ],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read().decode()) from None
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("sfxkit serve did not start in 60 s") from None
            time.sleep(0.2)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def live_server(world: World) -> Iterator[str]:
    """`sfxkit serve` in a subprocess on a loopback port; it stops itself after 600 s."""
    with serve_process(world.index) as url:
        yield url


def checkout_beside(home: Path) -> dict[str, str]:
    """``home`` holding a checkout named `sfxkit` (``sfxkit/sfxkit/`` without ``__init__.py``),
    as ``~`` does with ``~/sfxkit``; returns a user's shell environment (no PYTHONSAFEPATH), in
    which ``python -c`` from ``home`` would import that folder as a namespace package."""
    (home / "sfxkit" / "sfxkit").mkdir(parents=True)
    (home / "sfxkit" / "README.md").write_text("a checkout\n")
    (home / "sfxkit" / "sfxkit" / "README.md").write_text("no __init__.py here\n")
    return {k: v for k, v in os.environ.items() if k != "PYTHONSAFEPATH"}


def catalog_audio(world: World) -> Path:
    return world.library / "water" / "stream_flowing.wav"


__all__ = [
    "BASE",
    "HEADERS",
    "World",
    "catalog_audio",
    "checkout_beside",
    "free_port",
    "png_bytes",
    "serve_process",
    "sfxkit_exe",
]
