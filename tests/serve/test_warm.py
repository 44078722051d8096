"""Issue 23, item 1: `sfxkit serve` is warm when it says it is ready, and says when it is."""

from __future__ import annotations

import subprocess
import time

import httpx
import pytest

from tests.serve.conftest import HEADERS, free_port, sfxkit_exe


def _serve(world, *extra: str) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            "timeout",
            "240",
            sfxkit_exe(),
            "serve",
            "--index",
            str(world.index),
            "--port",
            str(port),
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, f"http://127.0.0.1:{port}"


def _ready_line(proc: subprocess.Popen[str]) -> list[str]:
    lines = []
    assert proc.stderr is not None
    for line in proc.stderr:
        lines.append(line)
        if "ready:" in line:
            return lines
    raise AssertionError(f"no ready line: {lines}")


def _query_seconds(url: str, text: str) -> float:
    t0 = time.perf_counter()
    r = httpx.post(
        f"{url}/api/recommend/text", data={"text": text, "k": "3"}, headers=HEADERS, timeout=120
    )
    assert r.status_code == 200, r.text
    return time.perf_counter() - t0


@pytest.mark.slow  # a server that loads its models: ~30 s on the shared 2-core machine
def test_the_first_query_after_ready_is_as_fast_as_the_second(world):
    proc, url = _serve(world)
    try:
        lines = _ready_line(proc)
        assert any("loading the models" in line for line in lines[:-1])
        health = httpx.get(f"{url}/health", timeout=10)
        assert health.status_code == 200 and health.json()["ready"] is True
        assert httpx.get(f"{url}/api/index", timeout=10).json()["ready"] is True
        first = _query_seconds(url, "a door slams")
        second = _query_seconds(url, "rain on a roof")
        third = _query_seconds(url, "wind in trees")
        # loading the tiny text encoder costs far more than a query; a warm server pays none
        assert first <= 3 * max(second, third) + 0.3, (first, second, third)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_no_warm_is_ready_at_once_and_loads_on_the_first_query(world):
    proc, url = _serve(world, "--no-warm")
    try:
        lines = _ready_line(proc)
        assert not any("loading the models" in line for line in lines)
        assert httpx.get(f"{url}/health", timeout=10).json()["ready"] is True
        assert _query_seconds(url, "a door slams") > 0  # the models load now, and it answers
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_health_says_not_ready_while_the_models_load(world):
    from starlette.testclient import TestClient

    from sfxkit.serve import create_app

    app = create_app(world.index, warm=True)
    resident = app.state.resident
    gate = __import__("threading").Event()
    original = resident.warm

    def slow_warm() -> None:
        gate.wait(timeout=60)
        original()

    resident.warm = slow_warm
    with TestClient(app, base_url="http://127.0.0.1") as c:
        r = c.get("/health")
        assert r.status_code == 503 and r.json()["ready"] is False
        assert c.get("/api/index").json()["ready"] is False
        gate.set()
        deadline = time.monotonic() + 60
        while c.get("/health").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert c.get("/api/index").json()["ready"] is True
