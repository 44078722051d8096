"""open_clip as sfxkit's frame encoder: frames and visual descriptions → one CLIP space.

Builds any open_clip architecture and loads its weights from a local file or directory found by
``sfxkit.models.weights`` (never from the network): the model's own eval transform is the
preprocessing, its own tokenizer the text path, and the pretrained tag's normalisation
(mean/std/interpolation/resize mode, QuickGELU) is applied even though the weights come from a
file rather than open_clip's downloader.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sfxkit._progress import track
from sfxkit.errors import ModelError, SfxkitError
from sfxkit.models.base import (
    batches,
    check_batch_size,
    check_texts,
    empty,
    gpu_autocast,
    l2_normalise,
    to_pil,
)

__all__ = [
    "OpenClipEncoder",
    "load_open_clip_checkpoint",
    "load_open_clip_dir",
    "load_open_clip_weights",
]


class OpenClipEncoder:
    """A ``FrameEncoder`` over an open_clip model, its eval transform and its tokenizer."""

    def __init__(
        self,
        model: Any,
        transform: Any,
        tokenizer: Any,
        *,
        model_id: str,
        device: str,
        untrained: bool = False,
    ) -> None:
        self.model = model.eval()
        self.transform = transform
        self.tokenizer = tokenizer
        self.model_id = model_id
        self.device = device
        self.untrained = untrained
        self.dim = _embed_dim(model)

    def __repr__(self) -> str:
        return f"OpenClipEncoder({self.model_id!r}, dim={self.dim}, device={self.device!r})"

    def preprocess(self, images: Sequence[Any]) -> Any:
        import torch

        if len(images) == 0:
            size = _image_size(self.model)
            return torch.zeros((0, 3, size[0], size[1]), dtype=torch.float32)
        return torch.stack([self.transform(to_pil(im, i)) for i, im in enumerate(images)])

    def encode_preprocessed(self, pixels: Any) -> np.ndarray:
        import torch

        if pixels.shape[0] == 0:
            return empty(self.dim)
        with torch.inference_mode(), gpu_autocast(self.device):
            feats = self.model.encode_image(pixels.to(self.device, dtype=torch.float32))
        return l2_normalise(feats.float().cpu().numpy())

    def encode_images(self, images: Sequence[Any], *, batch_size: int = 32) -> np.ndarray:
        batch_size = check_batch_size(batch_size)
        if len(images) == 0:
            return empty(self.dim)
        chunks = batches(len(images), batch_size)
        parts = []
        for sl in track(chunks, total=len(chunks), desc="CLIP frames", unit="batch"):
            pil = [to_pil(im, sl.start + j) for j, im in enumerate(images[sl])]
            parts.append(self.encode_preprocessed(self.preprocess(pil)))
        return np.concatenate(parts, axis=0)

    def encode_texts(self, texts: Sequence[str], *, batch_size: int = 256) -> np.ndarray:
        import torch

        texts = check_texts(texts)
        batch_size = check_batch_size(batch_size)
        if not texts:
            return empty(self.dim)
        parts = []
        chunks = batches(len(texts), batch_size)
        with torch.inference_mode():
            for sl in track(chunks, total=len(chunks), desc="CLIP texts", unit="batch"):
                tokens = self.tokenizer(texts[sl]).to(self.device)
                with gpu_autocast(self.device):
                    parts.append(self.model.encode_text(tokens).float().cpu().numpy())
        return l2_normalise(np.concatenate(parts, axis=0))


def _embed_dim(model: Any) -> int:
    dim = getattr(model, "embed_dim", None)
    if dim is None:
        proj = getattr(model, "text_projection", None)
        if proj is not None and hasattr(proj, "shape"):
            dim = proj.shape[-1]
        else:
            dim = model.visual.output_dim
    return int(dim)


def _image_size(model: Any) -> tuple[int, int]:
    size = getattr(model.visual, "image_size", 224)
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


class _QuietRandomInit(logging.Filter):
    """open_clip warns "initialized randomly" on the root logger; for the tiny model that is the
    point, and sfxkit labels it untrained itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "initialized randomly" not in record.getMessage()


def quiet_random_init() -> _QuietRandomInit:
    return _QuietRandomInit()


def _tag_overrides(arch: str, tag: str | None) -> dict[str, Any]:
    """What open_clip would apply for a named pretrained tag, for weights loaded from a file."""
    if not tag:
        return {}
    import open_clip

    cfg = open_clip.get_pretrained_cfg(arch, tag) or {}
    kwargs: dict[str, Any] = {
        f"image_{key}": cfg[key]
        for key in ("mean", "std", "interpolation", "resize_mode")
        if key in cfg
    }
    if cfg.get("quick_gelu"):
        kwargs["force_quick_gelu"] = True
    return kwargs


def read_open_clip_state(checkpoint: Path, *, fix: str) -> dict[str, Any]:
    """The tensors of an open_clip full-model checkpoint (``state_dict`` wrapper and
    ``module.`` prefix removed), read safely; raises ``CheckpointError`` naming the file."""
    from collections.abc import Mapping

    from sfxkit.models.checkpoint import read_checkpoint, tensor_dict

    raw = read_checkpoint(checkpoint, fix=fix)
    if isinstance(raw, Mapping) and isinstance(raw.get("state_dict"), Mapping):
        raw = raw["state_dict"]
    state = tensor_dict(raw, path=checkpoint, fix=fix)
    if all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    return state


def load_open_clip_weights(
    model: Any, state: dict[str, Any], checkpoint: Path, *, what: str, fix: str
) -> None:
    """Fill an open_clip model from a full-model checkpoint's tensors, strictly.

    The file is read by sfxkit (safetensors, or ``torch.load`` refusing pickled code) and must
    hold exactly the model's tensors with their shapes and finite values; open_clip's own loader
    would accept NaNs and print torch's multi-line advice on a refused pickle. The only liberties
    taken are open_clip's own format fixes: a ``state_dict`` wrapper, a ``module.`` prefix, a
    scalar-vs-1-d ``logit_scale``/``logit_bias`` and the text tower's obsolete ``position_ids``.
    """
    from sfxkit.models.checkpoint import load_into

    own = model.state_dict()
    for key in ("logit_scale", "logit_bias"):
        if key in state and key in own and state[key].numel() == own[key].numel():
            state[key] = state[key].reshape(own[key].shape)
    position_ids = "text.transformer.embeddings.position_ids"
    if position_ids in state and position_ids not in own:
        del state[position_ids]
    load_into(model, state, path=checkpoint, what=what, fix=fix)


def _create(name: str, device: str = "cpu", **kwargs: Any) -> tuple[Any, Any]:
    """(model, eval transform) of an open_clip architecture, random init, no download, built on
    ``device`` ("meta" builds the layout without memory)."""
    import open_clip

    from sfxkit.models.weights import hub_offline

    quiet = quiet_random_init()
    root = logging.getLogger()
    root.addFilter(quiet)  # the weights come next, from sfxkit's own strict loader
    try:
        with hub_offline():
            model, _, transform = open_clip.create_model_and_transforms(
                name,
                load_weights=False,
                device=device,
                pretrained_image=False,
                pretrained_text=False,
                **kwargs,
            )
    finally:
        root.removeFilter(quiet)
    return model, transform


def load_open_clip_checkpoint(
    arch: str, tag: str | None, checkpoint: Path, *, model_id: str, device: str
) -> OpenClipEncoder:
    """An open_clip architecture with its full weights from one local file (strict key match)."""
    import open_clip

    from sfxkit.models.checkpoint import pull_fix

    fix = pull_fix(model_id)
    state = read_open_clip_state(checkpoint, fix=fix)  # a bad file fails before the build
    try:
        model, transform = _create(arch, **_tag_overrides(arch, tag))
        tokenizer = open_clip.get_tokenizer(arch)
    except SfxkitError:
        raise
    except Exception as exc:  # open_clip and json errors alike
        raise ModelError(
            f"could not build open_clip '{model_id}' ({type(exc).__name__}: {exc}); "
            "check the architecture name"
        ) from exc
    load_open_clip_weights(model, state, checkpoint, what=f"open_clip {arch} model", fix=fix)
    model = model.to(device)
    return OpenClipEncoder(model, transform, tokenizer, model_id=model_id, device=device)


def load_open_clip_dir(path: Path, *, model_id: str, device: str) -> OpenClipEncoder:
    """An open_clip model from a directory with ``open_clip_config.json`` + a checkpoint."""
    import open_clip

    from sfxkit.models.weights import find_checkpoint

    fix = (
        "the directory must hold open_clip_config.json and the model's own "
        "open_clip_model.safetensors (or open_clip_pytorch_model.bin); "
        + (
            f"fetch a fresh copy with `sfxkit models pull {model_id}`"
            if "local-dir:" not in model_id
            else "copy them again"
        )
    )
    checkpoint = find_checkpoint(path)
    if checkpoint is None:
        raise ModelError(f"{path}: no open_clip checkpoint in this directory; {fix}")
    state = read_open_clip_state(checkpoint, fix=fix)  # a bad file fails before the build
    name = f"local-dir:{path}"
    try:
        model, transform = _create(name)
        tokenizer = open_clip.get_tokenizer(name)
    except SfxkitError:
        raise
    except Exception as exc:  # open_clip and json errors alike
        raise ModelError(
            f"{path / 'open_clip_config.json'}: not a usable open_clip config "
            f"({type(exc).__name__}: {' '.join(str(exc).split())}); {fix}"
        ) from exc
    load_open_clip_weights(
        model, state, checkpoint, what="open_clip model of open_clip_config.json", fix=fix
    )
    model = model.to(device)
    return OpenClipEncoder(model, transform, tokenizer, model_id=model_id, device=device)
