"""CLAP through transformers ``ClapModel``: sounds and audio descriptions → one embedding space.

Loads ``laion/larger_clap_general`` (the default) or any ``ClapModel`` checkpoint from a local
directory (``save_pretrained`` / Hugging Face snapshot layout) — never from the network.

Long clips, deterministically. CLAP sees fixed windows (10 s at 48 kHz for the real models).
transformers' feature extractor picks *random* crops for longer clips (``rand_trunc``: one random
window; ``fusion``: three random chunks plus a squeezed global view). A catalog index needs the
same vector for the same sound every time, so sfxkit replaces the randomness:

- fusion models (``audio_config.enable_fusion``): the three chunks are the centre windows of the
  front, middle and back thirds of the clip, next to the squeezed whole-clip view, as trained;
- non-fusion models (``larger_clap_general`` is HTSAT-base without fusion): the centre window
  of the clip is used.

Shorter clips are repeated to fill the window and zero-padded ("repeatpad"), as CLAP was trained.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np

from sfxkit._progress import track
from sfxkit.errors import CheckpointError, ModelError, SfxkitError
from sfxkit.models.base import (
    batches,
    check_batch_size,
    check_texts,
    empty,
    gpu_autocast,
    l2_normalise,
    resample,
    to_mono,
)

__all__ = ["ClapEncoder", "deterministic_feature_extractor_class", "load_clap_dir"]


@functools.cache
def deterministic_feature_extractor_class() -> Any:
    """``ClapFeatureExtractor`` with fixed (not random) fusion chunks; built on first use so that
    importing this module does not import transformers."""
    import torch
    from transformers import ClapFeatureExtractor

    class DeterministicClapFeatureExtractor(ClapFeatureExtractor):  # type: ignore[misc]
        """The fusion crops are the centre windows of the clip's front, middle and back thirds."""

        def _random_mel_fusion(
            self, mel: np.ndarray, total_frames: int, chunk_frames: int
        ) -> np.ndarray:
            starts = np.arange(0, total_frames - chunk_frames + 1)
            thirds = np.array_split(starts, 3)
            picks = [int(t[len(t) // 2]) if len(t) else 0 for t in thirds]
            chunks = [mel[s : s + chunk_frames, :] for s in picks]
            whole = torch.from_numpy(np.ascontiguousarray(mel, dtype=np.float32))[None, None]
            # The global view: the whole clip squeezed to one window (bilinear, as the reference).
            shrunk = torch.nn.functional.interpolate(
                whole, size=[chunk_frames, mel.shape[1]], mode="bilinear", align_corners=False
            )[0, 0].numpy()
            return np.stack([shrunk, *chunks], axis=0)

        def to_dict(self) -> dict[str, Any]:
            # Saved configs name the stock class so plain transformers can read them back.
            out = dict(super().to_dict())
            out["feature_extractor_type"] = "ClapFeatureExtractor"
            return out

    return DeterministicClapFeatureExtractor


class ClapEncoder:
    """An ``AudioEncoder`` over a transformers ``ClapModel``."""

    def __init__(
        self,
        model: Any,
        feature_extractor: Any,
        tokenizer: Any,
        *,
        model_id: str,
        device: str,
        untrained: bool = False,
    ) -> None:
        self.model = model.eval()
        self.feature_extractor = feature_extractor
        self.tokenizer = tokenizer
        self.model_id = model_id
        self.device = device
        self.untrained = untrained
        self.dim = int(model.config.projection_dim)
        self.sample_rate = int(feature_extractor.sampling_rate)
        self.fusion = bool(getattr(model.config.audio_config, "enable_fusion", False))
        # The extractor must produce what the audio tower expects: 4 stacked views for fusion
        # models, one window otherwise (a saved preprocessor config can disagree with the model).
        feature_extractor.truncation = "fusion" if self.fusion else "rand_trunc"
        self.window_samples = int(feature_extractor.nb_max_samples)
        max_pos = int(getattr(model.config.text_config, "max_position_embeddings", 514))
        tok_max = int(getattr(tokenizer, "model_max_length", 10**9) or 10**9)
        # RoBERTa offsets positions by the padding index (+2): 514 positions → 512 tokens.
        self.max_text_tokens = max(8, min(tok_max, max_pos - 2))

    def __repr__(self) -> str:
        return f"ClapEncoder({self.model_id!r}, dim={self.dim}, device={self.device!r})"

    # ------------------------------------------------------------------ audio
    def prepare(self, waveforms: Sequence[np.ndarray], *, sample_rate: int) -> list[np.ndarray]:
        """Mono, at the model's rate, and cut to one window for non-fusion models."""
        out = []
        for i, w in enumerate(waveforms):
            x = resample(to_mono(w, i), int(sample_rate), self.sample_rate)
            if not self.fusion and x.shape[0] > self.window_samples:
                start = (x.shape[0] - self.window_samples) // 2
                x = x[start : start + self.window_samples]
            out.append(np.ascontiguousarray(x, dtype=np.float32))
        return out

    def encode_audio(
        self, waveforms: Sequence[np.ndarray], *, sample_rate: int, batch_size: int = 16
    ) -> np.ndarray:
        import torch

        batch_size = check_batch_size(batch_size)
        if len(waveforms) == 0:
            return empty(self.dim)
        clips = self.prepare(waveforms, sample_rate=sample_rate)
        parts = []
        chunks = batches(len(clips), batch_size)
        with torch.inference_mode():
            for sl in track(chunks, total=len(chunks), desc="CLAP audio", unit="batch"):
                features, is_longer = self._features()(clips[sl])
                with gpu_autocast(self.device):
                    out = self.model.get_audio_features(
                        input_features=features, is_longer=is_longer
                    )
                parts.append(_pooled(out).float().cpu().numpy())
        return l2_normalise(np.concatenate(parts, axis=0))

    def _features(self) -> Any:
        """The log-mel features in torch on the model's device (see clap_features): the
        extractor's numpy STFT made GPU builds feature-bound."""
        from sfxkit.models.clap_features import TorchClapFeatures

        key = (self.device, self.feature_extractor.truncation, self.feature_extractor.padding)
        if getattr(self, "_torch_features_key", None) != key:
            self._torch_features = TorchClapFeatures(self.feature_extractor, self.device)
            self._torch_features_key = key
        return self._torch_features

    # ------------------------------------------------------------------- text
    def encode_texts(self, texts: Sequence[str], *, batch_size: int = 256) -> np.ndarray:
        import torch

        texts = check_texts(texts)
        batch_size = check_batch_size(batch_size)
        if not texts:
            return empty(self.dim)
        # Batches of texts of similar length: a batch is padded to its longest text, and
        # catalog metadata runs from a two-word title to a long list of tags.
        lengths = self.tokenizer(
            texts, truncation=True, max_length=self.max_text_tokens, padding=False
        )["input_ids"]
        order = sorted(range(len(texts)), key=lambda i: len(lengths[i]))
        parts = []
        chunks = batches(len(texts), batch_size)
        with torch.inference_mode():
            for sl in track(chunks, total=len(chunks), desc="CLAP texts", unit="batch"):
                tok = self.tokenizer(
                    [texts[i] for i in order[sl]],
                    padding=True,
                    truncation=True,
                    max_length=self.max_text_tokens,
                    return_tensors="pt",
                )
                with gpu_autocast(self.device):
                    out = self.model.get_text_features(
                        input_ids=tok["input_ids"].to(self.device),
                        attention_mask=tok["attention_mask"].to(self.device),
                    )
                parts.append(_pooled(out).float().cpu().numpy())
        vectors = np.empty((len(texts), self.dim), dtype=np.float32)
        vectors[order] = np.concatenate(parts, axis=0)
        return l2_normalise(vectors)


def _pooled(out: Any) -> Any:
    """transformers 4.x returns the projected tensor; 5.x an output whose pooler_output it is."""
    import torch

    if isinstance(out, torch.Tensor):
        return out
    return out.pooler_output


def _weight_files(path: Path) -> list[Path]:
    """The checkpoint file(s) transformers would read from a model directory (shards included)."""
    import json

    for name in ("model.safetensors", "pytorch_model.bin"):
        if (path / name).is_file():
            return [path / name]
    for name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        index = path / name
        if index.is_file():
            try:
                shards = sorted(
                    set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values())
                )
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
                raise CheckpointError(index, f"not a shard index ({exc})", "") from exc
            return [path / shard for shard in shards]
    return []


def _probe(files: list[Path], fix: str) -> None:
    """Refuse a truncated or code-carrying weight file before transformers touches it."""
    from sfxkit.models.checkpoint import read_checkpoint, safetensors_layout

    for file in files:
        if file.suffix == ".safetensors":
            safetensors_layout(file, fix=fix)  # header and length; no tensor is read
        else:
            read_checkpoint(file, fix=fix)


def _check_loading_info(info: dict[str, Any], files: list[Path], fix: str) -> None:
    """transformers fills missing tensors with random values and skips unexpected ones: refuse."""
    missing = sorted(info.get("missing_keys") or ())
    unexpected = sorted(info.get("unexpected_keys") or ())
    mismatched = sorted(info.get("mismatched_keys") or (), key=lambda m: str(m[0]))
    errors = [str(e) for e in info.get("error_msgs") or ()]
    if not (missing or unexpected or mismatched or errors):
        return
    if missing:
        first = f"missing tensor '{missing[0]}'"
    elif unexpected:
        first = f"unexpected tensor '{unexpected[0]}'"
    elif mismatched:
        key, got, want = mismatched[0]
        first = f"tensor '{key}' has shape {list(got)}, the model needs {list(want)}"
    else:
        first = " ".join(errors[0].split())[:200]
    counts = f"{len(missing)} missing, {len(unexpected)} unexpected, {len(mismatched)} wrong-shaped"
    where = files[0] if len(files) == 1 else files[0].parent
    raise CheckpointError(
        where, f"does not match the ClapModel of config.json: {first} ({counts})", fix
    )


def load_clap_dir(path: Path, *, model_id: str, device: str) -> ClapEncoder:
    """A ``ClapEncoder`` from a local ``save_pretrained`` / snapshot directory (no network).

    Strict: every tensor of the model must come from the weights file with its shape and finite
    values (transformers alone would fill a missing one with random numbers)."""
    from transformers import AutoTokenizer, ClapModel
    from transformers.utils import logging as hf_logging

    from sfxkit._progress import third_party_bars_off
    from sfxkit.models.checkpoint import check_finite, pull_fix
    from sfxkit.models.weights import hub_offline

    fix = (
        pull_fix(model_id)
        if not model_id.startswith("clap:/")
        else "the directory must hold a transformers ClapModel save; copy it again"
    )
    files = _weight_files(path)
    _probe(files, fix)
    extractor_cls = deterministic_feature_extractor_class()
    verbosity = hf_logging.get_verbosity()
    try:
        # The load report table is replaced by sfxkit's one-line verdict below.
        hf_logging.set_verbosity_error()
        with hub_offline(), third_party_bars_off():
            model, info = ClapModel.from_pretrained(
                str(path),
                local_files_only=True,
                output_loading_info=True,
                ignore_mismatched_sizes=True,  # reported in `info`, refused below
            )
            extractor = extractor_cls.from_pretrained(str(path), local_files_only=True)
            tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except SfxkitError:
        raise
    except Exception as exc:  # transformers, safetensors and json errors alike
        raise ModelError(
            f"could not load CLAP model '{model_id}' from {path}: "
            f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}; the directory must hold a "
            "transformers ClapModel (config.json, model.safetensors or pytorch_model.bin, "
            "preprocessor_config.json, tokenizer files) — re-run "
            f"`sfxkit models pull {model_id}` or check the copy"
        ) from exc
    finally:
        hf_logging.set_verbosity(verbosity)
    _check_loading_info(info, files or [path], fix)
    check_finite(model.state_dict(), path=files[0] if len(files) == 1 else path, fix=fix)
    model = cast(Any, model).to(device).float().eval()
    return ClapEncoder(model, extractor, tokenizer, model_id=model_id, device=device)
