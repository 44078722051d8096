"""Regenerate the golden tensors for MMAudio's codecs and feature extractors from the reference.

Dev tool, not part of the library. It runs the reference implementation (hkchengrex/MMAudio at
the pinned commit below, MIT licence) from a local checkout and writes, under
``tests/generation/golden/``:

- ``codec_vae16k.safetensors`` / ``codec_vae44k.safetensors``: a toy-width VAE (hidden 8, real
  mel bands and latent channels), full state dict as the checkpoints hold it (encoder included,
  raw pre-normalisation weights), latents → mel (``FeaturesUtils.decode``) and mel → posterior
  mean/logvar;
- ``codec_bigvgan16k.safetensors``: the 16 kHz BigVGAN generator (``ext/bigvgan``) at a toy
  config, state dict with weight-norm parametrisations, mel → waveform;
- ``codec_bigvgan_v2.safetensors``: the BigVGAN v2 generator (``ext/bigvgan_v2``, no tanh, no
  final bias) at a toy config, likewise;
- ``features_synchformer.safetensors``: Synchformer's visual branch at width 32 / 1 block / 2
  heads (224 px, patch 16, tubelet 2: the real geometry), uint8 frames → the demo's sync
  transform → ``FeaturesUtils.encode_video_with_sync``;
- ``features_clip.safetensors``: an open_clip CLIP (ViT 378/27, width 32; text width 32, vocab
  256) with the reference's ``patch_clip``; uint8 frames → the demo's CLIP transform →
  ``FeaturesUtils.encode_video_with_clip``, and token ids → per-token text states.

Every parameter gets seeded random values (none left at a zero/one init, so each weight
matters), rounded to float16 and stored as float16: the values are exact, the files small, and
the reference ran on exactly those values in fp32. Buffers (filters, mel statistics) are stored
in fp32. Inputs are small uint8 frames / float tensors; a strided sample of the preprocessed
frames is stored too, to tell preprocessing drift from model drift. Reruns give identical
tensors (the safetensors header may serialise its keys in another order, so bytes can differ).

Usage::

    pip install --target /work/refdeps-codec omegaconf requests   # imported by ext/bigvgan, synchformer
    MMAUDIO_REF=/path/to/MMAudio PYTHONPATH=/work/refdeps-codec python scripts/mmaudio_golden_codecs.py
"""

from __future__ import annotations

import json
import os
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
GOLDEN_DIR = REPO / "tests" / "generation" / "golden"
REFERENCE_COMMIT = "974010a026c731054592d8f777218bd9d85a6c24"

# Toy configurations (the sfxkit side reads them back from each file's metadata).
VAE_TOY = {
    "16k": {"data_dim": 80, "embed_dim": 20, "hidden_dim": 8},
    "44k": {"data_dim": 128, "embed_dim": 40, "hidden_dim": 8},
}
VOC_TOY_16K = {
    "num_mels": 80,
    "upsample_rates": [8, 8, 4],
    "upsample_kernel_sizes": [16, 16, 8],
    "upsample_initial_channel": 16,
    "resblock_kernel_sizes": [3, 7],
    "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5]],
    "resblock": "1",
    "activation": "snakebeta",
    "snake_logscale": True,
}
VOC_TOY_V2 = {
    "num_mels": 128,
    "upsample_rates": [8, 8, 8],
    "upsample_kernel_sizes": [16, 16, 16],
    "upsample_initial_channel": 16,
    "resblock_kernel_sizes": [3, 7],
    "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5]],
    "resblock": "1",
    "activation": "snakebeta",
    "snake_logscale": True,
    "use_bias_at_final": False,
    "use_tanh_at_final": False,
}
SYNC_TOY = {"embed_dim": 32, "depth": 1, "num_heads": 2}
CLIP_TOY = {
    "embed_dim": 64,
    "quick_gelu": True,
    "vision_cfg": {"image_size": 378, "patch_size": 27, "width": 32, "head_width": 16, "layers": 1},
    "text_cfg": {"context_length": 77, "vocab_size": 256, "width": 32, "heads": 2, "layers": 1},
}
Rule = Callable[[str, torch.Tensor, torch.nn.Module], tuple[float, float]]
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)  # the reference's FeaturesUtils.clip_preprocess
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def import_reference() -> types.SimpleNamespace:
    ref = os.environ.get("MMAUDIO_REF")
    if not ref:
        sys.exit("set MMAUDIO_REF to a checkout of hkchengrex/MMAudio at " + REFERENCE_COMMIT)
    sys.path.insert(0, ref)
    import open_clip  # before the librosa shim: transformers probes librosa's import spec

    if "librosa" not in sys.modules:
        # Shim: features_utils imports mel_converter, which imports librosa.filters.mel at top
        # level for the mel *encoder* (training data prep). Nothing here computes a mel, so an
        # empty stand-in keeps librosa (and numba) out of the dev environment.
        librosa = types.ModuleType("librosa")
        filters = types.ModuleType("librosa.filters")
        filters.mel = None  # type: ignore[attr-defined]
        librosa.filters = filters  # type: ignore[attr-defined]
        sys.modules["librosa"], sys.modules["librosa.filters"] = librosa, filters

    from mmaudio.ext.autoencoder import vae as ref_vae
    from mmaudio.ext.bigvgan import models as ref_bigvgan
    from mmaudio.ext.bigvgan_v2 import bigvgan as ref_bigvgan_v2
    from mmaudio.ext.bigvgan_v2.env import AttrDict
    from mmaudio.ext.synchformer import motionformer, synchformer
    from mmaudio.model.utils import features_utils

    return types.SimpleNamespace(
        open_clip=open_clip,
        vae=ref_vae,
        bigvgan=ref_bigvgan,
        bigvgan_v2=ref_bigvgan_v2,
        AttrDict=AttrDict,
        motionformer=motionformer,
        synchformer=synchformer,
        features_utils=features_utils,
    )


def bare_features_utils(ref: types.SimpleNamespace, **parts: Any) -> Any:
    """A reference ``FeaturesUtils`` with the given parts plugged in (nothing downloaded)."""
    fu = ref.features_utils.FeaturesUtils(tod_vae_ckpt=None, enable_conditions=False, mode="16k")
    for name, module in parts.items():
        setattr(fu, name, module)
    return fu.eval()


@torch.no_grad()
def randomize_(module: torch.nn.Module, seed: int, rule: Rule) -> None:
    """Fill every parameter with ``mean + std * N(0, 1)`` (``rule`` gives both), fp16-exact."""
    gen = torch.Generator().manual_seed(seed)
    for name, p in module.named_parameters():
        owner = module.get_submodule(name.rsplit(".", 1)[0]) if "." in name else module
        mean, std = rule(name, p, owner)
        p.copy_((mean + std * torch.randn(p.shape, generator=gen)).half().float())


def golden_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Parameters as float16 (exact by construction), buffers as fp32."""
    params = {n for n, _ in module.named_parameters()}
    return {
        f"state.{k}": (v.half() if k in params else v.float()).contiguous()
        for k, v in module.state_dict().items()
    }


def save(name: str, tensors: dict[str, torch.Tensor], config: Any, note: str) -> Path:
    from safetensors.torch import save_file

    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    path = GOLDEN_DIR / name
    meta = {"config": json.dumps(config), "reference_commit": REFERENCE_COMMIT, "note": note}
    tmp = path.with_suffix(".tmp")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata=meta)
    os.chmod(tmp, 0o644)  # safetensors writes 0600
    os.replace(tmp, path)
    print(f"{path.relative_to(REPO)}: {path.stat().st_size / 1024:.0f} KiB")
    return path


# ----------------------------------------------------------------------------- VAE
def vae_rule(name: str, p: torch.Tensor, owner: torch.nn.Module) -> tuple[float, float]:
    # Raw MP weights are N(0, 1) in the reference (the fold normalises them); the output gains
    # get a spread around 0 so `learnable_gain + 1` is exercised.
    return (0.0, 0.3) if name.endswith("learnable_gain") else (0.0, 1.0)


def make_vae(ref: types.SimpleNamespace, mode: str, seed: int, toy: dict[str, int] | None = None):
    cfg = toy or VAE_TOY[mode]
    model = ref.vae.VAE(**cfg).eval()
    randomize_(model, seed, vae_rule)
    return model


@torch.no_grad()
def vae_golden(ref: types.SimpleNamespace, mode: str) -> None:
    model = make_vae(ref, mode, seed=11 if mode == "16k" else 12)
    tensors = golden_state(model)  # raw weights, as the checkpoint stores them
    model.remove_weight_norm()
    tod = types.SimpleNamespace(decode=model.decode)
    fu = bare_features_utils(ref)
    fu.tod = tod  # FeaturesUtils.decode: z (B, L, C) -> tod.decode(z.transpose(1, 2))
    gen = torch.Generator().manual_seed(21)
    cfg = VAE_TOY[mode]
    z = torch.randn(2, 12, cfg["embed_dim"], generator=gen)
    mel = fu.decode(z)
    mel_in = mel[:1].clone() + 0.1 * torch.randn(mel[:1].shape, generator=gen)
    posterior = model.encode(mel_in)
    tensors |= {
        "input.z": z,
        "output.mel": mel,
        "input.mel": mel_in,
        "output.enc_mean": posterior.mean,
        "output.enc_logvar": posterior.logvar,
    }
    save(
        f"codec_vae{mode}.safetensors",
        tensors,
        cfg,
        "VAE: z (B, L, C) -> FeaturesUtils.decode; mel -> encode",
    )


# ----------------------------------------------------------------------------- BigVGAN
def vocoder_rule(name: str, p: torch.Tensor, owner: torch.nn.Module) -> tuple[float, float]:
    if name.endswith(("alpha", "beta")):
        return 0.0, 0.3  # log-scale snake parameters
    if name.endswith("original0"):  # weight-norm magnitude g, per output channel
        return (0.05, 0.01) if name.startswith(("conv_post", "resblocks")) else (1.0, 0.1)
    if name.endswith("original1"):  # direction v (only its direction matters)
        return 0.0, 1.0
    return 0.0, 0.05  # biases


def make_vocoder(ref: types.SimpleNamespace, cfg: dict[str, Any], v2: bool, seed: int):
    h = ref.AttrDict(json.loads(json.dumps(cfg)))
    model = (
        ref.bigvgan_v2.BigVGAN(h, use_cuda_kernel=False) if v2 else ref.bigvgan.BigVGANVocoder(h)
    )
    randomize_(model.eval(), seed, vocoder_rule)
    return model


@torch.no_grad()
def vocoder_golden(ref: types.SimpleNamespace, v2: bool) -> None:
    cfg = VOC_TOY_V2 if v2 else VOC_TOY_16K
    model = make_vocoder(ref, cfg, v2, seed=31 if v2 else 32)
    tensors = golden_state(model)
    model.remove_weight_norm()
    gen = torch.Generator().manual_seed(41)
    # A plausible log-mel: the 16k/44k VAE statistics' range (mean ≈ -4, std ≈ 2).
    mel = -4.0 + 2.0 * torch.randn(2, cfg["num_mels"], 6, generator=gen)
    wav = model(mel)
    clipped = float((wav.abs() >= 0.999).float().mean())
    print(f"  vocoder v2={v2}: wav std {float(wav.std()):.3f}, clipped fraction {clipped:.4f}")
    tensors |= {"input.mel": mel, "output.wav": wav}
    name = "codec_bigvgan_v2.safetensors" if v2 else "codec_bigvgan16k.safetensors"
    save(
        name,
        tensors,
        cfg,
        "BigVGAN generator (weight-norm parametrisations), mel -> wav (B, 1, T*hop)",
    )


# ----------------------------------------------------------------------------- Synchformer
def layer_norm_or(
    default: Callable[[str, torch.Tensor], tuple[float, float]],
) -> Rule:
    """LayerNorm scales around 1 and shifts around 0; everything else by ``default``."""

    def rule(name: str, p: torch.Tensor, owner: torch.nn.Module) -> tuple[float, float]:
        if isinstance(owner, torch.nn.LayerNorm):
            return (1.0, 0.1) if name.endswith("weight") else (0.0, 0.05)
        return default(name, p)

    return rule


def sync_rule(name: str, p: torch.Tensor) -> tuple[float, float]:
    if name.endswith("patch_embed_3d.proj.weight"):
        return 0.0, p[0].numel() ** -0.5
    if name.endswith(("cls_token", "pos_embed", "temp_embed")):
        return 0.0, 0.5
    if name.endswith("bias"):
        return 0.0, 0.05
    # Linear weights scaled by fan-in (gain 0.5 per layer, like a trained ViT): with a fixed std
    # the 768-wide, 12-block model's activations grow to ~50 and fp32 rounding is amplified.
    return 0.0, 0.5 * p.shape[-1] ** -0.5


def make_synchformer(ref: types.SimpleNamespace, toy: dict[str, int] | None, seed: int):
    """The reference Synchformer; with ``toy``, its MotionFormer YAML is overridden on load."""
    mf = ref.motionformer
    real_load = mf.OmegaConf.load

    class _Patched:  # stands in for OmegaConf inside motionformer only, for this construction
        @staticmethod
        def load(path: Any) -> Any:
            cfg = real_load(path)
            if toy:
                cfg.VIT.EMBED_DIM, cfg.VIT.DEPTH, cfg.VIT.NUM_HEADS = (
                    toy["embed_dim"],
                    toy["depth"],
                    toy["num_heads"],
                )
            return cfg

    mf.OmegaConf = _Patched
    try:
        model = ref.synchformer.Synchformer().eval()
    finally:
        mf.OmegaConf = sys.modules["omegaconf"].OmegaConf
    randomize_(model, seed, layer_norm_or(sync_rule))
    return model


def sync_transform() -> Any:
    from torchvision.transforms import v2

    # As the reference's eval_utils.load_video builds it.
    return v2.Compose(
        [
            v2.Resize(224, interpolation=v2.InterpolationMode.BICUBIC),
            v2.CenterCrop(224),
            v2.ToImage(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5]),
        ]
    )


def clip_transform() -> Any:
    from torchvision.transforms import v2

    return v2.Compose(
        [
            v2.Resize((384, 384), interpolation=v2.InterpolationMode.BICUBIC),
            v2.ToImage(),
            v2.ToDtype(torch.float32, scale=True),
        ]
    )


@torch.no_grad()
def synchformer_golden(ref: types.SimpleNamespace) -> None:
    model = make_synchformer(ref, SYNC_TOY, seed=51)
    tensors = golden_state(model)
    gen = torch.Generator().manual_seed(61)
    # 24 frames (2 windows of 16, stride 8), landscape 30x40 so the resize upsamples and crops.
    frames = torch.randint(0, 256, (24, 30, 40, 3), generator=gen, dtype=torch.uint8)
    x = sync_transform()(frames.permute(0, 3, 1, 2))
    fu = bare_features_utils(ref, synchformer=model)
    feats = fu.encode_video_with_sync(x[None], batch_size=1)
    tensors |= {
        "input.frames": frames,
        "output.preprocessed_sample": x[:, :, ::16, ::16].contiguous(),
        "output.features": feats,
    }
    save(
        "features_synchformer.safetensors",
        tensors,
        SYNC_TOY,
        "frames -> sync transform -> encode_video_with_sync",
    )


# ----------------------------------------------------------------------------- CLIP
@torch.no_grad()
def clip_golden(ref: types.SimpleNamespace) -> None:
    from torchvision.transforms import Normalize

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(71)
        model = ref.open_clip.CLIP(**json.loads(json.dumps(CLIP_TOY))).eval()
    randomize_(model, 72, layer_norm_or(lambda n, p: (0.0, 0.05 if p.ndim < 2 else 0.1)))
    tensors = golden_state(model)
    model = ref.features_utils.patch_clip(model)
    fu = bare_features_utils(
        ref, clip_model=model, clip_preprocess=Normalize(mean=CLIP_MEAN, std=CLIP_STD)
    )
    gen = torch.Generator().manual_seed(81)
    frames = torch.randint(0, 256, (3, 40, 56, 3), generator=gen, dtype=torch.uint8)
    x = clip_transform()(frames.permute(0, 3, 1, 2))
    image_feats = fu.encode_video_with_clip(x[None], batch_size=2)
    # Token rows shaped like real ones: start token, words, end token, zero padding.
    tokens = torch.zeros(2, 77, dtype=torch.long)
    for row, length in enumerate((9, 30)):
        tokens[row, :length] = torch.randint(1, 256, (length,), generator=gen)
    text_states = model.encode_text(tokens, normalize=True)  # the patched per-token encode_text
    tensors |= {
        "input.frames": frames,
        "output.preprocessed_sample": x[:, :, ::24, ::24].contiguous(),
        "output.image_features": image_feats,
        "input.tokens": tokens,
        "output.text_states": text_states,
    }
    save(
        "features_clip.safetensors",
        tensors,
        CLIP_TOY,
        "frames -> clip transform -> encode_video_with_clip; tokens -> patched encode_text",
    )


def main() -> None:
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    ref = import_reference()
    for mode in ("16k", "44k"):
        vae_golden(ref, mode)
    vocoder_golden(ref, v2=False)
    vocoder_golden(ref, v2=True)
    synchformer_golden(ref)
    clip_golden(ref)
    total = sum(
        p.stat().st_size
        for p in GOLDEN_DIR.glob("*_*.safetensors")
        if p.name.startswith(("codec_", "features_"))
    )
    print(f"codec/features golden total: {total / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
