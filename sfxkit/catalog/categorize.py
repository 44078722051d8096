"""Automatic categorisation: UCS categories predicted from the sound for items that have none.

Items whose category is known (a UCS file name, a sidecar or embedded tags naming a UCS Category
and SubCategory) are the training set; every other item gets a *predicted* UCS CatID, with its
Category, SubCategory and a confidence, in the ``predicted_*`` columns. The user's own
``category``/``subcategory`` are never touched. The classifier works on one embedding view
(``sfx_audio``, the aiSFX network, by default) and is one of:

- ``knn``: cosine k-nearest neighbours, votes weighted by similarity (``k`` = :data:`KNN_K`);
  its leave-one-out accuracy is exact and cheap;
- ``logreg``: multinomial logistic regression (scikit-learn) on the L2-normalised embedding.

The default (:data:`DEFAULT_METHOD`, logistic regression) measured better in
``benchmarks/aisfx_real.py`` (leave-one-out top-1 0.67 vs kNN 0.60, majority baseline 0.22); :func:`evaluate` reports leave-one-out top-1/top-3 accuracy of a
method against the majority-class baseline.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sfxkit.catalog.ucs import UcsCategory, catid_for, lookup_catid, ucs_table

METHODS = ("knn", "logreg")
DEFAULT_METHOD = "logreg"
KNN_K = 5
MIN_LABELLED = 20  # labelled items a build needs before it predicts anything
MIN_CLASSES = 2
LOGREG_C = 10.0
LOO_FOLDS_ABOVE = 100  # logreg leave-one-out becomes 10-fold above this many labelled items


def label_of(item: Any, table: dict[str, UcsCategory] | None = None) -> str:
    """The UCS CatID an item's own metadata gives it ("" when it has none).

    A CatID from the file name counts; otherwise the Category/SubCategory pair (from a sidecar or
    embedded tags) must be a pair of the UCS table. Predicted columns never count.
    """
    table = table if table is not None else ucs_table()
    if item.ucs_catid:
        entry = lookup_catid(item.ucs_catid, table)
        if entry is not None:
            return entry.catid
    entry = catid_for(item.category, item.subcategory, table)
    return entry.catid if entry is not None else ""


@dataclass(frozen=True)
class Prediction:
    catid: str
    category: str
    subcategory: str
    confidence: float


@dataclass(frozen=True)
class Evaluation:
    """Leave-one-out accuracy of a method on the labelled items."""

    method: str
    labelled: int
    classes: int
    top1: float
    top3: float
    category_top1: float
    majority_baseline: float
    protocol: str  # "leave-one-out" or "10-fold"

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _knn_scores(
    train: np.ndarray,
    labels: np.ndarray,
    query: np.ndarray,
    n_classes: int,
    k: int,
    self_excl: bool,
) -> np.ndarray:
    """Class scores (rows sum to 1) from the similarity-weighted votes of the k nearest."""
    sims = query @ train.T
    if self_excl:
        np.fill_diagonal(sims, -np.inf)
    k = min(k, train.shape[0] - int(self_excl))
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    scores = np.zeros((len(query), n_classes), dtype=np.float64)
    for r, row in enumerate(top):
        # shifted to be non-negative: an anti-correlated neighbour still votes a little
        w = (sims[r, row] + 1.0) / 2.0
        np.add.at(scores[r], labels[row], w)
    return scores / np.maximum(scores.sum(axis=1, keepdims=True), 1e-12)


def _logreg(train: np.ndarray, labels: np.ndarray) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=LOGREG_C, max_iter=2000).fit(train, labels)


def _logreg_scores(model: Any, query: np.ndarray, n_classes: int) -> np.ndarray:
    out = np.zeros((len(query), n_classes), dtype=np.float64)
    out[:, model.classes_] = model.predict_proba(query)
    return out


def class_scores(
    vectors: np.ndarray,
    labels: Sequence[str],
    query: np.ndarray,
    method: str = DEFAULT_METHOD,
) -> tuple[list[str], np.ndarray]:
    """Train on ``vectors``/``labels`` and score ``query``: (class names, scores per class)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    classes = sorted(set(labels))
    idx = {c: i for i, c in enumerate(classes)}
    y = np.array([idx[c] for c in labels])
    x, q = _normalise(vectors), _normalise(query)
    if method == "knn":
        return classes, _knn_scores(x, y, q, len(classes), KNN_K, self_excl=False)
    return classes, _logreg_scores(_logreg(x, y), q, len(classes))


def predict(
    vectors: np.ndarray,
    labels: Sequence[str],
    query: np.ndarray,
    method: str = DEFAULT_METHOD,
    table: dict[str, UcsCategory] | None = None,
) -> list[Prediction]:
    """The most likely CatID (with its table Category/SubCategory) for each query vector."""
    table = table if table is not None else ucs_table()
    classes, scores = class_scores(vectors, labels, query, method)
    out: list[Prediction] = []
    for row in scores:
        best = int(np.argmax(row))
        entry = lookup_catid(classes[best], table)
        out.append(
            Prediction(
                classes[best],
                entry.category if entry else "",
                entry.subcategory if entry else "",
                float(row[best]),
            )
        )
    return out


def evaluate(
    vectors: np.ndarray,
    labels: Sequence[str],
    method: str = DEFAULT_METHOD,
    table: dict[str, UcsCategory] | None = None,
) -> Evaluation:
    """Leave-one-out top-1/top-3 accuracy (CatID) and top-1 category accuracy of ``method``.

    Each item is predicted by a classifier that never saw it (for ``logreg`` above
    :data:`LOO_FOLDS_ABOVE` items: 10 folds). The majority baseline always answers the most
    frequent CatID (its share of the labelled items).
    """
    table = table if table is not None else ucs_table()
    labels = list(labels)
    n = len(labels)
    if n < 2:
        raise ValueError("leave-one-out needs at least two labelled items")
    classes = sorted(set(labels))
    idx = {c: i for i, c in enumerate(classes)}
    y = np.array([idx[c] for c in labels])
    x = _normalise(vectors)
    if method == "knn":
        scores = _knn_scores(x, y, x, len(classes), KNN_K, self_excl=True)
        protocol = "leave-one-out"
    elif method == "logreg":
        scores = np.zeros((n, len(classes)))
        folds = (
            [np.array([i]) for i in range(n)]
            if n <= LOO_FOLDS_ABOVE
            else np.array_split(np.random.default_rng(0).permutation(n), 10)
        )
        protocol = "leave-one-out" if n <= LOO_FOLDS_ABOVE else "10-fold"
        for held in folds:
            train = np.setdiff1d(np.arange(n), held)
            if len(set(y[train].tolist())) < 2:
                scores[held, y[train][0]] = 1.0
                continue
            scores[held] = _logreg_scores(_logreg(x[train], y[train]), x[held], len(classes))
    else:
        raise ValueError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    order = np.argsort(-scores, axis=1, kind="stable")
    top1 = float(np.mean(order[:, 0] == y))
    top3 = float(np.mean([y[i] in order[i, :3] for i in range(n)]))

    def category(c: str) -> str:
        e = lookup_catid(c, table)
        return e.category if e else c

    cat_hits = [category(classes[order[i, 0]]) == category(labels[i]) for i in range(n)]
    majority = Counter(labels).most_common(1)[0][1]
    return Evaluation(
        method=method,
        labelled=n,
        classes=len(classes),
        top1=top1,
        top3=top3,
        category_top1=float(np.mean(cat_hits)),
        majority_baseline=majority / n,
        protocol=protocol,
    )


@dataclass(frozen=True)
class CategorizeResult:
    """What a categorisation run did to a list of items."""

    items: list[Any]
    labelled: int
    predicted: int
    classes: int
    evaluation: Evaluation | None
    skipped_reason: str = ""

    def summary(self) -> str:
        if self.skipped_reason:
            return f"categorisation skipped: {self.skipped_reason}"
        ev = self.evaluation
        acc = (
            f"; leave-one-out top-1 {ev.top1:.0%}, top-3 {ev.top3:.0%} "
            f"(majority baseline {ev.majority_baseline:.0%})"
            if ev is not None
            else ""
        )
        return (
            f"predicted UCS categories for {self.predicted} item(s) without one, from "
            f"{self.labelled} labelled item(s) in {self.classes} CatIDs{acc}"
        )

    def record(self, view: str, method: str) -> dict[str, Any]:
        """The manifest entry describing this run."""
        return {
            "view": view,
            "method": method,
            "labelled": self.labelled,
            "predicted": self.predicted,
            "classes": self.classes,
            "evaluation": self.evaluation.to_dict() if self.evaluation else None,
        }


def categorize_items(
    items: Sequence[Any],
    vectors: np.ndarray,
    *,
    method: str = DEFAULT_METHOD,
    min_labelled: int = MIN_LABELLED,
    table: dict[str, UcsCategory] | None = None,
) -> CategorizeResult:
    """Fill the ``predicted_*`` fields of every item without its own UCS category.

    Items with a category keep theirs and have no prediction. Below ``min_labelled`` labelled
    items (or fewer than two CatIDs) nothing is predicted and every prediction is cleared, with
    the reason in ``skipped_reason``.
    """
    import dataclasses

    table = table if table is not None else ucs_table()
    labels = [label_of(it, table) for it in items]
    known = [i for i, lab in enumerate(labels) if lab]
    todo = [i for i, lab in enumerate(labels) if not lab]
    n_classes = len({labels[i] for i in known})
    cleared = [
        dataclasses.replace(
            it,
            predicted_catid="",
            predicted_category="",
            predicted_subcategory="",
            predicted_confidence=0.0,
        )
        for it in items
    ]
    if len(known) < min_labelled or n_classes < MIN_CLASSES:
        reason = (
            f"{len(known)} labelled item(s) in {n_classes} UCS CatID(s); it needs at least "
            f"{min_labelled} in {MIN_CLASSES} or more (name files the UCS way, or give Category "
            "and SubCategory in a sidecar)"
        )
        return CategorizeResult(cleared, len(known), 0, n_classes, None, reason)
    vecs = np.asarray(vectors, dtype=np.float32)
    train_labels = [labels[i] for i in known]
    preds = predict(vecs[known], train_labels, vecs[todo], method, table) if todo else []
    out = list(cleared)
    for i, p in zip(todo, preds, strict=True):
        out[i] = dataclasses.replace(
            cleared[i],
            predicted_catid=p.catid,
            predicted_category=p.category,
            predicted_subcategory=p.subcategory,
            predicted_confidence=round(p.confidence, 4),
        )
    ev = evaluate(vecs[known], train_labels, method, table)
    return CategorizeResult(out, len(known), len(todo), n_classes, ev)


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
    evaluation: Evaluation | None
    untrained: bool
    notes: tuple[str, ...] = ()

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
    from sfxkit.catalog.schema import items_to_table, table_to_items
    from sfxkit.errors import InputError
    from sfxkit.index.build import _recorded_describer, redescribe_predicted
    from sfxkit.index.derive import commit_derived_version
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
    had = {it.id for it in items if it.predicted_catid}
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
    describer = _recorded_describer(idx)
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
        from sfxkit.index.tune import build_tuned
        from sfxkit.index.views import choose_preset

        w.write_table("rows.parquet", items_to_table(new_items))
        if clip_changed:
            ids = np.array([it.faiss_id for it in new_items], dtype=np.int64)
            arr = vectors["clip_text"]
            vi, fields, warning = build_tuned(
                arr, ids, choose_preset(len(new_items)), name="clip_text"
            )
            searched.update(fields)
            if warning:
                notes.append(warning)
            w.write_bytes("views/clip_text.faiss", vi.to_bytes())
            w.write_vectors("views/clip_text.npy", arr)

    def update(raw: dict[str, Any]) -> dict[str, Any]:
        from sfxkit.catalog.ucs import ucs_table_info

        raw["categorize"] = result.record(view, method)
        if searched:  # clip_text was rebuilt: its factory and tuning are the new index's
            entry = {k: v for k, v in raw["views"]["clip_text"].items() if k != "tuning"}
            raw["views"]["clip_text"] = {**entry, **searched}
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
    )
