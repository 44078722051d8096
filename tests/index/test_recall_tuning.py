"""Approximate views are tuned at build time to a recall target on their own vectors, and the
manifest (and `sfxkit index info`) says what was measured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sfxkit.index.store import load_index
from sfxkit.index.tune import build_tuned, carry, exact_top_k
from sfxkit.index.views import Preset, VectorIndex, nlist_for
from tests.index.helpers import exact_top, hard_clusters, recall, write_index

# A toy of the shipped large preset: IVF, 4-bit fast-scan PQ with one code per 4 dims (the
# 512-d preset's PQ64 is one per 8; at 32-d one per 8 is too coarse to tune), 8-bit refine,
# the same fixed parameters (nprobe 32, k_factor 10).
TINY = Preset(
    "tiny-ivf", None, "IVF{nlist},PQ8x4fs,Refine(SQ8)", {}, {"nprobe": 32, "k_factor": 10}
)
N, DIM = 5000, 32


@pytest.fixture(scope="module")
def hard() -> tuple[np.ndarray, np.ndarray]:
    """Hard clustered vectors (isotropic noise of one norm inside 100 clusters) and held-out
    queries from the same clusters."""
    x = hard_clusters(N + 300, DIM, N // 100, noise=1.2, seed=3)
    return x[:N], x[N:]


def _held_out_recall(view: VectorIndex, vectors, ids, queries) -> float:
    truth = exact_top(vectors.astype(np.float16).astype(np.float32), ids, queries, 10)
    return recall(view.search(queries, 10)[1], truth)


def test_a_hard_view_reaches_the_target_tuned_and_misses_it_with_fixed_parameters(tmp_path, hard):
    vectors, queries = hard
    ids = write_index(tmp_path / "idx", vectors, TINY, tune=True)
    m = load_index(tmp_path / "idx", views=[]).manifest
    tuning = m.views["v"].tuning
    assert tuning is not None and tuning["reached"] is True
    assert tuning["recall"] >= 0.95 and tuning["target"] == 0.95 and tuning["k"] == 10
    assert tuning["fixed_params"] == {"nprobe": 32, "k_factor": 10}
    assert tuning["fixed_recall"] < 0.95  # the old fixed parameters miss on this data
    assert tuning["params"] != tuning["fixed_params"]
    assert tuning["queries"] == 400 and tuning["count"] == N

    # the stored index searches with the tuned parameters: on queries tuning never saw
    tuned_view = load_index(tmp_path / "idx").view("v")
    assert tuned_view.preset.search_params == tuning["params"]
    tuned = _held_out_recall(tuned_view, vectors, ids, queries)
    fixed_view = VectorIndex.build(vectors, ids, preset=TINY)  # what a view searched with before
    fixed = _held_out_recall(fixed_view, vectors, ids, queries)
    assert fixed < 0.92, fixed
    assert tuned >= 0.94 and tuned >= fixed + 0.05, (tuned, fixed)


def test_index_info_shows_the_measured_recall(tmp_path, hard):
    vectors, _ = hard
    write_index(tmp_path / "idx", vectors[:2000], TINY, tune=True)
    exe = str(Path(sys.executable).with_name("sfxkit"))  # the installed entry point
    out = subprocess.run(
        [exe, "index", "info", str(tmp_path / "idx"), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    view = json.loads(out.stdout)["views"]["v"]
    assert view["tuning"]["recall"] >= 0.95
    text = subprocess.run(
        [exe, "index", "info", str(tmp_path / "idx")],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "250"},
    ).stdout
    assert f"recall@10 {view['tuning']['recall']:.3f}" in text
    assert "target 0.95" in text


def test_an_unreachable_target_upgrades_the_refine_then_says_what_was_reached(hard):
    vectors, _ = hard
    x16 = vectors[:2000].astype(np.float16)
    ids = np.arange(len(x16), dtype=np.int64)
    # recall above 1 cannot be reached: rescoring moves inside FAISS from 8-bit codes to
    # float16 codes to the exact vectors, then the best point is kept and one line says so
    vi, fields, warning = build_tuned(x16, ids, TINY, target=1.01, name="v")
    tuning = fields["tuning"]
    assert tuning["refine_upgraded_from"] == "SQ8"
    assert fields["factory"].endswith(",Refine(Flat)") and tuning["factory"] == fields["factory"]
    assert tuning["reached"] is False and tuning["recall"] >= 0.95
    assert warning is not None and "\n" not in warning
    assert f"recall@10 {tuning['recall']:.3f}" in warning and "below the target 1.01" in warning
    # the upgraded index is a working positional index over the same rows, tuned parameters on
    assert vi.positional and vi.preset.search_params == tuning["params"]
    q = x16[:20].astype(np.float32)
    assert vi.search(q, 1)[1][:, 0].tolist() == ids[:20].tolist()


def test_exact_top_k_is_streamed_and_exact():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40_000, 16)).astype(np.float16)  # three blocks of ADD_ROWS
    q = rng.standard_normal((7, 16)).astype(np.float32)
    want = np.argsort(-(q @ x.astype(np.float32).T), axis=1, kind="stable")[:, :5]
    assert np.array_equal(np.sort(exact_top_k(x, q, 5), axis=1), np.sort(want, axis=1))


def test_ivf_lists_have_39_training_points_each():
    assert nlist_for(1_000_000) == 4096
    big = Preset("p", None, "IVF{nlist},PQ64x4fs,Refine(SQ8)", train_sample=131072)
    assert big.train_rows(1_000_000) == 39 * 4096
    assert big.train_rows(100_000) == 100_000  # a sample larger than the view: all of it
    for n in (1000, 3000, 10_000, 100_000):
        assert 39 * nlist_for(n) <= n


def test_a_small_change_keeps_the_measurement_and_a_large_one_measures_again():
    record = {"params": {"nprobe": 8, "k_factor": 32}, "recall": 0.96, "count": 1000}
    entry = {"factory": "IVF16,PQ8x4fs,Refine(SQ8)", "count": 1000, "tuning": record}
    kept = carry(entry, entry["factory"], 1050, changed=50)
    assert kept is not None and kept["params"] == record["params"] and kept["carried"] is True
    assert carry(entry, entry["factory"], 1300, changed=300) is None
    assert carry(entry, "IVF32,PQ8x4fs,Refine(SQ8)", 1050, changed=50) is None


def test_a_rebuild_measures_again_only_when_the_view_changed_by_more_than_a_tenth(hard):
    vectors, _ = hard
    x16 = vectors[:2000].astype(np.float16)
    ids = np.arange(len(x16), dtype=np.int64)
    _, first, _ = build_tuned(x16, ids, TINY)
    previous = {**first, "count": len(ids)}
    _, small, _ = build_tuned(x16, ids, TINY, previous=previous, changed=150)
    assert small["tuning"]["carried"] is True
    assert small["tuning"]["params"] == first["tuning"]["params"]
    _, large, _ = build_tuned(x16, ids, TINY, previous=previous, changed=400)
    assert "carried" not in large["tuning"] and large["tuning"]["count"] == len(ids)
