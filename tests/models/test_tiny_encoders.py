"""The tiny encoders behave like the real ones: shapes, unit vectors, determinism, batching."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sfxkit.errors import InputError
from sfxkit.models.base import AudioEncoder, FrameEncoder, describe_model
from sfxkit.models.registry import build_encoder, parse_model_id
from tests import synth

ROOT = Path(__file__).resolve().parents[2]
FRAMES = ["red", "blue", "circle", "checker", "stripes"]


def _unit_rows(x: np.ndarray) -> bool:
    return bool(np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5))


# ----------------------------------------------------------------------------- frames


def test_frame_encoder_fulfils_the_protocol(frame_encoder):
    assert isinstance(frame_encoder, FrameEncoder)
    assert frame_encoder.model_id == "open_clip:tiny" and frame_encoder.untrained
    assert frame_encoder.dim == 32 and frame_encoder.device == "cpu"
    assert (
        describe_model(frame_encoder)
        == "open_clip:tiny (UNTRAINED tiny model: results are meaningless)"
    )
    assert frame_encoder.tokenizer is not None and frame_encoder.model is not None


def test_images_give_unit_float32_rows_and_differ_by_content(frame_encoder):
    frames = [synth.draw_frame(k) for k in FRAMES]
    emb = frame_encoder.encode_images(frames)
    assert emb.shape == (5, 32) and emb.dtype == np.float32 and _unit_rows(emb)
    sims = emb @ emb.T
    assert np.all(sims[~np.eye(5, dtype=bool)] < 0.999)  # different pictures, different vectors


def test_arrays_pil_and_preprocessed_paths_agree(frame_encoder):
    frames = [synth.draw_frame(k, 48) for k in FRAMES[:3]]
    from_arrays = frame_encoder.encode_images(frames)
    from_pil = frame_encoder.encode_images([Image.fromarray(f) for f in frames])
    pixels = frame_encoder.preprocess([Image.fromarray(f) for f in frames])
    assert tuple(pixels.shape) == (3, 3, 32, 32)
    from_pixels = frame_encoder.encode_preprocessed(pixels)
    np.testing.assert_array_equal(from_arrays, from_pil)
    np.testing.assert_allclose(from_arrays, from_pixels, atol=1e-6)


def test_image_batches_equal_single_images(frame_encoder):
    frames = [synth.draw_frame(k) for k in FRAMES]
    batched = frame_encoder.encode_images(frames, batch_size=2)
    singles = np.concatenate([frame_encoder.encode_images([f]) for f in frames])
    np.testing.assert_allclose(batched, singles, atol=1e-5)


def test_texts_give_unit_rows_and_same_text_same_vector(frame_encoder):
    texts = ["a photo of a red square", "a photo of a blue circle", "a photo of a red square"]
    emb = frame_encoder.encode_texts(texts, batch_size=2)
    assert emb.shape == (3, 32) and emb.dtype == np.float32 and _unit_rows(emb)
    np.testing.assert_allclose(emb[0], emb[2], atol=1e-6)
    assert emb[0] @ emb[1] < 0.999


def test_empty_inputs_give_empty_matrices(frame_encoder, audio_encoder):
    assert frame_encoder.encode_images([]).shape == (0, 32)
    assert frame_encoder.encode_texts([]).shape == (0, 32)
    assert audio_encoder.encode_audio([], sample_rate=48_000).shape == (0, 32)
    assert audio_encoder.encode_texts([]).shape == (0, 32)


def test_bad_images_and_texts_name_the_item(frame_encoder):
    with pytest.raises(InputError, match=r"images\[1\]"):
        frame_encoder.encode_images([synth.draw_frame("red"), np.zeros((4, 4, 7), np.uint8)])
    with pytest.raises(InputError, match="single string"):
        frame_encoder.encode_texts("a red square")
    with pytest.raises(InputError, match=r"texts\[1\]"):
        frame_encoder.encode_texts(["ok", 3])


# ----------------------------------------------------------------------------- audio


def test_audio_encoder_fulfils_the_protocol(audio_encoder):
    assert isinstance(audio_encoder, AudioEncoder)
    assert audio_encoder.model_id == "clap:tiny" and audio_encoder.untrained
    assert audio_encoder.sample_rate == 48_000 and audio_encoder.dim == 32
    assert "UNTRAINED" in describe_model(audio_encoder)


def test_audio_gives_unit_rows_and_differs_by_content(audio_encoder):
    clips = [
        synth.tone(440, 1.0)[0],
        synth.tone(3000, 1.0)[0],
        synth.noise(1.0)[0],
        synth.clicks(1.0, 4)[0],
    ]
    emb = audio_encoder.encode_audio(clips, sample_rate=48_000)
    assert emb.shape == (4, 32) and emb.dtype == np.float32 and _unit_rows(emb)
    assert np.all((emb @ emb.T)[~np.eye(4, dtype=bool)] < 0.9999)


def test_audio_batches_equal_single_clips_and_channel_layouts_agree(audio_encoder):
    clips = [synth.tone(440, 0.7)[0], synth.noise(1.3, seed=3)[0], synth.clicks(0.5, 6)[0]]
    batched = audio_encoder.encode_audio(clips, sample_rate=48_000, batch_size=2)
    singles = np.concatenate([audio_encoder.encode_audio([c], sample_rate=48_000) for c in clips])
    np.testing.assert_allclose(batched, singles, atol=1e-5)
    as_2d = audio_encoder.encode_audio([c[None, :] for c in clips], sample_rate=48_000)
    np.testing.assert_allclose(as_2d, batched, atol=1e-6)
    # stereo (channels, samples) is folded to mono: identical channels give the mono vector
    stereo = audio_encoder.encode_audio([np.stack([clips[0], clips[0]])], sample_rate=48_000)
    np.testing.assert_allclose(stereo[0], batched[0], atol=1e-6)


def test_audio_at_another_rate_is_resampled(audio_encoder):
    reference = audio_encoder.encode_audio([synth.tone(440, 1.0)[0]], sample_rate=48_000)[0]
    low = synth.tone(440, 1.0, sr=16_000)[0]
    resampled = audio_encoder.encode_audio([low], sample_rate=16_000)[0]
    misread = audio_encoder.encode_audio([low], sample_rate=48_000)[
        0
    ]  # what skipping resampling gives
    assert reference @ resampled > 0.999
    assert reference @ resampled > reference @ misread + 0.01


def test_a_long_clip_always_gives_the_same_vector_its_centre_window(audio_encoder):
    window = audio_encoder.window_samples  # 2 s for the tiny CLAP
    long_clip = synth.noise(3.5, seed=7)[0] * np.linspace(
        0.1, 1.0, int(3.5 * 48_000), dtype=np.float32
    )
    first = audio_encoder.encode_audio([long_clip], sample_rate=48_000)
    np.random.seed(123)  # the library's own crop would draw from here
    second = audio_encoder.encode_audio([long_clip], sample_rate=48_000)
    np.testing.assert_array_equal(first, second)
    start = (long_clip.shape[0] - window) // 2
    centre = audio_encoder.encode_audio([long_clip[start : start + window]], sample_rate=48_000)
    np.testing.assert_allclose(first, centre, atol=1e-6)
    head = audio_encoder.encode_audio([long_clip[:window]], sample_rate=48_000)
    assert float(first[0] @ head[0]) < 0.99999


def test_fusion_models_choose_fixed_chunks():
    from sfxkit.models.clap import ClapEncoder
    from sfxkit.models.tiny import build_tiny_clap

    model, extractor, tokenizer = build_tiny_clap(fusion=True)
    enc = ClapEncoder(
        model, extractor, tokenizer, model_id="clap:tiny-fusion", device="cpu", untrained=True
    )
    assert enc.fusion and enc.feature_extractor.truncation == "fusion"
    long_clip = synth.noise(5.0, seed=2)[0]
    np.random.seed(1)
    first = enc.encode_audio([long_clip], sample_rate=48_000)
    np.random.seed(2)
    second = enc.encode_audio([long_clip], sample_rate=48_000)
    np.testing.assert_array_equal(first, second)
    assert first.shape == (1, 32) and _unit_rows(first)


def test_audio_texts(audio_encoder):
    emb = audio_encoder.encode_texts(
        ["a dog barking", "a sine tone", "a dog barking"], batch_size=2
    )
    assert emb.shape == (3, 32) and _unit_rows(emb)
    np.testing.assert_allclose(emb[0], emb[2], atol=1e-5)
    assert emb[0] @ emb[1] < 0.999
    singles = np.concatenate(
        [audio_encoder.encode_texts([t]) for t in ["a dog barking", "a sine tone"]]
    )
    np.testing.assert_allclose(emb[:2], singles, atol=1e-5)  # padding in a batch changes nothing


def test_audio_texts_of_mixed_lengths_come_back_in_input_order(audio_encoder):
    """Texts are batched by length inside the encoder; the caller sees its own order."""
    texts = [
        "thunder rolling far away over hills, heavy rain on a tin roof, wind gusts",
        "door",
        "footsteps on gravel, slow",
        "glass",
        "a crowd cheering in a stadium after a goal, whistles and claps",
    ]
    batched = audio_encoder.encode_texts(texts, batch_size=2)
    singles = np.concatenate([audio_encoder.encode_texts([t]) for t in texts])
    np.testing.assert_allclose(batched, singles, atol=1e-6)


def test_bad_waveforms_name_the_item(audio_encoder):
    with pytest.raises(InputError, match=r"waveforms\[1\] is empty"):
        audio_encoder.encode_audio(
            [synth.tone(440, 0.2)[0], np.zeros(0, np.float32)], sample_rate=48_000
        )
    with pytest.raises(InputError, match="NaN"):
        audio_encoder.encode_audio([np.full(100, np.nan, np.float32)], sample_rate=48_000)
    with pytest.raises(InputError, match=r"array\.T"):
        audio_encoder.encode_audio([np.zeros((48_000, 2), np.float32)], sample_rate=48_000)


def test_tokenizer_uses_the_shipped_tiny_vocabulary(audio_encoder, tmp_path):
    from sfxkit.models.tiny import TINY_BPE_DIR, train_tiny_bpe

    ids = audio_encoder.tokenizer(["a dog barking"])["input_ids"][0]
    assert (
        ids[0] == 0
        and ids[-1] == 2
        and max(ids) < audio_encoder.model.config.text_config.vocab_size
    )
    train_tiny_bpe(tmp_path)  # the shipped files are exactly what the generator makes
    for name in ("vocab.json", "merges.txt"):
        assert (tmp_path / name).read_bytes() == (TINY_BPE_DIR / name).read_bytes()


# ----------------------------------------------------------------------------- determinism


def _vectors(frame_encoder, audio_encoder) -> dict[str, list[list[float]]]:
    return {
        "images": frame_encoder.encode_images([synth.draw_frame("checker")]).tolist(),
        "frame_texts": frame_encoder.encode_texts(["a red square"]).tolist(),
        "audio": audio_encoder.encode_audio([synth.clicks(1.0, 3)[0]], sample_rate=48_000).tolist(),
        "audio_texts": audio_encoder.encode_texts(["rain on a window"]).tolist(),
    }


def test_two_fresh_builds_are_identical(frame_encoder, audio_encoder):
    fresh_frame = build_encoder(parse_model_id("open_clip:tiny"), device="cpu")
    fresh_audio = build_encoder(parse_model_id("clap:tiny"), device="cpu")
    assert fresh_frame is not frame_encoder and fresh_audio is not audio_encoder
    assert _vectors(frame_encoder, audio_encoder) == _vectors(fresh_frame, fresh_audio)


def test_building_a_tiny_model_leaves_the_global_rng_alone():
    import torch

    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    build_encoder(parse_model_id("open_clip:tiny"), device="cpu")
    assert torch.equal(torch.rand(3), expected)


def test_another_process_builds_the_same_tiny_models(frame_encoder, audio_encoder):
    code = (
        "import json\n"
        "from sfxkit.models.registry import build_encoder, parse_model_id\n"
        "from tests.models.test_tiny_encoders import _vectors\n"
        "f = build_encoder(parse_model_id('open_clip:tiny'))\n"
        "a = build_encoder(parse_model_id('clap:tiny'))\n"
        "print(json.dumps(_vectors(f, a)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "OMP_NUM_THREADS": "1", "SFXKIT_DEVICE": "cpu"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    theirs = json.loads(out.stdout.strip().splitlines()[-1])
    ours = _vectors(frame_encoder, audio_encoder)
    for key in ours:
        np.testing.assert_allclose(
            np.array(theirs[key]), np.array(ours[key]), atol=1e-6, err_msg=key
        )
