"""Regenerate the MMAudio network golden files and key manifests from the reference code.

Dev tool, not part of the library. It runs the reference implementation (hkchengrex/MMAudio at
the pinned commit below, MIT licence) from a local checkout and writes:

- ``tests/generation/golden/network_v1.safetensors`` (tiny_16k shapes, v1 projections) and
  ``network_v2.safetensors`` (tiny_44k shapes, v2 projections). Each holds the reference module's
  state dict (seeded random values, stored as float16 and chosen to be exactly representable, so
  the file stays small and the fp32 model is exact), the inputs and the reference outputs for:
  the velocity of a batch of 2 at a 1.5 s geometry (RoPE recomputed after construction),
  one Euler step of the 25-step schedule with CFG 4.5 and a negative prompt, and the full
  sampler at 2 steps on the text-only path (learned empty video features) from seeded noise;
- ``sfxkit/generation/mmaudio/data/keys_<variant>.json``: the exact state-dict key names and
  shapes of every variant, built by the reference on the ``meta`` device (no memory).

Usage::

    pip install --no-deps --target /work/refdeps-net torchdiffeq   # imported by flow_matching
    MMAUDIO_REF=/path/to/MMAudio PYTHONPATH=/work/refdeps-net python scripts/mmaudio_golden_network.py
"""

from __future__ import annotations

import json
import os
import sys
import types
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
GOLDEN_DIR = REPO / "tests" / "generation" / "golden"
MANIFEST_DIR = REPO / "sfxkit" / "generation" / "mmaudio" / "data"
REFERENCE_COMMIT = "974010a026c731054592d8f777218bd9d85a6c24"
DURATION = 1.5  # a non-training length: exercises update_seq_lengths and odd token counts
CFG = 4.5


def _import_reference() -> tuple[type, type, object]:
    ref = os.environ.get("MMAUDIO_REF")
    if not ref:
        sys.exit("set MMAUDIO_REF to a checkout of hkchengrex/MMAudio at " + REFERENCE_COMMIT)
    sys.path.insert(0, ref)
    try:
        import torchdiffeq  # noqa: F401
    except ImportError:
        # Shim: flow_matching imports torchdiffeq at top level only for its 'adaptive' mode,
        # which this script never uses. Nothing from torchdiffeq runs.
        shim = types.ModuleType("torchdiffeq")
        shim.odeint = None  # type: ignore[attr-defined]
        sys.modules["torchdiffeq"] = shim
    from mmaudio.model import networks
    from mmaudio.model.flow_matching import FlowMatching

    return networks.MMAudio, FlowMatching, networks


def _reference_net(mmaudio_cls: type, cfg, seq: tuple[int, int, int]):
    d = cfg.dims
    return mmaudio_cls(
        latent_dim=d.latent_dim,
        clip_dim=d.clip_dim,
        sync_dim=d.sync_dim,
        text_dim=d.text_dim,
        hidden_dim=cfg.hidden_dim,
        depth=cfg.depth,
        fused_depth=cfg.fused_depth,
        num_heads=cfg.num_heads,
        latent_seq_len=seq[0],
        clip_seq_len=seq[1],
        sync_seq_len=seq[2],
        text_seq_len=d.text_seq_len,
        v2=cfg.v2,
    )


@torch.no_grad()
def _fp16_exact_random_(net: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """Random values for every parameter (none zeroed), rounded to float16 so storing them in
    float16 is lossless. Returns the float16 state dict."""
    gen = torch.Generator().manual_seed(seed)
    out: dict[str, torch.Tensor] = {}
    for name, p in net.named_parameters():
        if name == "latent_std":
            v = 0.5 + torch.rand(p.shape, generator=gen)
        elif p.ndim >= 2 and not name.endswith(("_feat", "pos_emb", "latent_mean")):
            v = torch.randn(p.shape, generator=gen) / p[0].numel() ** 0.5
        else:
            v = 0.1 * torch.randn(p.shape, generator=gen)
        v16 = v.half()
        p.copy_(v16.float())
        out[name] = v16
    return out


def _half_exact(x: torch.Tensor) -> torch.Tensor:
    return x.half().float()


def golden_for(variant: str, filename: str, seed: int) -> None:
    from safetensors.torch import save_file

    from sfxkit.generation.mmaudio.variants import VARIANTS, sequence_geometry

    mmaudio_cls, flow_matching, _ = _import_reference()
    cfg = VARIANTS[variant]
    d = cfg.dims
    g8 = sequence_geometry(8.0, cfg.mode)
    torch.manual_seed(seed)
    net = _reference_net(mmaudio_cls, cfg, (g8.latent_seq_len, g8.clip_seq_len, g8.sync_seq_len))
    net = net.eval()
    sd16 = _fp16_exact_random_(net, seed)
    g = sequence_geometry(DURATION, cfg.mode)
    net.update_seq_lengths(g.latent_seq_len, g.clip_seq_len, g.sync_seq_len)
    L, C = g.latent_seq_len, d.latent_dim

    gen = torch.Generator().manual_seed(seed + 1)

    def rnd(*shape: int) -> torch.Tensor:
        return _half_exact(torch.randn(*shape, generator=gen))

    def is_input(key: str) -> bool:
        return key.split(".", 1)[1] in {"x", "x0", "clip", "sync", "text", "negative_text"}

    tensors: dict[str, torch.Tensor] = {f"state_dict.{k}": v for k, v in sd16.items()}

    # 1) velocity, batch 2, distinct times
    x = rnd(2, L, C)
    clip = rnd(2, g.clip_seq_len, d.clip_dim)
    sync = rnd(2, g.sync_seq_len, d.sync_dim)
    text = rnd(2, d.text_seq_len, d.text_dim)
    t = torch.tensor([0.3, 0.75])
    with torch.no_grad():
        pre = net.preprocess_conditions(clip, sync, text)
        v = net.predict_flow(x, t, pre)
    tensors.update(
        {
            "velocity.x": x,
            "velocity.clip": clip,
            "velocity.sync": sync,
            "velocity.text": text,
            "velocity.t": t,
            "velocity.pre.clip": pre.clip_f,
            "velocity.pre.sync": pre.sync_f,
            "velocity.pre.text": pre.text_f,
            "velocity.pre.clip_global": pre.clip_f_c,
            "velocity.pre.text_global": pre.text_f_c,
            "velocity.out": v,
        }
    )

    # 2) one Euler step of the default 25-step schedule, CFG with a negative prompt, batch 2
    x0 = rnd(2, L, C)
    clip = rnd(2, g.clip_seq_len, d.clip_dim)
    sync = rnd(2, g.sync_seq_len, d.sync_dim)
    text = rnd(2, d.text_seq_len, d.text_dim)
    neg = rnd(2, d.text_seq_len, d.text_dim)
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    with torch.no_grad():
        cond = net.preprocess_conditions(clip, sync, text)
        empty = net.get_empty_conditions(2, negative_text_features=neg)

        def recording(tt: torch.Tensor, xx: torch.Tensor) -> torch.Tensor:
            flow = net.ode_wrapper(tt, xx, cond, empty, CFG)
            seen.append((xx, flow))
            return flow

        flow_matching(min_sigma=0, inference_mode="euler", num_steps=25).to_data(recording, x0)
    tensors.update(
        {
            "cfg_step.x0": x0,
            "cfg_step.clip": clip,
            "cfg_step.sync": sync,
            "cfg_step.text": text,
            "cfg_step.negative_text": neg,
            "cfg_step.velocity": seen[0][1],
            "cfg_step.x1": seen[1][0],
        }
    )

    # 3) full sampler, 2 steps, text-only (learned empty clip/sync), no negative prompt,
    #    noise from a seeded CPU generator as the reference's generate() draws it
    text = rnd(1, d.text_seq_len, d.text_dim)
    rng = torch.Generator().manual_seed(42)
    x0 = torch.randn(1, L, C, generator=rng)
    with torch.no_grad():
        cond = net.preprocess_conditions(
            net.get_empty_clip_sequence(1), net.get_empty_sync_sequence(1), text
        )
        empty = net.get_empty_conditions(1)
        fm = flow_matching(min_sigma=0, inference_mode="euler", num_steps=2)
        x1 = fm.to_data(lambda tt, xx: net.ode_wrapper(tt, xx, cond, empty, CFG), x0)
        audio_latent = net.unnormalize(x1.clone())
    tensors.update(
        {
            "sampler2.text": text,
            "sampler2.x0": x0,
            "sampler2.x1": x1,
            "sampler2.latents": audio_latent,
        }
    )
    meta = {
        "variant": variant,
        "reference_commit": REFERENCE_COMMIT,
        "duration": str(DURATION),
        "cfg_strength": str(CFG),
        "noise_seed": "42",
        "created_by": "scripts/mmaudio_golden_network.py",
    }
    fp16_exact = {k for k in tensors if is_input(k) and not k.startswith("sampler2.x0")}
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    path = GOLDEN_DIR / filename
    # Inputs drawn by rnd() are float16-exact: store them as float16 too (half the bytes).
    stored = {k: (v.half() if k in fp16_exact else v).contiguous() for k, v in tensors.items()}
    save_file(stored, str(path), metadata=meta)
    path.chmod(0o644)
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")


def manifests() -> None:
    from sfxkit.generation.mmaudio.variants import VARIANTS, sequence_geometry

    mmaudio_cls, _, networks = _import_reference()
    MANIFEST_DIR.mkdir(parents=True, exist_ok=True)
    for name, cfg in VARIANTS.items():
        with torch.device("meta"):
            if cfg.tiny:
                g8 = sequence_geometry(8.0, cfg.mode)
                seq = (g8.latent_seq_len, g8.clip_seq_len, g8.sync_seq_len)
                net = _reference_net(mmaudio_cls, cfg, seq)
            else:
                net = networks.get_my_mmaudio(name)
        sd = net.state_dict()
        doc = {
            "variant": name,
            "reference_commit": REFERENCE_COMMIT,
            "built_with": "tiny hyper-parameters, reference MMAudio class"
            if cfg.tiny
            else f"reference get_my_mmaudio('{name}')",
            "num_parameters": sum(v.numel() for v in sd.values()),
            "keys": {k: list(v.shape) for k, v in sd.items()},
        }
        path = MANIFEST_DIR / f"keys_{name}.json"
        path.write_text(json.dumps(doc, indent=1) + "\n")
        print(f"wrote {path} ({len(sd)} keys, {doc['num_parameters'] / 1e6:.2f} M parameters)")


def main() -> None:
    sys.path.insert(0, str(REPO))
    manifests()
    golden_for("tiny_16k", "network_v1.safetensors", seed=16)
    golden_for("tiny_44k", "network_v2.safetensors", seed=44)


if __name__ == "__main__":
    main()
