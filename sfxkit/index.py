"""FAISS views: one vector index per embedding space, with explicit int64 ids.

Owns the choice of FAISS index type by size (presets in ``sfxkit/data/index_presets.json``),
serialisation to bytes (the store writes them atomically and checksums them), and filtered
search that never returns an id outside the allowed set.

Threading: on small machines a single query is fastest on one OpenMP thread (measured in
``benchmarks/recommend.py``), while batches use every thread.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import mmap
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from sfxkit.errors import ConfigError, IndexCorruptError, IndexMismatchError

PRESETS_PATH = Path(__file__).parent / "data" / "index_presets.json"

# faiss 1.15 scans with BLAS only from 128000 queries up; on 2 cores BLAS already wins from 4
# (100k x 512 Flat: 16 queries 133 ms -> 31 ms). Measured in benchmarks/recommend.py.
BLAS_FROM_QUERIES = 4

# Below this many allowed ids a filtered query is answered exactly over just those vectors:
# exact, and faster than asking an approximate index to skip almost everything.
EXACT_FILTER_LIMIT = 4096

# Exact vectors are stored as float16 .npy and memory-mapped; each CHUNK_BYTES of the file has
# its own (truncated) sha256 in the manifest, checked the first time a read touches it. 64 KiB
# keeps a cold query's first-touch hashing to a few ms (sha256 runs ~450 MB/s here) while the
# manifest grows by ~34 bytes per 64 rows of a 512-d view.
CHUNK_BYTES = 1 << 16
CHUNK_DIGEST_HEX = 32
VECTOR_DTYPE = np.float16


@dataclass(frozen=True)
class Preset:
    name: str
    max_items: int | None
    factory: str
    build_params: dict[str, Any] = field(default_factory=dict)
    search_params: dict[str, Any] = field(default_factory=dict)
    train_sample: int | None = None

    def factory_for(self, n: int) -> str:
        nlist = 2 ** max(4, round(math.log2(max(4 * math.sqrt(max(n, 1)), 16))))
        return self.factory.replace("{nlist}", str(nlist))


@lru_cache(maxsize=4)
def _read_presets(path: str) -> tuple[Preset, ...]:
    try:
        raw = json.loads(Path(path).read_text())
        presets = tuple(
            Preset(
                name=p["name"],
                max_items=p.get("max_items"),
                factory=p["factory"],
                build_params=p.get("build_params", {}),
                search_params=p.get("search_params", {}),
                train_sample=p.get("train_sample"),
            )
            for p in raw["presets"]
        )
    except (OSError, KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ConfigError(
            f"{path}: cannot read index presets ({exc}); the file must be JSON with a 'presets' list "
            f"like {PRESETS_PATH}"
        ) from exc
    if not presets:
        raise ConfigError(f"{path}: no presets defined")
    return presets


def load_presets(path: str | Path | None = None) -> tuple[Preset, ...]:
    path = path or os.environ.get("SFXKIT_INDEX_PRESETS") or PRESETS_PATH
    return _read_presets(str(path))


def preset_for_view(factory: str, n: int, presets: Sequence[Preset] | None = None) -> Preset:
    """The preset a view was built with: the one whose factory at ``n`` rows is the manifest's,
    so search settings follow the build even when size thresholds changed since."""
    presets = presets or load_presets()
    for preset in presets:
        if preset.factory_for(n) == factory:
            return preset
    return choose_preset(n, presets)


def choose_preset(n: int, presets: Sequence[Preset] | None = None) -> Preset:
    presets = presets or load_presets()
    for preset in presets:
        if preset.max_items is None or n <= preset.max_items:
            return preset
    return presets[-1]


def _faiss() -> Any:
    import faiss

    return faiss


class VectorIndex:
    """A FAISS index over L2-normalised float32 vectors, searched by inner product (cosine)."""

    def __init__(self, index: Any, *, preset: Preset | None = None) -> None:
        self._index = index
        self.preset = preset
        # Exact vectors of the view, for presets that rescore a short list (``k_factor``).
        self.rescore: VectorLookup | None = None

    @property
    def k_factor(self) -> int:
        return int(self.preset.search_params.get("k_factor", 1)) if self.preset else 1

    # ----------------------------------------------------------------- construction
    @classmethod
    def build(
        cls,
        vectors: np.ndarray,
        ids: np.ndarray,
        *,
        preset: Preset | None = None,
        presets: Sequence[Preset] | None = None,
        seed: int = 0,
    ) -> VectorIndex:
        faiss = _faiss()
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if vectors.ndim != 2 or len(vectors) != len(ids):
            raise ValueError(f"vectors {vectors.shape} and ids {ids.shape} do not line up")
        if len(np.unique(ids)) != len(ids):
            raise ValueError("ids must be unique")
        n, dim = vectors.shape
        preset = preset or choose_preset(n, presets)
        factory = preset.factory_for(n)
        base = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
        for key, value in preset.build_params.items():
            if key == "efConstruction":
                faiss.downcast_index(base).hnsw.efConstruction = int(value)
        if not base.is_trained:
            rng = np.random.default_rng(seed)
            sample = preset.train_sample or n
            train = vectors if n <= sample else vectors[rng.choice(n, sample, replace=False)]
            base.train(train)
        # IVF indexes carry ids natively; the others are wrapped in an id map.
        index = base if _is_ivf(base) else faiss.IndexIDMap2(base)
        if n:
            index.add_with_ids(vectors, ids)
        return cls(index, preset=preset)

    @classmethod
    def from_bytes(cls, data: bytes, *, preset: Preset | None = None) -> VectorIndex:
        faiss = _faiss()
        index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        return cls(index, preset=preset)

    def to_bytes(self) -> bytes:
        return _faiss().serialize_index(self._index).tobytes()

    # ------------------------------------------------------------------- properties
    @property
    def dim(self) -> int:
        return int(self._index.d)

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    @property
    def metric_is_inner_product(self) -> bool:
        return int(self._index.metric_type) == int(_faiss().METRIC_INNER_PRODUCT)

    @property
    def factory(self) -> str:
        return self.preset.factory if self.preset else type(self._index).__name__

    @property
    def raw(self) -> Any:
        """The underlying FAISS index (for benchmarks comparing against raw ``search``)."""
        return self._index

    def checked_ids(self) -> np.ndarray:
        """The ids, after checking that what FAISS read is a consistent index sfxkit could have
        written (raises ValueError or RuntimeError otherwise): a searchable id map or IVF."""
        faiss = _faiss()
        ids = self.ids()
        if len(ids) != self.ntotal:
            raise ValueError(f"{len(ids)} ids for {self.ntotal} vectors")
        if isinstance(self._index, faiss.IndexIDMap):
            inner = self._index.index
            if int(inner.ntotal) != self.ntotal or int(inner.d) != self.dim:
                raise ValueError(
                    f"wrapped index holds {inner.ntotal}×{inner.d}, its id map {self.ntotal}×{self.dim}"
                )
        return ids

    def ids(self) -> np.ndarray:
        faiss = _faiss()
        if isinstance(self._index, faiss.IndexIDMap):
            return faiss.vector_to_array(self._index.id_map).astype(np.int64)
        invlists = faiss.extract_index_ivf(self._index).invlists
        out = [
            faiss.rev_swig_ptr(invlists.get_ids(i), invlists.list_size(i)).copy()
            for i in range(invlists.nlist)
        ]
        return np.concatenate(out).astype(np.int64) if out else np.zeros(0, np.int64)

    # ----------------------------------------------------------------------- search
    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        allowed: np.ndarray | None = None,
        vectors: VectorLookup | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids) per query; ids are -1 where fewer than k items qualify.

        ``allowed``: int64 ids the results must come from (filters). When it is small and
        ``vectors`` can look vectors up by id, the search is exact over exactly those vectors.
        """
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if queries.shape[1] != self.dim:
            raise IndexMismatchError(
                f"query has {queries.shape[1]} dims but this view has {self.dim}; "
                "query with the encoder the index was built with (see `sfxkit index info`)"
            )
        k = int(k)
        if k <= 0:
            raise ValueError("k must be at least 1")
        if allowed is not None:
            allowed = np.asarray(allowed, dtype=np.int64)
            if len(allowed) == 0:
                return _empty(len(queries), k)
            if vectors is not None and len(allowed) <= EXACT_FILTER_LIMIT:
                return _exact_search(queries, vectors.get(allowed), allowed, k)
        kk = min(k, self.ntotal)
        if kk == 0:
            return _empty(len(queries), k)
        refine = self.k_factor > 1 and self.rescore is not None
        short = min(kk * self.k_factor, self.ntotal) if refine else kk
        params = self._search_params(allowed)
        with _threads(1 if len(queries) == 1 else None), _blas_threshold(len(queries)):
            scores, ids = self._index.search(queries, short, params=params)
        if refine:
            assert self.rescore is not None
            scores, ids = _rescore(queries, scores, ids, self.rescore, kk)
        if kk < k:
            pad_s, pad_i = _empty(len(queries), k - kk)
            scores, ids = np.hstack([scores, pad_s]), np.hstack([ids, pad_i])
        return scores, ids

    def _search_params(self, allowed: np.ndarray | None) -> Any:
        # unfiltered parameters are built once: SWIG objects cost ~0.1 ms, a query at 1M ~1 ms
        if allowed is None:
            if not hasattr(self, "_plain_params"):
                self._plain_params = self._make_params(None)
            return self._plain_params
        return self._make_params(allowed)

    def _make_params(self, allowed: np.ndarray | None) -> Any:
        faiss = _faiss()
        sel = faiss.IDSelectorBatch(allowed) if allowed is not None else None
        sp = self.preset.search_params if self.preset else {}
        base = faiss.downcast_index(
            self._index.index if isinstance(self._index, faiss.IndexIDMap) else self._index
        )
        if isinstance(base, faiss.IndexHNSW):
            params = (
                faiss.SearchParametersHNSW(sel=sel)
                if sel is not None
                else faiss.SearchParametersHNSW()
            )
            params.efSearch = int(sp.get("efSearch", 64))
            # keep the selector alive as long as params
            params._sel_ref = sel  # type: ignore[attr-defined]
            return params
        if _is_ivf(self._index):
            params = (
                faiss.SearchParametersIVF(sel=sel)
                if sel is not None
                else faiss.SearchParametersIVF()
            )
            params.nprobe = int(sp.get("nprobe", 32))
            params._sel_ref = sel  # type: ignore[attr-defined]
            return params
        if sel is None:
            return None
        params = faiss.SearchParameters(sel=sel)
        params._sel_ref = sel  # type: ignore[attr-defined]
        return params


def _rescore(
    queries: np.ndarray, scores: np.ndarray, ids: np.ndarray, lookup: VectorLookup, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Re-rank each query's short list by exact inner product, gathering only those rows."""
    found = ids >= 0
    if found.all():
        vecs = lookup.get(ids.ravel()).reshape(ids.shape[0], ids.shape[1], -1)
        exact = np.matmul(vecs, queries[:, :, None])[:, :, 0]
    else:
        exact = np.full(ids.shape, -np.inf, dtype=np.float32)
        vecs = lookup.get(ids[found])
        exact[found] = np.einsum("ij,ij->i", vecs, queries[np.nonzero(found)[0]])
    order = np.argsort(-exact, axis=1, kind="stable")[:, :k]
    out_s = np.take_along_axis(exact, order, axis=1)
    out_i = np.take_along_axis(ids, order, axis=1)
    out_i[~np.isfinite(out_s)] = -1
    return out_s, out_i


def vector_file_bytes(array: np.ndarray) -> tuple[bytes, list[str]]:
    """The stored form of a view's exact vectors (float16 .npy) and its chunk digests."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array, dtype=VECTOR_DTYPE), allow_pickle=False)
    data = buf.getvalue()
    return data, chunk_digests(data)


def chunk_digests(data: bytes | memoryview) -> list[str]:
    view = memoryview(data)
    return [
        hashlib.sha256(view[i : i + CHUNK_BYTES]).hexdigest()[:CHUNK_DIGEST_HEX]
        for i in range(0, len(view), CHUNK_BYTES)
    ] or [hashlib.sha256(b"").hexdigest()[:CHUNK_DIGEST_HEX]]


class MappedVectors:
    """A view's float16 exact vectors, memory-mapped from an open file and checked by chunk.

    Nothing is read at open but the header; every read goes through :meth:`rows` or
    :meth:`whole`, which first hash each chunk they touch that has not been checked yet, so
    every byte the search uses matches the manifest. Raises ``IndexCorruptError`` otherwise.
    """

    def __init__(
        self, f: Any, path: Path, entry: dict[str, Any], shape: tuple[int, int], root: Path
    ) -> None:
        self.path, self.root = path, root
        size = int(entry["bytes"])
        self.digests = list(entry["chunks"])
        actual = os.fstat(f.fileno()).st_size
        if actual != size:
            self._corrupt(f"size {actual} bytes, manifest says {size} bytes")
        if len(self.digests) != max(1, -(-size // CHUNK_BYTES)):
            self._corrupt(f"{len(self.digests)} chunk hashes for {size} bytes in the manifest")
        self._mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else None
        self._checked = np.zeros(len(self.digests), dtype=bool)
        self._lock = threading.Lock()
        if self._mm is None:
            self._corrupt("empty file")
        header = io.BytesIO(self._bytes(0, min(size, 4096)))
        try:
            version = np.lib.format.read_magic(header)
            read = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            hshape, fortran, dtype = read(header)
        except Exception as exc:  # a checked header that does not parse: not written by sfxkit
            self._corrupt(f"not a vector array ({exc})")
        if dtype != VECTOR_DTYPE or fortran or tuple(hshape) != shape:
            self._corrupt(f"holds {dtype} {tuple(hshape)}, manifest says float16 {shape}")
        self.offset = header.tell()
        self.shape = shape
        self.row_bytes = shape[1] * np.dtype(VECTOR_DTYPE).itemsize
        if self.offset + shape[0] * self.row_bytes != size:
            self._corrupt(f"header and size disagree ({size} bytes)")
        self._array = np.frombuffer(
            self._mm, dtype=VECTOR_DTYPE, count=shape[0] * shape[1], offset=self.offset
        ).reshape(shape)
        self._bytes_view = self._array.view(np.uint8)
        # FAISS's fp16 codes are IEEE half floats: its vectorised decoder is ~2x numpy's astype
        self._decoder = _faiss().ScalarQuantizer(shape[1], _faiss().ScalarQuantizer.QT_fp16)

    def _corrupt(self, why: str) -> None:
        raise IndexCorruptError(self.path, why, root=self.root)

    def _check_chunks(self, chunks: np.ndarray) -> None:
        todo = chunks[~self._checked[chunks]]
        if not len(todo):
            return
        assert self._mm is not None
        with self._lock:
            for c in np.unique(todo).tolist():
                if self._checked[c]:
                    continue
                got = hashlib.sha256(self._mm[c * CHUNK_BYTES : (c + 1) * CHUNK_BYTES])
                if got.hexdigest()[:CHUNK_DIGEST_HEX] != self.digests[c]:
                    self._corrupt(f"bytes {c * CHUNK_BYTES}+ do not match the manifest's hash")
                self._checked[c] = True

    def _bytes(self, start: int, end: int) -> bytes:
        assert self._mm is not None
        self._check_chunks(np.arange(start // CHUNK_BYTES, (end - 1) // CHUNK_BYTES + 1))
        return self._mm[start:end]

    def rows(self, positions: np.ndarray) -> np.ndarray:
        """float32 copies of the rows at ``positions`` (only their chunks are read)."""
        positions = np.asarray(positions, dtype=np.int64)
        start = self.offset + positions * self.row_bytes
        self._check_chunks(
            np.concatenate([start // CHUNK_BYTES, (start + self.row_bytes - 1) // CHUNK_BYTES])
        )
        return self._decoder.decode(self._bytes_view[positions])

    def whole(self) -> np.ndarray:
        self._check_chunks(np.arange(len(self.digests)))
        return self._array.astype(np.float32)

    @property
    def checked_fraction(self) -> float:
        """Share of the file's chunks read so far (tests: a filtered query reads no whole view)."""
        return float(self._checked.mean()) if len(self._checked) else 1.0


class VectorLookup:
    """Exact vectors of a view by id: a float32 array (indexes written before float16 storage)
    or :class:`MappedVectors`, which reads only the rows asked for."""

    def __init__(self, vectors: np.ndarray | MappedVectors, ids: np.ndarray) -> None:
        self.source = vectors
        self.ids = np.asarray(ids, dtype=np.int64)
        order = np.argsort(self.ids, kind="stable")
        self._sorted_ids = self.ids[order]
        self._order = order

    def positions(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        pos = np.searchsorted(self._sorted_ids, ids)
        pos = np.clip(pos, 0, max(len(self._sorted_ids) - 1, 0))
        if len(self._sorted_ids) == 0 or not np.all(self._sorted_ids[pos] == ids):
            missing = ids[self._sorted_ids[pos] != ids] if len(self._sorted_ids) else ids
            raise KeyError(f"ids not in this view: {missing[:5].tolist()}")
        return self._order[pos]

    @property
    def vectors(self) -> np.ndarray:
        """Every vector of the view as float32, in rows.parquet order (reads the whole view)."""
        if isinstance(self.source, MappedVectors):
            return self.source.whole()
        return self.source

    def get(self, ids: np.ndarray) -> np.ndarray:
        pos = self.positions(ids)
        if isinstance(self.source, MappedVectors):
            return self.source.rows(pos)
        return np.ascontiguousarray(self.source[pos], dtype=np.float32)


def _exact_search(
    queries: np.ndarray, candidates: np.ndarray, cand_ids: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    sims = queries @ candidates.T
    kk = min(k, len(cand_ids))
    top = np.argsort(-sims, axis=1, kind="stable")[:, :kk]
    scores = np.take_along_axis(sims, top, axis=1).astype(np.float32)
    ids = cand_ids[top]
    if kk < k:
        pad_s, pad_i = _empty(len(queries), k - kk)
        scores, ids = np.hstack([scores, pad_s]), np.hstack([ids, pad_i])
    return scores, ids


def _empty(nq: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full((nq, k), -np.inf, dtype=np.float32), np.full((nq, k), -1, dtype=np.int64)


def _is_ivf(index: Any) -> bool:
    faiss = _faiss()
    try:
        faiss.extract_index_ivf(index)
    except RuntimeError:
        return False
    return not isinstance(index, faiss.IndexIDMap)


class _blas_threshold:
    """Let batches of ``BLAS_FROM_QUERIES`` or more queries use FAISS's BLAS scan."""

    def __init__(self, nq: int) -> None:
        self.active = nq >= BLAS_FROM_QUERIES
        self.prev = 0

    def __enter__(self) -> None:
        if self.active:
            cvar = _faiss().cvar
            self.prev = cvar.distance_compute_blas_threshold
            cvar.distance_compute_blas_threshold = BLAS_FROM_QUERIES

    def __exit__(self, *exc: object) -> None:
        if self.active:
            _faiss().cvar.distance_compute_blas_threshold = self.prev


class _threads:
    """Temporarily set FAISS's OpenMP thread count (None = leave as is)."""

    def __init__(self, n: int | None) -> None:
        self.n = n
        self.prev = 0

    def __enter__(self) -> None:
        if self.n is not None:
            faiss = _faiss()
            self.prev = faiss.omp_get_max_threads()
            faiss.omp_set_num_threads(self.n)

    def __exit__(self, *exc: object) -> None:
        if self.n is not None:
            _faiss().omp_set_num_threads(self.prev)
