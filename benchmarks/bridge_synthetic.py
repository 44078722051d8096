"""The language bridge end to end on a synthetic audio-visual world with known ground truth.

describe → mine → train → eval → calibrate, through sfxkit's real pipeline (index build, frame
pool, mining, training, evaluation, recommender) with tiny encoders: open_clip:tiny warmed up
briefly on synthetic captions (see sfxkit/bridge/synthetic.py) and the untrained clap:tiny.
Prints JSON (zero-shot vs trained vs fused R@1/R@10/MRR, ECE, what mining found) and writes
benchmarks/results/bridge_synthetic.json. What it does and does not prove:
benchmarks/README_bridge.md.

    python benchmarks/bridge_synthetic.py [--seed 0] [--keep DIR] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "bridge_synthetic.json"


def _pairs_csv(world, shots, path: Path, rng: np.random.Generator, per_shot: int = 1) -> Path:
    """``per_shot`` frames per in-catalog shot, at random times inside it, naming the right
    sound file (the VGGSound-style CSV ``sfxkit eval --pairs`` reads)."""
    lines = ["video,time,sfx"]
    for s in shots:
        if s.item < 0:
            continue
        for t in rng.uniform(s.start + 0.1, max(s.end - 0.1, s.start + 0.11), size=per_shot):
            lines.append(f"{s.video},{t:.3f},{world.items[s.item].file_name}")
    path.write_text("\n".join(lines) + "\n")
    return path


def run(seed: int, work: Path, quick: bool = False) -> dict:
    from sfxkit.bridge.evaluate import evaluate
    from sfxkit.bridge.mine import mine_index
    from sfxkit.bridge.pool import build_frame_pool
    from sfxkit.bridge.synthetic import World, WorldConfig, save_open_clip_dir, warm_up_clip
    from sfxkit.bridge.train import TrainConfig, train_bridge
    from sfxkit.index.build import build_index
    from sfxkit.index.store import load_index
    from sfxkit.models.registry import build_encoder, parse_model_id
    from sfxkit.recommender import Recommender

    seconds: dict[str, float] = {}
    t_all = time.perf_counter()
    world = World(WorldConfig(seed=seed))
    rng = np.random.default_rng(seed + 1)

    # 1. a tiny CLIP that knows a little: brief seeded warm-up on clean renders + noisy captions
    t0 = time.perf_counter()
    clip = build_encoder(parse_model_id("open_clip:tiny"))
    warm = warm_up_clip(clip, world, steps=150 if quick else 300, seed=seed)
    clip_dir = save_open_clip_dir(clip, work / "warm_clip")
    clip_id = f"open_clip:local-dir:{clip_dir}"
    clip.model_id = clip_id
    clip.untrained = True  # a toy model warmed up on a toy world: label it like one
    seconds["warm_up"] = time.perf_counter() - t0

    # 2. catalog → index (the template describer writes the visual descriptions)
    t0 = time.perf_counter()
    library = world.write_library(work / "library")
    index = work / "index"
    build_index(library, index, models=f"{clip_id},clap:tiny", encoders={"frame": clip},
                progress=False)  # fmt: skip
    seconds["describe_and_index"] = time.perf_counter() - t0

    # 3. the user's videos: a pool for mining, labelled hold-out videos for fusion/calibration,
    #    test videos for evaluation, and test videos with a class the catalog does not have
    t0 = time.perf_counter()
    n_pool, n_val, n_test = (60, 8, 12) if quick else (200, 16, 24)
    pool_truth = world.write_videos(work / "pool", n_pool, seed=seed + 10, prefix="pool")
    val_truth = world.write_videos(work / "val", n_val, seed=seed + 20, prefix="val")
    test_truth = world.write_videos(work / "test", n_test, seed=seed + 30, prefix="test")
    odd_truth = world.write_videos(work / "odd", 6, seed=seed + 40, prefix="odd", outsider=0.5)
    val_csv = _pairs_csv(world, val_truth, work / "val.csv", rng, per_shot=2)
    test_csv = _pairs_csv(world, test_truth, work / "test.csv", rng, per_shot=3)
    seconds["videos"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    pool = build_frame_pool([work / "pool"], encoder=clip, pool_dir=work / "frame_pool",
                            per_shot=4, progress=False).pool  # fmt: skip
    seconds["frame_pool"] = time.perf_counter() - t0

    # 4. mine pairs (text → image), and check them against the world's ground truth
    t0 = time.perf_counter()
    mined = mine_index(index, pool, top_m=40, frame_top=2, max_per_item_video=2, keep=0.5,
                       propagate=True, out=work / "pairs.parquet", progress=False)  # fmt: skip
    seconds["mine"] = time.perf_counter() - t0
    idx = load_index(index, views=[])
    key_of_id = {
        row_id: int(Path(path).stem.split("_")[1])
        for row_id, path in zip(idx.rows["id"], idx.rows["path"], strict=True)
    }
    by_video: dict[str, list] = {}
    for s in pool_truth:
        by_video.setdefault(s.video, []).append(s)
    pairs = mined.pairs
    truth = np.array(
        [
            world.truth_at(by_video[v], v, t)
            for v, t in zip(pairs["video"], pairs["time"], strict=True)
        ]
    )
    mined_key = np.array([key_of_id[i] for i in pairs["item_id"]])
    cls_of = np.array([it.cls for it in world.items])
    ok = truth >= 0
    pool_keys = np.array(
        [
            world.truth_at(by_video[v], v, t)
            for v, t in zip(pool.records["video"], pool.records["time"], strict=True)
        ]
    )
    direct = ~pairs["propagated"].to_numpy()
    mining = {
        "pool_frames": len(pool),
        "pairs": int(len(pairs)),
        "pairs_before_shot_propagation": int(direct.sum()),
        "precision_item_before_propagation": float(
            np.mean(mined_key[ok & direct] == truth[ok & direct])
        ),
        "items_covered": int(pairs["item_id"].nunique()),
        "precision_item": float(np.mean(mined_key[ok] == truth[ok])) if ok.any() else 0.0,
        "precision_category": float(np.mean(cls_of[mined_key[ok]] == cls_of[truth[ok]]))
        if ok.any()
        else 0.0,
        "max_pairs_from_one_video": int(pairs["video"].value_counts().max()),
        "video_cap": int(mined.stats["text->image"]["video_cap"]),
        "threshold": float(mined.stats["text->image"]["threshold"]),
        # what zero-shot alone gets on the same pool frames (top-1 item)
        "pool_zero_shot_top1": float(
            np.mean(
                (pool.embeddings @ idx.vectors("clip_text").vectors.T).argmax(1)
                == _rows_for(idx, world, pool_keys)
            )
        ),
    }

    # 5. train heads; fusion weights and calibration on the labelled hold-out videos
    t0 = time.perf_counter()
    report = train_bridge(index, work / "pairs.parquet", pool=pool, holdout=val_csv,
                          config=TrainConfig(seed=seed), encoders={"frame": clip},
                          target_precision=0.8, progress=False)  # fmt: skip
    seconds["train_and_calibrate"] = time.perf_counter() - t0

    # 6. evaluate on the test videos: zero-shot vs trained vs fused, side by side
    t0 = time.perf_counter()
    ev = evaluate(index, test_csv, encoders={"frame": clip}, progress=False)
    seconds["evaluate"] = time.perf_counter() - t0

    # 7. "no confident match": frames of a class the catalog does not have vs frames it has
    rec = Recommender(index, encoders={"frame": clip})
    from sfxkit.media.frames import frames_at

    def confident_share(shots) -> float:
        flags = []
        for s in shots:
            frame = frames_at(s.video, [0.5 * (s.start + s.end)])[0]
            flags.append(bool(rec.recommend(frame, k=5).confident))
        return float(np.mean(flags)) if flags else float("nan")

    outsiders = [s for s in odd_truth if s.item < 0]
    insiders = [s for s in odd_truth if s.item >= 0]
    items_inf = np.array([it.informative for it in world.items])
    per_kind = _per_kind(
        ev_pairs=test_csv, index=index, clip=clip, world=world, informative=items_inf
    )

    n_items = len(world.items)
    out = {
        "benchmark": "bridge_synthetic",
        "note": (
            "tiny encoders (open_clip:tiny warmed up on the synthetic world, clap:tiny untrained) "
            "on a synthetic world: these numbers show the pipeline works and what each stage adds "
            "here; they say nothing about real footage or real SFX libraries"
        ),
        "seed": seed,
        "world": {
            **world.config.to_dict(),
            "items": n_items,
            "uninformative_items": int((~items_inf).sum()),
        },  # fmt: skip
        "warm_up": warm,
        "chance": {
            "R@1": 1 / n_items,
            "R@10": min(1.0, 10 / n_items),
            "MRR": float(np.mean(1 / np.arange(1, n_items + 1))),
        },  # fmt: skip
        "test_queries": ev.evaluated,
        "zero_shot": _pick(ev.results.get("zero_shot", {})),
        "trained": _pick(ev.results.get("trained", {})),
        "fused": _pick(ev.results.get("fused", {})),
        "by_title": per_kind,
        "fusion": report.fusion,
        "training": {
            k: report.training[k]
            for k in (
                "best_epoch",
                "epochs_run",
                "val_k",
                "val_recall",
                "val_mrr",
                "n_train_pairs",
                "n_val_pairs",
            )
        },
        "calibration": {
            "method": report.calibration["method"] if report.calibration else None,
            "threshold": report.calibration["threshold"] if report.calibration else None,
            "target_precision": 0.8,
            "ece_holdout_out_of_fold": report.calibration["ece"] if report.calibration else None,
            "ece_test": ev.calibration["ece"] if ev.calibration else None,
            "test_confident_fraction": ev.calibration["confident_fraction"]
            if ev.calibration
            else None,
            "test_confident_precision": ev.calibration["confident_precision"]
            if ev.calibration
            else None,
            "confident_share_in_catalog_frames": confident_share(insiders),
            "confident_share_out_of_catalog_frames": confident_share(outsiders),
        },
        "mining": mining,
        "seconds": {
            **{k: round(v, 2) for k, v in seconds.items()},
            "total": round(time.perf_counter() - t_all, 2),
        },  # fmt: skip
        "machine": {"cpus": os.cpu_count(), "torch_threads": _torch_threads()},
    }
    return out


def _rows_for(idx, world, keys: np.ndarray) -> np.ndarray:
    row_of_key = {int(Path(p).stem.split("_")[1]): r for r, p in enumerate(idx.rows["path"])}
    return np.array([row_of_key.get(int(k), -2) for k in keys])


def _per_kind(*, ev_pairs: Path, index: Path, clip, world, informative: np.ndarray) -> dict:
    """R@1 split by whether the right sound's title says what it is ("Take 07" does not)."""
    import pandas as pd

    from sfxkit.bridge.evaluate import evaluate

    df = pd.read_csv(ev_pairs)
    keys = df["sfx"].str.extract(r"sfx_(\d+)")[0].astype(int).to_numpy()
    out = {}
    for name, mask in (("informative", informative[keys]), ("take_nn", ~informative[keys])):
        if mask.sum() == 0:
            continue
        ev = evaluate(index, df[mask].reset_index(drop=True), encoders={"frame": clip},
                      progress=False)  # fmt: skip
        out[name] = {mode: round(r.get("R@1", float("nan")), 4) for mode, r in ev.results.items()}
        out[name]["queries"] = int(mask.sum())
    return out


def _pick(res: dict) -> dict:
    keys = ("R@1", "R@5", "R@10", "MRR", "median_rank", "category_hit@1", "category_hit@5")
    return {k: round(float(res[k]), 4) for k in keys if k in res}


def _torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, default=None, help="work directory to keep")
    parser.add_argument("--quick", action="store_true", help="a smaller world (smoke test)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    os.environ.setdefault("SFXKIT_PROGRESS", "0")
    work = args.keep or Path(tempfile.mkdtemp(prefix="sfxkit-bridge-"))
    work.mkdir(parents=True, exist_ok=True)
    cache = work / "cache"
    os.environ["SFXKIT_CACHE"] = str(cache)
    try:
        result = run(args.seed, work, quick=args.quick)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(result, indent=2)
    print(text)
    from sfxkit.index.store import atomic_write_text

    atomic_write_text(args.out, text + "\n")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
