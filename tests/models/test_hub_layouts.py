"""Models found in the Hugging Face hub cache, in the exact layout its downloads leave (blobs,
relative symlinks, ``refs/main``), load offline through sfxkit's normal resolution path.

The files are those of the real repositories, at toy size: CLAP as transformers 4.x saved
``laion/larger_clap_general`` (config.json, model.safetensors, preprocessor_config.json,
tokenizer_config.json, special_tokens_map.json, vocab.json, merges.txt, tokenizer.json), and an
open_clip hub export (open_clip_config.json + open_clip_model.safetensors).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sfxkit.config import DEFAULT_AUDIO_MODEL
from sfxkit.errors import CheckpointError
from sfxkit.models import weights
from sfxkit.models.registry import find_weights, load_audio_encoder, load_frame_encoder
from sfxkit.models.tiny import TINY_BPE_DIR
from tests.models.conftest import save_open_clip_dir
from tests.models.hubcache import put_repo, read_dir

SPECIAL = {
    "bos_token": "<s>",
    "cls_token": "<s>",
    "eos_token": "</s>",
    "mask_token": {
        "content": "<mask>",
        "lstrip": True,
        "normalized": False,
        "rstrip": False,
        "single_word": False,
    },
    "pad_token": "<pad>",
    "sep_token": "</s>",
    "unk_token": "<unk>",
}


def clap_files_as_transformers_4_wrote_them(encoder, scratch: Path) -> dict[str, bytes]:
    """The tiny CLAP saved in the file set of the real repo (transformers 4.x, RobertaTokenizer)."""
    scratch.mkdir(parents=True, exist_ok=True)
    encoder.model.save_pretrained(str(scratch))
    encoder.feature_extractor.save_pretrained(str(scratch))
    files = {n: (scratch / n).read_bytes() for n in ("model.safetensors", "config.json")}
    config = json.loads(files["config.json"])
    config["transformers_version"] = "4.34.0.dev0"
    files["config.json"] = json.dumps(config, indent=2).encode()
    pre = json.loads((scratch / "preprocessor_config.json").read_text())
    pre["processor_class"] = "ClapProcessor"
    files["preprocessor_config.json"] = json.dumps(pre, indent=2).encode()
    tokenizer_config = {
        "add_prefix_space": False,
        "errors": "replace",
        "model_max_length": 512,
        "processor_class": "ClapProcessor",
        "tokenizer_class": "RobertaTokenizer",
        "trim_offsets": True,
        **{k: v if isinstance(v, str) else v["content"] for k, v in SPECIAL.items()},
    }
    files["tokenizer_config.json"] = json.dumps(tokenizer_config, indent=2).encode()
    files["special_tokens_map.json"] = json.dumps(SPECIAL, indent=2).encode()
    files["vocab.json"] = (TINY_BPE_DIR / "vocab.json").read_bytes()
    files["merges.txt"] = (TINY_BPE_DIR / "merges.txt").read_bytes()
    files["tokenizer.json"] = encoder.tokenizer.backend_tokenizer.to_str().encode()
    return files


def test_default_clap_loads_from_the_hub_cache_layout(audio_encoder, _private_hub_cache, tmp_path):
    files = clap_files_as_transformers_4_wrote_them(audio_encoder, tmp_path / "save")
    snapshot = put_repo(_private_hub_cache, "laion/larger_clap_general", files)
    assert (snapshot / "model.safetensors").is_symlink()

    found = find_weights(DEFAULT_AUDIO_MODEL)
    assert found.source == weights.SOURCE_HF_CACHE and found.path == snapshot
    loaded = load_audio_encoder(DEFAULT_AUDIO_MODEL)
    assert loaded.dim == audio_encoder.dim and loaded.sample_rate == audio_encoder.sample_rate
    texts = ["footsteps on gravel", "a door creaking open"]
    np.testing.assert_allclose(
        loaded.encode_texts(texts), audio_encoder.encode_texts(texts), atol=1e-5
    )
    rng = np.random.default_rng(0)
    clip = (0.1 * rng.standard_normal(48_000)).astype(np.float32)
    np.testing.assert_allclose(
        loaded.encode_audio([clip], sample_rate=48_000),
        audio_encoder.encode_audio([clip], sample_rate=48_000),
        atol=1e-4,
    )


def test_a_renamed_projection_in_the_hub_cache_is_refused(
    audio_encoder, _private_hub_cache, tmp_path
):
    from safetensors.torch import load, save

    files = clap_files_as_transformers_4_wrote_them(audio_encoder, tmp_path / "save")
    state = load(files["model.safetensors"])
    state["audio_projection.linear1.weight_old"] = state.pop("audio_projection.linear1.weight")
    files["model.safetensors"] = save(state, metadata={"format": "pt"})
    snapshot = put_repo(_private_hub_cache, "laion/larger_clap_general", files)
    with pytest.raises(CheckpointError) as err:
        load_audio_encoder(DEFAULT_AUDIO_MODEL)
    msg = str(err.value)
    assert msg.startswith(f"{snapshot / 'model.safetensors'}: ")
    assert "missing tensor 'audio_projection.linear1.weight'" in msg


def test_open_clip_hub_export_loads_from_the_hub_cache_layout(
    frame_encoder, _private_hub_cache, tmp_path
):
    files = read_dir(save_open_clip_dir(frame_encoder.model, tmp_path / "export"))
    assert set(files) == {"open_clip_config.json", "open_clip_model.safetensors"}
    snapshot = put_repo(_private_hub_cache, "acme/tiny-clip", files)
    model_id = "open_clip:hf-hub:acme/tiny-clip"
    found = find_weights(model_id)
    assert found.source == weights.SOURCE_HF_CACHE and found.path == snapshot
    loaded = load_frame_encoder(model_id)
    texts = ["a red square"]
    np.testing.assert_allclose(
        loaded.encode_texts(texts), frame_encoder.encode_texts(texts), atol=1e-5
    )
