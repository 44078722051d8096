"""Heads, bridge view, fusion and calibration inside an index: written as a new version, read
back identically, used by the recommender, carried through rebuilds."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from sfxkit.bridge.train import TrainConfig, train_bridge
from sfxkit.errors import IndexCorruptError
from sfxkit.index.heads import CONFIG_FILE, HEADS_FILE, load_heads_from_index
from sfxkit.index.store import IndexStore, load_index
from sfxkit.recommender import Recommendations, Recommender
from tests import synth
from tests.bridge.conftest import holdout_csv, labelled_pairs

CFG = TrainConfig(dim=16, hidden=32, max_epochs=30, patience=10, batch_size=16, seed=0)


@pytest.fixture
def trained(index_copy, tiny_pool, bridge_videos, tmp_path):
    pairs = labelled_pairs(index_copy, tiny_pool)
    hold = holdout_csv(tmp_path / "holdout.csv", bridge_videos, index_copy)
    report = train_bridge(index_copy, pairs, pool=tiny_pool.pool, holdout=hold, config=CFG,
                          target_precision=0.5, progress=False)  # fmt: skip
    return index_copy, report


def test_training_commits_a_new_version_the_manifest_describes(trained, tiny_index):
    index, report = trained
    before = load_index(tiny_index[0], views=[])
    idx = load_index(index)
    assert report.version == idx.version == before.version + 1
    m = idx.manifest
    assert {"clip_text", "clap_audio", "clap_text", "bridge"} <= set(m.views)
    view = m.views["bridge"]
    assert view.tower == "bridge" and view.source == "clap_audio" and view.dim == 16
    assert view.model.startswith("bridge:") and view.untrained  # heads over toy encoders
    for rel in (HEADS_FILE, CONFIG_FILE, "views/bridge.faiss", "views/bridge.npy"):
        assert rel in m.files
    assert m.get("bridge")["image_model"] == "open_clip:tiny"
    assert m.get("bridge")["audio_model"] == "clap:tiny"
    fusion = m.get("fusion")["frame"]
    assert set(fusion) == {"clip_text", "bridge"} and abs(sum(fusion.values()) - 1) < 1e-6
    cal = m.get("calibration")
    assert cal["labels"] == "labelled" and cal["weights"] == fusion
    assert 0.0 <= cal["ece"] <= 1.0 and cal["target_precision"] == 0.5
    assert IndexStore(index).verify() == []
    # the previous version's files are carried over byte for byte
    for rel in ("rows.parquet", "views/clip_text.npy", "views/clap_audio.faiss"):
        assert m.files[rel] == before.manifest.files[rel]


def test_heads_round_trip_through_the_index(trained, tiny_pool):
    index, report = trained
    idx = load_index(index)
    heads = load_heads_from_index(idx)
    assert heads.model_id == idx.manifest.views["bridge"].model
    frames = tiny_pool.pool.embeddings
    z = heads.embed_image(frames)
    assert z.shape == (len(frames), 16)
    # the stored bridge view is the audio head applied to the CLAP vectors, both stored as
    # float16 (half a unit in the last place: ~2.4e-4 for unit-vector components)
    stored = idx.vectors("bridge").vectors
    again_stored = heads.embed_audio(idx.vectors("clap_audio").vectors)
    assert np.allclose(again_stored, stored, atol=2e-3)
    assert not np.allclose(again_stored, np.roll(stored, 1, axis=0), atol=2e-3)
    # and loading twice gives the same function
    again = load_heads_from_index(load_index(index))
    assert np.array_equal(again.embed_image(frames), z)


def test_recommender_fuses_the_bridge_and_reports_confidence(trained, bridge_videos):
    index, report = trained
    rec = Recommender(index)
    out = rec.recommend((str(bridge_videos / "v0.mp4"), 0.5), k=3)
    assert isinstance(out, Recommendations) and len(out) == 3
    assert set(out[0].view_scores) == {"clip_text", "bridge"}
    w = report.fusion
    expect = (w["clip_text"] * out[0].view_scores["clip_text"]
              + w["bridge"] * out[0].view_scores["bridge"]) / sum(w.values())  # fmt: skip
    assert out[0].score == pytest.approx(expect, abs=1e-5)
    probs = [r.confidence for r in out]
    assert all(p is not None and 0.0 <= p <= 1.0 for p in probs)
    assert probs == sorted(probs, reverse=True), "calibration is monotone in the score"
    assert out.confident in (True, False) and out.threshold == report.calibration["threshold"]
    # text queries are not frame scores: no confidence there
    text = rec.recommend_text("rain")
    assert all(r.confidence is None for r in text) and text.confident is None
    # other fusion weights make other scores: the calibration no longer applies
    other = Recommender(index, weights={"frame": {"clip_text": 1.0}})
    assert other.recommend(synth.draw_frame("red"), k=2)[0].confidence is None


def test_no_confident_match_still_returns_the_best_candidates(trained):
    index, _ = trained
    store = IndexStore(index)
    raw = json.loads((store.manifest().dir / "manifest.json").read_text())
    cal = dict(raw["calibration"])
    cal["threshold"] = 10.0  # nothing can reach it
    from sfxkit.index.derive import commit_derived_version

    commit_derived_version(index, expected_version=raw["version"], write=lambda w: None,
                           update_manifest=lambda r: {**r, "calibration": cal})  # fmt: skip
    recs = Recommender(index).recommend(synth.draw_frame("checker"), k=4)
    assert recs.confident is False and len(recs) == 4
    assert "no confident match" in recs.verdict()
    assert [r.rank for r in recs] == [1, 2, 3, 4]


def test_corrupt_heads_are_refused(trained):
    index, _ = trained
    vdir = IndexStore(index).manifest().dir
    path = vdir / HEADS_FILE
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IndexCorruptError):
        Recommender(index)


def test_rebuild_recomputes_the_bridge_view_and_carries_heads(trained, sfx_library, tmp_path):
    from sfxkit.index.build import build_index

    index, report = trained
    before = load_index(index)
    heads_bytes = before.read_bytes(HEADS_FILE)
    old_ids = before.faiss_ids
    old_bridge = before.vectors("bridge").get(old_ids)  # read now: old versions are pruned
    library = tmp_path / "library"
    shutil.copytree(sfx_library, library)
    build_index(library, index, models="tiny", progress=False)  # same files as before
    synth.write_audio(library / "new" / "bell_ring.wav", synth.tone(880, 1.0))
    rebuilt = build_index(library, index, models="tiny", progress=False)
    assert rebuilt.added == 1 and not rebuilt.notes
    idx = load_index(index)
    assert idx.read_bytes(HEADS_FILE) == heads_bytes
    assert idx.manifest.get("fusion") == before.manifest.get("fusion")
    assert idx.manifest.get("calibration") == before.manifest.get("calibration")
    assert idx.manifest.views["bridge"].count == before.manifest.views["bridge"].count + 1
    heads = load_heads_from_index(idx)
    # both views are stored as float16 (see test_heads_round_trip_through_the_index)
    assert np.allclose(
        idx.vectors("bridge").vectors,
        heads.embed_audio(idx.vectors("clap_audio").vectors),
        atol=2e-3,
    )
    assert np.allclose(idx.vectors("bridge").get(old_ids), old_bridge, atol=2e-3)
    new = idx.rows[idx.rows["path"].str.endswith("bell_ring.wav")]
    assert len(new) == 1
    assert IndexStore(index).verify() == []


def test_heads_for_other_encoders_are_dropped_with_a_note(trained, tmp_path):
    from sfxkit.index.build import _carry_bridge
    from sfxkit.index.store import IndexStore

    index, _ = trained
    notes: list[str] = []
    previous = load_index(index, views=[])
    vectors = {"clap_audio": previous.vectors("clap_audio").vectors}
    models = {"frame": "open_clip:ViT-B-32/laion2b_s34b_b79k", "audio": "clap:tiny"}
    with IndexStore(tmp_path / "new").writer() as w:  # re-applied heads write their view in it
        assert _carry_bridge(previous, vectors, models, notes, w) is None
        assert "bridge" not in vectors
        assert notes and "retrain with `sfxkit bridge train`" in notes[0]
        same = {"frame": "open_clip:tiny", "audio": "clap:tiny"}
        carried = _carry_bridge(previous, vectors, same, [], w)
        assert carried is not None and vectors["bridge"].shape[1] == 16


def test_training_without_holdout_labels_the_calibration_as_mined(index_copy, tiny_pool):
    pairs = labelled_pairs(index_copy, tiny_pool)
    report = train_bridge(index_copy, pairs, pool=tiny_pool.pool, config=CFG, progress=False)
    assert report.fusion == {"clip_text": 0.5, "bridge": 0.5}
    assert report.calibration["labels"] == "mined"
    assert any("--holdout" in n for n in report.notes)
    # pairs naming sounds that are not in the index are skipped and reported
    pairs.loc[0, "item_id"] = "ffffffffffffffff"
    again = train_bridge(index_copy, pairs, pool=tiny_pool.pool, config=CFG, progress=False)
    assert again.pairs == len(pairs) and again.pairs_used == len(pairs) - 1
    assert again.skipped[0][1] == "item not in this index version"
