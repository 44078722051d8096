"""Bridge heads: two small projection heads from frozen embeddings into one shared space.

A frame's CLIP image embedding and a sound's CLAP audio embedding live in different spaces.
The heads map both into a shared ``dim``-dimensional space where a frame and the sounds that fit
it are close (trained with a symmetric InfoNCE loss in :mod:`sfxkit.bridge.train`)::

    CLIP image emb ──standardise──► MLP + linear skip ──L2──►  shared space  ◄──L2── ... ◄── CLAP audio emb

Each head standardises its input with statistics of the training data (stored with the
weights), applies ``Linear → GELU → Dropout → Linear`` plus a linear skip path, and
L2-normalises. A learnable temperature (``logit_scale``) is part of the weights.

In an index the heads are two files, listed in the manifest like every other file:
``bridge/heads.safetensors`` (weights, no pickle) and ``bridge/config.json`` (dims, the CLIP and
CLAP model ids whose embeddings they take, training summary). The ``bridge`` view holds every
item's audio-head embedding; a frame query is ``embed_image(clip_image_embedding)``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from sfxkit.errors import IndexCorruptError, IndexMismatchError

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from sfxkit.index.store import LoadedIndex

HEADS_FILE = "bridge/heads.safetensors"
CONFIG_FILE = "bridge/config.json"
FORMAT = "sfxkit-bridge-heads"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class HeadsConfig:
    """Shapes of the heads and the encoders whose embeddings they take."""

    image_dim: int
    audio_dim: int
    dim: int = 128
    hidden: int = 256
    dropout: float = 0.1
    image_model: str = ""
    audio_model: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)  # training summary, free-form

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["extra"] = dict(self.extra)
        return {"format": FORMAT, "format_version": FORMAT_VERSION, **d}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> HeadsConfig:
        if d.get("format") != FORMAT or int(d.get("format_version", 0)) > FORMAT_VERSION:
            raise IndexMismatchError(
                f"bridge heads format {d.get('format')} v{d.get('format_version')} is not readable "
                f"by this sfxkit (reads {FORMAT} v{FORMAT_VERSION}); upgrade sfxkit or retrain "
                "with `sfxkit bridge train`"
            )
        keys = ("image_dim", "audio_dim", "dim", "hidden", "dropout", "image_model", "audio_model")
        kwargs: dict[str, Any] = {k: d[k] for k in keys if k in d}
        return cls(**kwargs, extra=dict(d.get("extra", {})))


def _module(config: HeadsConfig) -> torch.nn.Module:
    """The torch module for ``config`` (built on first use so importing this file stays cheap)."""
    import torch
    from torch import nn

    class Head(nn.Module):
        def __init__(self, in_dim: int) -> None:
            super().__init__()
            self.register_buffer("mean", torch.zeros(in_dim))
            self.register_buffer("inv_std", torch.ones(in_dim))
            self.fc1 = nn.Linear(in_dim, config.hidden)
            self.fc2 = nn.Linear(config.hidden, config.dim)
            self.skip = nn.Linear(in_dim, config.dim, bias=False)
            self.drop = nn.Dropout(config.dropout)

        mean: torch.Tensor
        inv_std: torch.Tensor

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = (x - self.mean) * self.inv_std
            h = self.fc2(self.drop(nn.functional.gelu(self.fc1(x)))) + self.skip(x)
            return nn.functional.normalize(h, dim=-1)

    class Bridge(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.image = Head(config.image_dim)
            self.audio = Head(config.audio_dim)
            self.logit_scale = nn.Parameter(torch.tensor(float(np.log(1 / 0.07))))

    return Bridge()


class BridgeHeads:
    """The trained heads: numpy in, L2-normalised float32 ``(N, dim)`` out."""

    def __init__(self, config: HeadsConfig, module: torch.nn.Module | None = None) -> None:
        self.config = config
        # Any: the heads' submodules (image, audio, logit_scale) are built dynamically.
        self.module: Any = module if module is not None else _module(config)
        self.module.eval()

    def __repr__(self) -> str:
        c = self.config
        return f"BridgeHeads(image {c.image_dim} / audio {c.audio_dim} -> {c.dim}, {self.digest})"

    @classmethod
    def create(
        cls,
        config: HeadsConfig,
        *,
        seed: int = 0,
        image_stats: tuple[np.ndarray, np.ndarray] | None = None,
        audio_stats: tuple[np.ndarray, np.ndarray] | None = None,
        temperature: float = 0.07,
    ) -> BridgeHeads:
        """Fresh heads, initialised from ``seed`` (the global torch RNG is left untouched)."""
        import torch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            module = cast(Any, _module(config))
        with torch.no_grad():
            for head, stats in ((module.image, image_stats), (module.audio, audio_stats)):
                if stats is not None:
                    mean, std = stats
                    head.mean.copy_(torch.as_tensor(np.asarray(mean, dtype=np.float32)))
                    inv = 1.0 / np.maximum(np.asarray(std, dtype=np.float32), 1e-6)
                    head.inv_std.copy_(torch.as_tensor(inv))
            module.logit_scale.fill_(float(np.log(1.0 / temperature)))
        return cls(config, module)

    # -------------------------------------------------------------------------- use
    def _run(self, head: Any, x: np.ndarray, in_dim: int, what: str, batch: int) -> np.ndarray:
        import torch

        arr = np.asarray(x, dtype=np.float32)
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[1] != in_dim:
            raise IndexMismatchError(
                f"the bridge {what} head takes {in_dim}-dim embeddings, got shape {arr.shape}; "
                f"use the encoder the heads were trained on"
            )
        if len(arr) == 0:
            return np.zeros((0, self.config.dim), dtype=np.float32)
        self.module.eval()
        out = []
        with torch.inference_mode():
            for s in range(0, len(arr), batch):
                out.append(head(torch.from_numpy(arr[s : s + batch])).numpy())
        return np.ascontiguousarray(np.concatenate(out), dtype=np.float32)

    def embed_image(self, clip_image_embs: np.ndarray, batch_size: int = 8192) -> np.ndarray:
        """CLIP image embeddings ``(N, image_dim)`` → shared space ``(N, dim)``."""
        return self._run(
            self.module.image, clip_image_embs, self.config.image_dim, "image", batch_size
        )

    def embed_audio(self, clap_audio_embs: np.ndarray, batch_size: int = 8192) -> np.ndarray:
        """CLAP audio embeddings ``(N, audio_dim)`` → shared space ``(N, dim)``."""
        return self._run(
            self.module.audio, clap_audio_embs, self.config.audio_dim, "audio", batch_size
        )

    @property
    def temperature(self) -> float:
        return float(np.exp(-float(self.module.logit_scale.detach())))

    # ------------------------------------------------------------------ (de)serialise
    def state_bytes(self) -> bytes:
        from safetensors.torch import save

        state = {k: v.detach().cpu().contiguous() for k, v in self.module.state_dict().items()}
        return bytes(save(state, metadata={"format": FORMAT}))

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.state_bytes()).hexdigest()[:12]

    @property
    def model_id(self) -> str:
        """How the ``bridge`` view names its model: ``bridge:<first 12 hex of the weights' sha256>``."""
        return f"bridge:{self.digest}"

    def config_bytes(self) -> bytes:
        return json.dumps(self.config.to_dict(), indent=2, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, config: Mapping[str, Any] | HeadsConfig, data: bytes) -> BridgeHeads:
        from safetensors.torch import load

        cfg = config if isinstance(config, HeadsConfig) else HeadsConfig.from_dict(config)
        heads = cls(cfg)
        try:
            state = load(data)
            heads.module.load_state_dict(state, strict=True)
        except Exception as exc:  # safetensors header errors, missing/unexpected keys, shapes
            raise IndexCorruptError(HEADS_FILE, f"bridge heads do not load ({exc})") from exc
        heads.module.eval()
        return heads


def load_heads_from_index(index: LoadedIndex) -> BridgeHeads:
    """The heads stored in an index (files verified against the manifest first).

    Raises :class:`IndexMismatchError` when the heads were trained on other encoders than the
    index's ``clip_text`` / ``clap_audio`` views use.
    """
    if not (index.has_file(HEADS_FILE) and index.has_file(CONFIG_FILE)):
        raise IndexCorruptError(
            index.root / HEADS_FILE,
            "the manifest lists a bridge view but not its heads; retrain with `sfxkit bridge train`",
        )
    config = HeadsConfig.from_dict(index.read_json(CONFIG_FILE))
    views = index.manifest.views
    for view, want in (("clip_text", config.image_model), ("clap_audio", config.audio_model)):
        have = views[view].model if view in views else None
        if want and have is not None and have != want:
            raise IndexMismatchError(
                f"{index.root}: the bridge heads take {want} embeddings but the '{view}' view was "
                f"built with {have}; retrain with `sfxkit bridge train`"
            )
    return BridgeHeads.from_bytes(config, index.read_bytes(HEADS_FILE))
