"""`sfxkit serve` against in-process calls, in one run.

* A frame query (an uploaded PNG) through a running `sfxkit serve` on loopback against
  ``Recommender.recommend`` on the same file in this process (target: p50 ≤ 1.15×).
* `sfxkit recommend FRAME --server URL` against the cold `sfxkit recommend FRAME --index IDX`
  (wall time per command; target ≤ 0.5 s with a server).
* 16 loopback clients mixing frame, text and audio queries: p50/p99.

The first index is built with the tiny encoders, so the model work is far smaller than with
ViT-B-32/CLAP and the HTTP overhead weighs more in the ratio than it would with real models. The
frame query is then measured again with the real ViT-B-32 architecture at random weights (the real
weights are not downloadable here; the architecture fixes the cost), built as
``benchmarks/recommend.py`` builds it, over a synthetic 1k-item index, with the server in its own
process. In-process and served queries alternate in rounds of 5, so that a change in the
machine's load hits both; the in-process baseline runs on one worker thread, as the server runs
its models (the main-thread number is kept too). ``uptime`` before and after is recorded: the machine is shared.

Run: ``python benchmarks/serve.py [--quick] [--no-vit]``; writes ``benchmarks/results/serve.json``.
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


def _load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def _vit_encoder() -> object:
    """open_clip ViT-B-32 at seeded random weights, as benchmarks/recommend.py builds it."""
    import open_clip
    import torch

    from sfxkit.models.openclip import OpenClipEncoder

    torch.manual_seed(0)
    model, _, transform = open_clip.create_model_and_transforms("ViT-B-32", pretrained=None)
    tokenizer = open_clip.get_tokenizer("ViT-B-32")
    return OpenClipEncoder(
        model,
        transform,
        tokenizer,
        model_id="open_clip:ViT-B-32/random",
        device="cpu",
        untrained=True,
    )


def _serve_vit(index: str, port: int) -> None:
    """The server side of the ViT-B-32 measurement (this file run with --serve-vit)."""
    import uvicorn

    from sfxkit.serve import create_app

    app = create_app(index, encoders={"frame": _vit_encoder()})
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def _wait_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 300.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url + "/api/index", timeout=1).raise_for_status()
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise
            time.sleep(0.2)


def _frame_rounds(
    rec: object, frame: Path, url: str, n: int
) -> tuple[list[float], list[float], list[float]]:
    """In-process ``Recommender.recommend`` on the main thread, the same on one worker thread
    (how the server runs its models: ResidentIndex's model thread), and the served frame query,
    alternating in rounds of 5 after 5 warm-up queries each. On a loaded machine the main
    thread's OpenMP team of 2 waits for both cores at every parallel region, which a worker
    thread's does not; the worker-thread run is the like-for-like baseline."""
    from concurrent.futures import ThreadPoolExecutor

    from sfxkit.serve.loadtest import http_client

    data = frame.read_bytes()
    main: list[float] = []
    worker: list[float] = []
    served: list[float] = []
    pool = ThreadPoolExecutor(max_workers=1)

    def timed(fn: object) -> float:
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        return time.perf_counter() - t0

    def local() -> None:
        rec.recommend(str(frame), 5)  # type: ignore[attr-defined]

    with http_client(url) as c:

        def serve_one() -> None:
            r = c.post("/api/recommend/frame", files={"image": ("f.png", data)}, data={"k": "5"})
            r.raise_for_status()

        for _ in range(5):
            local()
            pool.submit(local).result()
            serve_one()
        while len(main) < n:
            main += [timed(local) for _ in range(5)]
            worker += [pool.submit(timed, local).result() for _ in range(5)]
            served += [timed(serve_one) for _ in range(5)]
    pool.shutdown()
    return main, worker, served


def _frame_result(main: list[float], worker: list[float], served: list[float]) -> dict[str, float]:
    return {
        "in_process_p50_ms": _p50(worker) * 1000,
        "in_process_main_thread_p50_ms": _p50(main) * 1000,
        "served_p50_ms": _p50(served) * 1000,
        "ratio_p50": _p50(served) / _p50(worker),
        "ratio_p50_vs_main_thread": _p50(served) / _p50(main),
        "target_ratio": 1.15,
        "n": len(worker),
        "baseline": "in_process = Recommender.recommend on one worker thread, as the server "
        "runs it; in_process_main_thread = the same called from the main thread",
    }


def bench_vit(tmp: Path, frame: Path, n: int) -> dict[str, object]:
    from benchmarks.recommend import synthetic_index
    from sfxkit.recommender import Recommender

    enc = _vit_encoder()
    index = tmp / "vit-index"
    synthetic_index(index, 1000, enc.dim)  # type: ignore[attr-defined]
    rec = Recommender(index, encoders={"frame": enc})
    port = _port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        ["timeout", "900", sys.executable, __file__, "--serve-vit", str(index), str(port)],
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_up(url, server)
        rounds = _frame_rounds(rec, frame, url, n)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {
        "models": "open_clip ViT-B-32 architecture, RANDOM weights (real weights not "
        "downloadable here); synthetic 1k-item index",
        **_frame_result(*rounds),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-vit", action="store_true", help="skip the ViT-B-32 frame query")
    ap.add_argument("--serve-vit", nargs=2, metavar=("INDEX", "PORT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_vit:
        _serve_vit(args.serve_vit[0], int(args.serve_vit[1]))
        return
    n = 30 if args.quick else 200
    cli_runs = 3 if args.quick else 10
    load_before = _load()

    from sfxkit.index.build import build_index
    from sfxkit.recommender import Recommender
    from sfxkit.serve.loadtest import hammer, percentiles
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
    exe = str(Path(sys.executable).with_name("sfxkit"))
    port = _port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        ["timeout", "900", exe, "serve", "--index", str(index), "--port", str(port)],
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_up(url, server)
        rounds = _frame_rounds(rec, frame, url, n)
        data = frame.read_bytes()

        def cli(*extra: str) -> float:
            t0 = time.perf_counter()
            subprocess.run([exe, "recommend", str(frame), *extra], check=True, capture_output=True)
            return time.perf_counter() - t0

        env_free = {k: v for k, v in os.environ.items() if k != "SFXKIT_SERVER"}
        os.environ.clear()
        os.environ.update(env_free)
        load_at_cli = _load()
        with_server = [cli("--server", url) for _ in range(cli_runs)]
        cold = [cli("--index", str(index)) for _ in range(max(3, cli_runs // 2))]

        requests = {
            "frame": lambda c: c.post("/api/recommend/frame", files={"image": ("f.png", data)}),
            "text": lambda c: c.post("/api/recommend/text", data={"text": "rain on a roof"}),
            "audio": lambda c: c.post("/api/recommend/audio", files={"audio": ("a.wav", sound)}),
        }
        load = hammer(url, requests, clients=16, seconds=5 if args.quick else 15)
    finally:
        server.terminate()
        server.wait(timeout=30)
    vit = None if args.no_vit else bench_vit(tmp, frame, 20 if args.quick else 60)

    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "uptime_before": load_before,
            "uptime_after": _load(),
            "note": "shared by other jobs: the load averages above are the machine's, not ours",
        },
        "models": "tiny (open_clip:tiny, clap:tiny)",
        "frame_query": _frame_result(*rounds),
        **({"frame_query_vit_b_32_random_weights": vit} if vit else {}),
        "cli": {
            "with_server_s": with_server,
            "cold_s": cold,
            "with_server_p50_s": _p50(with_server),
            "cold_p50_s": _p50(cold),
            "target_with_server_s": 0.5,
            "uptime_at_start": load_at_cli,
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
