"""Meta's Perception Encoder Audio-Visual (PE-AV) through transformers ``PeAudioVideoModel``.

One model, three towers whose outputs share one space: the audio tower (a DAC-style waveform
front end + transformer), the video tower (PE-core ViT per frame + a temporal transformer) and
the text tower (ModernBERT, projected by the head trained against audio). A frame or a shot is
matched to a sound directly — video embedding against audio embedding, the pair PE-AV was
trained on (arXiv 2512.19687) — without going through a description of what one would see.

Every input goes through transformers' own processor (``PeAudioVideoProcessor``: the audio
feature extractor at 48 kHz, the video processor's resize/rescale/normalise, the tokenizer), and
the vectors are the model's own embeddings, L2-normalised:

- audio → ``get_audio_embeds`` (the audio head over the audio tower's pooled output);
- video → ``get_video_embeds`` (the video head over the video tower's pooled output);
- text → the text-audio head over ModernBERT's first token (``get_text_audio_embeds``).

transformers 5.25 ships ``PeAudioVideoModel.get_video_embeds`` / ``get_text_audio_embeds``
calling methods its sub-models do not have (``PeVideoModel.get_video_embeds`` and
``PeAudioModel.get_text_embeds`` are missing: AttributeError). Where the library method is
broken sfxkit computes exactly what ``PeAudioVideoModel.forward`` computes for the same tensors
(``video_model.video_head(video_model.video_encoder(...).pooler_output)``,
``audio_model.text_audio_head(text_model(...).hidden_states[-1][:, 0])``); a test checks both
against the model's forward and against the library methods where they work.

Loading is strict: before transformers reads a checkpoint, its tensor names and shapes are
compared with the model its ``config.json`` describes (built on the meta device: no memory), and
a missing, unexpected or wrongly shaped tensor is refused with the file named. Weights shared
between towers (the audio-video encoder's copies of the audio and video towers, the sub-models'
copies of the text model) may be stored once, as transformers saves them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np

from sfxkit._progress import track
from sfxkit.errors import InputError, ModelError, SfxkitError
from sfxkit.models.base import (
    batches,
    check_batch_size,
    check_texts,
    empty,
    gpu_autocast,
    l2_normalise,
    resample,
    to_mono,
    to_pil,
)

__all__ = [
    "PE_AUDIO_SECONDS",
    "SHOT_FRAMES",
    "PeAvEncoder",
    "build_tiny_pe_av",
    "check_pe_av_checkpoint",
    "load_pe_av_dir",
]

# Each catalog sound is embedded from its first 10 s: the audio tower takes any length (25
# tokens per second), but the clips it was evaluated on (VGGSound, AudioCaps) are 10 s long and
# the cost grows with the length (attention quadratically).
PE_AUDIO_SECONDS = 10.0
# Frames taken from a shot for the variable-length checkpoints (the "-16-frame" ones take 16).
SHOT_FRAMES = 8
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
)


class PeAvEncoder:
    """Sounds, frames, shots and texts → one PE-AV space (float32, unit length)."""

    def __init__(
        self,
        model: Any,
        processor: Any,
        *,
        model_id: str,
        device: str,
        untrained: bool = False,
        licence: str = "",
    ) -> None:
        self.model = model.eval()
        self.processor = processor
        self.feature_extractor = processor.feature_extractor
        self.video_processor = processor.video_processor
        self.tokenizer = processor.tokenizer
        self.model_id = model_id
        self.device = device
        self.untrained = untrained
        self.licence = licence
        # every head projects into the text model's width
        self.dim = int(model.config.text_config.hidden_size)
        self.sample_rate = int(self.feature_extractor.sampling_rate)
        self.max_audio_seconds = PE_AUDIO_SECONDS
        # "-16-frame" checkpoints were trained on exactly 16 frames per clip; the others on any
        fixed = getattr(self.video_processor, "num_frames", None)
        self.num_frames: int | None = int(fixed) if fixed else None
        max_pos = int(getattr(model.config.text_config, "max_position_embeddings", 512))
        tok_max = int(getattr(self.tokenizer, "model_max_length", 10**9) or 10**9)
        self.max_text_tokens = max(8, min(tok_max, max_pos))

    def __repr__(self) -> str:
        return f"PeAvEncoder({self.model_id!r}, dim={self.dim}, device={self.device!r})"

    @property
    def clip_frames(self) -> int:
        """How many frames a shot is given as: the model's fixed count, else :data:`SHOT_FRAMES`."""
        return self.num_frames or SHOT_FRAMES

    # ------------------------------------------------------------------ audio
    def prepare(self, waveforms: Sequence[np.ndarray], *, sample_rate: int) -> list[np.ndarray]:
        """Mono, at the model's rate, cut to the first :data:`PE_AUDIO_SECONDS`."""
        limit = int(round(self.max_audio_seconds * self.sample_rate))
        out = []
        for i, w in enumerate(waveforms):
            x = resample(to_mono(w, i), int(sample_rate), self.sample_rate)[:limit]
            out.append(np.ascontiguousarray(x, dtype=np.float32))
        return out

    def audio_inputs(self, clips: Sequence[np.ndarray]) -> Any:
        """transformers' feature extractor over prepared clips (padded batch + padding mask)."""
        return self.feature_extractor(
            list(clips), sampling_rate=self.sample_rate, padding=True, return_tensors="pt"
        )

    def audio_embeds(self, inputs: Any) -> Any:
        """The model's audio embeddings of processor output (not normalised)."""
        return self.model.get_audio_embeds(
            input_values=inputs["input_values"].to(self.device),
            padding_mask=_maybe_to(inputs.get("padding_mask"), self.device),
        )

    def encode_audio(
        self, waveforms: Sequence[np.ndarray], *, sample_rate: int, batch_size: int = 8
    ) -> np.ndarray:
        import torch

        batch_size = check_batch_size(batch_size)
        if len(waveforms) == 0:
            return empty(self.dim)
        clips = self.prepare(waveforms, sample_rate=sample_rate)
        # clips of similar length share a batch: a batch is padded to its longest clip
        order = sorted(range(len(clips)), key=lambda i: len(clips[i]))
        parts = []
        chunks = batches(len(clips), batch_size)
        with torch.inference_mode():
            for sl in track(chunks, total=len(chunks), desc="PE-AV audio", unit="batch"):
                inputs = self.audio_inputs([clips[i] for i in order[sl]])
                with gpu_autocast(self.device):
                    out = self.audio_embeds(inputs)
                parts.append(out.float().cpu().numpy())
        vectors = np.empty((len(clips), self.dim), dtype=np.float32)
        vectors[order] = np.concatenate(parts, axis=0)
        return l2_normalise(vectors)

    # ------------------------------------------------------------------ video
    def fit_clip(self, frames: Sequence[Any]) -> list[Any]:
        """A clip's frames as PIL images, resampled evenly to the model's fixed frame count."""
        images = [to_pil(f, i) for i, f in enumerate(frames)]
        if not images:
            raise InputError("a video clip needs at least one frame")
        if self.num_frames and len(images) != self.num_frames:
            n = self.num_frames
            # evenly spaced from the first to the last frame, as the video processor samples
            pick = [int(i * (len(images) - 1) / max(n - 1, 1)) for i in range(n)]
            images = [images[j] for j in pick]
        return images

    def video_inputs(self, clips: Sequence[Sequence[Any]]) -> Any:
        """transformers' video processor over clips (lists of frames)."""
        return self.video_processor(videos=[list(c) for c in clips], return_tensors="pt")

    def video_embeds(self, inputs: Any) -> Any:
        """The model's video embeddings of processor output (not normalised)."""
        pixels = inputs["pixel_values_videos"].to(self.device)
        mask = _maybe_to(inputs.get("padding_mask_videos"), self.device)
        video_model = self.model.video_model
        if hasattr(video_model, "get_video_embeds"):  # the library method, where it works
            return self.model.get_video_embeds(pixels, padding_mask_videos=mask)
        out = video_model.video_encoder(
            pixel_values_videos=pixels, padding_mask_videos=mask, return_dict=True
        )
        return video_model.video_head(out.pooler_output)

    def encode_videos(self, clips: Sequence[Sequence[Any]], *, batch_size: int = 4) -> np.ndarray:
        """One vector per clip (a list of frames: PIL images or HxWx3 uint8 arrays)."""
        import torch

        batch_size = check_batch_size(batch_size)
        if len(clips) == 0:
            return empty(self.dim)
        fitted = [self.fit_clip(c) for c in clips]
        parts = []
        with torch.inference_mode():
            for sl in batches(len(fitted), batch_size):
                inputs = self.video_inputs(fitted[sl])
                with gpu_autocast(self.device):
                    out = self.video_embeds(inputs)
                parts.append(out.float().cpu().numpy())
        return l2_normalise(np.concatenate(parts, axis=0))

    def encode_images(self, images: Sequence[Any], *, batch_size: int = 4) -> np.ndarray:
        """One frame → a still clip (the frame repeated to the model's fixed count, else once)."""
        return self.encode_videos([[img] for img in images], batch_size=batch_size)

    # ------------------------------------------------------------------- text
    def text_embeds(self, tok: Any) -> Any:
        """The model's text-audio embeddings of tokenizer output (not normalised)."""
        ids = tok["input_ids"].to(self.device)
        mask = _maybe_to(tok.get("attention_mask"), self.device)
        audio_model = self.model.audio_model
        if hasattr(audio_model, "get_text_embeds"):  # the library method, where it works
            return self.model.get_text_audio_embeds(ids, mask)
        out = self.model.text_model(
            input_ids=ids, attention_mask=mask, output_hidden_states=True, return_dict=True
        )
        return audio_model.text_audio_head(out.hidden_states[-1][:, 0])

    def encode_texts(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        import torch

        texts = check_texts(texts)
        batch_size = check_batch_size(batch_size)
        if not texts:
            return empty(self.dim)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        parts = []
        chunks = batches(len(texts), batch_size)
        with torch.inference_mode():
            for sl in track(chunks, total=len(chunks), desc="PE-AV texts", unit="batch"):
                tok = self.tokenizer(
                    [texts[i] for i in order[sl]],
                    padding=True,
                    truncation=True,
                    max_length=self.max_text_tokens,
                    return_tensors="pt",
                )
                with gpu_autocast(self.device):
                    out = self.text_embeds(tok)
                parts.append(out.float().cpu().numpy())
        vectors = np.empty((len(texts), self.dim), dtype=np.float32)
        vectors[order] = np.concatenate(parts, axis=0)
        return l2_normalise(vectors)


def _maybe_to(x: Any, device: str) -> Any:
    return None if x is None else x.to(device)


def _building() -> Any:
    """Around every PeAudioVideoModel construction: transformers 5.25 defines a decorated
    function inside ``PeVideoModel.__init__``, so its docstring check runs on every build and
    prints an "[ERROR] ... not documented" line to stdout — into `sfxkit ... --json` output.
    The line goes to stderr instead."""
    import contextlib
    import sys

    return contextlib.redirect_stdout(sys.stderr)


# ----------------------------------------------------------------------------- strict loading


def _weight_files(folder: Path) -> tuple[Path, list[Path]]:
    """(the file to name in errors, the safetensors files holding the tensors)."""
    import json

    single = folder / "model.safetensors"
    if single.is_file():
        return single, [single]
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"{index}: not a safetensors index ({exc})") from exc
        missing = [s for s in shards if not (folder / s).is_file()]
        if missing:
            raise ModelError(
                f"{index} names shard(s) that are not there: {', '.join(missing)}; re-run "
                "`sfxkit models pull` or copy the whole directory"
            )
        return index, [folder / s for s in shards]
    raise ModelError(
        f"{folder} has no model.safetensors (or model.safetensors.index.json); PE-AV weights are "
        "read from safetensors only"
    )


def _tied_patterns(model_cls: Any) -> list[re.Pattern[str]]:
    """Names of tensors that are copies of others (stored once in a saved checkpoint)."""
    tied = getattr(model_cls, "_tied_weights_keys", None) or {}
    keys = tied.keys() if isinstance(tied, dict) else tied
    return [re.compile(str(k)) for k in keys]


def expected_tensors(config: Any) -> tuple[dict[str, tuple[int, ...]], list[re.Pattern[str]]]:
    """(name → shape of every tensor the model holds, patterns of the tied copies), from a
    model built on the meta device (no memory, no initialisation)."""
    import torch
    from transformers import PeAudioVideoModel

    with torch.device("meta"), _building():
        model = PeAudioVideoModel(config)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    return shapes, _tied_patterns(PeAudioVideoModel)


def read_config(folder: Path) -> Any:
    """The checkpoint's ``PeAudioVideoConfig``, with the frame classifier's width repaired.

    transformers 5.25 saves the timm vision config's width as ``label_names`` (and a stale
    ``num_classes``) but reads ``num_labels`` back as 2, so a saved PE-AV would not fit its own
    weights; the label names are the width it was saved with.
    """
    from transformers import PeAudioVideoConfig

    config = PeAudioVideoConfig.from_pretrained(str(folder), local_files_only=True)
    vision = config.audio_video_config.video_config.vision_config
    names = getattr(vision, "label_names", None)
    if names and len(names) != vision.num_labels:
        vision.num_labels = len(names)
    return config


def check_pe_av_checkpoint(folder: Path, config: Any | None = None) -> None:
    """Refuse a checkpoint whose tensors do not match the model its config describes."""
    from safetensors import safe_open

    folder = Path(folder)
    named, files = _weight_files(folder)
    if config is None:
        config = read_config(folder)
    want, tied = expected_tensors(config)
    have: dict[str, tuple[int, ...]] = {}
    for path in files:
        try:
            with safe_open(str(path), framework="pt") as f:
                for key in f.keys():  # noqa: SIM118 - safe_open is not iterable
                    have[key] = tuple(f.get_slice(key).get_shape())
        except Exception as exc:  # safetensors raises its own error types for bad headers
            raise ModelError(f"{path}: not a readable safetensors file ({exc})") from exc
    missing = [k for k in want if k not in have and not any(p.search(k) for p in tied)]
    unexpected = sorted(k for k in have if k not in want)
    wrong = sorted(
        f"{k} {list(have[k])} (model: {list(want[k])})"
        for k in have
        if k in want and have[k] != want[k]
    )
    problems = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
        if keys:
            shown = ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
            problems.append(f"{len(keys)} {label}: {shown}")
    if problems:
        raise ModelError(
            f"{named} does not match the PE-AV model its config.json describes ("
            + "; ".join(problems)
            + "); the checkpoint is incomplete or belongs to another model — re-run "
            "`sfxkit models pull` or check the copy"
        )


def load_pe_av_dir(path: Path, *, model_id: str, device: str, licence: str = "") -> PeAvEncoder:
    """A ``PeAvEncoder`` from a local snapshot / ``save_pretrained`` directory (no network)."""
    from transformers import PeAudioVideoModel, PeAudioVideoProcessor

    from sfxkit.models.weights import hub_offline

    path = Path(path)
    try:
        with hub_offline():
            config = read_config(path)
            check_pe_av_checkpoint(path, config)
            with _building():
                model = PeAudioVideoModel.from_pretrained(
                    str(path), config=config, local_files_only=True
                )
            processor = PeAudioVideoProcessor.from_pretrained(str(path), local_files_only=True)
    except SfxkitError:
        raise
    except Exception as exc:  # transformers, safetensors and json errors alike
        raise ModelError(
            f"could not load PE-AV model '{model_id}' from {path}: {exc}; the directory must hold "
            "a transformers PeAudioVideoModel (config.json, model.safetensors, "
            "preprocessor_config.json, video_preprocessor_config.json, tokenizer files) — re-run "
            f"`sfxkit models pull {model_id}` or check the copy"
        ) from exc
    model = cast(Any, model).to(device).float().eval()
    return PeAvEncoder(model, processor, model_id=model_id, device=device, licence=licence)


# ----------------------------------------------------------------------------- tiny


def tiny_pe_av_config() -> Any:
    """The real PE-AV architecture at toy size: every tower 1 layer x 32 wide, the DAC front end
    8 channels (same strides, so the same 1920-sample hop at 48 kHz), a 1-block PE-core ViT at
    32 px, a 1-layer ModernBERT over the tiny BPE vocabulary."""
    from transformers import PeAudioVideoConfig

    from sfxkit.models.tiny import TINY_BPE_VOCAB_SIZE

    block = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2)
    block["head_dim"] = 16
    return PeAudioVideoConfig(
        text_config=dict(
            model_type="modernbert",
            vocab_size=TINY_BPE_VOCAB_SIZE,
            hidden_size=32,
            intermediate_size=48,
            num_hidden_layers=1,
            num_attention_heads=2,
            max_position_embeddings=80,
            pad_token_id=1,
            bos_token_id=0,
            eos_token_id=2,
            cls_token_id=0,
            sep_token_id=2,
            global_attn_every_n_layers=1,
            local_attention=16,
        ),
        audio_video_config=dict(
            **block,
            audio_config=dict(
                **block,
                dac_config=dict(
                    encoder_hidden_size=4,
                    downsampling_ratios=[2, 8, 10, 12],
                    codebook_dim=8,
                    hidden_size=16,
                ),
            ),
            video_config=dict(
                **block,
                vision_config=dict(
                    architecture="vit_pe_core_tiny_patch16_384",
                    model_args=dict(img_size=32, embed_dim=16, depth=1, num_heads=2),
                    num_labels=16,
                ),
            ),
        ),
    )


def tiny_pe_av_processor() -> Any:
    from transformers import PeAudioFeatureExtractor, PeAudioVideoProcessor, PeVideoVideoProcessor

    from sfxkit.models.tiny import tiny_clap_tokenizer

    features = PeAudioFeatureExtractor(sampling_rate=48_000, hop_length=1920)
    video = PeVideoVideoProcessor(
        size={"height": 32, "width": 32},
        do_resize=True,
        do_rescale=True,
        do_normalize=True,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )
    return PeAudioVideoProcessor(
        feature_extractor=features, video_processor=video, tokenizer=tiny_clap_tokenizer()
    )


def build_tiny_pe_av(device: str = "cpu") -> tuple[Any, Any]:
    """(PeAudioVideoModel, PeAudioVideoProcessor) of ``pe_av:tiny``, seeded random weights."""
    import torch
    from transformers import PeAudioVideoModel

    from sfxkit.models.tiny import _seeded

    config = tiny_pe_av_config()
    with _seeded(), _building():
        model = PeAudioVideoModel(config)
    model = cast(Any, model).to(torch.device(device)).eval()
    return model, tiny_pe_av_processor()
