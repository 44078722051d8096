"""Sanity of the pretrained default encoders (needs their weights; skipped without them).

Run with the weights in the sfxkit layout (`sfxkit models pull ID --dest DIR` fills it)::

    SFXKIT_REAL_WEIGHTS_TEST=1 SFXKIT_WEIGHTS_DIR=/path/to/weights pytest -m real_weights

(``SFXKIT_REAL_WEIGHTS_TEST=1`` stops the test conftest from hiding ``SFXKIT_WEIGHTS_DIR``.)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from sfxkit.config import DEFAULT_AUDIO_MODEL, DEFAULT_FRAME_MODEL
from sfxkit.models import weights
from sfxkit.models.registry import load_audio_encoder, load_frame_encoder, parse_model_id
from tests import synth

pytestmark = pytest.mark.real_weights


def _require(model_id: str) -> None:
    raw = os.environ.get("SFXKIT_WEIGHTS_DIR")
    if not raw:
        pytest.skip(
            "SFXKIT_WEIGHTS_DIR not set (run: SFXKIT_REAL_WEIGHTS_TEST=1 "
            "SFXKIT_WEIGHTS_DIR=/path/to/weights pytest -m real_weights)"
        )
    root = Path(raw).expanduser()
    spec = parse_model_id(model_id)
    if weights.locate(spec, roots=[(root, "SFXKIT_WEIGHTS_DIR")], library_cache=False) is None:
        pytest.skip(
            f"SFXKIT_WEIGHTS_DIR lacks {weights.layout_path(spec, root)} (sfxkit models pull {model_id} --dest {root})"
        )


def _shape_image(colour: tuple[int, int, int], shape: str, size: int = 224) -> np.ndarray:
    img = np.full((size, size, 3), 255, dtype=np.uint8)
    yy, xx = np.mgrid[0:size, 0:size]
    if shape == "square":
        mask = (abs(xx - size / 2) < size / 4) & (abs(yy - size / 2) < size / 4)
    else:
        mask = (xx - size / 2) ** 2 + (yy - size / 2) ** 2 < (size / 4) ** 2
    img[mask] = colour
    return img


def test_clip_ranks_the_matching_description_first():
    _require(DEFAULT_FRAME_MODEL)
    enc = load_frame_encoder(DEFAULT_FRAME_MODEL, device="cpu")
    assert enc.dim == 512 and not enc.untrained
    images = enc.encode_images(
        [_shape_image((220, 20, 20), "square"), _shape_image((20, 40, 220), "circle")]
    )
    texts = enc.encode_texts(["a photo of a red square", "a photo of a blue circle"])
    sims = images @ texts.T
    assert sims[0, 0] > sims[0, 1]  # red square → "red square"
    assert sims[1, 1] > sims[1, 0]  # blue circle → "blue circle"


def test_clap_ranks_the_matching_description_first():
    _require(DEFAULT_AUDIO_MODEL)
    enc = load_audio_encoder(DEFAULT_AUDIO_MODEL, device="cpu")
    assert enc.dim == 512 and enc.sample_rate == 48_000 and not enc.untrained
    audio = enc.encode_audio([synth.tone(1000, 3.0)[0]], sample_rate=48_000)
    texts = enc.encode_texts(["a sine tone", "a dog barking"])
    sims = (audio @ texts.T)[0]
    assert sims[0] > sims[1]
    # a long clip (over the 10 s window) is still deterministic with the real feature extractor
    long_clip = synth.noise(14.0, seed=3)[0]
    np.testing.assert_array_equal(
        enc.encode_audio([long_clip], sample_rate=48_000),
        enc.encode_audio([long_clip], sample_rate=48_000),
    )
