"""Synthetic one-view indexes written through the store, without models or audio."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from sfxkit.index.store import IndexStore, VersionWriter
from sfxkit.index.views import Preset, VectorIndex


def sphere_clusters(n: int, dim: int, clusters: int, seed: int = 0) -> np.ndarray:
    """benchmarks/scale.py's data: unit centres plus noise of norm 0.6 x U(0.5, 1.5), normalised
    (neighbours at cosine ~0.7-0.9, like a sound-effects catalog's, not near-duplicates)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    spread = 0.6 / np.sqrt(dim) * rng.uniform(0.5, 1.5, (n, 1)).astype(np.float32)
    x = centres[rng.integers(0, clusters, n)]
    x += spread * rng.standard_normal((n, dim)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def clustered(n: int, dim: int, clusters: int, seed: int = 0) -> np.ndarray:
    """Unit vectors around random centres (neighbours mean something, unlike uniform data)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    x = centres[rng.integers(0, clusters, n)] / np.sqrt(dim) * 8
    x += rng.standard_normal((n, dim)).astype(np.float32) / np.sqrt(dim)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def write_index(
    root: Path,
    vectors: np.ndarray,
    preset: Preset,
    *,
    ids: np.ndarray | None = None,
    old_format: bool = False,
    index: VectorIndex | None = None,
    tune: bool = False,
    fields: dict | None = None,
) -> np.ndarray:
    """An index with one view 'v' (``index``: its FAISS index, built already, with ``fields``
    its manifest fields such as ``tuning``); ``old_format`` writes the float32 .npy of earlier
    sfxkit; ``tune``: build and tune it as ``sfxkit index build`` does (sfxkit.index.tune)."""
    n, dim = vectors.shape
    ids = np.arange(10, 10 + 7 * n, 7, dtype=np.int64) if ids is None else ids
    fields = dict(fields or {})
    if tune and index is None:
        from sfxkit.index.tune import build_tuned

        index, tuned, _ = build_tuned(vectors.astype(np.float16), ids, preset)
        fields.update(tuned)
    vi = VectorIndex.build(vectors, ids, preset=preset) if index is None else index
    with IndexStore(root).writer() as w:
        w.write_bytes("views/v.faiss", vi.to_bytes())
        del vi
        if old_format:
            w.write_npy("views/v.npy", vectors.astype(np.float32))
        else:
            w.write_vectors("views/v.npy", vectors)
        commit_view(w, ids, dim, fields.pop("factory", preset.factory_for(n)), **fields)
    return ids


def commit_view(
    writer: VersionWriter, ids: np.ndarray, dim: int, factory: str, **fields: object
) -> int:
    """Commit ``writer``'s version as a one-view ('v') synthetic index over ``ids`` (``fields``:
    more of the view's manifest entry, e.g. ``tuning``)."""
    import pyarrow as pa

    n = len(ids)
    rows = {"id": [f"i{i}" for i in range(n)], "faiss_id": ids}
    # the columns `sfxkit index info` summarises
    rows.update(category=["SYNTHETIC"] * n, licence=["CC0"] * n)
    writer.write_table("rows.parquet", pa.table(rows))
    view = {"model": "synthetic", "tower": "audio", "source": "synthetic", "dim": dim}
    view.update(count=n, factory=factory, untrained=True, **fields)
    return writer.commit({"row_count": n, "models": {}, "views": {"v": view}})


def presets_file(path: Path, preset: Preset) -> Path:
    path.write_text(
        json.dumps(
            {
                "presets": [
                    {
                        "name": preset.name,
                        "max_items": None,
                        "factory": preset.factory,
                        "build_params": preset.build_params,
                        "search_params": preset.search_params,
                        "train_sample": preset.train_sample,
                    }
                ]
            }
        )
    )
    return path


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return (
        sum(len(set(f) & set(t)) for f, t in zip(found.tolist(), truth.tolist(), strict=True))
        / truth.size
    )


def exact_top(vectors: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    sims = queries @ vectors.T
    return ids[np.argsort(-sims, axis=1)[:, :k]]


def hard_clusters(n: int, dim: int, clusters: int, noise: float = 1.0, seed: int = 0) -> np.ndarray:
    """benchmarks/scale.py's harder data: unit centres plus isotropic noise of one norm
    (``noise``) for every point, normalised. Every item then has its cluster's other members at
    nearly the same cosine (~1 / (1 + noise^2)), as a library's hundreds of takes of one door
    have: compressed codes cannot tell them apart, fixed search settings miss neighbours."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    x = centres[rng.integers(0, clusters, n)]
    x += noise / np.sqrt(dim) * rng.standard_normal((n, dim)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
