"""Build or update an index over a folder of sound effects.

Stages (each a plain function, timed in the report): ingest the folder (decode, measure, dedup,
describe) → embed what is new or changed into each view → build the FAISS views → commit a new
version atomically. Re-running on the same folder decodes only files whose size or mtime changed,
embeds only items (or texts) not embedded before with the same model, and drops deleted files.

Bridge results survive a rebuild. When the index was described by a language-model describer
(``sfxkit bridge describe``) and no ``describer`` is passed, the recorded one is used again (its
response cache makes unchanged items free). When the index has bridge heads and the CLIP and
CLAP models are unchanged, the heads, fusion weights and calibration are carried into the new
version and the ``bridge`` view is recomputed for every item (new items included); when either
model changed, they are dropped and the report says so (retrain with ``sfxkit bridge train``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sfxkit.config import TINY_AUDIO_MODEL, TINY_FRAME_MODEL, get_settings
from sfxkit.errors import InputError, MissingViewsWarning

# Long ambiences are embedded from their first minute: CLAP sees 10 s windows anyway, and this
# bounds memory and time per file. Documented in the README.
MAX_EMBED_SECONDS = 60.0
AUDIO_BATCH = 16
MEASURE_BATCH = 4


@dataclass(frozen=True)
class ViewSpec:
    name: str
    role: str  # which encoder: "frame" | "audio"
    tower: str  # "text" | "audio"
    source: str  # what is embedded

    def texts(self, item: Any) -> list[str]:
        if self.source == "visual_descriptions":
            return list(item.visual_descriptions) or [item.visual_description]
        return [item.metadata_text]


VIEW_SPECS: tuple[ViewSpec, ...] = (
    ViewSpec("clip_text", "frame", "text", "visual_descriptions"),
    ViewSpec("clap_audio", "audio", "audio", "audio"),
    ViewSpec("clap_text", "audio", "text", "metadata_text"),
)
# aiSFX: sounds only, a space of its own; built whenever its weights are present (see sfx_views).
SFX_VIEW = ViewSpec("sfx_audio", "sfx", "audio", "audio")
# PE-AV: the sound through the audio tower (what frames and shots are matched against) and the
# metadata through the text tower trained against it; built whenever weights are present.
AV_VIEWS: tuple[ViewSpec, ...] = (
    ViewSpec("pe_audio", "av", "audio", "audio"),
    ViewSpec("pe_text", "av", "text", "metadata_text"),
)
# PE-AV hears the first 10 s of each sound (sfxkit.models.peav.PE_AUDIO_SECONDS): decode no more.
AV_EMBED_SECONDS = 10.0


@dataclass(frozen=True)
class BuildReport:
    index: Path
    version: int
    items: int
    added: int
    removed: int
    unchanged: int
    decoded: int
    reused_decodes: int
    embedded: dict[str, int]
    failures: tuple[tuple[str, str], ...]
    duplicates: int
    models: dict[str, str]
    untrained: bool
    seconds: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    # what near-duplicate grouping and categorisation did (or why they did not run)
    sound_analysis: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["index"] = str(self.index)
        d["failures"] = [{"path": p, "reason": r} for p, r in self.failures]
        d["notes"] = list(self.notes)
        d["sound_analysis"] = list(self.sound_analysis)
        return d


def resolve_models(
    models: str | dict[str, str] | None, recorded: Mapping[str, str] | None = None
) -> dict[str, str]:
    """'default' | 'tiny' | 'FRAME_ID,AUDIO_ID' | {'frame': ..., 'audio': ...} → role → model id.

    ``None`` means the models ``recorded`` in the index being rebuilt, else the defaults.
    """
    settings = get_settings()
    if models is None and recorded:
        return {"frame": settings.frame_model, "audio": settings.audio_model, **recorded}
    if models is None or models == "default":
        return {"frame": settings.frame_model, "audio": settings.audio_model}
    if models == "tiny":
        return {"frame": TINY_FRAME_MODEL, "audio": TINY_AUDIO_MODEL}
    if isinstance(models, dict):
        out = {"frame": settings.frame_model, "audio": settings.audio_model}
        unknown = set(models) - set(out)
        if unknown:
            raise InputError(f"unknown model roles {sorted(unknown)}; use 'frame' and 'audio'")
        out.update(models)
        return out
    parts = [p.strip() for p in str(models).split(",") if p.strip()]
    if len(parts) == 2:
        return {"frame": parts[0], "audio": parts[1]}
    raise InputError(
        f"--models {models!r}: use 'default', 'tiny', or 'FRAME_MODEL,AUDIO_MODEL' "
        "(e.g. 'open_clip:ViT-B-32/laion2b_s34b_b79k,clap:laion/larger_clap_general')"
    )


OFFLINE_ADVICE = (
    "To try sfxkit without any weights, build a test index with the tiny untrained models: "
    '`sfxkit index build SFX_DIR --out IDX --models tiny` (Python: models="tiny"); '
    "its rankings are meaningless."
)


def check_weights(
    model_ids: Mapping[str, str], *, skip: Iterable[str] = (), advice: str = OFFLINE_ADVICE
) -> None:
    """Fail before any work when a model is unknown, of the wrong kind, or its weights are not
    on this machine (never downloads). ``skip``: roles whose encoder the caller supplies."""
    from sfxkit.errors import ModelError
    from sfxkit.models import weights
    from sfxkit.models.registry import parse_model_id

    skipped = set(skip)
    for role, model_id in model_ids.items():
        if role in skipped:
            continue
        spec = parse_model_id(model_id)
        if spec.kind != role:
            raise ModelError(
                f"'{model_id}' is a {spec.kind} model, not a {role} model; models are given as "
                "'FRAME_MODEL,AUDIO_MODEL' (e.g. 'open_clip:tiny,clap:tiny')"
            )
        if spec.tiny:
            continue
        if spec.family == "laion_clap":
            from sfxkit.models.laionclap import import_laion_clap

            import_laion_clap()
        if weights.locate(spec) is None:
            error = weights.missing_error(spec)
            error.args = (f"{error.args[0]} {advice}",)
            raise error


def build_index(
    folder: str | Path,
    out: str | Path,
    *,
    models: str | dict[str, str] | None = None,
    sidecar: str | Path | None = None,
    licence: str = "unknown",
    source: str = "",
    device: str | None = None,
    describer: Any = None,
    presets: Any = None,
    progress: bool | None = None,
    lock_timeout: float | None = None,
    encoders: dict[str, Any] | None = None,
    sfx_model: str | None = "auto",
    engine: str = "local",
    address: str | None = None,
    av_model: str | None = "auto",
    recall_target: float | None = None,
) -> BuildReport:
    """Build (or incrementally update) the index at ``out`` from the sound files under ``folder``.

    ``models``: ``"default"`` (pretrained CLIP + CLAP, weights needed), ``"tiny"`` (untrained toy
    encoders for tests), or ``"FRAME_ID,AUDIO_ID"``; ``None`` keeps the models of the index being
    rebuilt (the defaults for a new one). ``sfx_model``: ``"auto"`` adds the ``sfx_audio`` view
    (aiSFX) when its weights are present (a rebuild keeps the index's own sfx model; with
    ``models="tiny"`` it is the tiny aiSFX, ``aisfx:tiny``, like the other encoders, when the
    aiSFX weights are present),
    ``None``/``"none"`` never does, or a model id (``"aisfx:tiny"``); with aiSFX available,
    missing CLIP/CLAP weights leave their views out and ``BuildReport.notes`` says what works.
    ``av_model``: the same for PE-AV's ``pe_audio`` and ``pe_text`` views (``"auto"``: the
    first pulled of ``pe_av:large``, ``base``, ``small``...; ``"pe_av:tiny"`` for tests).
    Every model's weights are checked before any file is read. A file that fails to decode is
    reported in
    ``BuildReport.failures`` and skipped; the build goes on. Nothing is replaced until the new
    version is complete. ``engine``: ``"local"`` (worker processes on this machine, see
    :mod:`sfxkit.index.engines.local`) or ``"ray"`` (Ray Data on the cluster at ``address``, or a local Ray
    runtime; extra ``sfxkit[distributed]``); both give the same index. ``recall_target``:
    recall@10 every approximate view's search is tuned to reach on its own vectors (default
    ``sfxkit.index.tune.DEFAULT_TARGET``; see :mod:`sfxkit.index.tune`).
    """
    from sfxkit.catalog.ingest import ingest
    from sfxkit.index.store import IndexStore

    engine_name = engine
    if engine_name not in ENGINES:
        raise InputError(f"engine {engine_name!r}: use one of {', '.join(ENGINES)}")
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise InputError(f"{folder}: not a directory; pass the folder holding your sound effects")
    store = IndexStore(out)
    resolve_models(models)  # a malformed --models fails before waiting for the lock
    seconds: dict[str, float] = {}
    notes: list[str] = []

    with store.writer(timeout=lock_timeout) as writer, contextlib.ExitStack() as stack:
        previous = _open_previous(store, notes)
        model_ids = resolve_models(models, previous.manifest.models if previous else None)
        recorded_sfx = model_ids.pop("sfx", None)
        recorded_av = model_ids.pop("av", None)
        if sfx_model == "auto" and models is None and recorded_sfx:
            sfx_model = recorded_sfx
        if sfx_model == "auto" and isinstance(models, str) and models.strip() == "tiny":
            # "tiny" means tiny encoders on every command: a test index gets the tiny aiSFX too,
            # not the pulled weights (pass sfx_model=AISFX_MODEL for the real one).
            from sfxkit.models.registry import AISFX_MODEL, TINY_SFX_MODEL, find_weights

            sfx_model = TINY_SFX_MODEL if find_weights(AISFX_MODEL) is not None else None
        if av_model == "auto" and models is None and recorded_av:
            av_model = recorded_av
        before = len(notes)
        specs = sfx_views(model_ids, sfx_model, notes, encoders or {})
        specs += av_views(model_ids, av_model, notes, encoders or {})
        missing_views = notes[before:]
        check_weights(model_ids, skip=encoders or {})
        prev_items = _previous_items(previous)
        if describer is None:
            describer = recorded_describer(previous)

        encoders = dict(encoders or {})
        engine = stack.enter_context(make_engine(engine_name, address, encoders, device))
        t0 = time.perf_counter()
        result = ingest(
            folder,
            measured=premeasure(folder, prev_items, engine),
            sidecar=sidecar,
            previous=prev_items,
            licence=licence,
            source=source,
            describer=describer,
            progress=progress,
        )
        seconds["ingest"] = time.perf_counter() - t0
        items = list(result.items)
        failures = [(f.path, f.reason) for f in result.failures]
        if not items:
            # An empty or unmounted library must not replace a good index with an empty one.
            bad = (
                f" ({len(failures)} file(s) failed to decode, e.g. {failures[0][0]}: {failures[0][1]})"
                if failures
                else ""
            )
            raise InputError(
                f"{folder}: no decodable audio files found{bad}; check the folder (is the drive "
                "mounted?) — nothing was written"
                + (
                    f", {store.root} still holds its previous version"
                    if previous is not None
                    else ""
                )
            )

        writer.space_needed = _space_needed(specs, items, previous, model_ids, engine)
        _check_free_space(writer, len(items))

        # Each view's vectors go to a float16 array on disk in the new version's stage as the
        # engine returns them, batch by batch: the build holds no view in RAM, and the view file
        # is that array (stored as float16, so the index is built from exactly what is stored
        # and a fresh build and a rebuild reusing stored vectors give the same index).
        vectors: dict[str, np.ndarray] = {}
        embedded: dict[str, int] = {}
        t0 = time.perf_counter()
        for spec in specs:
            t_view = time.perf_counter()
            vecs, n_new, dropped = _embed_view(
                spec, items, previous, model_ids[spec.role], engine, progress, writer
            )
            seconds[f"embed_{spec.name}"] = time.perf_counter() - t_view
            if dropped:
                # an item whose audio vanished or broke since ingest: report and drop everywhere
                from sfxkit.catalog.schema import readable

                failures.extend((readable(items[i].path), reason) for i, reason in dropped)
                dead = {d for d, _ in dropped}
                keep = np.array([i for i in range(len(items)) if i not in dead], dtype=np.int64)
                items = [items[i] for i in keep]
                vectors = {k: _compact(writer, k, v, keep) for k, v in vectors.items()}
                vecs = _compact(writer, spec.name, vecs, keep)
            vectors[spec.name] = vecs
            embedded[spec.name] = n_new
        carried = _carry_bridge(previous, vectors, model_ids, notes, writer)
        seconds["embed"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        analysis: list[str] = []
        items, sound_record = _sound_analysis(
            items, vectors, previous, model_ids, encoders, device, describer, analysis
        )
        seconds["analyse"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        manifest = _write_version(
            writer,
            items,
            vectors,
            model_ids,
            encoders,
            presets,
            result,
            folder,
            carried,
            _describer_rec(describer),
            specs,
            sound_record,
            tuning=_TuningContext(
                target=recall_target,
                previous=dict(previous.manifest.raw.get("views", {})) if previous else {},
                previous_count=previous.manifest.row_count if previous else 0,
                embedded=embedded,
                notes=notes,
                seconds=seconds,
            ),
        )
        seconds["index"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        version = writer.commit(manifest)
        seconds["commit"] = time.perf_counter() - t0

    # Python callers see what the CLI prints as a note: an index without frame views is only
    # found out when `recommend` fails otherwise.
    for note in missing_views:
        import warnings

        warnings.warn(f"{store.root}: {note}", MissingViewsWarning, stacklevel=2)
    prev_ids = {it.id for it in prev_items}
    new_ids = {it.id for it in items}
    return BuildReport(
        index=store.root,
        version=version,
        items=len(items),
        added=len(new_ids - prev_ids),
        removed=len(prev_ids - new_ids),
        unchanged=len(new_ids & prev_ids),
        decoded=result.decoded,
        reused_decodes=result.reused,
        embedded=embedded,
        failures=tuple(failures),
        duplicates=sum(1 for it in items if len(it.paths) > 1),
        models=model_ids,
        untrained=bool(manifest["untrained"]),
        seconds=seconds,
        notes=tuple(notes),
        sound_analysis=tuple(analysis),
    )


# What a version takes at least, per row and vector dimension: the float16 view file and the
# FAISS index's float32 vectors (HNSW links and refine codes add more); per row of rows.parquet;
# and once (manifest, digests, small files).
_BYTES_PER_DIM = 2 + 4
_BYTES_PER_ROW = 256
_BYTES_FIXED = 64 << 10


def _space_needed(
    specs: Sequence[ViewSpec], items: Sequence[Any], previous: Any, model_ids: Any, engine: Any
) -> int:
    """A lower estimate of the bytes the new version will take on disk (it is written whole,
    beside the current version, which stays until the commit)."""
    old = previous.manifest.views if previous is not None else {}
    # The local engine embeds in this process, so asking it for a width loads nothing extra; a
    # Ray driver holds only the audio encoders (for their sample rate): a frame view of a new
    # model counts 0 there rather than load CLIP on the driver only to measure it.
    measurable = type(engine).__name__ != "RayEngine"
    dims = 0
    for spec in specs:
        model = model_ids[spec.role]
        info = old.get(spec.name)
        if info is not None and info.model == model:
            dims += info.dim  # the recorded width
        elif measurable or spec.role == "audio":
            dims += engine.dim(spec.role, model)
    if "bridge" in old:
        dims += old["bridge"].dim
    return len(items) * (dims * _BYTES_PER_DIM + _BYTES_PER_ROW) + _BYTES_FIXED


def _check_free_space(writer: Any, rows: int) -> None:
    """Refuse, before any vector is computed, a build the disk cannot hold."""
    import os
    import shutil

    from sfxkit.errors import DiskFullError

    if os.environ.get("SFXKIT_NO_SPACE_CHECK") == "1":
        return
    free = shutil.disk_usage(writer.stage).free
    if free >= writer.space_needed:
        return
    kept = (
        "nothing was written" if writer.first else f"{writer.store.root} keeps its current version"
    )
    raise DiskFullError(
        writer.store.root,
        f"a new version of {rows} sounds",
        needed=writer.space_needed,
        free=free,
        kept=f"{kept}; SFXKIT_NO_SPACE_CHECK=1 skips this estimate",
    )


def _open_previous(store: Any, notes: list[str]) -> Any:
    """The current version to update, or None for a first build or a corrupt current version.

    A corrupt version is not reused at all (not its decodes, vectors or bridge heads): the build
    starts over from the sound files, and the new version replaces it.
    """
    from sfxkit.errors import IndexCorruptError
    from sfxkit.index.store import LoadedIndex

    if not store.exists():
        return None
    try:
        store.manifest()  # an index of a newer format raises here: never overwrite it
    except IndexCorruptError as exc:
        problems = [str(exc)]
    else:
        problems = store.verify()
    if not problems:
        try:
            return LoadedIndex(store, views=[])
        except IndexCorruptError as exc:
            problems = [str(exc)]
    notes.append(
        f"the current version is corrupt ({problems[0]}); rebuilt from the sound files, "
        "reusing nothing from it"
    )
    return None


SOUND_VIEW = SFX_VIEW.name


def _sound_analysis(
    items: list[Any],
    vectors: dict[str, np.ndarray],
    previous: Any,
    model_ids: dict[str, str],
    encoders: dict[str, Any],
    device: str | None,
    describer: Any,
    notes: list[str],
) -> tuple[list[Any], dict[str, Any]]:
    """Near-duplicate groups and predicted categories from the aiSFX view, when it exists.

    Without a real ``sfx_audio`` view the items are returned unchanged (no groups, no
    predictions) and a note says why. Items whose prediction changes are described again and
    their ``clip_text`` vectors re-embedded, so that their description says what they sound like.
    """
    from sfxkit.catalog.categorize import DEFAULT_METHOD, categorize_items
    from sfxkit.catalog.ucs import ucs_table_info
    from sfxkit.index.neardup import (
        NearDupParams,
        group_ids,
        quality_order,
        quality_ranks,
        similar_pairs,
    )

    record: dict[str, Any] = {"ucs": ucs_table_info().to_dict()}
    vecs = vectors.get(SOUND_VIEW)
    if vecs is None or _untrained_view(SOUND_VIEW, model_ids, encoders):
        why = "no aiSFX view" if vecs is None else "the aiSFX view is untrained"
        notes.append(
            f"near-duplicate grouping and automatic categorisation skipped: {why} "
            "(pull the weights with `sfxkit models pull aisfx`); only identical audio is merged"
        )
        return items, record
    import dataclasses

    params = NearDupParams()
    pairs = similar_pairs(vecs, [it.duration for it in items], params)
    linked = sorted({i for p in pairs for i in p[:2]})
    groups = group_ids(len(items), pairs, [it.id for it in items], quality_order(linked, items))
    ranks = quality_ranks(groups, items)
    items = [
        dataclasses.replace(it, near_dup_group=g, near_dup_rank=r)
        for it, g, r in zip(items, groups, ranks, strict=True)
    ]
    n_groups = len({g for g in groups if g})
    notes.append(
        f"near-duplicates: {sum(1 for g in groups if g)} item(s) in {n_groups} group(s) "
        f"(aiSFX cosine >= {params.threshold}, durations within {params.min_duration_ratio:.0%})"
    )
    record["near_duplicates"] = {
        **params.to_dict(),
        "view": SOUND_VIEW,
        "groups": n_groups,
        "items": sum(1 for g in groups if g),
    }
    result = categorize_items(items, vecs)
    rows = previous.rows if previous is not None else None
    had_prediction = (
        set(rows.loc[rows["predicted_category"] != "", "id"])
        if rows is not None and "predicted_category" in rows
        else set()
    )
    notes.append(result.summary())
    record["categorize"] = result.record(SOUND_VIEW, DEFAULT_METHOD)  # with its level
    items = redescribe_predicted(
        result.items, had_prediction, vectors, model_ids, encoders, device, describer
    )
    return items, record


def redescribe_predicted(
    items: Sequence[Any],
    had_prediction: set[str],
    vectors: dict[str, np.ndarray],
    model_ids: dict[str, str],
    encoders: dict[str, Any],
    device: str | None,
    describer: Any,
) -> list[Any]:
    """``items`` with fresh template descriptions (and ``clip_text`` vectors) where a predicted
    category now shapes them differently: items with a prediction, and items whose id is in
    ``had_prediction`` (their descriptions may have been made from one). Descriptions by a
    language-model describer are left as they are."""
    import dataclasses

    from sfxkit.catalog.describe import TemplateDescriber, describe_items, describer_tag

    out = list(items)
    if describer is not None and not isinstance(describer, TemplateDescriber):
        return out
    changed = [i for i, it in enumerate(out) if it.predicted_category or it.id in had_prediction]
    if not changed:
        return out
    desc = describer or TemplateDescriber()
    fresh = describe_items(
        [out[i] for i in changed], desc, len(out[changed[0]].visual_descriptions) or 3
    )
    todo = []
    for i, descs in zip(changed, fresh, strict=True):
        if tuple(descs) != out[i].visual_descriptions:
            out[i] = dataclasses.replace(
                out[i],
                visual_descriptions=tuple(descs),
                visual_description=descs[0],
                describer=describer_tag(desc),
            )
            todo.append(i)
    if todo and "clip_text" in vectors:
        spec = next(s for s in VIEW_SPECS if s.name == "clip_text")
        if spec.role not in encoders:  # the Ray engine loads its models in its actors
            from sfxkit.index.engines.local import load_encoder

            encoders[spec.role] = load_encoder(spec.role, model_ids[spec.role], device)
        from sfxkit.index.engines.local import refresh_clip_text

        refresh_clip_text(vectors["clip_text"], out, todo, encoders[spec.role])
    return out


def _untrained_view(view: str, model_ids: dict[str, str], encoders: dict[str, Any]) -> bool:
    spec = next((s for s in (*VIEW_SPECS, SFX_VIEW, *AV_VIEWS) if s.name == view), None)
    if spec is None:
        return True
    enc = encoders.get(spec.role)
    return bool(getattr(enc, "untrained", model_ids.get(spec.role, "").endswith(":tiny")))


def recorded_describer(previous: Any) -> Any:
    """The language-model describer an index was described with, to keep using it (or None)."""
    record = previous.manifest.get("describer") if previous is not None else None
    spec = (record or {}).get("spec") or {}
    if spec.get("kind") in (None, "template", "custom"):
        return None
    from sfxkit.catalog.describe import describer_from_spec

    return describer_from_spec(spec)


def _describer_rec(describer: Any) -> dict[str, Any]:
    from sfxkit.catalog.describe import TemplateDescriber, describer_record

    return describer_record(describer if describer is not None else TemplateDescriber())


def _carry_bridge(
    previous: Any,
    vectors: dict[str, np.ndarray],
    model_ids: dict[str, str],
    notes: list[str],
    writer: Any,
) -> dict[str, Any] | None:
    """Bridge heads of the previous version, re-applied to every item, when still valid.

    Returns the files and manifest entries to carry over; adds ``vectors["bridge"]``.
    """
    if previous is None or "bridge" not in previous.manifest.views:
        return None
    if "clap_audio" not in vectors or "frame" not in model_ids:
        notes.append("bridge heads dropped: this build has no CLIP/CLAP views to apply them to")
        return None
    from sfxkit.index.heads import CONFIG_FILE, HEADS_FILE, HeadsConfig, load_heads_from_index

    config = HeadsConfig.from_dict(previous.read_json(CONFIG_FILE))
    if config.image_model != model_ids["frame"] or config.audio_model != model_ids["audio"]:
        notes.append(
            f"bridge heads, fusion weights and calibration dropped: they were trained on "
            f"{config.image_model} + {config.audio_model}, this build uses {model_ids['frame']} "
            f"+ {model_ids['audio']}; retrain with `sfxkit bridge train`"
        )
        return None
    heads = load_heads_from_index(previous)
    clap = vectors["clap_audio"]
    bridge = None
    for s in range(0, len(clap), PIECE_ROWS):
        block = heads.embed_audio(np.asarray(clap[s : s + PIECE_ROWS], dtype=np.float32))
        if bridge is None:
            bridge = writer.scratch_vectors("bridge", (len(clap), block.shape[1]))
        bridge[s : s + len(block)] = block
    vectors["bridge"] = bridge
    raw = previous.manifest.raw
    return {
        "files": {
            HEADS_FILE: previous.read_bytes(HEADS_FILE),
            CONFIG_FILE: previous.read_bytes(CONFIG_FILE),
        },
        "view": dict(raw["views"]["bridge"]),
        "manifest": {k: raw[k] for k in ("bridge", "fusion", "calibration") if k in raw},
    }


def _previous_items(previous: Any) -> list[Any]:
    if previous is None:
        return []
    from sfxkit.catalog.schema import table_to_items

    return list(table_to_items(previous.table))


def _embed_view(
    spec: ViewSpec,
    items: Sequence[Any],
    previous: Any,
    model_id: str,
    engine: Any,
    progress: bool | None,
    writer: Any,
) -> tuple[np.ndarray, int, list[tuple[int, str]]]:
    """Every item's vector in one view, in a scratch array of ``writer`` (float16, on disk):
    the previous version's where still valid, the engine's for the rest, written batch by batch.
    Returns (array, vectors embedded, [(item, why it could not be embedded)])."""
    reuse_at, reuse_from, lookup = _reusable(spec, items, previous, model_id)
    todo = np.setdiff1d(np.arange(len(items)), reuse_at)
    arr: np.ndarray | None = None

    def put(rows: np.ndarray, vecs: np.ndarray) -> None:
        nonlocal arr
        if arr is None:
            arr = writer.scratch_vectors(spec.name, (len(items), vecs.shape[1]))
        arr[rows] = vecs

    for s in range(0, len(reuse_at), PIECE_ROWS):  # read by row: never the whole old view
        put(reuse_at[s : s + PIECE_ROWS], lookup.get(reuse_from[s : s + PIECE_ROWS]))
    dropped: list[tuple[int, str]] = []
    if len(todo) and spec.tower == "audio":
        batches = engine.embed_audio(
            spec.role,
            model_id,
            [items[i].path for i in todo],
            batch=AUDIO_BATCH,
            duration=AV_EMBED_SECONDS if spec.role == "av" else MAX_EMBED_SECONDS,
            progress=progress,
            desc=f"embedding {spec.name}",
        )
        for pos, results in batches:
            ok = [j for j, (vec, _) in enumerate(results) if vec is not None]
            dropped.extend(
                (int(todo[p]), why)
                for p, (vec, why) in zip(pos, results, strict=True)
                if vec is None
            )
            if ok:
                put(todo[pos[ok]], np.stack([results[j][0] for j in ok]))
    elif len(todo):
        groups = [spec.texts(items[i]) for i in todo]
        from sfxkit._progress import track

        # a stage of its own, so that --no-progress also silences the encoder's text batches
        texts = engine.embed_texts(spec.role, model_id, groups)
        for pos, vecs in track(
            texts, desc=f"embedding {spec.name}", unit="batch", enabled=progress
        ):
            put(todo[pos], vecs)
    if arr is None:  # no vector at all (every new file vanished since ingest): keep the width
        arr = writer.scratch_vectors(spec.name, (len(items), engine.dim(spec.role, model_id)))
    return arr, len(todo) - len(dropped), sorted(dropped)


# Rows per piece when vectors are copied between arrays (reused, compacted, bridged)
PIECE_ROWS = 1 << 16


def frontend_of(role: str) -> str:
    """The input front end a role's vectors are computed with (see ``ViewInfo.frontend``)."""
    if role == "sfx":
        from sfxkit.models.aisfx import FRONTEND

        return FRONTEND
    return ""


def _same_frontend(stored: str, current: str) -> bool:
    from sfxkit.models.aisfx import same_frontend

    return same_frontend(stored, current)


def _reusable(
    spec: ViewSpec, items: Sequence[Any], previous: Any, model_id: str
) -> tuple[np.ndarray, np.ndarray, Any]:
    """(item positions, their faiss ids in the previous version, its vector lookup) for the
    items whose vector in this view can be carried over: same model, same item, same texts."""
    none = np.zeros(0, dtype=np.int64)
    if previous is None or spec.name not in previous.manifest.views:
        return none, none, None
    before = previous.manifest.views[spec.name]
    if before.model != model_id or not _same_frontend(before.frontend, frontend_of(spec.role)):
        return none, none, None  # another model, or the same weights fed another input
    column = "visual_descriptions" if spec.source == "visual_descriptions" else "metadata_text"
    prev_texts_col = previous.rows[column].tolist() if spec.tower == "text" else []
    prev_pos = {fid: i for i, fid in enumerate(previous.faiss_ids.tolist())}
    at: list[int] = []
    ids: list[int] = []
    for i, item in enumerate(items):
        j = prev_pos.get(item.faiss_id)
        if j is None:
            continue
        if spec.tower == "text":
            prev = prev_texts_col[j]
            prev_texts = list(prev) if spec.source == "visual_descriptions" else [prev]
            if prev_texts != spec.texts(item):
                continue
        at.append(i)
        ids.append(item.faiss_id)
    return np.array(at, dtype=np.int64), np.array(ids, dtype=np.int64), previous.vectors(spec.name)


def _compact(writer: Any, name: str, arr: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """The rows ``keep`` of a scratch array, copied in pieces into a new one (the old deleted)."""
    out = writer.scratch_vectors(f"{name}-{len(keep)}", (len(keep), arr.shape[1]))
    for s in range(0, len(keep), PIECE_ROWS):
        out[s : s + PIECE_ROWS] = arr[keep[s : s + PIECE_ROWS]]
    Path(arr.filename).unlink()  # type: ignore[attr-defined]
    return out


ENGINES = ("local", "ray")


def make_engine(
    name: str, address: str | None, encoders: dict[str, Any], device: str | None
) -> Any:
    if name == "ray":
        from sfxkit.index.engines.ray_data import RayEngine

        return RayEngine(encoders, device, address=address)
    from sfxkit.index.engines.local import LocalEngine

    return LocalEngine(encoders, device)


def premeasure(folder: Path, prev_items: Sequence[Any], engine: Any) -> dict[str, Any]:
    """Measure the files ingest would decode (new or changed) on the engine's CPU workers."""
    import os

    from sfxkit.catalog.ingest import _previous_index, file_stamp, walk_audio

    if not engine.parallel:
        return {}
    files, _ = walk_audio(os.path.abspath(folder))
    prev = _previous_index(prev_items)
    todo = []
    for path in files:
        try:
            hit = prev.get(path)
            if hit is None or hit[0] != file_stamp(path):
                todo.append(path)
        except OSError:
            continue  # ingest reports it
    if len(todo) < 2 * MEASURE_BATCH:
        return {}  # starting worker processes costs more than it saves
    out = engine.measure(todo, MEASURE_BATCH)
    return out


def _write_version(
    writer: Any,
    items: Sequence[Any],
    vectors: dict[str, np.ndarray],
    model_ids: dict[str, str],
    encoders: dict[str, Any],
    presets: Any,
    result: Any,
    folder: Path,
    carried: dict[str, Any] | None = None,
    describer_rec: dict[str, Any] | None = None,
    specs: Sequence[ViewSpec] = VIEW_SPECS,
    sound_record: dict[str, Any] | None = None,
    tuning: _TuningContext | None = None,
) -> dict[str, Any]:
    from sfxkit.catalog.schema import items_to_table
    from sfxkit.index.views import choose_preset, load_presets

    preset_list = (
        load_presets(presets) if isinstance(presets, (str, Path)) or presets is None else presets
    )
    ids = np.array([it.faiss_id for it in items], dtype=np.int64)
    writer.write_table("rows.parquet", items_to_table(items))
    views: dict[str, Any] = {}
    for spec in specs:
        vecs = vectors[spec.name]
        preset = choose_preset(len(items), preset_list)
        searched = _index_view(writer, spec.name, vecs, ids, preset, tuning)
        writer.adopt_vectors(f"views/{spec.name}.npy", vecs)
        enc = encoders.get(spec.role)
        untrained = bool(getattr(enc, "untrained", model_ids[spec.role].endswith(":tiny")))
        views[spec.name] = {
            "model": model_ids[spec.role],
            "tower": spec.tower,
            "source": spec.source,
            "dim": int(vecs.shape[1]),
            "count": len(items),
            "untrained": untrained,
            "frontend": frontend_of(spec.role),
            **searched,
        }
    extra: dict[str, Any] = {}
    if carried is not None and "bridge" in vectors:
        vecs = vectors["bridge"]
        preset = choose_preset(len(items), preset_list)
        searched = _index_view(writer, "bridge", vecs, ids, preset, tuning)
        writer.adopt_vectors("views/bridge.npy", vecs)
        for rel, data in carried["files"].items():
            writer.write_bytes(rel, data)
        views["bridge"] = {
            # a tuning record of the previous version describes that version's index
            **{k: v for k, v in carried["view"].items() if k != "tuning"},
            "dim": int(vecs.shape[1]),
            "count": len(items),
            **searched,
        }
        extra.update(carried["manifest"])
    if describer_rec is not None:
        extra["describer"] = describer_rec
    extra.update(sound_record or {})
    if "av" in model_ids and any(s.role == "av" for s in specs):
        from sfxkit.models.registry import parse_model_id

        # the weights' licence travels with the index, as MMAudio's does with generated sounds
        given = getattr(encoders.get("av"), "licence", "")
        licence = given or parse_model_id(model_ids["av"]).licence
        extra["weights_licences"] = {model_ids["av"]: licence}
    return {
        "row_count": len(items),
        "models": dict(model_ids),
        "untrained": any(v["untrained"] for v in views.values()),
        "views": views,
        "build": {
            "root": str(folder.resolve()),
            "failures": [{"path": f.path, "reason": f.reason} for f in result.failures],
        },
        **extra,
    }


@dataclass
class _TuningContext:
    """What a build knows for tuning its views' search (see :mod:`sfxkit.index.tune`)."""

    target: float | None = None
    previous: dict[str, Any] = field(default_factory=dict)  # previous version's view entries
    previous_count: int = 0
    embedded: dict[str, int] = field(default_factory=dict)  # vectors embedded anew, per view
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def changed_rows(self, view: str, count: int) -> int | None:
        """Vectors gone plus vectors new since the previous version (None: no previous): the
        symmetric difference, so a re-embedded row counts twice, like a removal and an addition."""
        if view not in self.previous or view not in self.embedded:
            return None
        new = self.embedded[view]
        kept = count - new
        return new + max(int(self.previous[view].get("count", self.previous_count)) - kept, 0)


def _index_view(
    writer: Any,
    name: str,
    vecs: np.ndarray,
    ids: np.ndarray,
    preset: Any,
    ctx: _TuningContext | None,
) -> dict[str, Any]:
    """Build the view's FAISS index, tune an approximate one to the recall target (or keep the
    previous version's tuning when the view changed little), write it; returns the manifest
    entry's ``factory`` and ``tuning``."""
    from sfxkit.index.tune import build_tuned

    ctx = ctx or _TuningContext()
    prev = ctx.previous.get(name)
    changed = ctx.changed_rows(name, len(ids))
    t0 = time.perf_counter()
    vi, fields, warning = build_tuned(
        vecs, ids, preset, target=ctx.target, previous=prev, changed=changed, name=name
    )
    tuning = fields.get("tuning")
    if tuning and not tuning.get("carried"):
        ctx.seconds[f"tune_{name}"] = float(tuning["seconds"])
    ctx.seconds[f"faiss_{name}"] = time.perf_counter() - t0
    if warning:
        ctx.notes.append(warning)
    writer.write_bytes(f"views/{name}.faiss", vi.to_bytes())
    del vi
    return fields


def sfx_views(
    model_ids: dict[str, str],
    sfx_model: str | None,
    notes: list[str],
    encoders: dict[str, Any] | None = None,
) -> list[ViewSpec]:
    """The views this build makes; sets ``model_ids["sfx"]`` and drops roles it cannot serve.

    ``sfx_audio`` joins the CLIP/CLAP views whenever the aiSFX weights are present (``auto``).
    With aiSFX available, a CLIP or CLAP model whose weights are missing no longer stops the
    build: its views are left out and ``notes`` says plainly what works and what does not.
    Without aiSFX nothing changes: a missing CLIP/CLAP model fails the build as before.
    """
    from sfxkit.models.registry import AISFX_MODEL, find_weights, parse_model_id

    given = encoders or {}
    chosen = None if sfx_model in (None, "", "none") else str(sfx_model)
    if "sfx" in given:
        chosen = str(given["sfx"].model_id)
    elif chosen == "auto":
        chosen = AISFX_MODEL if find_weights(AISFX_MODEL) is not None else None
    elif chosen is not None:
        spec = parse_model_id(chosen)
        if spec.kind != "sfx":
            raise InputError(f"sfx model {chosen!r} is not a sound-effects model; use aisfx:...")
        chosen = spec.id
    if chosen is None:
        return list(VIEW_SPECS)
    model_ids["sfx"] = chosen
    missing = [
        role
        for role in ("frame", "audio")
        if role not in given and find_weights(model_ids[role]) is None
    ]
    if missing:
        names = {"frame": "CLIP", "audio": "CLAP"}
        absent = ", ".join(f"{names[r]} ({model_ids.pop(r)})" for r in missing)
        cannot = []
        if "frame" in missing:
            cannot.append(
                "frame and video retrieval (recommend on images and videos, soundtrack) need CLIP"
            )
        if "audio" in missing:
            cannot.append("text search needs CLAP")
        notes.append(
            f"weights not found for {absent}: built without "
            + ", ".join(v.name for v in VIEW_SPECS if v.role in missing)
            + f", with sfx_audio ({chosen}). Works: audio 'more like this' (`sfxkit recommend FILE --audio`), "
            "near-duplicate detection, categorisation. Does not: "
            + "; ".join(cannot)
            + ". `sfxkit models pull ID` and rebuild to add them."
        )
    return [v for v in VIEW_SPECS if v.role not in missing] + [SFX_VIEW]


def av_views(
    model_ids: dict[str, str],
    av_model: str | None,
    notes: list[str],
    encoders: dict[str, Any] | None = None,
) -> list[ViewSpec]:
    """PE-AV's views for this build (``pe_audio``, ``pe_text``); sets ``model_ids["av"]``.

    ``"auto"`` builds them when a PE-AV checkpoint has been pulled (the default size first);
    ``None``/``"none"`` never; an id always (its weights are checked with the others).
    """
    from sfxkit.models.registry import PE_AV_MODEL, PE_AV_NAMES, find_weights, parse_model_id

    given = encoders or {}
    chosen = None if av_model in (None, "", "none") else str(av_model)
    if "av" in given:
        chosen = str(given["av"].model_id)
    elif chosen == "auto":
        order = [PE_AV_MODEL, *(f"pe_av:{n}" for n in PE_AV_NAMES)]
        chosen = next((m for m in order if find_weights(m) is not None), None)
        if chosen is not None:
            notes.append(f"pe_audio and pe_text views built with {chosen} (its weights are here)")
    elif chosen is not None:
        spec = parse_model_id(chosen)
        if spec.kind != "av":
            raise InputError(
                f"av model {chosen!r} is not an audio-visual model; use pe_av:... "
                "(`sfxkit models list --kind av`)"
            )
        chosen = spec.id
    if chosen is None:
        return []
    model_ids["av"] = chosen
    return list(AV_VIEWS)
