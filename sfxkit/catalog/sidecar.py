"""User-supplied metadata sidecars (CSV or JSON) that describe the files of an SFX folder.

Columns (CSV header or JSON object keys, case-insensitive; all but ``file`` optional):

| column        | meaning                                                                    |
|---------------|----------------------------------------------------------------------------|
| `file`        | the sound: a path relative to the folder (or to the sidecar), an absolute  |
|               | path, or a bare file name found anywhere under the folder (must be unique) |
|               | (``filename`` and ``path`` are accepted as aliases)                        |
| `title`       | display title                                                              |
| `description` | free text                                                                  |
| `tags`        | comma- or semicolon-separated, or a JSON list                              |
| `category`    | category (e.g. a UCS category such as DOORS)                               |
| `subcategory` | subcategory (e.g. WOOD)                                                    |
| `licence`     | licence of the sound (``license`` accepted)                                |
| `source`      | library / collection name                                                  |
| `creator`     | recordist or designer                                                      |

A JSON sidecar is a list of such objects. Empty cells mean "not given", so lower-precedence
metadata (embedded tags, UCS name, file name) still fills them. Unknown columns are ignored with
a :class:`SidecarWarning` that lists them; rows naming files that do not exist are reported in
``Sidecar.problems``.

Per-folder sidecars: a file named ``sfxkit.csv``, ``sfxkit.json`` or ``metadata.csv`` inside any
folder being ingested is picked up automatically; its paths are relative to that folder.
"""

from __future__ import annotations

import csv
import io
import json
import os
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sfxkit.errors import InputError

SIDECAR_NAMES: tuple[str, ...] = ("sfxkit.csv", "sfxkit.json", "metadata.csv")
FIELDS: tuple[str, ...] = (
    "title",
    "description",
    "tags",
    "category",
    "subcategory",
    "licence",
    "source",
    "creator",
)
_ALIASES = {"license": "licence", "filename": "file", "path": "file", "keywords": "tags"}


class SidecarWarning(UserWarning):
    """A sidecar has something sfxkit ignores (unknown columns, duplicate rows)."""


@dataclass(frozen=True)
class SidecarEntry:
    """Metadata for one file from a sidecar row; empty strings / None mean "not given"."""

    title: str = ""
    description: str = ""
    tags: tuple[str, ...] | None = None
    category: str = ""
    subcategory: str = ""
    licence: str = ""
    source: str = ""
    creator: str = ""
    origin: str = ""
    """``sidecar_path:row`` the entry came from (for messages)."""

    def merged_over(self, other: SidecarEntry) -> SidecarEntry:
        """This entry's given fields over ``other``'s."""
        values: dict[str, Any] = {}
        for name in FIELDS:
            mine = getattr(self, name)
            values[name] = mine if mine not in ("", None) else getattr(other, name)
        return SidecarEntry(**values, origin=self.origin or other.origin)


@dataclass(frozen=True)
class SidecarProblem:
    """A sidecar row that could not be applied."""

    sidecar: str
    row: int
    file: str
    reason: str


@dataclass(frozen=True)
class Sidecar:
    """A parsed sidecar: entries keyed by absolute file path, and the rows that did not apply."""

    path: str
    entries: Mapping[str, SidecarEntry] = field(default_factory=dict)
    problems: tuple[SidecarProblem, ...] = ()
    unknown_columns: tuple[str, ...] = ()


def split_tags(value: Any) -> tuple[str, ...]:
    """Tags from a JSON list, a JSON-list string, or a comma/semicolon separated string."""
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        items = [str(v) for v in value]
    else:
        text = str(value).strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError:
                parsed = None
            if isinstance(parsed, list):
                return split_tags(parsed)
        items = text.replace(";", ",").split(",")
    seen: dict[str, None] = {}
    for t in items:
        t = " ".join(t.split())
        if t and t.lower() not in {k.lower() for k in seen}:
            seen[t] = None
    return tuple(seen)


def _read_rows(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        text = path.read_text(encoding="latin-1")
    except OSError as exc:
        raise InputError(
            f"{path}: cannot read sidecar ({exc}); check the path and permissions"
        ) from exc
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}); a JSON sidecar is a list of objects"
            ) from exc
        if isinstance(data, dict) and isinstance(data.get("items"), list):
            data = data["items"]
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise InputError(
                f'{path}: a JSON sidecar must be a list of objects, e.g. [{{"file": "a.wav", "title": "..."}}]'
            )
        return data
    if path.suffix.lower() not in {".csv", ".tsv", ".txt"}:
        raise InputError(f"{path}: sidecars must be .csv or .json files")
    sample = text[:4096]
    try:
        dialect: Any = csv.Sniffer().sniff(
            sample.splitlines()[0] if sample else ",", delimiters=",;\t"
        )
    except csv.Error:
        dialect = csv.excel
    return [dict(r) for r in csv.DictReader(io.StringIO(text), dialect=dialect)]


def load_sidecar(
    path: str | Path,
    *,
    folder: str | Path | None = None,
    files: Iterable[str] | None = None,
) -> Sidecar:
    """Parse a sidecar and resolve each row's ``file`` to an absolute path.

    Relative paths are tried against ``folder`` (the folder being ingested) and then the
    sidecar's own folder; a bare file name is also matched against ``files`` (absolute paths of
    the audio files found under ``folder``) when it names exactly one of them.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(
            f"{p}: sidecar not found; pass a CSV or JSON file (see sfxkit.catalog.sidecar)"
        )
    rows = _read_rows(p)
    bases = [Path(folder).absolute()] if folder is not None else []
    if p.parent.absolute() not in bases:
        bases.append(p.parent.absolute())
    by_name: dict[str, list[str]] = {}
    for f in files or ():
        by_name.setdefault(os.path.basename(f).lower(), []).append(f)

    unknown: dict[str, None] = {}
    entries: dict[str, SidecarEntry] = {}
    problems: list[SidecarProblem] = []
    saw_file_column = False
    for n, raw in enumerate(rows, start=2 if p.suffix.lower() != ".json" else 1):
        row: dict[str, Any] = {}
        for key, value in raw.items():
            if key is None:  # extra cells beyond the header
                continue
            k = _ALIASES.get(str(key).strip().lower(), str(key).strip().lower())
            if k == "file" or k in FIELDS:
                row[k] = value
            elif k:
                unknown[str(key).strip()] = None
        if "file" in row:
            saw_file_column = True
        name = str(row.get("file") or "").strip()
        if not name:
            if any(str(v or "").strip() for v in raw.values()):
                problems.append(SidecarProblem(str(p), n, "", "row has no 'file' value"))
            continue
        target = _resolve(name, bases, by_name)
        if isinstance(target, SidecarProblem):
            problems.append(SidecarProblem(str(p), n, name, target.reason))
            continue
        values: dict[str, Any] = {}
        for fld in FIELDS:
            v = row.get(fld)
            if fld == "tags":
                values[fld] = split_tags(v) if v not in (None, "", []) else None
            else:
                values[fld] = "" if v is None else " ".join(str(v).split())
        entry = SidecarEntry(**values, origin=f"{p}:{n}")
        if target in entries:
            warnings.warn(
                f"{p}: row {n} describes {name} again; its non-empty cells win",
                SidecarWarning,
                stacklevel=2,
            )
            entry = entry.merged_over(entries[target])
        entries[target] = entry
    if rows and not saw_file_column:
        raise InputError(
            f"{p}: sidecar has no 'file' column (found: {', '.join(map(str, rows[0].keys()))}); "
            "add a column named 'file' with each sound's path or file name"
        )
    if unknown:
        warnings.warn(
            f"{p}: ignoring unknown sidecar columns: {', '.join(unknown)} "
            f"(known: file, {', '.join(FIELDS)})",
            SidecarWarning,
            stacklevel=2,
        )
    return Sidecar(str(p), entries, tuple(problems), tuple(unknown))


def _resolve(name: str, bases: list[Path], by_name: dict[str, list[str]]) -> str | SidecarProblem:
    candidate = Path(name).expanduser()
    if candidate.is_absolute():
        if candidate.is_file():
            return os.path.abspath(candidate)
        return SidecarProblem("", 0, name, "file not found")
    for base in bases:
        full = base / candidate
        if full.is_file():
            return os.path.abspath(full)
    if len(candidate.parts) == 1:
        matches = by_name.get(candidate.name.lower(), [])
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            return SidecarProblem(
                "",
                0,
                name,
                f"file name is ambiguous ({len(matches)} files); give its path relative to the folder",
            )
    return SidecarProblem(
        "", 0, name, f"file not found (looked in {', '.join(str(b) for b in bases)})"
    )


def find_folder_sidecars(directory: str | Path) -> list[Path]:
    """The default sidecars present in one directory, in ``SIDECAR_NAMES`` order."""
    d = Path(directory)
    return [d / n for n in SIDECAR_NAMES if (d / n).is_file()]
