"""Every MMAudio-stack loader refuses every kind of bad checkpoint, naming the file.

Each loader (flow network, VAE, both BigVGAN vocoders, Synchformer, DFN5B CLIP) reads a file
fabricated from a toy state dict in the real file's name and format, spoiled one way at a time:
a missing, an unexpected or a wrong-shaped tensor, a NaN, a truncated file, and a pickle that
would run code. The refusal is one line with the file's path and (where there is one) the
offending key; torch's advice to switch ``weights_only`` off never reaches the user.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

from sfxkit.errors import CheckpointError, ModelError
from sfxkit.generation.mmaudio import bigvgan, bigvgan_v2, clip, synchformer, vae
from sfxkit.generation.mmaudio.network import build_network
from sfxkit.generation.mmaudio.variants import VARIANTS
from sfxkit.generation.mmaudio.weights import load_network
from sfxkit.models.mmaudio_files import CLIP_DIR
from tests.generation.test_codecs import as_weight_gv, load_golden

KINDS = ("missing", "unexpected", "shape", "nan", "truncated", "code")


class RunsCode:
    """Unpickling this creates a directory: the proof that a loader ran the file's code."""

    marker = ""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.mkdir, (self.marker,))


@dataclass
class Case:
    state: dict[str, torch.Tensor]  # the good tensors, named as in the file
    write: Callable[[dict[str, Any], Path], Path]  # (payload, folder) -> the weights file
    load: Callable[[Path], Any]  # folder -> model, through the module's own loader
    key: str  # the tensor spoiled by the key kinds
    wrap: str | None = None  # the file stores {wrap: state}


def _save(name: str, wrap: str | None = None) -> Callable[[dict[str, Any], Path], Path]:
    def write(payload: dict[str, Any], folder: Path) -> Path:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith(".safetensors"):
            from safetensors.torch import save_file

            save_file({k: v.contiguous() for k, v in payload.items()}, str(path))
        else:
            torch.save({wrap: payload} if wrap else payload, path)
        return path

    return write


def _network() -> Case:
    state = {
        k: v.clone() for k, v in build_network(VARIANTS["tiny_16k"], seed=3).state_dict().items()
    }
    return Case(
        state,
        _save("mmaudio_small_16k.pth"),
        lambda d: load_network("tiny_16k", d / "mmaudio_small_16k.pth"),
        "joint_blocks.0.latent_block.attn.qkv.weight",
    )


def _vae() -> Case:
    config, state, _ = load_golden("codec_vae16k.safetensors")
    cfg = vae.VAEConfig(**config)
    return Case(
        state,
        _save("v1-16.pth"),
        lambda d: vae.load_vae(d / "v1-16.pth", cfg, model_id="mmaudio:small_16k"),
        "decoder.conv_in.weight",
    )


def _bigvgan_16k() -> Case:
    config, state, _ = load_golden("codec_bigvgan16k.safetensors")
    cfg = bigvgan.BigVGANConfig.from_dict(config)
    return Case(
        as_weight_gv(state),  # the released best_netG.pt spelling
        _save("best_netG.pt", "generator"),
        lambda d: bigvgan.load_bigvgan_16k(d / "best_netG.pt", cfg=cfg),
        "conv_pre.weight_g",
        wrap="generator",
    )


def _bigvgan_v2() -> Case:
    from safetensors import safe_open

    from tests.generation.test_codecs import GOLDEN

    _, state, _ = load_golden("codec_bigvgan_v2.safetensors")
    with safe_open(str(GOLDEN / "codec_bigvgan_v2.safetensors"), "pt") as handle:
        config = handle.metadata()["config"]
    save = _save("bigvgan_v2_44khz_128band_512x/bigvgan_generator.pt", "generator")

    def write(payload: dict[str, Any], folder: Path) -> Path:
        path = save(payload, folder)
        (path.parent / "config.json").write_text(config)
        return path

    return Case(
        state,
        write,
        lambda d: bigvgan_v2.load_bigvgan_v2(d / "bigvgan_v2_44khz_128band_512x"),
        "conv_pre.parametrizations.weight.original1",
        wrap="generator",
    )


def _synchformer() -> Case:
    config, state, _ = load_golden("features_synchformer.safetensors")
    cfg = synchformer.SynchformerConfig(**config)
    dim, p = cfg.embed_dim, cfg.patch_size
    full = {  # the release file also holds the unused 2-D stem
        **state,
        "vfeat_extractor.patch_embed.proj.weight": torch.randn(dim, 3, p, p),
        "vfeat_extractor.patch_embed.proj.bias": torch.randn(dim),
    }
    return Case(
        full,
        _save("synchformer_state_dict.pth"),
        lambda d: synchformer.load_synchformer(d / "synchformer_state_dict.pth", cfg=cfg),
        "vfeat_extractor.blocks.0.attn.qkv.weight",
    )


def _dfn5b_clip(weights_name: str = "open_clip_pytorch_model.bin") -> Case:
    model = clip.build_tiny_clip(seed=1).model
    state = {k: v.clone() for k, v in model.state_dict().items()}
    config = {
        "model_cfg": clip.TINY_CLIP_CONFIG,
        "preprocess_cfg": {"mean": list(clip.CLIP_MEAN), "std": list(clip.CLIP_STD)},
    }
    save = _save(f"{CLIP_DIR}/{weights_name}")

    def write(payload: dict[str, Any], folder: Path) -> Path:
        path = save(payload, folder)
        (path.parent / "open_clip_config.json").write_text(json.dumps(config))
        return path

    widths = (clip.TINY_CLIP_CONFIG["embed_dim"], clip.TINY_CLIP_CONFIG["text_cfg"]["width"])
    return Case(
        state,
        write,
        lambda d: clip.load_dfn5b_clip(d / CLIP_DIR, widths=widths),
        "visual.transformer.resblocks.0.attn.in_proj_weight",
    )


CASES: dict[str, Callable[[], Case]] = {
    "network": _network,
    "vae": _vae,
    "bigvgan_16k": _bigvgan_16k,
    "bigvgan_v2": _bigvgan_v2,
    "synchformer": _synchformer,
    "dfn5b_clip": _dfn5b_clip,
    "dfn5b_clip_safetensors": lambda: _dfn5b_clip("open_clip_model.safetensors"),
}


@pytest.fixture(scope="module", params=list(CASES))
def case(request: pytest.FixtureRequest) -> Case:
    return CASES[request.param]()


def spoil(case: Case, kind: str, folder: Path) -> Path:
    """Write the case's file spoiled one way; returns the weights file."""
    state = dict(case.state)
    assert case.key in state, case.key
    if kind == "missing":
        del state[case.key]
    elif kind == "unexpected":
        state["zz_stray.weight"] = torch.zeros(2, 2)
    elif kind == "shape":
        state[case.key] = torch.zeros(*(n + 1 for n in state[case.key].shape))
    elif kind == "nan":
        state[case.key] = state[case.key].clone()
        state[case.key].view(-1)[0] = float("nan")
    path = case.write(state, folder)
    if kind == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif kind == "code":
        RunsCode.marker = str(folder / "code-ran")
        torch.save({**state, "payload": RunsCode()}, path)
    return path


def test_the_good_file_loads(case: Case, tmp_path: Path) -> None:
    case.write(case.state, tmp_path)
    assert case.load(tmp_path) is not None


@pytest.mark.parametrize("kind", KINDS)
def test_bad_file_is_refused_naming_it(case: Case, kind: str, tmp_path: Path) -> None:
    path = spoil(case, kind, tmp_path)
    with pytest.raises(ModelError) as err:
        case.load(tmp_path)
    msg = str(err.value)
    assert isinstance(err.value, CheckpointError), msg
    assert "\n" not in msg and msg.startswith(f"{path}: "), msg
    if kind in {"missing", "unexpected", "shape", "nan"}:
        key = "zz_stray.weight" if kind == "unexpected" else case.key
        assert f"'{key}'" in msg, msg
    if kind == "nan":
        assert "NaN" in msg
    if kind == "truncated" or (kind == "code" and path.suffix == ".safetensors"):
        assert "cannot read" in msg  # a pickle named .safetensors is never unpickled at all
    elif kind == "code":
        assert "would run code" in msg and "weights_only" not in msg
        assert not (tmp_path / "code-ran").exists()
