"""Optional backend: LAION's original CLAP checkpoints (``.pt``) through the ``laion-clap`` package.

``laion_clap:<checkpoint>`` ids load here; the default CLAP path is transformers' ``ClapModel``
(``sfxkit.models.clap``). Install with ``pip install 'sfxkit[laion-clap]'``.

Differences from the package's own ``load_ckpt``, on purpose:
- the checkpoint is read with ``torch.load(weights_only=True)`` (the package unpickles anything);
- the architecture is read off the checkpoint (HTSAT-base vs HTSAT-tiny audio tower, fusion or
  not), so a checkpoint never loads into the wrong model; keys must match exactly;
- clips longer than the 10 s window are centre-cropped (the package picks random crops), so the
  same sound always gives the same vector.

The package builds its RoBERTa text tower and tokenizer from the Hugging Face name
``roberta-base``; that is read from the hub cache offline (``sfxkit models pull`` fetches it).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sfxkit.errors import CheckpointError, MissingExtraError, ModelError
from sfxkit.models.base import (
    batches,
    check_batch_size,
    check_texts,
    empty,
    l2_normalise,
    resample,
    to_mono,
)

__all__ = ["LaionClapEncoder", "import_laion_clap", "load_laion_clap", "read_checkpoint"]

SAMPLE_RATE = 48_000
WINDOW_SAMPLES = 480_000  # 10 s, the package's max_len
TEXT_TOKENIZER_REPO = "roberta-base"


def import_laion_clap() -> Any:
    try:
        import laion_clap
    except ImportError as exc:
        raise MissingExtraError("laion-clap", "laion-clap", "laion_clap: model ids") from exc
    return laion_clap


_FIX = "use LAION's own file (`sfxkit models pull laion_clap:NAME`) or re-save it as a state dict"


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The checkpoint's state dict, safely: tensors only; a pickle that would run code, a
    truncated file or a non-tensor entry is refused naming the file."""
    from sfxkit.models.checkpoint import read_checkpoint as read_file
    from sfxkit.models.checkpoint import tensor_dict

    ckpt = read_file(path, fix=_FIX)
    entry = "state_dict" if isinstance(ckpt, dict) and "state_dict" in ckpt else None
    state = tensor_dict(ckpt, path=path, fix=_FIX, entry=entry)
    # Checkpoints saved from DistributedDataParallel prefix every key with "module.".
    state = {k.removeprefix("module."): v for k, v in state.items()}
    # Newer transformers keep RoBERTa's position_ids as a buffer that is not saved.
    state.pop("text_branch.embeddings.position_ids", None)
    return state


def architecture(state: dict[str, Any]) -> tuple[str, bool]:
    """(audio model name, fusion?) read off the checkpoint's keys and shapes."""
    fusion = any(".fusion_model." in k or ".mel_conv2d." in k for k in state)
    proj = state.get("audio_branch.patch_embed.proj.weight")
    if proj is None:
        raise ModelError("this checkpoint has no HTSAT audio tower (audio_branch.patch_embed.proj)")
    width = int(proj.shape[0])
    amodel = {96: "HTSAT-tiny", 128: "HTSAT-base"}.get(width)
    if amodel is None:
        raise ModelError(
            f"unrecognised HTSAT width {width} in this checkpoint (expected 96 or 128)"
        )
    return amodel, fusion


class LaionClapEncoder:
    """An ``AudioEncoder`` over ``laion_clap.CLAP_Module``."""

    def __init__(self, module: Any, *, model_id: str, device: str) -> None:
        self.module = module
        self.model = module.model
        self.model_id = model_id
        self.device = device
        self.untrained = False
        self.sample_rate = SAMPLE_RATE
        self.dim = int(module.model_cfg.get("embed_dim", 512))

    def encode_audio(
        self, waveforms: Sequence[np.ndarray], *, sample_rate: int, batch_size: int = 16
    ) -> np.ndarray:
        import torch

        batch_size = check_batch_size(batch_size)
        if len(waveforms) == 0:
            return empty(self.dim)
        clips = []
        for i, w in enumerate(waveforms):
            x = resample(to_mono(w, i), int(sample_rate), SAMPLE_RATE)
            if x.shape[0] > WINDOW_SAMPLES:
                start = (x.shape[0] - WINDOW_SAMPLES) // 2
                x = x[start : start + WINDOW_SAMPLES]
            clips.append(np.clip(x, -1.0, 1.0))
        parts = []
        with torch.inference_mode():
            for sl in batches(len(clips), batch_size):
                out = self.module.get_audio_embedding_from_data(x=clips[sl], use_tensor=False)
                parts.append(np.asarray(out, dtype=np.float32))
        return l2_normalise(np.concatenate(parts, axis=0))

    def encode_texts(self, texts: Sequence[str], *, batch_size: int = 256) -> np.ndarray:
        import torch

        texts = check_texts(texts)
        batch_size = check_batch_size(batch_size)
        if not texts:
            return empty(self.dim)
        parts = []
        with torch.inference_mode():
            for sl in batches(len(texts), batch_size):
                out = self.module.get_text_embedding(texts[sl])
                if hasattr(out, "detach"):
                    out = out.detach().float().cpu().numpy()
                parts.append(np.asarray(out, dtype=np.float32))
        return l2_normalise(np.concatenate(parts, axis=0))


def load_laion_clap(path: Path, *, model_id: str, device: str) -> LaionClapEncoder:
    laion_clap = import_laion_clap()
    from sfxkit.models.weights import hub_offline

    state = read_checkpoint(path)
    try:
        amodel, fusion = architecture(state)
    except ModelError as exc:
        raise CheckpointError(path, str(exc), _FIX) from exc
    try:
        with hub_offline():
            module = laion_clap.CLAP_Module(
                enable_fusion=fusion, device=device, amodel=amodel, tmodel="roberta"
            )
    except OSError as exc:
        raise ModelError(
            f"laion_clap needs the '{TEXT_TOKENIZER_REPO}' tokenizer and config in the Hugging Face "
            f"cache ({exc}); on a connected machine run `sfxkit models pull {model_id}`, which "
            "fetches them too"
        ) from exc
    from sfxkit.models.checkpoint import load_into

    what = f"laion_clap {amodel} model (fusion={fusion})"
    load_into(module.model, state, path=path, what=what, fix=_FIX)
    module.model.eval()
    return LaionClapEncoder(module, model_id=model_id, device=device)
