"""Pair mining: audio-visual training pairs from the catalog and the user's own videos, found
through language, with no human labelling.

**Describe → match (text → image).** Every catalog item has visual descriptions (its
``clip_text`` vector is their mean CLIP text embedding). They are matched against the frame pool
(CLIP image embeddings of frames sampled per shot) by cosine similarity, re-scored with CSLS
(cross-domain similarity local scaling: ``2·cos − r_item − r_frame``, each ``r`` the mean cosine
to its ``csls_k`` nearest neighbours on the other side) so that "hub" descriptions that are close
to every frame do not collect all the pairs. A pair (item, frame) is kept when:

1. it is **mutual**: the frame is among the item's ``top_m`` frames (counting at most
   ``max_per_item_video`` frames of one video) *and* the item is among the frame's
   ``frame_top`` items;
2. its cosine is at least ``threshold`` (``"auto"``: the mean plus one standard deviation of all
   item-frame cosines, i.e. clearly above what unrelated pairs score with this model);
3. it is among the most confident ``keep`` share of its item's mutual matches (by CSLS score):
   the less confident half is where zero-shot matching is mostly wrong (per item, so an item
   whose matches all score low still keeps its best ones);
4. it is **spread over videos**: pairs are taken best first and a video contributes at most
   ``max_per_video`` pairs (default: the larger of ``max_video_share`` of all pairs and an
   equal share per contributing video), so one long video cannot dominate.

**Shot propagation** (``propagate=True``, the default in :func:`mine_index`): a shot shows one
thing, so every other pool frame of a kept frame's shot joins as a pair with the same item
(``propagated = True``). These are the frames where a single-frame match is hard (something
passes in front, motion blur), which is what the trained heads should learn to see through.
The per-video cap is applied before propagation.

**Caption → match (image → text → audio), optional.** A VLM captioner (transformers
image-to-text) captions each pool frame; the captions are embedded with the CLAP text tower and
matched against the ``clap_audio`` view the same way (items are sounds, "frames" are captions).

Both directions land in one Parquet table, one row per pair: ``item_id, video, time, shot,
score (cosine), csls, rank (within the item), direction ("text->image" | "caption->audio"),
source (the models used), caption, propagated``. :func:`mine_pairs` is the array-level core (embeddings in,
index arrays out) so a distributed runner can call it on shards unchanged.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast, runtime_checkable

import numpy as np

from sfxkit._progress import track
from sfxkit.errors import InputError, MediaError, ModelError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from sfxkit.bridge.pool import FramePool

TEXT_TO_IMAGE = "text->image"
CAPTION_TO_AUDIO = "caption->audio"
PAIR_COLUMNS = (
    "item_id",
    "video",
    "time",
    "shot",
    "score",
    "csls",
    "rank",
    "direction",
    "source",
    "caption",
    "propagated",
)
OVERSAMPLE = 8  # candidates kept per item before the mutual check and the caps


@dataclass(frozen=True)
class Matches:
    """Mined pairs as parallel arrays (rows of ``item_embs`` / ``frame_embs``)."""

    items: np.ndarray
    frames: np.ndarray
    cosine: np.ndarray
    csls: np.ndarray
    rank: np.ndarray
    threshold: float
    video_cap: int
    stats: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.items)


def _top_k_rows(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest entries of each row (unordered)."""
    k = min(k, values.shape[1])
    if k == values.shape[1]:
        return np.tile(np.arange(values.shape[1]), (values.shape[0], 1))
    return np.argpartition(-values, k - 1, axis=1)[:, :k]


def mine_pairs(
    item_embs: np.ndarray,
    frame_embs: np.ndarray,
    frame_videos: Sequence[Any],
    *,
    top_m: int = 40,
    frame_top: int = 2,
    threshold: float | str | None = "auto",
    max_per_video: int | None = None,
    max_video_share: float = 0.1,
    max_per_item_video: int = 2,
    keep: float = 0.5,
    csls_k: int = 10,
    block: int | None = None,
) -> Matches:
    """Mutual top-m matches between items and frames; see the module docstring for the rules.

    Works in blocks of frames, so the full item × frame similarity matrix is never held.
    """
    items = np.ascontiguousarray(item_embs, dtype=np.float32)
    frames = np.ascontiguousarray(frame_embs, dtype=np.float32)
    videos = np.asarray([str(v) for v in frame_videos])
    if items.ndim != 2 or frames.ndim != 2 or items.shape[1] != frames.shape[1]:
        raise InputError(
            f"item embeddings {items.shape} and frame embeddings {frames.shape} are not in one "
            "space; mine with the encoder pair the index was built with"
        )
    if len(videos) != len(frames):
        raise InputError(f"{len(frames)} frames but {len(videos)} video names")
    if top_m < 1 or frame_top < 1 or max_per_item_video < 1:
        raise InputError("top_m, frame_top and max_per_item_video must be >= 1")
    n_items, n_frames = len(items), len(frames)
    empty = Matches(
        np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32),
        np.zeros(0, np.float32), np.zeros(0, np.int64), threshold=float("nan"), video_cap=0,
    )  # fmt: skip
    if n_items == 0 or n_frames == 0:
        return empty
    blk = block or max(256, min(8192, (1 << 24) // max(n_items, 1)))
    k_i = min(csls_k, n_frames)
    k_f = min(csls_k, n_items)

    # Pass 1: neighbourhood radii for CSLS and the cosine distribution for the auto threshold.
    top_item = np.full((n_items, k_i), -np.inf, dtype=np.float32)
    r_frame = np.zeros(n_frames, dtype=np.float32)
    total = total_sq = 0.0
    for s in range(0, n_frames, blk):
        sims = items @ frames[s : s + blk].T
        total += float(sims.sum(dtype=np.float64))
        total_sq += float(np.square(sims, dtype=np.float64).sum())
        merged = np.concatenate([top_item, sims], axis=1)
        top_item = np.take_along_axis(merged, _top_k_rows(merged, k_i), axis=1)
        col_top = -np.partition(-sims, k_f - 1, axis=0)[:k_f]
        r_frame[s : s + blk] = col_top.mean(axis=0)
    r_item = top_item.mean(axis=1)
    count = n_items * n_frames
    mean = total / count
    std = math.sqrt(max(total_sq / count - mean * mean, 0.0))
    if threshold == "auto":
        thr = mean + std
    elif threshold is None:
        thr = -np.inf
    else:
        thr = float(threshold)

    # Pass 2: CSLS scores; each frame's best items and each item's best candidate frames.
    k_cand = min(n_frames, top_m * max_per_item_video * OVERSAMPLE)
    cand_frame = np.zeros((n_items, 0), dtype=np.int64)
    cand_score = np.zeros((n_items, 0), dtype=np.float32)
    cand_cos = np.zeros((n_items, 0), dtype=np.float32)
    frame_best = np.zeros((n_frames, min(frame_top, n_items)), dtype=np.int64)
    for s in range(0, n_frames, blk):
        sims = items @ frames[s : s + blk].T
        csls = 2.0 * sims - r_item[:, None] - r_frame[None, s : s + blk]
        frame_best[s : s + blk] = _top_k_rows(csls.T, frame_best.shape[1])
        merged_s = np.concatenate([cand_score, csls], axis=1)
        merged_f = np.concatenate(
            [cand_frame, np.broadcast_to(np.arange(s, s + csls.shape[1]), csls.shape)], axis=1
        )
        best = _top_k_rows(merged_s, k_cand)
        cand_score = np.take_along_axis(merged_s, best, axis=1)
        cand_frame = np.take_along_axis(merged_f, best, axis=1)
        cand_cos = np.take_along_axis(np.concatenate([cand_cos, sims], axis=1), best, axis=1)

    # Vectorised checks over every candidate; the loop below only walks the survivors.
    mutual = (frame_best[cand_frame] == np.arange(n_items)[:, None, None]).any(axis=2)
    above = cand_cos >= thr
    ok = mutual & above
    stats = {
        "candidates": int(cand_frame.size),
        "not_mutual": int((~mutual).sum()),
        "below_threshold": int((mutual & ~above).sum()),
        "item_video_cap": 0,
    }
    out_items: list[int] = []
    out_frames: list[int] = []
    out_rank: list[int] = []
    for i in range(n_items):
        js = np.nonzero(ok[i])[0]
        js = js[np.argsort(-cand_score[i, js], kind="stable")]
        per_video: dict[str, int] = {}
        kept = 0
        for j in js:
            f = int(cand_frame[i, j])
            v = videos[f]
            if per_video.get(v, 0) >= max_per_item_video:
                stats["item_video_cap"] += 1
                continue
            per_video[v] = per_video.get(v, 0) + 1
            out_items.append(i)
            out_frames.append(f)
            out_rank.append(kept)
            kept += 1
            if kept >= top_m:
                break
    it = np.asarray(out_items, dtype=np.int64)
    fr = np.asarray(out_frames, dtype=np.int64)
    rk = np.asarray(out_rank, dtype=np.int64)
    if len(it) == 0:
        return Matches(it, fr, np.zeros(0, np.float32), np.zeros(0, np.float32), rk,
                       threshold=float(thr), video_cap=0, stats=stats)  # fmt: skip
    cos = np.einsum("ij,ij->i", items[it], frames[fr]).astype(np.float32)
    csls_all = (2.0 * cos - r_item[it] - r_frame[fr]).astype(np.float32)
    if not 0.0 < keep <= 1.0:
        raise InputError(f"keep must be in (0, 1], got {keep}")
    if keep < 1.0:
        # Per item, so that items whose best matches all score low still keep their best ones.
        confident = np.zeros(len(it), dtype=bool)
        for i in np.unique(it):
            rows = np.nonzero(it == i)[0]
            n_keep = max(1, int(math.ceil(keep * len(rows))))
            confident[rows[np.argsort(-csls_all[rows], kind="stable")[:n_keep]]] = True
        stats["less_confident"] = int((~confident).sum())
        it, fr, rk, cos, csls_all = (a[confident] for a in (it, fr, rk, cos, csls_all))

    # Spread over videos: best pairs first, at most `cap` from any one video.
    contributing = len(set(videos[fr].tolist()))
    cap = max(math.ceil(max_video_share * len(it)), math.ceil(len(it) / contributing))
    if max_per_video is not None:
        cap = min(cap, int(max_per_video)) if max_per_video > 0 else cap
    order = np.argsort(-csls_all, kind="stable")
    used: dict[str, int] = {}
    keep_mask = np.zeros(len(it), dtype=bool)
    for j in order:
        v = videos[fr[j]]
        if used.get(v, 0) < cap:
            used[v] = used.get(v, 0) + 1
            keep_mask[j] = True
    stats["video_cap"] = int((~keep_mask).sum())
    sel = np.nonzero(keep_mask)[0]
    sel = sel[np.lexsort((rk[sel], it[sel]))]
    return Matches(it[sel], fr[sel], cos[sel], csls_all[sel], rk[sel], threshold=float(thr),
                   video_cap=int(cap), stats=stats)  # fmt: skip


# --------------------------------------------------------------------------- captioners


@runtime_checkable
class Captioner(Protocol):
    """Says in words what a frame shows (batch in, one caption per image out)."""

    name: str

    def caption(self, images: Sequence[Any]) -> list[str]: ...


class TransformersCaptioner:
    """A transformers image-to-text model (BLIP, GIT, a vision encoder-decoder, ...) from a
    local directory or a Hugging Face id in the local cache. Captions are cleaned like
    describer output; a frame whose caption is unusable gets ``""`` and is left out of mining."""

    def __init__(
        self,
        model: str | Path,
        *,
        device: str | None = None,
        max_new_tokens: int = 24,
        batch_size: int = 16,
        prompt: str | None = None,
    ) -> None:
        self.model_id = str(model)
        self.name = f"vlm:{self.model_id}"
        self.device = device
        self.max_new_tokens = int(max_new_tokens)
        self.batch_size = max(1, int(batch_size))
        self.prompt = prompt
        self._loaded: tuple[Any, Any, Any] | None = None
        self.untrained = False

    def _load(self) -> tuple[Any, Any, Any]:
        if self._loaded is None:
            from transformers import (
                AutoImageProcessor,
                AutoModelForImageTextToText,
                AutoProcessor,
                AutoTokenizer,
            )

            from sfxkit._progress import third_party_bars_off
            from sfxkit.catalog.describe import resolve_hf_model
            from sfxkit.config import resolve_device
            from sfxkit.models.weights import hub_offline

            path = str(resolve_hf_model(self.model_id, family="vlm"))
            try:
                with hub_offline(), third_party_bars_off():
                    model = AutoModelForImageTextToText.from_pretrained(path, local_files_only=True)
                    processor = AutoProcessor.from_pretrained(path, local_files_only=True)
                    if hasattr(processor, "image_processor"):
                        images, tokenizer = processor, getattr(processor, "tokenizer", processor)
                    else:  # a bare vision encoder-decoder: image processor + tokenizer
                        images = AutoImageProcessor.from_pretrained(path, local_files_only=True)
                        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            except Exception as exc:  # transformers/safetensors/json errors alike
                raise ModelError(
                    f"could not load the captioner '{self.model_id}' from {path}: {exc}; the "
                    "directory must hold a transformers image-to-text model and its processor"
                ) from exc
            model = cast(Any, model).to(resolve_device(self.device)).eval()
            self.untrained = bool(getattr(model.config, "sfxkit_untrained", False))
            self._loaded = (model, images, tokenizer)
        return self._loaded

    def caption(self, images: Sequence[Any]) -> list[str]:
        import torch

        from sfxkit.catalog.describe import clean_description
        from sfxkit.models.base import to_pil

        model, processor, tokenizer = self._load()
        out: list[str] = []
        for s in range(0, len(images), self.batch_size):
            pil = [to_pil(im, s + j) for j, im in enumerate(images[s : s + self.batch_size])]
            kwargs: dict[str, Any] = {"images": pil, "return_tensors": "pt"}
            if self.prompt is not None:
                kwargs["text"] = [self.prompt] * len(pil)
            inputs = processor(**kwargs).to(model.device)
            with torch.inference_mode():
                ids = model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
            texts = tokenizer.batch_decode(ids, skip_special_tokens=True)
            out.extend(clean_description(t) for t in texts)
        return out


def caption_frames(frames: Sequence[Any], captioner: Captioner) -> list[str]:
    """Plain batch function: frames in, one (possibly empty) caption per frame out."""
    captions = list(captioner.caption(list(frames)))
    if len(captions) != len(frames):
        raise ModelError(
            f"captioner {captioner.name!r} returned {len(captions)} captions for {len(frames)} frames"
        )
    return captions


# ---------------------------------------------------------------------------- on an index


@dataclass(frozen=True)
class MineResult:
    pairs: pd.DataFrame
    path: Path | None
    stats: dict[str, dict[str, Any]]
    failures: tuple[tuple[str, str], ...]
    untrained: bool


def _table(
    matches: Matches,
    item_ids: Sequence[str],
    records: pd.DataFrame,
    direction: str,
    source: str,
    captions: Sequence[str] | None = None,
    frame_rows: np.ndarray | None = None,
) -> pd.DataFrame:
    import pandas as pd

    rows = frame_rows[matches.frames] if frame_rows is not None else matches.frames
    recs = records.iloc[rows]
    return pd.DataFrame(
        {
            "item_id": [str(item_ids[i]) for i in matches.items],
            "video": recs["video"].astype(str).to_numpy(),
            "time": recs["time"].astype(np.float64).to_numpy(),
            "shot": recs["shot"].astype(np.int64).to_numpy(),
            "score": matches.cosine.astype(np.float32),
            "csls": matches.csls.astype(np.float32),
            "rank": matches.rank.astype(np.int64),
            "direction": [direction] * len(matches),
            "source": [source] * len(matches),
            "caption": [captions[r] for r in rows] if captions is not None else [""] * len(matches),
            "propagated": np.zeros(len(matches), dtype=bool),
        },
        columns=list(PAIR_COLUMNS),
    )


def propagate_shots(pairs: pd.DataFrame, records: pd.DataFrame) -> pd.DataFrame:
    """Add every other pool frame of each pair's shot as a pair with the same item.

    A frame already paired with that item is not repeated. Added rows copy the source pair's
    scores and carry ``propagated = True``.
    """
    import pandas as pd

    frames_of: dict[tuple[str, int], list[float]] = {}
    for v, s, t in zip(records["video"].astype(str), records["shot"].astype(int),
                       records["time"].astype(float), strict=True):  # fmt: skip
        frames_of.setdefault((v, s), []).append(t)
    seen = {
        (i, v, round(float(t), 3))
        for i, v, t in zip(pairs["item_id"], pairs["video"], pairs["time"], strict=True)
    }
    extra = []
    for row in pairs.to_dict("records"):
        for t in frames_of.get((str(row["video"]), int(row["shot"])), []):
            key = (row["item_id"], row["video"], round(float(t), 3))
            if key in seen:
                continue
            seen.add(key)
            extra.append({**row, "time": float(t), "propagated": True})
    if not extra:
        return pairs
    out = pd.concat([pairs, pd.DataFrame(extra, columns=pairs.columns)], ignore_index=True)
    return out.sort_values(["direction", "item_id", "rank", "propagated", "time"],
                           kind="stable").reset_index(drop=True)  # fmt: skip


def _summary(m: Matches, df: pd.DataFrame) -> dict[str, Any]:
    return {
        "pairs": int(len(df)),
        "items": int(df["item_id"].nunique()) if len(df) else 0,
        "videos": int(df["video"].nunique()) if len(df) else 0,
        "threshold": m.threshold,
        "video_cap": m.video_cap,
        **{f"dropped_{k}": v for k, v in m.stats.items() if k != "candidates"},
    }


def mine_index(
    index: str | Path,
    pool: FramePool | str | Path,
    *,
    top_m: int = 40,
    frame_top: int = 2,
    threshold: float | str | None = "auto",
    max_per_video: int | None = None,
    max_video_share: float = 0.1,
    max_per_item_video: int = 2,
    keep: float = 0.5,
    propagate: bool = True,
    captioner: Captioner | None = None,
    out: str | Path | None = None,
    encoders: Mapping[str, Any] | None = None,
    device: str | None = None,
    progress: bool | None = None,
) -> MineResult:
    """Mine pairs between an index's items and a frame pool; write them to ``out`` (Parquet)."""
    import pandas as pd

    from sfxkit.bridge.pool import FramePool
    from sfxkit.index.store import load_index

    fp = FramePool.load(pool) if isinstance(pool, (str, Path)) else pool
    idx = load_index(index, views=[])
    views = idx.manifest.views
    clip_model = views["clip_text"].model
    if fp.model != clip_model:
        raise InputError(
            f"the frame pool was embedded with {fp.model} but the index's clip_text view uses "
            f"{clip_model}; rebuild the pool (same --pool with the index's model)"
        )
    item_ids = idx.rows["id"].astype(str).tolist()
    opts: dict[str, Any] = dict(
        top_m=top_m,
        frame_top=frame_top,
        threshold=threshold,
        max_per_video=max_per_video,
        max_video_share=max_video_share,
        max_per_item_video=max_per_item_video,
        keep=keep,
    )
    m = mine_pairs(idx.vectors("clip_text").vectors, fp.embeddings, fp.records["video"], **opts)
    tables = [_table(m, item_ids, fp.records, TEXT_TO_IMAGE, f"clip:{clip_model}")]
    stats = {TEXT_TO_IMAGE: _summary(m, tables[0])}
    failures: list[tuple[str, str]] = []
    untrained = bool(views["clip_text"].untrained or fp.untrained)
    if captioner is not None:
        captions, rows, fails = _caption_pool(fp, captioner, progress)
        failures.extend(fails)
        untrained = untrained or bool(getattr(captioner, "untrained", False))
        usable = [k for k, c in enumerate(captions) if c]
        if usable:
            enc = dict(encoders or {}).get("audio")
            if enc is None:
                from sfxkit.models.registry import load_audio_encoder

                enc = load_audio_encoder(views["clap_audio"].model, device=device)
            cap_embs = enc.encode_texts([captions[k] for k in usable])
            sub_rows = rows[usable]
            mc = mine_pairs(
                idx.vectors("clap_audio").vectors,
                cap_embs,
                fp.records["video"].to_numpy()[sub_rows],
                **opts,
            )
            source = f"{captioner.name}+clap:{views['clap_audio'].model}"
            all_caps = [""] * len(fp)
            for r, c in zip(rows.tolist(), captions, strict=True):
                all_caps[r] = c
            t = _table(mc, item_ids, fp.records, CAPTION_TO_AUDIO, source, all_caps, sub_rows)
            tables.append(t)
            stats[CAPTION_TO_AUDIO] = _summary(mc, t)
        else:
            stats[CAPTION_TO_AUDIO] = {"pairs": 0, "note": "no usable captions"}
    df = pd.concat(tables, ignore_index=True)
    if propagate and len(df):
        df = propagate_shots(df, fp.records)
        for direction in stats:
            part = df[df["direction"] == direction]
            if direction in stats and "pairs" in stats[direction]:
                stats[direction]["pairs_after_propagation"] = int(len(part))
    path = write_pairs(df, out) if out is not None else None
    return MineResult(df, path, stats, tuple(failures), untrained)


def _caption_pool(
    fp: FramePool, captioner: Captioner, progress: bool | None
) -> tuple[list[str], np.ndarray, list[tuple[str, str]]]:
    """Decode every pool frame again (video by video) and caption it."""
    from sfxkit.media.frames import frames_at

    captions: list[str] = []
    rows: list[int] = []
    failures: list[tuple[str, str]] = []
    videos = fp.records["video"].astype(str).to_numpy()
    for video in track(fp.videos, total=len(fp.videos), desc="captions", unit="video",
                       enabled=progress):  # fmt: skip
        sel = np.nonzero(videos == video)[0]
        try:
            frames = frames_at(video, fp.records["time"].to_numpy()[sel], max_side=fp.max_side)
        except MediaError as exc:
            failures.append((video, exc.reason))
            continue
        captions.extend(caption_frames(list(frames), captioner))
        rows.extend(sel.tolist())
    return captions, np.asarray(rows, dtype=np.int64), failures


# ---------------------------------------------------------------------------- pairs files


def write_pairs(df: pd.DataFrame, path: str | Path) -> Path:
    """Write pairs as Parquet, atomically (temp file, fsync, rename)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from sfxkit.index.store import atomic_write_bytes

    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), buf, compression="zstd")
    return atomic_write_bytes(Path(path).expanduser(), buf.getvalue())


def read_pairs(path: str | Path) -> pd.DataFrame:
    """Pairs from Parquet (as written by :func:`write_pairs`) or CSV with item_id, video, time."""
    import pandas as pd

    p = Path(path).expanduser()
    if not p.is_file():
        raise InputError(f"{p}: no such pairs file; mine some with `sfxkit bridge mine`")
    try:
        df = pd.read_parquet(p) if p.suffix.lower() in {".parquet", ".pq"} else pd.read_csv(p)
    except Exception as exc:  # pyarrow/pandas raise many types for unreadable files
        raise InputError(f"{p}: cannot read pairs ({exc}); use Parquet or CSV") from exc
    missing = {"item_id", "video", "time"} - set(df.columns)
    if missing:
        raise InputError(f"{p}: pairs need columns item_id, video, time; missing {sorted(missing)}")
    return df
