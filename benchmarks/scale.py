"""Large-index presets at 100k-1M items in one 512-d view: what each FAISS candidate costs.

Vectors are a mixture of Gaussian clusters on the unit sphere (uniform random vectors have
meaningless neighbours). Per candidate the parent builds the index and writes an sfxkit index
directory (one view ``v``: FAISS file, float16 exact vectors and their chunk digests, rows), then
a fresh subprocess measures, with the files in the page cache:

- open: ``load_index`` of the whole index (every file FAISS or the search reads checked);
- resident (of the view): the subprocess's VmRSS (anonymous + file-mapped + shared pages it
  holds) after opening the view and asking every query once, minus VmRSS once the index's
  manifest and rows are loaded, per item; ``index_resident`` counts from before ``load_index``
  (rows included); libraries are imported before either baseline;
- p50/p99 single-query latency on one OpenMP thread, batch-32 throughput on all threads,
  recall@10 against exact float32 search;
- raw FAISS: ``Index.search`` on the same FAISS object with the same parameters, timed
  interleaved with the wrapper in blocks of 50 queries, alternating which goes first (the
  machine is shared: interleaving keeps the ratio fair when the load changes).

    nice -n 5 python benchmarks/scale.py --n 100000 --out benchmarks/results/scale.json
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.index.helpers writes the index

TRAIN_SAMPLE = 131072  # as in sfxkit/data/index_presets.json: k-means cost grows with it

CANDIDATES = {
    # name: (factory, build_params, search_params)
    "flat": ("Flat", {}, {}),
    "ivf-pq64fs-sq8": ("IVF{nlist},PQ64x4fs,Refine(SQ8)", {}, {"nprobe": 32, "k_factor": 10}),
    # the >4M preset's HNSW coarse quantizer, measured here at the sizes we can build
    "ivf-hnsw-pq64fs-sq8": (
        "IVF{nlist}_HNSW32,PQ64x4fs,Refine(SQ8)",
        {},
        {"nprobe": 32, "k_factor": 10},
    ),
    "ivf-pq32fs-sq8": ("IVF{nlist},PQ32x4fs,Refine(SQ8)", {}, {"nprobe": 32, "k_factor": 20}),
    "ivf-pq64fs-sq6": ("IVF{nlist},PQ64x4fs,Refine(SQ6)", {}, {"nprobe": 32, "k_factor": 10}),
    "ivf-pq64fs-fp16": ("IVF{nlist},PQ64x4fs,Refine(SQfp16)", {}, {"nprobe": 32, "k_factor": 10}),
    "ivf-pq64fs-flat": ("IVF{nlist},PQ64x4fs,Refine(Flat)", {}, {"nprobe": 32, "k_factor": 10}),
    "hnsw32-sq8": ("HNSW32,SQ8", {"efConstruction": 80}, {"efSearch": 128}),
}


DATA = {
    "sphere": "mixture of Gaussian clusters on the unit sphere: unit centres + noise of norm "
    "0.6 x U(0.5,1.5), normalised; queries held out from the same clusters",
    "hard": "harder clusters: n/1000 unit centres + isotropic noise of one norm ({noise}) for "
    "every point, normalised (every item has its ~1000 cluster mates at nearly the same cosine, "
    "like hundreds of takes of one door); queries held out from the same clusters",
}


def clustered(
    n: int,
    dim: int,
    clusters: int,
    seed: int,
    spread: float = 0.6,
    data: str = "sphere",
    dtype: type = np.float32,
) -> np.ndarray:
    """Points around ``clusters`` random centres on the sphere, normalised (cosine data).

    ``data="sphere"``: per-point spread varies so clusters have dense cores and sparse edges;
    ``"hard"``: every point gets noise of norm ``spread`` (isotropic, one radius), so neighbours
    are nearly equidistant and compressed codes rank them poorly."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    out = np.empty((n, dim), dtype=dtype)
    step = 65536
    for i in range(0, n, step):
        m = min(step, n - i)
        c = rng.integers(0, clusters, m)
        if data == "hard":
            s = np.float32(spread / np.sqrt(dim))
        else:
            # noise of norm ~spread against unit centres (a first run used ~2.7: near uniform)
            s = spread / np.sqrt(dim) * rng.uniform(0.5, 1.5, (m, 1)).astype(np.float32)
        block = centres[c] + s * rng.standard_normal((m, dim), dtype=np.float32)
        out[i : i + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def rss() -> dict[str, int]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("RssAnon:", "RssFile:", "RssShmem:", "VmRSS:")):
            key, val = line.split(":")
            out[key] = int(val.split()[0]) * 1024
    return out


def recall_at(found: np.ndarray, truth: np.ndarray, k: int = 10) -> float:
    hits = sum(
        len(set(f[:k].tolist()) & set(t[:k].tolist())) for f, t in zip(found, truth, strict=True)
    )
    return hits / (len(truth) * k)


def preset_json(name: str) -> dict:
    factory, bp, sp = CANDIDATES[name]
    return {
        "name": name,
        "max_items": None,
        "factory": factory,
        "build_params": bp,
        "search_params": sp,
        "train_sample": TRAIN_SAMPLE,
    }


def build_candidate(name: str, vectors: np.ndarray, root: Path, target: float) -> dict:
    """Build with sfxkit's VectorIndex, tune it as `sfxkit index build` does (on the float16
    ``vectors``, which are what a view stores) and commit an index directory; returns build
    numbers."""
    from sfxkit.index.tune import is_approximate, tune
    from sfxkit.index.views import Preset, VectorIndex
    from tests.index.helpers import write_index

    p = preset_json(name)
    preset = Preset(**p)
    n = len(vectors)
    ids = np.arange(n, dtype=np.int64)
    t0 = time.perf_counter()
    vi = VectorIndex.build(vectors, ids, preset=preset)
    build_s = time.perf_counter() - t0
    factory = preset.factory_for(n)
    fields: dict = {"factory": factory}
    tuning = None
    if is_approximate(factory):
        vi, result = tune(vi, vectors, ids, factory=factory, target=target)
        tuning = result.to_dict()
        fields = {"factory": result.factory, "tuning": tuning}
    t0 = time.perf_counter()
    write_index(root, vectors, preset, ids=ids, index=vi, fields=fields)
    del vi
    write_s = time.perf_counter() - t0
    files = {p.name: p.stat().st_size for p in root.glob("versions/*/**/*") if p.is_file()}
    return {
        "preset": name,
        "factory": fields["factory"],
        "search_params": p["search_params"],
        "tuning": tuning,
        "tuned_params": tuning["params"] if tuning else {},
        "build_s": round(build_s, 2),
        "tune_s": tuning["seconds"] if tuning else 0.0,
        "tune_over_build": round(tuning["seconds"] / build_s, 3) if tuning else 0.0,
        "write_s": round(write_s, 2),
        "disk_bytes_per_item": round(sum(files.values()) / n, 1),
        "faiss_bytes_per_item": round(files["v.faiss"] / n, 1),
        "exact_vector_bytes_per_item": round(files["v.npy"] / n, 1),
    }


def measure(root: Path, name: str, work: Path, threads: int) -> dict:
    """Runs in a fresh process: open, resident memory, latency, recall, raw FAISS."""
    import faiss
    import pandas  # noqa: F401  (libraries' own memory is not the index's)
    import pyarrow.parquet  # noqa: F401

    import sfxkit.catalog.schema  # noqa: F401
    from sfxkit.index.store import load_index

    queries = np.load(work / "queries.npy")
    truth = np.load(work / "truth.npy")
    k = 10
    faiss.omp_set_num_threads(threads)
    gc.collect()
    before = rss()
    t0 = time.perf_counter()
    idx = load_index(root, views=[])  # manifest and rows
    rows_s = time.perf_counter() - t0
    after_rows = rss()
    view = idx.view("v")  # the view's FAISS file: read, checked, deserialised
    open_s = time.perf_counter() - t0
    after_open = rss()
    n = view.ntotal
    for q in queries:  # the resident measure covers open + every query asked
        view.search(q[None, :], k)
    after_queries = rss()
    found = view.search(queries, k)[1]
    rec = recall_at(found, truth, k)
    t = time.perf_counter()
    for i in range(0, len(queries), 32):
        view.search(queries[i : i + 32], k)
    batch_qps = len(queries) / (time.perf_counter() - t)

    # raw FAISS: the very index object the view holds (a second copy would compete for the
    # caches), the same search parameters; blocks of 50 queries run raw-then-wrapper and
    # wrapper-then-raw in turn, so neither side always finds the other's lists in cache
    raw = view.raw
    params = view._make_params(None)
    ids_of = view._ids_of if view.positional else (lambda labels: labels)
    raw_found = ids_of(raw.search(queries, k, params=params)[1])
    raw_rec = recall_at(raw_found, truth, k)
    lat_w: list[float] = []
    lat_r: list[float] = []

    def run_raw(block: np.ndarray) -> None:
        for q in block:
            q1 = q[None, :]
            t = time.perf_counter()
            raw.search(q1, k, params=params)
            lat_r.append(time.perf_counter() - t)

    def run_wrapper(block: np.ndarray) -> None:
        for q in block:
            q1 = q[None, :]
            t = time.perf_counter()
            view.search(q1, k)
            lat_w.append(time.perf_counter() - t)

    faiss.omp_set_num_threads(1)  # raw FAISS single queries on one thread, as the wrapper does
    for j, start in enumerate(range(0, len(queries), 50)):
        block = queries[start : start + 50]
        first, second = (run_raw, run_wrapper) if j % 2 == 0 else (run_wrapper, run_raw)
        first(block)
        second(block)
    w_ms, r_ms = np.array(lat_w) * 1e3, np.array(lat_r) * 1e3

    # the same view with the preset's fixed parameters (what every view searched with before)
    fixed: dict = {}
    tuning = idx.manifest.views["v"].tuning
    if tuning:
        import dataclasses

        view.preset = dataclasses.replace(view.preset, search_params=tuning["fixed_params"])
        view._plain_params = None
        fixed_rec = recall_at(view.search(queries, k)[1], truth, k)
        lat_f = []
        for q in queries:
            t = time.perf_counter()
            view.search(q[None, :], k)
            lat_f.append(time.perf_counter() - t)
        f_ms = np.array(lat_f) * 1e3
        fixed = {
            "fixed_params": tuning["fixed_params"],
            "fixed_recall_at_10": round(fixed_rec, 4),
            "fixed_p50_ms": round(float(np.percentile(f_ms, 50)), 3),
            "fixed_p99_ms": round(float(np.percentile(f_ms, 99)), 3),
        }
    load = os.getloadavg()
    return {
        **fixed,
        "open_s": round(open_s, 3),
        "open_rows_s": round(rows_s, 3),
        "resident_bytes_per_item_after_open": round(
            (after_open["VmRSS"] - after_rows["VmRSS"]) / n, 1
        ),
        "resident_bytes_per_item": round((after_queries["VmRSS"] - after_rows["VmRSS"]) / n, 1),
        "resident_anon_bytes_per_item": round(
            (after_queries["RssAnon"] - after_rows["RssAnon"]) / n, 1
        ),
        "resident_file_bytes_per_item": round(
            (after_queries["RssFile"] - after_rows["RssFile"]) / n, 1
        ),
        "index_resident_bytes_per_item": round((after_queries["VmRSS"] - before["VmRSS"]) / n, 1),
        "p50_ms": round(float(np.percentile(w_ms, 50)), 3),
        "p99_ms": round(float(np.percentile(w_ms, 99)), 3),
        "batch32_qps": round(batch_qps, 1),
        "recall_at_10": round(rec, 4),
        "raw_faiss_p50_ms": round(float(np.percentile(r_ms, 50)), 3),
        "raw_faiss_p99_ms": round(float(np.percentile(r_ms, 99)), 3),
        "raw_faiss_recall_at_10": round(raw_rec, 4),
        "wrapper_over_raw_p50": round(float(np.percentile(w_ms, 50) / np.percentile(r_ms, 50)), 3),
        "loadavg_1m_5m": [round(load[0], 2), round(load[1], 2)],
    }


def _params(p: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in p.items()) or "-"


def markdown_table(results: dict) -> str:
    """Fixed against tuned parameters per data set, size and preset (scale_recall.json); the
    older scale.json (keys are sizes only) prints its own columns."""
    if all(key.isdigit() for key in results):
        return _plain_table(results)
    head = (
        "| data | n | preset | factory | fixed params | recall@10 fixed | p50 ms fixed "
        "| tuned params | recall@10 tuned | p50 ms tuned | p99 ms tuned | resident B/item "
        "| build s | tune s (share) | load 1m |"
    )
    lines = [head, "|" + "---|" * 15]

    def order(kv: tuple) -> tuple:
        data, _, n = kv[0].rpartition("-")
        return (int(n), data)

    for _key, res in sorted(results.items(), key=order):
        for r in res["rows"]:
            tuned = bool(r.get("tuning"))
            lines.append(
                f"| {res['data']} | {int(res['n']):,} | {r['preset']} | `{r['factory']}` "
                f"| {_params(r['search_params'])} | {r.get('fixed_recall_at_10', r['recall_at_10'])} "
                f"| {r.get('fixed_p50_ms', r['p50_ms'])} "
                f"| {_params(r['tuned_params']) if tuned else '(exact)'} | {r['recall_at_10']} "
                f"| {r['p50_ms']} | {r['p99_ms']} | {r['resident_bytes_per_item']} "
                f"| {r['build_s']} | {r['tune_s']} ({r['tune_over_build']:.0%}) "
                f"| {r['loadavg_1m_5m'][0]} |"
            )
    return "\n".join(lines)


def _plain_table(results: dict) -> str:
    head = (
        "| n | preset | factory | build s | disk B/item | resident B/item | open s | p50 ms "
        "| p99 ms | batch-32 q/s | recall@10 | raw FAISS p50 ms | wrapper/raw | load 1m |"
    )
    lines = [head, "|" + "---|" * 14]
    for n, res in sorted(results.items(), key=lambda kv: int(kv[0])):
        for r in res["rows"]:
            lines.append(
                f"| {int(n):,} | {r['preset']} | `{r['factory']}` | {r['build_s']} "
                f"| {r['disk_bytes_per_item']} | {r['resident_bytes_per_item']} | {r['open_s']} "
                f"| {r['p50_ms']} | {r['p99_ms']} | {r['batch32_qps']} | {r['recall_at_10']} "
                f"| {r['raw_faiss_p50_ms']} | {r['wrapper_over_raw_p50']} "
                f"| {r['loadavg_1m_5m'][0]} |"
            )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--clusters", type=int, default=0, help="0 = n/100 (hard: n/1000)")
    ap.add_argument("--data", choices=sorted(DATA), default="sphere")
    ap.add_argument("--noise", type=float, default=None, help="spread (sphere 0.6, hard 1.5)")
    ap.add_argument("--target", type=float, default=0.95, help="recall@10 tuning aims for")
    ap.add_argument("--presets", default=",".join(CANDIDATES))
    ap.add_argument("--threads", type=int, default=2, help="threads for build and batches")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/scale_recall.json"))
    ap.add_argument("--tmp", type=Path, default=None)
    ap.add_argument("--measure", nargs=2, metavar=("INDEX", "WORK"), help=argparse.SUPPRESS)
    ap.add_argument("--table", action="store_true", help="print --out's results as markdown")
    args = ap.parse_args()
    if args.table:
        print(markdown_table(json.loads(args.out.read_text())))
        return
    if args.measure:
        res = measure(Path(args.measure[0]), "", Path(args.measure[1]), args.threads)
        print("RESULT " + json.dumps(res), flush=True)
        return

    import faiss

    from sfxkit.index.tune import exact_top_k

    clusters = args.clusters or max(10, args.n // (1000 if args.data == "hard" else 100))
    noise = args.noise if args.noise is not None else (1.5 if args.data == "hard" else 0.6)
    t = time.perf_counter()
    # queries come from the same clusters, held out of the index; the view is float16, as a
    # view stores it (and builds read it), so memory stays at 1 KiB per item at 512-d
    allv = clustered(
        args.n + args.queries, args.dim, clusters, 0, noise, args.data, dtype=np.float16
    )
    vectors, queries = allv[: args.n], allv[args.n :].astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    gen_s = time.perf_counter() - t
    faiss.omp_set_num_threads(args.threads)
    truth = exact_top_k(vectors, queries, 10)  # exact, over the stored float16 vectors
    tmp = Path(tempfile.mkdtemp(prefix="sfxkit-scale-", dir=args.tmp))
    np.save(tmp / "queries.npy", queries)
    np.save(tmp / "truth.npy", truth)
    rows = []
    try:
        for name in args.presets.split(","):
            root = tmp / name
            faiss.omp_set_num_threads(args.threads)
            row = build_candidate(name, vectors, root, args.target)
            presets_path = tmp / f"{name}.json"
            presets_path.write_text(json.dumps({"presets": [preset_json(name)]}))
            env = dict(os.environ, SFXKIT_INDEX_PRESETS=str(presets_path))
            cmd = [sys.executable, __file__, "--threads", str(args.threads)]
            cmd += ["--measure", str(root), str(tmp)]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            got = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
            if not got:
                raise SystemExit(f"{name}: measuring failed:\n{out.stderr[-3000:]}")
            row.update(json.loads(got[-1][len("RESULT ") :]))
            print(json.dumps(row), flush=True)
            rows.append(row)
            shutil.rmtree(root, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result = {
        "benchmark": "scale",
        "n": args.n,
        "dim": args.dim,
        "clusters": clusters,
        "queries": args.queries,
        "data": args.data,
        "data_description": DATA[args.data].format(noise=noise),
        "noise": noise,
        "recall_target": args.target,
        "truth": "exact top-10 over the stored float16 vectors (sfxkit.index.tune.exact_top_k)",
        "threads_single_query": 1,
        "threads_build_and_batch": args.threads,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        "shared with other agents' jobs: each row records the load average while it was "
        "measured (build and tuning times grow with the load, latencies less so)",
        "faiss": faiss.__version__,
        "generate_s": round(gen_s, 1),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    existing = json.loads(args.out.read_text()) if args.out.exists() else {}
    # a rerun of some presets replaces their rows and keeps the others (each row has its load)
    names = {r["preset"] for r in rows}
    key = f"{args.data}-{args.n}"
    kept = [r for r in existing.get(key, {}).get("rows", []) if r["preset"] not in names]
    result["rows"] = kept + rows
    existing[key] = result
    args.out.write_text(json.dumps(existing, indent=2) + "\n")


if __name__ == "__main__":
    main()
