"""The MMAudio flow network and sampler agree with the reference implementation.

Golden files (``golden/network_v1|v2.safetensors``) were computed by the reference MMAudio code at
the pinned commit by ``scripts/mmaudio_golden_network.py``: the reference module's state dict
(seeded random values, every layer non-zero), its inputs and its outputs. Loading that state
dict strictly into sfxkit's network proves the key layout; the outputs must agree to 1e-4.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from sfxkit.generation.mmaudio.flow import (
    SamplerSettings,
    euler_sample,
    guided_velocity,
    initial_noise,
    timesteps,
)
from sfxkit.generation.mmaudio.network import build_network
from sfxkit.generation.mmaudio.variants import VARIANTS

GOLDEN = Path(__file__).parent / "golden"
TOL = 1e-4
CASES = [("network_v1.safetensors", "tiny_16k"), ("network_v2.safetensors", "tiny_44k")]


def _load(filename: str, variant: str):
    from safetensors import safe_open

    tensors = {k: v.float() for k, v in load_file(str(GOLDEN / filename)).items()}
    with safe_open(str(GOLDEN / filename), "pt") as f:
        meta = f.metadata()
    assert meta["variant"] == variant
    state = {
        k.removeprefix("state_dict."): v for k, v in tensors.items() if k.startswith("state_dict.")
    }
    net = build_network(VARIANTS[variant])
    net.load_state_dict(state, strict=True)  # the reference's exact key names and shapes
    net.set_duration(float(meta["duration"]))
    return net, tensors, meta


def _maxdiff(a, b) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float((a - b).abs().max())


@pytest.mark.parametrize(("filename", "variant"), CASES)
def test_velocity_matches_reference(filename: str, variant: str) -> None:
    net, g, _ = _load(filename, variant)
    with torch.inference_mode():
        pre = net.preprocess_conditions(g["velocity.clip"], g["velocity.sync"], g["velocity.text"])
        v = net.predict_flow(g["velocity.x"], g["velocity.t"], pre)
    assert _maxdiff(pre.clip, g["velocity.pre.clip"]) <= TOL
    assert _maxdiff(pre.sync, g["velocity.pre.sync"]) <= TOL
    assert _maxdiff(pre.text, g["velocity.pre.text"]) <= TOL
    assert _maxdiff(pre.clip_global, g["velocity.pre.clip_global"]) <= TOL
    assert _maxdiff(pre.text_global, g["velocity.pre.text_global"]) <= TOL
    assert _maxdiff(v, g["velocity.out"]) <= TOL
    # The velocity is a real signal, not zeros (the golden weights have no zeroed layers).
    assert float(g["velocity.out"].abs().mean()) > 0.05


@pytest.mark.parametrize("batch_cfg", [True, False])
@pytest.mark.parametrize(("filename", "variant"), CASES)
def test_one_cfg_euler_step_matches_reference(filename: str, variant: str, batch_cfg: bool) -> None:
    net, g, meta = _load(filename, variant)
    cfg = float(meta["cfg_strength"])
    ts = timesteps(25)
    with torch.inference_mode():
        cond = net.preprocess_conditions(g["cfg_step.clip"], g["cfg_step.sync"], g["cfg_step.text"])
        empty = net.empty_conditions(2, negative_text=g["cfg_step.negative_text"])
        v = guided_velocity(net, g["cfg_step.x0"], ts[0], cond, empty, cfg, batch_cfg=batch_cfg)
        x1 = g["cfg_step.x0"] + (ts[1] - ts[0]) * v
    assert _maxdiff(v, g["cfg_step.velocity"]) <= TOL
    assert _maxdiff(x1, g["cfg_step.x1"]) <= TOL


@pytest.mark.parametrize(("filename", "variant"), CASES)
def test_two_step_sampler_text_only_matches_reference(filename: str, variant: str) -> None:
    net, g, meta = _load(filename, variant)
    gen = torch.Generator().manual_seed(int(meta["noise_seed"]))
    x0 = initial_noise(
        1, net.latent_seq_len, net.latent_dim, generator=gen, device="cpu", dtype=torch.float32
    )
    # Same seed, same noise as the reference's generate().
    assert torch.equal(x0, g["sampler2.x0"])
    with torch.inference_mode():
        cond = net.preprocess_conditions(net.empty_clip(1), net.empty_sync(1), g["sampler2.text"])
        empty = net.empty_conditions(1)
        settings = SamplerSettings(steps=2, cfg_strength=float(meta["cfg_strength"]))
        x1 = euler_sample(net, x0, cond, empty, settings)
        latents = net.unnormalize(x1)
    assert _maxdiff(x1, g["sampler2.x1"]) <= TOL
    assert _maxdiff(latents, g["sampler2.latents"]) <= TOL


def test_golden_folder_stays_small() -> None:
    mine = [p for p in GOLDEN.glob("network_*.safetensors")]
    assert len(mine) == 2
    assert sum(p.stat().st_size for p in mine) < 1_500_000
