"""Near-duplicates: the same recording re-encoded, resampled, trimmed, normalised or re-gained.

Exact duplicates (same PCM) are already one item (:mod:`sfxkit.catalog.ingest`). Near-duplicates
stay separate items but share a group: two items are linked when the cosine similarity of their
aiSFX embeddings (the ``sfx_audio`` view) reaches :data:`NEAR_DUP_THRESHOLD` *and* their
durations are within :data:`MIN_DURATION_RATIO` of each other (a trimmed copy keeps most of its
length; two different takes of one kind of sound are close in embedding but rarely that close
in both). A group is one item and its linked copies (stars, not chains, see :func:`group_ids`);
a group's id is its smallest item id, and each member gets a quality rank (0 = best: lossless before lossy, then higher sample rate,
then higher bit depth, then the longer file), so that ``recommend`` can show one member per group.

The threshold was calibrated by ``benchmarks/aisfx_real.py`` on 82 real recordings, six
transformed copies of each (MP3, Ogg Opus, 22.05 kHz, trimmed, normalised, -9 dB) and every pair
of different sounds: at 0.96, pairwise precision 0.82 and recall 0.88 (best F1; see
``benchmarks/README.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

NEAR_DUP_THRESHOLD = 0.96
MIN_DURATION_RATIO = 0.6
NEIGHBOURS = 16  # links considered per item: groups larger than this still connect transitively
_BLOCK = 2048

LOSSY_EXTENSIONS = frozenset({".mp3", ".mp2", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".wma"})


@dataclass(frozen=True)
class NearDupParams:
    """The grouping rule; the defaults are the calibrated ones."""

    threshold: float = NEAR_DUP_THRESHOLD
    min_duration_ratio: float = MIN_DURATION_RATIO

    def __post_init__(self) -> None:
        if not -1.0 <= self.threshold <= 1.0:
            raise ValueError(
                f"threshold must be a cosine similarity in [-1, 1], got {self.threshold}"
            )
        if not 0.0 <= self.min_duration_ratio <= 1.0:
            raise ValueError(f"min_duration_ratio must be in [0, 1], got {self.min_duration_ratio}")

    def to_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


def similar_pairs(
    vectors: np.ndarray,
    durations: Sequence[float],
    params: NearDupParams = NearDupParams(),
    *,
    exact_max: int | None = None,
) -> list[tuple[int, int, float]]:
    """Pairs ``(i, j, cosine)`` with ``i < j`` that pass the near-duplicate rule.

    Each item's :data:`NEIGHBOURS` nearest are found by exact search up to ``exact_max`` items
    (:data:`EXACT_MAX`), above by an IVF index (:func:`_ivf_neighbours`): exact search is
    quadratic (a million 512-d items: ~5 hours on 2 cores), the IVF pass near-linear. Either way
    a pair's cosine is computed exactly before the threshold is applied.
    """
    n = len(vectors)
    if n < 2:
        return []
    dur = np.asarray(durations, dtype=np.float64)
    k = min(NEIGHBOURS + 1, n)
    limit = EXACT_MAX if exact_max is None else exact_max
    blocks = _exact_neighbours(vectors, k) if n <= limit else _ivf_neighbours(vectors, k)
    pairs: dict[tuple[int, int], float] = {}
    for start, x_block, top, x_of in blocks:
        for r, row in enumerate(top):
            i = start + r
            row = row[(row >= 0) & (row != i)]
            if not len(row):
                continue
            sims = x_of(row) @ x_block[r]  # exact cosines of this item's candidates
            for j, s in zip(row.tolist(), sims.tolist(), strict=True):
                if s < params.threshold:
                    continue
                lo, hi = sorted((dur[i], dur[j]))
                if hi > 0 and lo / hi < params.min_duration_ratio:
                    continue
                pairs[(min(i, j), max(i, j))] = float(s)
    return [(i, j, s) for (i, j), s in sorted(pairs.items())]


# Above this many items the neighbours come from an IVF index instead of exact search.
EXACT_MAX = 50_000


def _exact_neighbours(vectors: np.ndarray, k: int) -> Any:
    """Blocked exact search: memory stays at _BLOCK x n whatever the catalog size."""
    from sfxkit.models.base import l2_normalise

    x = l2_normalise(vectors)
    for start in range(0, len(x), _BLOCK):
        block = x[start : start + _BLOCK]
        sims = block @ x.T
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        yield start, block, top, lambda rows: x[rows]


def _ivf_neighbours(vectors: np.ndarray, k: int) -> Any:
    """Candidates from an ``IVF{nlist},SQ8`` index (nprobe 16) built like a view's, from the
    vectors as they are (float16 on disk: added in pieces): near-duplicates sit at cosine
    >= 0.9, well inside the lists probed, and the 8-bit codes only pick candidates, whose
    cosines are then computed exactly from the vectors."""
    from sfxkit.index.views import Preset, VectorIndex
    from sfxkit.models.base import l2_normalise

    preset = Preset("neighbours", None, "IVF{nlist},SQ8", {}, {"nprobe": 16}, 1 << 18)
    index = VectorIndex.build(vectors, np.arange(len(vectors)), preset=preset)

    def rows_of(rows: np.ndarray) -> np.ndarray:
        order = np.sort(rows)  # ascending reads of the (memory-mapped) view
        return l2_normalise(vectors[order])[np.searchsorted(order, rows)]

    for start in range(0, len(vectors), _BLOCK):
        block = l2_normalise(vectors[start : start + _BLOCK])
        yield start, block, index.search(block, k)[1], rows_of


def group_ids(
    n: int,
    pairs: Sequence[tuple[int, int, float]],
    ids: Sequence[str],
    order: Sequence[int] | None = None,
) -> list[str]:
    """Per item, the id of its near-duplicate group (its smallest member id), "" when alone.

    Groups are stars, not chains: items are visited in ``order`` (best quality first; default:
    most links first), and each item not yet grouped gathers its ungrouped neighbours. Every
    member is then within the threshold of the group's first member, so a run of similar
    takes (A~B, B~C, C~D) never collapses into one group.
    """
    adj: dict[int, list[int]] = {}
    for i, j, _ in pairs:
        adj.setdefault(i, []).append(j)
        adj.setdefault(j, []).append(i)
    if order is None:
        order = sorted(adj, key=lambda i: (-len(adj[i]), i))
    out = [""] * n
    for i in order:
        if out[i] or i not in adj:
            continue
        members = [i] + [j for j in adj[i] if not out[j]]
        if len(members) > 1:
            gid = min(ids[m] for m in members)
            for m in members:
                out[m] = gid
    return out


def bit_depth(path: str | Path) -> int:
    """Bits per sample from the file header (0 when the format has none, e.g. MP3)."""
    import soundfile as sf

    try:
        subtype = sf.info(str(path)).subtype
    except Exception:  # noqa: BLE001 - a header libsndfile cannot read ranks as unknown depth
        return 0
    digits = "".join(c for c in subtype if c.isdigit())
    if subtype == "FLOAT":
        return 32
    if subtype == "DOUBLE":
        return 64
    return int(digits) if digits else 0


def quality_key(path: str, sample_rate: int, duration: float) -> tuple[int, int, int, float]:
    """Sort key, larger is better: lossless, sample rate, bit depth, duration."""
    lossless = Path(path).suffix.lower() not in LOSSY_EXTENSIONS
    return (int(lossless), int(sample_rate), bit_depth(path) if lossless else 0, float(duration))


def quality_order(candidates: Sequence[int], items: Sequence[Any]) -> list[int]:
    """``candidates`` (item positions) best quality first, for :func:`group_ids`."""
    return sorted(
        candidates,
        key=lambda i: (
            quality_key(items[i].path, items[i].sample_rate, items[i].duration),
            [-ord(c) for c in items[i].id],
        ),
        reverse=True,
    )


def quality_ranks(groups: Sequence[str], items: Sequence[Any]) -> list[int]:
    """Per item, its rank within its group by :func:`quality_key` (0 = best; 0 when alone)."""
    ranks = [0] * len(groups)
    by_group: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        if g:
            by_group.setdefault(g, []).append(i)
    for members in by_group.values():
        keyed = sorted(
            members,
            key=lambda i: (
                quality_key(
                    items[i].path,
                    items[i].sample_rate,
                    items[i].duration,
                ),
                # ties go to the smaller id, so the choice is stable across rebuilds
                [-ord(c) for c in items[i].id],
            ),
            reverse=True,
        )
        for rank, i in enumerate(keyed):
            ranks[i] = rank
    return ranks


def representatives(
    groups: Sequence[str],
    ranks: Sequence[int],
    keep: np.ndarray,
    grouped: np.ndarray | None = None,
) -> np.ndarray:
    """Of the rows in ``keep`` (a boolean mask), those that are the best kept member of their
    group; rows without a group always count. ``grouped`` (the rows that have a group) saves
    a scan of the whole catalog when the caller knows them."""
    out = np.asarray(keep, dtype=bool).copy()
    rows = grouped if grouped is not None else np.flatnonzero([bool(g) for g in groups])
    best: dict[str, int] = {}
    for i in rows[out[rows]]:
        g = groups[i]
        j = best.get(g)
        if j is None or ranks[i] < ranks[j]:
            if j is not None:
                out[j] = False
            best[g] = int(i)
        else:
            out[i] = False
    return out
