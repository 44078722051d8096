"""MMAudio conditions: Synchformer and CLIP features, frame preprocessing, the FeatureExtractor.

Golden files come from the reference implementation (scripts/mmaudio_golden_codecs.py): uint8
frames go through the reference demo's transforms and ``FeaturesUtils.encode_video_with_*``; the
port must reproduce both the preprocessing and the features from the same state dict.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from sfxkit.errors import ConfigError, InputError, ModelError, WeightsMissingError
from sfxkit.generation.mmaudio import clip, synchformer
from sfxkit.generation.mmaudio.dims import TINY
from sfxkit.generation.mmaudio.features import (
    FeatureExtractor,
    FeatureFiles,
    build_feature_extractor,
    clip_frames,
    sync_frames,
)

GOLDEN = Path(__file__).parent / "golden"
TOL = 1e-4


def load_golden(name: str) -> tuple[dict, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    from safetensors import safe_open

    with safe_open(str(GOLDEN / name), "pt") as handle:
        config = json.loads(handle.metadata()["config"])
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118
    state = {
        k.removeprefix("state."): v.float() for k, v in tensors.items() if k.startswith("state.")
    }
    return config, state, tensors


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape
    return float((a - b).abs().max())


def video_frames(n: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """``(n, height, width, 3)`` uint8 frames: moving colour gradients with a bright square."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    out = np.empty((n, height, width, 3), np.uint8)
    for i in range(n):
        phase = rng.uniform(0, 2 * np.pi, 3)
        for c in range(3):
            out[i, ..., c] = (
                127.5 + 120 * np.sin(xx / (9 + 4 * c) + yy / 13 + phase[c] + i / 5)
            ).astype(np.uint8)
        top, left = (i * 3) % max(1, height - 8), (i * 5) % max(1, width - 8)
        out[i, top : top + 8, left : left + 8] = 255
    return out


@pytest.fixture(scope="module")
def tiny16() -> FeatureExtractor:
    return build_feature_extractor("16k", tiny=True, seed=0)


def _extractor_with(**parts) -> FeatureExtractor:
    base = build_feature_extractor("16k", tiny=True, need_conditions=False)
    return FeatureExtractor(
        mode="16k", dims=TINY["16k"], tiny=True, vae=base.vae, vocoder=base.vocoder, **parts
    )


# ----------------------------------------------------------------------------- Synchformer
def test_synchformer_features_match_reference() -> None:
    config, state, t = load_golden("features_synchformer.safetensors")
    model = synchformer.Synchformer(synchformer.SynchformerConfig(**config))
    skipped = synchformer.load_synchformer_weights(model, state, source="golden")
    assert skipped == [
        "vfeat_extractor.patch_embed.proj.bias",
        "vfeat_extractor.patch_embed.proj.weight",
    ]
    frames = t["input.frames"].numpy()  # (24, 30, 40, 3) uint8, landscape
    x = sync_frames(frames)
    assert x.shape == (24, 3, 224, 224)
    assert max_diff(x[:, :, ::16, ::16], t["output.preprocessed_sample"]) <= 1e-6
    extractor = _extractor_with(synchformer=model)
    for batch_size in (-1, 1, 3):  # windows per forward pass must not change the numbers
        feats = extractor.encode_video_with_sync(x[None], batch_size=batch_size)
        assert feats.shape == (1, 2 * 8, 32)  # (24 - 16) // 8 + 1 = 2 windows of 8 tokens
        assert max_diff(feats, t["output.features"]) <= TOL


def test_synchformer_checkpoint_keys_other_branches_are_accounted_for() -> None:
    config, state, _ = load_golden("features_synchformer.safetensors")
    cfg = synchformer.SynchformerConfig(**config)
    # The released file also holds the audio branch and the sync transformer: set aside.
    full = {
        **state,
        "afeat_extractor.blocks.0.attn.qkv.weight": torch.zeros(2, 2),
        "transformer.OFF_tok": torch.zeros(1, 1, 2),
        "vproj.weight": torch.zeros(2, 2),
    }
    skipped = synchformer.load_synchformer_weights(synchformer.Synchformer(cfg), full, source="x")
    assert (
        "transformer.OFF_tok" in skipped and "afeat_extractor.blocks.0.attn.qkv.weight" in skipped
    )
    with pytest.raises(ModelError, match="unexpected tensor 'vfeat_extractor.head.weight'"):
        synchformer.load_synchformer_weights(
            synchformer.Synchformer(cfg),
            {**state, "vfeat_extractor.head.weight": torch.zeros(2)},
            source="x",
        )
    no_stem = {k: v for k, v in state.items() if "patch_embed.proj" not in k}
    with pytest.raises(ModelError, match="missing tensor 'vfeat_extractor.patch_embed.proj"):
        synchformer.load_synchformer_weights(synchformer.Synchformer(cfg), no_stem, source="x")


def test_real_synchformer_layout() -> None:
    with torch.device("meta"):
        model = synchformer.Synchformer(synchformer.REAL_SYNCHFORMER)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes["vfeat_extractor.patch_embed_3d.proj.weight"] == (768, 3, 2, 16, 16)
    assert shapes["vfeat_extractor.pos_embed"] == (1, 197, 768)
    assert shapes["vfeat_extractor.temp_embed"] == (1, 8, 768)
    assert shapes["vfeat_extractor.blocks.11.timeattn.qkv.weight"] == (2304, 768)
    assert shapes["vfeat_extractor.spatial_attn_agg.self_attn.in_proj_weight"] == (2304, 768)
    assert shapes["vfeat_extractor.spatial_attn_agg.cls_token"] == (1, 1, 768)


# ----------------------------------------------------------------------------- CLIP
def test_clip_features_match_reference() -> None:
    import open_clip

    config, state, t = load_golden("features_clip.safetensors")
    model = open_clip.CLIP(**config)
    model.load_state_dict(state, strict=True)
    encoder = clip.ClipEncoder(model.eval(), clip.get_tokenizer())
    x = clip_frames(t["input.frames"].numpy())
    assert x.shape == (3, 3, 384, 384) and float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    assert max_diff(x[:, :, ::24, ::24], t["output.preprocessed_sample"]) <= 1e-6
    extractor = _extractor_with(clip=encoder)
    feats = extractor.encode_video_with_clip(x[None], batch_size=2)
    assert feats.shape == (1, 3, 64)
    assert max_diff(feats, t["output.image_features"]) <= TOL
    with torch.inference_mode():
        states = encoder.encode_tokens(t["input.tokens"])
    assert states.shape == (2, 77, 32)
    assert max_diff(states, t["output.text_states"]) <= TOL


def test_text_states_are_per_token_and_unit_norm(tiny16: FeatureExtractor) -> None:
    states = tiny16.encode_text(["a dog barks twice", "rain on a tin roof"])
    assert states.shape == (2, 77, TINY["16k"].text_dim)
    assert torch.allclose(states.norm(dim=-1), torch.ones(2, 77), atol=1e-5)
    # Different prompts differ token by token from the first word on; the start token does not.
    assert torch.allclose(states[0, 0], states[1, 0], atol=1e-6)
    assert not torch.allclose(states[0, 1], states[1, 1])
    with pytest.raises(InputError, match="list of prompts"):
        tiny16.encode_text("a dog")  # type: ignore[arg-type]


def test_dfn5b_loader_names_missing_files(tmp_path: Path) -> None:
    with pytest.raises(WeightsMissingError) as err:
        clip.load_dfn5b_clip(tmp_path, model_id="mmaudio:large_44k_v2")
    assert "open_clip_config.json" in str(err.value)
    assert "sfxkit models pull mmaudio:large_44k_v2" in str(err.value)
    (tmp_path / "open_clip_config.json").write_text(json.dumps({"model_cfg": {}}))
    with pytest.raises(WeightsMissingError, match="open_clip_model.safetensors"):
        clip.load_dfn5b_clip(tmp_path)


def test_clip_directory_loads_through_open_clip(tmp_path: Path) -> None:
    # A DFN5B-shaped config (widths 1024) on a 1-layer toy so the real loading path runs.
    import open_clip
    from safetensors.torch import save_file

    cfg = {
        "embed_dim": 1024,
        "quick_gelu": True,
        "vision_cfg": {
            "image_size": 378,
            "patch_size": 54,
            "width": 32,
            "head_width": 16,
            "layers": 1,
        },
        "text_cfg": {
            "context_length": 77,
            "vocab_size": 49408,
            "width": 1024,
            "heads": 16,
            "layers": 1,
        },
    }
    model = open_clip.CLIP(**cfg).eval()
    (tmp_path / "open_clip_config.json").write_text(
        json.dumps({"model_cfg": cfg, "preprocess_cfg": {}})
    )
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()},
        str(tmp_path / "open_clip_model.safetensors"),
    )
    encoder = clip.load_dfn5b_clip(tmp_path)
    images = torch.rand(2, 3, 384, 384, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        assert torch.allclose(
            encoder.encode_images(images),
            model.encode_image((images - encoder.mean) / encoder.std, normalize=True),
        )
        assert encoder.encode_text(["thunder"]).shape == (1, 77, 1024)


# ----------------------------------------------------------------------------- preprocessing
def test_preprocessing_matches_torchvision_when_downscaling() -> None:
    """Real videos are larger than the model inputs: check the downscale path (antialiasing)."""
    from torchvision.transforms import v2

    frames = video_frames(3, 270, 480)  # 16:9 landscape
    chw = torch.from_numpy(frames).permute(0, 3, 1, 2)
    ref_clip = v2.ToDtype(torch.float32, scale=True)(
        v2.Resize((384, 384), interpolation=v2.InterpolationMode.BICUBIC)(chw)
    )
    ref_sync = v2.Normalize([0.5] * 3, [0.5] * 3)(
        v2.ToDtype(torch.float32, scale=True)(
            v2.CenterCrop(224)(v2.Resize(224, interpolation=v2.InterpolationMode.BICUBIC)(chw))
        )
    )
    assert max_diff(clip_frames(frames), ref_clip) <= 1e-6
    assert max_diff(sync_frames(frames), ref_sync) <= 1e-6
    portrait = frames.transpose(0, 2, 1, 3).copy()  # 270x480 -> 480x270: crop the other axis
    assert sync_frames(portrait).shape == (3, 3, 224, 224)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((4, 32, 32, 3), np.float32),
        np.zeros((32, 32, 3), np.uint8),
        np.zeros((4, 32, 32, 4), np.uint8),
        np.zeros((0, 32, 32, 3), np.uint8),
    ],
)
def test_preprocessing_rejects_non_frames(bad: np.ndarray) -> None:
    with pytest.raises(InputError, match=r"\(frames, height, width, 3\) uint8"):
        clip_frames(bad)
    with pytest.raises(InputError, match="sync_frames"):
        sync_frames(bad)


# ----------------------------------------------------------------------------- the extractor
def test_tiny_features_for_an_8s_clip_from_uint8_frames(tiny16: FeatureExtractor) -> None:
    dims = tiny16.dims
    frames8 = video_frames(64, 64, 96)  # 8 s at 8 fps
    frames25 = np.repeat(frames8, 4, axis=0)[:200]  # 8 s at 25 fps
    clip_feats = tiny16.encode_video_with_clip(clip_frames(frames8)[None])
    sync_feats = tiny16.encode_video_with_sync(sync_frames(frames25)[None])
    text = tiny16.encode_text(["glass shatters"])
    assert clip_feats.shape == (1, 64, dims.clip_dim)
    assert sync_feats.shape == (1, ((200 - 16) // 8 + 1) * 8, dims.sync_dim)  # 24 windows -> 192
    assert text.shape == (1, 77, dims.text_dim)
    assert torch.allclose(clip_feats.norm(dim=-1), torch.ones(1, 64), atol=1e-5)
    assert torch.isfinite(sync_feats).all()


@pytest.mark.parametrize("mode", ["16k", "44k"])
def test_decode_and_vocode_give_exact_lengths(mode: str) -> None:
    extractor = build_feature_extractor(mode, tiny=True, need_conditions=False)
    dims = extractor.dims
    assert extractor.clip is None and extractor.synchformer is None
    with pytest.raises(ModelError, match="need_conditions=True"):
        extractor.encode_text(["x"])
    for latent_len in (1, 13):
        z = torch.randn(2, latent_len, dims.latent_dim, generator=torch.Generator().manual_seed(0))
        mel = extractor.decode(z)
        assert mel.shape == (2, dims.n_mels, 2 * latent_len)  # L latents -> 2L mel frames
        wav = extractor.vocode(mel)
        # Exactly `frames * hop` samples, as the reference produces.
        assert wav.shape == (2, 2 * latent_len * dims.spectrogram_frame_rate)
        assert float(wav.abs().max()) <= 1.0 and float(wav.std()) > 1e-4


def test_features_from_a_decoded_video(tmp_path: Path) -> None:
    """Video file → frames at the model's rates (PyAV) → tiny features, whatever the source fps."""
    from sfxkit.media.frames import sample_frames
    from tests import synth

    video = synth.make_video(
        tmp_path / "clip.mp4", [("checker", 1.5), ("circle", 1.5)], fps=30, moving=True
    )
    extractor = build_feature_extractor("44k", tiny=True)
    at8 = sample_frames(video, 8.0)
    at25 = sample_frames(video, 25.0)
    assert at8.shape[0] == 24 and at25.shape[0] == 75  # 3 s of 30 fps video
    clip_feats = extractor.encode_video_with_clip(clip_frames(at8)[None])
    sync_feats = extractor.encode_video_with_sync(sync_frames(at25)[None])
    assert clip_feats.shape == (1, 24, 64)
    assert sync_feats.shape == (1, ((75 - 16) // 8 + 1) * 8, 32)
    # The scene cut shows in the CLIP stream: frames within a scene agree more than across it.
    sim = clip_feats[0] @ clip_feats[0].T
    assert float(sim[0, 5]) > float(sim[0, 20])


def test_tiny_extractor_is_deterministic_per_seed(tiny16: FeatureExtractor) -> None:
    again = build_feature_extractor("16k", tiny=True, seed=0)
    other = build_feature_extractor("16k", tiny=True, seed=1)
    frames = clip_frames(video_frames(2, 48, 64, seed=3))[None]
    z = torch.randn(1, 10, 20, generator=torch.Generator().manual_seed(1))
    assert torch.equal(tiny16.encode_video_with_clip(frames), again.encode_video_with_clip(frames))
    assert torch.equal(tiny16.vocode(tiny16.decode(z)), again.vocode(again.decode(z)))
    assert not torch.allclose(
        tiny16.encode_video_with_clip(frames), other.encode_video_with_clip(frames)
    )
    assert not torch.allclose(tiny16.decode(z), other.decode(z))


def test_extractor_rejects_wrong_shapes(tiny16: FeatureExtractor) -> None:
    with pytest.raises(InputError, match="clip_frames"):
        tiny16.encode_video_with_clip(torch.zeros(1, 2, 3, 224, 224))
    with pytest.raises(InputError, match="sync_frames"):
        tiny16.encode_video_with_sync(torch.zeros(1, 20, 3, 384, 384))
    with pytest.raises(InputError, match="at least 16 frames"):
        tiny16.encode_video_with_sync(torch.zeros(1, 15, 3, 224, 224))
    with pytest.raises(InputError, match="latents must be"):
        tiny16.decode(torch.zeros(1, 10, 40))
    with pytest.raises(InputError, match="mel must be"):
        tiny16.vocode(torch.zeros(1, 128, 10))


def test_extractor_stays_in_eval_mode(tiny16: FeatureExtractor) -> None:
    tiny16.train()
    assert not any(m.training for m in tiny16.modules())
    assert not any(p.requires_grad for p in tiny16.parameters())


def test_real_extractor_needs_files_and_names_the_missing_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="FeatureFiles"):
        build_feature_extractor("16k")
    files = FeatureFiles(
        vae=tmp_path / "v1-16.pth",
        vocoder=tmp_path / "best_netG.pt",
        synchformer=tmp_path / "synchformer_state_dict.pth",
        clip_dir=tmp_path / "clip",
    )
    with pytest.raises(WeightsMissingError) as err:
        build_feature_extractor("16k", files=files)
    assert "v1-16.pth" in str(err.value) and "sfxkit models pull mmaudio:small_16k" in str(
        err.value
    )
    with pytest.raises(InputError, match="unknown MMAudio mode"):
        build_feature_extractor("22k", tiny=True)  # type: ignore[arg-type]


def test_real_extractor_from_files(tmp_path: Path) -> None:
    """The real-weights path end to end, with golden (toy-size) files in the real file formats."""
    from safetensors import safe_open

    _, vae_state, t = load_golden("codec_vae44k.safetensors")
    _, voc_state, tv = load_golden("codec_bigvgan_v2.safetensors")
    torch.save(vae_state, tmp_path / "v1-44.pth")
    torch.save({"generator": voc_state}, tmp_path / "bigvgan_generator.pt")
    with safe_open(str(GOLDEN / "codec_bigvgan_v2.safetensors"), "pt") as handle:
        (tmp_path / "config.json").write_text(handle.metadata()["config"])
    files = FeatureFiles(
        vae=tmp_path / "v1-44.pth", vocoder=tmp_path, synchformer=None, clip_dir=None
    )
    # The real VAE config is 512 wide: the toy file must be refused, naming the mismatch...
    with pytest.raises(ModelError, match="wrong-shaped"):
        build_feature_extractor("44k", files=files, need_conditions=False)
    # ...while the vocoder directory (config.json + bigvgan_generator.pt) loads on its own.
    from sfxkit.generation.mmaudio import bigvgan_v2

    vocoder = bigvgan_v2.load_bigvgan_v2(tmp_path)
    with torch.no_grad():
        assert max_diff(vocoder(tv["input.mel"]), tv["output.wav"]) <= TOL
    files = FeatureFiles(
        vae=tmp_path / "v1-44.pth", vocoder=tmp_path, synchformer=None, clip_dir=None
    )
    with pytest.raises(WeightsMissingError, match="synchformer_state_dict.pth"):
        build_feature_extractor("44k", files=files, need_conditions=True)
