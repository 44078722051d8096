"""The PE-AV views (``pe_audio``, ``pe_text``): built by `sfxkit index build`, kept by rebuilds
and the Ray engine, searched by frame, shot, text and audio queries (each result names the views
that ranked it), calibrated with the other frame views, and never fused across trained and
untrained models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sfxkit.index.build import build_index
from sfxkit.recommender import Recommender
from tests import synth

TINY = "pe_av:tiny"


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lib")
    synth.write_audio(root / "rain.wav", synth.noise(2.0, seed=1, band=(2000, 9000)))
    synth.write_audio(root / "beep.wav", synth.tone(1000, 1.0))
    synth.write_audio(root / "hum.wav", synth.tone(80, 2.0) + synth.tone(160, 2.0, amp=0.2))
    synth.write_audio(root / "clicks.wav", synth.clicks(2.0, 6.0))
    return root


@pytest.fixture(scope="module")
def av_index(library, tmp_path_factory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("idx") / "index"
    report = build_index(library, out, models="tiny", av_model=TINY, sfx_model="none")
    return out, report


@pytest.fixture(scope="module")
def av_encoder():
    from sfxkit.models.registry import load_av_encoder

    return load_av_encoder(TINY)


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    return synth.make_video(path, [("red", 1.0), ("stripes", 1.0)], moving=True)


def _vector(rec: Recommender, view: str, name: str) -> np.ndarray:
    row = [Path(p).name for p in rec.index.rows["path"]].index(name)
    fid = int(rec.index.faiss_ids[row])
    return np.asarray(rec.index.vectors(view).get(np.array([fid]))[0], dtype=np.float32)


def test_build_makes_the_views_and_records_model_and_licence(av_index, library, av_encoder):
    out, report = av_index
    rec = Recommender(out)
    views = rec.manifest.views
    assert {"pe_audio", "pe_text"} <= set(views)
    for name, tower in (("pe_audio", "audio"), ("pe_text", "text")):
        v = views[name]
        assert (v.model, v.tower, v.dim, v.count, v.untrained) == (TINY, tower, 32, 4, True)
    assert report.models["av"] == TINY
    assert report.embedded["pe_audio"] == 4 and report.embedded["pe_text"] == 4
    assert rec.manifest.get("weights_licences") == {TINY: "n/a (random weights)"}
    # the stored vector is the encoder's embedding of the sound (float16 on disk)
    from sfxkit.media.audio import load_audio

    clip = load_audio(library / "rain.wav", sample_rate=av_encoder.sample_rate, mono=True)
    want = av_encoder.encode_audio([clip.samples[0]], sample_rate=av_encoder.sample_rate)[0]
    np.testing.assert_allclose(_vector(rec, "pe_audio", "rain.wav"), want, atol=2e-3)


def test_frame_query_searches_pe_audio_with_the_video_tower(av_index, av_encoder):
    rec = Recommender(av_index[0])
    frame = synth.draw_frame("red", 64)
    recs = rec.recommend(frame, k=4)
    assert len(recs) == 4
    for r in recs:
        assert set(r.view_scores) == {"clip_text", "pe_audio"}
        assert r.score == pytest.approx(np.mean(list(r.view_scores.values())), abs=1e-5)
    q = av_encoder.encode_images([frame])[0]
    top = recs[0]
    expect = float(_vector(rec, "pe_audio", Path(top.path).name) @ q)
    assert top.view_scores["pe_audio"] == pytest.approx(expect, abs=2e-3)


def test_a_shot_is_searched_as_a_clip_of_its_frames(av_index, video, av_encoder):
    from sfxkit.media.frames import frames_at
    from sfxkit.media.shots import Shot

    rec = Recommender(av_index[0])
    shots = [Shot(0, 0.0, 1.0, 0.5), Shot(1, 1.0, 2.0, 1.5)]
    found = rec.recommend_video(video, k=3, shots=shots)
    assert [len(s.recommendations) for s in found] == [3, 3]
    assert all(
        set(r.view_scores) == {"clip_text", "pe_audio"} for s in found for r in s.recommendations
    )
    clips = rec.av_shot_embeddings(video, shots)
    # the shot's query is its frames as one clip: not the still keyframe (the square moves)
    n = av_encoder.clip_frames
    times = [(j + 0.5) / n for j in range(n)]
    want = av_encoder.encode_videos([list(frames_at(video, times))])[0]
    np.testing.assert_allclose(clips[0], want, atol=1e-5)
    still = av_encoder.encode_images(list(frames_at(video, [0.5])))[0]
    assert not np.allclose(clips[0], still, atol=1e-4)
    top = found[0].recommendations[0]
    expect = float(_vector(rec, "pe_audio", Path(top.path).name) @ clips[0])
    assert top.view_scores["pe_audio"] == pytest.approx(expect, abs=2e-3)


def test_text_and_audio_queries_use_the_pe_views(av_index, library):
    rec = Recommender(av_index[0])
    recs = rec.recommend_text("rain on a roof", k=3)
    assert all(
        set(r.view_scores) == {"clap_audio", "clap_text", "pe_audio", "pe_text"} for r in recs
    )
    recs = rec.recommend_audio(library / "rain.wav", k=3)
    assert "rain.wav" not in {Path(r.path).name for r in recs}
    assert all(set(r.view_scores) == {"clap_audio", "pe_audio"} for r in recs)


def test_soundtrack_plan_searches_shots_through_pe_av(av_index, video):
    from sfxkit.editorial.plan import shot_candidates

    rec = Recommender(av_index[0])
    found = shot_candidates(video, rec, k=2)
    assert found.av_embeddings is not None and len(found.av_embeddings) == len(found.shots)
    assert all("pe_audio" in r.view_scores for c in found.candidates for r in c)


def test_incremental_rebuild_keeps_the_view_and_embeds_only_new_sounds(library, tmp_path, av_index):
    import shutil

    lib = tmp_path / "lib"
    shutil.copytree(library, lib)
    out = tmp_path / "idx"
    build_index(lib, out, models="tiny", av_model=TINY, sfx_model="none")
    before = Recommender(out)
    old = _vector(before, "pe_audio", "hum.wav")
    synth.write_audio(lib / "whoosh.wav", synth.noise(1.5, seed=7, band=(200, 2000)))
    report = build_index(lib, out)  # no model arguments: the index keeps its own
    assert report.models["av"] == TINY
    assert report.embedded["pe_audio"] == 1 and report.embedded["pe_text"] == 1
    after = Recommender(out)
    assert after.manifest.views["pe_audio"].count == 5
    np.testing.assert_array_equal(_vector(after, "pe_audio", "hum.wav"), old)
    report = build_index(lib, out, av_model="none")
    assert "pe_audio" not in Recommender(out).manifest.views and "av" not in report.models


def test_calibration_fits_the_frame_fusion_with_pe_audio(av_index, video, tmp_path):
    import shutil

    from sfxkit.bridge.train import calibrate_index

    out = tmp_path / "idx"
    shutil.copytree(av_index[0], out)
    pairs = [(str(video), t, name) for t, name in ((0.5, "rain.wav"), (1.5, "hum.wav"))] * 4
    report = calibrate_index(out, pairs, target_precision=0.5, method="isotonic")
    assert report.fusion == {"clip_text": 1.0, "pe_audio": 1.0}
    assert "pe_audio" in report.fusion_chosen_on
    rec = Recommender(out)
    recs = rec.recommend(synth.draw_frame("red", 64), k=3)
    assert recs.confident is not None and recs.threshold is not None
    assert all(r.confidence is not None for r in recs)
    assert all(set(r.view_scores) == {"clip_text", "pe_audio"} for r in recs)


def test_untrained_views_are_never_fused_with_a_real_one(
    library, tmp_path, av_encoder, monkeypatch
):
    """A PE-AV checkpoint that is not a tiny model (here the tiny weights placed where `models
    pull` puts pe_av:large) next to tiny CLIP/CLAP: only the real view ranks, and the results
    are not labelled untrained."""
    weights = tmp_path / "weights"
    folder = weights / "pe_av" / "large"
    av_encoder.model.save_pretrained(folder)
    av_encoder.processor.save_pretrained(folder)
    monkeypatch.setenv("SFXKIT_WEIGHTS_DIR", str(weights))
    from sfxkit.models.registry import clear_cache

    try:
        report = build_index(library, tmp_path / "idx", models="tiny", sfx_model="none")
        assert report.models["av"] == "pe_av:large"  # auto: found, so built
        rec = Recommender(tmp_path / "idx")
        assert not rec.manifest.views["pe_audio"].untrained
        assert rec.manifest.get("weights_licences") == {"pe_av:large": "Apache-2.0"}
        for recs in (
            rec.recommend(synth.draw_frame("red", 64), k=3),
            rec.recommend_text("rain", k=3),
        ):
            assert recs and all(set(r.view_scores) <= {"pe_audio", "pe_text"} for r in recs)
            assert not any(r.untrained for r in recs)
    finally:
        clear_cache()  # the placed "pe_av:large" must not serve later tests


def test_cli_build_with_av_model_and_info_shows_the_licence(library, tmp_path):
    exe = str(Path(sys.executable).with_name("sfxkit"))
    env = {**os.environ, "SFXKIT_PROGRESS": "0"}
    out = tmp_path / "idx"
    args = [exe, "index", "build", str(library), "--out", str(out), "--models", "tiny"]
    done = subprocess.run(
        [*args, "--av-model", TINY, "--sfx-model", "none", "--json"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["embedded"]["pe_audio"] == 4
    info = subprocess.run(
        [exe, "index", "info", str(out)], capture_output=True, text=True, timeout=300, env=env
    )
    assert info.returncode == 0, info.stderr
    assert "pe_audio" in info.stdout and f"weights licences: {TINY}" in info.stdout
    bad = subprocess.run(
        [*args, "--av-model", "clap:tiny"], capture_output=True, text=True, timeout=300, env=env
    )
    assert bad.returncode == 2 and "not an audio-visual model" in bad.stderr


@pytest.mark.slow
def test_ray_engine_builds_the_same_view(library, tmp_path, av_index):
    pytest.importorskip("ray")
    report = build_index(
        library, tmp_path / "ray", models="tiny", av_model=TINY, sfx_model="none", engine="ray"
    )
    assert report.embedded["pe_audio"] == 4
    local, ray = Recommender(av_index[0]), Recommender(tmp_path / "ray")
    for name in ("rain.wav", "beep.wav"):
        for view in ("pe_audio", "pe_text"):
            np.testing.assert_allclose(
                _vector(ray, view, name), _vector(local, view, name), atol=2e-3
            )
