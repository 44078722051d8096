"""Everything MMAudio's flow network reads or writes outside itself: conditions in, audio out.

This module owns the :class:`FeatureExtractor` the network worker's pipeline drives:

* CLIP frame embeddings (8 fps, 384 px) and per-token text states (DFN5B ViT-H-14-384);
* Synchformer visual features (25 fps, 224 px, 16-frame windows with stride 8, 8 tokens each);
* the VAE decoder (latents → mel) and the vocoder (mel → waveform);

plus the frame preprocessing that matches the reference demo (:func:`clip_frames`,
:func:`sync_frames`), the weight-file bundle (:class:`FeatureFiles`) and the factory
(:func:`build_feature_extractor`, real weights or seeded ``tiny`` ones). The strict checkpoint
reader the codec modules share lives in ``checkpoint.py``.

Tiny mode builds the same architectures at toy width with seeded random weights and no files;
its outputs are meaningless (untrained) but shaped and timed exactly like the real ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sfxkit.errors import ConfigError, InputError, ModelError, WeightsMissingError
from sfxkit.generation.mmaudio.dims import REAL, TINY, Dims, Mode

if TYPE_CHECKING:
    from sfxkit.generation.mmaudio.bigvgan import BigVGANGenerator
    from sfxkit.generation.mmaudio.clip import ClipEncoder
    from sfxkit.generation.mmaudio.synchformer import Synchformer
    from sfxkit.generation.mmaudio.vae import MelVAE

CLIP_SIZE = 384  # CLIP frames are resized (not cropped) to 384x384
CLIP_FPS = 8.0
SYNC_SIZE = 224  # Synchformer frames: short side to 224, centre crop 224x224
SYNC_FPS = 25.0
SYNC_SEGMENT = 16  # frames per Synchformer window (0.64 s)
SYNC_STEP = 8  # window stride; each window yields 8 tokens (16 frames / tubelet 2)
CLIP_BATCH = 64  # default frames per CLIP forward pass (8 s at 8 fps)
SYNC_BATCH = 24  # default windows per Synchformer forward pass (8 s at 25 fps)

_DEFAULT_MODEL_ID: dict[str, str] = {"16k": "mmaudio:small_16k", "44k": "mmaudio:large_44k_v2"}


# --------------------------------------------------------------------------- frame preprocessing
def _as_frames(frames: np.ndarray | Tensor, what: str) -> Tensor:
    """(T, H, W, 3) uint8 → (T, 3, H, W) uint8 tensor, with an InputError for anything else."""
    if isinstance(frames, np.ndarray):
        arr = np.ascontiguousarray(frames)
        x = torch.from_numpy(arr if arr.flags.writeable else arr.copy())
    else:
        x = frames
    if x.dtype != torch.uint8 or x.ndim != 4 or x.shape[-1] != 3 or x.shape[0] == 0:
        raise InputError(
            f"{what} expects RGB frames as a (frames, height, width, 3) uint8 array, got "
            f"{tuple(x.shape)} {x.dtype}; decode video with sfxkit.media.frames.sample_frames"
        )
    return x.permute(0, 3, 1, 2)


def _resize_to_float(
    x: Tensor, size: tuple[int, int], crop: tuple[int, int, int, int] | None = None, chunk: int = 16
) -> Tensor:
    """Bicubic antialiased resize on uint8 (as torchvision's ``v2.Resize`` on CPU), optional
    crop ``(top, left, height, width)``, then float32 in [0, 1].

    Runs in chunks of frames straight into one preallocated output, so a long clip never holds
    more than one chunk of full-size intermediates.
    """
    top, left, h, w = crop if crop is not None else (0, 0, *size)
    out = torch.empty((x.shape[0], 3, h, w), dtype=torch.float32)
    for i in range(0, x.shape[0], chunk):
        part = x[i : i + chunk]
        if tuple(part.shape[-2:]) != size:
            part = F.interpolate(part.contiguous(), size=size, mode="bicubic", antialias=True)
        out[i : i + chunk] = part[..., top : top + h, left : left + w]
    return out.div_(255.0)


def clip_frames(frames: np.ndarray | Tensor) -> Tensor:
    """``(T, H, W, 3)`` uint8 → ``(T, 3, 384, 384)`` float in [0, 1] (squashed, not cropped).

    The reference demo resizes the uint8 frames to 384x384 (bicubic, antialiased) and scales to
    [0, 1]; CLIP's own mean/std normalisation happens inside
    :meth:`FeatureExtractor.encode_video_with_clip`.
    """
    return _resize_to_float(_as_frames(frames, "clip_frames"), (CLIP_SIZE, CLIP_SIZE))


def _short_side_size(height: int, width: int, short: int) -> tuple[int, int]:
    # torchvision's rule for Resize(int): the long side is truncated, not rounded.
    if width <= height:
        return int(short * height / width), short
    return short, int(short * width / height)


def sync_frames(frames: np.ndarray | Tensor) -> Tensor:
    """``(T, H, W, 3)`` uint8 → ``(T, 3, 224, 224)`` float, normalised to [-1, 1].

    As the reference: short side resized to 224 (bicubic, antialiased, on uint8), centre crop
    224x224 (offsets rounded half-to-even like torchvision), scale to [0, 1], then
    ``(x - 0.5) / 0.5``.
    """
    x = _as_frames(frames, "sync_frames")
    h, w = _short_side_size(x.shape[-2], x.shape[-1], SYNC_SIZE)
    top = int(round((h - SYNC_SIZE) / 2.0))
    left = int(round((w - SYNC_SIZE) / 2.0))
    out = _resize_to_float(x, (h, w), crop=(top, left, SYNC_SIZE, SYNC_SIZE))
    return out.sub_(0.5).div_(0.5)


# --------------------------------------------------------------------------- the extractor
class FeatureExtractor(nn.Module):
    """CLIP + Synchformer conditions, VAE decoder and vocoder for one MMAudio mode.

    Always in eval mode, gradients off. ``tiny`` extractors carry seeded random weights
    (untrained); their outputs are shaped exactly like the real ones.
    """

    def __init__(
        self,
        *,
        mode: Mode,
        dims: Dims,
        tiny: bool,
        vae: MelVAE,
        vocoder: BigVGANGenerator,
        synchformer: Synchformer | None = None,
        clip: ClipEncoder | None = None,
    ) -> None:
        super().__init__()
        self.mode: Mode = mode
        self.dims = dims
        self.tiny = tiny
        self.vae = vae
        self.vocoder = vocoder
        self.synchformer = synchformer
        self.clip = clip
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> FeatureExtractor:
        # Inference only: dropout and friends never switch on, whatever a caller's .train() does.
        return super().train(False)

    @property
    def device(self) -> torch.device:
        return next(self.vae.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.vae.parameters()).dtype

    def _need(self, part: str) -> Any:
        module = getattr(self, part)
        if module is None:
            raise ModelError(
                f"this feature extractor was built without {part} (need_conditions=False); "
                "build it with need_conditions=True to encode video or text"
            )
        return module

    @torch.inference_mode()
    def encode_video_with_clip(self, x: Tensor, batch_size: int = -1) -> Tensor:
        """``(B, T, 3, 384, 384)`` in [0, 1] → ``(B, T, clip_dim)`` unit-norm frame embeddings.

        ``batch_size`` frames per forward pass; -1 means up to 64 (8 s of frames). The grouping
        never changes the numbers, only peak memory.
        """
        clip = self._need("clip")
        if x.ndim != 5 or tuple(x.shape[2:]) != (3, CLIP_SIZE, CLIP_SIZE):
            raise InputError(
                f"CLIP frames must be (batch, frames, 3, {CLIP_SIZE}, {CLIP_SIZE}), got "
                f"{tuple(x.shape)}; prepare them with clip_frames()"
            )
        b, t = x.shape[:2]
        flat = x.reshape(b * t, *x.shape[2:])
        step = min(b * t, CLIP_BATCH) if batch_size < 0 else batch_size
        out = [
            clip.encode_images(flat[i : i + step].to(self.device, self.dtype))
            for i in range(0, b * t, step)
        ]
        return torch.cat(out).reshape(b, t, -1)

    @torch.inference_mode()
    def encode_video_with_sync(self, x: Tensor, batch_size: int = -1) -> Tensor:
        """``(B, T, 3, 224, 224)`` normalised frames → ``(B, S * 8, sync_dim)``.

        ``S = (T - 16) // 8 + 1`` windows of 16 frames, stride 8 (trailing frames that do not fill
        a window are dropped, as the reference does). ``batch_size`` counts windows per forward
        pass; -1 means up to 24 (8 s of video). The grouping never changes the numbers, only
        speed and peak memory (one window at a time is several times slower on a CPU).
        """
        synchformer = self._need("synchformer")
        if x.ndim != 5 or tuple(x.shape[2:]) != (3, SYNC_SIZE, SYNC_SIZE):
            raise InputError(
                f"Synchformer frames must be (batch, frames, 3, {SYNC_SIZE}, {SYNC_SIZE}), got "
                f"{tuple(x.shape)}; prepare them with sync_frames()"
            )
        b, t = x.shape[:2]
        if t < SYNC_SEGMENT:
            raise InputError(
                f"Synchformer needs at least {SYNC_SEGMENT} frames ({SYNC_SEGMENT / SYNC_FPS:.2f} s "
                f"at {SYNC_FPS:g} fps), got {t}"
            )
        n_seg = (t - SYNC_SEGMENT) // SYNC_STEP + 1
        # A (B, S, 16, C, H, W) view of the overlapping windows; only one batch of windows is
        # ever copied out of it, so memory stays at the input plus one forward pass.
        windows = x.unfold(1, SYNC_SEGMENT, SYNC_STEP).permute(0, 1, 5, 2, 3, 4)
        order = [(i, s) for i in range(b) for s in range(n_seg)]
        step = min(len(order), SYNC_BATCH) if batch_size < 0 else batch_size
        out = []
        for start in range(0, len(order), step):
            chunk = torch.stack([windows[i, s] for i, s in order[start : start + step]])
            feats = synchformer(chunk.to(self.device, self.dtype).unsqueeze(1))  # (n, 1, 8, D)
            out.append(feats[:, 0])
        return torch.cat(out).reshape(b, n_seg * out[0].shape[1], -1)

    @torch.inference_mode()
    def encode_text(self, texts: list[str]) -> Tensor:
        """Prompts → ``(B, 77, text_dim)`` per-token states (final LayerNorm, unit norm per token)."""
        clip = self._need("clip")
        if isinstance(texts, str):
            raise InputError("encode_text takes a list of prompts; wrap a single prompt in a list")
        return clip.encode_text(list(texts))

    @torch.inference_mode()
    def decode(self, z: Tensor) -> Tensor:
        """Unnormalised latents ``(B, L, latent_dim)`` → mel ``(B, n_mels, 2L)``."""
        if z.ndim != 3 or z.shape[-1] != self.dims.latent_dim:
            raise InputError(
                f"latents must be (batch, length, {self.dims.latent_dim}), got {tuple(z.shape)}"
            )
        return self.vae.decode(z.to(self.device, self.dtype).transpose(1, 2))

    @torch.inference_mode()
    def vocode(self, mel: Tensor) -> Tensor:
        """Mel ``(B, n_mels, frames)`` → waveform ``(B, frames * hop)`` in [-1, 1]."""
        if mel.ndim != 3 or mel.shape[1] != self.dims.n_mels:
            raise InputError(
                f"mel must be (batch, {self.dims.n_mels}, frames), got {tuple(mel.shape)}"
            )
        return self.vocoder(mel.to(self.device, self.dtype)).squeeze(1)


# --------------------------------------------------------------------------- building
@dataclass(frozen=True)
class FeatureFiles:
    """Local weight files for one mode. ``vocoder`` is ``best_netG.pt`` (16k) or the BigVGAN v2
    ``bigvgan_generator.pt`` / its directory (44k, with ``config.json`` beside it);
    ``synchformer`` and ``clip_dir`` may be None when conditions are not needed."""

    vae: Path
    vocoder: Path | None
    synchformer: Path | None
    clip_dir: Path | None


def _seeded(seed: int, part: int) -> torch.Generator:
    # One generator per component so adding a component never shifts another one's weights.
    return torch.Generator().manual_seed(seed * 1009 + part)


def _build_tiny(mode: Mode, seed: int, need_conditions: bool) -> FeatureExtractor:
    from sfxkit.generation.mmaudio import bigvgan, bigvgan_v2, clip, synchformer, vae

    dims = TINY[mode]
    vae_cfg = vae.TINY_VAE_16K if mode == "16k" else vae.TINY_VAE_44K
    voc_cfg = bigvgan.TINY_BIGVGAN_16K if mode == "16k" else bigvgan_v2.TINY_BIGVGAN_V2_44K
    vae_model = vae.MelVAE(vae_cfg).init_random(_seeded(seed, 1))
    vocoder = bigvgan.BigVGANGenerator(voc_cfg).init_random(_seeded(seed, 2))
    sync_model = clip_model = None
    if need_conditions:
        sync_model = synchformer.Synchformer(synchformer.TINY_SYNCHFORMER)
        sync_model.init_random(_seeded(seed, 3))
        clip_model = clip.build_tiny_clip(seed=seed * 1009 + 4)
    return FeatureExtractor(
        mode=mode,
        dims=dims,
        tiny=True,
        vae=vae_model,
        vocoder=vocoder,
        synchformer=sync_model,
        clip=clip_model,
    )


def _check_files(mode: Mode, files: FeatureFiles, model_id: str, need_conditions: bool) -> None:
    """Raise :class:`WeightsMissingError` for the first needed file that is not there."""
    voc_name = "best_netG.pt" if mode == "16k" else "bigvgan_generator.pt"
    voc = files.vocoder
    if voc is not None and voc.is_dir():
        voc = voc / "bigvgan_generator.pt"
    needed: list[tuple[Path | None, str, str]] = [
        (files.vae, "v1-16.pth" if mode == "16k" else "v1-44.pth", "MMAudio VAE"),
        (voc, voc_name, "vocoder"),
    ]
    if need_conditions:
        needed += [
            (files.synchformer, "synchformer_state_dict.pth", "Synchformer"),
            (files.clip_dir, "DFN5B-CLIP-ViT-H-14-384/", "DFN5B CLIP directory"),
        ]
    for path, name, what in needed:
        if path is None:
            raise WeightsMissingError(
                model_id, f"FeatureFiles ({name})", f"No {what} file was given."
            )
        if not Path(path).exists():
            raise WeightsMissingError(
                model_id, path, f"The {what} file '{Path(path).name}' is missing."
            )


def _build_real(
    mode: Mode, files: FeatureFiles, model_id: str, need_conditions: bool
) -> FeatureExtractor:
    from sfxkit.generation.mmaudio import bigvgan, bigvgan_v2, clip, synchformer, vae

    _check_files(mode, files, model_id, need_conditions)  # before minutes of loading, not after
    assert files.vocoder is not None
    vae_cfg = vae.VAE_16K if mode == "16k" else vae.VAE_44K
    vae_model = vae.load_vae(files.vae, vae_cfg, model_id=model_id)
    if mode == "16k":
        vocoder = bigvgan.load_bigvgan_16k(files.vocoder, model_id=model_id)
    else:
        vocoder = bigvgan_v2.load_bigvgan_v2(files.vocoder, model_id=model_id)
    sync_model = clip_model = None
    if need_conditions:
        assert files.synchformer is not None and files.clip_dir is not None
        sync_model = synchformer.load_synchformer(files.synchformer, model_id=model_id)
        clip_model = clip.load_dfn5b_clip(files.clip_dir, model_id=model_id)
    return FeatureExtractor(
        mode=mode,
        dims=REAL[mode],
        tiny=False,
        vae=vae_model,
        vocoder=vocoder,
        synchformer=sync_model,
        clip=clip_model,
    )


def build_feature_extractor(
    mode: Mode,
    *,
    tiny: bool = False,
    files: FeatureFiles | None = None,
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
    need_conditions: bool = True,
    model_id: str | None = None,
) -> FeatureExtractor:
    """Build the extractor for ``mode`` ("16k" or "44k").

    ``tiny=True``: toy-width models with weights drawn from ``seed`` (same numbers in every
    process), no files. Otherwise ``files`` must name the local checkpoints; a missing one raises
    :class:`WeightsMissingError` naming it and the ``sfxkit models pull`` command for
    ``model_id`` (default: the variant that ships these files, ``mmaudio:small_16k`` or
    ``mmaudio:large_44k_v2``). ``need_conditions=False`` skips CLIP and Synchformer
    (decode/vocode only). Weights are loaded in fp32 and then cast to ``dtype``.
    """
    if mode not in REAL:
        raise InputError(f"unknown MMAudio mode {mode!r}; expected one of: {', '.join(REAL)}")
    if tiny:
        extractor = _build_tiny(mode, seed, need_conditions)
    else:
        if files is None:
            raise ConfigError(
                "a real MMAudio feature extractor needs its weight files (FeatureFiles); locate them "
                "with sfxkit.models.mmaudio_files, or pass tiny=True for the untrained test model"
            )
        extractor = _build_real(mode, files, model_id or _DEFAULT_MODEL_ID[mode], need_conditions)
    return extractor.to(device=device, dtype=dtype)


__all__ = [
    "CLIP_FPS",
    "CLIP_SIZE",
    "SYNC_FPS",
    "SYNC_SIZE",
    "FeatureExtractor",
    "FeatureFiles",
    "build_feature_extractor",
    "clip_frames",
    "sync_frames",
]
