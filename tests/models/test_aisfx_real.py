"""The pretrained aiSFX network against the reference package (needs the pulled weights).

sfxkit models pull aisfx --dest /path/to/weights
SFXKIT_REAL_WEIGHTS_TEST=1 SFXKIT_WEIGHTS_DIR=/path/to/weights pytest -m real_weights -k aisfx
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from sfxkit.models import weights
from sfxkit.models.registry import AISFX_MODEL, load_sfx_encoder, parse_model_id
from tests import synth
from tests.models.aisfx_clips import SR, clips

pytestmark = pytest.mark.real_weights
GOLDEN = Path(__file__).parent / "golden" / "aisfx_real.safetensors"


def require_aisfx_weights() -> None:
    """Skip, saying why, unless SFXKIT_WEIGHTS_DIR holds the converted aiSFX weights."""
    raw = os.environ.get("SFXKIT_WEIGHTS_DIR")
    if not raw or not os.environ.get("SFXKIT_REAL_WEIGHTS_TEST"):
        pytest.skip(
            "aiSFX weights not provided (run: sfxkit models pull aisfx --dest DIR; then "
            "SFXKIT_REAL_WEIGHTS_TEST=1 SFXKIT_WEIGHTS_DIR=DIR pytest -m real_weights -k aisfx)"
        )
    root = Path(raw).expanduser()
    spec = parse_model_id(AISFX_MODEL)
    if weights.locate(spec, roots=[(root, "SFXKIT_WEIGHTS_DIR")], library_cache=False) is None:
        pytest.skip(
            f"SFXKIT_WEIGHTS_DIR lacks {weights.layout_path(spec, root)} (the aiSFX pull failed "
            f"or was not run: sfxkit models pull aisfx --dest {root})"
        )


@pytest.fixture(scope="module")
def encoder():
    require_aisfx_weights()
    return load_sfx_encoder(AISFX_MODEL, device="cpu")


@pytest.fixture(scope="module")
def golden() -> dict:
    from safetensors.numpy import load_file

    return load_file(str(GOLDEN))


@pytest.mark.parametrize("name", sorted(clips()))
def test_pretrained_embeddings_match_the_reference_package(encoder, golden, name):
    """Both layouts against the reference code path each follows (see tests/models/
    test_aisfx.py): the default Essentia-path blocks, and the librosa path's clip layout."""
    from sfxkit.models.aisfx import AisfxEncoder

    audio = clips()[name]
    assert encoder.dim == 512 and not encoder.untrained and encoder.layout == "blocks"
    clip = AisfxEncoder(
        encoder.model, model_id="aisfx", device="cpu", layout="clip", peak_normalise=True
    )
    clip_emb = clip.encode_audio([audio], sample_rate=SR)[0]
    np.testing.assert_allclose(clip_emb, golden[f"{name}.clip_embedding"], atol=1e-4)
    blocks = encoder.blocks(audio, sample_rate=SR)
    ref = golden[f"{name}.blocks"]
    np.testing.assert_allclose(encoder.embed_blocks(blocks), ref, rtol=1e-4, atol=1e-4)
    emb = encoder.encode_audio([audio], sample_rate=SR)[0]
    np.testing.assert_allclose(emb, golden[f"{name}.embedding"], atol=1e-4)


def test_pretrained_model_hears_that_two_rains_are_alike(encoder):
    rain_a = synth.noise(3.0, sr=SR, seed=1, band=(2000, 9000))[0]
    rain_b = synth.noise(3.0, sr=SR, seed=2, band=(2000, 9000))[0]
    beep = synth.tone(1000, 3.0, sr=SR)[0]
    v = encoder.encode_audio([rain_a, rain_b, beep], sample_rate=SR)
    assert float(v[0] @ v[1]) > float(v[0] @ v[2]) + 0.05


def test_more_like_this_on_a_tiny_index_ranks_by_the_pretrained_model(tmp_path):
    require_aisfx_weights()
    from sfxkit.index.build import build_index
    from sfxkit.recommender import Recommender

    lib = tmp_path / "lib"
    synth.write_audio(lib / "rain_a.wav", synth.noise(3.0, seed=1, band=(2000, 9000)))
    synth.write_audio(lib / "rain_b.wav", synth.noise(3.0, seed=2, band=(2000, 9000)))
    synth.write_audio(lib / "beep.wav", synth.tone(1000, 2.0))
    synth.write_audio(lib / "hum.wav", synth.tone(80, 3.0) + synth.tone(160, 3.0, amp=0.2))
    # tiny CLIP/CLAP, the real aiSFX (models="tiny" alone means the tiny aiSFX too)
    report = build_index(lib, tmp_path / "idx", models="tiny", sfx_model=AISFX_MODEL)
    assert report.models["sfx"] == AISFX_MODEL
    rec = Recommender(tmp_path / "idx")
    assert not rec.manifest.views["sfx_audio"].untrained
    # dedupe=False: to aiSFX the two stationary noises are near-duplicates (one group)
    recs = rec.recommend_audio(lib / "rain_a.wav", k=3, dedupe=False)
    assert all(set(r.view_scores) == {"sfx_audio"} and not r.untrained for r in recs)
    assert Path(recs[0].path).name == "rain_b.wav"
