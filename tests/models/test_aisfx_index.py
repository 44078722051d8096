"""The sfx_audio view: built when aiSFX weights are present, recorded, and the "more like this"
fusion rule (a tiny model's view is never fused with a real model's)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sfxkit.errors import IndexMismatchError
from sfxkit.index.build import build_index
from sfxkit.recommender import Recommender
from tests import synth


def place_aisfx_weights(root: Path) -> Path:
    """Full-size aiSFX weights (seeded random values) where `sfxkit models pull aisfx` puts
    them: sfxkit cannot tell them from the pretrained file, so they stand in for it offline."""
    import torch
    from safetensors.torch import save_file

    from sfxkit.models.aisfx import build_aisfx_net

    torch.manual_seed(0)
    state = {k: v for k, v in build_aisfx_net().state_dict().items() if "num_batches" not in k}
    target = root / "aisfx" / "x-sequential-ce" / "model.safetensors"
    target.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, target)
    return root


@pytest.fixture(scope="module")
def real_weights_dir(tmp_path_factory) -> Path:
    return place_aisfx_weights(tmp_path_factory.mktemp("weights"))


@pytest.fixture
def with_aisfx(real_weights_dir, monkeypatch) -> Path:
    monkeypatch.setenv("SFXKIT_WEIGHTS_DIR", str(real_weights_dir))
    return real_weights_dir


@pytest.fixture(scope="module")
def small_library(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lib")
    synth.write_audio(root / "rain_a.wav", synth.noise(2.0, seed=1, band=(2000, 9000)))
    synth.write_audio(root / "rain_b.wav", synth.noise(2.0, seed=2, band=(2000, 9000)))
    synth.write_audio(root / "beep.wav", synth.tone(1000, 1.0))
    synth.write_audio(root / "hum.wav", synth.tone(80, 2.0) + synth.tone(160, 2.0, amp=0.2))
    synth.write_audio(root / "clicks.wav", synth.clicks(2.0, 6.0))
    return root


def _query(library: Path) -> Path:
    return library / "rain_a.wav"


def test_a_build_without_aisfx_weights_is_as_before(small_library, tmp_path):
    report = build_index(small_library, tmp_path / "idx", models="tiny")  # sfx_model="auto"
    rec = Recommender(tmp_path / "idx")
    assert set(rec.manifest.views) == {"clip_text", "clap_audio", "clap_text"}
    assert set(report.models) == {"frame", "audio"} and not report.notes
    recs = rec.recommend_audio(synth.noise(1.0, seed=9)[0], k=3, sample_rate=synth.SR)
    assert recs and all(set(r.view_scores) == {"clap_audio"} for r in recs)


def test_tiny_aisfx_view_is_recorded_and_fused_with_tiny_clap(small_library, tmp_path):
    report = build_index(small_library, tmp_path / "idx", models="tiny", sfx_model="aisfx:tiny")
    rec = Recommender(tmp_path / "idx")
    view = rec.manifest.views["sfx_audio"]
    assert (view.model, view.dim, view.count, view.untrained) == ("aisfx:tiny", 64, 5, True)
    assert report.models["sfx"] == "aisfx:tiny" and report.embedded["sfx_audio"] == 5
    recs = rec.recommend_audio(_query(small_library), k=4)
    assert len(recs) == 4 and "rain_a.wav" not in {Path(r.path).name for r in recs}
    for r in recs:  # both untrained: fused with equal weights
        assert set(r.view_scores) == {"sfx_audio", "clap_audio"}
        assert r.score == pytest.approx(np.mean(list(r.view_scores.values())), abs=1e-5)


def test_an_index_of_the_old_aisfx_input_is_refused_for_queries_and_re_embedded(
    small_library, tmp_path, monkeypatch
):
    """sfx_audio vectors of another input layout are never compared with new queries, and a
    rebuild re-embeds them all; an index that recorded no front end (written before it was
    recorded) holds the default's vectors and is used as it is."""
    import sfxkit.models.aisfx as aisfx
    from sfxkit.models.aisfx import same_frontend

    assert same_frontend("", aisfx.FRONTEND) and not same_frontend("aisfx-clip-peak-v1", "")
    monkeypatch.setattr(aisfx, "FRONTEND", "aisfx-clip-peak-v1")  # another sfxkit's input
    build_index(small_library, tmp_path / "idx", models="tiny", sfx_model="aisfx:tiny")
    view = Recommender(tmp_path / "idx").manifest.views["sfx_audio"]
    assert view.frontend == "aisfx-clip-peak-v1"
    with pytest.raises(IndexMismatchError, match="rebuild the index") as err:
        Recommender(tmp_path / "idx").recommend_audio(_query(small_library), k=2)
    assert "aisfx-clip-peak-v1" in str(err.value) and "aisfx-blocks-raw-v1" in str(err.value)
    monkeypatch.undo()
    report = build_index(small_library, tmp_path / "idx", models="tiny", sfx_model="aisfx:tiny")
    # every sfx_audio vector embedded again; the CLAP views' are carried over
    assert report.embedded["sfx_audio"] == 5 and report.embedded["clap_audio"] == 0
    rec = Recommender(tmp_path / "idx")
    assert rec.manifest.views["sfx_audio"].frontend == aisfx.FRONTEND == "aisfx-blocks-raw-v1"
    assert len(rec.recommend_audio(_query(small_library), k=2)) == 2


def test_real_aisfx_ranks_alone_on_a_tiny_index(small_library, tmp_path, with_aisfx):
    report = build_index(
        small_library, tmp_path / "idx", models="tiny", sfx_model="aisfx:x-sequential-ce"
    )
    assert report.models["sfx"] == "aisfx:x-sequential-ce"
    rec = Recommender(tmp_path / "idx")
    view = rec.manifest.views["sfx_audio"]
    assert (view.dim, view.untrained) == (512, False)
    assert rec.manifest.views["clap_audio"].untrained
    # every member shown: the synthetic noises are near-duplicates to aiSFX
    recs = rec.recommend_audio(_query(small_library), k=4, dedupe=False)
    assert [set(r.view_scores) for r in recs] == [{"sfx_audio"}] * 4
    assert not any(r.untrained for r in recs)
    # the order is aiSFX's own: cosine to the query in the sfx_audio view
    enc = rec.encoder("sfx")
    from sfxkit.media.audio import load_audio

    q = enc.encode_audio([load_audio(_query(small_library)).samples], sample_rate=synth.SR)[0]
    vecs = rec.index.vectors("sfx_audio")
    rows = rec.index.rows
    expected = [
        rows["path"].iloc[i]
        for i in np.argsort(-(vecs.vectors @ q))
        if Path(rows["path"].iloc[i]).name != "rain_a.wav"
    ][:4]
    assert [r.path for r in recs] == expected


@pytest.mark.slow
def test_without_clip_and_clap_weights_the_build_says_what_works(
    small_library, tmp_path, with_aisfx
):
    out = tmp_path / "idx"
    exe = Path(sys.executable).with_name("sfxkit")
    proc = subprocess.run(
        [str(exe), "index", "build", str(small_library), "--out", str(out), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    said = " ".join(proc.stdout.split())
    assert "weights not found for CLIP" in said and "CLAP" in said
    assert "Works: audio 'more like this'" in said and "need CLIP" in said
    rec = Recommender(out)
    assert set(rec.manifest.views) == {"sfx_audio"}
    assert rec.manifest.models == {"sfx": "aisfx:x-sequential-ce"}
    recs = rec.recommend_audio(_query(small_library), k=2)
    assert len(recs) == 2 and not recs[0].untrained
    with pytest.raises(IndexMismatchError, match="frame queries need CLIP"):
        rec.recommend(synth.draw_frame("red"), k=1)
    with pytest.raises(IndexMismatchError, match="text queries need CLAP"):
        rec.recommend_text("rain", k=1)


def test_models_tiny_means_tiny_aisfx_even_with_aisfx_pulled(small_library, tmp_path, with_aisfx):
    """`index build --models tiny` with the aiSFX weights pulled: the index gets the tiny aiSFX
    (it used to get the real one, and `--models tiny` commands then refused the index, telling
    the user to build with --models tiny); a command with --models tiny accepts it."""
    from sfxkit.cli.options import check_index_models

    out = tmp_path / "idx"
    exe = Path(sys.executable).with_name("sfxkit")
    proc = subprocess.run(
        [str(exe), "index", "build", str(small_library), "--out", str(out), "--models", "tiny"]
        + ["--no-progress"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert Recommender(out).manifest.models == {
        "frame": "open_clip:tiny",
        "audio": "clap:tiny",
        "sfx": "aisfx:tiny",
    }
    check_index_models(out, "tiny", "soundtrack")
    # An index with the real aiSFX beside tiny CLIP and CLAP is fine for --models tiny too.
    real = tmp_path / "real"
    build_index(small_library, real, models="tiny", sfx_model="aisfx:x-sequential-ce")
    check_index_models(real, "tiny", "soundtrack")


def test_python_build_warns_when_views_are_left_out(small_library, tmp_path, with_aisfx):
    """build_index() without CLIP/CLAP weights says so at build time (a warning naming what
    works and what does not), as the CLI prints a note, instead of a later failure."""
    from sfxkit.errors import MissingViewsWarning

    with pytest.warns(MissingViewsWarning, match="weights not found for CLIP.*need CLIP"):
        build_index(small_library, tmp_path / "idx", models="default")
