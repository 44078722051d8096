"""MMAudio codecs: the VAE decoder (16k, 44k) and both BigVGAN vocoders.

Golden files come from the reference implementation (scripts/mmaudio_golden_codecs.py): each
holds the reference module's state dict under the reference's key names, the inputs and the
reference outputs. Loading is strict, so passing also proves the checkpoint key layout.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from sfxkit.errors import ModelError, WeightsMissingError
from sfxkit.generation.mmaudio import bigvgan, bigvgan_v2, vae

GOLDEN = Path(__file__).parent / "golden"
TOL = 1e-4


def load_golden(name: str) -> tuple[dict, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(config, state dict with the reference's key names in fp32, all tensors)."""
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


def as_weight_gv(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The legacy ``weight_g``/``weight_v`` spelling the released vocoder files use."""
    out = {}
    for key, value in state.items():
        key = key.replace(".parametrizations.weight.original0", ".weight_g")
        out[key.replace(".parametrizations.weight.original1", ".weight_v")] = value
    return out


# ----------------------------------------------------------------------------- VAE
@pytest.fixture(scope="module", params=["16k", "44k"])
def vae_golden(request: pytest.FixtureRequest):
    return (request.param, *load_golden(f"codec_vae{request.param}.safetensors"))


def test_vae_decoder_matches_reference(vae_golden) -> None:
    mode, config, state, t = vae_golden
    model = vae.MelVAE(vae.VAEConfig(**config))
    skipped = vae.load_vae_weights(model, state, source="golden")
    # Without an encoder, every encoder entry of the checkpoint is accounted for and set aside.
    assert skipped == sorted(k for k in state if k.startswith("encoder."))
    with torch.no_grad():
        mel = vae.decode_latents(model.eval(), t["input.z"])
    n_mels = 80 if mode == "16k" else 128
    assert mel.shape == (2, n_mels, 2 * t["input.z"].shape[1])  # L latents -> 2L mel frames
    assert max_diff(mel, t["output.mel"]) <= TOL


def test_vae_encoder_matches_reference(vae_golden) -> None:
    _, config, state, t = vae_golden
    model = vae.MelVAE(vae.VAEConfig(**config), with_encoder=True)
    assert vae.load_vae_weights(model, state, source="golden") == []
    with torch.no_grad():
        mean, logvar = model.eval().encode(t["input.mel"])
    assert max_diff(mean, t["output.enc_mean"]) <= TOL
    assert max_diff(logvar, t["output.enc_logvar"]) <= TOL


def test_vae_checkpoint_layout_is_enforced(vae_golden) -> None:
    _, config, state, _ = vae_golden
    cfg = vae.VAEConfig(**config)
    # A missing encoder entry is an error even though the encoder is not built.
    broken = {k: v for k, v in state.items() if k != "encoder.conv_in.weight"}
    with pytest.raises(ModelError, match="missing tensor 'encoder.conv_in.weight'"):
        vae.load_vae_weights(vae.MelVAE(cfg), broken, source="broken.pth")
    with pytest.raises(ModelError, match="unexpected tensor 'decoder.extra'"):
        vae.load_vae_weights(
            vae.MelVAE(cfg), {**state, "decoder.extra": torch.zeros(1)}, source="x"
        )
    wrong = dict(state)
    wrong["encoder.conv_out.weight"] = torch.zeros(3, 3, 3)
    with pytest.raises(ModelError, match="tensor 'encoder.conv_out.weight' has shape"):
        vae.load_vae_weights(vae.MelVAE(cfg), wrong, source="x")


def test_vae_loads_a_checkpoint_file_and_names_missing_ones(tmp_path: Path) -> None:
    config, state, t = load_golden("codec_vae16k.safetensors")
    for legacy in (False, True):  # zip serialisation (memory-mapped) and the pre-1.6 format
        path = tmp_path / "v1-16.pth"
        torch.save(state, path, _use_new_zipfile_serialization=not legacy)
        model = vae.load_vae(path, vae.VAEConfig(**config), model_id="mmaudio:small_16k")
        with torch.no_grad():
            assert max_diff(vae.decode_latents(model, t["input.z"]), t["output.mel"]) <= TOL
    with pytest.raises(WeightsMissingError) as err:
        vae.load_vae(tmp_path / "v1-44.pth", vae.VAE_44K, model_id="mmaudio:large_44k_v2")
    assert "v1-44.pth" in str(err.value) and "sfxkit models pull mmaudio:large_44k_v2" in str(
        err.value
    )


def test_unreadable_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "v1-16.pth"
    path.write_bytes(b"not a torch file")
    with pytest.raises(ModelError, match="v1-16.pth: cannot read"):
        vae.load_vae(path, vae.VAE_16K, model_id="mmaudio:small_16k")


def test_real_vae_layout_matches_checkpoint_shapes() -> None:
    # Built on the meta device: the released sizes, no memory.
    with torch.device("meta"):
        model = vae.MelVAE(vae.VAE_44K)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes["data_mean"] == (1, 128, 1)
    assert shapes["decoder.conv_in.weight"] == (2048, 40, 3)
    assert shapes["decoder.conv_out.weight"] == (128, 512, 3)
    assert shapes["decoder.up.1.upsample.conv.weight"] == (1024, 1024, 3)
    assert vae.encoder_layout(vae.VAE_44K)["encoder.conv_out.weight"] == (80, 2048, 3)


# ----------------------------------------------------------------------------- vocoders
@pytest.fixture(scope="module", params=["codec_bigvgan16k", "codec_bigvgan_v2"])
def vocoder_golden(request: pytest.FixtureRequest):
    return load_golden(f"{request.param}.safetensors")


@pytest.mark.parametrize("spelling", ["parametrizations", "weight_g/weight_v"])
def test_vocoder_matches_reference(vocoder_golden, spelling: str) -> None:
    config, state, t = vocoder_golden
    if spelling != "parametrizations":
        state = as_weight_gv(state)
    cfg = bigvgan.BigVGANConfig.from_dict(config)
    model = bigvgan.load_generator_weights(bigvgan.BigVGANGenerator(cfg), state, source="golden")
    mel = t["input.mel"]
    with torch.no_grad():
        wav = model(mel)
    assert wav.shape == (mel.shape[0], 1, mel.shape[-1] * cfg.hop_length)
    assert max_diff(wav, t["output.wav"]) <= TOL


def test_weight_norm_pairs_must_be_complete(vocoder_golden) -> None:
    config, state, _ = vocoder_golden
    broken = {k: v for k, v in state.items() if k != "conv_pre.parametrizations.weight.original0"}
    model = bigvgan.BigVGANGenerator(bigvgan.BigVGANConfig.from_dict(config))
    with pytest.raises(ModelError, match="conv_pre"):
        bigvgan.load_generator_weights(model, broken, source="golden")


def test_v2_loader_reads_generator_file_and_config(tmp_path: Path) -> None:
    config, state, t = load_golden("codec_bigvgan_v2.safetensors")
    torch.save({"generator": as_weight_gv(state)}, tmp_path / "bigvgan_generator.pt")
    (tmp_path / "config.json").write_text(json.dumps({**config, "batch_size": 4, "fmax": None}))
    model = bigvgan_v2.load_bigvgan_v2(tmp_path)  # the directory, as the HF snapshot lays it out
    with torch.no_grad():
        assert max_diff(model(t["input.mel"]), t["output.wav"]) <= TOL
    # A config for another vocoder (24 kHz, 100 bands) is refused with the reason.
    (tmp_path / "config.json").write_text(json.dumps({**config, "num_mels": 100}))
    with pytest.raises(ModelError, match="100 mel bands"):
        bigvgan_v2.load_bigvgan_v2(tmp_path / "bigvgan_generator.pt")


def test_vocoder_files_missing_or_malformed(tmp_path: Path) -> None:
    with pytest.raises(WeightsMissingError) as err:
        bigvgan.load_bigvgan_16k(tmp_path / "best_netG.pt")
    assert "best_netG.pt" in str(err.value) and "sfxkit models pull mmaudio:small_16k" in str(
        err.value
    )
    with pytest.raises(WeightsMissingError, match="bigvgan_generator.pt"):
        bigvgan_v2.load_bigvgan_v2(tmp_path)
    torch.save({"model": {}}, tmp_path / "best_netG.pt")
    with pytest.raises(ModelError, match="no 'generator' state dict"):
        bigvgan.load_bigvgan_16k(tmp_path / "best_netG.pt")


def test_release_configs_give_the_mmaudio_hops() -> None:
    assert bigvgan.BIGVGAN_16K.hop_length == 256 and bigvgan.BIGVGAN_16K.num_mels == 80
    assert bigvgan_v2.BIGVGAN_V2_44K.hop_length == 512 and bigvgan_v2.BIGVGAN_V2_44K.num_mels == 128
    # Tiny configs keep the real hop so output lengths are exercised exactly.
    assert bigvgan.TINY_BIGVGAN_16K.hop_length == 256
    assert bigvgan_v2.TINY_BIGVGAN_V2_44K.hop_length == 512
    with torch.device("meta"):
        model = bigvgan.BigVGANGenerator(bigvgan_v2.BIGVGAN_V2_44K)
    assert "conv_post.bias" not in model.state_dict()  # v2 has no final bias
    assert model.state_dict()["ups.0.0.weight"].shape == (1536, 768, 16)


def test_tiny_vocoder_is_deterministic_and_unsaturated() -> None:
    mel = -5.0 + 3.0 * torch.randn(1, 128, 20, generator=torch.Generator().manual_seed(0))

    def run(seed: int) -> torch.Tensor:
        model = bigvgan.BigVGANGenerator(bigvgan_v2.TINY_BIGVGAN_V2_44K)
        model.init_random(torch.Generator().manual_seed(seed))
        with torch.no_grad():
            return model.eval()(mel)

    first, again, other = run(1), run(1), run(2)
    assert torch.equal(first, again)
    assert not torch.allclose(first, other)
    # Untrained, but a usable level: neither silent nor a clipped square wave.
    assert 1e-3 < float(first.std()) < 0.5
    assert float((first.abs() >= 0.999).float().mean()) < 0.01
