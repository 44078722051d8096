"""Fixtures for the encoder and registry tests: tiny encoders built once, a private hub cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _private_hub_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """An empty Hugging Face cache per test, so weights on the developer's machine never count."""
    from huggingface_hub import constants

    cache = tmp_path_factory.mktemp("hf-hub-cache")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


@pytest.fixture(autouse=True)
def _fresh_registry():
    """Encoders loaded from per-test weight directories must not outlive the test."""
    yield
    from sfxkit.models.registry import clear_cache

    clear_cache()


@pytest.fixture(scope="session")
def frame_encoder():
    from sfxkit.models.registry import build_encoder, parse_model_id

    return build_encoder(parse_model_id("open_clip:tiny"), device="cpu")


@pytest.fixture(scope="session")
def audio_encoder():
    from sfxkit.models.registry import build_encoder, parse_model_id

    return build_encoder(parse_model_id("clap:tiny"), device="cpu")


def save_open_clip_checkpoint(model, path: Path) -> Path:
    """The tiny CLIP's weights as an open_clip checkpoint file (safetensors)."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


def save_open_clip_dir(model, folder: Path) -> Path:
    """open_clip's hf-hub export layout: open_clip_config.json + open_clip_model.safetensors."""
    from sfxkit.models.tiny import tiny_open_clip_config

    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "model_cfg": tiny_open_clip_config(),
        "preprocess_cfg": {
            "mean": [0.48145466, 0.4578275, 0.40821073],
            "std": [0.26862954, 0.26130258, 0.27577711],
            "interpolation": "bicubic",
            "resize_mode": "shortest",
        },
    }
    (folder / "open_clip_config.json").write_text(json.dumps(config))
    save_open_clip_checkpoint(model, folder / "open_clip_model.safetensors")
    return folder


def save_clap_dir(encoder, folder: Path) -> Path:
    """A transformers save_pretrained directory of the tiny CLAP (model, extractor, tokenizer)."""
    folder.mkdir(parents=True, exist_ok=True)
    encoder.model.save_pretrained(str(folder))
    encoder.feature_extractor.save_pretrained(str(folder))
    encoder.tokenizer.save_pretrained(str(folder))
    return folder
