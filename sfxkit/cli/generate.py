"""`sfxkit generate`: a sound for a video (or an image, or a prompt) with MMAudio.

The flags are :func:`sfxkit.generate`'s arguments. Writes a 24-bit WAV, optionally a copy of the
video with the sound muxed in, and prints the provenance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sfxkit.cli.options import (
    Cfg,
    Device,
    Json,
    Models,
    NegativePrompt,
    Progress,
    Seed,
    Steps,
    Variant,
)

__all__ = ["register"]

UNTRAINED_NOTE = "(tiny untrained model): random weights for tests; the sound is meaningless"


def generate_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="WAV file to write (24-bit).")],
    video: Annotated[
        Path | None,
        typer.Argument(help="Video file. Omit it for text-to-audio (--prompt) or with --image."),
    ] = None,
    mux: Annotated[
        Path | None,
        typer.Option(
            "--mux", help="Also write this video file: VIDEO's picture with the new sound."
        ),
    ] = None,
    prompt: Annotated[str, typer.Option("--prompt", "-p", help="What the sound should be.")] = "",
    negative_prompt: NegativePrompt = "",
    models: Models = None,
    variant: Variant = None,
    steps: Steps = 25,
    cfg: Cfg = 4.5,
    seed: Seed = 42,
    start: Annotated[
        float, typer.Option("--start", min=0.0, help="Seconds into VIDEO to start.")
    ] = 0.0,
    duration: Annotated[
        float | None,
        typer.Option("--duration", help="Seconds to generate (default: rest of VIDEO, or 8 s)."),
    ] = None,
    image: Annotated[
        Path | None, typer.Option("--image", help="Image-to-audio from this picture.")
    ] = None,
    device: Device = None,
    dtype: Annotated[
        str, typer.Option("--dtype", help="auto (bf16 on CUDA), fp32, bf16, fp16.")
    ] = "auto",
    weights_dir: Annotated[
        Path | None,
        typer.Option(
            "--weights-dir", help="Folder with the MMAudio weight files (searched first)."
        ),
    ] = None,
    as_json: Json = False,
    progress: Progress = True,
) -> None:
    """Generate a sound effect for VIDEO (or --image, or --prompt alone) with MMAudio."""
    import json

    from sfxkit.errors import InputError
    from sfxkit.generation import generate
    from sfxkit.generation.preflight import check_generator, generator_advice, resolve_variant

    if mux is not None and video is None:
        raise InputError("--mux needs a VIDEO to put the sound into")
    variant_name = resolve_variant(models, variant)
    if video is None or video.is_file():  # else generate() names the missing video first
        check_generator(variant_name, generator_advice("generate", retrieve=False), weights_dir)
    sound = generate(
        video,
        image=image,
        start=start,
        duration=duration,
        prompt=prompt,
        negative_prompt=negative_prompt,
        variant=variant_name,
        steps=steps,
        cfg_strength=cfg,
        seed=seed,
        device=device,
        dtype=dtype,
        weights_dir=weights_dir,
        progress=None if progress else False,
    )
    wav = sound.save(out)
    muxed = None
    if mux is not None:
        from sfxkit.media.mux import mux_audio

        assert video is not None
        muxed = mux_audio(video, wav, mux)
    if as_json:
        print(
            json.dumps({**sound.provenance, "out": str(wav), "mux": muxed and str(muxed)}, indent=2)
        )
    else:
        p = sound.provenance
        print(f"wrote {wav} ({sound.duration:.2f} s, {sound.sample_rate} Hz)")
        if muxed is not None:
            print(f"wrote {muxed} (video with the generated sound)")
        for key in (
            "model",
            "variant",
            "source",
            "input",
            "prompt",
            "negative_prompt",
            "seed",
            "steps",
            "cfg_strength",
            "start",
            "duration",
            "windows",
            "device",
            "dtype",
            "weights_licence",
        ):
            print(f"  {key}: {p.get(key)}")
    if sound.untrained:
        print(UNTRAINED_NOTE)
    else:
        from sfxkit.models.mmaudio_files import LICENCE_NOTICE

        print(LICENCE_NOTICE)


def register(app: typer.Typer) -> None:
    app.command("generate")(generate_cmd)
