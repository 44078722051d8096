"""The SFX catalog: ingest folders (sidecars, embedded tags, UCS names, file names), QC,
exact-duplicate merging, licences, and the Parquet row schema.

Cheap to import; decoding and pyarrow load on first use.

    >>> from sfxkit.catalog import ingest
    >>> result = ingest("~/SFX", licence="CC0", source="My Library")
    >>> len(result.items), [f.path for f in result.failures]
"""

from __future__ import annotations

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
