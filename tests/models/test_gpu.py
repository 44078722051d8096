"""The encoders on a CUDA device give the CPU's vectors (run with `pytest -m gpu`)."""

from __future__ import annotations

import numpy as np
import pytest

from sfxkit.models.registry import (
    build_encoder,
    load_audio_encoder,
    load_frame_encoder,
    parse_model_id,
)
from tests import synth

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def cuda() -> str:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    return "cuda"


def test_tiny_frame_encoder_on_cuda_matches_cpu(cuda, frame_encoder):
    gpu = build_encoder(parse_model_id("open_clip:tiny"), device=cuda)
    assert gpu.device == cuda and next(gpu.model.parameters()).is_cuda
    frames = [synth.draw_frame(k) for k in ("red", "circle", "checker", "noise")]
    np.testing.assert_allclose(
        gpu.encode_images(frames), frame_encoder.encode_images(frames), atol=1e-4
    )
    texts = ["a photo of a red square", "a blue circle"]
    np.testing.assert_allclose(
        gpu.encode_texts(texts), frame_encoder.encode_texts(texts), atol=1e-4
    )
    pixels = gpu.preprocess([synth.draw_frame("red")])
    assert gpu.encode_preprocessed(pixels).shape == (1, 32)


def test_tiny_audio_encoder_on_cuda_matches_cpu(cuda, audio_encoder):
    gpu = build_encoder(parse_model_id("clap:tiny"), device=cuda)
    assert next(gpu.model.parameters()).is_cuda
    clips = [synth.tone(1000, 1.0)[0], synth.noise(3.0, seed=1)[0], synth.clicks(0.5, 5)[0]]
    np.testing.assert_allclose(
        gpu.encode_audio(clips, sample_rate=48_000),
        audio_encoder.encode_audio(clips, sample_rate=48_000),
        atol=1e-4,
    )
    texts = ["a dog barking", "rain"]
    np.testing.assert_allclose(
        gpu.encode_texts(texts), audio_encoder.encode_texts(texts), atol=1e-4
    )


def test_device_auto_picks_cuda_and_caches_per_device(cuda, monkeypatch):
    monkeypatch.setenv("SFXKIT_DEVICE", "auto")
    auto = load_frame_encoder("open_clip:tiny")
    assert auto.device == "cuda"
    assert load_frame_encoder("open_clip:tiny", device="cuda") is auto
    assert load_frame_encoder("open_clip:tiny", device="cpu") is not auto
    assert load_audio_encoder("clap:tiny").device == "cuda"
