"""PE-AV (``pe_av:*``): ids, the tiny model, equality with transformers' own embeddings, weights
resolution and strict loading of checkpoints in the hub layout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sfxkit.errors import ModelError


@pytest.fixture(scope="module")
def av_encoder():
    from sfxkit.models.registry import build_encoder, parse_model_id

    return build_encoder(parse_model_id("pe_av:tiny"), device="cpu")


def _waves(n: int = 3) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    # different lengths, one longer than the 10 s the view takes, one not a multiple of the hop
    lengths = [48_000, 30_001, 48_000 * 11][:n]
    return [(0.1 * rng.standard_normal(k)).astype(np.float32) for k in lengths]


def _clips() -> list[list[np.ndarray]]:
    rng = np.random.default_rng(2)
    frames = [rng.integers(0, 255, (40, 56, 3), dtype=np.uint8) for _ in range(4)]
    return [frames, frames[:1], frames[1:3]]


def save_hub_dir(encoder, folder: Path) -> Path:
    """A PE-AV snapshot as transformers writes it (config, safetensors, processor files)."""
    folder.mkdir(parents=True, exist_ok=True)
    encoder.model.save_pretrained(folder)
    encoder.processor.save_pretrained(folder)
    return folder


# ----------------------------------------------------------------------------- ids


def test_every_hub_size_has_an_id_with_its_licence() -> None:
    from sfxkit.models.registry import PE_AV_MODEL, is_default, list_models, parse_model_id

    specs = {s.id: s for s in list_models() if s.family == "pe_av"}
    sizes = {"small", "base", "large"}
    want = {f"pe_av:{s}" for s in sizes} | {f"pe_av:{s}-16-frame" for s in sizes} | {"pe_av:tiny"}
    assert set(specs) == want
    for spec in specs.values():
        assert spec.kind == "av"
        if spec.tiny:
            assert "random" in spec.licence
        else:
            assert spec.licence == "Apache-2.0"
            assert spec.hf_repo == f"facebook/pe-av-{spec.name}"
    assert is_default(PE_AV_MODEL) and PE_AV_MODEL == "pe_av:large"
    assert parse_model_id("pe_av:facebook/pe-av-small").id == "pe_av:small"
    with pytest.raises(ModelError, match="small, base, large"):
        parse_model_id("pe_av:huge")


def test_av_models_are_refused_by_the_other_loaders() -> None:
    from sfxkit.models.registry import load_audio_encoder

    with pytest.raises(ModelError, match="load_av_encoder"):
        load_audio_encoder("pe_av:tiny")


def test_models_list_shows_the_pe_av_licence() -> None:
    exe = Path(sys.executable).with_name("sfxkit")
    out = subprocess.run(
        [str(exe), "models", "list", "--kind", "av", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SFXKIT_PROGRESS": "0"},
    )
    assert out.returncode == 0, out.stderr
    rows = {r["id"]: r for r in json.loads(out.stdout)}
    assert rows["pe_av:large"]["licence"] == "Apache-2.0" and rows["pe_av:large"]["default"]
    assert rows["pe_av:large"]["found"] is None  # nothing pulled in the private cache
    assert rows["pe_av:tiny"]["tiny"]


# ----------------------------------------------------------------------------- equality


def test_vectors_are_transformers_own_embeddings(av_encoder) -> None:
    """sfxkit's audio, video and text vectors equal the model's own embeddings of the same
    processor output (get_audio_embeds; the forward pass, and the library methods where the
    installed transformers has them)."""
    import torch

    enc = av_encoder
    waves = _waves()
    texts = ["dog barking", "rain on a tin roof", "door slam"]
    clips = _clips()
    audio = enc.encode_audio(waves, sample_rate=48_000, batch_size=2)
    video = enc.encode_videos(clips)
    text = enc.encode_texts(texts)
    assert audio.shape == video.shape == text.shape == (3, enc.dim)

    # the same inputs through transformers' processor, by hand: first 10 s, 48 kHz
    cut = [w[: 10 * 48_000] for w in waves]
    fe = enc.processor.feature_extractor(
        cut, sampling_rate=48_000, padding=True, return_tensors="pt"
    )
    vi = enc.processor.video_processor(videos=clips, return_tensors="pt")
    tok = enc.processor.tokenizer(texts, padding=True, return_tensors="pt")
    model = enc.model

    def unit(x):
        x = x.float()
        return (x / x.norm(dim=-1, keepdim=True)).numpy()

    with torch.no_grad():
        direct = model.get_audio_embeds(fe["input_values"], padding_mask=fe["padding_mask"])
        out = model(
            input_ids=tok["input_ids"],
            attention_mask=tok["attention_mask"],
            input_values=fe["input_values"],
            padding_mask=fe["padding_mask"],
            pixel_values_videos=vi["pixel_values_videos"],
            padding_mask_videos=vi.get("padding_mask_videos"),
        )
    np.testing.assert_allclose(audio, unit(direct), atol=2e-6)
    np.testing.assert_allclose(audio, unit(out.audio_embeds), atol=2e-6)
    np.testing.assert_allclose(video, unit(out.video_embeds), atol=2e-6)
    np.testing.assert_allclose(text, unit(out.text_audio_embeds), atol=2e-6)
    if hasattr(model.video_model, "get_video_embeds"):  # broken in transformers 5.25
        with torch.no_grad():
            lib = model.get_video_embeds(
                vi["pixel_values_videos"], padding_mask_videos=vi.get("padding_mask_videos")
            )
        np.testing.assert_allclose(video, unit(lib), atol=2e-6)
    # different inputs give different vectors: the comparison above can fail
    assert not np.allclose(audio[0], audio[1], atol=1e-3)
    assert not np.allclose(video[0], video[1], atol=1e-3)


def test_a_frame_is_a_still_clip_and_long_sounds_are_cut(av_encoder) -> None:
    enc = av_encoder
    frame = _clips()[0][0]
    np.testing.assert_allclose(enc.encode_images([frame]), enc.encode_videos([[frame]]), atol=1e-6)
    long = _waves()[2]  # 11 s
    ten = long[: 10 * 48_000]
    np.testing.assert_allclose(
        enc.encode_audio([long], sample_rate=48_000),
        enc.encode_audio([ten], sample_rate=48_000),
        atol=1e-6,
    )
    # resampled to the model's rate through sfxkit's resampler: a 24 kHz copy lands close
    from sfxkit.media.audio import resample

    half = resample(ten[:48_000], 48_000, 24_000)[0]
    a = enc.encode_audio([ten[:48_000]], sample_rate=48_000)
    b = enc.encode_audio([half], sample_rate=24_000)
    assert float(a[0] @ b[0]) > 0.9


def test_tiny_is_seeded_and_labelled_untrained(av_encoder) -> None:
    from sfxkit.models.base import describe_model
    from sfxkit.models.peav import build_tiny_pe_av

    model, _ = build_tiny_pe_av()
    a = dict(model.state_dict())
    b = av_encoder.model.state_dict()
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in list(b)[:40])
    assert "UNTRAINED" in describe_model(av_encoder)


# ----------------------------------------------------------------------------- weights


def test_pulled_layout_and_hub_cache_load_strictly(av_encoder, tmp_path, monkeypatch) -> None:
    from sfxkit.models import weights
    from sfxkit.models.registry import clear_cache, find_weights, load_av_encoder

    root = tmp_path / "weights"
    save_hub_dir(av_encoder, root / "pe_av" / "large")
    monkeypatch.setenv("SFXKIT_WEIGHTS_DIR", str(root))
    found = find_weights("pe_av:large")
    assert found.source == weights.SOURCE_WEIGHTS_DIR and found.path == root / "pe_av" / "large"
    enc = load_av_encoder("pe_av:large")
    assert not enc.untrained and enc.licence == "Apache-2.0"
    waves = _waves(2)
    np.testing.assert_allclose(
        enc.encode_audio(waves, sample_rate=48_000),
        av_encoder.encode_audio(waves, sample_rate=48_000),
        atol=1e-6,
    )
    clear_cache()

    # the Hugging Face cache that transformers downloads into counts too
    monkeypatch.delenv("SFXKIT_WEIGHTS_DIR")
    from huggingface_hub import constants

    repo = Path(constants.HF_HUB_CACHE) / "models--facebook--pe-av-small"
    save_hub_dir(av_encoder, repo / "snapshots" / "abc123")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    assert find_weights("pe_av:small").source == weights.SOURCE_HF_CACHE
    assert find_weights("pe_av:large") is None


def test_missing_weights_say_how_to_pull() -> None:
    from sfxkit.errors import WeightsMissingError
    from sfxkit.models.registry import load_av_encoder

    with pytest.raises(WeightsMissingError, match="sfxkit models pull pe_av:base"):
        load_av_encoder("pe_av:base")


@pytest.mark.parametrize("damage", ["missing", "unexpected", "shape"])
def test_checkpoints_that_do_not_fit_are_refused(av_encoder, tmp_path, damage) -> None:
    from safetensors.torch import load_file, save_file

    from sfxkit.models.peav import load_pe_av_dir

    folder = save_hub_dir(av_encoder, tmp_path / "pe_av")
    path = folder / "model.safetensors"
    tensors = load_file(str(path))
    key = "audio_model.audio_head.proj.weight"
    if damage == "missing":
        del tensors[key]
        expect = f"1 missing: {key}"
    elif damage == "unexpected":
        tensors["audio_model.extra_head.weight"] = tensors[key].clone()
        expect = "1 unexpected: audio_model.extra_head.weight"
    else:
        tensors[key] = tensors[key][:, :-1].contiguous()
        expect = "1 wrong shape: " + key
    save_file(tensors, str(path), metadata={"format": "pt"})
    with pytest.raises(ModelError) as err:
        load_pe_av_dir(folder, model_id="pe_av:large", device="cpu")
    assert str(path) in str(err.value) and expect in str(err.value)


@pytest.mark.slow
def test_real_size_checkpoint_in_hub_layout_loads(av_encoder, tmp_path) -> None:
    """pe-av-small's real shapes and key names (from the model on the meta device), random
    values, saved as transformers does (tied copies once): found, checked, loaded, run."""
    import torch
    from safetensors.torch import save_file
    from transformers import PeAudioVideoConfig, PeAudioVideoModel

    from sfxkit.models.peav import _tied_patterns, expected_tensors
    from sfxkit.models.registry import load_av_encoder

    config = pe_av_small_config(PeAudioVideoConfig)
    folder = tmp_path / "weights" / "pe_av" / "small"
    folder.mkdir(parents=True)
    config.save_pretrained(folder)
    av_encoder.processor.save_pretrained(folder)
    shapes, _ = expected_tensors(config)
    tied = _tied_patterns(PeAudioVideoModel)
    gen = torch.Generator().manual_seed(0)
    tensors = {
        k: (torch.randn(s, generator=gen) * 0.02).to(torch.bfloat16)
        for k, s in shapes.items()
        if not any(p.search(k) for p in tied)
    }
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    del tensors
    os.environ["SFXKIT_WEIGHTS_DIR"] = str(tmp_path / "weights")
    try:
        enc = load_av_encoder("pe_av:small")
        assert enc.dim == 1024
        vec = enc.encode_audio(_waves(1), sample_rate=48_000)
        assert vec.shape == (1, 1024) and np.isfinite(vec).all()
    finally:
        os.environ.pop("SFXKIT_WEIGHTS_DIR", None)


def pe_av_small_config(config_cls):
    """pe-av-small as its model card's config describes it: audio 12 x 768, video 4 x 768,
    fusion 6 x 768 (head_dim 128), ModernBERT 22 x 1024, PE-core ViT-L/14 at 336 px."""
    block = dict(hidden_size=768, num_attention_heads=6, head_dim=128)
    return config_cls(
        audio_video_config=dict(
            **block,
            num_hidden_layers=6,
            audio_config=dict(**block, num_hidden_layers=12),
            video_config=dict(**block, num_hidden_layers=4, vision_config=dict(num_labels=1024)),
        )
    )
