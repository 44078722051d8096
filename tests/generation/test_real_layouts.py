"""The real MMAudio checkpoints' layouts, checked without the weights.

``golden/layouts_real.json`` holds the key names and shapes of the reference implementation's
VAE (16k, 44k), BigVGAN (16 kHz, v2 44.1 kHz) and Synchformer at their released configurations
(``scripts/mmaudio_golden_layouts.py``, built on the meta device). sfxkit builds its own modules
at the same configurations on the meta device and loads meta tensors of exactly those shapes
through its strict loaders: every key must be used or knowingly set aside, every shape must fit.
(The flow networks' layouts are checked the same way in ``test_network_keys.py``.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from sfxkit.errors import CheckpointError
from sfxkit.generation.mmaudio import bigvgan, bigvgan_v2, synchformer, vae

GOLDEN = Path(__file__).parent / "golden" / "layouts_real.json"


def reference_state(name: str) -> dict[str, torch.Tensor]:
    layout = json.loads(GOLDEN.read_text())["layouts"][name]
    return {k: torch.empty(shape, device="meta") for k, shape in layout.items()}


def load_vae(state: dict, cfg: vae.VAEConfig) -> list[str]:
    with torch.device("meta"):
        model = vae.MelVAE(cfg)
    return vae.load_vae_weights(model, state, source="v1.pth")


def load_vocoder(state: dict, cfg: bigvgan.BigVGANConfig) -> None:
    with torch.device("meta"):
        model = bigvgan.BigVGANGenerator(cfg)
    model = model.to("meta")  # the anti-alias filters are computed on the CPU even here
    bigvgan.load_generator_weights(model, state, source="vocoder.pt")


def load_sync(state: dict) -> list[str]:
    with torch.device("meta"):
        model = synchformer.Synchformer(synchformer.REAL_SYNCHFORMER)
    return synchformer.load_synchformer_weights(model, state, source="synchformer.pth")


CASES = {
    "vae_16k": lambda s: load_vae(s, vae.VAE_16K),
    "vae_44k": lambda s: load_vae(s, vae.VAE_44K),
    "bigvgan_16k": lambda s: load_vocoder(s, bigvgan.BIGVGAN_16K),
    "bigvgan_v2_44k": lambda s: load_vocoder(s, bigvgan_v2.BIGVGAN_V2_44K),
    "synchformer": load_sync,
}


@pytest.mark.parametrize("name", list(CASES))
def test_sfxkit_loads_the_reference_layout(name: str) -> None:
    CASES[name](reference_state(name))


@pytest.mark.parametrize("name", list(CASES))
def test_a_layout_one_tensor_short_is_refused(name: str) -> None:
    state = reference_state(name)
    dropped = sorted(state)[len(state) // 2]
    del state[dropped]
    with pytest.raises(CheckpointError) as err:
        CASES[name](state)
    assert dropped.split(".weight_")[0].split(".parametrizations")[0] in str(err.value)


def test_the_vae_sets_aside_exactly_the_encoder() -> None:
    state = reference_state("vae_44k")
    skipped = load_vae(state, vae.VAE_44K)
    assert skipped == sorted(k for k in state if k.startswith("encoder."))
    assert len(skipped) > 10


def test_synchformer_sets_aside_only_the_2d_stem() -> None:
    state = reference_state("synchformer")
    assert load_sync(state) == [
        "vfeat_extractor.patch_embed.proj.bias",
        "vfeat_extractor.patch_embed.proj.weight",
    ]
