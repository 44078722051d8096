"""Which FAISS index a view gets, by its size, and that it keeps it when presets change."""

from __future__ import annotations

import json
import re

import numpy as np

from sfxkit.index.store import load_index
from sfxkit.index.views import Preset, choose_preset
from tests.index.helpers import clustered, exact_top, recall, write_index


def _bytes_per_item(factory: str, dim: int) -> int:
    """Codes per item FAISS keeps in RAM for a factory sfxkit ships (ids: 8 bytes)."""
    pq = re.search(r"PQ(\d+)x4fs", factory)
    sq = re.search(r"Refine\(SQ(\d+)\)", factory)
    return (int(pq.group(1)) // 2 if pq else 0) + (dim * int(sq.group(1)) // 8 if sq else 0) + 8


def test_small_catalogs_search_exactly_and_large_ones_use_compressed_codes():
    assert choose_preset(50_000).factory_for(50_000) == "Flat"
    assert choose_preset(100_000).factory_for(100_000) == "Flat"
    for n in (100_001, 200_000, 1_000_000, 4_000_000):
        big = choose_preset(n)
        factory = big.factory_for(n)
        # 4-bit fast-scan PQ for the scan, 8-bit codes to rescore: under 600 B/item at 512-d
        assert "x4fs" in factory and factory.startswith("IVF") and "Refine(SQ8)" in factory
        assert _bytes_per_item(factory, 512) < 600
        assert int(big.search_params["k_factor"]) > 1
    assert choose_preset(1_000_000).factory_for(1_000_000).startswith("IVF4096,")
    assert "HNSW" in choose_preset(50_000_000).factory_for(50_000_000)


def test_a_view_keeps_its_presets_search_settings_after_the_presets_change(tmp_path, monkeypatch):
    vectors = clustered(3000, 64, 30)
    built = Preset(
        "small-ivf", None, "IVF{nlist},PQ16x4fs,Refine(Flat)", {}, {"nprobe": 8, "k_factor": 10}
    )
    ids = write_index(tmp_path / "idx", vectors, built)
    # today's presets would call a 3000-row view "exact": the view still searches as built
    custom = tmp_path / "p.json"
    entries = [
        {"name": "exact", "max_items": 100_000, "factory": "Flat"},
        {
            "name": built.name,
            "max_items": None,
            "factory": built.factory,
            "search_params": built.search_params,
        },
    ]
    custom.write_text(json.dumps({"presets": entries}))
    monkeypatch.setenv("SFXKIT_INDEX_PRESETS", str(custom))
    view = load_index(tmp_path / "idx").view("v")
    assert view.preset is not None and view.preset.name == "small-ivf"
    queries = vectors[:50] + 0.01
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    assert recall(view.search(queries, 10)[1], exact_top(vectors, ids, queries, 10)) >= 0.95
