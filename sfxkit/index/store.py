"""The on-disk index: versioned directories, a checksummed manifest, atomic commits, one writer.

Layout of an index directory::

    IDX/
      sfxkit-index.json        marker: format name and version, and the newest committed version
      CURRENT                  "v000003 <sha256 of that version's manifest.json>"
      versions/v000003/
        manifest.json          format, models per view, dims, row count, sha256 + size of every
                               file, and the version it replaced (``previous``)
        rows.parquet           one row per catalog item, keyed by item id and int64 faiss_id
        views/<view>.faiss     FAISS index with explicit int64 ids (faiss_id)
        views/<view>.npy       the exact vectors, in rows.parquet order (reuse, exact filtered
                               search): float16, read by row (indexes written before that hold
                               float32, read whole)
        views/<view>.npy.chunks  a 128-bit sha256 prefix per 4 KiB of that .npy
        ...                    further files registered by later stages (bridge heads, calibration)
      .lock                    one writer at a time (flock; holds the writer's pid, host, start)

A commit writes a complete new version into a staging directory, fsyncs it, renames it into
``versions/``, replaces ``CURRENT`` by ``os.replace`` and then records the version in the marker:
a crash at any point leaves either the old version or the new one, never a mix. The first build
assembles the whole directory beside its target (``.IDX.sfxkit-new-*``) and renames it into place,
so a failed or killed first build leaves no index directory at all. ``CURRENT`` older than the
marker's newest version means someone put an old pointer back: readers refuse it, and
:meth:`IndexStore.repair` returns to the newest version that verifies.

Readers check every file against the manifest's size and sha256 before FAISS or Parquet sees it
(a float16 vector file: each chunk it returns rows from, at every read, against the chunk
digests file, itself checked whole);
``CURRENT`` pins the manifest's own hash. A :class:`LoadedIndex` opens all of its version's files
when it loads, so a rebuild's cleanup never pulls a file from under a long-lived reader.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import hashlib
import io
import json
import os
import shutil
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from sfxkit._atomic import atomic_write_bytes, atomic_write_text, fsync_dir  # noqa: F401  (re-exported)
from sfxkit._version import __version__
from sfxkit.errors import (
    DiskFullError,
    IndexCorruptError,
    IndexCreatingError,
    IndexLockedError,
    IndexMismatchError,
    IndexNotFoundError,
    IndexStoreError,
    is_disk_full,
)

if TYPE_CHECKING:
    import pandas as pd

    from sfxkit.index.views import VectorIndex, VectorLookup

FORMAT = "sfxkit-index"
FORMAT_VERSION = 1
MARKER = "sfxkit-index.json"
CURRENT = "CURRENT"
VERSIONS = "versions"
SCRATCH = ".scratch"  # a build's on-disk vectors while it runs; never part of a version
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
    # what the vectors were computed from besides the weights (the aiSFX input layout and its
    # version): vectors of another front end are neither reused nor searched with new queries;
    # "" for views that have none and for indexes written before it was recorded
    frontend: str = ""
    # approximate views: what build-time tuning measured (sfxkit.index.tune.Tuning.to_dict());
    # searches use its ``params``. None for exact views and indexes written before tuning.
    tuning: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        if out["tuning"] is None:
            del out["tuning"]
        return out


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


# -------------------------------------------------------------------------------- the lock
def lock_holder(path: Path) -> dict[str, Any] | None:
    """Who holds (or last held) the lock file at ``path``: pid, host, started, command."""
    try:
        info = json.loads(path.read_bytes() or b"null")
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def describe_holder(holder: dict[str, Any] | None) -> str:
    if not holder:
        return "another process"
    return (
        f"another process (pid {holder.get('pid')} on {holder.get('host')}, "
        f"started {holder.get('started')}: {holder.get('command', '')})"
    )


def _holder_is_dead(holder: dict[str, Any] | None) -> bool:
    """True only when the holder ran on this host and its pid no longer exists."""
    if not holder or holder.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(holder["pid"]), 0)
    except ProcessLookupError:
        return True
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return False


def _try_flock(fd: int, shared: bool = False) -> bool:
    import fcntl

    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def is_locked(path: Path) -> bool:
    """Whether a live process holds the lock file at ``path`` (a probe; takes nothing)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        return not _try_flock(fd, shared=True)
    finally:
        os.close(fd)


@contextlib.contextmanager
def hold_lock(path: Path, what: Path, timeout: float) -> Iterator[None]:
    """Hold the flock on ``path`` for writing ``what``; say once, on stderr, whom we wait for.

    flock dies with its process, so a killed build never leaves a lock that blocks; the file
    itself stays (unlinking it would race with the next writer). The holder's pid, host and start
    time are written into it for the next writer's messages.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        told = False
        while not _try_flock(fd):
            holder = lock_holder(path)
            if not told:  # before the deadline check: however short the wait, say whom it was for
                print(
                    f"{what}: waiting for {describe_holder(holder)} to finish writing this index "
                    f"(up to {timeout:.0f} s; SFXKIT_LOCK_TIMEOUT changes the limit)",
                    file=sys.stderr,
                    flush=True,
                )
                told = True
            if time.monotonic() >= deadline:
                raise IndexLockedError(
                    what, timeout, describe_holder(holder), _advice(path, holder)
                )
            time.sleep(min(0.2, max(deadline - time.monotonic(), 0.01)))
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join(Path(sys.argv[0]).name.split() + sys.argv[1:])[:300],
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the flock


def _advice(path: Path, holder: dict[str, Any] | None) -> str:
    if _holder_is_dead(holder):
        return (
            f"pid {holder and holder.get('pid')} no longer runs on this host, yet the lock is held "
            "(a child process it started, or a network file system); if no sfxkit build runs on "
            f"any machine sharing this folder, delete {path}"
        )
    return (
        "wait for it to finish, or stop that process; its lock is released automatically "
        "when it exits"
    )


# ---------------------------------------------------------------------------- the store
def _version_number(p: Path) -> int | None:
    return int(p.name[1:]) if p.name.startswith("v") and p.name[1:].isdigit() else None


def _is_leftover(name: str) -> bool:
    """Names only an sfxkit writer puts in an index directory (a crash may leave them)."""
    return (
        name in {LOCK, MARKER, VERSIONS}
        or name.startswith(f".{MARKER}.")
        or name.startswith(f".{CURRENT}.")
    )


def _newest_in_marker(base: Path) -> int | None:
    try:
        return int(json.loads((base / MARKER).read_bytes())["newest_committed"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


class IndexStore:
    """An index directory. Open for reading with :func:`load_index`; write with :meth:`writer`."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()

    # ----------------------------------------------------------------- state
    def exists(self) -> bool:
        return (self.root / CURRENT).is_file()

    def _new_dirs(self) -> list[Path]:
        parent = self.root.parent
        if not parent.is_dir():
            return []
        return sorted(parent.glob(f".{self.root.name}.sfxkit-new-*"))

    def being_created(self) -> dict[str, Any] | None:
        """The holder of a first build in progress for this directory, or None."""
        for d in self._new_dirs():
            if is_locked(d / LOCK):
                return lock_holder(d / LOCK) or {}
        return None

    def _not_an_index(self) -> IndexStoreError:
        """The error for a directory without a committed version: being created, or no index."""
        holder = self.being_created()
        if holder is not None:
            return IndexCreatingError(self.root, describe_holder(holder))
        if self.root.is_file():
            return IndexNotFoundError(
                self.root,
                "is a file, not an index directory; pass an index directory, or build one into a "
                "new directory with `sfxkit index build SFX_DIR --out NEW_DIR`",
            )
        if self.root.is_dir():
            names = [p.name for p in self.root.iterdir()]
            if names and all(_is_leftover(n) for n in names):
                return IndexNotFoundError(
                    self.root,
                    "no sfxkit index here: an interrupted first build left files; "
                    f"`sfxkit index build SFX_DIR --out {self.root}` clears them and builds",
                )
            if names:
                return IndexNotFoundError(
                    self.root,
                    "this folder holds other files and no sfxkit index; build one into a new "
                    "directory with `sfxkit index build SFX_DIR --out NEW_DIR`",
                )
        return IndexNotFoundError(self.root)

    # ----------------------------------------------------------------- reading
    def _read_pointer(self) -> tuple[str, str]:
        pointer = self.root / CURRENT
        try:
            text = pointer.read_text()
        except (FileNotFoundError, NotADirectoryError):
            raise self._not_an_index() from None
        except (OSError, UnicodeDecodeError) as exc:
            raise IndexCorruptError(
                pointer, f"unreadable version pointer ({exc})", root=self.root
            ) from exc
        parts = text.split()
        if len(parts) != 2 or _version_number(Path(parts[0])) is None:
            raise IndexCorruptError(pointer, "unreadable version pointer", root=self.root)
        return parts[0], parts[1]

    def current_version_dir(self) -> tuple[Path, str]:
        name, digest = self._read_pointer()
        vdir = self.root / VERSIONS / name
        if not vdir.is_dir():
            raise IndexCorruptError(
                vdir, "the current version directory is missing", root=self.root
            )
        return vdir, digest

    def head(self) -> tuple[int, str] | None:
        """The newest committed version recorded in the marker (None for older indexes)."""
        try:
            head = json.loads((self.root / MARKER).read_bytes()).get("head") or {}
            return int(head["version"]), str(head["manifest_sha256"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def _read_manifest(self, vdir: Path, digest: str | None) -> Manifest:
        path = vdir / "manifest.json"
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise IndexCorruptError(path, f"cannot read manifest: {exc}", root=self.root) from exc
        if digest is not None and sha256_bytes(data) != digest:
            raise IndexCorruptError(
                path, "manifest checksum does not match CURRENT", root=self.root
            )
        try:
            raw = json.loads(data)
        except ValueError as exc:
            raise IndexCorruptError(path, f"manifest is not JSON ({exc})", root=self.root) from exc
        if not isinstance(raw, dict):
            raise IndexCorruptError(path, "manifest is not a JSON object", root=self.root)
        if raw.get("format") != FORMAT or int(raw.get("format_version", 0) or 0) > FORMAT_VERSION:
            raise IndexMismatchError(
                f"{path}: index format {raw.get('format')} v{raw.get('format_version')} is not "
                f"readable by sfxkit {__version__} (reads {FORMAT} v{FORMAT_VERSION}); upgrade sfxkit"
            )
        manifest = Manifest(raw, vdir)
        try:
            manifest.version, manifest.row_count, manifest.views  # noqa: B018
            for entry in manifest.files.values():
                int(entry["bytes"]), str(entry["sha256"])  # noqa: B018
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise IndexCorruptError(
                path, f"manifest lacks or garbles {exc}", root=self.root
            ) from exc
        return manifest

    def manifest(self) -> Manifest:
        vdir, digest = self.current_version_dir()
        manifest = self._read_manifest(vdir, digest)
        head = self.head()
        if head is not None and head != (manifest.version, digest) and manifest.version < head[0]:
            # A commit writes CURRENT before the marker, so CURRENT may lead the marker by one
            # commit, never trail it: a trailing CURRENT is an old pointer put back.
            raise IndexCorruptError(
                self.root / CURRENT,
                f"CURRENT points at version {manifest.version}, but version {head[0]} was "
                "committed after it (an older CURRENT copied back?)",
                root=self.root,
            )
        return manifest

    def read_verified(self, relpath: str, manifest: Manifest | None = None) -> bytes:
        """Read a file of the current version after checking its size and sha256."""
        manifest = manifest or self.manifest()
        path = manifest.dir / relpath
        try:
            with open(path, "rb") as f:
                return _checked(f, relpath, manifest, self.root)
        except OSError as exc:
            raise IndexCorruptError(path, f"cannot read: {exc}", root=self.root) from exc

    def verify(self) -> list[str]:
        """Check everything that can be checked; return problems (empty = healthy).

        The marker (it guards against an old ``CURRENT`` copied back), every file of the current
        version against the manifest, and then whether each FAISS view answers for the exact
        vectors stored beside it: a sample of items must find themselves, which catches a FAISS
        file that is valid but belongs to another view or index.
        """
        problems = self._verify_marker()
        try:
            manifest = self.manifest()
        except (IndexCorruptError, IndexMismatchError) as exc:
            return [*problems, str(exc)]
        files = self._verify_version(manifest)
        return problems + (files or self._verify_views(manifest))

    def _verify_marker(self) -> list[str]:
        path = self.root / MARKER
        try:
            raw = json.loads(path.read_bytes())
        except FileNotFoundError:
            return [f"{path}: the index marker is missing"]
        except (OSError, ValueError) as exc:
            why = "empty" if path.is_file() and path.stat().st_size == 0 else f"not JSON ({exc})"
            return [f"{path}: the index marker is {why}"]
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            return [f"{path}: not an sfxkit index marker (no format {FORMAT!r})"]
        bad = []
        if "head" in raw and self.head() is None:
            bad.append("its head (the newest committed version) is garbled")
        if "newest_committed" in raw and _newest_in_marker(self.root) is None:
            bad.append("its newest_committed is garbled")
        return [f"{path}: {'; '.join(bad)}"] if bad else []

    def _verify_views(self, manifest: Manifest, sample: int = 64) -> list[str]:
        """Each view's FAISS index, searched with a sample of its own stored vectors, must return
        each of them first (or an item with the same vector: exact duplicates tie)."""
        problems: list[str] = []
        try:
            loaded = LoadedIndex(self)
        except IndexStoreError as exc:
            return [str(exc)]
        try:
            if loaded.manifest.version != manifest.version:
                return []  # a commit happened meanwhile: its files were checked by no one here
            n = len(loaded.faiss_ids)
            picks = np.unique(np.linspace(0, n - 1, min(n, sample)).astype(np.int64))
            ids = loaded.faiss_ids[picks]
            for name in loaded.view_names:
                if f"views/{name}.npy" not in manifest.files or n == 0:
                    continue
                rel = f"views/{name}.faiss"
                try:
                    vectors = loaded.vectors(name).get(ids)
                    scores, found = loaded.view(name).search(vectors, 1)
                except IndexCorruptError as exc:
                    problems.append(str(exc))
                    continue
                own = np.einsum("ij,ij->i", vectors, vectors)
                hit = (found[:, 0] == ids) | (scores[:, 0] >= own - 1e-3 * np.maximum(own, 1))
                # approximate presets may miss an item now and then; a wrong file misses most
                if hit.mean() < 0.9:
                    problems.append(
                        f"{manifest.dir / rel}: the FAISS index does not answer for the vectors "
                        f"stored beside it ({int((~hit).sum())} of {len(ids)} sampled items did "
                        "not find themselves: a FAISS file of another view or index?); rebuild "
                        f"with `sfxkit index build SFX_DIR --out {self.root}`"
                    )
        finally:
            loaded.close()
        return problems

    def _verify_version(self, manifest: Manifest) -> list[str]:
        problems: list[str] = []
        for rel in manifest.files:
            try:
                self.read_verified(rel, manifest)
            except IndexCorruptError as exc:
                problems.append(str(exc))
        return problems

    def versions(self) -> list[Path]:
        """Version directories on disk, oldest first (committed or not)."""
        vroot = self.root / VERSIONS
        if not vroot.is_dir():
            return []
        found = [p for p in vroot.iterdir() if p.is_dir() and _version_number(p) is not None]
        return sorted(found, key=lambda p: _version_number(p) or 0)

    def _newest_committed(self) -> int | None:
        """The highest version known to have been committed (marker or CURRENT)."""
        known = []
        if (head := self.head()) is not None:
            known.append(head[0])
        if (newest := _newest_in_marker(self.root)) is not None:
            known.append(newest)
        with contextlib.suppress(IndexStoreError):
            known.append(_version_number(Path(self._read_pointer()[0])) or 0)
        return max(known) if known else None

    def repair(
        self, *, to: int | None = None, older: bool = False, timeout: float | None = None
    ) -> tuple[int | None, int, list[str]]:
        """Point CURRENT at the newest committed version that verifies (or at version ``to``).

        ``older``: skip the current version (a rollback). Returns (from, to, problems of the
        versions passed over). Raises ``IndexCorruptError`` when no version verifies.
        """
        if not (self.root / MARKER).is_file() and not self.exists():
            raise self._not_an_index()  # (a lost marker alone is repaired: it is rewritten)
        with hold_lock(self.root / LOCK, self.root, LOCK_TIMEOUT if timeout is None else timeout):
            try:
                current: int | None = _version_number(Path(self._read_pointer()[0]))
            except IndexStoreError:
                current = None
            newest = self._newest_committed()
            skipped: list[str] = []
            for vdir in reversed(self.versions()):
                n = _version_number(vdir) or 0
                if newest is not None and n > newest:
                    continue  # renamed into place but never committed
                if (to is not None and n != to) or (older and current is not None and n >= current):
                    continue
                problems = self._check_version(vdir)
                if problems:
                    first = problems[0].split("; ")[0]  # the file and the reason, not the advice
                    skipped.append(f"version {n}: {first}")
                    continue
                if n != current or self.verify():
                    self._point_at(vdir)
                return current, n, skipped
        wanted = f"version {to}" if to is not None else "no committed version"
        raise IndexCorruptError(
            self.root,
            f"{wanted} verifies ({'; '.join(skipped) or 'none on disk'})",
            root=self.root,
            rebuild_only=True,
        )

    def _check_version(self, vdir: Path) -> list[str]:
        """Problems of one version on disk, pinned by nothing but its own manifest."""
        try:
            return self._verify_version(self._read_manifest(vdir, None))
        except IndexCorruptError as exc:
            return [f"{exc.path}: {exc.reason}"]
        except IndexMismatchError as exc:
            return [str(exc)]

    def _predecessor(self) -> dict[str, Any] | None:
        """What a new commit replaces: the current version if it is healthy, else the newest
        committed version that verifies, so cleanup keeps an intact version over a corrupt one."""
        with contextlib.suppress(IndexStoreError):
            manifest = self.manifest()
            if not self._verify_version(manifest):
                return {"version": manifest.version, "manifest_sha256": self._read_pointer()[1]}
        newest = self._newest_committed()
        for vdir in reversed(self.versions()):
            n = _version_number(vdir) or 0
            if (newest is None or n <= newest) and not self._check_version(vdir):
                return {"version": n, "manifest_sha256": sha256_file(vdir / "manifest.json")}
        return None

    def _point_at(self, vdir: Path) -> None:
        """Make ``vdir`` current. The marker first: a crash in between leaves CURRENT ahead of
        the marker, which readers accept, so an interrupted rollback changes nothing."""
        data = (vdir / "manifest.json").read_bytes()
        n = _version_number(vdir) or 0
        self._write_marker(n, sha256_bytes(data), self.root)
        atomic_write_text(self.root / CURRENT, f"{vdir.name} {sha256_bytes(data)}\n")

    @staticmethod
    def _write_marker(version: int | None, digest: str | None, base: Path) -> None:
        marker: dict[str, Any] = {"format": FORMAT, "format_version": FORMAT_VERSION}
        if version is not None:
            marker["head"] = {"version": version, "manifest_sha256": digest}
            # after a rollback the head goes back, but version numbers never repeat
            marker["newest_committed"] = max(version, _newest_in_marker(base) or 0)
        atomic_write_text(base / MARKER, json.dumps(marker, indent=2))

    # ----------------------------------------------------------------- writing
    @contextlib.contextmanager
    def lock(self, timeout: float | None = None) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with hold_lock(self.root / LOCK, self.root, LOCK_TIMEOUT if timeout is None else timeout):
            yield

    @contextlib.contextmanager
    def writer(self, timeout: float | None = None) -> Iterator[VersionWriter]:
        """Lock, stage a new version, and commit it atomically when the block exits cleanly.

        Into a directory that holds no index yet, the whole index is assembled beside it and
        renamed into place at commit, so a failure leaves the directory as it was.
        """
        timeout = LOCK_TIMEOUT if timeout is None else timeout
        if self.exists():
            with hold_lock(self.root / LOCK, self.root, timeout):
                self._clean()
                writer = VersionWriter(self, self.root)
                with writer._aborting():
                    yield writer
            return
        self._wait_for_first_builds(timeout)
        if self.exists():  # another first build finished while we waited
            with self.writer(timeout) as writer:
                yield writer
            return
        self._check_target(timeout)
        new = self.root.parent / f".{self.root.name}.sfxkit-new-{uuid.uuid4().hex[:12]}"
        new.mkdir()
        try:
            with hold_lock(new / LOCK, self.root, timeout):
                writer = VersionWriter(self, new)
                with writer._aborting():
                    yield writer
        finally:
            shutil.rmtree(new, ignore_errors=True)  # gone by now unless the build failed

    def _wait_for_first_builds(self, timeout: float) -> None:
        """Wait for another first build of this directory; remove the leftovers of dead ones."""
        self.root.parent.mkdir(parents=True, exist_ok=True)
        for d in self._new_dirs():
            if is_locked(d / LOCK):
                with (
                    contextlib.suppress(FileNotFoundError),
                    hold_lock(d / LOCK, self.root, timeout),
                ):
                    pass
            else:
                shutil.rmtree(d, ignore_errors=True)

    def _check_target(self, timeout: float) -> None:
        """Refuse a target that is a file or a folder of other files; clear an old crash's files."""
        if self.root.is_file() or (self.root.exists() and not self.root.is_dir()):
            raise IndexMismatchError(
                f"{self.root}: is a file, not a directory; choose a new or empty directory for --out"
            )
        if not self.root.is_dir():
            return
        names = [p.name for p in self.root.iterdir()]
        if not names:
            return
        if not all(_is_leftover(n) for n in names):
            raise IndexMismatchError(
                f"{self.root}: directory is not empty and is not an sfxkit index; "
                "choose an empty or new directory for --out (nothing was written)"
            )
        # An interrupted first build of an older sfxkit: only its own files are here.
        with hold_lock(self.root / LOCK, self.root, timeout):
            for n in names:
                if n != LOCK:
                    p = self.root / n
                    shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
        (self.root / LOCK).unlink(missing_ok=True)

    def _clean(self) -> None:
        """Remove what killed writers left: staging, temp files, versions never committed."""
        for p in self.root.iterdir():
            if p.name.startswith((f".{CURRENT}.", f".{MARKER}.")):
                p.unlink(missing_ok=True)
        vroot = self.root / VERSIONS
        if vroot.is_dir():
            for p in vroot.iterdir():
                if p.name.startswith(".stage-"):
                    shutil.rmtree(p, ignore_errors=True)
        newest = self._newest_committed()
        if newest is not None:
            for vdir in self.versions():
                if (_version_number(vdir) or 0) > newest:
                    shutil.rmtree(vdir, ignore_errors=True)

    def _next_version(self) -> int:
        return max((_version_number(p) or 0 for p in self.versions()), default=0) + 1

    def _gc(self, keep: int = KEEP_VERSIONS) -> None:
        """Keep the current version and its predecessors (``keep`` in all); delete the rest."""
        try:
            vdir, digest = self.current_version_dir()
            manifest = self._read_manifest(vdir, digest)
        except IndexStoreError:
            return
        kept = {vdir}
        prev = manifest.get("previous")
        while len(kept) < keep and isinstance(prev, dict):
            pdir = self.root / VERSIONS / f"v{int(prev.get('version', 0)):06d}"
            if not pdir.is_dir():
                break
            kept.add(pdir)
            try:
                prev = self._read_manifest(pdir, None).get("previous")
            except IndexStoreError:
                break
        if "previous" not in manifest.raw:  # written by an older sfxkit: keep by number
            older = [p for p in self.versions() if (_version_number(p) or 0) < manifest.version]
            kept.update(older[-(keep - 1) :] if keep > 1 else [])
        for old in self.versions():
            if old not in kept:
                shutil.rmtree(old, ignore_errors=True)


def _checked(f: BinaryIO, relpath: str, manifest: Manifest, root: Path) -> bytes:
    """The bytes of an open version file, after checking them against the manifest."""
    path = manifest.dir / relpath
    entry = manifest.files.get(relpath)
    if entry is None:
        raise IndexCorruptError(path, "file is not listed in the manifest", root=root)
    f.seek(0)
    want = int(entry["bytes"])
    data = f.read(want + 1)
    if len(data) != want:
        size = f"{len(data)} bytes" if len(data) < want else "larger"
        raise IndexCorruptError(path, f"size {size}, manifest says {want} bytes", root=root)
    if sha256_bytes(data) != entry["sha256"]:
        raise IndexCorruptError(path, "sha256 does not match the manifest", root=root)
    return data


class VersionWriter:
    """Collects the files of a new version and commits them atomically.

    ``base`` is the index directory itself, or for a first build the directory assembled
    beside it that the commit renames into place.
    """

    def __init__(self, store: IndexStore, base: Path) -> None:
        self.store = store
        self.base = base
        self.stage = base / VERSIONS / f".stage-{uuid.uuid4().hex[:12]}"
        self.stage.mkdir(parents=True)
        self.files: dict[str, dict[str, Any]] = {}
        self.committed = False
        self.version: int | None = None
        # What the whole new version needs on disk, when the build could estimate it: a full
        # disk's error says it.
        self.space_needed: int | None = None
        self._unswitched: Path | None = None

    @contextlib.contextmanager
    def _disk_full(self, what: str, path: Path) -> Iterator[None]:
        """A full disk as :class:`DiskFullError` naming ``what`` was written, where, and the
        space the version needs; the stage is removed on the way out (see ``_aborting``)."""
        try:
            yield
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            kept = (
                "nothing was written: a first build leaves no index behind"
                if self.first
                else f"{self.store.root} keeps its current version"
            )
            free = None
            with contextlib.suppress(OSError):
                free = shutil.disk_usage(self.base).free
            # the staging folder is gone by the time the user reads this: name the index
            where = self.store.root if path.is_relative_to(self.base) else path
            raise DiskFullError(
                where, what, needed=self.space_needed, free=free, kept=kept
            ) from exc

    @property
    def first(self) -> bool:
        return self.base != self.store.root

    @contextlib.contextmanager
    def _aborting(self) -> Iterator[None]:
        try:
            yield
        finally:
            if not self.committed:
                self.abort()

    def write_bytes(self, relpath: str, data: bytes) -> None:
        path = self.stage / relpath
        with self._disk_full(f"the index file {relpath}", path):
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

    def write_vectors(self, relpath: str, array: np.ndarray) -> None:
        """A view's exact vectors, stored once as float16, and ``<relpath>.chunks``: a 128-bit
        sha256 prefix per 4 KiB of it, so that a reader checks only the rows it reads."""
        from sfxkit.index.views import CHUNK_BYTES, vector_file_bytes

        data, digests = vector_file_bytes(array)
        self.write_bytes(relpath, data)
        self.write_bytes(relpath + ".chunks", digests)
        self.files[relpath]["chunks"] = {"bytes": CHUNK_BYTES, "file": relpath + ".chunks"}

    def scratch_vectors(self, name: str, shape: tuple[int, int]) -> np.memmap:
        """A float16 array of ``shape`` on disk in this version's stage, zero-filled, for a
        build to fill row by row as batches are embedded (RAM holds none of it but the pages in
        use). :meth:`adopt_vectors` turns it into a view's vector file without a copy; whatever
        is left in the scratch area is deleted at commit or abort."""
        from sfxkit.index.views import VECTOR_DTYPE

        path = self.stage / SCRATCH / f"{name}.npy"
        with self._disk_full(f"the {name} vectors ({shape[0]} x {shape[1]} float16)", path):
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists():
                path.unlink()  # a view compacted or re-staged: never write into a mapped old file
            array = np.lib.format.open_memmap(path, mode="w+", dtype=VECTOR_DTYPE, shape=shape)
            try:
                _reserve(path)
            except BaseException:
                del array
                path.unlink(missing_ok=True)
                raise
        return array

    def adopt_vectors(self, relpath: str, array: np.memmap) -> None:
        """Store a :meth:`scratch_vectors` array as the view file ``relpath`` (float16 .npy):
        flushed, hashed in one streaming pass (file sha256 and the 4 KiB chunk digests) and
        renamed into place, so a million-row view is never copied or held in RAM."""
        src = Path(array.filename)
        if src.parent != self.stage / SCRATCH:
            raise ValueError(f"{src} is not a scratch array of this version")
        with self._disk_full(f"the view file {relpath}", src):
            self._adopt(relpath, array, src)

    def _adopt(self, relpath: str, array: np.memmap, src: Path) -> None:
        from sfxkit.index.views import CHUNK_BYTES, CHUNK_DIGEST_BYTES

        array.flush()
        whole, digests = hashlib.sha256(), bytearray()
        buf = bytearray(CHUNK_BYTES * 1024)
        size = 0
        with open(src, "rb", buffering=0) as f:
            while got := f.readinto(buf):
                block = memoryview(buf)[:got]
                whole.update(block)
                for i in range(0, got, CHUNK_BYTES):
                    digests += hashlib.sha256(block[i : i + CHUNK_BYTES]).digest()[
                        :CHUNK_DIGEST_BYTES
                    ]
                size += got
            os.fsync(f.fileno())
        dest = self.stage / relpath
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dest)
        self.files[relpath] = {"sha256": whole.hexdigest(), "bytes": size}
        self.write_bytes(relpath + ".chunks", bytes(digests))
        self.files[relpath]["chunks"] = {"bytes": CHUNK_BYTES, "file": relpath + ".chunks"}

    def write_table(self, relpath: str, table: Any) -> None:
        import pyarrow.parquet as pq

        buf = io.BytesIO()
        pq.write_table(table, buf, compression="zstd")
        self.write_bytes(relpath, buf.getvalue())

    def copy_from_current(self, relpath: str) -> None:
        """Carry a verified file of the current version into this one unchanged."""
        data = self.store.read_verified(relpath)
        entry = self.store.manifest().files[relpath]
        self.write_bytes(relpath, data)
        if "chunks" in entry:  # the chunk digests file is carried as a file of its own
            self.files[relpath]["chunks"] = dict(entry["chunks"])

    def commit(self, manifest: Mapping[str, Any]) -> int:
        if self.committed:
            raise RuntimeError("version already committed")
        store = self.store
        previous = None if self.first else store._predecessor()
        version = store._next_version() if not self.first else 1
        raw = dict(manifest)
        raw.update(
            format=FORMAT,
            format_version=FORMAT_VERSION,
            version=version,
            previous=previous,
            created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            sfxkit_version=__version__,
            files=dict(sorted(self.files.items())),
        )
        data = json.dumps(raw, indent=2, sort_keys=True).encode()
        shutil.rmtree(self.stage / SCRATCH, ignore_errors=True)
        with self._disk_full("the new version's manifest and pointer", self.stage):
            version = self._switch(version, data)
        self.committed = True
        self.version = version
        store._gc()
        return version

    def _switch(self, version: int, data: bytes) -> int:
        store = self.store
        with open(self.stage / "manifest.json", "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        for d in {self.stage} | {(self.stage / rel).parent for rel in self.files}:
            fsync_dir(d)
        name = f"v{version:06d}"
        final = self.base / VERSIONS / name
        os.replace(self.stage, final)
        self._unswitched = final  # removed by abort() if the pointer below is never written
        fsync_dir(final.parent)
        digest = sha256_bytes(data)
        # The switch: until this rename, readers see the previous version.
        atomic_write_text(self.base / CURRENT, f"{name} {digest}\n")
        self._unswitched = None
        store._write_marker(version, digest, self.base)
        if self.first:
            self._move_into_place()
        return version

    def _move_into_place(self) -> None:
        root = self.store.root
        try:
            os.rename(self.base, root)  # onto a missing or empty directory
        except OSError as exc:
            raise IndexLockedError(
                root,
                0,
                "another build",
                "it created this index while this build ran; run the build again to update it",
            ) from exc
        fsync_dir(root.parent)

    def abort(self) -> None:
        shutil.rmtree(self.stage, ignore_errors=True)
        if self._unswitched is not None:  # renamed into versions/ but never made current
            shutil.rmtree(self._unswitched, ignore_errors=True)


def _reserve(path: Path) -> None:
    """Allocate every block of ``path`` now, so that a full disk is an error here and not a
    SIGBUS later: writing through a memory map into a sparse file that the disk cannot back
    kills the process with no message and its staging folder left behind."""
    with open(path, "r+b") as f:
        size = os.fstat(f.fileno()).st_size
        try:
            os.posix_fallocate(f.fileno(), 0, size)
        except OSError as exc:
            if is_disk_full(exc):
                raise
            # A filesystem without fallocate: ordinary writes of zeros allocate the same blocks.
            f.seek(0)
            header = f.read(min(size, 1 << 16))
            zeros = bytes(1 << 20)
            f.seek(len(header))
            left = size - len(header)
            while left > 0:
                left -= f.write(zeros[: min(left, len(zeros))])
            f.flush()


# ------------------------------------------------------------------------ loaded index
def _ascending(ids: np.ndarray) -> bool:
    return len(ids) < 2 or bool(np.all(ids[1:] > ids[:-1]))


class _RowOfId:
    """Row number of a faiss_id, as a mapping over numpy arrays: a dict of a million Python
    ints costs ~100 bytes per row and a third of a second to build at every open."""

    def __init__(self, faiss_ids: np.ndarray) -> None:
        self._order = None if _ascending(faiss_ids) else np.argsort(faiss_ids, kind="stable")
        self._sorted = faiss_ids if self._order is None else faiss_ids[self._order]

    def get(self, faiss_id: int, default: int | None = None) -> int | None:
        if not len(self._sorted):
            return default
        at = int(np.searchsorted(self._sorted, faiss_id))
        if at >= len(self._sorted) or int(self._sorted[at]) != int(faiss_id):
            return default
        return at if self._order is None else int(self._order[at])

    def __getitem__(self, faiss_id: int) -> int:
        row = self.get(faiss_id)
        if row is None:
            raise KeyError(faiss_id)
        return row

    def __contains__(self, faiss_id: object) -> bool:
        return isinstance(faiss_id, (int, np.integer)) and self.get(int(faiss_id)) is not None


class LoadedIndex:
    """A verified, read-only view of an index's current version: rows, views and vectors.

    Every file of the version is opened here, and read (and checked) only when first needed:
    the open files keep the version readable even after a later build's cleanup deletes its
    directory, so a long-lived reader answers every query from the version it loaded.
    """

    def __init__(self, store: IndexStore, *, views: list[str] | None = None) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._files: dict[str, BinaryIO] = {}
        for attempt in range(3):
            self.manifest = store.manifest()
            try:
                self._open_files()
                break
            except IndexCorruptError:
                self.close()
                # a build committed twice and cleaned up between reading CURRENT and opening
                if attempt == 2 or store.current_version_dir()[0] == self.manifest.dir:
                    raise
        self.version = self.manifest.version
        self._load_rows()
        self._views: dict[str, VectorIndex] = {}
        self._vectors: dict[str, VectorLookup] = {}
        wanted = views if views is not None else list(self.manifest.views)
        for name in wanted:
            self.view(name)

    def _open_files(self) -> None:
        for rel in self.manifest.files:
            path = self.manifest.dir / rel
            try:
                self._files[rel] = open(path, "rb")  # noqa: SIM115  (held for the reader's life)
            except OSError as exc:
                raise IndexCorruptError(path, f"cannot read: {exc}", root=self.root) from exc

    def _load_rows(self) -> None:
        import pyarrow.parquet as pq

        path = self.manifest.dir / "rows.parquet"
        data = self.read_bytes("rows.parquet")
        try:
            table = pq.read_table(io.BytesIO(data))
            from sfxkit.catalog.schema import restore_raw_paths

            rows = restore_raw_paths(table.to_pandas())  # non-UTF-8 names, exactly
            faiss_ids = rows["faiss_id"].to_numpy(dtype=np.int64)
        except Exception as exc:  # any parse failure of checksummed bytes means a bad file
            raise IndexCorruptError(
                path, f"not a readable rows table ({exc})", root=self.root
            ) from exc
        # ascending ids (what builds write) are distinct without a sort; np.unique hashes
        # (0.6 s at 1M rows)
        ordered = faiss_ids if _ascending(faiss_ids) else np.sort(faiss_ids)
        distinct = len(ordered) - int(np.count_nonzero(ordered[1:] == ordered[:-1]))
        if len(rows) != self.manifest.row_count or distinct != len(faiss_ids):
            raise IndexCorruptError(
                path,
                f"{len(rows)} rows with {distinct} distinct ids, manifest says "
                f"{self.manifest.row_count}",
                root=self.root,
            )
        self.table = table
        self.rows: pd.DataFrame = rows
        self.faiss_ids = faiss_ids
        self._row_of_id = _RowOfId(faiss_ids)

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files = {}

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

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
        from sfxkit.index.views import VectorIndex, preset_for_view

        self._check_view(name)
        if name not in self._views:
            info = self.manifest.views[name]
            rel = f"views/{name}.faiss"
            data = self.read_bytes(rel)
            try:
                preset = preset_for_view(info.factory, info.count)
                if info.tuning and info.tuning.get("params"):
                    # the parameters measured to reach the recall target on this view's vectors
                    params = {**preset.search_params, **info.tuning["params"]}
                    preset = dataclasses.replace(preset, search_params=params)
                vi = VectorIndex.from_bytes(data, preset=preset)
                del data  # FAISS holds its own copy: do not keep the file's bytes as well
                shape, ids = (vi.ntotal, vi.dim), vi.checked_ids()
                inner = vi.metric_is_inner_product
            except Exception as exc:  # FAISS raises RuntimeError, MemoryError, ... on bad bytes
                raise IndexCorruptError(
                    self.manifest.dir / rel,
                    f"not a readable FAISS index ({type(exc).__name__}: {exc})",
                    root=self.root,
                ) from exc
            if shape != (len(self.faiss_ids), info.dim) or not inner:
                raise IndexCorruptError(
                    self.manifest.dir / rel,
                    f"holds {shape[0]}×{shape[1]}"
                    + ("" if inner else " with a metric other than inner product")
                    + f", manifest says {len(self.faiss_ids)}×{info.dim}",
                    root=self.root,
                )
            if ids is None:  # positional: its labels are rows.parquet positions
                vi.attach_ids(self.faiss_ids)
            elif not np.array_equal(np.sort(ids), np.sort(self.faiss_ids)):
                raise IndexCorruptError(
                    self.manifest.dir / rel, "its ids differ from rows.parquet", root=self.root
                )
            self._views[name] = vi
        return self._views[name]

    def vectors(self, name: str) -> VectorLookup:
        from sfxkit.index.views import ChunkedVectors, VectorLookup

        self._check_view(name)
        if name not in self._vectors:
            rel = f"views/{name}.npy"
            path = self.manifest.dir / rel
            dim = self.manifest.views[name].dim
            entry = self.manifest.files.get(rel)
            f = self._files.get(rel)
            if entry is not None and "chunks" in entry and f is not None:
                chunks = entry["chunks"]
                try:
                    digests_rel, chunk_bytes = str(chunks["file"]), int(chunks["bytes"])
                except (KeyError, TypeError, ValueError) as exc:
                    raise IndexCorruptError(
                        path, f"bad chunk entry in the manifest ({exc})", root=self.root
                    ) from exc
                rows = ChunkedVectors(
                    f,
                    path,
                    int(entry["bytes"]),
                    self.read_bytes(digests_rel),
                    (len(self.faiss_ids), dim),
                    self.root,
                    chunk_bytes,
                )
                self._vectors[name] = VectorLookup(rows, self.faiss_ids)
                return self._vectors[name]
            try:
                arr = np.load(io.BytesIO(self.read_bytes(rel)), allow_pickle=False)
            except IndexCorruptError:
                raise
            except Exception as exc:  # object arrays, bad headers: not vectors sfxkit wrote
                raise IndexCorruptError(
                    path, f"not a float32 vector array ({exc})", root=self.root
                ) from exc
            if arr.dtype != np.float32 or arr.shape != (len(self.faiss_ids), dim):
                raise IndexCorruptError(
                    path,
                    f"holds {arr.dtype} {arr.shape}, manifest says float32 "
                    f"({len(self.faiss_ids)}, {dim})",
                    root=self.root,
                )
            self._vectors[name] = VectorLookup(arr, self.faiss_ids)
        return self._vectors[name]

    def rows_for(self, faiss_ids: np.ndarray) -> list[int]:
        return [self._row_of_id[int(i)] for i in faiss_ids]

    def read_json(self, relpath: str) -> Any:
        data = self.read_bytes(relpath)
        try:
            return json.loads(data)
        except ValueError as exc:
            raise IndexCorruptError(
                self.manifest.dir / relpath, f"not JSON ({exc})", root=self.root
            ) from exc

    def read_bytes(self, relpath: str) -> bytes:
        """A file of this version, checked against the manifest (from the file opened at load)."""
        f = self._files.get(relpath)
        if f is None:
            return self.store.read_verified(relpath, self.manifest)
        with self._lock:
            return _checked(f, relpath, self.manifest, self.root)

    def has_file(self, relpath: str) -> bool:
        return relpath in self.manifest.files


def load_index(path: str | Path, *, views: list[str] | None = None) -> LoadedIndex:
    """Open the current version of an index, verifying every file it reads.

    Raises ``IndexNotFoundError`` when there is no index at ``path`` (``IndexCreatingError``
    while a first build is still creating it) and ``IndexCorruptError`` when any file differs
    from the manifest.
    """
    return LoadedIndex(IndexStore(path), views=views)
