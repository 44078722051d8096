"""Operations that derive a new index version from an existing one without a rebuild: re-describe
the items (and re-embed the ``clip_text`` view), predict the categories of unlabelled items. Each commits through
:func:`sfxkit.index.derive.commit_derived_version`, which refuses when another writer got in first."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sfxkit.catalog.categorize import DEFAULT_METHOD
from sfxkit.catalog.describe import Describer, describe_items, describer_record, describer_tag
from sfxkit.errors import InputError
from sfxkit.index.engines.local import refresh_clip_text


def write_clip_text(w: Any, vectors: Any, items: Any, notes: list[str]) -> dict[str, Any]:
    """Write a rebuilt ``clip_text`` view (FAISS tuned to the recall target, the float16
    vectors) into the version ``w`` stages; returns the manifest fields the tuning measured."""
    from sfxkit.index.tune import build_tuned
    from sfxkit.index.views import choose_preset

    ids = np.array([it.faiss_id for it in items], dtype=np.int64)
    vi, fields, warning = build_tuned(vectors, ids, choose_preset(len(items)), name="clip_text")
    if warning:
        notes.append(warning)
    w.write_bytes("views/clip_text.faiss", vi.to_bytes())
    w.write_vectors("views/clip_text.npy", vectors)
    return fields


@dataclass(frozen=True)
class DescribeReport:
    """What :func:`describe_index` changed."""

    index: Path
    version: int
    describer: str
    items: int
    changed: int
    calls: int
    cache_hits: int
    fallbacks: int
    untrained: bool
    examples: tuple[tuple[str, tuple[str, ...]], ...]
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["index"] = str(self.index)
        d["examples"] = [{"title": t, "descriptions": list(ds)} for t, ds in self.examples]
        d["notes"] = list(self.notes)
        return d


def describe_index(
    index: str | Path,
    describer: Describer,
    *,
    n: int = 3,
    encoders: Mapping[str, Any] | None = None,
    device: str | None = None,
    lock_timeout: float | None = None,
) -> DescribeReport:
    """Re-describe every item of an index and re-embed its ``clip_text`` view, as a new version.

    Items whose descriptions do not change keep their vectors. The manifest records the
    describer (its spec and versioned prompt), so a later ``build_index`` keeps using it.
    Calibration is dropped when the ``clip_text`` view changes (its scores moved): rerun
    ``sfxkit bridge calibrate`` or ``bridge train``. Nothing is written if the describer fails.
    """
    import dataclasses

    import numpy as np

    from sfxkit.catalog.schema import items_to_table, table_to_items
    from sfxkit.index.derive import commit_derived_version, view_entry
    from sfxkit.index.store import load_index

    if n < 1:
        raise InputError(f"n must be >= 1, got {n}")
    idx = load_index(index, views=[])
    items = table_to_items(idx.table)
    descriptions = describe_items(items, describer, n)  # may raise: nothing written yet
    tag = describer_tag(describer)
    new_items = [
        dataclasses.replace(
            it, visual_descriptions=tuple(ds), visual_description=ds[0], describer=tag
        )
        for it, ds in zip(items, descriptions, strict=True)
    ]
    changed = [
        i
        for i, (a, b) in enumerate(zip(items, new_items, strict=True))
        if a.visual_descriptions != b.visual_descriptions
    ]
    vectors = np.array(idx.vectors("clip_text").vectors, dtype=np.float32, copy=True)
    if changed:
        enc = dict(encoders or {}).get("frame")
        if enc is None:
            from sfxkit.models.registry import load_frame_encoder

            enc = load_frame_encoder(idx.manifest.views["clip_text"].model, device=device)
        refresh_clip_text(vectors, new_items, changed, enc)
    notes: list[str] = []
    drop: set[str] = set()
    calibration_dropped = bool(changed) and bool(idx.manifest.get("calibration"))
    if calibration_dropped:
        notes.append(
            "calibration dropped (clip_text scores changed); rerun `sfxkit bridge calibrate`"
        )

    searched: dict[str, Any] = {}

    def write(w: Any) -> None:
        w.write_table("rows.parquet", items_to_table(new_items))
        searched.update(write_clip_text(w, vectors, new_items, notes))

    def update(raw: dict[str, Any]) -> dict[str, Any]:
        raw["views"]["clip_text"] = view_entry(
            raw["views"]["clip_text"], len(new_items), **searched
        )
        raw["describer"] = describer_record(describer)
        if calibration_dropped:
            raw.pop("calibration", None)
        return raw

    version = commit_derived_version(
        index,
        expected_version=idx.version,
        drop=drop,
        write=write,
        update_manifest=update,
        lock_timeout=lock_timeout,
    )
    stats = getattr(describer, "stats", None)
    return DescribeReport(
        index=idx.root,
        version=version,
        describer=tag,
        items=len(new_items),
        changed=len(changed),
        calls=int(getattr(stats, "calls", 0)),
        cache_hits=int(getattr(stats, "cache_hits", 0)),
        fallbacks=int(getattr(stats, "fallbacks", 0)),
        untrained=bool(getattr(describer, "untrained", False)),
        examples=tuple(
            (it.title or Path(it.path).stem, it.visual_descriptions) for it in new_items[:5]
        ),
        notes=tuple(notes),
    )


@dataclass(frozen=True)
class CategorizeReport:
    """The result of :func:`categorize_index`."""

    index: str
    version: int
    view: str
    method: str
    labelled: int
    predicted: int
    classes: int
    redescribed: int
    evaluation: Any
    untrained: bool
    notes: tuple[str, ...] = ()
    level: str = "catid"

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["evaluation"] = self.evaluation.to_dict() if self.evaluation else None
        d["notes"] = list(self.notes)
        return d


def categorize_index(
    index: Any,
    *,
    view: str = "sfx_audio",
    method: str = DEFAULT_METHOD,
    min_labelled: int = 2,
    encoders: dict[str, Any] | None = None,
    device: str | None = None,
    lock_timeout: float | None = None,
) -> CategorizeReport:
    """Predict UCS categories for an index's uncategorised items, as a new index version.

    Trains on the labelled items' ``view`` vectors; items that get (or lose) a prediction are
    described again by the template describer and their ``clip_text`` vectors re-embedded (a
    language-model describer's descriptions are kept). Raises :class:`InputError` when the index
    has too few labelled items, and nothing is written.
    """
    from sfxkit.catalog.categorize import METHODS, categorize_items
    from sfxkit.catalog.schema import items_to_table, table_to_items
    from sfxkit.index.build import recorded_describer, redescribe_predicted
    from sfxkit.index.derive import commit_derived_version, view_entry
    from sfxkit.index.store import load_index

    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    idx = load_index(index, views=[])
    if view not in idx.manifest.views:
        raise InputError(
            f"{idx.root}: no '{view}' view to categorise from; it has "
            f"{', '.join(idx.manifest.views)} (pull the aiSFX weights with `sfxkit models pull "
            "aisfx` and rebuild, or pass --view)"
        )
    items = table_to_items(idx.table)
    vecs = np.asarray(idx.vectors(view).vectors, dtype=np.float32)
    result = categorize_items(items, vecs, method=method, min_labelled=min_labelled)
    if result.skipped_reason:
        raise InputError(f"{idx.root}: cannot categorise: {result.skipped_reason}")
    had = {it.id for it in items if it.predicted_category}
    # an index built without CLIP (sfx-only) has no clip_text view to refresh
    has_clip = "clip_text" in idx.manifest.views
    vectors = (
        {"clip_text": np.array(idx.vectors("clip_text").vectors, dtype=np.float32, copy=True)}
        if has_clip
        else {}
    )
    before = vectors["clip_text"].copy() if has_clip else None
    model_ids = {"frame": idx.manifest.views["clip_text"].model} if has_clip else {}
    encs = dict(encoders or {})
    describer = recorded_describer(idx)
    new_items = redescribe_predicted(result.items, had, vectors, model_ids, encs, device, describer)
    clip_changed = has_clip and bool(np.any(vectors["clip_text"] != before))
    redescribed = sum(
        a.visual_descriptions != b.visual_descriptions
        for a, b in zip(items, new_items, strict=True)
    )
    notes = [result.summary()]
    calibration_dropped = clip_changed and bool(idx.manifest.get("calibration"))
    if calibration_dropped:
        notes.append(
            "calibration dropped (clip_text scores changed); rerun `sfxkit bridge calibrate`"
        )
    untrained = bool(idx.manifest.views[view].untrained)

    searched: dict[str, Any] = {}

    def write(w: Any) -> None:
        w.write_table("rows.parquet", items_to_table(new_items))
        if clip_changed:
            searched.update(write_clip_text(w, vectors["clip_text"], new_items, notes))

    def update(raw: dict[str, Any]) -> dict[str, Any]:
        from sfxkit.catalog.ucs import ucs_table_info

        if clip_changed:  # rebuilt: its factory and tuning are the new index's
            raw["views"]["clip_text"] = view_entry(
                raw["views"]["clip_text"], len(new_items), **searched
            )
        raw["categorize"] = result.record(view, method)
        raw["ucs"] = ucs_table_info().to_dict()
        if calibration_dropped:
            raw.pop("calibration", None)
        return raw

    version = commit_derived_version(
        index,
        expected_version=idx.version,
        write=write,
        update_manifest=update,
        lock_timeout=lock_timeout,
    )
    return CategorizeReport(
        index=str(idx.root),
        version=version,
        view=view,
        method=method,
        labelled=result.labelled,
        predicted=result.predicted,
        classes=result.classes,
        redescribed=int(redescribed),
        evaluation=result.evaluation,
        untrained=untrained,
        notes=tuple(notes),
        level=result.level,
    )
