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
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from sfxkit.errors import ConfigError, IndexCorruptError, IndexMismatchError

PRESETS_PATH = Path(__file__).parents[1] / "data" / "index_presets.json"

# faiss 1.15 scans with BLAS only from 128000 queries up; on 2 cores BLAS already wins from 4
# (100k x 512 Flat: 16 queries 133 ms -> 31 ms). Measured in benchmarks/recommend.py.
BLAS_FROM_QUERIES = 4

# Below this many allowed ids a filtered query is answered exactly over just those vectors:
# exact, and faster than asking an approximate index to skip almost everything.
EXACT_FILTER_LIMIT = 4096

# Exact vectors are stored once, as float16 .npy, and read row by row with ``os.pread`` (never
# memory-mapped: a mapping of a file in the page cache counts whole folios into the reader's RSS
# on first touch, measured 256 MiB for 1000 scattered 1 KiB rows). Every CHUNK_BYTES of the file
# has a 128-bit sha256 prefix in a sidecar file that the manifest checks whole; a read hashes the
# chunks it returns rows from, every time (no "already checked" state to go stale): 4 KiB
# costs ~10 us of sha256 per row read, and only small filtered queries read rows at all.
CHUNK_BYTES = 1 << 12
CHUNK_DIGEST_BYTES = 16
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
        return self.factory.replace("{nlist}", str(nlist_for(n)))

    def train_rows(self, n: int, factory: str | None = None) -> int:
        """Rows to train on: the preset's ``train_sample``, raised to the MIN_POINTS_PER_CENTROID
        x nlist that FAISS asks k-means for (it warns below), at most ``n``."""
        factory = factory or self.factory_for(n)
        m = re.match(r"IVF(\d+)", factory)
        want = self.train_sample or n
        if m:
            want = max(want, MIN_POINTS_PER_CENTROID * int(m.group(1)))
        return min(n, want)


# FAISS's k-means warns below 39 training points per centroid (its own threshold): IVF lists
# trained on fewer are placed by noise and searches must probe more of them.
MIN_POINTS_PER_CENTROID = 39


def nlist_for(n: int) -> int:
    """IVF lists for ``n`` rows: 4 sqrt(n) as a power of two, at most n / 39 (so k-means has
    its 39 points per centroid even when the view is small), at least 1."""
    nlist = 2 ** max(4, round(math.log2(max(4 * math.sqrt(max(n, 1)), 16))))
    cap = max(1, n // MIN_POINTS_PER_CENTROID)
    while nlist > cap:
        nlist //= 2
    return nlist


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
    """A FAISS index over L2-normalised float32 vectors, searched by inner product (cosine).

    Two kinds, told apart by the factory: indexes holding sfxkit's int64 ids themselves (Flat and
    HNSW in an id map, IVF with ids in its lists), and *positional* ones (``...,Refine(...)``:
    FAISS's ``IndexRefine`` labels results by insertion order, so its labels are row positions
    and :meth:`attach_ids` supplies the ids, from rows.parquet, in that order).
    """

    def __init__(self, index: Any, *, preset: Preset | None = None) -> None:
        self._index = index
        self.preset = preset
        self._ids: np.ndarray | None = None  # positional indexes: the id of each row position
        self._id_order: np.ndarray | None = None
        self._plain_params: Any = None
        self.positional = isinstance(index, _faiss().IndexRefine)

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
        """An index over ``vectors`` (float32, or float16 / memory-mapped: added in pieces),
        trained on a seeded sample of at most the preset's ``train_sample`` rows."""
        faiss = _faiss()
        if not isinstance(vectors, np.ndarray):
            vectors = np.asarray(vectors, dtype=np.float32)
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
            sample = preset.train_rows(n, factory)
            train = (
                vectors if n <= sample else vectors[np.sort(rng.choice(n, sample, replace=False))]
            )
            base.train(np.ascontiguousarray(train, dtype=np.float32))
        if isinstance(base, faiss.IndexRefine):
            for _, block in _blocks(vectors):
                base.add(block)
            out = cls(base, preset=preset)
            out.attach_ids(ids)
            return out
        # IVF indexes carry ids natively; the others are wrapped in an id map.
        index = base if _is_ivf(base) else faiss.IndexIDMap2(base)
        for s, block in _blocks(vectors):
            index.add_with_ids(block, ids[s : s + len(block)])
        return cls(index, preset=preset)

    @classmethod
    def from_bytes(cls, data: bytes, *, preset: Preset | None = None) -> VectorIndex:
        faiss = _faiss()
        view, at = memoryview(data), 0

        def read(size: int) -> bytes:
            nonlocal at
            start, at = at, at + size
            return view[start:at].tobytes()

        # FAISS reads the checked bytes in 4 MiB pieces: deserialize_index would first copy
        # all of them into a vector of its own (0.65 s and a third copy in RAM at 1M items)
        reader = faiss.PyCallbackIOReader(read, 1 << 22)
        try:
            index = faiss.read_index(reader)  # SWIG returns the concrete index type
        finally:
            del reader
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

    def attach_ids(self, ids: np.ndarray) -> None:
        """A positional index's ids, one per row position (rows.parquet order)."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if len(ids) != self.ntotal:
            raise ValueError(f"{len(ids)} ids for {self.ntotal} vectors")
        self._ids = ids
        # ids written in ascending order (sfxkit's builds) need no sort order to find positions
        ascending = len(ids) < 2 or bool(np.all(ids[1:] > ids[:-1]))
        self._id_order = None if ascending else np.argsort(ids, kind="stable")

    def checked_ids(self) -> np.ndarray | None:
        """The ids, after checking that what FAISS read is a consistent index sfxkit could have
        written (raises ValueError or RuntimeError otherwise): a searchable id map or IVF; for a
        positional index, None once its labels are checked to be the row positions 0..n-1."""
        faiss = _faiss()
        if self.positional:
            refine = self._index
            n = self.ntotal
            if int(refine.base_index.ntotal) != n or int(refine.refine_index.ntotal) != n:
                raise ValueError(
                    f"base holds {refine.base_index.ntotal} vectors, refine "
                    f"{refine.refine_index.ntotal}, the index {n}"
                )
            labels = self._invlist_ids()
            if labels is not None and (
                len(labels) != n
                or (n and (labels.min() < 0 or labels.max() >= n))
                or (n and int(np.count_nonzero(np.bincount(labels, minlength=n))) != n)
            ):
                raise ValueError("its labels are not the row positions 0..n-1")
            return None
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

    def _invlist_ids(self) -> np.ndarray | None:
        faiss = _faiss()
        try:
            invlists = faiss.extract_index_ivf(self._index).invlists
        except RuntimeError:
            return None
        out = [
            faiss.rev_swig_ptr(invlists.get_ids(i), invlists.list_size(i))
            for i in range(invlists.nlist)
            if invlists.list_size(i)
        ]
        return np.concatenate(out).astype(np.int64) if out else np.zeros(0, np.int64)

    def ids(self) -> np.ndarray:
        faiss = _faiss()
        if self.positional:
            if self._ids is None:
                raise ValueError("a positional index has no ids until attach_ids()")
            return self._ids
        if isinstance(self._index, faiss.IndexIDMap):
            return faiss.vector_to_array(self._index.id_map).astype(np.int64)
        got = self._invlist_ids()
        return got if got is not None else np.zeros(0, np.int64)

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
        ``vectors`` can look vectors up by id, the search is exact over exactly those vectors
        (reading only their rows).
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
        params = self._plain_params if allowed is None else self._make_params(allowed)
        if params is None and allowed is None:
            params = self._plain_params = self._make_params(None)
        nq = len(queries)
        if nq == 1:
            # one query: one OpenMP thread (the fastest on small machines); the common case
            # is kept lean, as it is compared against raw FAISS in benchmarks/scale.py
            faiss = _faiss()
            prev = faiss.omp_get_max_threads()
            faiss.omp_set_num_threads(1)
            try:
                scores, labels = self._index.search(queries, kk, params=params)
            finally:
                faiss.omp_set_num_threads(prev)
        else:
            with _blas_threshold(nq):
                scores, labels = self._index.search(queries, kk, params=params)
        ids = self._ids_of(labels) if self.positional else labels
        if kk < k:
            pad_s, pad_i = _empty(nq, k - kk)
            scores, ids = np.hstack([scores, pad_s]), np.hstack([ids, pad_i])
        return scores, ids

    def _ids_of(self, labels: np.ndarray) -> np.ndarray:
        assert self._ids is not None, "attach_ids() first"
        ids = self._ids[labels]  # -1 (no result) picks the last id; put -1 back
        missing = labels < 0
        if missing.any():
            ids[missing] = -1
        return ids

    def _positions_of(self, ids: np.ndarray) -> np.ndarray:
        """Row positions of those ``ids`` that are in this positional view (others dropped)."""
        assert self._ids is not None, "attach_ids() first"
        sorted_ids = self._ids if self._id_order is None else self._ids[self._id_order]
        if not len(sorted_ids):
            return np.zeros(0, np.int64)
        at = np.clip(np.searchsorted(sorted_ids, ids), 0, len(sorted_ids) - 1)
        at = at[sorted_ids[at] == ids]
        return at if self._id_order is None else self._id_order[at]

    def _make_params(self, allowed: np.ndarray | None) -> Any:
        faiss = _faiss()
        keep: list[Any] = []  # SWIG params hold raw pointers: keep their targets alive with them
        sel = None
        if allowed is not None and self.positional:
            mask = np.zeros(self.ntotal, dtype=bool)
            mask[self._positions_of(allowed)] = True
            bits = np.packbits(mask, bitorder="little")
            sel = faiss.IDSelectorBitmap(self.ntotal, faiss.swig_ptr(bits))
            keep += [bits, sel]
        elif allowed is not None:
            sel = faiss.IDSelectorBatch(allowed)
            keep.append(sel)
        sp = self.preset.search_params if self.preset else {}
        index = self._index.base_index if self.positional else self._index
        base = faiss.downcast_index(index.index if isinstance(index, faiss.IndexIDMap) else index)
        if isinstance(base, faiss.IndexHNSW):
            params = faiss.SearchParametersHNSW()
            params.efSearch = int(sp.get("efSearch", 64))
        elif _is_ivf(index):
            params = faiss.SearchParametersIVF()
            params.nprobe = int(sp.get("nprobe", 32))
        else:
            params = faiss.SearchParameters()
        if sel is not None:
            params.sel = sel
        if self.positional:
            keep.append(params)
            outer = faiss.IndexRefineSearchParameters()
            outer.k_factor = float(max(1, self.k_factor))
            outer.base_index_params = params
            params = outer
        elif sel is None and type(params) is faiss.SearchParameters:
            return None
        params._keep = keep  # type: ignore[attr-defined]
        return params


ADD_ROWS = 1 << 14


def _blocks(vectors: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """(start, float32 rows) in pieces of ADD_ROWS (32 MiB at 512-d): a float16 or memory-mapped view is added to
    FAISS without a float32 copy of all of it (FAISS adds row by row; the result is the same)."""
    for s in range(0, len(vectors), ADD_ROWS):
        yield s, np.ascontiguousarray(vectors[s : s + ADD_ROWS], dtype=np.float32)


def vector_file_bytes(array: np.ndarray) -> tuple[bytes, bytes]:
    """The stored form of a view's exact vectors (float16 .npy) and its chunk digests."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array, dtype=VECTOR_DTYPE), allow_pickle=False)
    data = buf.getvalue()
    return data, chunk_digests(data)


def chunk_digests(data: bytes | memoryview) -> bytes:
    """128-bit sha256 prefixes of each CHUNK_BYTES of ``data``, concatenated."""
    view = memoryview(data)
    return b"".join(
        hashlib.sha256(view[i : i + CHUNK_BYTES]).digest()[:CHUNK_DIGEST_BYTES]
        for i in range(0, max(len(view), 1), CHUNK_BYTES)
    )


class ChunkedVectors:
    """A view's float16 exact vectors, read by row from an open file and checked by chunk.

    Nothing is read at open but the header. Every read goes through :meth:`rows` or
    :meth:`whole`, which hash each chunk they take rows from against the manifest's chunk
    digests before decoding it, so every byte the search uses matches the manifest; a mismatch
    raises ``IndexCorruptError``. Reads use ``os.pread`` on the reader's own file: nothing is
    mapped, so the process holds only the rows it asked for (the kernel's page cache may keep
    the file, shared and reclaimable).
    """

    def __init__(
        self,
        f: Any,
        path: Path,
        size: int,
        digests: bytes,
        shape: tuple[int, int],
        root: Path,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        self.path, self.root = path, root
        self.fd = f.fileno()
        self.chunk_bytes = chunk_bytes
        self.digests = digests
        self.chunks_read = 0  # chunks hashed so far (tests: a filtered query reads no whole view)
        actual = os.fstat(self.fd).st_size
        if actual != size:
            self._corrupt(f"size {actual} bytes, manifest says {size} bytes")
        self.n_chunks = max(1, -(-size // chunk_bytes))
        if len(digests) != self.n_chunks * CHUNK_DIGEST_BYTES:
            self._corrupt(f"{len(digests) // CHUNK_DIGEST_BYTES} chunk hashes for {size} bytes")
        self.size = size
        head = self._read(0, min(size, 4096))
        header = io.BytesIO(head)
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

    def _corrupt(self, why: str) -> None:
        raise IndexCorruptError(self.path, why, root=self.root)

    def _read(self, start: int, end: int) -> bytes:
        """Bytes [start, end) of the file, every chunk they overlap read whole and checked."""
        cb = self.chunk_bytes
        c0, c1 = start // cb, (max(end, start + 1) - 1) // cb + 1
        data = _pread_full(self.fd, min(self.size, c1 * cb) - c0 * cb, c0 * cb)
        view = memoryview(data)
        for c in range(c0, c1):
            got = hashlib.sha256(view[(c - c0) * cb : (c - c0 + 1) * cb]).digest()
            want = self.digests[c * CHUNK_DIGEST_BYTES : (c + 1) * CHUNK_DIGEST_BYTES]
            if got[:CHUNK_DIGEST_BYTES] != want:
                self._corrupt(f"bytes {c * cb}+ do not match the manifest's chunk hash")
        self.chunks_read += c1 - c0
        return data[start - c0 * cb : end - c0 * cb]

    def rows(self, positions: np.ndarray) -> np.ndarray:
        """float32 copies of the rows at ``positions`` (only their chunks are read)."""
        positions = np.asarray(positions, dtype=np.int64)
        out = np.empty((len(positions), self.shape[1]), dtype=np.float32)
        if not len(positions):
            return out
        order = np.argsort(positions, kind="stable")
        # rows in adjacent chunks are read together: one pread and one hash per chunk
        starts = self.offset + positions[order] * self.row_bytes
        run_start = 0
        for j in range(1, len(order) + 1):
            if (
                j < len(order)
                and (starts[j] // self.chunk_bytes)
                - ((starts[j - 1] + self.row_bytes - 1) // self.chunk_bytes)
                <= 1
            ):
                continue
            lo, hi = int(starts[run_start]), int(starts[j - 1]) + self.row_bytes
            block = self._read(lo, hi)
            rel = starts[run_start:j] - lo
            buf = np.frombuffer(block, dtype=np.uint8)
            take = buf[rel[:, None] + np.arange(self.row_bytes)]
            out[order[run_start:j]] = take.view(VECTOR_DTYPE).astype(np.float32)
            run_start = j
        return out

    def whole(self) -> np.ndarray:
        data = self._read(self.offset, self.size)
        return np.frombuffer(data, dtype=VECTOR_DTYPE).reshape(self.shape).astype(np.float32)

    @property
    def read_fraction(self) -> float:
        """Chunks hashed so far over the file's chunks (above 1 once rows are read again)."""
        return self.chunks_read / self.n_chunks


def _pread_full(fd: int, size: int, offset: int) -> bytes:
    """``size`` bytes at ``offset`` (Linux returns at most ~2 GiB per pread; a short read of a
    shrunk file returns fewer bytes, which then fail their chunk hash)."""
    parts = []
    while size > 0:
        got = os.pread(fd, min(size, 1 << 30), offset)
        if not got:
            break
        parts.append(got)
        size -= len(got)
        offset += len(got)
    return parts[0] if len(parts) == 1 else b"".join(parts)


class VectorLookup:
    """Exact vectors of a view by id: a float32 array (indexes written before float16 storage)
    or :class:`ChunkedVectors`, which reads only the rows asked for."""

    def __init__(self, vectors: np.ndarray | ChunkedVectors, ids: np.ndarray) -> None:
        self.source = vectors
        self.ids = np.asarray(ids, dtype=np.int64)
        ascending = len(self.ids) < 2 or bool(np.all(self.ids[1:] > self.ids[:-1]))
        self._order = None if ascending else np.argsort(self.ids, kind="stable")
        self._sorted_ids = self.ids if self._order is None else self.ids[self._order]

    def positions(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        pos = np.searchsorted(self._sorted_ids, ids)
        pos = np.clip(pos, 0, max(len(self._sorted_ids) - 1, 0))
        if len(self._sorted_ids) == 0 or not np.all(self._sorted_ids[pos] == ids):
            missing = ids[self._sorted_ids[pos] != ids] if len(self._sorted_ids) else ids
            raise KeyError(f"ids not in this view: {missing[:5].tolist()}")
        return pos if self._order is None else self._order[pos]

    @property
    def vectors(self) -> np.ndarray:
        """Every vector of the view as float32, in rows.parquet order (reads the whole view)."""
        if isinstance(self.source, ChunkedVectors):
            return self.source.whole()
        return self.source

    def get(self, ids: np.ndarray) -> np.ndarray:
        pos = self.positions(ids)
        if isinstance(self.source, ChunkedVectors):
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
