"""Ingest a folder of sound effects into catalog items.

One pass over the folder:

1. Walk it recursively (symlinked folders followed once, hidden files and folders skipped).
   Files with an audio extension are candidates; everything else is ignored, except the
   per-folder sidecars (``sfxkit.csv``, ``sfxkit.json``, ``metadata.csv``).
2. Each candidate's container is checked, then it is streamed once in bounded blocks and
   measured on the way (PCM hash, duration, loudness, peak, QC flags): no file is ever held
   whole (:data:`MEASURE_MEMORY_LIMIT`). Files whose path, size and ``mtime_ns`` match an item
   of ``previous`` are not decoded at all (``reused``). A file that is truncated, not audio, of
   an unsupported format, has an absurd header or NaN/infinite samples is reported in
   ``failures`` (reason words: :data:`sfxkit.media.probe.REASONS`) and the ingest goes on.
   Names that are not UTF-8 are kept as Python gives them (surrogate-escaped), so the file
   opens by its path; titles and failure paths show them readably (``caf\\xe9``).
3. Metadata, per field, from the first source that has it:

   | field        | precedence                                                              |
   |--------------|-------------------------------------------------------------------------|
   | title        | sidecar > embedded tags > UCS FXName > file name (``_``/``-`` -> space) |
   | description  | sidecar > tags ``description`` > tags ``comment``                        |
   | tags         | sidecar > tags ``keywords``                                              |
   | category     | sidecar > UCS category > parent folder name (files in a sub-folder)      |
   | subcategory  | sidecar > UCS subcategory                                                |
   | creator      | sidecar > tags ``artist`` > UCS CreatorID                                |
   | source       | sidecar > ``source=`` argument > UCS SourceID > tags ``album``           |
   | licence      | sidecar > tags ``license`` > ``licence=`` argument                       |

   ``metadata_source`` says which source gave the title.
4. Exact duplicates (same PCM hash) become one item listing every path; the primary path is
   the first in sorted order, the metadata comes from the best-described copy.
5. A describer (default :class:`sfxkit.catalog.describe.TemplateDescriber`) writes the visual
   descriptions; descriptions from ``previous`` are kept when the describer and the item's
   metadata text are unchanged.

Items come out sorted by id, so the same folder always gives the same catalog.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sfxkit._progress import track
from sfxkit.catalog.schema import METADATA_SOURCES, CatalogItem, make_metadata_text, readable
from sfxkit.catalog.sidecar import SIDECAR_NAMES, Sidecar, SidecarEntry, load_sidecar
from sfxkit.catalog.ucs import UcsName, parse_ucs_name, ucs_table
from sfxkit.errors import InputError, MediaError
from sfxkit.media.audio import AUDIO_EXTENSIONS

if TYPE_CHECKING:  # pragma: no cover
    from sfxkit.catalog.describe import Describer

N_DESCRIPTIONS = 3


@dataclass(frozen=True)
class IngestFailure:
    """A file (or sidecar row) that could not be ingested, and why.

    ``path`` is readable text (:func:`~sfxkit.catalog.schema.readable`: a name that is not UTF-8
    shows its odd bytes as ``\\xNN``); ``reason`` starts with one of
    :data:`sfxkit.media.probe.REASONS` for a file that failed to decode.
    """

    path: str
    reason: str


@dataclass(frozen=True)
class IngestResult:
    """Items sorted by id; failures in path order; how many files were decoded vs reused."""

    items: tuple[CatalogItem, ...]
    failures: tuple[IngestFailure, ...]
    decoded: int
    reused: int


@dataclass(frozen=True)
class Measurement:
    """What decoding one file tells us (everything of an item that does not come from metadata)."""

    path: str
    stamp: str
    id: str
    duration: float
    sample_rate: int
    channels: int
    loudness: float
    loudness_kind: str
    peak_dbfs: float
    qc_flags: tuple[str, ...]


def file_stamp(path: str | Path) -> str:
    """``"size:mtime_ns"``: the cheap fingerprint that decides whether a file must be re-decoded."""
    st = os.stat(path)
    return f"{st.st_size}:{st.st_mtime_ns}"


def measure_file(path: str | Path) -> Measurement:
    """Stream one file once, measure it, keep nothing. Raises MediaError for unreadable files.

    Decoding, hashing, loudness and QC all work block by block (see :func:`open_audio`), so
    memory per file is bounded (:data:`MEASURE_MEMORY_LIMIT`) whatever its length. A plain
    function of a path, so a distributed runner can map it over many files.
    """
    from sfxkit.catalog.qc import QcAccumulator
    from sfxkit.media.audio import PcmHasher, open_audio
    from sfxkit.media.loudness import LoudnessMeter, peak_dbfs

    p = os.path.abspath(path)
    stamp = file_stamp(p)
    with open_audio(p) as reader:
        sr, channels = reader.sample_rate, reader.channels
        meter = LoudnessMeter(sr, channels)
        qc = QcAccumulator(sr, channels)
        hasher = PcmHasher(sr, channels)
        for block in reader.blocks():
            meter.update(block)
            qc.update(block)
            hasher.update(block)
    if qc.frames == 0:
        raise MediaError(
            p, "empty: the file decodes to zero audio samples", "remove it or export it again"
        )

    def reread() -> Iterator[np.ndarray]:
        with open_audio(p) as again:
            yield from again.blocks()

    lufs = meter.integrated()
    return Measurement(
        path=p,
        stamp=stamp,
        id=hasher.hexdigest(reread)[:16],
        duration=qc.frames / float(sr),
        sample_rate=sr,
        channels=channels,
        loudness=float(lufs if lufs is not None else peak_dbfs(np.array([qc.peak]))),
        loudness_kind="integrated" if lufs is not None else "peak",
        peak_dbfs=float(peak_dbfs(np.array([qc.peak]))),
        qc_flags=qc.flags(),
    )


MEASURE_MEMORY_LIMIT = 256 << 20
"""Peak memory :func:`measure_file` needs for one file beyond the process's baseline, whatever
the file's length: one decoded block (65,536 frames × channels, a few float64 working copies),
up to 64 MiB of int16 PCM kept for hashing channels after the first, 8 bytes per 100 ms of audio
for loudness gating (at most 7 MB, as sounds over 24 h are refused), libsndfile/FFmpeg buffers."""


def walk_audio(folder: str | Path) -> tuple[list[str], list[str]]:
    """(audio files, default sidecars) under ``folder``, absolute and sorted.

    Symlinked directories are followed, each real directory once (no loops); names starting
    with ``.`` are skipped (AppleDouble ``._x.wav``, ``.Trash``...).
    """
    root = os.path.abspath(folder)
    audio: list[str] = []
    sidecars: list[str] = []
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            full = os.path.join(dirpath, name)
            if name.lower() in SIDECAR_NAMES:
                sidecars.append(full)
            elif os.path.splitext(name)[1].lower() in AUDIO_EXTENSIONS:
                audio.append(full)
    return sorted(audio), sorted(sidecars)


@dataclass(frozen=True)
class _Meta:
    title: str
    description: str
    tags: tuple[str, ...]
    category: str
    subcategory: str
    ucs_catid: str
    creator: str
    source: str
    licence: str
    metadata_source: str


def _title_from_stem(stem: str) -> str:
    return " ".join(re.split(r"[_\-\s]+", stem)).strip()


def _metadata(
    path: str,
    root: str,
    entry: SidecarEntry | None,
    tags: dict[str, str],
    ucs: UcsName | None,
    *,
    licence: str,
    source: str,
) -> _Meta:
    e = entry or SidecarEntry()

    def first(*values: str | None) -> str:
        return next((v.strip() for v in values if v and v.strip()), "")

    if e.title:
        title, origin = e.title, "sidecar"
    elif tags.get("title"):
        title, origin = tags["title"], "tags"
    elif ucs is not None:
        title, origin = ucs.fx_name, "ucs"
    else:
        title, origin = _title_from_stem(readable(Path(path).stem)), "filename"
    rel_parent = os.path.relpath(os.path.dirname(path), root)
    folder_category = (
        "" if rel_parent in (".", "") else readable(os.path.basename(os.path.dirname(path)))
    )
    if e.tags is not None:
        item_tags = e.tags
    else:
        from sfxkit.catalog.sidecar import split_tags

        item_tags = split_tags(tags.get("keywords"))
    return _Meta(
        title=" ".join(title.split()),
        description=first(e.description, tags.get("description"), tags.get("comment")),
        tags=item_tags,
        category=first(e.category, ucs.category if ucs else "", folder_category),
        subcategory=first(e.subcategory, ucs.subcategory if ucs else ""),
        ucs_catid=ucs.catid if ucs else "",
        creator=first(e.creator, tags.get("artist"), ucs.creator_id if ucs else ""),
        source=first(e.source, source, ucs.source_id if ucs else "", tags.get("album")),
        licence=first(e.licence, tags.get("license"), licence) or "unknown",
        metadata_source=origin,
    )


def _previous_index(previous: Sequence[CatalogItem] | None) -> dict[str, tuple[str, CatalogItem]]:
    """path -> (stamp, item) for every path of every previous item."""
    index: dict[str, tuple[str, CatalogItem]] = {}
    for item in previous or ():
        for i, p in enumerate(item.paths):
            if i < len(item.file_stamps) and item.file_stamps[i]:
                index[p] = (item.file_stamps[i], item)
    return index


def _measurement_from(item: CatalogItem, path: str, stamp: str) -> Measurement:
    return Measurement(
        path=path,
        stamp=stamp,
        id=item.id,
        duration=item.duration,
        sample_rate=item.sample_rate,
        channels=item.channels,
        loudness=item.loudness,
        loudness_kind=item.loudness_kind,
        peak_dbfs=item.peak_dbfs,
        qc_flags=item.qc_flags,
    )


def _collect_sidecars(
    root: str, explicit: str | Path | None, auto: list[str], files: list[str]
) -> tuple[dict[str, SidecarEntry], list[IngestFailure]]:
    """Entries by path: explicit sidecar over per-folder ones, deeper folders over shallower."""
    problems: list[IngestFailure] = []
    loaded: list[Sidecar] = []
    # Shallow first, so deeper (more specific) sidecars override.
    for sc in sorted(auto, key=lambda s: (s.count(os.sep), s)):
        folder_files = [f for f in files if f.startswith(os.path.dirname(sc) + os.sep)]
        loaded.append(load_sidecar(sc, folder=os.path.dirname(sc), files=folder_files))
    if explicit is not None:
        sp = Path(explicit)
        if not sp.is_absolute() and not sp.exists():
            sp = Path(root) / sp
        loaded.append(load_sidecar(sp, folder=root, files=files))
    entries: dict[str, SidecarEntry] = {}
    for side in loaded:
        for path, entry in side.entries.items():
            entries[path] = entry.merged_over(entries[path]) if path in entries else entry
        for pr in side.problems:
            problems.append(
                IngestFailure(
                    readable(pr.file or pr.sidecar),
                    f"sidecar {readable(str(pr.sidecar))} row {pr.row}: {pr.reason}",
                )
            )
    return entries, problems


def ingest(
    folder: str | Path,
    *,
    sidecar: str | Path | None = None,
    previous: Sequence[CatalogItem] | None = None,
    licence: str = "unknown",
    source: str = "",
    describer: Describer | None = None,
    progress: bool | None = None,
    measured: Mapping[str, Measurement | str] | None = None,
) -> IngestResult:
    """Scan ``folder`` into catalog items; see the module docstring for every rule.

    ``sidecar`` is an extra CSV/JSON metadata file (relative paths inside it are relative to
    ``folder``); ``previous`` are the items of the last build, for incremental rebuilds;
    ``licence`` and ``source`` are defaults for files whose metadata names none; ``describer``
    is any :class:`sfxkit.catalog.describe.Describer`; ``measured`` holds files already measured
    elsewhere (worker processes), by path: the :class:`Measurement` or the failure reason.
    """
    from sfxkit.catalog.describe import Describer, TemplateDescriber
    from sfxkit.media.audio import read_tags

    root = os.path.abspath(folder)
    if not os.path.isdir(root):
        raise InputError(
            f"{root}: not a folder; pass the directory that holds your sound effects"
            if os.path.exists(root)
            else f"{root}: folder not found; check the path"
        )
    if describer is not None and not isinstance(describer, Describer):  # type: ignore[misc]
        raise InputError(
            f"describer {describer!r} is not a Describer (needs name, version and describe(items, n))"
        )
    desc = describer if describer is not None else TemplateDescriber()
    table = ucs_table()  # load (and validate a user table) once, before the loop

    files, auto_sidecars = walk_audio(root)
    entries, failures = _collect_sidecars(root, sidecar, auto_sidecars, files)
    prev = _previous_index(previous)

    decoded = reused = 0
    per_id: dict[str, list[tuple[Measurement, _Meta]]] = {}
    for path in track(files, total=len(files), desc="ingest", unit="file", enabled=progress):
        try:
            stamp = file_stamp(path)
            hit = prev.get(path)
            if hit is not None and hit[0] == stamp:
                m = _measurement_from(hit[1], path, stamp)
                reused += 1
            else:
                pre = measured.get(path) if measured else None
                if isinstance(pre, str):
                    failures.append(IngestFailure(readable(path), pre))
                    continue
                m = pre if pre is not None else measure_file(path)
                decoded += 1
            tags = read_tags(path)
        except MediaError as exc:
            failures.append(IngestFailure(readable(path), exc.reason))
            continue
        except OSError as exc:  # broken symlink, permissions, file vanished mid-scan
            failures.append(
                IngestFailure(readable(path), f"cannot read the file ({exc.strerror or exc})")
            )
            continue
        except MemoryError:
            failures.append(IngestFailure(readable(path), "out of memory while decoding it"))
            continue
        except Exception as exc:  # noqa: BLE001 - one odd file must not stop a library ingest
            failures.append(IngestFailure(readable(path), f"{type(exc).__name__}: {exc}"))
            continue
        ucs = parse_ucs_name(Path(path).stem, table)
        meta = _metadata(path, root, entries.get(path), tags, ucs, licence=licence, source=source)
        per_id.setdefault(m.id, []).append((m, meta))

    items = [_make_item(group) for group in per_id.values()]
    items.sort(key=lambda it: it.id)
    items = _describe(items, desc, previous)
    failures.sort(key=lambda f: f.path)
    return IngestResult(tuple(items), tuple(failures), decoded, reused)


def _make_item(group: list[tuple[Measurement, _Meta]]) -> CatalogItem:
    group = sorted(group, key=lambda mm: mm[0].path)
    primary = group[0][0]
    # Metadata from the best-described copy; ties go to the primary (sorted-first) path.
    _, meta = min(group, key=lambda mm: METADATA_SOURCES.index(mm[1].metadata_source))
    return CatalogItem(
        id=primary.id,
        path=primary.path,
        paths=tuple(m.path for m, _ in group),
        title=meta.title,
        description=meta.description,
        tags=meta.tags,
        category=meta.category,
        subcategory=meta.subcategory,
        ucs_catid=meta.ucs_catid,
        creator=meta.creator,
        source=meta.source,
        licence=meta.licence,
        duration=primary.duration,
        sample_rate=primary.sample_rate,
        channels=primary.channels,
        loudness=primary.loudness,
        loudness_kind=primary.loudness_kind,
        peak_dbfs=primary.peak_dbfs,
        qc_flags=primary.qc_flags,
        metadata_source=meta.metadata_source,
        metadata_text=make_metadata_text(
            meta.title, meta.description, meta.category, meta.subcategory, meta.tags
        ),
        file_stamps=tuple(m.stamp for m, _ in group),
    )


def _describe(
    items: list[CatalogItem],
    describer: Describer,
    previous: Sequence[CatalogItem] | None,
) -> list[CatalogItem]:
    from sfxkit.catalog.describe import describe_items

    tag = f"{describer.name}/{describer.version}"
    old = {it.id: it for it in previous or ()}
    todo: list[int] = []
    out = list(items)
    for i, item in enumerate(items):
        before = old.get(item.id)
        if (
            before is not None
            and before.describer == tag
            and before.metadata_text == item.metadata_text
            and before.visual_descriptions
        ):
            out[i] = dataclasses.replace(
                item,
                visual_descriptions=before.visual_descriptions,
                visual_description=before.visual_descriptions[0],
                describer=tag,
            )
        else:
            todo.append(i)
    if todo:
        batch = [items[i] for i in todo]
        descriptions = describe_items(batch, describer, N_DESCRIPTIONS)
        for i, descs in zip(todo, descriptions, strict=True):
            out[i] = dataclasses.replace(
                items[i],
                visual_descriptions=tuple(descs),
                visual_description=descs[0],
                describer=tag,
            )
    return out
