"""Encoder throughput at the real architectures' sizes (random weights: no downloads needed).

    python benchmarks/encoders.py --device cuda --out benchmarks/results/encoders-cuda.json

Prints, per encoder, items/s through sfxkit's API next to the raw library forward on the same
inputs in the same run (the ratio is sfxkit's overhead), and the CPU-side preprocessing rates
(open_clip's PIL transform; transformers' CLAP feature extractor) that bound end-to-end speed.
Not a test: nothing asserts a time.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np


def _timed(fn: Any, sync: Any, repeat: int = 3) -> float:
    fn()  # warm-up (kernels, allocator)
    sync()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def bench(device: str, *, quick: bool = False) -> dict[str, Any]:
    import open_clip
    import torch
    from transformers import ClapConfig, ClapModel

    from sfxkit.models.clap import ClapEncoder, deterministic_feature_extractor_class
    from sfxkit.models.openclip import OpenClipEncoder
    from sfxkit.models.registry import build_encoder, parse_model_id
    from sfxkit.models.tiny import tiny_clap_tokenizer

    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    rng = np.random.default_rng(0)
    out: dict[str, Any] = {"device": device, "torch": torch.__version__}
    if device.startswith("cuda"):
        out["gpu"] = torch.cuda.get_device_name()
    out["cpu_threads"] = torch.get_num_threads()

    # --- CLIP ViT-B-32 (the default frame model's architecture), fp32
    model, _, transform = open_clip.create_model_and_transforms(
        "ViT-B-32", pretrained=None, device=device
    )
    clip = OpenClipEncoder(
        model,
        transform,
        open_clip.get_tokenizer("ViT-B-32"),
        model_id="ViT-B-32 random",
        device=device,
    )
    n = 8 if quick else 256
    frames = [rng.integers(0, 256, (360, 640, 3), dtype=np.uint8) for _ in range(n)]
    pixels = clip.preprocess(frames[:n])
    t_pre = _timed(lambda: clip.preprocess(frames), sync, repeat=1)
    t_api = _timed(lambda: clip.encode_preprocessed(pixels), sync)

    def raw() -> None:
        with torch.inference_mode():
            model.encode_image(pixels.to(device))

    t_raw = _timed(raw, sync)
    texts = [f"a photo of thing number {i}" for i in range(32 if quick else 1024)]
    t_txt = _timed(lambda: clip.encode_texts(texts), sync)
    out["clip_vit_b32"] = {
        "batch": n,
        "preprocess_frames_per_s": n / t_pre,
        "encode_preprocessed_per_s": n / t_api,
        "raw_encode_image_per_s": n / t_raw,
        "api_over_raw_time": t_api / t_raw,
        "texts_per_s": len(texts) / t_txt,
    }

    # --- CLAP at larger_clap_general's size (HTSAT-base, RoBERTa-base), fp32
    cfg = ClapConfig(
        text_config={"vocab_size": 50265, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
                     "intermediate_size": 3072, "projection_dim": 512},
        audio_config={"patch_embeds_hidden_size": 128, "depths": [2, 2, 12, 2], "num_attention_heads": [4, 8, 16, 32],
                      "hidden_size": 1024, "enable_fusion": False, "projection_dim": 512},
        projection_dim=512,
    )  # fmt: skip
    torch.manual_seed(0)
    clap_model = ClapModel(cfg).to(device).eval()
    extractor = deterministic_feature_extractor_class()(frequency_min=50, frequency_max=14_000)
    clap = ClapEncoder(
        clap_model, extractor, tiny_clap_tokenizer(), model_id="CLAP-base random", device=device
    )
    m = 2 if quick else 32
    clips = [rng.standard_normal(5 * 48_000).astype(np.float32) * 0.1 for _ in range(m)]
    feats = extractor(clips, sampling_rate=48_000, return_tensors="pt")
    t_fe = _timed(
        lambda: extractor(clips, sampling_rate=48_000, return_tensors="pt"), sync, repeat=1
    )

    def raw_audio() -> None:
        with torch.inference_mode():
            clap_model.get_audio_features(input_features=feats["input_features"].to(device))

    t_raw_a = _timed(raw_audio, sync)
    t_api_a = _timed(
        lambda: clap.encode_audio(clips, sample_rate=48_000, batch_size=m), sync, repeat=1
    )
    long_clip = rng.standard_normal(14 * 48_000).astype(np.float32) * 0.1
    a = clap.encode_audio([long_clip], sample_rate=48_000)
    np.random.seed(1)
    b = clap.encode_audio([long_clip], sample_rate=48_000)
    out["clap_base"] = {
        "clips": m,
        "clip_seconds": 5,
        "feature_extractor_clips_per_s": m / t_fe,
        "raw_audio_forward_clips_per_s": m / t_raw_a,
        "encode_audio_end_to_end_clips_per_s": m / t_api_a,
        "long_clip_deterministic": bool(np.array_equal(a, b)),
        "texts_per_s": len(texts) / _timed(lambda: clap.encode_texts(texts), sync, repeat=1),
    }

    # --- tiny variants: what tests and CI pay
    tf = build_encoder(parse_model_id("open_clip:tiny"), device=device)
    ta = build_encoder(parse_model_id("clap:tiny"), device=device)
    one_s = [rng.standard_normal(48_000).astype(np.float32) * 0.1 for _ in range(100)]
    small = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(100)]
    out["tiny"] = {
        "clap_100_one_second_clips_s": _timed(
            lambda: ta.encode_audio(one_s, sample_rate=48_000), sync, repeat=1
        ),
        "clip_100_frames_s": _timed(lambda: tf.encode_images(small), sync, repeat=1),
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default="")
    parser.add_argument("--quick", action="store_true", help="Tiny batches: a smoke run.")
    args = parser.parse_args()
    result = bench(args.device, quick=args.quick)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
