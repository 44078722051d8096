"""UCS (Universal Category System) file names and the CatID table.

A UCS file name is ``CatID_FXName_CreatorID_SourceID[_UserData]``, e.g.
``DOORWood_Creaky Open Slow_JD_MyLib.wav``; the CatID may carry a user category,
``DOORWood-Barn_...``. The CatID maps to a Category / SubCategory pair (DOORWood -> DOORS / WOOD).

The table shipped in ``sfxkit/catalog/data/ucs_categories.csv`` is the official UCS 8.2.1
schedule (all 752 CatIDs with their explanations and synonyms), converted verbatim from
``json/en.json`` of https://github.com/iluvcapra/ucs-community (commit be76ca3); UCS is public
domain. For a newer UCS version set ``SFXKIT_UCS_TABLE`` to either form:

- a CSV export of the UCS spreadsheet: the loader finds the CatID, Category, SubCategory,
  Explanations and Synonyms columns by name (case and spacing ignored) and skips title rows above
  the header and ``#`` comment lines; the version comes from a ``# ucs-version: X`` comment or a
  title row such as "Universal Category System v8.2";
- the ucs-community JSON (a list of objects with ``CatID``, ``Category``, ``SubCategory``,
  ``Explanations``, ``Synonyms`` and ``version``).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from sfxkit.errors import ConfigError

ENV_TABLE = "SFXKIT_UCS_TABLE"
BUNDLED_VERSION = "8.2.1"
BUNDLED_SOURCE = "https://github.com/iluvcapra/ucs-community json/en.json (commit be76ca3)"
_BUNDLED = "sfxkit/catalog/data/ucs_categories.csv"


@dataclass(frozen=True)
class UcsCategory:
    """One row of the CatID table.

    ``explanation`` is UCS's own sentence of what the category holds ("Slow air releases, a flat
    tire, leak in an air pipe."), ``synonyms`` its search words.
    """

    catid: str
    category: str
    subcategory: str
    explanation: str = ""
    synonyms: tuple[str, ...] = ()

    @property
    def explanations(self) -> str:
        """Explanation and synonyms as one comma-separated text (what describers search)."""
        parts = [self.explanation.strip().rstrip(".")] if self.explanation.strip() else []
        return ", ".join(parts + list(self.synonyms))

    @property
    def examples(self) -> tuple[str, ...]:
        """The explanation's comma-separated phrases, lower-cased ("a flat tire", ...)."""
        return tuple(
            p for p in (c.strip().rstrip(".").lower() for c in self.explanation.split(",")) if p
        )


@dataclass(frozen=True)
class UcsTableInfo:
    """Which UCS table is in use."""

    version: str
    source: str
    entries: int

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


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
    i_expl = [i for i, h in enumerate(header) if "explanation" in h]
    i_syn = [i for i, h in enumerate(header) if "synonym" in h]
    table: dict[str, UcsCategory] = {}
    for r in rows[header_at + 1 :]:
        if len(r) <= max(i_id, i_cat, i_sub) or not r[i_id].strip():
            continue

        def cells(cols: list[int], row: list[str] = r) -> list[str]:
            return [row[i].strip() for i in cols if i < len(row) and row[i].strip()]

        entry = UcsCategory(
            r[i_id].strip(),
            r[i_cat].strip(),
            r[i_sub].strip(),
            " ".join(cells(i_expl)),
            _split_synonyms(", ".join(cells(i_syn))),
        )
        table[entry.catid.lower()] = entry
    if not table:
        raise ConfigError(f"{origin}: the UCS table has no rows")
    return table


def _split_synonyms(text: str) -> tuple[str, ...]:
    return tuple(w for w in (p.strip() for p in text.split(",")) if w)


def _parse_json(text: str, origin: str) -> dict[str, UcsCategory]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{origin}: not valid JSON ({exc}); give the UCS table as CSV or JSON"
        ) from exc
    if not isinstance(data, list) or not all(isinstance(e, dict) for e in data):
        raise ConfigError(
            f"{origin}: a UCS JSON table is a list of objects with CatID, Category and SubCategory"
        )
    table: dict[str, UcsCategory] = {}
    for e in data:
        catid, cat, sub = (
            str(e.get(k) or "").strip() for k in ("CatID", "Category", "SubCategory")
        )
        if not (catid and cat and sub):
            raise ConfigError(f"{origin}: entry {e!r} lacks CatID, Category or SubCategory")
        syn = e.get("Synonyms") or ()
        synonyms = (
            _split_synonyms(syn) if isinstance(syn, str) else tuple(str(w).strip() for w in syn)
        )
        table[catid.lower()] = UcsCategory(
            catid,
            cat,
            sub,
            str(e.get("Explanations") or "").strip(),
            tuple(w for w in synonyms if w),
        )
    if not table:
        raise ConfigError(f"{origin}: the UCS table has no rows")
    return table


def _version_of(text: str, is_json: bool) -> str:
    if is_json:
        with_version = {str(e.get("version")) for e in json.loads(text) if e.get("version")}
        return ", ".join(sorted(with_version)) or "unknown"
    m = re.search(r"^#\s*ucs-version:\s*(\S+)", text, re.M) or re.search(
        r"universal category system[^\n,]*?v(?:ersion)?\s*(\d+(?:\.\d+)*)", text[:2000], re.I
    )
    return m.group(1) if m else "unknown"


def _looks_json(path: str, text: str) -> bool:
    return path.lower().endswith(".json") or text.lstrip().startswith("[")


@lru_cache(maxsize=4)
def _load(path: str | None, mtime_ns: int) -> tuple[dict[str, UcsCategory], UcsTableInfo]:
    del mtime_ns  # part of the cache key only: an edited file is re-read
    if path is None:
        text = (
            resources.files("sfxkit.catalog").joinpath("data/ucs_categories.csv").read_text("utf-8")
        )
        table = _parse_table(text, _BUNDLED)
        return table, UcsTableInfo(BUNDLED_VERSION, BUNDLED_SOURCE, len(table))
    text = Path(path).read_text("utf-8-sig")
    is_json = _looks_json(path, text)
    table = _parse_json(text, path) if is_json else _parse_table(text, path)
    return table, UcsTableInfo(_version_of(text, is_json), path, len(table))


def _resolve(path: str | Path | None) -> tuple[dict[str, UcsCategory], UcsTableInfo]:
    chosen = str(path) if path is not None else os.environ.get(ENV_TABLE) or None
    if chosen is None:
        return _load(None, 0)
    p = Path(chosen).expanduser()
    if not p.is_file():
        raise ConfigError(
            f"UCS table {p} not found (from {'argument' if path is not None else ENV_TABLE}); "
            f"point {ENV_TABLE} at a CSV export or the JSON of a UCS version, or unset it to use "
            f"the bundled UCS {BUNDLED_VERSION}"
        )
    return _load(str(p), p.stat().st_mtime_ns)


def ucs_table(path: str | Path | None = None) -> dict[str, UcsCategory]:
    """The CatID table keyed by lower-case CatID: ``path``, else ``$SFXKIT_UCS_TABLE``, else the
    bundled official UCS 8.2.1 table."""
    return _resolve(path)[0]


def ucs_table_info(path: str | Path | None = None) -> UcsTableInfo:
    """Version and source of the table :func:`ucs_table` returns for the same ``path``."""
    return _resolve(path)[1]


def catid_for(
    category: str, subcategory: str, table: dict[str, UcsCategory] | None = None
) -> UcsCategory | None:
    """The table row whose Category and SubCategory match (case-insensitive), or None."""
    cat, sub = category.strip().lower(), subcategory.strip().lower()
    if not cat or not sub:
        return None
    table = table if table is not None else ucs_table()
    cached = _PAIRS.get(id(table))
    if cached is None or cached[0] is not table:
        pairs = {(e.category.lower(), e.subcategory.lower()): e for e in table.values()}
        cached = _PAIRS[id(table)] = (table, pairs)
    return cached[1].get((cat, sub))


# id(table) -> (table, pairs); the table is kept so that a reused id cannot alias another table
_PAIRS: dict[int, tuple[dict[str, UcsCategory], dict[tuple[str, str], UcsCategory]]] = {}


def lookup_catid(catid: str, table: dict[str, UcsCategory] | None = None) -> UcsCategory | None:
    """The table row for a CatID (case-insensitive), or None."""
    return (table if table is not None else ucs_table()).get(catid.strip().lower())


def parse_ucs_name(stem: str, table: dict[str, UcsCategory] | None = None) -> UcsName | None:
    """Split a UCS file stem into its parts, or None when it is not a UCS name.

    A name is UCS only when its first ``_``-separated block is a CatID in the table (optionally
    ``CatID-UserCategory``) and an FXName follows; ``my_door_sound`` is not UCS. CatIDs that are
    one upper-case word (``RAIN``, ``BEEP``) must be written that way: ``rain_heavy`` is not UCS.
    """
    parts = [p.strip() for p in stem.split("_")]
    if len(parts) < 2 or not parts[1]:
        return None
    catid_part, _, user_category = parts[0].partition("-")
    entry = lookup_catid(catid_part, table)
    if entry is None:
        return None
    if entry.catid.isupper() and catid_part != entry.catid:
        # UCS 8.2.1 has plain-word CatIDs (RAIN, BEEP, MIX, RAW): "rain_heavy.wav" is an
        # ordinary name, "RAIN_Heavy Downpour_..." a UCS one; mixed-case CatIDs match any case.
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
