"""Evaluation on held-out pairs: does a frame retrieve the sound that belongs to it?

For each pair (a frame of a video, the right sound), the frame is embedded with the index's CLIP
model and every catalog item is scored three ways, side by side:

- ``zero_shot``: CLIP image vs the ``clip_text`` view (item descriptions), no training;
- ``trained``: the bridge heads (``bridge`` view);
- ``fused``: the index's stored frame fusion weights over both (what ``recommend`` uses).

Metrics per mode: R@1/5/10 (the right sound is in the top k), MRR, median rank (1 = first), and
category hit@k (some item of the right *category* is in the top k: matching the category or
subcategory, case-insensitive). When the index is calibrated, the report also gives the
expected calibration error of the stored probabilities on these pairs and the precision of the
results it would call confident.

**Pairs file (what real-data evaluation needs).** A CSV (or Parquet) with one row per frame:

=================  ==========================================================================
column             meaning (first matching header wins, case-insensitive)
=================  ==========================================================================
video              ``video``, ``video_path``, ``file``, ``clip``, ``ytid``, ``youtube_id``:
                   a path, absolute or relative to ``--video-root`` (default: the CSV's folder)
time               ``time``, ``seconds``, ``timestamp``: seconds into the video; or
                   ``start``/``end`` (``start_seconds``/``end_seconds``): their midpoint
sound              ``sfx``, ``sfx_id``, ``item_id``, ``id``, ``sound``, ``sfx_path``, ``audio``:
                   an item id, or the sound's path or file name in the catalog
category           ``label``, ``category``, ``class``: scored by category hit@k only, when the
                   row names no sound
=================  ==========================================================================

A header-less VGGSound CSV (``ytid,start_seconds,label,split``) is read too: the video is
``<video-root>/<ytid>_<start:06d>.mp4`` (a pre-cut 10 s clip, frame at 5 s) if it exists, else
``<video-root>/<ytid>.mp4`` (frame at ``start + 5`` s), and the label is the category. VGGSound
names classes, not sounds, so it measures category hit@k; a real evaluation of *sound* retrieval
needs rows that name the right catalog sound for each frame, e.g. a few hundred frames from your
own productions with the SFX an editor actually used. Run::

    sfxkit eval IDX --pairs held_out.csv [--video-root DIR] [--json] [--out report.json]

Rows whose video or sound cannot be found are skipped and listed; the rest are evaluated.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sfxkit._progress import track
from sfxkit.errors import InputError, MediaError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from sfxkit.index.heads import BridgeHeads
    from sfxkit.index.store import LoadedIndex

DEFAULT_KS = (1, 5, 10)
MODES = ("zero_shot", "trained", "fused")
_VIDEO_COLS = ("video", "video_path", "path_video", "file", "clip", "ytid", "youtube_id", "vid")
_TIME_COLS = ("time", "t", "seconds", "second", "timestamp", "frame_time")
_START_COLS = ("start", "start_seconds", "start_time", "begin")
_END_COLS = ("end", "end_seconds", "end_time", "stop")
_ITEM_COLS = ("sfx", "sfx_id", "item_id", "item", "id", "sound", "sound_id", "sfx_path",
              "sound_path", "audio", "audio_path", "path")  # fmt: skip
_CATEGORY_COLS = ("label", "category", "class", "sfx_category")
VGGSOUND_CLIP_MIDDLE = 5.0


@dataclass(frozen=True)
class EvalPair:
    """One held-out frame and what should be retrieved for it."""

    video: str
    time: float
    item: str | None = None  # item id, or the sound's path / file name
    category: str | None = None

    def resolved(self, root: str | Path) -> EvalPair:
        p = Path(self.video).expanduser()
        if not p.is_absolute():
            p = Path(root).expanduser() / p
        return EvalPair(str(p), self.time, self.item, self.category)


# ------------------------------------------------------------------------------- loading


def _pick(columns: Sequence[str], names: Sequence[str]) -> str | None:
    lower = {c.strip().lower(): c for c in columns}
    return next((lower[n] for n in names if n in lower), None)


def _is_number(text: Any) -> bool:
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True


def _vggsound_rows(rows: list[list[str]], root: Path) -> list[EvalPair]:
    out = []
    for row in rows:
        if len(row) < 3 or not row[0].strip():
            continue
        ytid, start, label = row[0].strip(), float(row[1]), row[2].strip()
        clip = root / f"{ytid}_{int(start):06d}.mp4"
        if clip.exists():
            out.append(EvalPair(str(clip), VGGSOUND_CLIP_MIDDLE, None, label))
        else:
            out.append(
                EvalPair(str(root / f"{ytid}.mp4"), start + VGGSOUND_CLIP_MIDDLE, None, label)
            )
    return out


def _from_frame(df: pd.DataFrame, root: Path, where: str) -> list[EvalPair]:
    cols = list(df.columns)
    vcol = _pick(cols, _VIDEO_COLS)
    tcol = _pick(cols, _TIME_COLS)
    scol, ecol = _pick(cols, _START_COLS), _pick(cols, _END_COLS)
    icol = _pick(cols, _ITEM_COLS)
    ccol = _pick(cols, _CATEGORY_COLS)
    if vcol is None:
        raise InputError(f"{where}: no video column; name one of {', '.join(_VIDEO_COLS)}")
    if tcol is None and scol is None:
        raise InputError(
            f"{where}: no time column; add 'time' (seconds) or 'start'/'end' (midpoint is used)"
        )
    if icol is None and ccol is None:
        raise InputError(
            f"{where}: no sound column; add 'sfx' (an item id or the sound's path) or 'label'"
        )
    out = []
    for rec in df.to_dict("records"):
        if tcol is not None and _is_number(rec.get(tcol)):
            t = float(rec[tcol])
        elif scol is not None and _is_number(rec.get(scol)):
            start = float(rec[scol])
            end = float(rec[ecol]) if ecol is not None and _is_number(rec.get(ecol)) else None
            t = 0.5 * (start + end) if end is not None else start
        else:
            raise InputError(f"{where}: row {rec} has no usable time")
        item = rec.get(icol) if icol else None
        cat = rec.get(ccol) if ccol else None
        out.append(
            EvalPair(
                str(rec[vcol]),
                t,
                str(item).strip()
                if item is not None and str(item).strip() not in {"", "nan"}
                else None,
                str(cat).strip()
                if cat is not None and str(cat).strip() not in {"", "nan"}
                else None,
            ).resolved(root)
        )
    return out


def load_eval_pairs(source: Any, *, video_root: str | Path | None = None) -> list[EvalPair]:
    """Held-out pairs from a CSV/Parquet path, a DataFrame, or a list of :class:`EvalPair` /
    dicts / ``(video, time, item)`` tuples. See the module docstring for the columns."""
    import pandas as pd

    if isinstance(source, (str, Path)):
        p = Path(source).expanduser()
        if not p.is_file():
            raise InputError(f"{p}: no such pairs file")
        root = Path(video_root).expanduser() if video_root is not None else p.parent
        if p.suffix.lower() in {".parquet", ".pq"}:
            return _from_frame(pd.read_parquet(p), root, str(p))
        with open(p, newline="", encoding="utf-8-sig") as f:
            rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
        if not rows:
            raise InputError(f"{p}: the pairs file is empty")
        first = rows[0]
        if len(first) >= 2 and _is_number(first[1]):
            # No header. VGGSound's own file is "ytid,start_seconds,label,split" (ids, no suffix).
            if len(first) in (3, 4) and not Path(first[0]).suffix:
                return _vggsound_rows(rows, root)
            raise InputError(
                f"{p}: the first row is data, not a header; add a header line such as "
                "'video,time,sfx' (see `sfxkit eval --help`)"
            )
        header, body = rows[0], rows[1:]
        return _from_frame(pd.DataFrame(body, columns=header), root, str(p))
    root = Path(video_root).expanduser() if video_root is not None else Path.cwd()
    if isinstance(source, pd.DataFrame):
        return _from_frame(source, root, "pairs table")
    out = []
    for k, x in enumerate(source):
        if isinstance(x, EvalPair):
            out.append(x.resolved(root) if video_root is not None else x)
        elif isinstance(x, Mapping):
            out.extend(_from_frame(pd.DataFrame([dict(x)]), root, f"pairs[{k}]"))
        elif isinstance(x, (tuple, list)) and len(x) >= 2:
            item = str(x[2]) if len(x) > 2 and x[2] is not None else None
            out.append(EvalPair(str(x[0]), float(x[1]), item).resolved(root))
        else:
            raise InputError(f"pairs[{k}] is {x!r}; use (video, time, sound) or a dict")
    return out


def resolve_targets(pairs: Sequence[EvalPair], index: LoadedIndex) -> np.ndarray:
    """Row of each pair's sound in the index (-1 when it names none, or one not in the index).

    A sound is matched by item id, then by any of the item's file paths, then by file name or
    file stem when exactly one item has it.
    """
    rows = index.rows
    by_id = {str(i): r for r, i in enumerate(rows["id"].tolist())}
    by_path: dict[str, int] = {}
    by_name: dict[str, list[int]] = {}
    for r, paths in enumerate(rows["paths"].tolist()):
        for p in list(paths):
            by_path[str(Path(p).expanduser().resolve())] = r
            name = Path(p).name.lower()
            by_name.setdefault(name, []).append(r)
            by_name.setdefault(Path(p).stem.lower(), []).append(r)
    out = np.full(len(pairs), -1, dtype=np.int64)
    for k, pair in enumerate(pairs):
        if not pair.item:
            continue
        key = pair.item.strip()
        if key.lower() in by_id:
            out[k] = by_id[key.lower()]
            continue
        resolved = str(Path(key).expanduser().resolve())
        if resolved in by_path:
            out[k] = by_path[resolved]
            continue
        hits = set(by_name.get(Path(key).name.lower(), []))
        if len(hits) == 1:
            out[k] = hits.pop()
    return out


# ------------------------------------------------------------------------------ embedding


def embed_pair_frames(
    pairs: Sequence[EvalPair],
    encoder: Any,
    *,
    max_side: int | None = 336,
    progress: bool | None = None,
) -> tuple[np.ndarray, np.ndarray, list[tuple[str, str]]]:
    """CLIP image embeddings of each pair's frame (decoded video by video; one pass each).

    Returns (embeddings, ok mask, failures); rows of unreadable videos are zero and not ok.
    """
    from sfxkit.media.frames import frames_at

    dim = int(encoder.dim)
    out = np.zeros((len(pairs), dim), dtype=np.float32)
    ok = np.zeros(len(pairs), dtype=bool)
    failures: list[tuple[str, str]] = []
    by_video: dict[str, list[int]] = {}
    for k, p in enumerate(pairs):
        by_video.setdefault(p.video, []).append(k)
    for video, ks in track(list(by_video.items()), total=len(by_video), desc="eval frames",
                           unit="video", enabled=progress):  # fmt: skip
        try:
            frames = frames_at(video, [pairs[k].time for k in ks], max_side=max_side)
        except (MediaError, InputError) as exc:
            failures.append((video, getattr(exc, "reason", str(exc))))
            continue
        out[ks] = encoder.encode_images(list(frames))
        ok[ks] = True
    return out, ok, failures


def score_matrices(
    image_embs: np.ndarray,
    clip_text: np.ndarray,
    bridge: np.ndarray | None = None,
    heads: BridgeHeads | None = None,
) -> dict[str, np.ndarray]:
    """Full ``(queries, items)`` score matrices per view, as the recommender computes them."""
    q = np.asarray(image_embs, dtype=np.float32)
    out = {"clip_text": q @ np.asarray(clip_text, dtype=np.float32).T}
    if bridge is not None and heads is not None:
        out["bridge"] = heads.embed_image(q) @ np.asarray(bridge, dtype=np.float32).T
    return out


def fuse(matrices: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    live = {v: float(w) for v, w in weights.items() if float(w) > 0 and v in matrices}
    if not live:
        raise InputError(f"no fusion weight applies to the views {sorted(matrices)}")
    total = sum(live.values())
    out = np.zeros_like(next(iter(matrices.values())), dtype=np.float64)
    for v, w in live.items():
        out += w * matrices[v]
    return out / total


# -------------------------------------------------------------------------------- metrics


def rank_metrics(
    scores: np.ndarray,
    targets: np.ndarray,
    *,
    item_categories: Sequence[str] | None = None,
    target_categories: Sequence[str | None] | None = None,
    ks: Sequence[int] = DEFAULT_KS,
) -> dict[str, Any]:
    """R@k, MRR and median rank over queries with a target (``>= 0``); category hit@k over
    queries with a target category. Ranks are 1-based; ties count against the target."""
    s = np.asarray(scores, dtype=np.float64)
    t = np.asarray(targets, dtype=np.int64)
    out: dict[str, Any] = {}
    has = t >= 0
    out["queries"] = int(has.sum())
    if has.any():
        own = s[has, t[has]]
        ranks = (s[has] > own[:, None]).sum(axis=1) + 1
        for k in ks:
            out[f"R@{k}"] = float(np.mean(ranks <= k))
        out["MRR"] = float(np.mean(1.0 / ranks))
        out["median_rank"] = float(np.median(ranks))
    if item_categories is not None and target_categories is not None:
        cats = np.asarray([str(c or "").strip().lower() for c in item_categories])
        want = [str(c or "").strip().lower() for c in target_categories]
        rows = [q for q, c in enumerate(want) if c]
        out["category_queries"] = len(rows)
        if rows:
            order = np.argsort(-s[rows], axis=1, kind="stable")
            for k in ks:
                top = cats[order[:, :k]]
                hits = [want[q] in set(top[j].tolist()) for j, q in enumerate(rows)]
                out[f"category_hit@{k}"] = float(np.mean(hits))
    return out


# --------------------------------------------------------------------------------- report


@dataclass(frozen=True)
class EvalReport:
    index: Path
    version: int
    pairs: int
    evaluated: int
    skipped: tuple[tuple[str, str], ...]
    results: dict[str, dict[str, Any]]
    fusion: dict[str, float]
    untrained: bool
    chance: dict[str, float]
    calibration: dict[str, Any] | None = None
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["index"] = str(self.index)
        d["skipped"] = [{"what": w, "reason": r} for w, r in self.skipped]
        d["notes"] = list(self.notes)
        return d

    def table(self) -> str:
        """The results as an aligned plain-text table (modes as columns)."""
        modes = list(self.results)
        keys: list[str] = []
        for m in modes:
            keys.extend(k for k in self.results[m] if k not in keys and k != "queries")
        width = max([len(k) for k in keys] + [8])
        lines = [f"{'metric':<{width}}  " + "  ".join(f"{m:>10}" for m in modes)]
        for k in keys:
            cells = []
            for m in modes:
                v = self.results[m].get(k)
                cells.append(f"{v:>10.3f}" if isinstance(v, float) else f"{'-':>10}")
            lines.append(f"{k:<{width}}  " + "  ".join(cells))
        if self.chance:
            lines.append("chance: " + ", ".join(f"{k} {v:.3f}" for k, v in self.chance.items()))
        return "\n".join(lines)


def evaluate(
    index: str | Path | LoadedIndex,
    pairs: Any,
    *,
    modes: Sequence[str] | None = None,
    ks: Sequence[int] = DEFAULT_KS,
    video_root: str | Path | None = None,
    encoders: Mapping[str, Any] | None = None,
    device: str | None = None,
    progress: bool | None = None,
) -> EvalReport:
    """Evaluate an index on held-out pairs (a pairs file, a DataFrame, or a list of pairs)."""
    from sfxkit.bridge.calibrate import Calibration, calibration_data, expected_calibration_error
    from sfxkit.index.store import LoadedIndex, load_index

    idx = index if isinstance(index, LoadedIndex) else load_index(index, views=[])
    views = idx.manifest.views
    pair_list = load_eval_pairs(pairs, video_root=video_root)
    if not pair_list:
        raise InputError("no pairs to evaluate")
    targets_all = resolve_targets(pair_list, idx)
    skipped: list[tuple[str, str]] = []
    usable = []
    for k, (p, t) in enumerate(zip(pair_list, targets_all, strict=True)):
        if t < 0 and not p.category:
            skipped.append((f"pair {k} ({p.item})", "the sound is not in this index"))
        else:
            usable.append(k)
    enc = dict(encoders or {}).get("frame")
    if enc is None:
        from sfxkit.models.registry import load_frame_encoder

        enc = load_frame_encoder(views["clip_text"].model, device=device)
    chosen = [pair_list[k] for k in usable]
    embs, ok, failures = embed_pair_frames(chosen, enc, progress=progress)
    skipped.extend(failures)
    keep = [usable[j] for j in range(len(usable)) if ok[j]]
    embs = embs[ok]
    targets = targets_all[keep]
    item_cats = idx.rows["category"].fillna("").astype(str).tolist()
    item_subcats = idx.rows["subcategory"].fillna("").astype(str).tolist()
    target_cats: list[str | None] = []
    for k, t in zip(keep, targets, strict=True):
        target_cats.append(item_cats[t] if t >= 0 else pair_list[k].category)
    heads = None
    if "bridge" in views:
        from sfxkit.index.heads import load_heads_from_index

        heads = load_heads_from_index(idx)
    mats = score_matrices(
        embs,
        idx.vectors("clip_text").vectors,
        idx.vectors("bridge").vectors if heads is not None else None,
        heads,
    )
    fusion = dict((idx.manifest.get("fusion") or {}).get("frame") or {"clip_text": 1.0})
    available = {"zero_shot": "clip_text", "trained": "bridge"}
    wanted = list(modes) if modes is not None else list(MODES)
    results: dict[str, dict[str, Any]] = {}
    score_by_mode: dict[str, np.ndarray] = {}
    for mode in wanted:
        if mode == "fused":
            if heads is None:
                continue
            score_by_mode[mode] = fuse(mats, fusion)
        elif mode in available:
            view = available[mode]
            if view not in mats:
                continue
            score_by_mode[mode] = mats[view]
        else:
            raise InputError(f"unknown mode {mode!r}; use {', '.join(MODES)}")
    n_cat_queries = sum(1 for c in target_cats if c and str(c).strip())
    for mode, s in score_by_mode.items():
        res = rank_metrics(s, targets, ks=ks)
        if n_cat_queries:
            res["category_queries"] = n_cat_queries
            for k in ks:
                # A hit on the item's category or on its subcategory counts.
                res[f"category_hit@{k}"] = _either_hit(s, item_cats, item_subcats, target_cats, k)
        results[mode] = res
    n_items = len(idx.faiss_ids)
    chance = {f"R@{k}": min(1.0, k / n_items) for k in ks}
    chance["MRR"] = float(np.mean(1.0 / np.arange(1, n_items + 1))) if n_items else 0.0

    calibration = None
    raw_cal = idx.manifest.get("calibration")
    if raw_cal and "fused" in score_by_mode and (targets >= 0).any():
        cal = Calibration.from_dict(raw_cal)
        if cal.applies_to(fusion):
            data = calibration_data(score_by_mode["fused"], targets, k=cal.top_k)
            probs = cal.probabilities(data.scores)
            confident = (
                data.top1_scores >= cal.threshold
                if cal.threshold is not None
                else np.zeros(len(data.top1_scores), dtype=bool)
            )
            calibration = {
                "ece": expected_calibration_error(probs, data.labels),
                "threshold": cal.threshold,
                "target_precision": cal.target_precision,
                "confident_fraction": float(confident.mean()),
                "confident_precision": (
                    float(data.top1_labels[confident].mean()) if confident.any() else None
                ),
                "fitted_on": cal.labels,
            }
    notes = []
    if idx.manifest.untrained:
        notes.append("tiny UNTRAINED encoders: these numbers say nothing about real retrieval")
    return EvalReport(
        index=idx.root,
        version=idx.version,
        pairs=len(pair_list),
        evaluated=len(keep),
        skipped=tuple(skipped),
        results=results,
        fusion=fusion,
        untrained=bool(idx.manifest.untrained),
        chance=chance,
        calibration=calibration,
        notes=tuple(notes),
    )


def _either_hit(
    scores: np.ndarray,
    cats: Sequence[str],
    subcats: Sequence[str],
    want: Sequence[str | None],
    k: int,
) -> float:
    c = np.asarray([x.strip().lower() for x in cats])
    sc = np.asarray([x.strip().lower() for x in subcats])
    rows = [q for q, w in enumerate(want) if w and str(w).strip()]
    if not rows:
        return math.nan
    order = np.argsort(-scores[rows], axis=1, kind="stable")[:, :k]
    hits = []
    for j, q in enumerate(rows):
        w = str(want[q]).strip().lower()
        hits.append(bool(np.any(c[order[j]] == w) or np.any(sc[order[j]] == w)))
    return float(np.mean(hits))
