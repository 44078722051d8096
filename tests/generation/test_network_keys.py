"""Every MMAudio variant has exactly the official checkpoint's keys and shapes, and loads strictly.

The manifests under ``sfxkit/generation/mmaudio/data/keys_<variant>.json`` were generated from
the reference implementation's modules (``scripts/mmaudio_golden_network.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import sfxkit.generation.mmaudio as mm_pkg
from sfxkit.errors import ModelError
from sfxkit.generation.mmaudio.network import build_network
from sfxkit.generation.mmaudio.variants import VARIANTS, get_variant
from sfxkit.generation.mmaudio.weights import load_network

DATA = Path(mm_pkg.__file__).parent / "data"


def _manifest(variant: str) -> dict[str, tuple[int, ...]]:
    doc = json.loads((DATA / f"keys_{variant}.json").read_text())
    return {k: tuple(v) for k, v in doc["keys"].items()}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_state_dict_matches_reference_manifest(variant: str) -> None:
    net = build_network(VARIANTS[variant], device="meta")
    ours = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    expected = _manifest(variant)
    assert sorted(set(ours) - set(expected)) == []  # nothing extra
    assert sorted(set(expected) - set(ours)) == []  # nothing missing
    assert ours == expected


def test_parameter_counts_match_the_paper() -> None:
    # MMAudio paper: small 157M, large 1.03B parameters.
    small = sum(v.numel() for v in build_network(VARIANTS["small_16k"], device="meta").parameters())
    large = sum(v.numel() for v in build_network(VARIANTS["large_44k"], device="meta").parameters())
    assert round(small / 1e6) == 157
    assert round(large / 1e9, 2) == 1.03


def test_v1_and_v2_layouts_differ() -> None:
    v1, v2 = _manifest("large_44k"), _manifest("large_44k_v2")
    assert "clip_input_proj.1.w1.weight" in v1 and "clip_input_proj.2.w1.weight" in v2
    assert v1["t_embed.mlp.0.weight"] == (896, 256) and v2["t_embed.mlp.0.weight"] == (896, 896)


def test_small_variant_loads_a_random_state_dict_strictly() -> None:
    expected = _manifest("small_16k")
    gen = torch.Generator().manual_seed(0)
    state = {k: torch.empty(shape) for k, shape in expected.items()}
    probes = ["joint_blocks.0.latent_block.attn.qkv.weight", "latent_std", "empty_string_feat"]
    for k in probes:
        state[k] = torch.randn(expected[k], generator=gen)
    net = build_network(VARIANTS["small_16k"], device="meta").to_empty(device="cpu")
    result = net.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    loaded = net.state_dict()
    for k in probes:
        assert torch.equal(loaded[k], state[k])


@pytest.mark.parametrize("variant", ["small_44k", "medium_44k", "large_44k", "large_44k_v2"])
def test_large_variants_load_strictly_on_meta(variant: str) -> None:
    state = {k: torch.empty(shape, device="meta") for k, shape in _manifest(variant).items()}
    net = build_network(VARIANTS[variant], device="meta")
    result = net.load_state_dict(state, strict=True, assign=True)
    assert not result.missing_keys and not result.unexpected_keys


# --------------------------------------------------------------------------- load_network


def _tiny_state(seed: int = 3) -> dict:
    net = build_network(VARIANTS["tiny_16k"], seed=seed)
    return {k: v.clone() for k, v in net.state_dict().items()}


def test_load_network_roundtrip(tmp_path: Path) -> None:
    state = _tiny_state()
    state["latent_rot"] = torch.zeros(1, 2, 3)  # derived entries some releases carry: ignored
    path = tmp_path / "mmaudio_tiny.pth"
    torch.save(state, path)
    net = load_network("tiny_16k", path)
    for k, v in net.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_load_network_lists_missing_unexpected_and_misshaped_keys(tmp_path: Path) -> None:
    state = _tiny_state()
    del state["final_layer.conv.weight"]
    state["joint_blocks.0.extra.weight"] = torch.zeros(3)
    state["latent_mean"] = torch.zeros(1, 1, 7)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(ModelError) as err:
        load_network("tiny_16k", path)
    msg = str(err.value)
    # One line: the file, the first bad key, and how many of each kind there are.
    assert "\n" not in msg and msg.startswith(f"{path}: ")
    assert "missing tensor 'final_layer.conv.weight'" in msg
    assert "(1 missing, 1 unexpected, 1 wrong-shaped)" in msg
    del state["joint_blocks.0.extra.weight"]
    state["final_layer.conv.weight"] = _tiny_state()["final_layer.conv.weight"]
    torch.save(state, path)
    with pytest.raises(
        ModelError, match=r"'latent_mean' has shape \[1, 1, 7\], the model needs \[1, 1, 20\]"
    ):
        load_network("tiny_16k", path)


def test_v1_checkpoint_into_v2_variant_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "v1.pth"
    torch.save(_tiny_state(), path)
    with pytest.raises(ModelError, match="missing tensor 'clip_input_proj.2.w1.weight'"):
        load_network("tiny_44k", path)


class _NotATensor:
    pass


def test_pickled_objects_are_never_loaded(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    torch.save({"weights": _NotATensor()}, path)
    with pytest.raises(ModelError, match="would run code") as err:
        load_network("tiny_16k", path)
    assert str(path) in str(err.value) and "weights_only" not in str(err.value)


def test_truncated_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "cut.pth"
    torch.save(_tiny_state(), path)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ModelError, match="sfxkit models pull"):
        load_network("tiny_16k", path)


def test_variants_are_the_ones_the_registry_lists() -> None:
    from sfxkit.config import DEFAULT_GENERATOR, MMAUDIO_VARIANTS
    from sfxkit.generation.mmaudio.variants import DEFAULT_VARIANT
    from sfxkit.models.registry import list_models

    assert tuple(VARIANTS) == MMAUDIO_VARIANTS
    listed = [s.name for s in list_models() if s.family == "mmaudio"]
    assert listed == list(VARIANTS)
    assert f"mmaudio:{DEFAULT_VARIANT}" == DEFAULT_GENERATOR


def test_unknown_variant_lists_the_choices() -> None:
    with pytest.raises(ModelError) as err:
        get_variant("huge_48k")
    for name in ("small_16k", "large_44k_v2", "tiny_16k"):
        assert name in str(err.value)
