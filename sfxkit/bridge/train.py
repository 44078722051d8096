"""Training the bridge heads on audio-visual pairs, and writing them into an index.

:func:`train_heads` is the array-level trainer (frame embeddings, the item of each pair, every
item's audio embedding in; :class:`TrainResult` out):

- **Loss.** Symmetric InfoNCE with a learnable temperature. Frame → sound: cross-entropy over the
  batch's distinct items (so two frames of one sound are never each other's negatives). Sound →
  frame: each item against the batch's frames, with all of its frames as positives.
- **Hard negatives.** Part of every batch (``category_fraction``) comes from one category, and
  up to ``hard_negatives`` other items of each category in the batch join as extra negatives, so
  the heads must tell a wooden door from a metal one, not only a door from rain.
- **Validation.** Pairs are split by video (no video in both halves); training stops when the
  validation R@10 (frames retrieving their sound among *all* catalog items; MRR breaks ties) has
  not improved for ``patience`` epochs, and the best epoch's weights are kept. Catalogs under
  200 items watch R@k with k = items // 20 instead (R@10 of 48 items is nearly always 1).
- **Reproducible.** Initialisation, batches and dropout come from ``seed`` (torch's global RNG is
  restored afterwards); the same inputs and seed give bit-identical heads on the same machine.

:func:`train_bridge` runs it on an index: mined pairs (and their frame embeddings from the frame
pool) in; heads, the ``bridge`` view, fusion weights and calibration out, as a new index version.
"""

from __future__ import annotations

import copy
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sfxkit._progress import track
from sfxkit.errors import InputError
from sfxkit.index.heads import BridgeHeads, HeadsConfig

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from sfxkit.bridge.calibrate import Calibration
    from sfxkit.bridge.pool import FramePool


@dataclass(frozen=True)
class TrainConfig:
    dim: int = 128
    hidden: int = 256
    dropout: float = 0.1
    lr: float = 2e-3
    weight_decay: float = 1e-4
    batch_size: int = 128
    max_epochs: int = 200
    min_epochs: int = 5
    patience: int = 20
    val_fraction: float = 0.2
    hard_negatives: int = 4
    category_fraction: float = 0.5
    temperature: float = 0.07
    seed: int = 0
    # Early stopping watches validation R@k. k = 10 as usual, but scaled down for catalogs under
    # 200 items (k = items // 20, at least 1), where nearly every frame has its sound in the top 10.
    early_stopping_k: int | None = None
    # How inputs are normalised before the heads: "standardise" (mean 0, unit variance per
    # dimension), "centre" (mean 0 only) or "none".
    input_norm: str = "standardise"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def stopping_k(self, n_items: int) -> int:
        if self.early_stopping_k is not None:
            return max(1, int(self.early_stopping_k))
        return 10 if n_items >= 200 else max(1, n_items // 20)


@dataclass(frozen=True)
class EpochLog:
    epoch: int
    loss: float
    val_recall: float  # R@k, k = TrainConfig.stopping_k(items)
    val_mrr: float
    temperature: float


@dataclass(frozen=True)
class TrainResult:
    heads: BridgeHeads
    config: TrainConfig
    history: tuple[EpochLog, ...]
    best_epoch: int
    val_k: int
    val_recall: float
    val_mrr: float
    n_train: int
    n_val: int
    val_mask: np.ndarray = field(repr=False)

    def summary(self) -> dict[str, Any]:
        return {
            "best_epoch": self.best_epoch,
            "epochs_run": len(self.history),
            f"val_R@{self.val_k}": self.val_recall,
            "val_k": self.val_k,
            "val_recall": self.val_recall,
            "val_mrr": self.val_mrr,
            "n_train_pairs": self.n_train,
            "n_val_pairs": self.n_val,
            "temperature": self.heads.temperature,
            "config": self.config.to_dict(),
        }


def split_by_group(groups: Sequence[Any], val_fraction: float, seed: int) -> np.ndarray:
    """A validation mask holding about ``val_fraction`` of the rows, whole groups at a time.

    With fewer than 2 groups rows are split individually. Returns all-False when
    ``val_fraction`` is 0 or there are too few rows to spare any.
    """
    g = np.asarray([str(x) for x in groups])
    n = len(g)
    mask = np.zeros(n, dtype=bool)
    if val_fraction <= 0 or n < 5:
        return mask
    rng = np.random.default_rng(seed)
    uniq = np.unique(g)
    if len(uniq) < 2:
        mask[rng.permutation(n)[: max(1, int(round(val_fraction * n)))]] = True
        return mask
    want = val_fraction * n
    for name in rng.permutation(uniq):
        if mask.sum() >= want:
            break
        candidate = mask | (g == name)
        if candidate.sum() > n - 2:  # always leave something to train on
            continue
        mask = candidate
    return mask


def _ranks(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """0-based rank of each row's target column (ties count against the target)."""
    own = scores[np.arange(len(targets)), targets]
    return (scores > own[:, None]).sum(axis=1)


def train_heads(
    frame_embs: np.ndarray,
    pair_items: np.ndarray,
    audio_embs: np.ndarray,
    *,
    categories: Sequence[str] | None = None,
    groups: Sequence[Any] | None = None,
    config: TrainConfig | None = None,
    image_model: str = "",
    audio_model: str = "",
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    progress: bool | None = None,
) -> TrainResult:
    """Train bridge heads on pairs ``(frame_embs[j], audio_embs[pair_items[j]])``.

    ``audio_embs`` holds *every* catalog item (validation ranks among all of them);
    ``categories`` gives each item's category (hard negatives); ``groups`` each pair's video
    (the validation split). ``validation`` = (frame embeddings, item rows) of labelled held-out
    frames: when given, early stopping watches them and every pair trains (mined validation
    pairs agree with the zero-shot scores that chose them, so they are a weak stopping signal).
    Plain arrays in and out, so it runs anywhere.
    """
    import torch
    from torch.nn import functional as F

    cfg = config or TrainConfig()
    x = np.ascontiguousarray(frame_embs, dtype=np.float32)
    items = np.asarray(pair_items, dtype=np.int64)
    audio = np.ascontiguousarray(audio_embs, dtype=np.float32)
    if x.ndim != 2 or audio.ndim != 2 or len(x) != len(items):
        raise InputError(
            f"frame embeddings {x.shape}, pair items {items.shape} and audio embeddings "
            f"{audio.shape} do not line up"
        )
    if len(items) and (items.min() < 0 or items.max() >= len(audio)):
        raise InputError("pair_items must index rows of audio_embs")
    if len(x) < 4:
        raise InputError(
            f"only {len(x)} training pairs; mine more (a larger frame pool, a lower threshold, "
            "a larger --top-m) before training"
        )
    cats = (
        np.asarray([str(c).strip().lower() for c in categories])
        if categories is not None
        else np.full(len(audio), "")
    )
    if validation is not None:
        val = np.zeros(len(x), dtype=bool)
        vx = np.ascontiguousarray(validation[0], dtype=np.float32)
        vi = np.asarray(validation[1], dtype=np.int64)
        if len(vx) != len(vi) or (len(vi) and (vi.min() < 0 or vi.max() >= len(audio))):
            raise InputError("validation frames and items do not line up with the catalog")
    else:
        val = split_by_group(
            groups if groups is not None else range(len(x)), cfg.val_fraction, cfg.seed
        )
    tr = np.nonzero(~val)[0]
    va = np.nonzero(val)[0]
    if validation is not None and len(vi):
        check_x, check_items = vx, vi
    else:
        check_x, check_items = x[va if len(va) else tr], items[va if len(va) else tr]
    image_stats = _input_stats(x[tr], cfg.input_norm)
    audio_stats = _input_stats(audio, cfg.input_norm)
    heads = BridgeHeads.create(
        HeadsConfig(
            image_dim=x.shape[1],
            audio_dim=audio.shape[1],
            dim=cfg.dim,
            hidden=cfg.hidden,
            dropout=cfg.dropout,
            image_model=image_model,
            audio_model=audio_model,
        ),
        seed=cfg.seed,
        image_stats=image_stats,
        audio_stats=audio_stats,
        temperature=cfg.temperature,
    )
    module = heads.module  # Any: submodules image/audio/logit_scale
    rng = np.random.default_rng(cfg.seed)
    by_cat: dict[str, np.ndarray] = {}
    tr_cats = cats[items[tr]]
    for c in np.unique(tr_cats):
        if c:
            by_cat[c] = tr[tr_cats == c]
    items_of_cat = {c: np.nonzero(cats == c)[0] for c in np.unique(cats) if c}

    xt = torch.from_numpy(x)
    at = torch.from_numpy(audio)
    bsz = max(2, min(cfg.batch_size, len(tr)))
    n_batches = max(1, math.ceil(len(tr) / bsz))
    history: list[EpochLog] = []
    val_k = cfg.stopping_k(len(audio))
    best: tuple[float, float] = (-1.0, -1.0)
    best_state: dict[str, Any] = copy.deepcopy(module.state_dict())
    best_epoch = 0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        opt = torch.optim.AdamW(module.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        epochs = track(
            range(cfg.max_epochs), total=cfg.max_epochs, desc="bridge", unit="epoch",
            enabled=progress,
        )  # fmt: skip
        for epoch in epochs:
            module.train()
            total = 0.0
            for _ in range(n_batches):
                batch = _batch(rng, tr, items, cats, by_cat, bsz, cfg.category_fraction)
                bi = items[batch]
                cols, inv = np.unique(bi, return_inverse=True)
                extra = _hard_negatives(rng, cols, cats, items_of_cat, cfg.hard_negatives)
                all_cols = np.concatenate([cols, extra]).astype(np.int64)
                zi = module.image(xt[batch])
                za = module.audio(at[all_cols])
                scale = module.logit_scale.clamp(max=math.log(100.0)).exp()
                logits = scale * zi @ za.T
                target = torch.from_numpy(inv.astype(np.int64))
                loss_i2a = F.cross_entropy(logits, target)
                a2i = logits[:, : len(cols)].T  # (distinct items, frames)
                pos = torch.from_numpy(inv[None, :] == np.arange(len(cols))[:, None])
                loss_a2i = (
                    torch.logsumexp(a2i, dim=1)
                    - torch.logsumexp(a2i.masked_fill(~pos, float("-inf")), dim=1)
                ).mean()
                loss = 0.5 * (loss_i2a + loss_a2i)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach())
            rk, mrr = _validate(heads, check_x, check_items, audio, val_k)
            history.append(EpochLog(epoch + 1, total / n_batches, rk, mrr, heads.temperature))
            if (rk, mrr) > best:
                best, best_epoch = (rk, mrr), epoch + 1
                best_state = copy.deepcopy(module.state_dict())
            elif epoch + 1 >= cfg.min_epochs and epoch + 1 - best_epoch >= cfg.patience:
                break
    module.load_state_dict(best_state)
    module.eval()
    return TrainResult(
        heads=heads,
        config=cfg,
        history=tuple(history),
        best_epoch=best_epoch,
        val_k=val_k,
        val_recall=best[0],
        val_mrr=best[1],
        n_train=len(tr),
        n_val=len(check_items) if validation is not None else len(va),
        val_mask=val,
    )


def _input_stats(x: np.ndarray, how: str) -> tuple[np.ndarray, np.ndarray]:
    if how == "standardise":
        return x.mean(axis=0), x.std(axis=0)
    if how == "centre":
        return x.mean(axis=0), np.full(x.shape[1], float(x.std()) or 1.0, dtype=np.float32)
    if how == "none":
        return np.zeros(x.shape[1], np.float32), np.ones(x.shape[1], np.float32)
    raise InputError(f"input_norm must be standardise, centre or none, not {how!r}")


def _batch(
    rng: np.random.Generator,
    tr: np.ndarray,
    items: np.ndarray,
    cats: np.ndarray,
    by_cat: Mapping[str, np.ndarray],
    size: int,
    category_fraction: float,
) -> np.ndarray:
    """Training pair indices: a same-category block (hard) plus random pairs."""
    n_cat = int(round(size * category_fraction)) if by_cat else 0
    chosen: list[int] = []
    if n_cat:
        anchor = int(rng.choice(tr))
        pool = by_cat.get(str(cats[items[anchor]]))
        if pool is not None and len(pool):
            take = min(n_cat, len(pool))
            chosen.extend(rng.choice(pool, size=take, replace=False).tolist())
    rest = size - len(chosen)
    chosen.extend(rng.choice(tr, size=rest, replace=len(tr) < rest).tolist())
    return np.asarray(chosen, dtype=np.int64)


def _hard_negatives(
    rng: np.random.Generator,
    cols: np.ndarray,
    cats: np.ndarray,
    items_of_cat: Mapping[str, np.ndarray],
    per_category: int,
) -> np.ndarray:
    if per_category <= 0:
        return np.zeros(0, dtype=np.int64)
    present = set(cols.tolist())
    extra: list[int] = []
    for c in {str(cats[i]) for i in cols.tolist()}:
        members = items_of_cat.get(c)
        if members is None:
            continue
        others = [int(i) for i in members if int(i) not in present]
        if others:
            k = min(per_category, len(others))
            extra.extend(rng.choice(others, size=k, replace=False).tolist())
    return np.asarray(sorted(set(extra)), dtype=np.int64)


def _validate(
    heads: BridgeHeads, x: np.ndarray, items: np.ndarray, audio: np.ndarray, k: int
) -> tuple[float, float]:
    zi = heads.embed_image(x)
    za = heads.embed_audio(audio)
    ranks = _ranks(zi @ za.T, items)
    return float(np.mean(ranks < k)), float(np.mean(1.0 / (ranks + 1)))


# =============================================================================== on an index

DEFAULT_FUSION = {"clip_text": 0.5, "bridge": 0.5}
FUSION_GRID = tuple(round(w, 2) for w in np.linspace(0.0, 1.0, 21))


@dataclass(frozen=True)
class BridgeReport:
    """What :func:`train_bridge` (or :func:`calibrate_index`) did to an index."""

    index: Path
    version: int
    pairs: int
    pairs_used: int
    skipped: tuple[tuple[str, str], ...]
    training: dict[str, Any]
    fusion: dict[str, float]
    fusion_chosen_on: str
    calibration: dict[str, Any] | None
    untrained: bool
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["index"] = str(self.index)
        d["skipped"] = [{"what": w, "reason": r} for w, r in self.skipped]
        d["notes"] = list(self.notes)
        return d


def choose_fusion(
    clip_scores: np.ndarray, bridge_scores: np.ndarray, targets: np.ndarray
) -> tuple[dict[str, float], float]:
    """The bridge weight on a 0.05 grid that maximises validation MRR (ties: more zero-shot)."""
    best_w, best_mrr = 0.0, -1.0
    for w in FUSION_GRID:
        fused = (1.0 - w) * clip_scores + w * bridge_scores
        mrr = float(np.mean(1.0 / (_ranks(fused, targets) + 1)))
        if mrr > best_mrr + 1e-12:
            best_w, best_mrr = w, mrr
    return {"clip_text": round(1.0 - best_w, 4), "bridge": round(best_w, 4)}, best_mrr


def _pairs_frame(pairs: pd.DataFrame | str | Path) -> pd.DataFrame:
    from sfxkit.bridge.mine import read_pairs

    if isinstance(pairs, (str, Path)):
        return read_pairs(pairs)
    return pairs.reset_index(drop=True)


def train_bridge(
    index: str | Path,
    pairs: pd.DataFrame | str | Path,
    *,
    pool: FramePool | str | Path | None = None,
    holdout: Any = None,
    config: TrainConfig | None = None,
    target_precision: float = 0.8,
    calibration_method: str = "auto",
    encoders: Mapping[str, Any] | None = None,
    device: str | None = None,
    video_root: str | Path | None = None,
    progress: bool | None = None,
    lock_timeout: float | None = None,
) -> BridgeReport:
    """Train heads on ``pairs`` (mined Parquet or a DataFrame with item_id, video, time) and
    commit them to ``index`` with the ``bridge`` view, fusion weights and calibration.

    Frame embeddings come from ``pool`` when it holds the frame; other frames are decoded and
    embedded with the index's CLIP model (unreadable ones are skipped and reported).

    ``holdout``: labelled pairs (a CSV/Parquet path, a DataFrame, or a list of
    :class:`sfxkit.bridge.evaluate.EvalPair`) from videos not used for mining. Fusion weights are
    chosen on it (grid search on MRR) and calibration is fitted on it. Without it, fusion stays
    at :data:`DEFAULT_FUSION` (mined validation pairs were chosen *by* zero-shot scores, so they
    would favour them) and calibration uses the mined validation pairs, labelled
    ``labels: "mined"`` in the manifest.
    """
    from sfxkit.bridge.calibrate import calibration_data, fit_calibration
    from sfxkit.bridge.evaluate import fuse, load_eval_pairs, resolve_targets, score_matrices
    from sfxkit.index.derive import (
        BRIDGE_FILES,
        BRIDGE_VIEW,
        BRIDGE_VIEW_FILES,
        commit_derived_version,
    )
    from sfxkit.index.store import load_index

    cfg = config or TrainConfig()
    idx = load_index(index, views=[])
    views = idx.manifest.views
    for needed in ("clip_text", "clap_audio"):
        if needed not in views:
            raise InputError(f"{idx.root}: the index has no '{needed}' view; rebuild it")
    image_model = views["clip_text"].model
    audio_model = views["clap_audio"].model
    df = _pairs_frame(pairs)
    missing_cols = {"item_id", "video", "time"} - set(df.columns)
    if missing_cols:
        raise InputError(f"pairs need columns item_id, video, time; missing {sorted(missing_cols)}")
    n_input = len(df)
    row_of = {str(i): r for r, i in enumerate(idx.rows["id"].tolist())}
    skipped: list[tuple[str, str]] = []
    keep = []
    for j, item_id in enumerate(df["item_id"].astype(str).tolist()):
        if item_id in row_of:
            keep.append(j)
        else:
            skipped.append((f"pair {j} (item {item_id})", "item not in this index version"))
    df = df.iloc[keep].reset_index(drop=True)

    frame_embs, ok, failures = _pair_frame_embeddings(
        df, pool, image_model, encoders, device, video_root, progress
    )
    skipped.extend(failures)
    df = df[ok].reset_index(drop=True)
    frame_embs = frame_embs[ok]
    pair_items = np.array([row_of[str(i)] for i in df["item_id"].astype(str)], dtype=np.int64)
    audio = np.asarray(idx.vectors("clap_audio").vectors, dtype=np.float32)
    clip_text = np.asarray(idx.vectors("clip_text").vectors, dtype=np.float32)
    categories = idx.rows["category"].fillna("").astype(str).tolist()
    result = train_heads(
        frame_embs,
        pair_items,
        audio,
        categories=categories,
        groups=df["video"].astype(str).tolist(),
        config=cfg,
        image_model=image_model,
        audio_model=audio_model,
        progress=progress,
    )
    heads = result.heads
    bridge_vectors = heads.embed_audio(audio)

    # Fusion weights and calibration: labelled hold-out pairs when given, else mined validation.
    notes: list[str] = []
    if holdout is not None:
        hold = load_eval_pairs(holdout, video_root=video_root)
        h_embs, h_ok, h_fail = _embed_eval_frames(hold, image_model, encoders, device, progress)
        skipped.extend(h_fail)
        targets = resolve_targets([p for p, good in zip(hold, h_ok, strict=True) if good], idx)
        valid = targets >= 0
        h_embs, targets = h_embs[h_ok][valid], targets[valid]
        if len(targets) == 0:
            raise InputError("none of the hold-out pairs names a sound in this index")
        source = "labelled"
    else:
        h_embs = frame_embs[result.val_mask]
        targets = pair_items[result.val_mask]
        source = "mined"
        if len(targets) == 0:
            h_embs, targets = frame_embs, pair_items
            notes.append("too few pairs for a validation split: calibrated on training pairs")
    mats = score_matrices(h_embs, clip_text, bridge_vectors, heads)
    if source == "labelled":
        fusion, _ = choose_fusion(mats["clip_text"], mats["bridge"], targets)
        chosen_on = f"labelled hold-out pairs ({len(targets)}), best MRR"
    else:
        fusion = dict(DEFAULT_FUSION)
        chosen_on = "default (no labelled hold-out pairs given)"
    fused = fuse(mats, fusion)
    calibration: Calibration | None = fit_calibration(
        calibration_data(fused, targets),
        method=calibration_method,
        target_precision=target_precision,
        weights=fusion,
        labels=source,
        seed=cfg.seed,
    )
    if source == "mined":
        notes.append(
            "calibration fitted on mined validation pairs (noisy labels); pass labelled "
            "hold-out pairs (--holdout) for a trustworthy threshold"
        )

    untrained_inputs = bool(views["clip_text"].untrained or views["clap_audio"].untrained)
    extra = {
        "training": result.summary(),
        "pairs": int(len(df)),
        "directions": df["direction"].value_counts().to_dict() if "direction" in df else {},
    }
    heads = BridgeHeads(
        HeadsConfig(**{**heads.config.__dict__, "extra": extra}), heads.module
    )  # fmt: skip

    searched: dict[str, Any] = {}

    def write(w: Any) -> None:
        from sfxkit.index.tune import build_tuned
        from sfxkit.index.views import choose_preset

        w.write_bytes(BRIDGE_FILES[0], heads.state_bytes())
        w.write_bytes(BRIDGE_FILES[1], heads.config_bytes())
        ids = idx.faiss_ids
        vi, fields, warning = build_tuned(
            bridge_vectors, ids, choose_preset(len(ids)), name=BRIDGE_VIEW
        )
        searched.update(fields)
        if warning:
            print(f"note: {warning}", file=sys.stderr)
        w.write_bytes(BRIDGE_VIEW_FILES[0], vi.to_bytes())
        w.write_vectors(BRIDGE_VIEW_FILES[1], bridge_vectors)

    def update(raw: dict[str, Any]) -> dict[str, Any]:
        from sfxkit.index.views import choose_preset

        n = len(idx.faiss_ids)
        raw["views"][BRIDGE_VIEW] = {
            "model": heads.model_id,
            "tower": "bridge",
            "source": "clap_audio",
            "dim": int(bridge_vectors.shape[1]),
            "count": n,
            "factory": choose_preset(n).factory_for(n),
            # Heads on top of untrained toy encoders are as meaningless as the encoders.
            "untrained": untrained_inputs,
            **searched,
        }
        raw["bridge"] = {
            "heads": BRIDGE_FILES[0],
            "config": BRIDGE_FILES[1],
            "image_model": image_model,
            "audio_model": audio_model,
            "pairs": int(len(df)),
            "training": result.summary(),
            "fusion_chosen_on": chosen_on,
        }
        frame = dict(raw.get("fusion", {}))
        frame["frame"] = dict(fusion)
        raw["fusion"] = frame
        raw["calibration"] = calibration.to_dict() if calibration else None
        return raw

    version = commit_derived_version(
        index,
        expected_version=idx.version,
        write=write,
        update_manifest=update,
        lock_timeout=lock_timeout,
    )
    return BridgeReport(
        index=idx.root,
        version=version,
        pairs=n_input,
        pairs_used=int(len(df)),
        skipped=tuple(skipped),
        training=result.summary(),
        fusion=fusion,
        fusion_chosen_on=chosen_on,
        calibration=calibration.to_dict() if calibration else None,
        untrained=untrained_inputs,
        notes=tuple(notes),
    )


def _pair_frame_embeddings(
    df: pd.DataFrame,
    pool: FramePool | str | Path | None,
    image_model: str,
    encoders: Mapping[str, Any] | None,
    device: str | None,
    video_root: str | Path | None,
    progress: bool | None,
) -> tuple[np.ndarray, np.ndarray, list[tuple[str, str]]]:
    """Embeddings for each pair's frame: from the pool where it has them, else decoded."""
    from sfxkit.bridge.evaluate import EvalPair
    from sfxkit.bridge.pool import FramePool

    fp = FramePool.load(pool) if isinstance(pool, (str, Path)) else pool
    if fp is not None and fp.model != image_model:
        raise InputError(
            f"the frame pool was embedded with {fp.model} but the index's clip_text view uses "
            f"{image_model}; rebuild the pool with the index's model"
        )
    n = len(df)
    out: np.ndarray | None = None
    found = np.zeros(n, dtype=bool)
    videos = df["video"].astype(str).tolist()
    times = df["time"].astype(float).tolist()
    if fp is not None:
        rows = [fp.lookup(v, t) for v, t in zip(videos, times, strict=True)]
        found = np.array([r is not None for r in rows], dtype=bool)
        out = np.zeros((n, fp.embeddings.shape[1]), dtype=np.float32)
        if found.any():
            out[found] = fp.embeddings[[r for r in rows if r is not None]]
    todo = [j for j in range(n) if not found[j]]
    ok = found.copy()
    failures: list[tuple[str, str]] = []
    if todo:
        pairs = [EvalPair(video=videos[j], time=times[j], item=None) for j in todo]
        if video_root is not None:
            pairs = [p.resolved(video_root) for p in pairs]
        embs, good, fails = _embed_eval_frames(pairs, image_model, encoders, device, progress)
        failures.extend(fails)
        if out is None:
            out = np.zeros((n, embs.shape[1]), dtype=np.float32)
        for j, e, g in zip(todo, embs, good, strict=True):
            if g:
                out[j] = e
                ok[j] = True
    assert out is not None
    return out, ok, failures


def _embed_eval_frames(
    pairs: Sequence[Any],
    image_model: str,
    encoders: Mapping[str, Any] | None,
    device: str | None,
    progress: bool | None,
) -> tuple[np.ndarray, np.ndarray, list[tuple[str, str]]]:
    from sfxkit.bridge.evaluate import embed_pair_frames

    enc = dict(encoders or {}).get("frame")
    if enc is None:
        from sfxkit.models.registry import load_frame_encoder

        enc = load_frame_encoder(image_model, device=device)
    return embed_pair_frames(pairs, enc, progress=progress)


def _embed_av_frames(
    pairs: Sequence[Any],
    idx: Any,
    encoders: Mapping[str, Any] | None,
    device: str | None,
    progress: bool | None,
) -> np.ndarray | None:
    """PE-AV video embeddings of each hold-out frame (a still clip), when the index has a
    ``pe_audio`` view: frame queries search it, so the calibration must see its scores."""
    if "pe_audio" not in idx.manifest.views:
        return None
    from sfxkit.bridge.evaluate import embed_pair_frames

    enc = dict(encoders or {}).get("av")
    if enc is None:
        from sfxkit.models.registry import load_av_encoder

        enc = load_av_encoder(idx.manifest.views["pe_audio"].model, device=device)
    return embed_pair_frames(pairs, enc, progress=progress)[0]


def _with_pe_audio(fusion: Mapping[str, float], views: Mapping[str, Any]) -> dict[str, float]:
    """Frame fusion weights with ``pe_audio`` at the CLIP views' total weight — unless one side
    is an untrained (tiny) model and the other a real one: then only the real side counts."""
    clip_side = {v: float(w) for v, w in fusion.items() if float(w) > 0}
    pe_untrained = bool(views["pe_audio"].untrained)
    clip_untrained = any(views[v].untrained for v in clip_side if v in views)
    if pe_untrained and not clip_untrained:
        return dict(clip_side)
    if clip_untrained and not pe_untrained:
        return {"pe_audio": 1.0}
    return {**clip_side, "pe_audio": sum(clip_side.values()) or 1.0}


def calibrate_index(
    index: str | Path,
    holdout: Any,
    *,
    target_precision: float = 0.8,
    method: str = "auto",
    choose_weights: bool = True,
    encoders: Mapping[str, Any] | None = None,
    device: str | None = None,
    video_root: str | Path | None = None,
    progress: bool | None = None,
    lock_timeout: float | None = None,
) -> BridgeReport:
    """(Re)fit fusion weights and calibration of an index on labelled hold-out pairs."""
    from sfxkit.bridge.calibrate import calibration_data, fit_calibration
    from sfxkit.bridge.evaluate import fuse, load_eval_pairs, resolve_targets, score_matrices
    from sfxkit.index.derive import commit_derived_version
    from sfxkit.index.heads import load_heads_from_index
    from sfxkit.index.store import load_index

    idx = load_index(index, views=[])
    views = idx.manifest.views
    image_model = views["clip_text"].model
    hold = load_eval_pairs(holdout, video_root=video_root)
    embs, ok, fails = _embed_eval_frames(hold, image_model, encoders, device, progress)
    targets = resolve_targets([p for p, g in zip(hold, ok, strict=True) if g], idx)
    av_embs = _embed_av_frames(hold, idx, encoders, device, progress)
    if av_embs is not None:
        av_embs = av_embs[ok][targets >= 0]
    embs = embs[ok][targets >= 0]
    targets = targets[targets >= 0]
    if len(targets) == 0:
        raise InputError("none of the hold-out pairs names a sound in this index")
    clip_text = np.asarray(idx.vectors("clip_text").vectors, dtype=np.float32)
    heads = load_heads_from_index(idx) if "bridge" in views else None
    bridge = np.asarray(idx.vectors("bridge").vectors, dtype=np.float32) if heads else None
    mats = score_matrices(embs, clip_text, bridge, heads)
    if av_embs is not None:
        mats["pe_audio"] = av_embs @ np.asarray(idx.vectors("pe_audio").vectors, dtype=np.float32).T
    stored = (idx.manifest.get("fusion") or {}).get("frame")
    if heads is None:
        fusion = {"clip_text": 1.0}
        chosen_on = "zero-shot only (no bridge heads)"
    elif choose_weights:
        fusion, _ = choose_fusion(mats["clip_text"], mats["bridge"], targets)
        chosen_on = f"labelled hold-out pairs ({len(targets)}), best MRR"
    else:
        fusion = dict(stored or DEFAULT_FUSION)
        chosen_on = "kept"
    if "pe_audio" in mats:
        fusion = _with_pe_audio(fusion, views)
        chosen_on += "; pe_audio (PE-AV video→audio) fused at the weight of the CLIP views"
    fused = fuse(mats, fusion)
    cal = fit_calibration(
        calibration_data(fused, targets),
        method=method,
        target_precision=target_precision,
        weights=fusion,
        labels="labelled",
    )

    def update(raw: dict[str, Any]) -> dict[str, Any]:
        frame = dict(raw.get("fusion", {}))
        frame["frame"] = dict(fusion)
        raw["fusion"] = frame
        raw["calibration"] = cal.to_dict()
        if "bridge" in raw:
            raw["bridge"] = {**raw["bridge"], "fusion_chosen_on": chosen_on}
        return raw

    version = commit_derived_version(
        index,
        expected_version=idx.version,
        write=lambda w: None,
        update_manifest=update,
        lock_timeout=lock_timeout,
    )
    return BridgeReport(
        index=idx.root,
        version=version,
        pairs=len(hold),
        pairs_used=int(len(targets)),
        skipped=tuple(fails),
        training={},
        fusion=fusion,
        fusion_chosen_on=chosen_on,
        calibration=cal.to_dict(),
        untrained=bool(idx.manifest.untrained),
    )
