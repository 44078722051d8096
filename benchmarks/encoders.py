"""Encoder throughput at the real architectures' sizes (random weights: no downloads needed).

    python benchmarks/encoders.py --device cuda --out benchmarks/results/encoders-cuda.json
    python benchmarks/encoders.py --only pe_av --out benchmarks/results/encoders-pe-av-cpu.json

Prints, per encoder, items/s through sfxkit's API next to the raw library forward on the same
inputs in the same run (the ratio is sfxkit's overhead), and the CPU-side preprocessing rates
(open_clip's PIL transform; transformers' CLAP feature extractor) that bound end-to-end speed.
PE-AV (``--only pe_av``): the audio and video towers at pe-av-small's size (audio 12 x 768,
video 4 x 768 over a PE-core ViT-L/14 at 336 px), sfxkit's ``PeAvEncoder`` (processor included)
against the raw transformers forward on processor output; and the ``pe_audio`` view's build
throughput (decode, resample, feature extraction, forward, store) against the raw audio forward
on the same sounds. Only the towers measured are materialised (the rest of the model stays on
the meta device) and the text tower is 1 layer wide at 1024, so the run fits in ~2.5 GB.
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


def pe_av_bench_model(device: str, *, video: bool = True) -> Any:
    """A PeAudioVideoModel with pe-av-small's audio and video towers (random weights) and a
    1-layer text tower; everything else stays on the meta device (never run here)."""
    import torch
    from transformers import AutoModel, PeAudioVideoConfig, PeAudioVideoModel
    from transformers.models.pe_audio.modeling_pe_audio import PeAudioEncoder
    from transformers.models.pe_video.modeling_pe_video import PeVideoEncoder

    from sfxkit.models.peav import _building

    block = dict(hidden_size=768, num_attention_heads=6, head_dim=128)
    cfg = PeAudioVideoConfig(
        text_config=dict(
            model_type="modernbert", hidden_size=1024, num_hidden_layers=1, vocab_size=600,
            num_attention_heads=16, intermediate_size=2624, pad_token_id=1, bos_token_id=0,
            eos_token_id=2, cls_token_id=0, sep_token_id=2,
        ),
        audio_video_config=dict(
            **block, num_hidden_layers=6,
            audio_config=dict(**block, num_hidden_layers=12),
            video_config=dict(**block, num_hidden_layers=4, vision_config=dict(num_labels=1024)),
        ),
    )  # fmt: skip
    with torch.device("meta"), _building():
        model = PeAudioVideoModel(cfg)
    torch.manual_seed(0)
    with _building():
        with_video = video
        audio, video = model.audio_model, model.video_model
        audio.audio_encoder = PeAudioEncoder(cfg.audio_video_config.audio_config)
        if with_video:
            video.video_encoder = PeVideoEncoder(cfg.audio_video_config.video_config)
        heads = {"audio_head": (audio, 768), "text_audio_head": (audio, 1024)}
        heads["video_head"] = (video, 768)
        for name, (owner, width) in heads.items():
            setattr(owner, name, type(getattr(owner, name))(width, 1024))
        model.text_model = AutoModel.from_config(cfg.text_config)
    for part in (audio.audio_encoder, model.text_model):
        part.to(device).eval()
    if with_video:
        video.video_encoder.to(device).eval()
    for owner, name in ((audio, "audio_head"), (audio, "text_audio_head"), (video, "video_head")):
        getattr(owner, name).to(device).eval()
    return model


def bench_pe_av(
    device: str,
    *,
    quick: bool = False,
    save: Any = None,
    parts: tuple[str, ...] = ("audio", "video", "build"),
    out: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``save(out)`` runs after each part, so a slow machine still leaves the parts it did."""

    import torch

    from sfxkit.models.peav import PeAvEncoder, tiny_pe_av_processor

    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    rng = np.random.default_rng(0)
    out = dict(out or {})
    out.update(device=device, torch=torch.__version__, cpu_threads=torch.get_num_threads())
    import sys

    def done(part: str) -> None:
        print(f"pe_av: {part} done", file=sys.stderr, flush=True)
        if save is not None:
            save(out)

    model = pe_av_bench_model(device, video="video" in parts)
    done("model")
    processor = tiny_pe_av_processor()  # the real processors' code at the real input sizes:
    processor.video_processor.size = {"height": 336, "width": 336}
    enc = PeAvEncoder(
        model, processor, model_id="pe_av:small", device=device, licence="n/a (random weights)"
    )

    m = 2 if quick else 4
    seconds = 5.0
    clips = [rng.standard_normal(int(seconds * 48_000)).astype(np.float32) * 0.1 for _ in range(m)]
    inputs = enc.audio_inputs(enc.prepare(clips, sample_rate=48_000))

    def raw_audio() -> None:
        with torch.inference_mode():
            model.get_audio_embeds(
                inputs["input_values"].to(device), padding_mask=inputs["padding_mask"].to(device)
            )

    t_raw_a = _timed(raw_audio, sync, repeat=3 if "audio" in parts else 1)
    if "audio" in parts:
        t_api_a = _timed(lambda: enc.encode_audio(clips, sample_rate=48_000, batch_size=m), sync)
        out["pe_av_small_audio"] = {
            "clips": m,
            "clip_seconds": seconds,
            "raw_get_audio_embeds_clips_per_s": m / t_raw_a,
            "encode_audio_end_to_end_clips_per_s": m / t_api_a,
            "api_over_raw_time": t_api_a / t_raw_a,
            "seconds_per_sound": t_api_a / m,
        }
        done("audio")

    if "video" in parts:
        _bench_pe_video(enc, model, device, sync, rng, 2 if quick else 4, out)
        done("video")
    if "build" in parts:
        _bench_pe_build(enc, clips, seconds, t_raw_a, out)
        done("build")
    return out


def _bench_pe_video(
    enc: Any, model: Any, device: str, sync: Any, rng: Any, frames: int, out: dict[str, Any]
) -> None:
    import torch

    video = [[rng.integers(0, 256, (360, 640, 3), dtype=np.uint8) for _ in range(frames)]]
    vin = enc.video_inputs([enc.fit_clip(c) for c in video])

    def raw_video() -> None:
        with torch.inference_mode():
            vm = model.video_model
            vo = vm.video_encoder(pixel_values_videos=vin["pixel_values_videos"].to(device))
            vm.video_head(vo.pooler_output)

    t_raw_v = _timed(raw_video, sync, repeat=2)
    t_api_v = _timed(lambda: enc.encode_videos(video), sync, repeat=2)
    out["pe_av_small_video"] = {
        "clips": 1,
        "frames_per_clip": frames,
        "frame_size": [360, 640],
        "raw_video_tower_clips_per_s": 1 / t_raw_v,
        "encode_videos_end_to_end_clips_per_s": 1 / t_api_v,
        "api_over_raw_time": t_api_v / t_raw_v,
        "seconds_per_shot": t_api_v,
    }


def _bench_pe_build(
    enc: Any, clips: list[np.ndarray], seconds: float, t_raw_a: float, out: dict[str, Any]
) -> None:
    import tempfile
    from pathlib import Path

    import soundfile as sf

    from sfxkit.index.build import build_index

    m = len(clips)
    # the build: m sounds of 5 s → the pe_audio (and pe_text) views, tiny CLIP/CLAP beside
    with tempfile.TemporaryDirectory() as tmp:
        lib = Path(tmp) / "lib"
        lib.mkdir()
        for i, c in enumerate(clips):
            sf.write(lib / f"sound_{i:03d}.wav", c, 48_000, subtype="FLOAT")
        report = build_index(
            lib, Path(tmp) / "idx", models="tiny", sfx_model="none",
            encoders={"av": enc}, progress=False,
        )  # fmt: skip
    t_view = report.seconds["embed_pe_audio"]
    out["pe_audio_build"] = {
        "sounds": m,
        "sound_seconds": seconds,
        "embed_pe_audio_s": t_view,
        "embed_pe_text_s": report.seconds["embed_pe_text"],
        "view_sounds_per_s": m / t_view,
        "raw_audio_forward_sounds_per_s": m / t_raw_a,
        "view_over_raw_time": t_view / t_raw_a,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default="")
    parser.add_argument("--quick", action="store_true", help="Tiny batches: a smoke run.")
    parser.add_argument("--only", choices=["all", "pe_av"], default="all")
    parser.add_argument(
        "--pe-parts",
        default="audio,video,build",
        help="PE-AV parts to run (added to an existing --out file): audio, video, build.",
    )
    args = parser.parse_args()

    def save(part: dict[str, Any]) -> None:
        if args.out:
            with open(args.out, "w", encoding="utf-8") as f:
                f.write(json.dumps(part, indent=2) + "\n")

    if args.only == "pe_av":
        import os

        parts = tuple(p.strip() for p in args.pe_parts.split(",") if p.strip())
        before = None
        if args.out and os.path.isfile(args.out) and set(parts) != {"audio", "video", "build"}:
            with open(args.out, encoding="utf-8") as f:
                before = json.load(f)
        result = bench_pe_av(args.device, quick=args.quick, save=save, parts=parts, out=before)
    else:
        result = bench(args.device, quick=args.quick)
        result["pe_av"] = bench_pe_av(args.device, quick=args.quick)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
