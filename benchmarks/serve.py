"""`sfxkit serve` against in-process calls, in one run.

* A frame query (an uploaded PNG) through a running `sfxkit serve` on loopback against
  ``Recommender.recommend`` on the same file in this process (target: p50 ≤ 1.15×).
* `sfxkit recommend FRAME --server URL` against the cold `sfxkit recommend FRAME --index IDX`
  (wall time per command; target ≤ 0.5 s with a server).
* 16 loopback clients mixing frame, text and audio queries: p50/p99.

The index is built with the tiny encoders (the real weights are not downloadable here), so the
model work is far smaller than with ViT-B-32/CLAP and the HTTP overhead weighs more in the ratio
than it would with real models. Run: ``python benchmarks/serve.py [--quick]``; writes
``benchmarks/results/serve.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _p50(xs: list[float]) -> float:
    return float(statistics.median(xs))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n = 30 if args.quick else 200
    cli_runs = 3 if args.quick else 6

    import httpx

    from sfxkit.build import build_index
    from sfxkit.recommender import Recommender
    from sfxkit.serve.loadtest import hammer, http_client, percentiles
    from tests import synth
    from tests.conftest import make_sfx_library

    tmp = Path(tempfile.mkdtemp(prefix="sfxkit-bench-serve-"))
    library = make_sfx_library(tmp / "library")
    index = tmp / "index"
    build_index(library, index, models="tiny", progress=False)
    frame = tmp / "frame.png"
    from PIL import Image

    Image.fromarray(synth.draw_frame("checker", 224)).save(frame)
    sound = (library / "water" / "stream_flowing.wav").read_bytes()

    rec = Recommender(index)
    for _ in range(5):
        rec.recommend(str(frame), 5)
    inproc = []
    for _ in range(n):
        t0 = time.perf_counter()
        rec.recommend(str(frame), 5)
        inproc.append(time.perf_counter() - t0)

    exe = str(Path(sys.executable).with_name("sfxkit"))
    port = _port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        ["timeout", "900", exe, "serve", "--index", str(index), "--port", str(port)],
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                httpx.get(url + "/api/index", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        data = frame.read_bytes()
        served = []
        with http_client(url) as c:
            for i in range(n + 5):
                t0 = time.perf_counter()
                r = c.post(
                    "/api/recommend/frame", files={"image": ("f.png", data)}, data={"k": "5"}
                )
                r.raise_for_status()
                if i >= 5:
                    served.append(time.perf_counter() - t0)

        def cli(*extra: str) -> float:
            t0 = time.perf_counter()
            subprocess.run([exe, "recommend", str(frame), *extra], check=True, capture_output=True)
            return time.perf_counter() - t0

        env_free = {k: v for k, v in os.environ.items() if k != "SFXKIT_SERVER"}
        os.environ.clear()
        os.environ.update(env_free)
        with_server = [cli("--server", url) for _ in range(cli_runs)]
        cold = [cli("--index", str(index)) for _ in range(cli_runs)]

        requests = {
            "frame": lambda c: c.post("/api/recommend/frame", files={"image": ("f.png", data)}),
            "text": lambda c: c.post("/api/recommend/text", data={"text": "rain on a roof"}),
            "audio": lambda c: c.post("/api/recommend/audio", files={"audio": ("a.wav", sound)}),
        }
        load = hammer(url, requests, clients=16, seconds=5 if args.quick else 15)
    finally:
        server.terminate()
        server.wait(timeout=30)

    result = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "models": "tiny (open_clip:tiny, clap:tiny)",
        "frame_query": {
            "in_process_p50_ms": _p50(inproc) * 1000,
            "served_p50_ms": _p50(served) * 1000,
            "ratio_p50": _p50(served) / _p50(inproc),
            "target_ratio": 1.15,
            "n": n,
        },
        "cli": {
            "with_server_s": with_server,
            "cold_s": cold,
            "with_server_p50_s": _p50(with_server),
            "cold_p50_s": _p50(cold),
            "target_with_server_s": 0.5,
        },
        "load": {
            "clients": 16,
            "answers": len(load),
            "errors": sum(a.status != 200 for a in load),
            **percentiles(load),
        },
    }
    out = ROOT / "benchmarks" / "results" / "serve.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
