"""aiSFX: parity with the reference package (seeded toy weights), clip handling, ids, conversion.

Two input layouts, each checked against the reference code path it follows
(``scripts/aisfx_golden.py``): ``blocks``, sfxkit's default (the Essentia path, unnormalised
audio, (100 frames, 96 mels) blocks: spectrogram, blocks, block vectors and embedding) and
``clip`` (the librosa path's layout: the peak-normalised clip's (mel, time) matrix blocked by the
reference's ``blocking`` into one (100, frames) input; same Essentia-style spectrogram).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from sfxkit.errors import ModelError, WeightsMissingError
from sfxkit.models import aisfx
from sfxkit.models.registry import load_audio_encoder, load_sfx_encoder, parse_model_id
from tests import synth
from tests.models.aisfx_clips import SR, clips

GOLDEN = Path(__file__).parent / "golden" / "aisfx_tiny.safetensors"


@pytest.fixture(scope="module")
def golden() -> dict:
    from safetensors.numpy import load_file

    return load_file(str(GOLDEN))


@pytest.fixture(scope="module")
def golden_encoder(golden) -> aisfx.AisfxEncoder:
    """sfxkit's network loaded with the weights the reference ran on."""
    import torch

    net = aisfx.build_aisfx_net(8)
    state = {
        k[len("weights.") :]: torch.from_numpy(v).float()
        for k, v in golden.items()
        if k.startswith("weights.")
    }
    missing, unexpected = net.load_state_dict(state, strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing)
    return aisfx.AisfxEncoder(
        net.eval(), model_id="golden", device="cpu", layout="blocks", peak_normalise=False
    )


@pytest.fixture(scope="module")
def golden_clip_encoder(golden_encoder) -> aisfx.AisfxEncoder:
    """The same weights fed the librosa path's way: the clip layout, peak-normalised audio."""
    return aisfx.AisfxEncoder(
        golden_encoder.model, model_id="golden", device="cpu", layout="clip", peak_normalise=True
    )


@pytest.fixture(scope="module")
def tiny() -> aisfx.AisfxEncoder:
    return load_sfx_encoder("aisfx:tiny", device="cpu")


@pytest.mark.parametrize("name", sorted(clips()))
def test_matches_the_reference_package(golden, golden_encoder, name):
    audio = clips()[name]
    spec = aisfx.log_mel(audio.mean(axis=0))
    np.testing.assert_allclose(spec[::9], golden[f"{name}.spec_rows"], atol=1e-5)
    blocks = golden_encoder.blocks(audio, sample_rate=SR)
    ref_blocks = golden[f"{name}.blocks"]
    assert blocks.shape == (len(ref_blocks), 100, 96)
    np.testing.assert_allclose(
        golden_encoder.embed_blocks(blocks), ref_blocks, rtol=1e-4, atol=1e-4
    )
    emb = golden_encoder.encode_audio([audio], sample_rate=SR)
    np.testing.assert_allclose(emb[0], golden[f"{name}.embedding"], atol=1e-4)


@pytest.mark.parametrize("name", sorted(clips()))
def test_clip_layout_matches_the_reference_blocking_of_the_mel_time_matrix(
    golden, golden_clip_encoder, name
):
    audio = clips()[name]
    assert aisfx.DEFAULT_LAYOUT == "blocks" and not aisfx.DEFAULT_PEAK_NORMALISE
    inputs = golden_clip_encoder.blocks(audio, sample_rate=SR)
    ref = golden[f"{name}.clip_input"]
    assert inputs.shape == ref.shape and inputs.shape[:2] == (1, 100)
    np.testing.assert_allclose(inputs, ref, atol=2e-5)
    emb = golden_clip_encoder.encode_audio([audio], sample_rate=SR)
    np.testing.assert_allclose(emb[0], golden[f"{name}.clip_embedding"], atol=1e-4)


def test_clip_layout_hears_gain_and_length_the_same_way(tiny):
    """Peak normalisation: a -12 dB copy is the same sound; a short clip still makes an input
    (at least 8 frames) and its vector differs from a long clip's."""
    x = synth.noise(2.0, sr=SR, seed=5, band=(500, 4000))[0]
    clip = aisfx.AisfxEncoder(
        tiny.model, model_id="t", device="cpu", layout="clip", peak_normalise=True
    )
    out = clip.encode_audio([x, x * 0.25, x[: SR // 50]], sample_rate=SR)
    np.testing.assert_allclose(out[0], out[1], atol=1e-5)
    assert float(out[0] @ out[2]) < 0.999
    assert tiny.blocks(x, sample_rate=SR).shape[1:] == (100, 96)
    assert clip.blocks(x, sample_rate=SR).shape == (1, 100, 88)
    with pytest.raises(ModelError, match="unknown aiSFX input layout"):
        aisfx.AisfxEncoder(tiny.model, model_id="t", device="cpu", layout="time-major")


def test_output_is_unit_length_float32_for_every_kind_of_clip(tiny):
    waves = [
        synth.tone(440, 0.05, sr=SR)[0],  # 50 ms: far shorter than one block
        synth.noise(5.0, sr=SR, seed=2)[0],
        np.zeros(SR, dtype=np.float32),  # digital silence
        synth.noise(1.5, channels=2, sr=SR, seed=3),  # stereo
    ]
    out = tiny.encode_audio(waves, sample_rate=SR)
    assert out.shape == (4, 64) and out.dtype == np.float32
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert tiny.encode_audio([], sample_rate=SR).shape == (0, 64)


def test_stereo_is_heard_as_the_mean_of_its_channels(tiny):
    stereo = synth.noise(2.0, channels=2, sr=SR, seed=4)
    both = tiny.encode_audio([stereo, stereo.mean(axis=0)], sample_rate=SR)
    np.testing.assert_allclose(both[0], both[1], atol=1e-6)


def test_silence_gives_a_finite_deterministic_vector(tiny):
    # the clip layout: one (finite, repeatable) vector per length of silence
    clip = aisfx.AisfxEncoder(tiny.model, model_id="t", device="cpu", layout="clip")
    out = clip.encode_audio(
        [np.zeros(SR // 2), np.zeros(SR // 2), np.zeros(4 * SR)], sample_rate=SR
    )
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out[0], out[1], atol=1e-7)
    # the blocks layout (the default): every length of silence is one all-zero block
    out = tiny.encode_audio([np.zeros(SR // 2), np.zeros(4 * SR)], sample_rate=SR)
    np.testing.assert_allclose(out[0], out[1], atol=1e-6)


def test_long_clips_are_embedded_from_their_first_minute(tiny):
    sr = 8000  # resampled to 44.1 kHz inside; a low rate keeps the 70 s clip small
    first = np.concatenate([synth.noise(30.0, sr=sr, seed=5)[0], synth.tone(300, 30.0, sr=sr)[0]])
    tail = synth.tone(3000, 10.0, sr=sr)[0]
    long_clip = np.concatenate([first, tail])
    out = tiny.encode_audio([long_clip, first], sample_rate=sr)
    # the same up to the resampler's edge at the cut (the last frames)
    assert float(out[0] @ out[1]) > 0.9999
    # ... from all of that minute: neither half alone gives the same vector
    halves = tiny.encode_audio([first[: 30 * sr], first[30 * sr :]], sample_rate=sr)
    assert float(np.max(halves @ out[0])) < 0.999


def test_other_sample_rates_are_resampled_to_44k(tiny):
    x44 = synth.tone(1000, 1.0, sr=SR)[0]
    x48 = synth.tone(1000, 1.0, sr=48_000)[0]
    a, b = tiny.encode_audio([x44], sample_rate=SR), tiny.encode_audio([x48], sample_rate=48_000)
    assert float(a[0] @ b[0]) > 0.999


def test_model_ids(tiny):
    assert parse_model_id("aisfx").id == "aisfx:x-sequential-ce"
    spec = parse_model_id("aisfx:x-sequential-ce")
    assert spec.kind == "sfx" and not spec.tiny and spec.licence == "CC-BY-4.0"
    assert tiny.untrained and tiny.dim == 64 and tiny.sample_rate == 44_100
    with pytest.raises(ModelError, match="aisfx:x-sequential-ce"):
        parse_model_id("aisfx:nope")
    with pytest.raises(ModelError, match="load_sfx_encoder"):
        load_audio_encoder("aisfx:tiny")
    with pytest.raises(ModelError, match="no text tower"):
        tiny.encode_texts(["rain"])


def test_tiny_is_the_same_every_build():
    from sfxkit.models.registry import build_encoder

    a = build_encoder(parse_model_id("aisfx:tiny"))
    b = build_encoder(parse_model_id("aisfx:tiny"))
    x = [synth.noise(1.0, sr=SR, seed=6)[0]]
    np.testing.assert_array_equal(
        a.encode_audio(x, sample_rate=SR), b.encode_audio(x, sample_rate=SR)
    )


def test_offline_without_weights_says_how_to_pull(monkeypatch):
    monkeypatch.delenv("SFXKIT_WEIGHTS_DIR", raising=False)
    with pytest.raises(WeightsMissingError, match=r"sfxkit models pull aisfx:x-sequential-ce"):
        load_sfx_encoder("aisfx")


# ----------------------------------------------------------------------------- checkpoint


def _fake_checkpoint(extra: object = None) -> bytes:
    """A file shaped like aiSFX's: (state dict with heads, {dataset: (np.int64 index, classes)})."""
    import torch

    net = aisfx.build_aisfx_net()
    state = {f"embedding_net.{k}": v for k, v in net.state_dict().items()}
    state["fc.0.0.weight"] = torch.zeros(4, 512)
    ds = {"prosfx": (np.int64(0), 78), "soundlyTrain": (np.int64(1), 79)}
    if extra is not None:
        ds["extra"] = extra  # type: ignore[assignment]
    buf = io.BytesIO()
    torch.save((state, ds), buf)
    return buf.getvalue()


class _NotAllowed:
    pass


def test_conversion_keeps_the_embedding_net_and_refuses_other_globals():
    tensors = aisfx.convert_checkpoint(_fake_checkpoint())
    assert "conv_block1.conv1.weight" in tensors and not any(k.startswith("fc") for k in tensors)
    assert not any(k.endswith("num_batches_tracked") for k in tensors)
    with pytest.raises(ModelError, match="would run code"):
        aisfx.convert_checkpoint(_fake_checkpoint(_NotAllowed()))


def _wheel(folder: Path, checkpoint: bytes | None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "aisfx-0.1.2-py2.py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("aisfx/__init__.py", "")
        if checkpoint is not None:
            zf.writestr(aisfx.CHECKPOINT_MEMBER, checkpoint)
        zf.writestr(
            "aisfx-0.1.2.dist-info/METADATA", "Metadata-Version: 2.1\nName: aisfx\nVersion: 0.1.2\n"
        )
        zf.writestr(
            "aisfx-0.1.2.dist-info/WHEEL",
            "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py2-none-any\nTag: py3-none-any\n",
        )
        zf.writestr("aisfx-0.1.2.dist-info/RECORD", "")
    return path


def test_pull_rejects_a_checkpoint_that_is_not_the_pinned_one(tmp_path, monkeypatch):
    from sfxkit.models.registry import pull

    _wheel(tmp_path / "links", _fake_checkpoint())
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "links"))
    with pytest.raises(ModelError, match="not the pinned"):
        pull("aisfx", dest=tmp_path / "weights", progress=False)
    assert not list((tmp_path / "weights").rglob("*.safetensors"))


def test_pull_without_the_package_index_fails_clearly(tmp_path, monkeypatch):
    from sfxkit.models.registry import pull

    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    with pytest.raises(ModelError, match=r"could not download aisfx==0\.1\.2.*PIP_INDEX_URL"):
        pull("aisfx:x-sequential-ce", dest=tmp_path / "weights", progress=False)
