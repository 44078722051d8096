"""The frame pool: frames of the user's own videos, sampled per shot, embedded once, stored.

Pair mining matches catalog descriptions against these frames. Each video is cut into shots
(:func:`sfxkit.media.shots.detect_shots`) and ``per_shot`` frames are taken evenly inside each shot
(at ``start + (j + 0.5) * duration / per_shot``) with PyAV, downscaled to ``max_side`` and
embedded with the CLIP image tower. Only the embeddings and ``(video, time, shot)`` are kept;
frames are decoded again when something needs pixels (a captioner).

On disk a pool is a directory::

    frames.parquet    video (absolute path), time (s), shot, stamp (size:mtime_ns of the video)
    embeddings.npy    float32 (frames, dim), row i <-> frames.parquet row i
    pool.json         model, sampling settings, row count, sha256 of both files (written last)

Files are written atomically and ``pool.json`` last, and checked against its sha256s on load:
a crash leaves the previous pool or a pool that fails its check and is rebuilt. Building into an
existing pool with the same model and settings re-samples only videos that are new or changed.

The stage functions (:func:`sfxkit.index.engines.stages.sample_video`, ``embed_frames``) are plain
functions (a video in, arrays out; frames in, vectors out) that either engine maps over the videos.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sfxkit._progress import track
from sfxkit.errors import InputError
from sfxkit.index.engines.stages import (
    DEFAULT_MAX_SIDE,
    DEFAULT_PER_SHOT,
    embed_frames,
    sample_video,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

POOL_FORMAT = "sfxkit-frame-pool"
POOL_FILE = "pool.json"
RECORDS_FILE = "frames.parquet"
EMBEDDINGS_FILE = "embeddings.npy"


@dataclass(frozen=True)
class PoolFailure:
    video: str
    reason: str


class FramePool:
    """Frames ``(video, time, shot)`` and their CLIP image embeddings."""

    def __init__(
        self,
        model: str,
        records: pd.DataFrame,
        embeddings: np.ndarray,
        *,
        per_shot: int = DEFAULT_PER_SHOT,
        max_side: int = DEFAULT_MAX_SIDE,
        untrained: bool = False,
    ) -> None:
        if len(records) != len(embeddings):
            raise ValueError(f"{len(records)} frame records but {len(embeddings)} embeddings")
        self.model = model
        self.records = records.reset_index(drop=True)
        self.embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        self.per_shot = int(per_shot)
        self.max_side = int(max_side)
        self.untrained = bool(untrained)
        self._where = {
            (str(v), _time_key(t)): i
            for i, (v, t) in enumerate(
                zip(self.records["video"], self.records["time"], strict=True)
            )
        }

    def __len__(self) -> int:
        return len(self.records)

    def __repr__(self) -> str:
        return f"FramePool({len(self)} frames from {len(self.videos)} videos, {self.model})"

    @property
    def videos(self) -> list[str]:
        return sorted(set(self.records["video"].astype(str)))

    def lookup(self, video: str | Path, time: float) -> int | None:
        """Row of the frame of ``video`` at ``time`` (to the millisecond), or None."""
        return self._where.get((str(video), _time_key(time)))

    # ------------------------------------------------------------------------- disk
    def save(self, directory: str | Path) -> Path:
        import pyarrow as pa
        import pyarrow.parquet as pq

        from sfxkit.index.store import atomic_write_bytes, atomic_write_text, sha256_bytes

        d = Path(directory).expanduser()
        d.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(self.records, preserve_index=False), buf)
        records = buf.getvalue()
        buf = io.BytesIO()
        np.save(buf, self.embeddings, allow_pickle=False)
        embeddings = buf.getvalue()
        atomic_write_bytes(d / RECORDS_FILE, records)
        atomic_write_bytes(d / EMBEDDINGS_FILE, embeddings)
        meta = {
            "format": POOL_FORMAT,
            "model": self.model,
            "per_shot": self.per_shot,
            "max_side": self.max_side,
            "untrained": self.untrained,
            "frames": len(self),
            "dim": int(self.embeddings.shape[1]) if self.embeddings.ndim == 2 else 0,
            "files": {
                RECORDS_FILE: sha256_bytes(records),
                EMBEDDINGS_FILE: sha256_bytes(embeddings),
            },
        }
        atomic_write_text(d / POOL_FILE, json.dumps(meta, indent=2, sort_keys=True))
        return d

    @classmethod
    def load(cls, directory: str | Path) -> FramePool:
        import pyarrow.parquet as pq

        from sfxkit.errors import IndexCorruptError
        from sfxkit.index.store import sha256_bytes

        d = Path(directory).expanduser()
        if not (d / POOL_FILE).is_file():
            raise InputError(
                f"{d}: no frame pool here; build one with `sfxkit bridge mine IDX VIDEOS --pool {d}`"
            )
        meta = json.loads((d / POOL_FILE).read_text())
        if meta.get("format") != POOL_FORMAT:
            raise InputError(f"{d / POOL_FILE}: not an sfxkit frame pool")
        blobs = {}
        for name in (RECORDS_FILE, EMBEDDINGS_FILE):
            data = (d / name).read_bytes() if (d / name).is_file() else b""
            if sha256_bytes(data) != meta["files"].get(name):
                raise IndexCorruptError(
                    d / name, "frame pool file does not match pool.json; delete the pool to rebuild"
                )
            blobs[name] = data
        records = pq.read_table(io.BytesIO(blobs[RECORDS_FILE])).to_pandas()
        embeddings = np.load(io.BytesIO(blobs[EMBEDDINGS_FILE]), allow_pickle=False)
        return cls(
            meta["model"],
            records,
            embeddings,
            per_shot=meta.get("per_shot", DEFAULT_PER_SHOT),
            max_side=meta.get("max_side", DEFAULT_MAX_SIDE),
            untrained=meta.get("untrained", False),
        )


def _time_key(t: float) -> int:
    return int(round(float(t) * 1000.0))


def _stamp(path: str) -> str:
    st = os.stat(path)
    return f"{st.st_size}:{st.st_mtime_ns}"


def find_videos(paths: Sequence[str | Path]) -> list[str]:
    """Video files under ``paths`` (folders searched recursively, hidden entries skipped)."""
    from sfxkit.media.frames import is_video

    out: set[str] = set()
    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_dir():
            for root, dirs, files in os.walk(p, followlinks=True):
                dirs[:] = [x for x in dirs if not x.startswith(".")]
                out.update(
                    os.path.abspath(os.path.join(root, f))
                    for f in files
                    if not f.startswith(".") and is_video(f)
                )
        elif p.exists():
            out.add(os.path.abspath(p))
        else:
            raise InputError(f"{p}: no such video or folder")
    return sorted(out)


@dataclass(frozen=True)
class PoolResult:
    pool: FramePool
    failures: tuple[PoolFailure, ...]
    added: int
    reused: int
    path: Path | None


def build_frame_pool(
    videos: Sequence[str | Path],
    *,
    model: str | None = None,
    encoder: Any = None,
    pool_dir: str | Path | None = None,
    per_shot: int = DEFAULT_PER_SHOT,
    max_side: int = DEFAULT_MAX_SIDE,
    device: str | None = None,
    progress: bool | None = None,
    engine: str = "local",
    address: str | None = None,
) -> PoolResult:
    """Sample and embed ``videos`` (files or folders) into a pool; save it to ``pool_dir``.

    A video that cannot be read is reported in ``failures`` and skipped. With ``pool_dir``
    holding a pool of the same model and settings, unchanged videos are reused without decoding.
    ``engine``: ``"local"`` (one video after another here) or ``"ray"`` (sampling as Ray Data
    tasks, CLIP in an actor pool, on the cluster at ``address``; see :mod:`sfxkit.index.engines.ray_data`).
    """
    import pandas as pd

    files = find_videos(videos)
    if not files:
        raise InputError(f"no video files found in {', '.join(map(str, videos))}")
    if engine not in ("local", "ray"):
        raise InputError(f"engine {engine!r}: use one of local, ray")
    if encoder is None:
        from sfxkit.models.registry import load_frame_encoder

        encoder = load_frame_encoder(model, device=device)
    model_id = str(getattr(encoder, "model_id", model or "unknown"))
    previous: FramePool | None = None
    if pool_dir is not None and (Path(pool_dir).expanduser() / POOL_FILE).is_file():
        try:
            previous = FramePool.load(pool_dir)
        except Exception:  # noqa: BLE001 - a broken or foreign pool is rebuilt, not fatal
            previous = None
        if previous is not None and (
            previous.model != model_id
            or previous.per_shot != per_shot
            or previous.max_side != max_side
        ):
            previous = None
    records: list[pd.DataFrame] = []
    embeddings: list[np.ndarray] = []
    failures: list[PoolFailure] = []
    added = reused = 0
    stamps: dict[str, str] = {}
    todo: list[str] = []
    kept: dict[str, tuple[pd.DataFrame, np.ndarray]] = {}
    for video in files:
        try:
            stamps[video] = _stamp(video)
        except OSError as exc:
            failures.append(PoolFailure(video, f"cannot read ({exc.strerror or exc})"))
            continue
        if previous is not None:
            rows = np.nonzero(
                (previous.records["video"].to_numpy() == video)
                & (previous.records["stamp"].to_numpy() == stamps[video])
            )[0]
            if len(rows):
                kept[video] = (previous.records.iloc[rows], previous.embeddings[rows])
                continue
        todo.append(video)
    fresh = _sample_and_embed(
        todo, encoder, model_id, per_shot, max_side, engine, address, progress, device
    )
    for video in files:
        if video in kept:
            records.append(kept[video][0])
            embeddings.append(kept[video][1])
            reused += 1
            continue
        res = fresh.get(video)
        if res is None:
            continue  # its stamp could not be read: reported above
        if isinstance(res, str):
            failures.append(PoolFailure(video, res))
            continue
        times, shots, embs = res
        stamp = stamps[video]
        records.append(
            pd.DataFrame(
                {
                    "video": [video] * len(times),
                    "time": times.astype(np.float64),
                    "shot": shots.astype(np.int64),
                    "stamp": [stamp] * len(times),
                }
            )
        )
        embeddings.append(embs)
        added += 1
    dim = int(getattr(encoder, "dim", embeddings[0].shape[1] if embeddings else 0))
    table = (
        pd.concat(records, ignore_index=True)
        if records
        else pd.DataFrame({"video": [], "time": [], "shot": [], "stamp": []})
    )
    pool = FramePool(
        model_id,
        table,
        np.concatenate(embeddings) if embeddings else np.zeros((0, dim), dtype=np.float32),
        per_shot=per_shot,
        max_side=max_side,
        untrained=bool(getattr(encoder, "untrained", False)),
    )
    path = pool.save(pool_dir) if pool_dir is not None else None
    return PoolResult(pool, tuple(failures), added, reused, path)


def _sample_and_embed(
    videos: Sequence[str],
    encoder: Any,
    model_id: str,
    per_shot: int,
    max_side: int,
    engine: str,
    address: str | None,
    progress: bool | None,
    device: str | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray] | str]:
    """Video → (times, shots, embeddings) or the reason it is skipped, on the chosen engine."""
    if not videos:
        return {}
    if engine == "ray":
        from sfxkit.index.engines.ray_data import RayEngine

        with RayEngine({"frame": encoder}, device, address=address) as ray_engine:
            got = ray_engine.frame_pool(videos, model_id, per_shot=per_shot, max_side=max_side)
        return dict(zip(videos, got, strict=True))
    out: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray] | str] = {}
    for video in track(
        videos, total=len(videos), desc="frame pool", unit="video", enabled=progress
    ):
        res = sample_video(video, per_shot=per_shot, max_side=max_side)
        out[video] = (
            res if isinstance(res, str) else (res[0], res[1], embed_frames(res[2], encoder))
        )
    return out
