"""Search parameters tuned to a recall target on each view's own vectors, at build time.

An approximate view's preset ships fixed search parameters (nprobe, k_factor) chosen on one
synthetic distribution; on harder data (clusters with isotropic noise, where every item has many
nearly equidistant neighbours, as a library with hundreds of variations of one door has) the
same numbers gave recall@10 0.73. So every build measures instead of assuming:

1. a seeded sample of the view's own stored vectors becomes the queries, half as they are and
   half with noise added (real queries are not catalog items);
2. their exact top-k is computed over the stored float16 vectors, streamed in blocks of
   ``ADD_ROWS`` rows (memory bounded by the block, never the view);
3. FAISS's ``ParameterSpace.explore`` measures operating points over nprobe and k_factor (or
   efSearch) against that ground truth, and the cheapest point of its ``OperatingPoints``
   Pareto front that reaches the target is kept;
4. where no point does, the refine stage is upgraded inside FAISS (8-bit codes -> float16 ->
   exact float32 rescoring), then explored again; if even that misses, the best point is kept
   and the record says what was reached.

The record (measured recall, chosen and fixed parameters, seconds) goes into the view's
manifest entry as ``tuning``; :meth:`sfxkit.index.store.LoadedIndex.view` searches with its
parameters.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from sfxkit.index.views import ADD_ROWS, Preset, VectorIndex, _blocks, _faiss

DEFAULT_TARGET = 0.95  # recall@10 every approximate view is tuned to reach
DEFAULT_K = 10
# 400 queries x 10 neighbours: recall measured to about +-0.007 (2 sigma at 0.95); the exact
# search is the larger cost (400 x n x dim multiply-adds), a few seconds at 1M x 512.
DEFAULT_QUERIES = 400
# A rebuild whose view changed by at most this fraction of its rows (added, removed or
# re-embedded) keeps the previous version's tuned parameters without measuring again; beyond
# it, the view is measured again. The index is retrained either way; 10 % new rows shifts
# recall by about a point on the benchmark data, inside the margin the search space leaves.
RECHECK_FRACTION = 0.10
# explore() measures at most this many operating points (it skips those its Pareto front
# already rules out); each is one batch search of the sample.
MAX_EXPERIMENTS = 48
# Refine stages tried, in order, when no operating point reaches the target; each is larger
# in RAM (512 -> 1024 -> 2048 bytes per item at 512-d).
REFINE_UPGRADES = ("SQfp16", "Flat")

_K_FACTORS = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128)
_EF_SEARCH = (16, 32, 48, 64, 96, 128, 192, 256, 384, 512)


@dataclass(frozen=True)
class Tuning:
    """What tuning measured for one view (stored as the manifest's ``tuning`` entry)."""

    target: float
    k: int
    recall: float  # recall@k at ``params``: the lower of the two below
    recall_items: float  # ... on the sampled items themselves
    recall_noisy: float  # ... on them moved by noise (see sample_queries)
    reached: bool
    params: dict[str, float]
    fixed_params: dict[str, float]  # the preset's own parameters
    fixed_recall: float  # recall@k with them, same queries (the lower half, as ``recall``)
    queries: int
    seconds: float
    factory: str  # the view's factory after tuning (a refine upgrade changes it)
    refine_upgraded_from: str | None = None
    count: int = 0  # rows when measured

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        for key in ("recall", "recall_items", "recall_noisy", "fixed_recall"):
            out[key] = round(float(out[key]), 4)
        out["seconds"] = round(float(out["seconds"]), 2)
        return out

    def summary(self) -> str:
        params = ", ".join(f"{k} {v:g}" for k, v in self.params.items())
        return f"recall@{self.k} {self.recall:.3f} (target {self.target:g}) at {params}"


def is_approximate(factory: str) -> bool:
    return factory.strip() != "Flat"


def sample_queries(
    vectors: np.ndarray, count: int, k: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(queries float32, their exact top-k row positions): ``count // 2`` stored rows as they
    are, then the same rows moved by noise as far as each one's nearest neighbour (a query is
    not a catalog item: it lands among them, as a new recording of the same sound would), all
    unit length. Two streamed passes over ``vectors``."""
    n = len(vectors)
    rng = np.random.default_rng(seed)
    half = max(1, min(count // 2, n))
    rows = np.sort(rng.choice(n, half, replace=False))
    items = np.ascontiguousarray(vectors[rows], dtype=np.float32)
    items /= np.maximum(np.linalg.norm(items, axis=1, keepdims=True), 1e-12)
    kk = min(k + 1, n)
    top, sims = exact_top_k(vectors, items, kk, with_scores=True)
    # each item's nearest other row: rank 1, or rank 0 where an exact duplicate came first
    nn = np.where(top[:, 0] == rows, sims[:, min(1, kk - 1)], sims[:, 0])
    dist = np.sqrt(np.clip(2.0 - 2.0 * nn, 1e-6, 4.0))[:, None]
    noise = rng.standard_normal(items.shape).astype(np.float32)
    noise *= dist / np.linalg.norm(noise, axis=1, keepdims=True)
    noisy = items + noise
    noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
    truth_noisy = exact_top_k(vectors, noisy, k)
    return np.vstack([items, noisy]), np.vstack([top[:, :k], truth_noisy])


def exact_top_k(
    vectors: np.ndarray, queries: np.ndarray, k: int, *, with_scores: bool = False
) -> Any:
    """Row positions of each query's exact top-k by inner product over ``vectors`` (float16 or
    float32, possibly memory-mapped), read in blocks of ``ADD_ROWS`` rows: memory is the block
    and the queries' running top-k, whatever the view's size."""
    nq = len(queries)
    best_s = np.full((nq, k), -np.inf, dtype=np.float32)
    best_i = np.full((nq, k), -1, dtype=np.int64)
    for start, block in _blocks(vectors):
        sims = queries @ block.T
        kk = min(k, sims.shape[1])
        top = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
        s = np.hstack([best_s, np.take_along_axis(sims, top, axis=1)])
        i = np.hstack([best_i, top + start])
        keep = np.argsort(-s, axis=1, kind="stable")[:, :k]
        best_s, best_i = np.take_along_axis(s, keep, axis=1), np.take_along_axis(i, keep, axis=1)
    return (best_i, best_s) if with_scores else best_i


def recall_at(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    hits = sum(
        len(set(f[:k].tolist()) & set(t[:k].tolist())) for f, t in zip(found, truth, strict=True)
    )
    return hits / max(len(truth) * k, 1)


def _search_target(vi: VectorIndex) -> tuple[Any, bool]:
    """(the FAISS index ParameterSpace explores, whether its labels are row positions)."""
    faiss = _faiss()
    index = vi.raw
    if isinstance(index, faiss.IndexIDMap):
        return index.index, True  # the id map's inner index numbers rows in insertion order
    return index, vi.positional


def _restrict(ps: Any, index: Any) -> None:
    """Search ranges worth measuring: nprobe up to nlist/8 (at least 64, at most 512: beyond
    that, scanning more lists costs more than rescoring more candidates), k_factor in finer
    steps than FAISS's powers of two, efSearch from 16 to 512."""
    faiss = _faiss()
    ranges = [
        (pr.name, faiss.vector_to_array(pr.values))
        for pr in (ps.parameter_ranges.at(i) for i in range(ps.parameter_ranges.size()))
    ]
    ps.parameter_ranges.clear()  # at(i) returns copies: the ranges are added again, edited
    for name, values in ranges:
        if name == "nprobe":
            nlist = int(faiss.extract_index_ivf(index).nlist)
            cap = min(max(nlist // 8, 64), 512)
            new = [v for v in values if v <= cap]
        elif name == "k_factor_rf":
            new = list(_K_FACTORS)
        elif name == "efSearch":
            new = list(_EF_SEARCH)
        elif name == "quantizer_efSearch":
            # VectorIndex's searches do not pass it: one sensible value, set on the index
            # itself (_apply), so the stored index searches as measured
            new = [64.0]
        else:
            new = list(values[:1])
        pr = ps.add_range(name)
        for v in new:
            pr.values.push_back(float(v))


def _parse_key(key: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for part in filter(None, key.split(",")):
        name, value = part.split("=")
        name = "k_factor" if name == "k_factor_rf" else name
        out[name] = int(float(value)) if float(value).is_integer() else float(value)
    return out


def _explore(vi: VectorIndex, queries: np.ndarray, truth_labels: np.ndarray, k: int) -> list:
    """[(seconds, recall, params)] of the Pareto-optimal operating points, fastest first."""
    faiss = _faiss()
    index, _ = _search_target(vi)
    ps = faiss.ParameterSpace()
    ps.initialize(index)
    _restrict(ps, index)
    ps.n_experiments = MAX_EXPERIMENTS
    ps.min_test_duration = 0
    ps.verbose = 0
    crit = faiss.IntersectionCriterion(len(queries), k)
    crit.set_groundtruth(None, np.ascontiguousarray(truth_labels, dtype=np.int64))
    ops = ps.explore(index, np.ascontiguousarray(queries, dtype=np.float32), crit)
    points = []
    for i in range(ops.optimal_pts.size()):
        p = ops.optimal_pts.at(i)
        if p.key:  # the "no parameters" point explore adds at (0 s, 0 recall)
            points.append((float(p.t), float(p.perf), _parse_key(p.key)))
    return points


def _upgrade_refine(vi: VectorIndex, vectors: np.ndarray, refine: str) -> VectorIndex:
    """The same trained and filled base index, rescored by a larger ``refine`` stage: float16
    codes (``SQfp16``) or the float32 vectors (``Flat``), filled here in blocks; the base's
    codes are kept, not trained again."""
    faiss = _faiss()
    old = vi.raw
    base = old.base_index
    dim = int(old.d)
    if refine == "Flat":
        stage = faiss.IndexFlat(dim, faiss.METRIC_INNER_PRODUCT)
    else:
        qtype = {"SQfp16": faiss.ScalarQuantizer.QT_fp16}[refine]
        stage = faiss.IndexScalarQuantizer(dim, qtype, faiss.METRIC_INNER_PRODUCT)
    for _, block in _blocks(vectors):
        stage.add(block)
    new = faiss.IndexRefine(base, stage)
    # the new index owns both stages; the old one must no longer free the base they share
    old.own_fields = False
    new.own_fields = True
    new.own_refine_index = True
    base.this.disown()
    stage.this.disown()
    ids = vi.ids()
    preset = None
    if vi.preset:
        factory = re.sub(r"Refine\([^)]*\)", f"Refine({refine})", vi.preset.factory)
        preset = dataclasses.replace(vi.preset, factory=factory)
    out = VectorIndex(new, preset=preset)
    out.attach_ids(ids)
    return out


def _refine_kind(factory: str) -> str | None:
    m = re.search(r"Refine\(([^)]*)\)", factory)
    return m.group(1) if m else None


def tune(
    vi: VectorIndex,
    vectors: np.ndarray,
    ids: np.ndarray,
    *,
    factory: str,
    target: float = DEFAULT_TARGET,
    k: int = DEFAULT_K,
    queries: int = DEFAULT_QUERIES,
    seed: int = 0,
) -> tuple[VectorIndex, Tuning]:
    """Tune ``vi`` (built over ``vectors`` with ``ids``, in row order) to recall@k >= ``target``.

    Returns the index to store (a new one when its refine stage was upgraded) and what was
    measured. ``factory`` is the view's factory string at its size (as the manifest records).
    """
    t0 = time.perf_counter()
    n = len(vectors)
    k = max(1, min(int(k), n))
    q, truth = sample_queries(vectors, queries, k, seed)  # row positions
    _, positional = _search_target(vi)
    # an IVF index holding the ids itself labels results by id (rows were added in order)
    labels = truth if positional else np.asarray(ids, dtype=np.int64)[truth]
    half = len(q) // 2

    def halves(params: Mapping[str, Any]) -> tuple[float, float]:
        found = _labels_with(vi, q, k, params)
        return (
            recall_at(found[:half], labels[:half], k),
            recall_at(found[half:], labels[half:], k),
        )

    def pick(points: list) -> tuple[dict[str, Any], tuple[float, float]] | None:
        """The fastest point on the front where items and noisy queries both reach the target
        (explore's figure is their mean; only points whose mean reaches it can qualify)."""
        for _, perf, key in sorted(points, key=lambda p: p[0]):
            if perf >= target:
                got = halves({**fixed, **key})
                if min(got) >= target:
                    return {**fixed, **key}, got
        return None

    fixed = dict(vi.preset.search_params) if vi.preset else {}
    fixed_halves = halves(fixed)
    fixed_recall = min(fixed_halves)

    upgraded_from = None
    points = _explore(vi, q, labels, k)
    chosen = pick(points)
    if chosen is None and fixed_recall >= target:  # explore samples points; the preset's count
        chosen = fixed, fixed_halves
    refine = _refine_kind(factory)
    rank = {"SQfp16": 1, "Flat": 2}
    ladder = [r for r in REFINE_UPGRADES if refine and rank[r] > rank.get(refine, 0)]
    for upgrade in ladder:
        if chosen is not None:
            break
        upgraded_from = upgraded_from or refine
        vi = _upgrade_refine(vi, vectors, upgrade)
        factory = re.sub(r"Refine\([^)]*\)", f"Refine({upgrade})", factory)
        points = _explore(vi, q, labels, k)
        chosen = pick(points)
    if chosen is None:  # the most accurate point measured, and the record says it falls short
        best = max(points, key=lambda p: (p[1], -p[0]))[2] if points else {}
        params = {**fixed, **best}
        chosen = params, halves(params)
    params, (rec_items, rec_noisy) = chosen
    rec_all = min(rec_items, rec_noisy)
    _use(vi, params)  # the index returned searches as the manifest will say
    return vi, Tuning(
        target=float(target),
        k=k,
        recall=rec_all,
        recall_items=rec_items,
        recall_noisy=rec_noisy,
        reached=rec_all >= target,
        params=params,
        fixed_params=fixed,
        fixed_recall=fixed_recall,
        queries=len(q),
        seconds=time.perf_counter() - t0,
        factory=factory,
        refine_upgraded_from=upgraded_from,
        count=n,
    )


def _use(vi: VectorIndex, params: Mapping[str, Any]) -> None:
    """Search ``vi`` with ``params`` from now on, and set them on the FAISS index itself
    (explore leaves its last experiment's values there; the stored file keeps these)."""
    base = vi.preset or Preset("tuned", None, "", {}, {})
    vi.preset = dataclasses.replace(base, search_params=dict(params))
    vi._plain_params = None
    faiss = _faiss()
    index, _ = _search_target(vi)
    ps = faiss.ParameterSpace()
    ps.initialize(index)
    names = {ps.parameter_ranges.at(i).name for i in range(ps.parameter_ranges.size())}
    for name, value in params.items():
        fname = "k_factor_rf" if name == "k_factor" else name
        if fname in names:
            ps.set_index_parameter(index, fname, float(value))


def _labels_with(vi: VectorIndex, q: np.ndarray, k: int, params: Mapping[str, Any]) -> np.ndarray:
    """Raw FAISS labels (row positions, or ids for id-holding IVF) at ``params``."""
    old = vi.preset
    base = old or Preset("tuning", None, "", {}, {})
    vi.preset = dataclasses.replace(base, search_params=dict(params))
    try:
        sp = vi._make_params(None)
        if isinstance(vi.raw, _faiss().IndexIDMap):
            return vi.raw.index.search(q, k, params=sp)[1]
        return vi.raw.search(q, k, params=sp)[1]
    finally:
        vi.preset = old
        vi._plain_params = None


def carry(
    previous: Mapping[str, Any] | None, factory: str, count: int, changed: int
) -> dict[str, Any] | None:
    """The previous version's ``tuning`` record to keep, when the view changed little: same
    factory and at most ``RECHECK_FRACTION`` of its rows added, removed or re-embedded."""
    if not previous or previous.get("factory") != factory:
        return None
    record = previous.get("tuning")
    if not record or not record.get("params"):
        return None
    base = max(int(record.get("count") or previous.get("count") or 0), 1)
    if changed / base > RECHECK_FRACTION:
        return None
    out = dict(record)
    out["carried"] = True
    out["changed_rows"] = int(changed)
    out["count_now"] = int(count)
    return out


def build_tuned(
    vectors: np.ndarray,
    ids: np.ndarray,
    preset: Preset,
    *,
    target: float | None = None,
    previous: Mapping[str, Any] | None = None,
    changed: int | None = None,
    name: str = "view",
) -> tuple[VectorIndex, dict[str, Any], str | None]:
    """A view's FAISS index, tuned when approximate: (index, its manifest fields ``factory``
    and ``tuning``, a one-line warning when the target was not reached, else None).

    ``previous``/``changed``: the previous version's manifest entry for this view and how many
    rows were added, removed or re-embedded since; with at most ``RECHECK_FRACTION`` changed the
    previous measurement is kept (:func:`carry`) instead of measuring again.
    """
    n = len(ids)
    factory = preset.factory_for(n)
    vi = VectorIndex.build(vectors, ids, preset=preset)
    fields: dict[str, Any] = {"factory": factory}
    if not is_approximate(factory) or n <= DEFAULT_K:
        return vi, fields, None
    kept = carry(previous, factory, n, changed) if changed is not None else None
    if kept is not None:
        fields["tuning"] = kept
        return vi, fields, None
    target = DEFAULT_TARGET if target is None else float(target)
    vi, result = tune(vi, vectors, ids, factory=factory, target=target)
    fields["factory"] = result.factory
    fields["tuning"] = result.to_dict()
    warning = None
    if not result.reached:
        warning = (
            f"view {name}: search reaches recall@{result.k} {result.recall:.3f}, below the "
            f"target {target:g}, even at "
            + ", ".join(f"{k} {v:g}" for k, v in result.params.items())
            + f" ({result.factory}); some nearest sounds will be missed"
        )
    return vi, fields, warning


__all__ = [
    "DEFAULT_TARGET",
    "RECHECK_FRACTION",
    "Tuning",
    "build_tuned",
    "carry",
    "exact_top_k",
    "is_approximate",
    "recall_at",
    "sample_queries",
    "tune",
    "ADD_ROWS",
]
