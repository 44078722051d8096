"""A 200k-item view under the default presets: recall and what a filtered query reads."""

from __future__ import annotations

import numpy as np
import pytest

from sfxkit.index import choose_preset
from sfxkit.store import load_index
from tests.index.helpers import clustered, exact_top, recall, write_index


@pytest.mark.slow
def test_200k_view_meets_recall_and_filtered_queries_read_no_whole_view(tmp_path):
    n, dim = 200_000, 512
    vectors = clustered(n + 200, dim, 2000, seed=3)
    vectors, queries = vectors[:n], vectors[n:]
    preset = choose_preset(n)
    ids = write_index(tmp_path / "idx", vectors, preset)
    idx = load_index(tmp_path / "idx")
    view = idx.view("v")
    assert view.k_factor > 1  # the large-index preset rescores from the mapped vectors
    truth = exact_top(vectors, ids, queries, 10)
    found = np.vstack([view.search(q[None, :], 10)[1] for q in queries])
    assert recall(found, truth) >= 0.95
    lookup = idx.vectors("v")
    read_by_search = lookup.source.checked_fraction
    assert read_by_search < 0.5
    # filters: a small allowed set (exact over those rows) and a large one (FAISS + rescoring)
    rng = np.random.default_rng(0)
    for size in (3000, 40_000):
        allowed = rng.choice(ids, size, replace=False)
        s, got = view.search(queries[:20], 10, allowed=allowed, vectors=lookup)
        assert np.isin(got[got >= 0], allowed).all()
        want = exact_top(
            vectors[np.isin(ids, allowed)], ids[np.isin(ids, allowed)], queries[:20], 10
        )
        assert recall(got, want) >= (1.0 if size <= 4096 else 0.9)
    assert lookup.source.checked_fraction < 0.6
