"""The on-disk index: versioned directories, a checksummed manifest, atomic commits, one writer.

Layout of an index directory::

    IDX/
      sfxkit-index.json        marker (format name and version), written once
      CURRENT                  "v000003 <sha256 of that version's manifest.json>"
      versions/v000003/
        manifest.json          format, models per view, dims, row count, sha256 + size of every file
        rows.parquet           one row per catalog item, keyed by item id and int64 faiss_id
        views/<view>.faiss     FAISS index with explicit int64 ids (faiss_id)
        views/<view>.npy       the exact float32 vectors, in rows.parquet order (reuse, rescoring)
        ...                    further files registered by later stages (bridge heads, calibration)
      .lock                    one writer at a time (filelock)

A commit writes a complete new version into a staging directory, fsyncs it, renames it into
``versions/`` and then replaces ``CURRENT`` by ``os.replace``: a crash at any point leaves either
the old version or the new one, never a mix. Readers check every file against the manifest's
size and sha256 before FAISS or Parquet sees it; ``CURRENT`` pins the manifest's own hash.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import io
import json
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sfxkit import __version__
from sfxkit._atomic import atomic_write_bytes, atomic_write_text, fsync_dir  # noqa: F401  (re-exported)
from sfxkit.errors import (
    IndexCorruptError,
    IndexLockedError,
    IndexMismatchError,
    IndexNotFoundError,
)

if TYPE_CHECKING:
    import pandas as pd

    from sfxkit.index import VectorIndex, VectorLookup

FORMAT = "sfxkit-index"
FORMAT_VERSION = 1
MARKER = "sfxkit-index.json"
CURRENT = "CURRENT"
VERSIONS = "versions"
LOCK = ".lock"
KEEP_VERSIONS = 2  # the current one and its predecessor
LOCK_TIMEOUT = float(os.environ.get("SFXKIT_LOCK_TIMEOUT", "600"))


# --------------------------------------------------------------------------- file helpers
def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


# ------------------------------------------------------------------------------ manifest
@dataclass(frozen=True)
class ViewInfo:
    name: str
    model: str
    tower: str  # "image" | "text" | "audio" | "bridge"
    source: str  # what was embedded: "visual_description", "metadata_text", "audio", ...
    dim: int
    count: int
    factory: str
    untrained: bool

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Manifest:
    raw: dict[str, Any]
    dir: Path  # the version directory this manifest describes (readers stay pinned to it)

    @property
    def version(self) -> int:
        return int(self.raw["version"])

    @property
    def row_count(self) -> int:
        return int(self.raw["row_count"])

    @property
    def views(self) -> dict[str, ViewInfo]:
        return {name: ViewInfo(name=name, **info) for name, info in self.raw["views"].items()}

    @property
    def models(self) -> dict[str, str]:
        return dict(self.raw.get("models", {}))

    @property
    def files(self) -> dict[str, dict[str, Any]]:
        return dict(self.raw["files"])

    @property
    def untrained(self) -> bool:
        return any(v.untrained for v in self.views.values())

    def get(self, key: str, default: Any = None) -> Any:
        return self.raw.get(key, default)


# ---------------------------------------------------------------------------- the store
class IndexStore:
    """An index directory. Open for reading with :func:`load_index`; write with :meth:`writer`."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()

    # ----------------------------------------------------------------- reading
    def exists(self) -> bool:
        return (self.root / CURRENT).is_file()

    def current_version_dir(self) -> tuple[Path, str]:
        pointer = self.root / CURRENT
        if not pointer.is_file():
            if self.root.is_dir() and (self.root / MARKER).is_file():
                raise IndexCorruptError(
                    self.root / CURRENT, "no committed version (CURRENT missing)"
                )
            raise IndexNotFoundError(self.root)
        try:
            name, digest = pointer.read_text().split()
        except ValueError as exc:
            raise IndexCorruptError(pointer, "unreadable version pointer") from exc
        vdir = self.root / VERSIONS / name
        if not vdir.is_dir():
            raise IndexCorruptError(vdir, "the current version directory is missing")
        return vdir, digest

    def manifest(self) -> Manifest:
        vdir, digest = self.current_version_dir()
        path = vdir / "manifest.json"
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise IndexCorruptError(path, f"cannot read manifest: {exc}") from exc
        if sha256_bytes(data) != digest:
            raise IndexCorruptError(path, "manifest checksum does not match CURRENT")
        raw = json.loads(data)
        if raw.get("format") != FORMAT or int(raw.get("format_version", 0)) > FORMAT_VERSION:
            raise IndexMismatchError(
                f"{path}: index format {raw.get('format')} v{raw.get('format_version')} is not "
                f"readable by sfxkit {__version__} (reads {FORMAT} v{FORMAT_VERSION}); upgrade sfxkit"
            )
        return Manifest(raw, vdir)

    def read_verified(self, relpath: str, manifest: Manifest | None = None) -> bytes:
        """Read a file of the current version after checking its size and sha256."""
        manifest = manifest or self.manifest()
        vdir = manifest.dir
        entry = manifest.files.get(relpath)
        if entry is None:
            raise IndexCorruptError(vdir / relpath, "file is not listed in the manifest")
        path = vdir / relpath
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise IndexCorruptError(path, f"cannot read: {exc}") from exc
        if len(data) != entry["bytes"]:
            raise IndexCorruptError(path, f"size {len(data)} bytes, manifest says {entry['bytes']}")
        if sha256_bytes(data) != entry["sha256"]:
            raise IndexCorruptError(path, "sha256 does not match the manifest")
        return data

    def verify(self) -> list[str]:
        """Check every file of the current version; return problems (empty = healthy)."""
        problems: list[str] = []
        try:
            manifest = self.manifest()
        except (IndexCorruptError, IndexMismatchError) as exc:
            return [str(exc)]
        for rel in manifest.files:
            try:
                self.read_verified(rel, manifest)
            except IndexCorruptError as exc:
                problems.append(str(exc))
        return problems

    # ----------------------------------------------------------------- writing
    @contextlib.contextmanager
    def lock(self, timeout: float | None = None) -> Iterator[None]:
        from filelock import FileLock, Timeout

        self.root.mkdir(parents=True, exist_ok=True)
        timeout = LOCK_TIMEOUT if timeout is None else timeout
        lock = FileLock(str(self.root / LOCK))
        try:
            lock.acquire(timeout=timeout)
        except Timeout as exc:
            raise IndexLockedError(self.root, timeout) from exc
        try:
            yield
        finally:
            lock.release()

    @contextlib.contextmanager
    def writer(self, timeout: float | None = None) -> Iterator[VersionWriter]:
        """Lock, stage a new version, and commit it atomically when the block exits cleanly."""
        with self.lock(timeout):
            self._init_marker()
            self._clean_staging()
            writer = VersionWriter(self)
            try:
                yield writer
            except BaseException:
                writer.abort()
                raise
            if not writer.committed:
                writer.abort()

    def _init_marker(self) -> None:
        marker = self.root / MARKER
        if marker.exists():
            return
        if any(p for p in self.root.iterdir() if p.name not in {LOCK}):
            raise IndexMismatchError(
                f"{self.root}: directory is not empty and is not an sfxkit index; "
                "choose an empty or new directory for --out"
            )
        atomic_write_text(
            marker, json.dumps({"format": FORMAT, "format_version": FORMAT_VERSION}, indent=2)
        )

    def _clean_staging(self) -> None:
        vroot = self.root / VERSIONS
        if vroot.is_dir():
            for p in vroot.iterdir():
                if p.name.startswith(".stage-"):
                    shutil.rmtree(p, ignore_errors=True)

    def _next_version(self) -> int:
        vroot = self.root / VERSIONS
        numbers = (
            [
                int(p.name[1:])
                for p in vroot.iterdir()
                if p.name.startswith("v") and p.name[1:].isdigit()
            ]
            if vroot.is_dir()
            else []
        )
        return max(numbers, default=0) + 1

    def _gc(self, keep: int = KEEP_VERSIONS) -> None:
        vroot = self.root / VERSIONS
        current, _ = self.current_version_dir()
        versions = sorted(
            (p for p in vroot.iterdir() if p.name.startswith("v") and p.name[1:].isdigit()),
            key=lambda p: int(p.name[1:]),
        )
        for old in versions[:-keep]:
            if old != current:
                shutil.rmtree(old, ignore_errors=True)


class VersionWriter:
    """Collects the files of a new version and commits them atomically."""

    def __init__(self, store: IndexStore) -> None:
        self.store = store
        self.stage = store.root / VERSIONS / f".stage-{uuid.uuid4().hex[:12]}"
        self.stage.mkdir(parents=True)
        self.files: dict[str, dict[str, Any]] = {}
        self.committed = False
        self.version: int | None = None

    def write_bytes(self, relpath: str, data: bytes) -> None:
        path = self.stage / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        self.files[relpath] = {"sha256": sha256_bytes(data), "bytes": len(data)}

    def write_json(self, relpath: str, obj: Any) -> None:
        self.write_bytes(relpath, json.dumps(obj, indent=2, sort_keys=True).encode())

    def write_npy(self, relpath: str, array: np.ndarray) -> None:
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
        self.write_bytes(relpath, buf.getvalue())

    def write_table(self, relpath: str, table: Any) -> None:
        import pyarrow.parquet as pq

        buf = io.BytesIO()
        pq.write_table(table, buf, compression="zstd")
        self.write_bytes(relpath, buf.getvalue())

    def copy_from_current(self, relpath: str) -> None:
        """Carry a verified file of the current version into this one unchanged."""
        self.write_bytes(relpath, self.store.read_verified(relpath))

    def commit(self, manifest: Mapping[str, Any]) -> int:
        if self.committed:
            raise RuntimeError("version already committed")
        version = self.store._next_version()
        raw = dict(manifest)
        raw.update(
            format=FORMAT,
            format_version=FORMAT_VERSION,
            version=version,
            created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            sfxkit_version=__version__,
            files=dict(sorted(self.files.items())),
        )
        data = json.dumps(raw, indent=2, sort_keys=True).encode()
        with open(self.stage / "manifest.json", "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        dirs = {self.stage} | {(self.stage / rel).parent for rel in self.files}
        for d in dirs:
            fsync_dir(d)
        name = f"v{version:06d}"
        final = self.store.root / VERSIONS / name
        os.replace(self.stage, final)
        fsync_dir(final.parent)
        # The switch: until this rename, readers see the previous version.
        atomic_write_text(self.store.root / CURRENT, f"{name} {sha256_bytes(data)}\n")
        self.committed = True
        self.version = version
        self.store._gc()
        return version

    def abort(self) -> None:
        shutil.rmtree(self.stage, ignore_errors=True)


# ------------------------------------------------------------------------ loaded index
class LoadedIndex:
    """A verified, read-only view of an index's current version: rows, views and vectors."""

    def __init__(self, store: IndexStore, *, views: list[str] | None = None) -> None:
        import pyarrow.parquet as pq

        self.store = store
        self.manifest = store.manifest()
        self.version = self.manifest.version
        table = pq.read_table(io.BytesIO(store.read_verified("rows.parquet", self.manifest)))
        self.table = table
        from sfxkit.catalog.schema import restore_raw_paths

        self.rows: pd.DataFrame = restore_raw_paths(table.to_pandas())  # non-UTF-8 names
        self.faiss_ids = self.rows["faiss_id"].to_numpy(dtype=np.int64)
        self._row_of_id = {int(f): i for i, f in enumerate(self.faiss_ids)}
        self._views: dict[str, VectorIndex] = {}
        self._vectors: dict[str, VectorLookup] = {}
        wanted = views if views is not None else list(self.manifest.views)
        for name in wanted:
            self.view(name)

    @property
    def root(self) -> Path:
        return self.store.root

    @property
    def view_names(self) -> list[str]:
        return list(self.manifest.views)

    def _check_view(self, name: str) -> None:
        if name not in self.manifest.views:
            raise IndexMismatchError(
                f"unknown view '{name}'; this index has: {', '.join(self.manifest.views) or 'none'}"
            )

    def view(self, name: str) -> VectorIndex:
        from sfxkit.index import VectorIndex, choose_preset

        self._check_view(name)
        if name not in self._views:
            info = self.manifest.views[name]
            data = self.store.read_verified(f"views/{name}.faiss", self.manifest)
            vi = VectorIndex.from_bytes(data, preset=choose_preset(info.count))
            if vi.ntotal != len(self.faiss_ids) or vi.dim != info.dim:
                raise IndexCorruptError(
                    self.root / f"views/{name}.faiss",
                    f"holds {vi.ntotal}×{vi.dim}, manifest says {len(self.faiss_ids)}×{info.dim}",
                )
            self._views[name] = vi
        return self._views[name]

    def vectors(self, name: str) -> VectorLookup:
        from sfxkit.index import VectorLookup

        self._check_view(name)
        if name not in self._vectors:
            data = self.store.read_verified(f"views/{name}.npy", self.manifest)
            arr = np.load(io.BytesIO(data), allow_pickle=False)
            if arr.shape[0] != len(self.faiss_ids):
                raise IndexCorruptError(self.root / f"views/{name}.npy", "row count mismatch")
            self._vectors[name] = VectorLookup(arr, self.faiss_ids)
        return self._vectors[name]

    def rows_for(self, faiss_ids: np.ndarray) -> list[int]:
        return [self._row_of_id[int(i)] for i in faiss_ids]

    def read_json(self, relpath: str) -> Any:
        return json.loads(self.store.read_verified(relpath, self.manifest))

    def read_bytes(self, relpath: str) -> bytes:
        return self.store.read_verified(relpath, self.manifest)

    def has_file(self, relpath: str) -> bool:
        return relpath in self.manifest.files


def load_index(path: str | Path, *, views: list[str] | None = None) -> LoadedIndex:
    """Open the current version of an index, verifying every file it reads.

    Raises ``IndexNotFoundError`` when there is no index at ``path`` and ``IndexCorruptError``
    when any file differs from the manifest.
    """
    return LoadedIndex(IndexStore(path), views=views)
