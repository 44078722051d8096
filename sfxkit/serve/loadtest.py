"""A loopback load driver for `sfxkit serve` (used by the load test and benchmarks/serve.py).

``run_server`` starts uvicorn on 127.0.0.1 in a thread; ``hammer`` runs N client threads mixing
frame, text and audio queries for a bounded time and returns every answer's version, ids,
status and latency.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np


@contextmanager
def run_server(app: Any, port: int, *, timeout: float = 300.0) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1:``port`` until the block ends (or ``timeout`` s pass)."""
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    stopper = threading.Timer(timeout, lambda: setattr(server, "should_exit", True))
    stopper.daemon = True
    stopper.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"uvicorn did not start on 127.0.0.1:{port}")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stopper.cancel()
        server.should_exit = True
        thread.join(timeout=30)


def http_client(url: str) -> Any:
    """An httpx client for the service with Nagle off: a multipart upload goes out in several
    writes, and Nagle holding the last one until the server's delayed ACK adds ~40-200 ms."""
    import socket

    import httpx

    transport = httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
    return httpx.Client(base_url=url, headers={"X-Sfxkit": "1"}, timeout=120, transport=transport)


@dataclass(frozen=True)
class Answer:
    kind: str
    status: int
    version: int | None
    ids: tuple[str, ...]
    seconds: float
    error: str = ""


def hammer(
    url: str,
    requests: dict[str, Callable[[Any], Any]],
    *,
    clients: int,
    seconds: float,
    keep_going: Callable[[], bool] = lambda: False,
) -> list[Answer]:
    """``clients`` threads, each cycling through ``requests`` (kind → fn(httpx.Client) → response)
    for ``seconds`` (and while ``keep_going()``)."""
    kinds = list(requests)
    out: list[Answer] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def worker(n: int) -> None:
        with http_client(url) as c:
            i = n
            while time.monotonic() < stop_at or keep_going():
                kind = kinds[i % len(kinds)]
                i += 1
                t0 = time.perf_counter()
                try:
                    r = requests[kind](c)
                    dt = time.perf_counter() - t0
                    body = r.json()
                    ans = Answer(
                        kind,
                        r.status_code,
                        body.get("index_version"),
                        tuple(
                            x["id"]
                            for res in body.get("results", [])
                            for x in res["recommendations"]
                        ),
                        dt,
                        "" if r.status_code == 200 else str(body.get("detail")),
                    )
                except Exception as exc:  # noqa: BLE001 - every failure is counted, not raised
                    ans = Answer(kind, 0, None, (), time.perf_counter() - t0, repr(exc))
                with lock:
                    out.append(ans)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def percentiles(answers: list[Answer]) -> dict[str, float]:
    s = np.array([a.seconds for a in answers]) * 1000
    return {"p50_ms": float(np.percentile(s, 50)), "p99_ms": float(np.percentile(s, 99))}
