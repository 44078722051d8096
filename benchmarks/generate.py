"""MMAudio generation speed: seconds per sampler step and per 8 s clip, port vs reference.

Random weights at the real shapes (``small_16k``, ``large_44k_v2``; the speed does not depend on
the values), 8 s geometry, batch 1 with CFG. For each variant it times:

- one Euler step of sfxkit's sampler with both CFG branches in one batched forward (default),
  and with two forwards (to justify the default);
- with ``MMAUDIO_REF`` set: one step of the reference's sampler (``FlowMatching`` +
  ``MMAudio.ode_wrapper``) on the *same* weight tensors, measured interleaved with the port's in
  the same run; ratio = port / reference (target <= 1.0);
- the VAE decoder + vocoder at real size (random weights), when the codec modules exist;
- seconds per 8 s clip = conditions + ``--clip-steps`` (25) × step + decode + vocode.

CPU runs measure few steps (``--steps``, default 2; per-step time is the figure) to stay within a
few minutes; the JSON says how many. Writes ``benchmarks/results/generate-<device>.json``.

    OMP_NUM_THREADS=2 python benchmarks/generate.py
    MMAUDIO_REF=/path/to/MMAudio PYTHONPATH=/work/refdeps-net python benchmarks/generate.py
    python benchmarks/generate.py --device cuda --dtype bf16 --steps 10
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sfxkit.generation.mmaudio.flow import guided_velocity, timesteps  # noqa: E402
from sfxkit.generation.mmaudio.network import Conditions, build_network  # noqa: E402
from sfxkit.generation.mmaudio.variants import VARIANTS  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn: Callable[[], object], device: torch.device) -> float:
    _sync(device)
    t0 = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - t0


def _reference():
    ref = os.environ.get("MMAUDIO_REF")
    if not ref:
        return None
    sys.path.insert(0, ref)
    try:
        import torchdiffeq  # noqa: F401
    except ImportError:
        # Shim: flow_matching imports torchdiffeq only for its 'adaptive' mode, unused here.
        shim = types.ModuleType("torchdiffeq")
        shim.odeint = None  # type: ignore[attr-defined]
        sys.modules["torchdiffeq"] = shim
    from mmaudio.model.flow_matching import FlowMatching
    from mmaudio.model.networks import get_my_mmaudio

    return get_my_mmaudio, FlowMatching


def _codec(mode: str, device: torch.device, dtype: torch.dtype):
    """Real-size VAE decoder + vocoder with random weights, or None if unavailable."""
    try:
        from sfxkit.generation.mmaudio import bigvgan, bigvgan_v2, vae
        from sfxkit.generation.mmaudio.dims import REAL
        from sfxkit.generation.mmaudio.features import FeatureExtractor
    except ImportError as exc:
        print(f"codec modules unavailable ({exc}); timing network + sampler only")
        return None
    gen = torch.Generator().manual_seed(0)
    vae_model = vae.MelVAE(vae.VAE_16K if mode == "16k" else vae.VAE_44K).init_random(gen)
    voc_cfg = bigvgan.BIGVGAN_16K if mode == "16k" else bigvgan_v2.BIGVGAN_V2_44K
    vocoder = bigvgan.BigVGANGenerator(voc_cfg).init_random(gen)
    fx = FeatureExtractor(mode=mode, dims=REAL[mode], tiny=False, vae=vae_model, vocoder=vocoder)
    return fx.to(device=device, dtype=dtype)


@torch.no_grad()
def _fill_random(net: torch.nn.Module, device: torch.device) -> None:
    """Random values in place on the device (fast for 1B parameters), scaled by fan-in."""
    gen = torch.Generator(device=device).manual_seed(0)
    for name, p in net.named_parameters():
        if name.endswith("latent_std"):
            p.uniform_(0.5, 1.5, generator=gen)
        elif p.ndim >= 2 and not name.endswith(("_feat", "pos_emb", "latent_mean")):
            p.normal_(0.0, 1.0 / p[0].numel() ** 0.5, generator=gen)
        else:
            p.normal_(0.0, 0.1, generator=gen)


def bench_variant(
    variant: str, device: torch.device, dtype: torch.dtype, steps: int, clip_steps: int, ref_api
) -> dict[str, object]:
    cfg = VARIANTS[variant]
    d = cfg.dims
    ref = None
    if ref_api is not None:
        get_my_mmaudio, _ = ref_api
        with torch.device(device):
            ref = get_my_mmaudio(variant).eval()
        _fill_random(ref, device)
        ref = ref.to(dtype)
        net = build_network(cfg, device="meta")
        net.load_state_dict(ref.state_dict(), strict=True, assign=True)  # the same tensors
    else:
        net = build_network(cfg, device=device)
        _fill_random(net, device)
    net = net.to(device, dtype).eval()
    net.set_duration(8.0)

    gen = torch.Generator(device=device).manual_seed(0)

    def rnd(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen, device=device, dtype=dtype)

    clip = rnd(1, net.clip_seq_len, d.clip_dim)
    sync = rnd(1, net.sync_seq_len, d.sync_dim)
    text = rnd(1, d.text_seq_len, d.text_dim)
    neg = rnd(1, d.text_seq_len, d.text_dim)
    x = rnd(1, net.latent_seq_len, d.latent_dim)
    ts = timesteps(clip_steps)
    result: dict[str, object] = {
        "params_millions": round(sum(p.numel() for p in net.parameters()) / 1e6, 1)
    }

    with torch.inference_mode():
        net.preprocess_conditions(clip, sync, text)  # warm-up (first-call kernel setup)
        t_cond = _time(lambda: net.preprocess_conditions(clip, sync, text), device)
        cond = net.preprocess_conditions(clip, sync, text)
        empty = net.empty_conditions(1, negative_text=neg)
        both = Conditions.concat([cond, empty])

        def port_batched() -> object:
            return guided_velocity(net, x, ts[1], cond, empty, 4.5, batch_cfg=True, both=both)

        def port_separate() -> object:
            return guided_velocity(net, x, ts[1], cond, empty, 4.5, batch_cfg=False)

        runners: dict[str, Callable[[], object]] = {
            "port_batched_cfg": port_batched,
            "port_two_forwards": port_separate,
        }
        if ref is not None:
            r_cond = ref.preprocess_conditions(clip, sync, text)
            r_empty = ref.get_empty_conditions(1, negative_text_features=neg)

            def reference() -> object:
                return ref.ode_wrapper(ts[1], x, r_cond, r_empty, 4.5)

            runners["reference"] = reference
        for fn in runners.values():  # warm-up (allocator, oneDNN/cuDNN plans)
            fn()
        times: dict[str, list[float]] = {k: [] for k in runners}
        for _ in range(steps):  # interleaved, so load drift hits every runner alike
            for name, fn in runners.items():
                times[name].append(_time(fn, device))
        per_step = {k: min(v) for k, v in times.items()}
        result["step_seconds_min"] = {k: round(v, 4) for k, v in per_step.items()}
        result["step_seconds_median"] = {
            k: round(statistics.median(v), 4) for k, v in times.items()
        }
        result["conditions_seconds"] = round(t_cond, 4)
        if "reference" in per_step:
            result["ratio_port_over_reference"] = round(
                per_step["port_batched_cfg"] / per_step["reference"], 3
            )
        result["batched_cfg_over_two_forwards"] = round(
            per_step["port_batched_cfg"] / per_step["port_two_forwards"], 3
        )

        codec = _codec(cfg.mode, device, dtype)
        t_decode = t_vocode = 0.0
        if codec is not None:
            latents = net.unnormalize(x)
            codec.vocode(codec.decode(latents))  # warm-up
            mel = None

            def decode() -> None:
                nonlocal mel
                mel = codec.decode(latents)

            t_decode = _time(decode, device)
            t_vocode = _time(lambda: codec.vocode(mel), device)
            result["decode_seconds"] = round(t_decode, 4)
            result["vocode_seconds"] = round(t_vocode, 4)
        clip_s = t_cond + clip_steps * per_step["port_batched_cfg"] + t_decode + t_vocode
        result["clip_8s_seconds_port"] = round(clip_s, 3)
        result["clip_8s_includes"] = "conditions + steps x step" + (
            " + VAE decode + vocoder" if codec is not None else " (no codec)"
        )
        if "reference" in per_step:
            result["clip_8s_seconds_reference_network_sampler"] = round(
                clip_steps * per_step["reference"], 3
            )
    return result


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--dtype", default=None, help="fp32 or bf16 (default: bf16 on cuda, fp32 on cpu)"
    )
    ap.add_argument("--variants", nargs="+", default=["small_16k", "large_44k_v2"])
    ap.add_argument("--steps", type=int, default=None, help="timed steps per runner")
    ap.add_argument("--clip-steps", type=int, default=25, help="sampler steps in a clip")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    device = torch.device(args.device)
    dtype_name = args.dtype or ("bf16" if device.type == "cuda" else "fp32")
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    steps = args.steps or (2 if device.type == "cpu" else 10)
    ref_api = _reference()
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    report: dict[str, object] = {
        "benchmark": "mmaudio network + Euler/CFG sampler (+ codec) per 8 s clip, batch 1",
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or platform.machine(),
        "dtype": dtype_name,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "timed_steps_per_runner": steps,
        "clip_steps": args.clip_steps,
        "note": (
            "per-step time is the figure; seconds per clip = conditions + clip_steps x min step "
            "time + decode + vocode (video/text encoders not included); weights random, shapes real"
        ),
        "reference": "hkchengrex/MMAudio@974010a0 (MMAUDIO_REF)" if ref_api else None,
        "variants": {},
    }
    for variant in args.variants:
        print(f"--- {variant} on {device} {dtype_name}", flush=True)
        res = bench_variant(variant, device, dtype, steps, args.clip_steps, ref_api)
        print(json.dumps(res, indent=1), flush=True)
        report["variants"][variant] = res  # type: ignore[index]
        gc.collect()  # free this variant's weights before the next one is built
        if device.type == "cuda":
            torch.cuda.empty_cache()
    out = args.out or REPO / "benchmarks" / "results" / f"generate-{device.type}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
