"""Closed-form test clips for the aiSFX parity goldens (shared by scripts/aisfx_golden.py).

No random generator: every sample is a formula, so the script and the tests rebuild the same
16-bit PCM on any numpy. Each clip is ``(channels, samples)`` float32 at 44.1 kHz, quantised to
16 bits exactly as a WAV file holds it, and none has a silent 2048-sample frame (Essentia adds
noise to those, which would make the reference non-deterministic).
"""

from __future__ import annotations

import numpy as np

SR = 44_100


def _t(seconds: float) -> np.ndarray:
    return np.arange(int(round(seconds * SR)), dtype=np.float64) / SR


def _hash_noise(n: int, salt: float) -> np.ndarray:
    """A deterministic white-ish noise in [-1, 1] (the fract(sin(x) * 43758.5453) hash)."""
    k = np.arange(n, dtype=np.float64)
    v = np.sin(k * 12.9898 + salt * 78.233) * 43758.5453
    return 2.0 * (v - np.floor(v)) - 1.0


def _pcm16(x: np.ndarray) -> np.ndarray:
    x = np.atleast_2d(np.clip(x, -1.0, 32767 / 32768))
    return (np.round(x * 32768.0) / 32768.0).astype(np.float32)


def clips() -> dict[str, np.ndarray]:
    """name → (channels, samples) float32, 44.1 kHz."""
    out: dict[str, np.ndarray] = {}
    t = _t(0.4)  # shorter than one 100-frame block (~2.3 s): a single zero-padded block
    hit = np.exp(-t * 12.0) * (np.sin(2 * np.pi * 880 * t) + 0.5 * np.sin(2 * np.pi * 2230 * t))
    out["short_hit"] = _pcm16(0.6 * hit + 0.02 * _hash_noise(t.size, 1.0))
    t = _t(3.0)  # one full block and a dropped partial one
    sweep = np.sin(2 * np.pi * (200 * t + (4000 - 200) / (2 * 3.0) * t**2))
    out["sweep"] = _pcm16(0.4 * sweep * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t)))
    t = _t(8.0)  # five blocks, hop 50 frames
    n = _hash_noise(t.size, 2.0)
    gate = 0.5 + 0.5 * np.sign(np.sin(2 * np.pi * 0.7 * t))
    hum = 0.3 * np.sin(2 * np.pi * 60 * t) + 0.15 * np.sin(2 * np.pi * 120 * t)
    out["rain_hum"] = _pcm16(0.25 * n * (0.3 + 0.7 * gate) + hum)
    t = _t(2.5)  # stereo: different channels, the model hears their mean
    left = 0.5 * np.sin(2 * np.pi * 300 * t) * np.exp(-((t % 0.5) * 6.0))
    right = 0.3 * _hash_noise(t.size, 3.0)
    out["stereo"] = _pcm16(np.stack([left, right]))
    return out
