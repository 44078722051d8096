"""Parity of sfxkit's MMAudio network and sampler with the reference at the real shapes.

Dev tool. For ``small_16k`` and ``large_44k_v2`` (8 s geometry, fp32, CPU) it builds the reference
network, fills every parameter with seeded random values (nothing zeroed), shares those very
tensors with sfxkit's network (built on the meta device and assigned: no second copy, so the
large model needs ~4.5 GB, not 8), and compares:

- the velocity for random conditions (batch 1, t = 0.3);
- one Euler step of the 25-step schedule with CFG 4.5 and a negative prompt (sfxkit batches the
  two CFG branches into one forward; the reference runs two);
- the full sampler at 2 steps from seeded noise, then un-normalisation.

Prints max |Δ| (and the largest |value|) per comparison and exits non-zero if any max |Δ|
exceeds 1e-4.

    MMAUDIO_REF=/work/mmaudio-ref PYTHONPATH=/work/refdeps-net OMP_NUM_THREADS=2 \\
        python scripts/mmaudio_parity_real.py [small_16k large_44k_v2]
"""

from __future__ import annotations

import json
import os
import sys
import time
import types
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
TOL = 1e-4


def _reference():
    ref = os.environ.get("MMAUDIO_REF")
    if not ref:
        sys.exit("set MMAUDIO_REF to a checkout of hkchengrex/MMAudio (pinned commit)")
    sys.path.insert(0, ref)
    try:
        import torchdiffeq  # noqa: F401
    except ImportError:
        # Shim: flow_matching imports torchdiffeq only for its 'adaptive' mode, unused here.
        sys.modules["torchdiffeq"] = types.ModuleType("torchdiffeq")
        sys.modules["torchdiffeq"].odeint = None  # type: ignore[attr-defined]
    from mmaudio.model.flow_matching import FlowMatching
    from mmaudio.model.networks import get_my_mmaudio

    return get_my_mmaudio, FlowMatching


@torch.no_grad()
def _randomize(net: torch.nn.Module, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    for name, p in net.named_parameters():
        if name == "latent_std":
            p.copy_(0.5 + torch.rand(p.shape, generator=gen))
        elif p.ndim >= 2 and not name.endswith(("_feat", "pos_emb", "latent_mean")):
            p.normal_(0.0, 1.0 / p[0].numel() ** 0.5, generator=gen)
        else:
            p.normal_(0.0, 0.1, generator=gen)


def compare(variant: str) -> dict[str, float]:
    sys.path.insert(0, str(REPO))
    from sfxkit.generation.mmaudio.flow import (
        SamplerSettings,
        euler_sample,
        guided_velocity,
        timesteps,
    )
    from sfxkit.generation.mmaudio.network import build_network
    from sfxkit.generation.mmaudio.variants import VARIANTS

    get_my_mmaudio, flow_matching = _reference()
    t0 = time.time()
    ref = get_my_mmaudio(variant).eval()
    _randomize(ref, seed=1234)
    port = build_network(VARIANTS[variant], device="meta")
    port.load_state_dict(ref.state_dict(), strict=True, assign=True)  # shares storage
    port.eval()
    print(f"[{variant}] built in {time.time() - t0:.0f} s", flush=True)

    L, C = ref.latent_seq_len, ref.latent_dim
    d = VARIANTS[variant].dims
    gen = torch.Generator().manual_seed(7)

    def rnd(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen)

    clip = rnd(1, ref.clip_seq_len, d.clip_dim)
    sync = rnd(1, ref.sync_seq_len, d.sync_dim)
    text = rnd(1, d.text_seq_len, d.text_dim)
    neg = rnd(1, d.text_seq_len, d.text_dim)
    x = rnd(1, L, C)
    out: dict[str, float] = {}

    def record(name: str, a: torch.Tensor, b: torch.Tensor) -> None:
        out[name] = float((a - b).abs().max())
        out[name + "_max_abs_value"] = float(a.abs().max())
        print(f"[{variant}] {name}: max|Δ| = {out[name]:.3e} (max |x| {float(a.abs().max()):.3g})")

    with torch.inference_mode():
        r_cond = ref.preprocess_conditions(clip, sync, text)
        p_cond = port.preprocess_conditions(clip, sync, text)
        t = torch.tensor([0.3])
        record("velocity", ref.predict_flow(x, t, r_cond), port.predict_flow(x, t, p_cond))

        r_empty = ref.get_empty_conditions(1, negative_text_features=neg)
        p_empty = port.empty_conditions(1, negative_text=neg)
        ts = timesteps(25)
        rv = ref.ode_wrapper(ts[0], x, r_cond, r_empty, 4.5)
        pv = guided_velocity(port, x, ts[0], p_cond, p_empty, 4.5, batch_cfg=True)
        record("cfg_step", x + (ts[1] - ts[0]) * rv, x + (ts[1] - ts[0]) * pv)

        x0 = torch.randn(1, L, C, generator=torch.Generator().manual_seed(42))
        fm = flow_matching(min_sigma=0, inference_mode="euler", num_steps=2)
        r1 = fm.to_data(lambda tt, xx: ref.ode_wrapper(tt, xx, r_cond, r_empty, 4.5), x0)
        p1 = euler_sample(port, x0, p_cond, p_empty, SamplerSettings(steps=2, cfg_strength=4.5))
        record("sampler_2_steps", ref.unnormalize(r1.clone()), port.unnormalize(p1))
    return out  # both networks are freed here, before the next variant is built


def main() -> None:
    variants = sys.argv[1:] or ["small_16k", "large_44k_v2"]
    results = {v: compare(v) for v in variants}
    print(json.dumps(results, indent=1))
    worst = max(v for r in results.values() for k, v in r.items() if not k.endswith("_value"))
    print(f"worst max|Δ| = {worst:.3e} (tolerance {TOL})")
    sys.exit(0 if worst <= TOL else 1)


if __name__ == "__main__":
    main()
