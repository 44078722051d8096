"""Near-duplicate groups: the rule on vectors, quality ranks, and one member per group in recommend."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sfxkit.index.neardup import (
    NearDupParams,
    group_ids,
    quality_ranks,
    representatives,
    similar_pairs,
)
from tests import synth


def _unit(rng: np.random.Generator, n: int, d: int = 32) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_copies_group_and_different_sounds_do_not():
    rng = np.random.default_rng(0)
    base = _unit(rng, 4)
    # item 0 and its two copies (tiny perturbations), three unrelated sounds
    copies = base[[0, 0]] + 0.02 * rng.standard_normal((2, 32)).astype(np.float32)
    vecs = np.vstack([base[:1], copies, base[1:]])
    durations = [2.0, 1.8, 2.0, 2.0, 3.0, 1.0]
    ids = [f"{i:016x}" for i in (5, 3, 9, 1, 2, 4)]
    groups = group_ids(len(vecs), similar_pairs(vecs, durations), ids)
    assert groups[:3] == [ids[1]] * 3  # the group id is its smallest member id
    assert groups[3:] == ["", "", ""]


def test_a_large_catalog_finds_the_same_pairs_through_an_ivf_index(tmp_path):
    """Above EXACT_MAX items the neighbours come from IVF (exact search is quadratic); on a
    catalog of clustered sounds with planted copies both find the same pairs, also when the
    view is the build's float16 array on disk."""
    rng = np.random.default_rng(3)
    n, d = 6000, 64
    centres = _unit(rng, 40, d)
    x = centres[rng.integers(0, 40, n)] + 0.28 * _unit(rng, n, d)  # kin at cosine ~0.93
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    copies = rng.choice(n, 300, replace=False)
    for a, b in zip(copies[::2], copies[1::2], strict=True):  # b becomes a near-copy of a
        x[b] = x[a] + 0.03 * _unit(rng, 1, d)[0]
    durations = rng.uniform(1.0, 1.5, n)
    exact = similar_pairs(x, durations)
    assert {(min(a, b), max(a, b)) for a, b in zip(copies[::2], copies[1::2], strict=True)} <= {
        (i, j) for i, j, _ in exact
    }
    assert len(exact) > 160  # cluster kin above the threshold too: not only the planted ones
    ivf = similar_pairs(x, durations, exact_max=1000)
    assert [(i, j) for i, j, _ in ivf] == [(i, j) for i, j, _ in exact]
    np.testing.assert_allclose([s for *_, s in ivf], [s for *_, s in exact], atol=1e-5)

    on_disk = np.lib.format.open_memmap(tmp_path / "v.npy", "w+", np.float16, (n, d))
    on_disk[:] = x
    half = similar_pairs(on_disk, durations, exact_max=1000)
    assert {(i, j) for i, j, _ in half} >= {
        (min(a, b), max(a, b)) for a, b in zip(copies[::2], copies[1::2], strict=True)
    }


def test_a_chain_of_similar_takes_is_not_one_group():
    # A~B, B~C, C~D only: stars around the first-visited items, never A..D in one group
    ids = ["000000000000000a", "000000000000000b", "000000000000000c", "000000000000000d"]
    pairs = [(0, 1, 0.97), (1, 2, 0.97), (2, 3, 0.97)]
    groups = group_ids(4, pairs, ids, order=[0, 1, 2, 3])
    assert groups == [ids[0], ids[0], ids[2], ids[2]]


def test_duration_ratio_keeps_a_short_excerpt_apart():
    v = np.ones((2, 8), dtype=np.float32)
    assert similar_pairs(v, [10.0, 1.0]) == []
    assert [p[:2] for p in similar_pairs(v, [10.0, 9.0])] == [(0, 1)]
    loose = NearDupParams(min_duration_ratio=0.0)
    assert [p[:2] for p in similar_pairs(v, [10.0, 1.0], loose)] == [(0, 1)]
    with pytest.raises(ValueError, match="threshold"):
        NearDupParams(threshold=2.0)


@dataclasses.dataclass
class _It:
    id: str
    path: str
    sample_rate: int
    duration: float


def test_quality_rank_prefers_lossless_rate_and_depth(tmp_path):
    x = synth.noise(0.5, seed=2)
    paths = {
        "mp3": synth.write_audio(tmp_path / "a.mp3", x),
        "wav16": synth.write_audio(tmp_path / "b.wav", x, subtype="PCM_16"),
        "wav24": synth.write_audio(tmp_path / "c.wav", x, subtype="PCM_24"),
        "wav44": synth.write_audio(tmp_path / "d.wav", x, 44_100, subtype="PCM_24"),
    }
    items = [
        _It("0000000000000001", str(paths["mp3"]), 48_000, 0.5),
        _It("0000000000000002", str(paths["wav16"]), 48_000, 0.5),
        _It("0000000000000003", str(paths["wav24"]), 48_000, 0.5),
        _It("0000000000000004", str(paths["wav44"]), 44_100, 0.5),
    ]
    ranks = quality_ranks(["g"] * 4, items)
    assert ranks == [3, 1, 0, 2]
    keep = np.array([True, True, False, True])  # a filter removed the best copy
    assert representatives(["g"] * 4, ranks, keep).tolist() == [False, True, False, False]


def _index_with_group(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A tiny index where a WAV and its quieter MP3 copy are marked as one near-duplicate group."""
    from sfxkit.catalog.schema import items_to_table, table_to_items
    from sfxkit.index.build import build_index
    from sfxkit.index.derive import commit_derived_version
    from sfxkit.index.store import load_index

    lib = tmp_path / "lib"
    rain = synth.noise(2.0, band=(2000, 9000), seed=1)
    synth.write_audio(lib / "rain_master.wav", rain, subtype="PCM_24")
    synth.write_audio(lib / "rain_web.mp3", rain * 0.5)
    synth.write_audio(lib / "wind.wav", synth.noise(2.0, band=(100, 600), seed=7))
    synth.write_audio(lib / "beep.wav", synth.tone(1000, 1.0))
    out = tmp_path / "idx"
    build_index(lib, out, models="tiny", progress=False)
    idx = load_index(out, views=[])
    items = table_to_items(idx.table)
    by_name = {Path(it.path).name: it for it in items}
    pair = [by_name["rain_master.wav"], by_name["rain_web.mp3"]]
    gid = min(it.id for it in pair)
    groups = [gid if it in pair else "" for it in items]
    ranks = quality_ranks(groups, items)
    marked = [
        dataclasses.replace(it, near_dup_group=g, near_dup_rank=r)
        for it, g, r in zip(items, groups, ranks, strict=True)
    ]
    commit_derived_version(
        out,
        expected_version=idx.version,
        write=lambda w: w.write_table("rows.parquet", items_to_table(marked)),
        update_manifest=lambda raw: raw,
    )
    return out, {name: it.id for name, it in by_name.items()}


@pytest.fixture(scope="module")
def grouped_index(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    return _index_with_group(tmp_path_factory.mktemp("neardup"))


def test_recommend_shows_the_best_member_of_a_group_by_default(grouped_index):
    from sfxkit.recommender import Recommender

    out, ids = grouped_index
    query = synth.noise(2.0, band=(2000, 9000), seed=11)[0]
    rec = Recommender(out)
    shown = [Path(r.path).name for r in rec.recommend_audio(query, k=4, sample_rate=synth.SR)]
    assert "rain_master.wav" in shown and "rain_web.mp3" not in shown
    best = next(
        r
        for r in rec.recommend_audio(query, k=4, sample_rate=synth.SR)
        if r.id == ids["rain_master.wav"]
    )
    assert best.near_duplicates == 1 and best.near_dup_group
    every = rec.recommend_audio(query, k=4, sample_rate=synth.SR, dedupe=False)
    assert {"rain_master.wav", "rain_web.mp3"} <= {Path(r.path).name for r in every}
    # a filter that excludes the best copy shows the other one instead of hiding the group
    only_mp3 = rec.recommend_audio(
        query, k=4, sample_rate=synth.SR, filters={"exclude_ids": [ids["rain_master.wav"]]}
    )
    assert "rain_web.mp3" in {Path(r.path).name for r in only_mp3}
    # "more like this" on a member leaves out its own copies
    near = rec.recommend_audio(out.parent / "lib" / "rain_web.mp3", k=3)
    assert ids["rain_master.wav"] not in {r.id for r in near}


@pytest.mark.slow
def test_cli_all_duplicates(grouped_index, tmp_path):
    out, _ = grouped_index
    q = synth.write_audio(tmp_path / "q.wav", synth.noise(2.0, band=(2000, 9000), seed=11))
    exe = Path(sys.executable).with_name("sfxkit")

    def names(*extra: str) -> set[str]:
        proc = subprocess.run(
            [str(exe), "recommend", str(q), "--audio", "-i", str(out), "-k", "4", "--json", *extra],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr
        recs = json.loads(proc.stdout)["results"][0]["recommendations"]
        return {Path(r["path"]).name for r in recs}

    assert "rain_web.mp3" not in names()
    assert {"rain_master.wav", "rain_web.mp3"} <= names("--all-duplicates")


def test_build_without_aisfx_weights_groups_nothing_and_says_so(tmp_path, monkeypatch):
    from sfxkit.index.build import build_index

    monkeypatch.delenv("SFXKIT_WEIGHTS_DIR", raising=False)  # the cache is empty (conftest)
    from sfxkit.index.store import load_index
    from sfxkit.recommender import Recommender

    lib = tmp_path / "lib"
    rain = np.round(synth.noise(1.0, band=(2000, 9000), seed=1) * 32767) / 32768
    synth.write_audio(lib / "rain.wav", rain)
    synth.write_audio(lib / "rain_copy.flac", rain)  # PCM-identical: one item, as before
    synth.write_audio(lib / "rain_quiet.wav", rain * 0.5)  # a near-duplicate, not grouped
    synth.write_audio(lib / "beep.wav", synth.tone(1000, 1.0))
    report = build_index(lib, tmp_path / "idx", models="tiny", progress=False)
    assert any(
        "near-duplicate grouping and automatic categorisation skipped" in n
        for n in report.sound_analysis
    )
    assert report.duplicates == 1 and report.items == 3
    idx = load_index(tmp_path / "idx", views=[])
    assert "sfx_audio" not in idx.manifest.views
    assert (idx.rows["near_dup_group"] == "").all() and (idx.rows["predicted_catid"] == "").all()
    assert "near_duplicates" not in idx.manifest.raw and "categorize" not in idx.manifest.raw
    rec = Recommender(tmp_path / "idx")
    query = lib / "rain_quiet.wav"
    assert [r.id for r in rec.recommend_audio(query, k=3, exclude_self=False)] == [
        r.id for r in rec.recommend_audio(query, k=3, exclude_self=False, dedupe=False)
    ]


@pytest.mark.real_weights
def test_real_aisfx_groups_copies_of_one_recording_only():
    from sfxkit.media.audio import resample
    from sfxkit.models.registry import load_sfx_encoder
    from tests.models.test_aisfx_real import require_aisfx_weights

    require_aisfx_weights()
    enc = load_sfx_encoder("aisfx")
    sr = synth.SR
    t = np.arange(2 * sr) / sr
    env = np.exp(-3 * t).astype(np.float32)
    recording = (synth.noise(2.0, band=(300, 4000), seed=3)[0] * env) + 0.3 * np.sin(
        2 * np.pi * (300 + 400 * t) * t
    ).astype(np.float32) * env
    copies = [
        recording * 0.35,  # re-gained
        recording / np.abs(recording).max() * 0.89,  # peak-normalised
        recording[int(0.1 * sr) :],  # trimmed
        resample(recording, sr, 22_050)[0],  # resampled
    ]
    others = [synth.clicks(2.0, 4.0)[0], synth.tone(440, 2.0)[0], synth.noise(2.0, seed=9)[0]]
    waves = [recording, *copies, *others]
    rates = [sr, sr, sr, sr, 22_050, sr, sr, sr]
    vecs = np.concatenate(
        [enc.encode_audio([w], sample_rate=r) for w, r in zip(waves, rates, strict=True)]
    )
    durations = [len(w) / r for w, r in zip(waves, rates, strict=True)]
    ids = [f"{i:016x}" for i in range(len(waves))]
    groups = group_ids(len(waves), similar_pairs(vecs, durations), ids)
    assert groups[:5] == [ids[0]] * 5
    assert groups[5:] == ["", "", ""]
