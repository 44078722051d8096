"""CLIP conditions for MMAudio: DFN5B ViT-H-14-384 frame embeddings and per-token text states.

MMAudio conditions on (a) the L2-normalised image embedding of each 384x384 frame and (b) the
text transformer's *per-token* output after the final LayerNorm, all 77 positions, each
L2-normalised — not the pooled text embedding. open_clip builds and loads the model (from a
local directory only: ``open_clip_config.json`` + ``open_clip_model.safetensors`` or
``open_clip_pytorch_model.bin``); :func:`text_token_states` reads the token states through the
model's own modules, so open_clip is never patched.

Frames are 384 px while the model's nominal size is 378 (27 patches of 14): the patch
convolution simply drops the last 6 pixels, exactly as in the reference. The tiny config keeps
that behaviour without any tiny-only resize: image 378 with patch 27 (a 14x14 grid; fed 384 px
the convolution again drops the last 6 pixels), vision width 32, text width 64, embed dim 64,
one layer per tower, the real 77-token context and vocabulary.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sfxkit.errors import MissingExtraError, ModelError, WeightsMissingError

# OpenAI CLIP normalisation, which the reference applies to DFN5B frames as well.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
TOKENIZER_NAME = "ViT-H-14-378-quickgelu"  # open_clip's bundled BPE tokenizer, 77 tokens
CONFIG_NAME = "open_clip_config.json"
WEIGHT_NAMES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")

# Tiny, untrained: 378 px with patch 27 (197 tokens instead of 730, same 384-px input), the
# real 77-token context and vocabulary, clip_dim 64 (embed_dim) and text width 64 (dims.TINY),
# one layer per tower.
TINY_CLIP_CONFIG: dict[str, Any] = {
    "embed_dim": 64,
    "quick_gelu": True,
    "vision_cfg": {"image_size": 378, "patch_size": 27, "width": 32, "head_width": 16, "layers": 1},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1},
}


def _open_clip() -> Any:
    try:
        import open_clip
    except ImportError as exc:  # pragma: no cover - open_clip is a core dependency
        raise MissingExtraError("open_clip_torch", "generate", "MMAudio CLIP features") from exc
    return open_clip


@lru_cache(maxsize=2)
def get_tokenizer(name: str = TOKENIZER_NAME) -> Any:
    """open_clip's tokenizer for ``name`` (bundled vocabulary; no download)."""
    return _open_clip().get_tokenizer(name)


def text_token_states(model: Any, tokens: Tensor) -> Tensor:
    """``(B, 77)`` token ids → ``(B, 77, width)`` final-LayerNorm states, unit norm per token.

    The text tower of an open_clip ``CLIP`` run up to ``ln_final``, skipping the pooling and the
    projection that ``encode_text`` would apply.
    """
    cast = model.transformer.get_cast_dtype()
    x = model.token_embedding(tokens).to(cast)
    x = x + model.positional_embedding.to(cast)
    x = model.transformer(x, attn_mask=model.attn_mask)
    return F.normalize(model.ln_final(x), dim=-1)


class ClipEncoder(nn.Module):
    """An open_clip ``CLIP`` plus its tokenizer, exposing MMAudio's two CLIP conditions."""

    mean: Tensor
    std: Tensor
    model: Any  # open_clip.CLIP (untyped library)

    def __init__(self, model: nn.Module, tokenizer: Any, *, untrained: bool = False) -> None:
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.untrained = untrained
        self.register_buffer("mean", torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(CLIP_STD).view(1, 3, 1, 1), persistent=False)

    @property
    def clip_dim(self) -> int:
        return int(self.model.visual.output_dim)

    @property
    def text_dim(self) -> int:
        return int(self.model.transformer.width)

    def encode_images(self, images: Tensor) -> Tensor:
        """``(N, 3, H, W)`` in [0, 1] → ``(N, clip_dim)`` unit-norm embeddings."""
        return self.model.encode_image((images - self.mean) / self.std, normalize=True)

    def encode_tokens(self, tokens: Tensor) -> Tensor:
        return text_token_states(self.model, tokens.to(self.mean.device))

    def encode_text(self, texts: list[str]) -> Tensor:
        """Prompts → ``(B, 77, text_dim)`` per-token states."""
        return self.encode_tokens(self.tokenizer(texts))


def build_tiny_clip(seed: int = 0) -> ClipEncoder:
    """The untrained tiny CLIP: open_clip's own initialisation under a fixed seed."""
    open_clip = _open_clip()
    # open_clip initialises from the global RNG; fork it so the caller's stream is untouched and
    # every process gets the same weights for the same seed.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = open_clip.CLIP(**TINY_CLIP_CONFIG)
    return ClipEncoder(model.eval(), get_tokenizer(), untrained=True)


DFN5B_WIDTHS = (1024, 1024)  # embed dim, text width of ViT-H-14


def load_dfn5b_clip(
    clip_dir: str | Path,
    *,
    model_id: str = "mmaudio:large_44k_v2",
    widths: tuple[int, int] = DFN5B_WIDTHS,
) -> ClipEncoder:
    """DFN5B CLIP ViT-H-14-384 from a local copy of ``apple/DFN5B-CLIP-ViT-H-14-384``.

    The weights must be exactly the config's model (strict keys, shapes, finite values; a pickle
    that would run code is refused). ``widths`` is the (embed, text) width the config must have:
    MMAudio's; tests pass the tiny config's to load toy files in the real layout."""
    clip_dir = Path(clip_dir)
    config = clip_dir / CONFIG_NAME
    if not config.is_file():
        raise WeightsMissingError(
            model_id, config, hint=f"The DFN5B CLIP config '{CONFIG_NAME}' is missing."
        )
    if not any((clip_dir / name).is_file() for name in WEIGHT_NAMES):
        raise WeightsMissingError(
            model_id,
            clip_dir / WEIGHT_NAMES[0],
            hint=f"No DFN5B CLIP weights ({' or '.join(WEIGHT_NAMES)}).",
        )
    try:
        model_cfg = json.loads(config.read_text(encoding="utf-8"))["model_cfg"]
        found = (model_cfg["embed_dim"], model_cfg["text_cfg"]["width"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{config}: not an open_clip model config ({exc})") from exc
    if tuple(found) != tuple(widths):
        raise ModelError(
            f"{config}: embed/text widths {found}, but MMAudio needs DFN5B ViT-H-14 {widths}"
        )
    from sfxkit.models.checkpoint import pull_fix
    from sfxkit.models.openclip import load_open_clip_weights, read_open_clip_state

    weights = next(clip_dir / name for name in WEIGHT_NAMES if (clip_dir / name).is_file())
    fix = pull_fix(model_id)
    state = read_open_clip_state(weights, fix=fix)  # a bad file fails before the 1B-param build
    open_clip = _open_clip()
    try:
        model = open_clip.create_model(f"local-dir:{clip_dir}", load_weights=False)
    except (RuntimeError, ValueError, OSError) as exc:
        raise ModelError(
            f"{config}: cannot build DFN5B CLIP from this config ({exc}); re-download it with "
            f"`sfxkit models pull {model_id}`"
        ) from exc
    load_open_clip_weights(model, state, weights, what="DFN5B CLIP ViT-H-14-384", fix=fix)
    return ClipEncoder(model.eval(), get_tokenizer())


__all__ = [
    "CLIP_MEAN",
    "CLIP_STD",
    "TINY_CLIP_CONFIG",
    "ClipEncoder",
    "build_tiny_clip",
    "get_tokenizer",
    "load_dfn5b_clip",
    "text_token_states",
]
