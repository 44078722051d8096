"""A 200k-item view under the default presets: recall and what a filtered query reads."""

from __future__ import annotations

import numpy as np
import pytest

from sfxkit.index.store import load_index
from sfxkit.index.views import choose_preset
from tests.index.helpers import exact_top, recall, sphere_clusters, write_index


@pytest.mark.slow
def test_200k_view_meets_recall_and_filtered_queries_read_no_whole_view(tmp_path):
    n, dim = 200_000, 512
    # the benchmark's data: 8-bit rescoring codes lose recall on near-duplicate clusters
    # (indexes/README.md), which scale.py measures separately
    vectors = sphere_clusters(n + 200, dim, 2000, seed=3)
    vectors, queries = vectors[:n], vectors[n:]
    preset = choose_preset(n)
    ids = write_index(tmp_path / "idx", vectors, preset)
    idx = load_index(tmp_path / "idx")
    view = idx.view("v")
    assert view.positional and view.k_factor > 1  # compressed codes, rescored in FAISS
    truth = exact_top(vectors, ids, queries, 10)
    found = np.vstack([view.search(q[None, :], 10)[1] for q in queries])
    assert recall(found, truth) >= 0.95
    lookup = idx.vectors("v")
    rows = lookup.source
    assert rows.chunks_read <= 1  # only the header: unfiltered search reads no exact vector
    # filters: a small allowed set (exact over those rows) and a large one (FAISS selector)
    rng = np.random.default_rng(0)
    for size in (3000, 40_000):
        allowed = rng.choice(ids, size, replace=False)
        before = rows.chunks_read
        s, got = view.search(queries[:20], 10, allowed=allowed, vectors=lookup)
        assert np.isin(got[got >= 0], allowed).all()
        mask = np.isin(ids, allowed)
        want = exact_top(vectors[mask], ids[mask], queries[:20], 10)
        assert recall(got, want) >= (0.99 if size <= 4096 else 0.9)
        # no whole view: at most one chunk per allowed row, none for the FAISS path
        assert rows.chunks_read - before <= (2 * size if size <= 4096 else 0)  # a row may span 2
    assert rows.read_fraction < 0.1
