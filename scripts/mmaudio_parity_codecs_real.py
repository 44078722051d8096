"""Parity of sfxkit's MMAudio codecs and Synchformer with the reference at the *real* shapes.

Dev tool, not part of the library and not a test (it needs the reference checkout and a few GB
of RAM). For each module it builds the reference at the released size, fills every parameter
with seeded random values (same rules as ``mmaudio_golden_codecs.py``), hands its state dict —
under the reference's key names — to sfxkit's strict loader, runs both on the same input in fp32
on CPU and prints max |Δ| (and the output scale, for context):

- VAE 16k (hidden 384) and 44k (hidden 512): latents → mel, and mel → posterior mean;
- BigVGAN 16 kHz (v0.1 config, 1536 channels) and BigVGAN v2 44.1 kHz (release config):
  mel → waveform, with the weight-norm keys both as torch parametrisations and as the
  ``weight_g``/``weight_v`` spelling of the released files;
- Synchformer's visual branch (768 wide, 12 blocks): uint8 frames → features.

Usage::

    MMAUDIO_REF=/path/to/MMAudio PYTHONPATH=/work/refdeps-codec OMP_NUM_THREADS=2 \\
        python scripts/mmaudio_parity_codecs_real.py [--json out.json]
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mmaudio_golden_codecs as golden  # noqa: E402

from sfxkit.generation.mmaudio import bigvgan, bigvgan_v2, synchformer, vae  # noqa: E402
from sfxkit.generation.mmaudio.features import sync_frames  # noqa: E402


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float((a.float() - b.float()).abs().max())


def _params(state: dict[str, torch.Tensor]) -> str:
    return f"{sum(v.numel() for v in state.values()) / 1e6:.1f}M"


def as_weight_gv(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename torch parametrisation keys to the legacy ``weight_g``/``weight_v`` spelling."""
    out = {}
    for k, v in state.items():
        k = k.replace(".parametrizations.weight.original0", ".weight_g")
        out[k.replace(".parametrizations.weight.original1", ".weight_v")] = v
    return out


@torch.no_grad()
def vae_parity(ref: Any, mode: str) -> dict[str, Any]:
    cfg = vae.VAE_16K if mode == "16k" else vae.VAE_44K
    toy = {"data_dim": cfg.data_dim, "embed_dim": cfg.embed_dim, "hidden_dim": cfg.hidden_dim}
    theirs = golden.make_vae(ref, mode, seed=101, toy=toy)
    state = {k: v.clone() for k, v in theirs.state_dict().items()}
    theirs.remove_weight_norm()
    ours = vae.MelVAE(cfg, with_encoder=True)
    vae.load_vae_weights(ours, state, source="reference state dict")
    ours.eval()
    z = torch.randn(1, 64, cfg.embed_dim, generator=torch.Generator().manual_seed(1))
    t0 = time.perf_counter()
    mel_ref = theirs.decode(z.transpose(1, 2))
    mel = vae.decode_latents(ours, z)
    mean_ref = theirs.encode(mel_ref).mean
    mean, _ = ours.encode(mel_ref)
    return {
        "module": f"VAE {mode}",
        "params": _params(state),
        "shape": list(mel.shape),
        "decode_max_abs_diff": _max_diff(mel, mel_ref),
        "decode_output_absmax": float(mel_ref.abs().max()),
        "encode_max_abs_diff": _max_diff(mean, mean_ref),
        "seconds": round(time.perf_counter() - t0, 1),
    }


@torch.no_grad()
def vocoder_parity(ref: Any, v2: bool) -> dict[str, Any]:
    cfg = bigvgan_v2.BIGVGAN_V2_44K if v2 else bigvgan.BIGVGAN_16K
    raw = {
        "num_mels": cfg.num_mels,
        "upsample_rates": list(cfg.upsample_rates),
        "upsample_kernel_sizes": list(cfg.upsample_kernel_sizes),
        "upsample_initial_channel": cfg.upsample_initial_channel,
        "resblock_kernel_sizes": list(cfg.resblock_kernel_sizes),
        "resblock_dilation_sizes": [list(d) for d in cfg.resblock_dilation_sizes],
        "resblock": cfg.resblock,
        "activation": cfg.activation,
        "snake_logscale": cfg.snake_logscale,
        "use_bias_at_final": cfg.use_bias_at_final,
        "use_tanh_at_final": cfg.use_tanh_at_final,
    }
    theirs = golden.make_vocoder(ref, raw, v2, seed=102)
    state = {k: v.clone() for k, v in theirs.state_dict().items()}
    theirs.remove_weight_norm()
    mel = -4.0 + 2.0 * torch.randn(1, cfg.num_mels, 32, generator=torch.Generator().manual_seed(2))
    t0 = time.perf_counter()
    wav_ref = theirs(mel)
    results: dict[str, Any] = {
        "module": "BigVGAN v2 44k" if v2 else "BigVGAN 16k",
        "params": _params(state),
    }
    for spelling, sd in (("parametrizations", state), ("weight_g/weight_v", as_weight_gv(state))):
        ours = bigvgan.load_generator_weights(bigvgan.BigVGANGenerator(cfg), sd, source=spelling)
        wav = ours(mel)
        results[f"max_abs_diff[{spelling}]"] = _max_diff(wav, wav_ref)
        del ours
    results |= {
        "shape": list(wav_ref.shape),
        "samples_per_frame": wav_ref.shape[-1] // mel.shape[-1],
        "output_absmax": float(wav_ref.abs().max()),
        "clipped_fraction": float((wav_ref.abs() >= 0.999).float().mean()),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    return results


@torch.no_grad()
def synchformer_parity(ref: Any) -> dict[str, Any]:
    theirs = golden.make_synchformer(ref, None, seed=103)
    state = {k: v.clone() for k, v in theirs.state_dict().items()}
    ours = synchformer.Synchformer(synchformer.REAL_SYNCHFORMER)
    skipped = synchformer.load_synchformer_weights(ours, state, source="reference state dict")
    ours.eval()
    frames = torch.randint(
        0, 256, (24, 180, 320, 3), generator=torch.Generator().manual_seed(3), dtype=torch.uint8
    )
    x_ref = golden.sync_transform()(frames.permute(0, 3, 1, 2))
    x = sync_frames(frames.numpy())
    t0 = time.perf_counter()
    fu = golden.bare_features_utils(ref, synchformer=theirs)
    feats_ref = fu.encode_video_with_sync(x_ref[None], batch_size=2)
    windows = x.unfold(0, 16, 8).permute(0, 4, 1, 2, 3)  # (S, 16, C, H, W)
    feats = ours(windows[None]).reshape(1, -1, feats_ref.shape[-1])
    return {
        "module": "Synchformer (visual)",
        "params": _params(state),
        "shape": list(feats.shape),
        "preprocess_max_abs_diff": _max_diff(x, x_ref),
        "max_abs_diff": _max_diff(feats, feats_ref),
        "output_absmax": float(feats_ref.abs().max()),
        "ignored_keys": skipped,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    torch.manual_seed(0)
    ref = golden.import_reference()
    results = []
    for job in (
        lambda: vae_parity(ref, "16k"),
        lambda: vae_parity(ref, "44k"),
        lambda: vocoder_parity(ref, v2=False),
        lambda: vocoder_parity(ref, v2=True),
        lambda: synchformer_parity(ref),
    ):
        result = job()
        print(json.dumps(result), flush=True)
        results.append(result)
        gc.collect()
    if args.json:
        args.json.write_text(json.dumps({"torch": torch.__version__, "results": results}, indent=2))


if __name__ == "__main__":
    main()
