"""Automatic categorisation: categories predicted from the sound for items that have none.

Items whose category is known are the training set, at the level the library labels at
(:data:`LEVELS`, chosen by :func:`choose_level`):

- ``catid``: a UCS CatID (a UCS file name, or a sidecar / embedded tags naming a UCS Category and
  SubCategory pair of the table) — predictions are CatIDs with their Category and SubCategory;
- ``category``: a UCS Category only (a ``category`` column of ``BIRDS``, ``ANIMALS``... without a
  subcategory; CatID-labelled items count with their Category) — predictions are UCS Categories;
- ``library``: the library's own ``category`` column, whatever its words — predictions are those
  words.

The finest level with enough labelled items wins (:data:`MIN_LABELLED` in two or more classes):
a library with enough CatIDs learns CatIDs even when some items only have a Category, and the
library level (which also holds parent-folder names, the ingest's last resort for ``category``)
is used only when neither UCS level has enough. Every other item gets a
*predicted* category with a confidence in the ``predicted_*`` columns (``predicted_catid`` only at
the CatID level); the run's ``level`` is recorded with it. The user's own
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
LEVELS = ("catid", "category", "library")  # finest first
LEVEL_NAMES = {
    "catid": "UCS CatID",
    "category": "UCS Category",
    "library": "the library's own category",
}
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


def labels_at_levels(
    items: Sequence[Any], table: dict[str, UcsCategory] | None = None
) -> dict[str, list[str]]:
    """Each item's label at each of :data:`LEVELS` ("" where it has none at that level)."""
    table = table if table is not None else ucs_table()
    ucs_categories = {e.category.upper(): e.category for e in table.values()}
    out: dict[str, list[str]] = {level: [] for level in LEVELS}
    for it in items:
        catid = label_of(it, table)
        own = (it.category or "").strip()
        entry = lookup_catid(catid, table) if catid else None
        category = entry.category if entry else ucs_categories.get(own.upper(), "")
        out["catid"].append(catid)
        out["category"].append(category)
        out["library"].append(own or category)
    return out


def choose_level(labels: dict[str, list[str]], min_labelled: int = MIN_LABELLED) -> str:
    """The finest level with at least ``min_labelled`` labelled items in two or more classes
    (the coarsest when none has: its count is what the refusal reports)."""
    for level in LEVELS:
        known = [lab for lab in labels[level] if lab]
        if len(known) >= min_labelled and len(set(known)) >= MIN_CLASSES:
            return level
    return LEVELS[-1]


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
    level: str = "catid",
) -> list[Prediction]:
    """The most likely class for each query vector: at the CatID level a CatID with its table
    Category/SubCategory, at the other levels the category alone (``catid`` empty)."""
    table = table if table is not None else ucs_table()
    classes, scores = class_scores(vectors, labels, query, method)
    out: list[Prediction] = []
    for row in scores:
        best = int(np.argmax(row))
        if level != "catid":
            out.append(Prediction("", classes[best], "", float(row[best])))
            continue
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
    level: str = "catid"

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
        name = LEVEL_NAMES[self.level]
        return (
            f"predicted categories at the {name} level for {self.predicted} item(s) without "
            f"one, from {self.labelled} labelled item(s) in {self.classes} classes{acc}"
        )

    def record(self, view: str, method: str) -> dict[str, Any]:
        """The manifest entry describing this run."""
        return {
            "view": view,
            "method": method,
            "level": self.level,
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
    level: str = "auto",
) -> CategorizeResult:
    """Fill the ``predicted_*`` fields of every item without its own label at ``level``
    (``"auto"``: :func:`choose_level`).

    Items with a label keep theirs and have no prediction. Below ``min_labelled`` labelled
    items (or fewer than two classes) nothing is predicted and every prediction is cleared, with
    the reason in ``skipped_reason``.
    """
    import dataclasses

    table = table if table is not None else ucs_table()
    by_level = labels_at_levels(items, table)
    if level == "auto":
        level = choose_level(by_level, min_labelled)
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; use one of auto, {', '.join(LEVELS)}")
    labels = by_level[level]
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
            f"{len(known)} labelled item(s) in {n_classes} class(es) at the "
            f"{LEVEL_NAMES[level]} level, the best the labels give; it needs at least "
            f"{min_labelled} in {MIN_CLASSES} or more (name files the UCS way, or give a "
            "category — a UCS Category, with or without SubCategory, or your own — in a sidecar)"
        )
        return CategorizeResult(cleared, len(known), 0, n_classes, None, reason, level)
    vecs = np.asarray(vectors, dtype=np.float32)
    train_labels = [labels[i] for i in known]
    preds = predict(vecs[known], train_labels, vecs[todo], method, table, level) if todo else []
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
    return CategorizeResult(out, len(known), len(todo), n_classes, ev, level=level)
