"""UCS (Universal Category System) file names and the CatID table.

A UCS file name is ``CatID_FXName_CreatorID_SourceID[_UserData]``, e.g.
``DOORWood_Creaky Open Slow_JD_MyLib.wav``; the CatID may carry a user category,
``DOORWood-Barn_...``. The CatID maps to a Category / SubCategory pair (DOORWood -> DOORS / WOOD).

The table shipped in ``sfxkit/catalog/data/ucs_categories.csv`` is a best-effort transcription of
the UCS v8-style categories, **not the official UCS spreadsheet**. To use the official one, export
it to CSV and set ``SFXKIT_UCS_TABLE=/path/to/UCS.csv``; the loader finds the CatID, Category,
SubCategory and explanation/synonym columns by name (case and spacing ignored) and skips any
title rows above the header and ``#`` comment lines.
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from sfxkit.errors import ConfigError

ENV_TABLE = "SFXKIT_UCS_TABLE"


@dataclass(frozen=True)
class UcsCategory:
    """One row of the CatID table."""

    catid: str
    category: str
    subcategory: str
    explanations: str = ""


@dataclass(frozen=True)
class UcsName:
    """The parts of a UCS file name (``category``/``subcategory`` looked up from the CatID)."""

    catid: str
    category: str
    subcategory: str
    fx_name: str
    creator_id: str = ""
    source_id: str = ""
    user_data: str = ""
    user_category: str = ""


def _norm_header(name: str) -> str:
    return re.sub(r"[^a-z]", "", name.lower())


def _parse_table(text: str, origin: str) -> dict[str, UcsCategory]:
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    rows = list(csv.reader(io.StringIO("\n".join(lines))))
    header_at = next(
        (i for i, r in enumerate(rows) if "catid" in {_norm_header(c) for c in r}), None
    )
    if header_at is None:
        raise ConfigError(
            f"{origin}: no 'CatID' column found; a UCS table needs CatID, Category and SubCategory columns"
        )
    header = [_norm_header(c) for c in rows[header_at]]

    def col(*names: str) -> int | None:
        return next((header.index(n) for n in names if n in header), None)

    i_id, i_cat, i_sub = col("catid"), col("category"), col("subcategory")
    if i_cat is None or i_sub is None or i_id is None:
        raise ConfigError(
            f"{origin}: a UCS table needs CatID, Category and SubCategory columns; found {rows[header_at]}"
        )
    i_expl = [i for i, h in enumerate(header) if "explanation" in h or "synonym" in h]
    table: dict[str, UcsCategory] = {}
    for r in rows[header_at + 1 :]:
        if len(r) <= max(i_id, i_cat, i_sub) or not r[i_id].strip():
            continue
        expl = ", ".join(r[i].strip() for i in i_expl if i < len(r) and r[i].strip())
        entry = UcsCategory(r[i_id].strip(), r[i_cat].strip(), r[i_sub].strip(), expl)
        table[entry.catid.lower()] = entry
    if not table:
        raise ConfigError(f"{origin}: the UCS table has no rows")
    return table


@lru_cache(maxsize=4)
def _load(path: str | None, mtime_ns: int) -> dict[str, UcsCategory]:
    del mtime_ns  # part of the cache key only: an edited file is re-read
    if path is None:
        text = (
            resources.files("sfxkit.catalog").joinpath("data/ucs_categories.csv").read_text("utf-8")
        )
        return _parse_table(text, "sfxkit/catalog/data/ucs_categories.csv")
    return _parse_table(Path(path).read_text("utf-8-sig"), path)


def ucs_table(path: str | Path | None = None) -> dict[str, UcsCategory]:
    """The CatID table keyed by lower-case CatID: ``path``, else ``$SFXKIT_UCS_TABLE``, else the
    bundled best-effort table."""
    chosen = str(path) if path is not None else os.environ.get(ENV_TABLE) or None
    if chosen is None:
        return _load(None, 0)
    p = Path(chosen).expanduser()
    if not p.is_file():
        raise ConfigError(
            f"UCS table {p} not found (from {'argument' if path is not None else ENV_TABLE}); "
            f"point {ENV_TABLE} at a CSV export of the UCS spreadsheet, or unset it to use the bundled table"
        )
    return _load(str(p), p.stat().st_mtime_ns)


def lookup_catid(catid: str, table: dict[str, UcsCategory] | None = None) -> UcsCategory | None:
    """The table row for a CatID (case-insensitive), or None."""
    return (table if table is not None else ucs_table()).get(catid.strip().lower())


def parse_ucs_name(stem: str, table: dict[str, UcsCategory] | None = None) -> UcsName | None:
    """Split a UCS file stem into its parts, or None when it is not a UCS name.

    A name is UCS only when its first ``_``-separated block is a CatID in the table (optionally
    ``CatID-UserCategory``) and an FXName follows; ``my_door_sound`` is not UCS.
    """
    parts = [p.strip() for p in stem.split("_")]
    if len(parts) < 2 or not parts[1]:
        return None
    catid_part, _, user_category = parts[0].partition("-")
    entry = lookup_catid(catid_part, table)
    if entry is None:
        return None
    return UcsName(
        catid=entry.catid,
        category=entry.category,
        subcategory=entry.subcategory,
        fx_name=parts[1],
        creator_id=parts[2] if len(parts) > 2 else "",
        source_id=parts[3] if len(parts) > 3 else "",
        user_data="_".join(parts[4:]),
        user_category=user_category.strip(),
    )
