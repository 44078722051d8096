"""Recommend latency and build throughput, as ratios against the raw libraries underneath.

What is compared, in one process and one run:

* per-frame latency of ``Recommender.recommend(frame)`` against the raw work it wraps:
  open_clip ``encode_image`` on the already preprocessed frame + FAISS ``index.search``
  (target: the wrapper costs at most 15% more). ViT-B-32 architecture with random weights
  (the real weights are not downloadable here; the architecture fixes the cost). Catalog sizes
  1k and 100k with synthetic unit vectors (size fixes the search cost, not the values).
* FAISS threading on this machine: one query on 1 vs all OpenMP threads; a batch of 32 queries
  with the BLAS threshold at faiss's default vs low. ``sfxkit.index.views`` applies what wins.
* build throughput (clips/s) of ``build_index`` (decode, loudness, QC, describe, embed, index,
  commit) against the raw CLAP audio forward (feature extractor + ``get_audio_features``) on the
  same clips. CLAP architecture: transformers' default ``ClapConfig`` (HTSAT + RoBERTa) with
  random weights.

Run: ``python benchmarks/recommend.py [--quick]``; writes ``benchmarks/results/recommend.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def timeit(fn, repeat: int, warmup: int = 3) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return {"median_ms": 1e3 * statistics.median(times), "min_ms": 1e3 * min(times), "n": repeat}


def interleaved(fns: dict[str, object], rounds: int, per_round: int) -> dict[str, dict[str, float]]:
    """Alternate the contenders so drift (thermal, other load) hits them equally."""
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():
        for _ in range(3):
            fn()  # type: ignore[operator]
    for _ in range(rounds):
        for name, fn in fns.items():
            for _ in range(per_round):
                t = time.perf_counter()
                fn()  # type: ignore[operator]
                samples[name].append(time.perf_counter() - t)
    return {
        k: {"median_ms": 1e3 * statistics.median(v), "min_ms": 1e3 * min(v), "n": len(v)}
        for k, v in samples.items()
    }


def synthetic_index(path: Path, n: int, dim: int, seed: int = 0) -> None:
    """An index store with n synthetic items and unit vectors in every view."""
    from sfxkit.catalog.schema import CatalogItem, items_to_table
    from sfxkit.index.store import IndexStore
    from sfxkit.index.views import VectorIndex, choose_preset

    rng = np.random.default_rng(seed)
    ids = rng.choice(2**62, size=n, replace=False)
    items = [
        CatalogItem(
            id=f"{int(i):016x}",
            path=f"/sfx/item_{j}.wav",
            title=f"item {j}",
            category="SYNTH",
            duration=1.0,
            sample_rate=48000,
            channels=1,
            loudness=-23.0,
            loudness_kind="integrated",
            visual_descriptions=(f"a photo of thing {j}",),
            licence="CC0",
        )
        for j, i in enumerate(ids)
    ]
    faiss_ids = np.array([it.faiss_id for it in items], dtype=np.int64)
    with IndexStore(path).writer() as w:
        w.write_table("rows.parquet", items_to_table(items))
        views = {}
        for view in ("clip_text", "clap_audio", "clap_text"):
            x = rng.standard_normal((n, dim)).astype(np.float32)
            x /= np.linalg.norm(x, axis=1, keepdims=True)
            preset = choose_preset(n)
            w.write_bytes(
                f"views/{view}.faiss", VectorIndex.build(x, faiss_ids, preset=preset).to_bytes()
            )
            w.write_npy(f"views/{view}.npy", x)
            views[view] = {
                "model": "open_clip:ViT-B-32/random" if view == "clip_text" else "clap:random",
                "tower": "text" if view != "clap_audio" else "audio",
                "source": "synthetic",
                "dim": dim,
                "count": n,
                "factory": preset.factory_for(n),
                "untrained": True,
            }
        w.commit({"row_count": n, "models": {}, "untrained": True, "views": views})


def bench_recommend(sizes: list[int], repeat: int) -> dict:
    import open_clip
    import torch
    from PIL import Image

    from sfxkit.models.openclip import OpenClipEncoder
    from sfxkit.recommender import Recommender
    from tests import synth

    torch.manual_seed(0)
    model, _, transform = open_clip.create_model_and_transforms("ViT-B-32", pretrained=None)
    tokenizer = open_clip.get_tokenizer("ViT-B-32")
    enc = OpenClipEncoder(
        model,
        transform,
        tokenizer,
        model_id="open_clip:ViT-B-32/random",
        device="cpu",
        untrained=True,
    )
    frame = Image.fromarray(synth.draw_frame("circle", 224))
    pixels = transform(frame).unsqueeze(0)
    out = {}
    for n in sizes:
        with tempfile.TemporaryDirectory() as d:
            synthetic_index(Path(d) / "idx", n, enc.dim)
            rec = Recommender(Path(d) / "idx", encoders={"frame": enc})
            raw_index = rec.index.view("clip_text").raw

            def raw(raw_index=raw_index) -> None:  # bind this size's index
                with torch.inference_mode():
                    q = model.encode_image(pixels)
                q = torch.nn.functional.normalize(q, dim=-1).numpy()
                raw_index.search(q, 5)

            def wrapped(rec=rec) -> None:
                rec.recommend(frame, k=5)

            res = interleaved({"raw": raw, "sfxkit": wrapped}, rounds=repeat, per_round=5)
            ratio = res["sfxkit"]["median_ms"] / res["raw"]["median_ms"]
            out[str(n)] = {
                **res,
                "ratio_sfxkit_over_raw": ratio,
                "overhead_pct": 100 * (ratio - 1),
                "factory": rec.index.view("clip_text").factory,
            }
            print(
                f"recommend n={n}: raw {res['raw']['median_ms']:.2f} ms, sfxkit "
                f"{res['sfxkit']['median_ms']:.2f} ms, ratio {ratio:.3f}"
            )
    return out


def bench_faiss_threads(n: int = 100_000, dim: int = 512) -> dict:
    import faiss

    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, dim)).astype(np.float32)
    faiss.normalize_L2(x)
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    index.add_with_ids(x, np.arange(n, dtype=np.int64))
    q1, q32 = x[:1].copy(), x[:32].copy()
    max_threads = faiss.omp_get_max_threads()
    default_blas = faiss.cvar.distance_compute_blas_threshold
    res = {}
    for th in sorted({1, max_threads}):
        faiss.omp_set_num_threads(th)
        res[f"single_query_{th}_threads"] = timeit(lambda: index.search(q1, 5), 20)
    faiss.omp_set_num_threads(max_threads)
    for blas in (default_blas, 20, 4):
        faiss.cvar.distance_compute_blas_threshold = blas
        res[f"batch32_blas_threshold_{blas}"] = timeit(lambda: index.search(q32, 5), 5)
    faiss.cvar.distance_compute_blas_threshold = default_blas
    from sfxkit.index.views import VectorIndex

    vi = VectorIndex(index)
    res["batch32_sfxkit_VectorIndex_search"] = timeit(lambda: vi.search(q32, 5), 5)
    res["batch32_raw_default"] = timeit(lambda: index.search(q32, 5), 5)
    res["batch32_ratio_sfxkit_over_raw"] = (
        res["batch32_sfxkit_VectorIndex_search"]["median_ms"]
        / res["batch32_raw_default"]["median_ms"]
    )
    res["default_blas_threshold"] = default_blas
    res["omp_max_threads"] = max_threads
    print(
        "faiss:",
        {k: round(v["median_ms"], 2) if isinstance(v, dict) else v for k, v in res.items()},
    )
    return res


def bench_build(n_clips: int) -> dict:
    import torch
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel

    from sfxkit.index.build import build_index
    from sfxkit.models.clap import ClapEncoder
    from sfxkit.models.openclip import OpenClipEncoder
    from sfxkit.models.tiny import build_tiny_clap, build_tiny_open_clip
    from tests import synth

    torch.manual_seed(0)
    cfg = ClapConfig()
    model = ClapModel(cfg).eval()
    fe = ClapFeatureExtractor()
    _, _, tiny_tok = build_tiny_clap()
    audio_enc = ClapEncoder(
        model, fe, tiny_tok, model_id="clap:default-config/random", device="cpu", untrained=True
    )
    m, t, tok = build_tiny_open_clip()
    frame_enc = OpenClipEncoder(m, t, tok, model_id="open_clip:tiny", device="cpu", untrained=True)
    with tempfile.TemporaryDirectory() as d:
        lib = Path(d) / "lib"
        clips = []
        for i in range(n_clips):
            x = synth.noise(3.0, seed=i, band=(100 + 50 * i, 4000 + 100 * i))
            synth.write_audio(lib / f"clip_{i:03d}.wav", x)
            clips.append(x[0])

        def raw() -> None:
            with torch.inference_mode():
                for s in range(0, len(clips), 16):
                    feats = fe(clips[s : s + 16], sampling_rate=48000, return_tensors="pt")
                    model.get_audio_features(
                        input_features=feats["input_features"], is_longer=feats["is_longer"]
                    )

        t0 = time.perf_counter()
        raw()
        raw_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = build_index(
            lib,
            Path(d) / "idx",
            encoders={"frame": frame_enc, "audio": audio_enc},
            models={"frame": "open_clip:tiny", "audio": "clap:default-config/random"},
            progress=False,
        )
        build_s = time.perf_counter() - t0
    res = {
        "clips": n_clips,
        "clip_seconds": 3.0,
        "raw_clap_forward_clips_per_s": n_clips / raw_s,
        "build_index_clips_per_s": n_clips / build_s,
        "ratio_build_time_over_raw": build_s / raw_s,
        "build_stage_seconds": report.seconds,
    }
    print(
        f"build: raw CLAP {res['raw_clap_forward_clips_per_s']:.2f} clips/s, build_index "
        f"{res['build_index_clips_per_s']:.2f} clips/s, ratio {res['ratio_build_time_over_raw']:.2f}"
    )
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats and a smaller build")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "recommend.json"))
    args = ap.parse_args()
    os.environ.setdefault("SFXKIT_PROGRESS", "0")
    repeat = 4 if args.quick else 12
    result = {
        "benchmark": "recommend",
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "faiss_threads": bench_faiss_threads(),
        "recommend": bench_recommend([1_000, 100_000], repeat),
        "build": bench_build(16 if args.quick else 48),
        "target": "recommend ratio_sfxkit_over_raw <= 1.15",
    }
    import torch

    result["torch_threads"] = torch.get_num_threads()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
