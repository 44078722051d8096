"""CLAP input features computed in torch equal transformers' ClapFeatureExtractor."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from sfxkit.models.clap import deterministic_feature_extractor_class  # noqa: E402
from sfxkit.models.clap_features import TorchClapFeatures  # noqa: E402
from sfxkit.models.tiny import tiny_clap_feature_extractor  # noqa: E402


def _clips(n: int, hop: int, *, long: bool) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    lengths = [(n // 3, 0.5), (n, 0.1), (1000, 0.01), (n - 1, 0.8)]
    if long:  # only fusion keeps clips longer than the window (others are centre-cropped)
        lengths += [(n + 5 * hop + 7, 0.3), (2 * n + 5, 1.0)]
    clips = [(rng.standard_normal(length) * a).astype(np.float32) for length, a in lengths]
    # A tone and a low-passed noise: their quiet bins are where a float32 STFT drifts (4e-2 dB).
    t = np.arange(n // 2) / 48000
    clips.append((0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32))
    low = np.convolve(rng.standard_normal(n // 4 + 63), np.hanning(64) / 32, mode="valid")
    clips.append((0.05 * low).astype(np.float32))
    return clips


@pytest.mark.parametrize("config", ["tiny", "default"])
@pytest.mark.parametrize("truncation", ["rand_trunc", "fusion"])
@pytest.mark.parametrize("padding", ["repeatpad", "repeat", "pad"])
@pytest.mark.parametrize(
    ("device", "backend"),
    [("cpu", "numpy"), ("cpu", "torch"), pytest.param("cuda", "auto", marks=pytest.mark.gpu)],
)
def test_torch_features_match_transformers(
    config: str, truncation: str, padding: str, device: str, backend: str
) -> None:
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    fe = (
        tiny_clap_feature_extractor()
        if config == "tiny"
        else deterministic_feature_extractor_class()()  # transformers' default CLAP config
    )
    fe.truncation, fe.padding = truncation, padding
    clips = _clips(fe.nb_max_samples, fe.hop_length, long=truncation == "fusion")
    ref = fe(clips, sampling_rate=fe.sampling_rate, return_tensors="pt")
    got, longer = TorchClapFeatures(fe, device, backend=backend)(clips)
    assert got.device.type == device and longer.device.type == device
    got, longer = got.cpu(), longer.cpu()
    assert got.dtype == torch.float32
    assert got.shape == ref["input_features"].shape
    assert (got - ref["input_features"].float()).abs().max().item() <= 1e-4
    if truncation == "fusion" and not any(ref["is_longer"].flatten().tolist()[:-2]):
        assert longer.flatten().tolist() == ref["is_longer"].flatten().tolist()


def test_stock_extractor_equal_on_clips_within_the_window() -> None:
    """The unmodified transformers class (not sfxkit's subclass) gives the same features."""
    from transformers import ClapFeatureExtractor

    fe = ClapFeatureExtractor(truncation="rand_trunc")
    clips = _clips(fe.nb_max_samples, fe.hop_length, long=False)
    ref = fe(clips, sampling_rate=fe.sampling_rate, return_tensors="pt")["input_features"]
    got, _ = TorchClapFeatures(fe, "cpu")(clips)
    assert (got - ref.float()).abs().max().item() <= 1e-4


def test_fusion_batch_of_short_clips_is_deterministic() -> None:
    """Upstream marks a random clip as longer when none is; the same batch must embed alike."""
    fe = tiny_clap_feature_extractor(fusion=True)
    clips = _clips(fe.nb_max_samples, fe.hop_length, long=False)
    first = [TorchClapFeatures(fe, "cpu")(clips)[1].flatten().tolist() for _ in range(5)]
    assert first == [[True] + [False] * (len(clips) - 1)] * 5
