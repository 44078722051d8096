"""SFXKIT_GPU_PRECISION: half precision only on a GPU; the CPU stays fp32, bad values refused."""

from __future__ import annotations

import numpy as np
import pytest

from sfxkit.errors import ConfigError
from tests import synth


def _clap():
    from sfxkit.config import TINY_AUDIO_MODEL
    from sfxkit.models.registry import load_audio_encoder

    return load_audio_encoder(TINY_AUDIO_MODEL, device="cpu")


def test_half_precision_setting_leaves_cpu_vectors_unchanged(monkeypatch) -> None:
    enc = _clap()
    wave = synth.noise(0.5, seed=3)
    monkeypatch.setenv("SFXKIT_GPU_PRECISION", "fp32")
    ref = enc.encode_audio([wave], sample_rate=synth.SR)
    ref_t = enc.encode_texts(["glass breaking"])
    for precision in ("fp16", "bf16"):
        monkeypatch.setenv("SFXKIT_GPU_PRECISION", precision)
        np.testing.assert_array_equal(enc.encode_audio([wave], sample_rate=synth.SR), ref)
        np.testing.assert_array_equal(enc.encode_texts(["glass breaking"]), ref_t)


def test_unknown_precision_is_refused_with_the_choices(monkeypatch) -> None:
    enc = _clap()
    monkeypatch.setenv("SFXKIT_GPU_PRECISION", "fp8")
    with pytest.raises(ConfigError, match="SFXKIT_GPU_PRECISION.*fp32, fp16, bf16"):
        enc.encode_texts(["door slam"])
