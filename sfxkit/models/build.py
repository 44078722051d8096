"""Build an encoder from a parsed model id: the tiny variants offline, the others from the
weights found by ``sfxkit.models.weights`` (or a location given). The registry caches what this
builds; ``pull`` calls it to verify what it fetched."""

from __future__ import annotations

from typing import Any

from sfxkit.errors import ModelError
from sfxkit.models.spec import ModelSpec

__all__ = ["build_encoder"]


def build_encoder(spec: ModelSpec, *, device: str = "cpu", location: Any = None) -> Any:
    """A fresh (uncached) encoder; weights from ``location`` or found by the search order."""
    from sfxkit.models import weights

    if spec.family == "open_clip":
        from sfxkit.models.openclip import (
            OpenClipEncoder,
            load_open_clip_checkpoint,
            load_open_clip_dir,
        )

        if spec.tiny:
            from sfxkit.models.tiny import build_tiny_open_clip

            model, transform, tokenizer = build_tiny_open_clip(device)
            return OpenClipEncoder(
                model, transform, tokenizer, model_id=spec.id, device=device, untrained=True
            )
        where = location or weights.require(spec)
        if where.path.is_dir():
            return load_open_clip_dir(where.path, model_id=spec.id, device=device)
        return load_open_clip_checkpoint(
            spec.name, spec.pretrained, where.path, model_id=spec.id, device=device
        )
    if spec.family == "clap":
        from sfxkit.models.clap import ClapEncoder, load_clap_dir

        if spec.tiny:
            from sfxkit.models.tiny import build_tiny_clap

            model, extractor, tokenizer = build_tiny_clap(device)
            return ClapEncoder(
                model, extractor, tokenizer, model_id=spec.id, device=device, untrained=True
            )
        where = location or weights.require(spec)
        return load_clap_dir(where.path, model_id=spec.id, device=device)
    if spec.family == "laion_clap":
        from sfxkit.models.laionclap import import_laion_clap, load_laion_clap

        import_laion_clap()  # the missing extra is the first thing to say
        where = location or weights.require(spec)
        return load_laion_clap(where.path, model_id=spec.id, device=device)
    if spec.family == "aisfx":
        from sfxkit.models.aisfx import AisfxEncoder, build_tiny_aisfx, load_aisfx

        if spec.tiny:
            net = build_tiny_aisfx(device)
            return AisfxEncoder(net, model_id=spec.id, device=device, untrained=True)
        where = location or weights.require(spec)
        return load_aisfx(where.path, model_id=spec.id, device=device)
    if spec.family == "pe_av":
        from sfxkit.models.peav import PeAvEncoder, build_tiny_pe_av, load_pe_av_dir

        if spec.tiny:
            model, processor = build_tiny_pe_av(device)
            return PeAvEncoder(
                model, processor, model_id=spec.id, device=device, untrained=True,
                licence=spec.licence,
            )  # fmt: skip
        where = location or weights.require(spec)
        return load_pe_av_dir(where.path, model_id=spec.id, device=device, licence=spec.licence)
    if spec.family in {"llm", "vlm"}:
        raise ModelError(
            f"'{spec.id}' is a language model for the bridge; use it with "
            "`sfxkit bridge describe --llm ...` / `sfxkit bridge mine --captioner ...`, not as an encoder"
        )
    raise ModelError(f"'{spec.id}' is a generator; load it with sfxkit.generate, not as an encoder")
