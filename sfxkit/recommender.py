"""Queries → views → fused, explained recommendations.

A frame is embedded with the CLIP image tower and searched against the ``clip_text`` view (what
one would *see* when each sound happens), fused with the trained ``bridge`` view when the index
has bridge heads. Text queries use CLAP text against ``clap_audio`` and ``clap_text``; audio
queries ("more like this") use aiSFX against ``sfx_audio`` fused with CLAP audio against
``clap_audio`` — unless one was made by an untrained (tiny) model and the other by a real one:
then only the real one ranks (see :meth:`Recommender.audio_views`). Vectors of different spaces are
never compared: each view is queried only with its own model's embedding.

With PE-AV views (``pe_audio``, ``pe_text``: Meta's Perception Encoder Audio-Visual) a frame is
also embedded by PE-AV's video tower as a still clip, and a shot as a clip of its own frames (so
motion counts), and searched against ``pe_audio`` — the sounds themselves, no description in
between; text queries add PE-AV text against ``pe_audio`` and ``pe_text``, audio queries
``pe_audio``. Every query kind fuses its views by the same weighted-cosine rescoring, and a view
of an untrained (tiny) model is never fused with a view of a real one: the untrained ones drop
out (see :meth:`Recommender.trusted`). Each recommendation's ``view_scores`` names the views that
ranked it.

Frame results come back as :class:`Recommendations` (a list): when the index is calibrated
(``sfxkit bridge train`` / ``bridge calibrate``), each recommendation carries ``confidence`` (the
calibrated probability that it fits) and the list says whether its best match reaches the stored
threshold (``.confident``). "No confident match" still returns the best candidates, so a caller
can show them, generate a sound instead, or blend.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from sfxkit.errors import IndexMismatchError, InputError

if TYPE_CHECKING:
    from sfxkit.index.store import LoadedIndex
    from sfxkit.media.shots import Shot

QUERY_SECONDS = 60.0
"""A sound query embeds its first minute, as builds embed catalog files
(:data:`sfxkit.index.build.MAX_EMBED_SECONDS`)."""

# How many candidates each view contributes before exact fused rescoring.
FUSION_POOL = 64

DEFAULT_WEIGHTS: dict[str, dict[str, float]] = {
    "frame": {"clip_text": 1.0, "pe_audio": 1.0},
    "text": {"clap_audio": 0.5, "clap_text": 0.5, "pe_audio": 0.5, "pe_text": 0.5},
    "audio": {"clap_audio": 1.0, "sfx_audio": 1.0, "pe_audio": 1.0},
}
# The view each encoder role is queried against (and whose manifest entry names its model).
_ROLE_VIEW = {"frame": "clip_text", "audio": "clap_audio", "sfx": "sfx_audio", "av": "pe_audio"}
# PE-AV's views: both are queried with the one PE-AV model
AV_VIEWS = ("pe_audio", "pe_text")


@dataclass(frozen=True)
class Recommendation:
    """One recommended sound, with the numbers behind its rank."""

    id: str
    path: str
    title: str
    score: float
    rank: int
    view_scores: Mapping[str, float]
    licence: str
    duration: float
    loudness: float
    loudness_kind: str
    category: str
    subcategory: str
    description: str
    visual_description: str
    tags: tuple[str, ...]
    qc_flags: tuple[str, ...]
    confidence: float | None = None
    untrained: bool = False
    # Near-duplicate group (sfxkit.index.neardup) and how many other members it has.
    near_dup_group: str = ""
    near_duplicates: int = 0
    # Predicted from the sound (sfxkit.catalog.categorize) for items without a category.
    predicted_category: str = ""
    predicted_subcategory: str = ""
    predicted_confidence: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["view_scores"] = dict(self.view_scores)
        d["tags"] = list(self.tags)
        d["qc_flags"] = list(self.qc_flags)
        return d

    def __str__(self) -> str:
        conf = f" conf={self.confidence:.2f}" if self.confidence is not None else ""
        tiny = " (tiny untrained model)" if self.untrained else ""
        from sfxkit.catalog.schema import readable

        category = self.category
        if not category and self.predicted_category:
            category = (
                f"predicted {self.predicted_category} / {self.predicted_subcategory} "
                f"{self.predicted_confidence or 0:.2f}"
            )
        dups = f" (+{self.near_duplicates} near-duplicates)" if self.near_duplicates else ""
        return (
            f"#{self.rank} {self.title} [{category}] score={self.score:.3f}{conf} "
            f"{readable(self.path)}{dups}{tiny}"
        )


class Recommendations(list):  # type: ignore[type-arg]
    """The ranked recommendations for one query, plus the calibrated verdict on the best one.

    ``confident`` is True when the top score reaches the index's calibrated threshold, False
    when it does not ("no confident match": the items are still the best candidates), and None
    when the index has no calibration for this kind of query. ``threshold`` is that score and
    ``probability`` the top item's calibrated probability.
    """

    confident: bool | None
    threshold: float | None
    probability: float | None

    def __init__(
        self,
        items: Iterable[Recommendation] = (),
        *,
        confident: bool | None = None,
        threshold: float | None = None,
        probability: float | None = None,
    ) -> None:
        super().__init__(items)
        self.confident = confident
        self.threshold = threshold
        self.probability = probability

    def verdict(self) -> str:
        if self.confident is None:
            return "uncalibrated"
        if self.confident:
            return "confident match"
        return "no confident match (best candidates shown)"


def result_entry(label: str, recs: Any) -> dict[str, Any]:
    """One labelled result list in its JSON shape: what `sfxkit recommend --json` prints and
    `sfxkit serve` sends. A calibrated index adds ``confident``, ``threshold`` and ``verdict``."""
    confident = getattr(recs, "confident", None)
    verdict: dict[str, Any] = {}
    if confident is not None:
        verdict = {
            "confident": confident,
            "threshold": getattr(recs, "threshold", None),
            "verdict": recs.verdict(),
        }
    return {"label": label, **verdict, "recommendations": [r.to_dict() for r in recs]}


@dataclass(frozen=True)
class ShotRecommendations:
    """Recommendations for one shot of a video."""

    shot: Shot
    recommendations: list[Recommendation]

    @property
    def start(self) -> float:
        return self.shot.start

    @property
    def end(self) -> float:
        return self.shot.end

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.shot.to_dict(),
            "confident": getattr(self.recommendations, "confident", None),
            "recommendations": [r.to_dict() for r in self.recommendations],
        }


@dataclass(frozen=True)
class Filters:
    """Which catalog items may be returned. Every condition must hold.

    ``category`` matches category or subcategory (case-insensitive, any of several);
    ``licence`` any of several (case-insensitive); durations in seconds, inclusive;
    ``exclude_flags`` drops items with any of these QC flags ("silent", "clipped", "too_short").
    """

    category: tuple[str, ...] = ()
    licence: tuple[str, ...] = ()
    min_duration: float | None = None
    max_duration: float | None = None
    exclude_flags: tuple[str, ...] = ()
    exclude_ids: tuple[str, ...] = field(default=())

    @classmethod
    def from_any(cls, value: Filters | Mapping[str, Any] | None) -> Filters:
        if value is None:
            return cls()
        if isinstance(value, Filters):
            return value
        known = {f for f in cls.__dataclass_fields__}
        aliases = {"license": "licence", "categories": "category", "exclude_qc": "exclude_flags"}
        kwargs: dict[str, Any] = {}
        for key, val in dict(value).items():
            key = aliases.get(key, key)
            if key not in known:
                raise InputError(
                    f"unknown filter '{key}'; valid filters: {', '.join(sorted(known))}"
                )
            if key in {"category", "licence", "exclude_flags", "exclude_ids"}:
                val = (val,) if isinstance(val, str) else val
                if not isinstance(val, (list, tuple)) or not all(isinstance(v, str) for v in val):
                    raise InputError(
                        f"filter '{key}' takes a string or a list of strings, got {val!r:.60}"
                    )
                val = tuple(val)
            elif val is not None:  # the durations
                if isinstance(val, bool) or not isinstance(val, (int, float)):
                    raise InputError(f"filter '{key}' takes a number of seconds, got {val!r:.60}")
                val = float(val)
            kwargs[key] = val
        return cls(**kwargs)

    @property
    def active(self) -> bool:
        return bool(
            self.category
            or self.licence
            or self.min_duration is not None
            or self.max_duration is not None
            or self.exclude_flags
            or self.exclude_ids
        )

    def mask(self, rows: Any) -> np.ndarray:
        """Boolean mask over the index rows (a pandas DataFrame)."""
        keep = np.ones(len(rows), dtype=bool)
        if self.category:
            wanted = {c.lower() for c in self.category}
            cat = rows["category"].str.lower().isin(wanted).to_numpy()
            sub = rows["subcategory"].str.lower().isin(wanted).to_numpy()
            keep &= cat | sub
        if self.licence:
            wanted = {c.lower() for c in self.licence}
            keep &= rows["licence"].str.lower().isin(wanted).to_numpy()
        if self.min_duration is not None:
            keep &= rows["duration"].to_numpy() >= self.min_duration
        if self.max_duration is not None:
            keep &= rows["duration"].to_numpy() <= self.max_duration
        if self.exclude_flags:
            bad = set(self.exclude_flags)
            keep &= np.array([not (bad & set(f)) for f in rows["qc_flags"]], dtype=bool)
        if self.exclude_ids:
            keep &= ~rows["id"].isin(set(self.exclude_ids)).to_numpy()
        return keep


class Recommender:
    """Keeps an index and its encoders loaded for repeated queries.

    >>> rec = Recommender("my_index")
    >>> rec.recommend("frame.jpg", k=5)
    """

    def __init__(
        self,
        index: str | Path | LoadedIndex,
        *,
        device: str | None = None,
        encoders: Mapping[str, Any] | None = None,
        weights: Mapping[str, Mapping[str, float]] | None = None,
        dedupe: bool = True,
    ) -> None:
        from sfxkit.index.store import LoadedIndex, load_index

        self.index = index if isinstance(index, LoadedIndex) else load_index(index)
        self.manifest = self.index.manifest
        self.device = device
        self._encoders: dict[str, Any] = dict(encoders or {})
        self.weights = {q: dict(w) for q, w in DEFAULT_WEIGHTS.items()}
        self.weights.update(self._stored_weights())
        for q, w in (weights or {}).items():
            self.weights[q] = dict(w)
        self.weights = {q: self.trusted(w) for q, w in self.weights.items()}
        self.untrained = bool(self.manifest.untrained)
        if self.untrained:
            from sfxkit.errors import warn_untrained

            warn_untrained(f"the index {self.index.root}")
        rows = self.index.rows
        # Plain Python columns: building a Recommendation must not cost a pandas lookup.
        self._cols = {c: rows[c].tolist() for c in rows.columns}
        self.dedupe = dedupe
        self._groups: list[str] = self._cols.get("near_dup_group") or []
        self._group_size: dict[str, int] = {}
        for g in self._groups:
            if g:
                self._group_size[g] = self._group_size.get(g, 0) + 1
        self._grouped = (
            np.flatnonzero([bool(g) for g in self._groups]) if self._group_size else None
        )
        self._one_per_group: np.ndarray | None = None  # the unfiltered answer, computed once
        self._bridge: Any = None
        self._calibration: Any = None
        self._load_extensions()
        # A calibration maps the fused scores of the weights it was fitted with; other weights
        # make other scores, so it is not applied to them.
        self._calibrated = self._calibration is not None and self._calibration.applies_to(
            self.weights["frame"]
        )

    # ------------------------------------------------------------------ encoders
    def _stored_weights(self) -> dict[str, dict[str, float]]:
        fusion = self.manifest.get("fusion") or {}
        return {q: dict(w) for q, w in fusion.items() if isinstance(w, Mapping)}

    def _load_extensions(self) -> None:
        """Bridge heads and calibration, when a later stage stored them in the index."""
        if "bridge" in self.manifest.views:
            from sfxkit.index.heads import load_heads_from_index

            self._bridge = load_heads_from_index(self.index)
        if self.manifest.get("calibration"):
            from sfxkit.bridge.calibrate import Calibration

            self._calibration = Calibration.from_dict(self.manifest.get("calibration"))

    def trusted(self, weights: Mapping[str, float]) -> dict[str, float]:
        """``weights`` over this index's views, without the views of untrained (tiny) models
        when a view of a real model is also weighted: a random model's scores would only add
        noise to a real one's."""
        views = self.manifest.views
        # views this index lacks drop out too, so that the weights a calibration was fitted
        # with still match on an index without (say) PE-AV views
        live = {v: float(w) for v, w in weights.items() if v in views and float(w) > 0}
        real = {v: w for v, w in live.items() if not views[v].untrained}
        return real or live

    def uses(self, kind: str, view: str) -> bool:
        """Whether queries of ``kind`` search ``view`` on this index."""
        return view in self.manifest.views and self.weights.get(kind, {}).get(view, 0) > 0

    def encoder(self, role: str) -> Any:
        if role not in self._encoders:
            from sfxkit.models import registry

            view = _ROLE_VIEW[role]
            if view not in self.manifest.views:
                need = {
                    "frame": "frame queries need CLIP",
                    "audio": "text queries need CLAP",
                    "av": "it needs PE-AV",
                }
                raise IndexMismatchError(
                    f"{self.index.root} has no {view} view (it has "
                    f"{', '.join(self.index.view_names)}): {need.get(role, 'it needs aiSFX')}; "
                    "pull the model's weights (`sfxkit models pull ID`) and rebuild the index"
                )
            model_id = self.manifest.views[view].model
            loader = {
                "frame": registry.load_frame_encoder,
                "audio": registry.load_audio_encoder,
                "sfx": registry.load_sfx_encoder,
                "av": registry.load_av_encoder,
            }[role]
            enc = loader(model_id, device=self.device)
            stored = self.manifest.views[view].frontend
            current = str(getattr(enc, "frontend", ""))
            from sfxkit.models.aisfx import same_frontend

            if not same_frontend(stored, current):
                # the same weights fed another input give vectors that do not compare
                raise IndexMismatchError(
                    f"{self.index.root}: its {view} vectors were computed from the "
                    f"{stored or 'aisfx-blocks-raw-v1'} input, this sfxkit computes queries from "
                    f"{current or 'no front end'}; rebuild the index (`sfxkit index build "
                    f"FOLDER --out {self.index.root}`) to re-embed that view"
                )
            self._encoders[role] = enc
        return self._encoders[role]

    def audio_views(self) -> list[str]:
        """The views "more like this" ranks by: ``sfx_audio`` and ``clap_audio`` where present,
        but never a view of an untrained (tiny) model next to one of a real model."""
        views = self.manifest.views
        present = [v for v in ("sfx_audio", "clap_audio", "pe_audio") if v in views]
        trained = [v for v in present if not views[v].untrained]
        return trained or present

    # ----------------------------------------------------------------- embedding
    def embed_frames(self, frames: Sequence[Any]) -> np.ndarray:
        from sfxkit.media.frames import load_frame

        images = [load_frame(f) for f in frames]
        return self.encoder("frame").encode_images(images)

    def frame_queries(
        self, image_embs: np.ndarray | None, av_embs: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """The per-view query vectors for CLIP image embeddings and, where the index has a
        ``pe_audio`` view, PE-AV video embeddings of the same frames or shots."""
        queries: dict[str, np.ndarray] = {}
        if image_embs is not None:
            queries["clip_text"] = image_embs
            if self._bridge is not None and "bridge" in self.manifest.views:
                queries["bridge"] = self._bridge.embed_image(image_embs)
        if av_embs is not None:
            queries["pe_audio"] = av_embs
        return queries

    def av_frame_embeddings(self, images: Sequence[Any]) -> np.ndarray | None:
        """PE-AV video embeddings of single frames (each a still clip), or None when frame
        queries do not search ``pe_audio`` on this index."""
        if not self.uses("frame", "pe_audio"):
            return None
        return np.asarray(self.encoder("av").encode_images(list(images)), dtype=np.float32)

    def av_shot_embeddings(self, video: str | Path, shots: Sequence[Shot]) -> np.ndarray | None:
        """PE-AV video embeddings of shots, each given as a clip of its own frames (evenly
        spaced across the shot, as many as the model takes), or None without ``pe_audio``."""
        if not self.uses("frame", "pe_audio") or not shots:
            return None
        from sfxkit.media.frames import frames_at

        enc = self.encoder("av")
        n = int(enc.clip_frames)
        times = [s.start + (j + 0.5) * (s.end - s.start) / n for s in shots for j in range(n)]
        frames = list(frames_at(video, times))
        clips = [frames[i * n : (i + 1) * n] for i in range(len(shots))]
        return np.asarray(enc.encode_videos(clips), dtype=np.float32)

    def _clip_embeddings(self, images: Sequence[Any]) -> np.ndarray | None:
        if "clip_text" not in self.manifest.views:
            return None
        return self.encoder("frame").encode_images(list(images))

    # ------------------------------------------------------------------- queries
    def recommend(
        self, frame: Any, k: int = 5, *, filters: Any = None, dedupe: bool | None = None
    ) -> Recommendations:
        """Top-k sounds for one frame (image path, PIL image, HxWx3 uint8 array, or (video, seconds)).

        Returns a list of :class:`Recommendation`; on a calibrated index its ``.confident`` says
        whether the best one is a confident match (the candidates are returned either way).
        """
        return self._search_frames([frame], k, filters, dedupe)[0]

    def recommend_batch(
        self,
        frames: Sequence[Any],
        k: int = 5,
        *,
        filters: Any = None,
        dedupe: bool | None = None,
    ) -> list[list[Recommendation]]:
        """Top-k per frame for a batch of frames (one encoder pass, one search)."""
        if isinstance(frames, (str, Path)) or not isinstance(frames, Iterable):
            raise InputError(
                "recommend_batch takes a list of frames; use recommend() for one frame"
            )
        frames = list(frames)
        if not frames:
            return []
        return [r for r in self._search_frames(frames, k, filters, dedupe)]

    def _search_frames(
        self, frames: Sequence[Any], k: int, filters: Any, dedupe: bool | None
    ) -> list[Recommendations]:
        from sfxkit.media.frames import load_frame

        images = [load_frame(f) for f in frames]
        queries = self.frame_queries(
            self._clip_embeddings(images), self.av_frame_embeddings(images)
        )
        return self._search(queries, "frame", k, filters, dedupe)

    def search_frame_embeddings(
        self,
        image_embs: np.ndarray | None,
        k: int = 5,
        *,
        filters: Any = None,
        dedupe: bool | None = None,
        av_embs: np.ndarray | None = None,
    ) -> list[list[Recommendation]]:
        """Top-k per CLIP image embedding (and PE-AV video embedding of the same frame or shot,
        ``av_embs``, where the index has ``pe_audio``); each list is a :class:`Recommendations`."""
        queries = self.frame_queries(image_embs, av_embs)
        return [r for r in self._search(queries, "frame", k, filters, dedupe)]

    @overload
    def recommend_text(  # type: ignore[overload-overlap]  # a str is also a Sequence[str]
        self, text: str, k: int = 5, *, filters: Any = None, dedupe: bool | None = None
    ) -> list[Recommendation]: ...

    @overload
    def recommend_text(
        self, text: Sequence[str], k: int = 5, *, filters: Any = None, dedupe: bool | None = None
    ) -> list[list[Recommendation]]: ...

    def recommend_text(
        self,
        text: str | Sequence[str],
        k: int = 5,
        *,
        filters: Any = None,
        dedupe: bool | None = None,
    ) -> list[Recommendation] | list[list[Recommendation]]:
        """Top-k sounds for a text query ("rain on a tin roof"); a list of texts gives a list of lists."""
        single = isinstance(text, str)
        texts = [text] if single else list(text)
        if not texts or any(not isinstance(t, str) or not t.strip() for t in texts):
            raise InputError("text queries must be non-empty strings")
        queries: dict[str, np.ndarray] = {}
        if any(self.uses("text", v) for v in ("clap_audio", "clap_text")):
            embs = self.encoder("audio").encode_texts(texts)
            queries.update(clap_audio=embs, clap_text=embs)
        if any(self.uses("text", v) for v in AV_VIEWS):
            pe = self.encoder("av").encode_texts(texts)
            queries.update(pe_audio=pe, pe_text=pe)
        out = self._search(queries, "text", k, filters, dedupe)
        if single:
            return out[0]
        batch: list[list[Recommendation]] = [r for r in out]
        return batch

    def recommend_audio(
        self,
        audio: str | Path | np.ndarray,
        k: int = 5,
        *,
        sample_rate: int | None = None,
        filters: Any = None,
        exclude_self: bool = True,
        dedupe: bool | None = None,
        query_id: str | None = None,
    ) -> list[Recommendation]:
        """ "More like this": sounds near an audio file (or mono array + ``sample_rate``).

        With ``exclude_self`` a query that is itself in the catalog (same PCM) is left out.
        A file is read as builds embed it: its first :data:`QUERY_SECONDS` (see
        :meth:`audio_query`); an array is used whole, ``query_id`` (its catalog id, when the
        caller knows it) saves hashing it.
        """
        from sfxkit.media.audio import Audio, pcm_hash

        own: str | None = query_id
        if isinstance(audio, (str, Path)):
            clip, own = self.audio_query(audio)
        else:
            if sample_rate is None:
                raise InputError("recommend_audio with an array needs sample_rate=")
            arr = np.asarray(audio, dtype=np.float32)
            clip = Audio(arr if arr.ndim == 2 else arr[None, :], int(sample_rate))
            if own is None and exclude_self:
                own = pcm_hash(clip)[:16]
        f = Filters.from_any(filters)
        if exclude_self and own is not None:
            f = Filters(
                **{**f.__dict__, "exclude_ids": (*f.exclude_ids, *self._own_group(own, dedupe))}
            )
        mono = clip.to_mono()
        views = self.audio_views()
        queries = {}
        for view in views:
            role = {"sfx_audio": "sfx", "pe_audio": "av"}.get(view, "audio")
            enc = self.encoder(role)
            wave = mono.resampled(enc.sample_rate)
            queries[view] = enc.encode_audio([wave.samples[0]], sample_rate=enc.sample_rate)
        recs = self._search(queries, "audio", k, f, dedupe)[0]
        return recs

    def audio_query(self, path: str | Path) -> tuple[Any, str | None]:
        """The part of a sound file a query embeds, and the file's catalog id when it may be
        in the catalog (None when it cannot be).

        Only the first :data:`QUERY_SECONDS` are kept, decoded block by block as builds do, so
        memory does not grow with the file's length. The id (hash of the whole PCM) is computed
        only when some catalog item has the file's sample rate and length; otherwise decoding
        stops after the first minute.
        """
        from sfxkit.media.audio import Audio, PcmHasher, load_audio, open_audio

        p = Path(path)
        with open_audio(p) as reader:
            sr, channels, frames = reader.sample_rate, reader.channels, reader.frames
            keep = int(QUERY_SECONDS * sr)
            hasher = PcmHasher(sr, channels) if self._may_be_catalog(sr, frames) else None
            parts: list[np.ndarray] = []
            seen = 0
            for block in reader.blocks():
                if seen < keep:
                    parts.append(block[:, : keep - seen])
                seen += block.shape[1]
                if hasher is not None:
                    hasher.update(block)
                elif seen >= keep:
                    break
        if not parts:
            load_audio(p)  # raises the error an empty file gets
        samples = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
        clip = Audio(np.ascontiguousarray(samples), sr)
        if hasher is None:
            return clip, None

        def reread() -> Any:
            with open_audio(p) as again:
                yield from again.blocks()

        return clip, hasher.hexdigest(reread)[:16]

    def _may_be_catalog(self, sample_rate: int, frames: int | None) -> bool:
        """Whether a file of this rate and length (None: unknown) can be a catalog item."""
        if frames is None:
            return True
        if "sample_rate" not in self._cols or "duration" not in self._cols:
            return True
        if not hasattr(self, "_rate_length"):
            self._rate_length = (
                np.asarray(self._cols["sample_rate"], dtype=np.int64),
                np.asarray(self._cols["duration"], dtype=np.float64),
            )
        rates, durations = self._rate_length
        length = frames / float(sample_rate)
        return bool(np.any((rates == sample_rate) & (np.abs(durations - length) < 0.05)))

    def recommend_video(
        self,
        video: str | Path,
        k: int = 5,
        *,
        filters: Any = None,
        shots: Sequence[Shot] | None = None,
        dedupe: bool | None = None,
    ) -> list[ShotRecommendations]:
        """Cut the video into shots and recommend per shot: its keyframe through CLIP, and the
        shot's frames as one clip through PE-AV where the index has ``pe_audio``."""
        from sfxkit.media.frames import frames_at
        from sfxkit.media.shots import detect_shots

        shots = list(shots) if shots is not None else detect_shots(video)
        if not shots:
            return []
        embs = None
        if "clip_text" in self.manifest.views:
            keyframes = frames_at(video, [s.keyframe_time for s in shots])
            embs = self.encoder("frame").encode_images(list(keyframes))
        av = self.av_shot_embeddings(video, shots)  # the shot as a clip: motion counts
        recs = self.search_frame_embeddings(embs, k, filters=filters, dedupe=dedupe, av_embs=av)
        return [ShotRecommendations(s, r) for s, r in zip(shots, recs, strict=True)]

    # -------------------------------------------------------------------- search
    def _allowed(self, filters: Any, dedupe: bool | None = None) -> np.ndarray | None:
        f = Filters.from_any(filters)
        one_per_group = (self.dedupe if dedupe is None else dedupe) and bool(self._group_size)
        if not f.active and not one_per_group:
            return None
        from sfxkit.index.neardup import representatives

        if not f.active:
            if self._one_per_group is None:
                everything = np.ones(len(self._groups), dtype=bool)
                self._one_per_group = self.index.faiss_ids[
                    representatives(
                        self._groups, self._cols["near_dup_rank"], everything, self._grouped
                    )
                ]
            return self._one_per_group
        keep = f.mask(self.index.rows)
        if one_per_group:
            # the best member among those the filters allow, so a filter never hides a group
            keep = representatives(self._groups, self._cols["near_dup_rank"], keep, self._grouped)
        return self.index.faiss_ids[keep]

    def _search(
        self,
        queries: Mapping[str, np.ndarray],
        kind: str,
        k: int,
        filters: Any,
        dedupe: bool | None = None,
    ) -> list[Recommendations]:
        if k < 1:
            raise InputError(f"k must be at least 1 (got {k})")
        weights = {v: w for v, w in self.weights[kind].items() if v in queries and w > 0}
        if not weights:
            need = {
                "frame": "frame queries need CLIP (or PE-AV)",
                "text": "text queries need CLAP (or PE-AV)",
                "audio": "audio queries need CLAP, aiSFX or PE-AV",
            }.get(kind, f"{kind} queries need another view")
            raise IndexMismatchError(
                f"{self.index.root} has no view that answers {kind} queries (it has "
                f"{', '.join(self.index.view_names)}): {need}; pull the model's weights "
                "(`sfxkit models pull ID`) and rebuild the index"
            )
        allowed = self._allowed(filters, dedupe)
        k = min(k, len(self.index.faiss_ids) if allowed is None else len(allowed))
        if k == 0:
            return [self._verdict([], kind) for _ in range(len(next(iter(queries.values()))))]
        if len(weights) == 1:
            (view,) = weights
            scores, ids = self._search_view(view, queries[view], k, allowed)
            return [
                self._verdict(self._make(ids_row, scores_row, {view: scores_row}, kind), kind)
                for ids_row, scores_row in zip(ids, scores, strict=True)
            ]
        return [self._verdict(r, kind) for r in self._fused(queries, weights, k, allowed, kind)]

    def _search_view(
        self, view: str, queries: np.ndarray, k: int, allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        from sfxkit.index.views import EXACT_FILTER_LIMIT

        # The exact vectors are only needed to answer a small filtered set exactly (only those
        # rows are read; older float32 indexes load the file whole); unfiltered queries never
        # touch them.
        small = allowed is not None and len(allowed) <= EXACT_FILTER_LIMIT
        vectors = self.index.vectors(view) if small else None
        return self.index.view(view).search(queries, k, allowed=allowed, vectors=vectors)

    def _verdict(self, recs: list[Recommendation], kind: str) -> Recommendations:
        cal = self._calibration if (kind == "frame" and self._calibrated) else None
        if cal is None:
            return Recommendations(recs)
        if not recs:
            return Recommendations(recs, confident=False, threshold=cal.threshold)
        return Recommendations(
            recs,
            confident=cal.is_confident(recs[0].score),
            threshold=cal.threshold,
            probability=recs[0].confidence,
        )

    def _fused(
        self,
        queries: Mapping[str, np.ndarray],
        weights: Mapping[str, float],
        k: int,
        allowed: np.ndarray | None,
        kind: str = "frame",
    ) -> list[list[Recommendation]]:
        pool = max(FUSION_POOL, 4 * k)
        per_view = {v: self._search_view(v, queries[v], pool, allowed)[1] for v in weights}
        total = sum(weights.values())
        out: list[list[Recommendation]] = []
        for q in range(len(next(iter(queries.values())))):
            cand = np.unique(np.concatenate([per_view[v][q] for v in weights]))
            cand = cand[cand >= 0]
            view_scores = {v: self.index.vectors(v).get(cand) @ queries[v][q] for v in weights}
            fused = sum(weights[v] * view_scores[v] for v in weights) / total
            top = np.argsort(-fused, kind="stable")[:k]
            out.append(
                self._make(cand[top], fused[top], {v: s[top] for v, s in view_scores.items()}, kind)
            )
        return out

    def _make(
        self,
        ids: np.ndarray,
        scores: np.ndarray,
        view_scores: Mapping[str, np.ndarray],
        kind: str = "frame",
    ) -> list[Recommendation]:
        c = self._cols
        views = self.manifest.views
        # untrained when a view that ranked it is (a real view alone makes a real result)
        untrained = any(views[v].untrained for v in view_scores if v in views) or (
            self.untrained and not any(v in views for v in view_scores)
        )
        # Calibrated on fused frame scores only: text and audio queries have no confidence.
        cal = self._calibration if (kind == "frame" and self._calibrated) else None
        recs: list[Recommendation] = []
        for pos, (fid, score) in enumerate(zip(ids, scores, strict=True)):
            if fid < 0:
                continue
            i = self.index._row_of_id[int(fid)]
            s = float(score)
            recs.append(
                Recommendation(
                    id=c["id"][i],
                    path=c["path"][i],
                    title=c["title"][i],
                    score=s,
                    rank=len(recs) + 1,
                    view_scores={v: float(vs[pos]) for v, vs in view_scores.items()},
                    licence=c["licence"][i],
                    duration=float(c["duration"][i]),
                    loudness=float(c["loudness"][i]),
                    loudness_kind=c["loudness_kind"][i],
                    category=c["category"][i],
                    subcategory=c["subcategory"][i],
                    description=c["description"][i],
                    visual_description=c["visual_description"][i],
                    tags=tuple(c["tags"][i]),
                    qc_flags=tuple(c["qc_flags"][i]),
                    confidence=cal.probability(s) if cal is not None else None,
                    untrained=untrained,
                    **self._extras(i),
                )
            )
        return recs

    def _own_group(self, item_id: str, dedupe: bool | None) -> list[str]:
        """The ids to leave out of "more like this" for a query that is item ``item_id``: itself
        and, when near-duplicates are collapsed, the other members of its group."""
        from sfxkit.catalog.schema import faiss_id_for

        collapse = self.dedupe if dedupe is None else dedupe
        i = self.index._row_of_id.get(faiss_id_for(item_id))
        group = self._groups[i] if (i is not None and self._groups and collapse) else ""
        if not group:
            return [item_id]
        return [item_id] + [self._cols["id"][j] for j, g in enumerate(self._groups) if g == group]

    def _extras(self, i: int) -> dict[str, Any]:
        """Near-duplicate and predicted-category fields of row ``i`` (absent in older indexes)."""
        c = self._cols
        out: dict[str, Any] = {}
        group = self._groups[i] if self._groups else ""
        if group:
            out.update(near_dup_group=group, near_duplicates=self._group_size[group] - 1)
        if "predicted_category" in c and c["predicted_category"][i]:
            out.update(
                predicted_category=c["predicted_category"][i],
                predicted_subcategory=c["predicted_subcategory"][i],
                predicted_confidence=float(c["predicted_confidence"][i]),
            )
        return out


_DEFAULT: dict[str, Recommender] = {}


def recommend(
    frame: Any,
    k: int = 5,
    *,
    index: str | Path | None = None,
    filters: Any = None,
    device: str | None = None,
    dedupe: bool = True,
) -> Recommendations:
    """Top-k sounds for a frame from the index at ``index`` (or ``SFXKIT_INDEX``).

    The result is a list of :class:`Recommendation`; on a calibrated index ``result.confident``
    is False when even the best match is below the calibrated threshold ("no confident match":
    the best candidates are still returned). The index and its encoders stay loaded between
    calls with the same path; use :class:`Recommender` to control that explicitly.
    """
    import os

    path = index or os.environ.get("SFXKIT_INDEX")
    if not path:
        raise InputError(
            "no index given; pass index='path/to/index' or set SFXKIT_INDEX "
            "(build one with `sfxkit index build SFX_DIR --out INDEX`)"
        )
    key = f"{Path(path).expanduser().resolve()}|{device}"
    rec = _DEFAULT.get(key)
    # a rebuild switches CURRENT: one small read tells, without re-reading the manifest
    if rec is None or rec.index.store.current_version_dir()[0] != rec.index.manifest.dir:
        rec = _DEFAULT[key] = Recommender(path, device=device)
    return rec.recommend(frame, k, filters=filters, dedupe=dedupe)
