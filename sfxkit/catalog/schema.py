"""The catalog row: one :class:`CatalogItem` per distinct sound, and its Parquet schema.

An item's ``id`` is the first 16 hex digits of the sound's PCM hash
(:func:`sfxkit.media.audio.pcm_hash`), so the same sound under another name or in another
lossless wrapper is the same item. ``faiss_id`` is that id as a non-negative int64, the key the
FAISS views store; rows and vectors are bound by id, never by row order.

File names need not be UTF-8 (a Latin-1 name from an old archive is common). In memory a path
is the ``str`` Python's os functions give (undecodable bytes surrogate-escaped), so it opens as
is. In Parquet, text must be UTF-8: ``path``/``paths`` hold the readable form
(:func:`readable`, ``caf\\xe9.wav``) and ``raw_path``/``raw_paths`` the exact bytes for rows that
need them; :func:`table_to_items` and :func:`restore_raw_paths` put the real paths back.

``ROW_SCHEMA`` is built on first access (pyarrow is imported lazily).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sfxkit._text import readable as readable  # re-exported: the catalog's display rule

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

SCHEMA_VERSION = "1"
FAISS_ID_MASK = 0x7FFF_FFFF_FFFF_FFFF
LOUDNESS_KINDS = ("integrated", "peak")
METADATA_SOURCES = ("sidecar", "tags", "ucs", "filename")
"""Where an item's title came from, highest precedence first."""

_ID_RE = re.compile(r"^[0-9a-f]{16}$")


def _raw(path: str) -> bytes | None:
    """The bytes of a path that is not valid UTF-8 (None for one that is)."""
    return None if readable(path) == path else os.fsencode(path)


def faiss_id_for(item_id: str) -> int:
    """The int64 FAISS key of a 16-hex-digit item id (top bit cleared so it stays positive)."""
    return int(item_id, 16) & FAISS_ID_MASK


def make_metadata_text(
    title: str,
    description: str = "",
    category: str = "",
    subcategory: str = "",
    tags: Sequence[str] = (),
) -> str:
    """The sentence-like text the CLAP text tower embeds for an item.

    Title first (it is what people search for), then description, category and tags; empty
    parts are left out and repeated words in the category line are not repeated.
    """
    parts: list[str] = []
    if title.strip():
        parts.append(title.strip())
    if description.strip() and description.strip().lower() != title.strip().lower():
        parts.append(description.strip())
    cat = " / ".join(p.strip().lower() for p in (category, subcategory) if p and p.strip())
    if cat:
        parts.append(f"Category: {cat}")
    clean_tags = [t.strip() for t in tags if t and t.strip()]
    if clean_tags:
        parts.append("Tags: " + ", ".join(clean_tags))
    return ". ".join(p.rstrip(".") for p in parts)


@dataclass(frozen=True, kw_only=True)
class CatalogItem:
    """One distinct sound in the catalog (all exact-duplicate files share one item).

    Fields left at their defaults are derived: ``faiss_id`` from ``id``, ``paths`` from
    ``path``, ``visual_description`` from ``visual_descriptions``, ``metadata_text`` from the
    text fields. ``describer`` records which describer (``name/version``) wrote the visual
    descriptions, so a rebuild can keep them when nothing changed.
    """

    id: str
    faiss_id: int = -1
    path: str
    paths: tuple[str, ...] = ()
    title: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()
    category: str = ""
    subcategory: str = ""
    ucs_catid: str = ""
    creator: str = ""
    source: str = ""
    licence: str = "unknown"
    duration: float = 0.0
    sample_rate: int = 0
    channels: int = 0
    loudness: float = 0.0
    loudness_kind: str = "integrated"
    peak_dbfs: float = 0.0
    qc_flags: tuple[str, ...] = ()
    metadata_source: str = "filename"
    visual_description: str = ""
    visual_descriptions: tuple[str, ...] = ()
    metadata_text: str = ""
    file_stamps: tuple[str, ...] = ()
    describer: str = field(default="")
    # Near-duplicates (sfxkit.index.neardup): group id ("" = none) and quality rank (0 = best).
    near_dup_group: str = ""
    near_dup_rank: int = 0
    # Categories predicted from the sound (sfxkit.catalog.categorize); never the user's metadata.
    predicted_catid: str = ""
    predicted_category: str = ""
    predicted_subcategory: str = ""
    predicted_confidence: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not _ID_RE.match(self.id):
            raise ValueError(f"CatalogItem.id must be 16 lower-case hex digits, got {self.id!r}")
        expected = faiss_id_for(self.id)
        if self.faiss_id == -1:
            object.__setattr__(self, "faiss_id", expected)
        elif self.faiss_id != expected:
            raise ValueError(
                f"faiss_id {self.faiss_id} does not match id {self.id} (expected {expected})"
            )
        for name in ("paths", "tags", "qc_flags", "visual_descriptions", "file_stamps"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise TypeError(f"CatalogItem.{name} must be a sequence of strings, not a string")
            if not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))
        if not self.paths:
            object.__setattr__(self, "paths", (self.path,))
        if self.loudness_kind not in LOUDNESS_KINDS:
            raise ValueError(
                f"loudness_kind must be one of {LOUDNESS_KINDS}, got {self.loudness_kind!r}"
            )
        if self.metadata_source not in METADATA_SOURCES:
            raise ValueError(
                f"metadata_source must be one of {METADATA_SOURCES}, got {self.metadata_source!r}"
            )
        if not self.visual_description and self.visual_descriptions:
            object.__setattr__(self, "visual_description", self.visual_descriptions[0])
        if not self.metadata_text:
            text = make_metadata_text(
                self.title, self.description, self.category, self.subcategory, self.tags
            )
            object.__setattr__(self, "metadata_text", text)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


_LIST_FIELDS = ("paths", "tags", "qc_flags", "visual_descriptions", "file_stamps")


def _build_schema() -> pa.Schema:
    import pyarrow as pa

    s, lst = pa.string(), pa.list_(pa.string())
    return pa.schema(
        [
            pa.field("id", s, nullable=False),
            pa.field("faiss_id", pa.int64(), nullable=False),
            pa.field("path", s, nullable=False),
            pa.field("paths", lst),
            pa.field("title", s),
            pa.field("description", s),
            pa.field("tags", lst),
            pa.field("category", s),
            pa.field("subcategory", s),
            pa.field("ucs_catid", s),
            pa.field("creator", s),
            pa.field("source", s),
            pa.field("licence", s),
            pa.field("duration", pa.float64()),
            pa.field("sample_rate", pa.int32()),
            pa.field("channels", pa.int16()),
            pa.field("loudness", pa.float64()),
            pa.field("loudness_kind", s),
            pa.field("peak_dbfs", pa.float64()),
            pa.field("qc_flags", lst),
            pa.field("metadata_source", s),
            pa.field("visual_description", s),
            pa.field("visual_descriptions", lst),
            pa.field("metadata_text", s),
            pa.field("file_stamps", lst),
            pa.field("describer", s),
            pa.field("raw_path", pa.binary()),
            pa.field("raw_paths", pa.list_(pa.binary())),
            pa.field("near_dup_group", s),
            pa.field("near_dup_rank", pa.int32()),
            pa.field("predicted_catid", s),
            pa.field("predicted_category", s),
            pa.field("predicted_subcategory", s),
            pa.field("predicted_confidence", pa.float64()),
        ],
        metadata={"sfxkit.catalog_schema": SCHEMA_VERSION},
    )


_SCHEMA: pa.Schema | None = None


def row_schema() -> pa.Schema:
    """The pyarrow schema of catalog rows (same object as ``ROW_SCHEMA``)."""
    global _SCHEMA
    if _SCHEMA is None:
        _SCHEMA = _build_schema()
    return _SCHEMA


def __getattr__(name: str) -> Any:
    if name == "ROW_SCHEMA":
        return row_schema()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def items_to_table(items: Sequence[CatalogItem]) -> pa.Table:
    """Catalog items as a pyarrow Table with ``ROW_SCHEMA`` (row order = input order).

    Text is stored readable (:func:`readable`); a path that is not UTF-8 also keeps its bytes.
    """
    import pyarrow as pa

    schema = row_schema()
    raw_columns = ("raw_path", "raw_paths")
    columns: dict[str, list[Any]] = {f.name: [] for f in schema}
    for item in items:
        for name, values in columns.items():
            if name in raw_columns:
                continue
            value = getattr(item, name)
            if name in _LIST_FIELDS:
                value = [readable(v) if isinstance(v, str) else v for v in value]
            elif isinstance(value, str):
                value = readable(value)
            values.append(value)
        raw = [_raw(p) for p in item.paths]
        needs_raw = _raw(item.path) is not None or any(r is not None for r in raw)
        columns["raw_path"].append(os.fsencode(item.path) if needs_raw else None)
        columns["raw_paths"].append([os.fsencode(p) for p in item.paths] if needs_raw else None)
    return pa.Table.from_pydict(columns, schema=schema)


def restore_raw_paths(rows: Any) -> Any:
    """``rows`` (a DataFrame of a catalog table) with ``path``/``paths`` set back to the real,
    openable paths of rows whose names are not UTF-8. Returns the same frame."""
    if "raw_path" not in getattr(rows, "columns", ()):
        return rows
    import pandas as pd

    mask = rows["raw_path"].notna()
    if mask.any():
        # An Arrow-backed string column cannot hold a surrogate-escaped name: plain objects can.
        rows["path"] = rows["path"].astype(object)
        rows.loc[mask, "path"] = [os.fsdecode(b) for b in rows.loc[mask, "raw_path"]]
        if "raw_paths" in rows.columns:
            rows.loc[mask, "paths"] = pd.Series(
                [[os.fsdecode(b) for b in raw] for raw in rows.loc[mask, "raw_paths"]],
                index=rows.index[mask],
                dtype=object,
            )
    return rows


def table_to_items(table: pa.Table) -> list[CatalogItem]:
    """The inverse of :func:`items_to_table`. Columns this version does not know are ignored;
    columns missing from an older table take the field defaults."""
    from sfxkit.errors import IndexCorruptError

    known = {f.name for f in dataclasses.fields(CatalogItem)}
    names = [n for n in table.column_names if n in known]
    for required in ("id", "path"):
        if required not in names:
            raise IndexCorruptError("catalog table", f"missing required column '{required}'")
    data = {n: table.column(n).to_pylist() for n in names}
    raw_path = table.column("raw_path").to_pylist() if "raw_path" in table.column_names else None
    raw_paths = table.column("raw_paths").to_pylist() if "raw_paths" in table.column_names else None
    items = []
    for row in range(table.num_rows):
        kwargs: dict[str, Any] = {}
        for n in names:
            value = data[n][row]
            if value is None:
                continue
            kwargs[n] = tuple(value) if n in _LIST_FIELDS else value
        if raw_path is not None and raw_path[row] is not None:
            kwargs["path"] = os.fsdecode(raw_path[row])
        if raw_paths is not None and raw_paths[row] is not None:
            kwargs["paths"] = tuple(os.fsdecode(b) for b in raw_paths[row])
        items.append(CatalogItem(**kwargs))
    return items
