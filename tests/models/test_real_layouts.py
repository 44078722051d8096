"""The real encoders' checkpoint layouts, checked without the weights.

``golden/layouts_real.json`` (``scripts/encoder_golden_layouts.py``) holds the key names and
shapes of open_clip's ViT-B-32 (open_clip's own factory on the meta device), transformers'
``ClapModel`` at ``laion/larger_clap_general``'s configuration (``data/larger_clap_general_config.json``)
and every tensor of the real aiSFX checkpoint in the ``aisfx==0.1.2`` wheel. sfxkit's loaders
must accept exactly those layouts and refuse them one tensor short.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest
import torch

from sfxkit.errors import CheckpointError

HERE = Path(__file__).parent
GOLDEN = HERE / "golden" / "layouts_real.json"


def reference(name: str) -> dict[str, list[int]]:
    return json.loads(GOLDEN.read_text())["layouts"][name]


def meta_state(layout: dict[str, list[int]]) -> dict[str, torch.Tensor]:
    return {k: torch.empty(shape, device="meta") for k, shape in layout.items()}


# ----------------------------------------------------------------------------- open_clip
def _vit_b_32_as_sfxkit_builds_it():
    from sfxkit.models.openclip import _create, _tag_overrides

    model, _ = _create("ViT-B-32", "meta", **_tag_overrides("ViT-B-32", "laion2b_s34b_b79k"))
    return model


def test_open_clip_vit_b_32_layout_is_the_published_model() -> None:
    layout = reference("open_clip_ViT-B-32")
    # OpenAI's CLIP ViT-B/32 has 151,277,313 parameters; the LAION-2B training keeps the model.
    assert sum(math.prod(s) for s in layout.values()) == 151_277_313
    assert layout["visual.proj"] == [768, 512] and layout["text_projection"] == [512, 512]


def test_sfxkit_loads_the_open_clip_vit_b_32_layout() -> None:
    from sfxkit.models.openclip import load_open_clip_weights

    layout = reference("open_clip_ViT-B-32")
    model = _vit_b_32_as_sfxkit_builds_it()
    file = Path("open_clip_model.safetensors")
    load_open_clip_weights(model, meta_state(layout), file, what="ViT-B-32", fix="-")
    short = meta_state(layout)
    del short["visual.transformer.resblocks.11.mlp.c_proj.weight"]
    with pytest.raises(
        CheckpointError, match="'visual.transformer.resblocks.11.mlp.c_proj.weight'"
    ):
        load_open_clip_weights(model, short, file, what="ViT-B-32", fix="-")


# ----------------------------------------------------------------------------- CLAP
def _larger_clap_general_on_meta():
    from transformers import ClapConfig, ClapModel

    raw = json.loads((HERE / "data" / "larger_clap_general_config.json").read_text())
    raw.pop("_source")
    with torch.device("meta"):
        return ClapModel(ClapConfig(**raw))


def test_transformers_builds_the_larger_clap_general_layout() -> None:
    model = _larger_clap_general_on_meta()
    ours = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert ours == reference("clap_larger_clap_general")
    # HTSAT-base (1024 wide) and RoBERTa-base (768 wide) projected to 512
    assert ours["audio_projection.linear1.weight"] == [512, 1024]
    assert ours["text_projection.linear1.weight"] == [512, 768]


def test_the_clap_encoder_reads_the_real_configuration() -> None:
    from sfxkit.models.clap import ClapEncoder, deterministic_feature_extractor_class
    from sfxkit.models.tiny import tiny_clap_tokenizer

    extractor = deterministic_feature_extractor_class()(
        feature_size=64, sampling_rate=48_000, max_length_s=10, fft_window_size=1024
    )
    tokenizer = tiny_clap_tokenizer()
    tokenizer.model_max_length = 512
    enc = ClapEncoder(
        _larger_clap_general_on_meta(), extractor, tokenizer, model_id="clap:x", device="meta"
    )
    assert (enc.dim, enc.sample_rate, enc.window_samples) == (512, 48_000, 480_000)
    assert not enc.fusion and enc.max_text_tokens == 512  # 514 positions - RoBERTa's offset


# ----------------------------------------------------------------------------- aiSFX
def test_the_real_aisfx_checkpoint_converts_and_loads(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    from sfxkit.models import aisfx

    layout = reference("aisfx_checkpoint")
    assert any(k.startswith("fc.") for k in layout)  # classifier heads: dropped by the conversion
    # A checkpoint in the real layout at the real shapes (zeros), pickled as torch saves it
    buffer = io.BytesIO()
    torch.save(
        {
            k: torch.zeros(s, dtype=torch.int64 if not s else torch.float32)
            for k, s in layout.items()
        },
        buffer,
    )
    tensors = aisfx.convert_checkpoint(buffer.getvalue())
    assert set(tensors) == {
        k.removeprefix("embedding_net.")
        for k in layout
        if k.startswith("embedding_net.") and not k.endswith("num_batches_tracked")
    }
    save_file(tensors, str(tmp_path / "model.safetensors"))
    enc = aisfx.load_aisfx(tmp_path / "model.safetensors", model_id="aisfx", device="cpu")
    assert enc.dim == 512
    del layout["embedding_net.conv_block4.bn2.running_var"]
    buffer = io.BytesIO()
    torch.save({k: torch.zeros(s) for k, s in layout.items()}, buffer)
    with pytest.raises(CheckpointError, match="'conv_block4.bn2.running_var'"):
        aisfx.convert_checkpoint(buffer.getvalue())
