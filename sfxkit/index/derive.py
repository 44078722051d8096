"""Writing bridge results into an index as a new version.

Every bridge stage that changes an index (new descriptions, trained heads, fusion weights,
calibration) commits a complete new version through :class:`sfxkit.index.store.VersionWriter`: the
files it produces are written, every other file of the current version is carried over
unchanged (verified against its sha256 on the way), and the manifest is the current one with
the stage's changes. A crash leaves the old version; a concurrent writer that committed in
between makes the stage fail instead of silently overwriting that work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from sfxkit.errors import IndexMismatchError

# Keys VersionWriter.commit sets itself; a derived manifest starts without them.
_COMMIT_KEYS = ("format", "format_version", "version", "created", "sfxkit_version", "files")

BRIDGE_VIEW = "bridge"
BRIDGE_FILES = ("bridge/heads.safetensors", "bridge/config.json")
BRIDGE_VIEW_FILES = ("views/bridge.faiss", "views/bridge.npy")


def view_entry(previous: Mapping[str, Any], count: int, **changes: Any) -> dict[str, Any]:
    """A view's manifest entry for ``count`` rows: the FAISS factory follows the size unless
    ``changes`` name it; a ``tuning`` record is kept only when ``changes`` bring one (the
    previous one measured another index)."""
    from sfxkit.index.views import choose_preset

    entry = {k: v for k, v in previous.items() if k != "tuning"}
    entry["factory"] = choose_preset(count).factory_for(count)
    entry.update(changes)
    entry["count"] = int(count)
    return entry


def commit_derived_version(
    index: str | Path,
    *,
    expected_version: int,
    write: Callable[[Any], None],
    update_manifest: Callable[[dict[str, Any]], dict[str, Any]],
    drop: Iterable[str] = (),
    lock_timeout: float | None = None,
) -> int:
    """Commit the current version plus ``write``'s files, minus ``drop``, with an updated manifest.

    ``expected_version`` is the version the caller read and computed from; if another writer
    committed since, nothing is written and :class:`IndexMismatchError` says to rerun.
    """
    from sfxkit.index.store import IndexStore

    store = IndexStore(index)
    dropped = set(drop)
    with store.writer(timeout=lock_timeout) as writer:
        current = store.manifest()
        if current.version != expected_version:
            raise IndexMismatchError(
                f"{store.root}: the index changed while this step ran (version "
                f"{expected_version} -> {current.version}); run the step again"
            )
        write(writer)
        for rel in current.files:
            if rel not in writer.files and rel not in dropped:
                writer.copy_from_current(rel)
        raw = {k: v for k, v in current.raw.items() if k not in _COMMIT_KEYS}
        raw = update_manifest(raw)
        raw["untrained"] = any(bool(v.get("untrained")) for v in raw.get("views", {}).values())
        return writer.commit(raw)
