"""Real-weights loading, offline: search order, the real load paths, and the missing-weights error.

No pretrained weights exist here, so the tiny architectures are saved into exactly the layouts a
pull (or a Hugging Face download) produces, and loaded back through the same code as real models.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sfxkit.config import DEFAULT_AUDIO_MODEL, DEFAULT_FRAME_MODEL
from sfxkit.errors import ModelError, WeightsMissingError
from sfxkit.models import weights
from sfxkit.models.registry import (
    find_weights,
    load_audio_encoder,
    load_frame_encoder,
    parse_model_id,
)
from sfxkit.models.tiny import TINY_OPEN_CLIP_ARCH
from tests import synth
from tests.models.conftest import save_clap_dir, save_open_clip_checkpoint, save_open_clip_dir


def _cache() -> Path:
    from sfxkit.config import get_settings

    return get_settings().cache_dir / "weights"


def _frames():
    return [synth.draw_frame(k) for k in ("red", "circle", "checker")]


@pytest.mark.parametrize("model_id", [DEFAULT_FRAME_MODEL, DEFAULT_AUDIO_MODEL])
def test_missing_default_weights_say_what_where_and_how(model_id):
    loader = load_frame_encoder if model_id.startswith("open_clip") else load_audio_encoder
    with pytest.raises(WeightsMissingError) as err:
        loader(model_id)
    message = str(err.value)
    expected = weights.expected_path(parse_model_id(model_id))
    assert model_id in message
    assert str(expected) in message and str(expected).startswith(str(_cache()))
    assert f"sfxkit models pull {model_id}" in message
    assert "Hugging Face cache" in message  # every place searched is named


def test_missing_weights_name_the_weights_dir_too(tmp_path, monkeypatch):
    monkeypatch.setenv("SFXKIT_WEIGHTS_DIR", str(tmp_path / "shared"))
    with pytest.raises(WeightsMissingError) as err:
        load_frame_encoder(DEFAULT_FRAME_MODEL)
    assert str(tmp_path / "shared" / "open_clip" / "ViT-B-32" / "laion2b_s34b_b79k") in str(
        err.value
    )


def test_open_clip_checkpoint_in_the_cache_layout_loads_like_the_original(frame_encoder):
    model_id = f"open_clip:{TINY_OPEN_CLIP_ARCH}/seed0"
    spec = parse_model_id(model_id)
    target = weights.layout_path(spec, _cache()) / "open_clip_model.safetensors"
    save_open_clip_checkpoint(frame_encoder.model, target)
    loaded = load_frame_encoder(model_id, device="cpu")
    assert (
        loaded.model_id == model_id and not loaded.untrained
    )  # user weights are not labelled tiny
    assert loaded.model is not frame_encoder.model
    np.testing.assert_allclose(
        loaded.encode_images(_frames()), frame_encoder.encode_images(_frames()), atol=1e-6
    )
    np.testing.assert_allclose(
        loaded.encode_texts(["a red square"]),
        frame_encoder.encode_texts(["a red square"]),
        atol=1e-6,
    )
    where = find_weights(model_id)
    assert where.path == target and where.source == weights.SOURCE_CACHE


def test_weights_dir_is_searched_before_the_cache(frame_encoder, tmp_path, monkeypatch):
    model_id = f"open_clip:{TINY_OPEN_CLIP_ARCH}/order"
    spec = parse_model_id(model_id)
    shared = tmp_path / "shared"
    monkeypatch.setenv("SFXKIT_WEIGHTS_DIR", str(shared))
    in_cache = save_open_clip_checkpoint(
        frame_encoder.model, weights.layout_path(spec, _cache()) / "open_clip_model.safetensors"
    )
    assert find_weights(model_id).path == in_cache
    in_shared = save_open_clip_checkpoint(
        frame_encoder.model, weights.layout_path(spec, shared) / "open_clip_model.safetensors"
    )
    found = find_weights(model_id)
    assert found.path == in_shared and found.source == "SFXKIT_WEIGHTS_DIR"


def test_a_truncated_checkpoint_is_a_clear_model_error(frame_encoder):
    model_id = f"open_clip:{TINY_OPEN_CLIP_ARCH}/broken"
    target = weights.layout_path(parse_model_id(model_id), _cache()) / "open_clip_model.safetensors"
    save_open_clip_checkpoint(frame_encoder.model, target)
    target.write_bytes(target.read_bytes()[:1000])
    with pytest.raises(ModelError) as err:
        load_frame_encoder(model_id)
    assert str(target) in str(err.value) and f"sfxkit models pull {model_id}" in str(err.value)


def test_open_clip_local_dir_loads(frame_encoder, tmp_path):
    folder = save_open_clip_dir(frame_encoder.model, tmp_path / "my-clip")
    loaded = load_frame_encoder(f"open_clip:local-dir:{folder}")
    np.testing.assert_allclose(
        loaded.encode_images(_frames()), frame_encoder.encode_images(_frames()), atol=1e-6
    )


def test_open_clip_local_dir_without_weights_is_weights_missing(tmp_path):
    (tmp_path / "empty-clip").mkdir()
    with pytest.raises(WeightsMissingError) as err:
        load_frame_encoder(f"open_clip:local-dir:{tmp_path / 'empty-clip'}")
    assert str(tmp_path / "empty-clip") in str(err.value) and "open_clip_config.json" in str(
        err.value
    )


def test_clap_directory_in_the_cache_layout_loads_like_the_original(audio_encoder):
    model_id = "clap:acme/tiny-clap"
    folder = save_clap_dir(audio_encoder, weights.layout_path(parse_model_id(model_id), _cache()))
    assert folder == _cache() / "clap" / "acme--tiny-clap"
    loaded = load_audio_encoder(model_id, device="cpu")
    assert loaded.sample_rate == 48_000 and not loaded.untrained
    clips = [synth.tone(1000, 1.0)[0], synth.noise(2.5, seed=4)[0]]
    np.testing.assert_allclose(
        loaded.encode_audio(clips, sample_rate=48_000),
        audio_encoder.encode_audio(clips, sample_rate=48_000),
        atol=1e-5,
    )
    np.testing.assert_allclose(
        loaded.encode_texts(["a dog barking"]),
        audio_encoder.encode_texts(["a dog barking"]),
        atol=1e-5,
    )


def test_clap_from_a_local_path_and_from_the_hub_cache(audio_encoder, tmp_path, _private_hub_cache):
    # a save_pretrained directory named directly
    folder = save_clap_dir(audio_encoder, tmp_path / "clap-copy")
    local = load_audio_encoder(f"clap:{folder}")
    # the Hugging Face cache layout that transformers' own download leaves behind
    repo = _private_hub_cache / "models--acme--cached-clap"
    save_clap_dir(audio_encoder, repo / "snapshots" / "0123abcd")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    found = find_weights("clap:acme/cached-clap")
    assert found.source == weights.SOURCE_HF_CACHE and found.path == repo / "snapshots" / "0123abcd"
    cached = load_audio_encoder("clap:acme/cached-clap")
    text = ["footsteps on gravel"]
    np.testing.assert_allclose(
        local.encode_texts(text), audio_encoder.encode_texts(text), atol=1e-5
    )
    np.testing.assert_allclose(
        cached.encode_texts(text), audio_encoder.encode_texts(text), atol=1e-5
    )


def test_open_clip_checkpoint_in_the_hub_cache_is_found(frame_encoder, _private_hub_cache):
    # what open_clip's own downloader leaves for a tag: one checkpoint file in the repo snapshot
    spec = parse_model_id(DEFAULT_FRAME_MODEL)
    repo = _private_hub_cache / "models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K"
    snap = repo / "snapshots" / "feed"
    snap.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("feed")
    (snap / "open_clip_model.safetensors").write_bytes(b"x")
    found = weights.locate(spec)
    assert found is not None and found.source == weights.SOURCE_HF_CACHE
    assert found.path.name == "open_clip_model.safetensors"


def test_loading_never_touches_the_network(monkeypatch, audio_encoder):
    """With the hub switched online and a dead endpoint, a load still only reads local files."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    model_id = "clap:acme/offline-clap"
    save_clap_dir(audio_encoder, weights.layout_path(parse_model_id(model_id), _cache()))
    seen = []
    with weights.hub_offline():
        seen.append(constants.HF_HUB_OFFLINE)
    assert seen == [True] and constants.HF_HUB_OFFLINE is False  # restored afterwards
    assert load_audio_encoder(model_id).dim == 32


def test_a_pretrained_tags_normalisation_and_activation_apply_to_file_weights(
    frame_encoder, monkeypatch
):
    """Weights from a file still get their tag's preprocessing (mean/std) and QuickGELU."""
    import open_clip.pretrained

    tags = {
        "halfgrey": {
            "hf_hub": "acme/tiny-clip/",
            "mean": (0.5, 0.5, 0.5),
            "std": (0.5, 0.5, 0.5),
            "quick_gelu": True,
        }
    }
    monkeypatch.setitem(open_clip.pretrained._PRETRAINED, TINY_OPEN_CLIP_ARCH, tags)
    model_id = f"open_clip:{TINY_OPEN_CLIP_ARCH}/halfgrey"
    spec = parse_model_id(model_id)
    assert spec.hf_repo == "acme/tiny-clip"
    save_open_clip_checkpoint(
        frame_encoder.model, weights.layout_path(spec, _cache()) / "open_clip_model.safetensors"
    )
    loaded = load_frame_encoder(model_id)
    normalise = loaded.transform.transforms[-1]
    assert tuple(normalise.mean) == (0.5, 0.5, 0.5) and tuple(normalise.std) == (0.5, 0.5, 0.5)
    assert any(type(m).__name__ == "QuickGELU" for m in loaded.model.modules())
    # same weights, different activation and normalisation: different vectors
    assert not np.allclose(
        loaded.encode_images(_frames()), frame_encoder.encode_images(_frames()), atol=1e-3
    )


def test_laion_clap_without_its_package_names_the_extra(monkeypatch):
    import sys

    from sfxkit.errors import MissingExtraError

    monkeypatch.setitem(sys.modules, "laion_clap", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'sfxkit\[laion-clap\]'"):
        load_audio_encoder("laion_clap:630k-audioset-best.pt")
    from sfxkit.models.registry import pull

    with pytest.raises(MissingExtraError):
        pull("laion_clap:630k-audioset-best.pt")


class _Payload:
    pass


def test_laion_clap_checkpoints_are_read_safely(tmp_path):
    """Only tensors load (weights_only); the architecture is read off the keys."""
    import torch

    from sfxkit.models.laionclap import architecture, read_checkpoint

    good = tmp_path / "good.pt"
    torch.save(
        {
            "epoch": 3,
            "state_dict": {
                "module.audio_branch.patch_embed.proj.weight": torch.zeros(128, 1, 4, 4)
            },
        },
        good,
    )
    state = read_checkpoint(good)
    assert list(state) == ["audio_branch.patch_embed.proj.weight"]
    assert architecture(state) == ("HTSAT-base", False)

    bad = tmp_path / "bad.pt"
    # an arbitrary object: unpickling it means running code of the file's choosing
    torch.save({"state_dict": {"x": torch.zeros(1)}, "obj": _Payload()}, bad)
    with pytest.raises(ModelError, match="would run code") as err:
        read_checkpoint(bad)
    assert str(bad) in str(err.value) and "weights_only" not in str(err.value)


def test_mmaudio_weights_are_reported_from_the_mmaudio_file_table(monkeypatch, tmp_path):
    from sfxkit.models import mmaudio_files

    files = {
        "network": tmp_path / "weights" / "mmaudio" / "a.pth",
        "vae": tmp_path / "weights" / "mmaudio" / "ext" / "b.pth",
    }

    def locate(variant):
        if variant != "small_16k":
            raise WeightsMissingError(f"mmaudio:{variant}", tmp_path)
        return files

    monkeypatch.setattr(mmaudio_files, "locate", locate)
    found = find_weights("mmaudio:small_16k")
    assert found.path == tmp_path / "weights" / "mmaudio"
    assert find_weights("mmaudio:large_44k_v2") is None
    assert find_weights("mmaudio:tiny_16k").source == weights.SOURCE_BUILT_IN
