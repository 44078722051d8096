"""Large-index presets at 100k-1M items in one 512-d view: what each FAISS candidate costs.

Vectors are a mixture of Gaussian clusters on the unit sphere (uniform random vectors have
meaningless neighbours). Per candidate: build time, bytes per item on disk and resident (RSS
delta after open and after the queries), open time of a whole sfxkit index (integrity checked,
files in the page cache), p50/p99 single-query latency on one OpenMP thread, batch-32
throughput, recall@10 against exact search, and sfxkit's wrapper against raw FAISS on the same
factory in the same run (for rescoring presets the raw side is FAISS's own
``IndexRefine`` over float16 exact vectors in RAM).

    taskset -c 0,1 python benchmarks/scale.py --n 100000 --out benchmarks/results/scale-100k.json
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

TRAIN_SAMPLE = 131072  # as in sfxkit/data/index_presets.json: k-means cost grows with it

CANDIDATES = {
    # name: (factory, build_params, search_params)
    "flat": ("Flat", {}, {}),
    "hnsw32-flat": ("HNSW32,Flat", {"efConstruction": 80}, {"efSearch": 128}),
    "hnsw32-sq8": ("HNSW32,SQ8", {"efConstruction": 80}, {"efSearch": 128}),
    "ivf-pq64fs": ("IVF{nlist},PQ64x4fs", {}, {"nprobe": 32}),
    "ivf-pq64fs-r10": ("IVF{nlist},PQ64x4fs", {}, {"nprobe": 32, "k_factor": 10}),
    "ivf-pq64fs-r20-np48": ("IVF{nlist},PQ64x4fs", {}, {"nprobe": 48, "k_factor": 20}),
    "ivf-pq128fs-r10": ("IVF{nlist},PQ128x4fs", {}, {"nprobe": 32, "k_factor": 10}),
    "ivf-pq128fs-r10-np64": ("IVF{nlist},PQ128x4fs", {}, {"nprobe": 64, "k_factor": 10}),
    "ivf-pq128fs-r20-np64": ("IVF{nlist},PQ128x4fs", {}, {"nprobe": 64, "k_factor": 20}),
    "ivf-pq128fs-r10-np48": ("IVF{nlist},PQ128x4fs", {}, {"nprobe": 48, "k_factor": 10}),
    "opq64-ivf-pq64fs-r10": ("OPQ64,IVF{nlist},PQ64x4fs", {}, {"nprobe": 32, "k_factor": 10}),
}


def clustered(n: int, dim: int, clusters: int, seed: int, spread: float = 0.6) -> np.ndarray:
    """Points around ``clusters`` random centres on the sphere, normalised (cosine data)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    out = np.empty((n, dim), dtype=np.float32)
    step = 65536
    for i in range(0, n, step):
        m = min(step, n - i)
        c = rng.integers(0, clusters, m)
        # per-point spread varies so clusters have dense cores and sparse edges
        # noise norm ~spread against unit centres (0.12 per dim, as first run, is ~2.7: near uniform)
        s = spread / np.sqrt(dim) * rng.uniform(0.5, 1.5, (m, 1)).astype(np.float32)
        block = centres[c] + s * rng.standard_normal((m, dim), dtype=np.float32)
        out[i : i + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def rss_bytes() -> dict[str, int]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("RssAnon:", "RssFile:", "VmRSS:")):
            key, val = line.split(":")
            out[key] = int(val.split()[0]) * 1024
    return out


def write_index(root: Path, vectors: np.ndarray, preset, factory_n: int) -> float:
    """An sfxkit index with one view 'v' (rows + FAISS + exact vectors); returns build seconds."""
    import pyarrow as pa

    from sfxkit.index import VectorIndex
    from sfxkit.store import IndexStore

    n, dim = vectors.shape
    ids = np.arange(n, dtype=np.int64)
    t0 = time.perf_counter()
    vi = VectorIndex.build(vectors, ids, preset=preset)
    build_s = time.perf_counter() - t0
    store = IndexStore(root)
    with store.writer() as w:
        w.write_table(
            "rows.parquet",
            pa.table({"id": pa.array([f"i{i}" for i in range(n)]), "faiss_id": ids}),
        )
        w.write_bytes("views/v.faiss", vi.to_bytes())
        w.write_vectors("views/v.npy", vectors)
        view = {
            "model": "synthetic",
            "tower": "audio",
            "source": "synthetic",
            "dim": dim,
            "count": n,
            "factory": preset.factory_for(factory_n),
            "untrained": True,
        }
        w.commit({"row_count": n, "models": {}, "views": {"v": view}})
    return build_s


def timed_singles(fn, queries: np.ndarray) -> tuple[float, float]:
    lat = []
    for q in queries:
        t = time.perf_counter()
        fn(q[None, :])
        lat.append(time.perf_counter() - t)
    lat_ms = np.array(lat) * 1e3
    return float(np.percentile(lat_ms, 50)), float(np.percentile(lat_ms, 99))


def recall_at(found: np.ndarray, truth: np.ndarray, k: int = 10) -> float:
    hits = sum(
        len(set(f[:k].tolist()) & set(t[:k].tolist())) for f, t in zip(found, truth, strict=True)
    )
    return hits / (len(truth) * k)


def raw_faiss(vi, vectors: np.ndarray, sp: dict):
    """FAISS itself on the same trained index (and IndexRefine over fp16 when rescoring)."""
    import faiss

    base = faiss.deserialize_index(faiss.serialize_index(vi.raw))
    kf = int(sp.get("k_factor", 1))
    params = vi._search_params(None)
    if kf > 1:
        refine = faiss.IndexScalarQuantizer(
            vectors.shape[1], faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
        )
        refine.add(vectors)
        index = faiss.IndexRefine(base, refine)
        index.own_fields = False
        rp = faiss.IndexRefineSearchParameters(k_factor=kf, base_index_params=params)
        rp._keep = (params, base, refine)
        return index, rp
    return base, params


def run_candidate(name: str, vectors, queries, truth, tmp: Path, threads: int) -> dict:
    import faiss

    from sfxkit.index import Preset
    from sfxkit.store import load_index

    factory, bp, sp = CANDIDATES[name]
    n = len(vectors)
    preset = Preset(
        name=name,
        max_items=None,
        factory=factory,
        build_params=bp,
        search_params=sp,
        train_sample=TRAIN_SAMPLE,
    )
    root = tmp / name
    faiss.omp_set_num_threads(threads)
    build_s = write_index(root, vectors, preset, n)
    disk = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    vec_file = next(root.glob("versions/*/views/v.npy")).stat().st_size
    faiss_file = next(root.glob("versions/*/views/v.faiss")).stat().st_size
    gc.collect()
    before = rss_bytes()
    # presets are looked up by factory at open: point the preset list at this candidate
    presets_path = tmp / f"{name}.json"
    presets_path.write_text(
        json.dumps(
            {
                "presets": [
                    {
                        "name": name,
                        "max_items": None,
                        "factory": factory,
                        "build_params": bp,
                        "search_params": sp,
                        "train_sample": TRAIN_SAMPLE,
                    }
                ]
            }
        )
    )
    os.environ["SFXKIT_INDEX_PRESETS"] = str(presets_path)
    t0 = time.perf_counter()
    idx = load_index(root)
    open_s = time.perf_counter() - t0
    after_open = rss_bytes()
    view = idx.view("v")
    k = 10
    lat_w = timed_singles(lambda q: view.search(q, k), queries)
    after_queries = rss_bytes()
    found = view.search(queries, k)[1]
    rec = recall_at(found, truth, k)
    t = time.perf_counter()
    for i in range(0, len(queries), 32):
        view.search(queries[i : i + 32], k)
    batch_qps = len(queries) / (time.perf_counter() - t)

    raw, params = raw_faiss(view, vectors, sp)
    faiss.omp_set_num_threads(1)
    lat_r = timed_singles(lambda q: raw.search(q, k, params=params), queries)
    faiss.omp_set_num_threads(threads)
    raw_rec = recall_at(raw.search(queries, k, params=params)[1], truth, k)
    lat_w2 = timed_singles(lambda q: view.search(q, k), queries)  # after raw: order bias check
    p50_w = min(lat_w[0], lat_w2[0])
    idx.close()
    del idx
    gc.collect()
    os.environ.pop("SFXKIT_INDEX_PRESETS")
    shutil.rmtree(root, ignore_errors=True)
    row = {
        "preset": name,
        "factory": preset.factory_for(n),
        "search_params": sp,
        "build_s": round(build_s, 2),
        "disk_bytes_per_item": round(disk / n, 1),
        "faiss_bytes_per_item": round(faiss_file / n, 1),
        "exact_vector_bytes_per_item": round(vec_file / n, 1),
        "open_s": round(open_s, 3),
        "resident_anon_bytes_per_item_after_open": round(
            (after_open["RssAnon"] - before["RssAnon"]) / n, 1
        ),
        "resident_bytes_per_item_after_queries": round(
            (after_queries["VmRSS"] - before["VmRSS"]) / n, 1
        ),
        "p50_ms": round(p50_w, 3),
        "p99_ms": round(lat_w[1], 3),
        "batch32_qps": round(batch_qps, 1),
        "recall_at_10": round(rec, 4),
        "raw_faiss_p50_ms": round(lat_r[0], 3),
        "raw_faiss_p99_ms": round(lat_r[1], 3),
        "raw_faiss_recall_at_10": round(raw_rec, 4),
        "wrapper_over_raw_p50": round(p50_w / lat_r[0], 3),
    }
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--clusters", type=int, default=0, help="0 = n/100")
    ap.add_argument("--presets", default=",".join(CANDIDATES))
    ap.add_argument("--threads", type=int, default=2, help="threads for build and batches")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/scale.json"))
    ap.add_argument("--tmp", type=Path, default=None)
    args = ap.parse_args()

    import faiss

    clusters = args.clusters or max(10, args.n // 100)
    t = time.perf_counter()
    # queries come from the same clusters, held out of the index
    allv = clustered(args.n + args.queries, args.dim, clusters, seed=0)
    vectors, queries = allv[: args.n], np.ascontiguousarray(allv[args.n :])
    del allv
    gen_s = time.perf_counter() - t
    faiss.omp_set_num_threads(args.threads)
    exact = faiss.IndexFlatIP(args.dim)
    exact.add(vectors)
    truth = exact.search(queries, 10)[1]
    del exact
    tmp = Path(tempfile.mkdtemp(prefix="sfxkit-scale-", dir=args.tmp))
    rows = []
    try:
        for name in args.presets.split(","):
            rows.append(run_candidate(name, vectors, queries, truth, tmp, args.threads))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result = {
        "benchmark": "scale",
        "n": args.n,
        "dim": args.dim,
        "clusters": clusters,
        "queries": args.queries,
        "data": "mixture of Gaussian clusters on the unit sphere: unit centres + noise of norm 0.6 x U(0.5,1.5)",
        "threads_single_query": 1,
        "threads_build_and_batch": args.threads,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, shared "
        "with other jobs while measuring (latencies are noisy)",
        "faiss": faiss.__version__,
        "generate_s": round(gen_s, 1),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    existing = json.loads(args.out.read_text()) if args.out.exists() else {}
    existing[str(args.n)] = result
    args.out.write_text(json.dumps(existing, indent=2) + "\n")


if __name__ == "__main__":
    main()
