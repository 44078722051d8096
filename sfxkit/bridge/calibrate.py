"""Calibration: turn a frame query's fused score into the probability that a sound fits, and
decide "the catalog has nothing good enough" with a stored threshold.

Data: held-out queries with a known right sound. Each query's top-``k`` candidates (ranked by
the same fused score :class:`sfxkit.recommender.Recommender` uses) are examples, labelled 1 for the
right sound and 0 otherwise; these are the held-out positives and negatives.

- **Probability.** Isotonic regression (a monotone step function, stored as breakpoints and
  interpolated) when there are at least 30 positives and 30 negatives, else Platt scaling
  (a logistic curve with a non-negative slope). Both are non-decreasing in the score.
- **Threshold.** Over the queries' *best* candidates, the lowest top score ``t`` such that the
  best candidates scoring ``>= t`` are right at least ``target_precision`` of the time (with at
  least 5 of them). ``recommend`` calls a result confident when its top score reaches ``t``.
  If no ``t`` reaches the target, there is no threshold and no result is called confident.
- **Expected calibration error** (10 equal-width probability bins, weighted by bin size) is
  measured out-of-fold: the queries are split in two halves, each half is scored by a
  calibration fitted on the other half. With too few queries for that it is measured in-sample
  and says so (``ece_in_sample``).

A calibration is only valid for the fusion weights it was fitted with; it records them, and the
recommender ignores it (confidence ``None``) when different weights are in use.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sfxkit.errors import InputError

MIN_ISOTONIC = 30  # positives and negatives each, below which Platt scaling is used
MIN_CONFIDENT = 5  # accepted queries needed before a threshold is trusted
ECE_BINS = 10


@dataclass(frozen=True)
class Calibration:
    """A monotone score → probability map, the confidence threshold, and how good both are."""

    method: str  # "isotonic" | "platt"
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    a: float = 0.0
    b: float = 0.0
    threshold: float | None = None
    target_precision: float = 0.8
    threshold_precision: float | None = None
    confident_fraction: float | None = None
    ece: float | None = None
    ece_in_sample: bool = False
    n_pos: int = 0
    n_neg: int = 0
    n_queries: int = 0
    top_k: int = 10
    kind: str = "frame"
    weights: Mapping[str, float] = field(default_factory=dict)
    labels: str = "labelled"  # "labelled" held-out pairs, or "mined" (noisy) validation pairs

    def probabilities(self, scores: np.ndarray | float) -> np.ndarray:
        s = np.asarray(scores, dtype=np.float64)
        if self.method == "isotonic":
            if not self.x:
                return np.full(s.shape, 0.0)
            return np.interp(s, np.asarray(self.x), np.asarray(self.y))
        z = np.clip(self.a * s + self.b, -60.0, 60.0)
        return 1.0 / (1.0 + np.exp(-z))

    def probability(self, score: float) -> float:
        return float(self.probabilities(np.asarray([score]))[0])

    def is_confident(self, score: float) -> bool:
        return self.threshold is not None and float(score) >= self.threshold

    def applies_to(self, weights: Mapping[str, float]) -> bool:
        """Whether scores made with these fusion weights are the scores this was fitted on."""
        if not self.weights:
            return True
        mine = _normalised(self.weights)
        theirs = _normalised(weights)
        keys = set(mine) | set(theirs)
        return all(abs(mine.get(k, 0.0) - theirs.get(k, 0.0)) < 1e-6 for k in keys)

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["x"] = [float(v) for v in self.x]
        d["y"] = [float(v) for v in self.y]
        d["weights"] = {k: float(v) for k, v in self.weights.items()}
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Calibration:
        known = set(cls.__dataclass_fields__)
        kwargs = {k: v for k, v in dict(d).items() if k in known}
        kwargs["x"] = tuple(float(v) for v in kwargs.get("x", ()))
        kwargs["y"] = tuple(float(v) for v in kwargs.get("y", ()))
        kwargs["weights"] = dict(kwargs.get("weights", {}))
        if kwargs.get("method") not in {"isotonic", "platt"}:
            raise InputError(f"unknown calibration method {kwargs.get('method')!r}")
        return cls(**kwargs)


def _normalised(weights: Mapping[str, float]) -> dict[str, float]:
    live = {k: float(v) for k, v in weights.items() if float(v) > 0}
    total = sum(live.values()) or 1.0
    return {k: v / total for k, v in live.items()}


# --------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class CalibrationData:
    """Candidate-level examples (top-k of each query) and the queries' best candidates."""

    scores: np.ndarray
    labels: np.ndarray
    groups: np.ndarray  # query index of each candidate
    top1_scores: np.ndarray
    top1_labels: np.ndarray


def calibration_data(score_matrix: np.ndarray, targets: np.ndarray, k: int = 10) -> CalibrationData:
    """Examples from a ``(queries, items)`` score matrix and each query's right item (column).

    Queries whose target is ``< 0`` (unknown) are skipped.
    """
    s = np.asarray(score_matrix, dtype=np.float64)
    t = np.asarray(targets, dtype=np.int64)
    keep = t >= 0
    s, t = s[keep], t[keep]
    if len(s) == 0:
        raise InputError("no held-out query has a known right sound; calibration needs some")
    k = max(1, min(int(k), s.shape[1]))
    top = np.argsort(-s, axis=1, kind="stable")[:, :k]
    cand = np.take_along_axis(s, top, axis=1)
    lab = (top == t[:, None]).astype(np.int8)
    groups = np.repeat(np.arange(len(s)), k)
    return CalibrationData(
        scores=cand.reshape(-1),
        labels=lab.reshape(-1),
        groups=groups,
        top1_scores=cand[:, 0].copy(),
        top1_labels=lab[:, 0].copy(),
    )


# -------------------------------------------------------------------------------- metrics


def expected_calibration_error(
    probabilities: np.ndarray, labels: np.ndarray, n_bins: int = ECE_BINS
) -> float:
    """Σ_bins (n_bin / n) · |mean label − mean probability| over equal-width probability bins."""
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if len(p) == 0:
        return float("nan")
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        m = bins == b
        if m.any():
            ece += m.mean() * abs(y[m].mean() - p[m].mean())
    return float(ece)


def precision_threshold(
    scores: np.ndarray, labels: np.ndarray, target: float, min_support: int = MIN_CONFIDENT
) -> tuple[float | None, float | None, float]:
    """(threshold, precision there, fraction accepted): the lowest score whose accepted set
    (scores ``>=`` it) has precision ``>= target`` with at least ``min_support`` members."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if len(s) == 0:
        return None, None, 0.0
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    precision = np.cumsum(y) / np.arange(1, len(y) + 1)
    # A cutoff must not split tied scores: only the last position of each tie run is a cutoff.
    last_of_run = np.append(s[1:] != s[:-1], True)
    ok = (precision >= target) & last_of_run & (np.arange(1, len(s) + 1) >= min_support)
    if not ok.any():
        return None, None, 0.0
    i = int(np.nonzero(ok)[0].max())
    return float(s[i]), float(precision[i]), float((i + 1) / len(s))


# ------------------------------------------------------------------------------------ fit


def _fit_map(
    scores: np.ndarray, labels: np.ndarray, method: str
) -> tuple[str, tuple[float, ...], tuple[float, ...], float, float]:
    n_pos = int(labels.sum())
    n_neg = int(len(labels) - n_pos)
    if method == "auto":
        method = "isotonic" if min(n_pos, n_neg) >= MIN_ISOTONIC else "platt"
    if n_pos == 0 or n_neg == 0:
        # Degenerate: a constant probability, the observed rate.
        rate = n_pos / max(len(labels), 1)
        logit = math.log(max(rate, 1e-6) / max(1 - rate, 1e-6))
        return "platt", (), (), 0.0, logit
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(increasing=True, out_of_bounds="clip", y_min=0.0, y_max=1.0)
        iso.fit(scores, labels)
        xs = np.asarray(iso.X_thresholds_, dtype=np.float64)
        ys = np.maximum.accumulate(np.clip(np.asarray(iso.y_thresholds_, dtype=np.float64), 0, 1))
        return "isotonic", tuple(xs.tolist()), tuple(ys.tolist()), 0.0, 0.0
    if method == "platt":
        from sklearn.linear_model import LogisticRegression

        mu = float(scores.mean())
        sd = float(scores.std()) or 1.0
        lr = LogisticRegression(C=100.0, max_iter=1000)
        lr.fit(((scores - mu) / sd)[:, None], labels)
        coef = float(lr.coef_[0, 0])
        intercept = float(lr.intercept_[0])
        if coef < 0:  # a score that predicts the wrong way: refuse to invert, use the base rate
            rate = n_pos / len(labels)
            return "platt", (), (), 0.0, math.log(rate / (1 - rate))
        return "platt", (), (), coef / sd, intercept - coef * mu / sd
    raise InputError(f"unknown calibration method {method!r}; use auto, isotonic or platt")


def fit_calibration(
    data: CalibrationData,
    *,
    method: str = "auto",
    target_precision: float = 0.8,
    weights: Mapping[str, float] | None = None,
    labels: str = "labelled",
    kind: str = "frame",
    top_k: int = 10,
    seed: int = 0,
) -> Calibration:
    """Fit the probability map and the threshold on ``data``; measure ECE out-of-fold."""
    if not 0.0 < target_precision <= 1.0:
        raise InputError(f"target precision must be in (0, 1], got {target_precision}")
    scores = np.asarray(data.scores, dtype=np.float64)
    y = np.asarray(data.labels, dtype=np.int64)
    chosen, xs, ys, a, b = _fit_map(scores, y, method)
    final = Calibration(method=chosen, x=xs, y=ys, a=a, b=b)

    # Out-of-fold ECE: two halves of the queries, each scored by a map fitted on the other.
    groups = np.asarray(data.groups)
    uniq = np.unique(groups)
    rng = np.random.default_rng(seed)
    fold_of = dict(zip(uniq.tolist(), (rng.permutation(len(uniq)) % 2).tolist(), strict=True))
    fold = np.array([fold_of[g] for g in groups.tolist()], dtype=np.int64)
    oof = np.full(len(scores), np.nan)
    in_sample = len(uniq) < 8
    if not in_sample:
        for f in (0, 1):
            train, test = fold != f, fold == f
            if y[train].sum() == 0 or y[train].sum() == train.sum():
                in_sample = True
                break
            m, fx, fy, fa, fb = _fit_map(scores[train], y[train], chosen)
            oof[test] = Calibration(method=m, x=fx, y=fy, a=fa, b=fb).probabilities(scores[test])
    if in_sample:
        oof = final.probabilities(scores)
    ece = expected_calibration_error(oof, y)

    threshold, precision, accepted = precision_threshold(
        data.top1_scores, data.top1_labels, target_precision
    )
    return Calibration(
        method=chosen,
        x=xs,
        y=ys,
        a=a,
        b=b,
        threshold=threshold,
        target_precision=float(target_precision),
        threshold_precision=precision,
        confident_fraction=accepted,
        ece=ece,
        ece_in_sample=in_sample,
        n_pos=int(y.sum()),
        n_neg=int(len(y) - y.sum()),
        n_queries=len(uniq),
        top_k=int(top_k),
        kind=kind,
        weights=dict(weights or {}),
        labels=labels,
    )
