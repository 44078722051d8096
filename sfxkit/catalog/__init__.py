"""The SFX catalog: ingest folders (sidecars, embedded tags, UCS names, file names), QC,
exact-duplicate merging, licences, and the Parquet row schema.

Cheap to import; decoding and pyarrow load on first use.

    >>> from sfxkit.catalog import ingest
    >>> result = ingest("~/SFX", licence="CC0", source="My Library")
    >>> len(result.items), [f.path for f in result.failures]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sfxkit._lazy import lazy_exports

if TYPE_CHECKING:  # pragma: no cover
    from sfxkit.catalog.ingest import IngestFailure, IngestResult, ingest
    from sfxkit.catalog.schema import CatalogItem, items_to_table, table_to_items

__all__ = [
    "CatalogItem",
    "IngestFailure",
    "IngestResult",
    "ingest",
    "items_to_table",
    "table_to_items",
]

# Lazy, so that `sfxkit.catalog.schema.readable` (the CLI's error printer) costs no numpy.
_LAZY = {
    "IngestFailure": "sfxkit.catalog.ingest",
    "IngestResult": "sfxkit.catalog.ingest",
    "ingest": "sfxkit.catalog.ingest",
    "CatalogItem": "sfxkit.catalog.schema",
    "items_to_table": "sfxkit.catalog.schema",
    "table_to_items": "sfxkit.catalog.schema",
}
__getattr__, __dir__ = lazy_exports("sfxkit.catalog", globals(), _LAZY, __all__)
