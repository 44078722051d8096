"""Model ids, the catalogue of known models, and the two loaders everything else calls.

Ids have a grammar, like open_clip's model names: ``family:name[/pretrained]``::

    open_clip:ViT-B-32/laion2b_s34b_b79k    any open_clip architecture / pretrained tag (default)
    open_clip:local-dir:/path/to/dir         open_clip_config.json + weights (hf-hub export layout)
    open_clip:hf-hub:org/repo                an open_clip repo on the Hugging Face hub
    clap:laion/larger_clap_general           any transformers ClapModel repo (default)
    clap:/path/to/dir                        a ClapModel save_pretrained directory
    laion_clap:630k-audioset-best.pt         LAION's original checkpoints (extra 'laion-clap')
    mmaudio:large_44k_v2                     generators; loaded by sfxkit.generation
    aisfx:x-sequential-ce (or just aisfx)     sound-effects audio embeddings (pulled from PyPI)
    pe_av:large (small, base, *-16-frame)    Meta's PE-AV: frames, shots, sounds, text in one space
    open_clip:tiny, clap:tiny, aisfx:tiny,   toy-size real architectures, random weights
    pe_av:tiny

``load_frame_encoder`` / ``load_audio_encoder`` / ``load_sfx_encoder`` / ``load_av_encoder`` build an encoder once per (id, device) and hand
the same object back afterwards. They never download; ``pull`` is the one function that does.
"""

from __future__ import annotations

import importlib.util
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sfxkit.config import (
    DEFAULT_AUDIO_MODEL,
    DEFAULT_FRAME_MODEL,
    DEFAULT_GENERATOR,
    MMAUDIO_VARIANTS,
    get_settings,
    resolve_device,
)
from sfxkit.errors import ModelError
from sfxkit.models.base import AudioEncoder, FrameEncoder, describe_model
from sfxkit.models.build import build_encoder
from sfxkit.models.spec import Kind, ModelSpec

__all__ = [
    "ModelSpec",
    "build_encoder",
    "clear_cache",
    "describe_model",
    "find_weights",
    "is_default",
    "list_models",
    "load_audio_encoder",
    "load_av_encoder",
    "load_frame_encoder",
    "load_sfx_encoder",
    "parse_model_id",
    "pull",
]

FAMILIES: dict[str, str] = {
    "open_clip": "frame encoder: frames + visual text (open_clip CLIP)",
    "clap": "audio encoder: sounds + audio text (transformers ClapModel)",
    "laion_clap": "audio encoder: LAION's original CLAP checkpoints (extra 'laion-clap')",
    "mmaudio": "generator: MMAudio video-to-audio (sfxkit.generation)",
    "aisfx": "sound-effects encoder: sounds only, no text (aiSFX, ISMIR 2022)",
    "pe_av": "audio-visual encoder: frames, shots, sounds and text in one space (Meta PE-AV)",
    "llm": "describer: a transformers causal language model (sfxkit bridge describe)",
    "vlm": "captioner: a transformers image-to-text model (sfxkit bridge mine --captioner)",
}
_KIND: dict[str, Kind] = {
    "open_clip": "frame",
    "clap": "audio",
    "laion_clap": "audio",
    "mmaudio": "generator",
    "aisfx": "sfx",
    "pe_av": "av",
    "llm": "language",
    "vlm": "language",
}
EXAMPLES = (
    DEFAULT_FRAME_MODEL,
    "open_clip:ViT-L-14/openai",
    "open_clip:local-dir:/path/to/dir",
    DEFAULT_AUDIO_MODEL,
    "clap:/path/to/save_pretrained_dir",
    "laion_clap:630k-audioset-best.pt",
    DEFAULT_GENERATOR,
    "open_clip:tiny",
    "clap:tiny",
    "aisfx:x-sequential-ce",
    "pe_av:large",
    "pe_av:tiny",
)
LAION_CLAP_REPO = "lukewys/laion_clap"
UNTRAINED_LICENCE = "n/a (random weights)"
AISFX_MODEL = "aisfx:x-sequential-ce"
TINY_SFX_MODEL = "aisfx:tiny"
# PE-AV (arXiv 2512.19687): the sizes facebook publishes on the hub, each also as "-16-frame"
# (trained on exactly 16 frames per clip; the others on any number). Large is the default: it
# is the checkpoint the paper's retrieval numbers are for (VGGSound video→audio R@1 48.3) and
# the view is opt-in by pulling it; small (~1.0 B parameters with its ModernBERT and ViT-L, 12
# audio layers x 768) is the fast one.
PE_AV_SIZES = ("small", "base", "large")
PE_AV_NAMES = (*PE_AV_SIZES, *(f"{s}-16-frame" for s in PE_AV_SIZES))
PE_AV_MODEL = "pe_av:large"
TINY_AV_MODEL = "pe_av:tiny"
PE_AV_LICENCE = "Apache-2.0"
_PE_AV_FILES = (
    "config.json",
    "model.safetensors",
    "preprocessor_config.json",
    "video_preprocessor_config.json",
    "tokenizer.json",
)
_PE_AV_LAYERS = {"small": "12 audio layers x 768", "base": "16 x 1024", "large": "28 x 1792"}
_HF_REPO = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[A-Za-z0-9][\w.\-]*)?$")


# ----------------------------------------------------------------------------- catalogue

_OC_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
_CLAP_FILES = (
    "config.json",
    "model.safetensors",
    "preprocessor_config.json",
    "vocab.json",
    "merges.txt",
)

_CATALOGUE: tuple[ModelSpec, ...] = (
    ModelSpec(
        DEFAULT_FRAME_MODEL, "open_clip", "ViT-B-32", "laion2b_s34b_b79k", False, "frame",
        "CLIP ViT-B/32 trained on LAION-2B: frames and visual descriptions (default)",
        "MIT", "laion/CLIP-ViT-B-32-laion2B-s34B-b79K", _OC_FILES,
    ),
    ModelSpec(
        "open_clip:ViT-B-16/laion2b_s34b_b88k", "open_clip", "ViT-B-16", "laion2b_s34b_b88k", False,
        "frame", "CLIP ViT-B/16 trained on LAION-2B: finer detail, ~3x slower than B/32",
        "MIT", "laion/CLIP-ViT-B-16-laion2B-s34B-b88K", _OC_FILES,
    ),
    ModelSpec(
        "open_clip:ViT-L-14/openai", "open_clip", "ViT-L-14", "openai", False, "frame",
        "OpenAI CLIP ViT-L/14", "MIT", "timm/vit_large_patch14_clip_224.openai", _OC_FILES,
    ),
    ModelSpec(
        "open_clip:ViT-L-14/laion2b_s32b_b82k", "open_clip", "ViT-L-14", "laion2b_s32b_b82k", False,
        "frame", "CLIP ViT-L/14 trained on LAION-2B", "MIT",
        "laion/CLIP-ViT-L-14-laion2B-s32B-b82K", _OC_FILES,
    ),
    ModelSpec(
        "open_clip:tiny", "open_clip", "tiny", None, True, "frame",
        "tiny open_clip ViT (32 px, patch 8, width 32, 2 layers), seeded random weights, for tests",
        UNTRAINED_LICENCE,
    ),
    ModelSpec(
        DEFAULT_AUDIO_MODEL, "clap", "laion/larger_clap_general", None, False, "audio",
        "LAION CLAP (HTSAT-base + RoBERTa) on general audio, music and speech (default)",
        "Apache-2.0", "laion/larger_clap_general", _CLAP_FILES,
    ),
    ModelSpec(
        "clap:laion/larger_clap_music", "clap", "laion/larger_clap_music", None, False, "audio",
        "LAION CLAP (HTSAT-base + RoBERTa) specialised on music", "Apache-2.0",
        "laion/larger_clap_music", _CLAP_FILES,
    ),
    ModelSpec(
        "clap:laion/clap-htsat-unfused", "clap", "laion/clap-htsat-unfused", None, False, "audio",
        "LAION CLAP (HTSAT-tiny + RoBERTa) on LAION-Audio-630K", "Apache-2.0",
        "laion/clap-htsat-unfused", _CLAP_FILES,
    ),
    ModelSpec(
        "clap:laion/clap-htsat-fused", "clap", "laion/clap-htsat-fused", None, False, "audio",
        "LAION CLAP with feature fusion for long clips", "Apache-2.0",
        "laion/clap-htsat-fused", _CLAP_FILES,
    ),
    ModelSpec(
        "clap:tiny", "clap", "tiny", None, True, "audio",
        "tiny CLAP (HTSAT 2 stages x width 8, RoBERTa 1 layer x 32, 48 kHz), seeded random weights",
        UNTRAINED_LICENCE,
    ),
    ModelSpec(
        "laion_clap:630k-audioset-best.pt", "laion_clap", "630k-audioset-best.pt", None, False,
        "audio", "LAION's original CLAP checkpoint (needs pip install 'sfxkit[laion-clap]')",
        "see hf.co/lukewys/laion_clap", LAION_CLAP_REPO, ("630k-audioset-best.pt",),
    ),
    ModelSpec(
        AISFX_MODEL, "aisfx", "x-sequential-ce", None, False, "sfx",
        "aiSFX X-Sequential-CE (Ma & Lerch, ISMIR 2022): 512-d embeddings of sound effects, "
        "trained on UCS-labelled SFX libraries; pulled from the PyPI wheel aisfx==0.1.2",
        "CC-BY-4.0", None, ("model.safetensors",),
    ),
    ModelSpec(
        TINY_SFX_MODEL, "aisfx", "tiny", None, True, "sfx",
        "tiny aiSFX (same CNN at width 8, 64-d), seeded random weights, for tests",
        UNTRAINED_LICENCE,
    ),
)  # fmt: skip


def _pe_av_spec(name: str) -> ModelSpec:
    if name == "tiny":
        return ModelSpec(
            TINY_AV_MODEL, "pe_av", "tiny", None, True, "av",
            "tiny PE-AV (every tower 1 layer x 32, 8-channel DAC front end, 32 px ViT), seeded "
            "random weights, for tests", UNTRAINED_LICENCE,
        )  # fmt: skip
    size = name.split("-")[0]
    frames = "16 frames per clip" if name.endswith("-16-frame") else "any number of frames"
    default = " (default)" if f"pe_av:{name}" == PE_AV_MODEL else ""
    return ModelSpec(
        f"pe_av:{name}", "pe_av", name, None, False, "av",
        f"Meta PE-AV {size} ({_PE_AV_LAYERS[size]}, ModernBERT text, PE-core ViT frames; "
        f"{frames}): frames and shots matched to sounds directly{default}",
        PE_AV_LICENCE, f"facebook/pe-av-{name}", _PE_AV_FILES,
    )  # fmt: skip


def _mmaudio_spec(variant: str) -> ModelSpec:
    tiny = variant.startswith("tiny")
    desc = (
        f"MMAudio {variant} at toy size, seeded random weights, for tests"
        if tiny
        else f"MMAudio {variant} video-to-audio generator (loaded by sfxkit.generation)"
    )
    return ModelSpec(
        f"mmaudio:{variant}", "mmaudio", variant, None, tiny, "generator", desc,
        UNTRAINED_LICENCE if tiny else "CC-BY-NC-4.0",
        None, () if tiny else (f"mmaudio_{variant}.pth",),
    )  # fmt: skip


def list_models() -> list[ModelSpec]:
    """The models sfxkit knows by name (any other open_clip tag or CLAP repo also parses)."""
    return [
        *_CATALOGUE,
        *(_pe_av_spec(n) for n in (*PE_AV_NAMES, "tiny")),
        *(_mmaudio_spec(v) for v in MMAUDIO_VARIANTS),
    ]


def is_default(spec: ModelSpec | str) -> bool:
    """Whether this is the frame, audio, PE-AV or generator model used when none is named."""
    model_id = spec.id if isinstance(spec, ModelSpec) else parse_model_id(spec).id
    settings = get_settings()
    return model_id in {settings.frame_model, settings.audio_model, PE_AV_MODEL, DEFAULT_GENERATOR}


# ----------------------------------------------------------------------------- parsing


def _unknown(model_id: str, why: str) -> ModelError:
    families = ", ".join(FAMILIES)
    examples = ", ".join(EXAMPLES)
    return ModelError(
        f"unknown model id {model_id!r}: {why}. Ids look like family:name[/pretrained] with family "
        f"one of {families}; for example {examples}. `sfxkit models list` shows the known ones."
    )


def _open_clip_archs() -> list[str]:
    """Architecture names open_clip ships, read from its config files (no torch import)."""
    from sfxkit.models.tiny import TINY_OPEN_CLIP_ARCH

    found = importlib.util.find_spec("open_clip")
    names = {TINY_OPEN_CLIP_ARCH}
    if found is not None and found.submodule_search_locations:
        for location in found.submodule_search_locations:
            names.update(p.stem for p in (Path(location) / "model_configs").glob("*.json"))
    return sorted(names)


def _path_like(text: str) -> bool:
    return text.startswith(("/", "./", "../", "~")) or (len(text) > 1 and text[1] == ":")


def parse_model_id(model_id: str) -> ModelSpec:
    """Parse and validate a model id; ``ModelError`` lists the families and examples if wrong."""
    if not isinstance(model_id, str) or not model_id.strip():
        raise _unknown(str(model_id), "a model id is a non-empty string")
    text = model_id.strip()
    if text == "aisfx":  # one pretrained aiSFX model exists; the family name is enough
        text = AISFX_MODEL
    for spec in _CATALOGUE:
        if spec.id == text:
            return spec
    family, sep, rest = text.partition(":")
    if not sep:
        hint = "it has no family prefix"
        if text == "tiny":
            hint = "'tiny' needs a family: open_clip:tiny or clap:tiny (aisfx:tiny: sound effects)"
        raise _unknown(text, hint)
    if family not in FAMILIES:
        raise _unknown(text, f"no model family {family!r}")
    rest = rest.strip()
    if not rest:
        raise _unknown(text, f"nothing after '{family}:'")
    parser = {
        "open_clip": _parse_open_clip,
        "clap": _parse_clap,
        "laion_clap": _parse_laion_clap,
        "mmaudio": _parse_mmaudio,
        "llm": _parse_language_model,
        "vlm": _parse_language_model,
        "aisfx": _parse_aisfx,
        "pe_av": _parse_pe_av,
    }[family]
    return parser(text, rest)


def _parse_open_clip(text: str, rest: str) -> ModelSpec:
    kind: Kind = "frame"
    if rest.startswith("local-dir:"):
        raw = rest[len("local-dir:") :].strip()
        if not raw:
            raise _unknown(text, "'local-dir:' needs a directory path")
        path = Path(raw).expanduser().resolve()
        return ModelSpec(
            f"open_clip:local-dir:{path}", "open_clip", f"local-dir:{path}", None, False, kind,
            f"open_clip model from the local directory {path}", "see the model's own licence",
            None, ("open_clip_config.json", *_OC_FILES),
        )  # fmt: skip
    if rest.startswith("hf-hub:"):
        repo = rest[len("hf-hub:") :].strip().strip("/")
        if "/" not in repo or not _HF_REPO.match(repo):
            raise _unknown(text, f"'{repo}' is not a Hugging Face repo id (org/name)")
        return ModelSpec(
            f"open_clip:hf-hub:{repo}", "open_clip", f"hf-hub:{repo}", None, False, kind,
            f"open_clip model from the Hugging Face repo {repo}", "see the model card",
            repo, ("open_clip_config.json", *_OC_FILES),
        )  # fmt: skip
    arch, _, tag = rest.partition("/")
    arch, tag = arch.strip(), tag.strip()
    archs = _open_clip_archs()
    if arch not in archs:
        import difflib

        close = difflib.get_close_matches(arch, archs, n=5, cutoff=0.5)
        also = f"; close matches: {', '.join(close)}" if close else ""
        raise _unknown(text, f"open_clip has no architecture {arch!r}{also}")
    if not tag:
        raise ModelError(
            f"model id {text!r} needs a pretrained tag: open_clip:{arch}/<tag>, e.g. "
            f"{DEFAULT_FRAME_MODEL} (open_clip.list_pretrained_tags_by_model('{arch}') lists them)"
        )
    from sfxkit.models.weights import OPEN_CLIP_WEIGHT_NAMES, open_clip_tag_files

    files: tuple[str, ...]
    tag_repo, files = open_clip_tag_files(arch, tag)
    if tag_repo is not None:
        tag = tag.lower().replace("-", "_")  # open_clip's own tag normalisation: one id per model
        for spec in _CATALOGUE:
            if spec.id == f"open_clip:{arch}/{tag}":
                return spec
    description = f"open_clip {arch} / {tag}"
    if tag_repo is None:
        files = OPEN_CLIP_WEIGHT_NAMES
        description += " (tag unknown to open_clip: weights must be placed in the sfxkit layout)"
    return ModelSpec(
        f"open_clip:{arch}/{tag}", "open_clip", arch, tag, False, kind, description,
        "MIT" if tag_repo and (tag_repo.startswith("laion/") or tag == "openai") else "see the model card",
        tag_repo, files,
    )  # fmt: skip


def _parse_clap(text: str, rest: str) -> ModelSpec:
    if _path_like(rest) or Path(rest).expanduser().is_dir():
        path = Path(rest).expanduser().resolve()
        return ModelSpec(
            f"clap:{path}", "clap", str(path), None, False, "audio",
            f"CLAP model from the local directory {path}", "see the model's own licence",
            None, _CLAP_FILES,
        )  # fmt: skip
    if not _HF_REPO.match(rest):
        raise _unknown(text, f"'{rest}' is neither a Hugging Face repo id (org/name) nor a path")
    return ModelSpec(
        f"clap:{rest}", "clap", rest, None, False, "audio", f"CLAP model {rest} (transformers)",
        "see the model card", rest, _CLAP_FILES,
    )  # fmt: skip


def _parse_laion_clap(text: str, rest: str) -> ModelSpec:
    if _path_like(rest) or "/" in rest:
        path = Path(rest).expanduser().resolve()
        return ModelSpec(
            f"laion_clap:{path}", "laion_clap", str(path), None, False, "audio",
            f"LAION CLAP checkpoint {path}", "see the checkpoint's licence", None, (path.name,),
        )  # fmt: skip
    if not rest.endswith((".pt", ".ckpt", ".pth")):
        raise _unknown(text, "laion_clap ids name a checkpoint file, e.g. 630k-audioset-best.pt")
    return ModelSpec(
        f"laion_clap:{rest}", "laion_clap", rest, None, False, "audio",
        f"LAION CLAP checkpoint {rest}", "see hf.co/lukewys/laion_clap", LAION_CLAP_REPO, (rest,),
    )  # fmt: skip


def _parse_language_model(text: str, rest: str) -> ModelSpec:
    family = text.partition(":")[0]
    if not _HF_REPO.match(rest) or "/" not in rest:
        raise _unknown(text, f"'{rest}' is not a Hugging Face repo id (org/name)")
    what = "causal language model" if family == "llm" else "image-to-text model"
    return ModelSpec(
        f"{family}:{rest}", family, rest, None, False, "language",
        f"{what} {rest} (transformers; used by the language bridge)", "see the model card",
        rest, (),
    )  # fmt: skip


def _parse_aisfx(text: str, rest: str) -> ModelSpec:
    raise _unknown(text, f"aiSFX has no model {rest!r}; use {AISFX_MODEL} or {TINY_SFX_MODEL}")


def _parse_pe_av(text: str, rest: str) -> ModelSpec:
    name = rest.removeprefix("facebook/pe-av-")  # the hub repo name works too
    if name in (*PE_AV_NAMES, "tiny"):
        return _pe_av_spec(name)
    raise _unknown(
        text, f"PE-AV has no model {rest!r}; models: {', '.join(PE_AV_NAMES)}, tiny (for tests)"
    )


def _parse_mmaudio(text: str, rest: str) -> ModelSpec:
    if rest not in MMAUDIO_VARIANTS:
        raise _unknown(
            text, f"MMAudio has no variant {rest!r}; variants: {', '.join(MMAUDIO_VARIANTS)}"
        )
    return _mmaudio_spec(rest)


# ----------------------------------------------------------------------------- loading

_CACHE: dict[tuple[str, str], Any] = {}
_CACHE_LOCK = threading.Lock()


def clear_cache() -> None:
    """Forget every loaded encoder (the next load builds a fresh one)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def load_frame_encoder(model_id: str | None = None, *, device: str | None = None) -> FrameEncoder:
    """The frame + visual-text encoder (default: ``SFXKIT_FRAME_MODEL`` or ViT-B-32/laion2b)."""
    spec = parse_model_id(model_id or get_settings().frame_model)
    _check_kind(spec, "frame", "load_frame_encoder", "open_clip:…")
    return _cached(spec, device)  # type: ignore[no-any-return]


def load_audio_encoder(model_id: str | None = None, *, device: str | None = None) -> AudioEncoder:
    """The audio + audio-text encoder (default: ``SFXKIT_AUDIO_MODEL`` or larger_clap_general)."""
    spec = parse_model_id(model_id or get_settings().audio_model)
    _check_kind(spec, "audio", "load_audio_encoder", "clap:… or laion_clap:…")
    return _cached(spec, device)  # type: ignore[no-any-return]


def load_sfx_encoder(model_id: str | None = None, *, device: str | None = None) -> Any:
    """The sound-effects audio encoder (an ``AisfxEncoder``; default ``aisfx:x-sequential-ce``).

    ``encode_audio(waveforms, sample_rate=)`` → ``(n, dim)`` float32, unit length. No text tower.
    """
    spec = parse_model_id(model_id or AISFX_MODEL)
    _check_kind(spec, "sfx", "load_sfx_encoder", "aisfx:…")
    return _cached(spec, device)


def load_av_encoder(model_id: str | None = None, *, device: str | None = None) -> Any:
    """The audio-visual encoder (a ``PeAvEncoder``; default ``pe_av:large``).

    ``encode_audio(waveforms, sample_rate=)``, ``encode_images(frames)``,
    ``encode_videos(clips)`` and ``encode_texts(texts)`` → ``(n, dim)`` float32, unit length,
    all in one space.
    """
    spec = parse_model_id(model_id or PE_AV_MODEL)
    _check_kind(spec, "av", "load_av_encoder", "pe_av:…")
    return _cached(spec, device)


def _check_kind(spec: ModelSpec, kind: Kind, func: str, takes: str) -> None:
    if spec.kind == kind:
        return
    extra = " (generators are loaded by sfxkit.generate)" if spec.kind == "generator" else ""
    if spec.kind == "sfx":
        extra = (
            " that embeds sounds only (load it with load_sfx_encoder; it makes the sfx_audio view)"
        )
    if spec.kind == "av":
        extra = " (load it with load_av_encoder; it makes the pe_audio and pe_text views)"
    article = "an" if spec.kind in {"audio", "sfx", "av"} else "a"
    raise ModelError(
        f"'{spec.id}' is {article} {spec.kind} model{extra}; {func} takes {kind} models: {takes}"
    )


def _cached(spec: ModelSpec, device: str | None) -> Any:
    resolved = resolve_device(device)
    key = (spec.id, resolved)
    with _CACHE_LOCK:
        encoder = _CACHE.get(key)
        if encoder is None:
            encoder = build_encoder(spec, device=resolved)
            _CACHE[key] = encoder
    return encoder


# ----------------------------------------------------------------------------- weights


def find_weights(model: ModelSpec | str) -> Any:
    """Where a model's weights are (a ``WeightsLocation``), or ``None``. Never downloads."""
    from sfxkit.models import mmaudio_files, weights

    spec = model if isinstance(model, ModelSpec) else parse_model_id(model)
    if spec.family != "mmaudio":
        return weights.locate(spec)
    if spec.tiny:
        return weights.WeightsLocation(Path("-"), weights.SOURCE_BUILT_IN)
    try:
        files = mmaudio_files.locate(spec.name)
    except ModelError:
        return None
    paths = [Path(p) for p in dict(files).values() if p is not None]
    if not paths:
        return None
    common = Path(os.path.commonpath([str(p) for p in paths]))
    source = weights.SOURCE_CACHE
    for root, label in weights.search_roots():
        if common == root or root in common.parents:
            source = label
            break
    return weights.WeightsLocation(common, source)


def pull(
    model_id: str,
    *,
    dest: Path | None = None,
    progress: bool = True,
    timeout: float = 10.0,
    echo: Callable[[str], None] | None = None,
) -> Path:
    """Download a model's weights into the sfxkit layout (the one function that uses the network).

    ``dest`` is a weights root (default ``<SFXKIT_CACHE>/weights``; pass your
    ``SFXKIT_WEIGHTS_DIR`` to fill that). If the weights are already there they are not fetched
    again, only loaded once to verify them. Returns the model's directory (or checkpoint file).
    Fails within about ``timeout`` seconds when the hub cannot be reached.
    """
    from sfxkit.models.pull import pull_spec

    return pull_spec(
        parse_model_id(model_id), dest=dest, progress=progress, timeout=timeout, echo=echo
    )
