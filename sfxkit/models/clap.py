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
from sfxkit.errors import ModelError, SfxkitError
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


def load_clap_dir(path: Path, *, model_id: str, device: str) -> ClapEncoder:
    """A ``ClapEncoder`` from a local ``save_pretrained`` / snapshot directory (no network)."""
    from transformers import AutoTokenizer, ClapModel

    from sfxkit._progress import third_party_bars_off
    from sfxkit.models.weights import hub_offline

    extractor_cls = deterministic_feature_extractor_class()
    try:
        with hub_offline(), third_party_bars_off():
            model = ClapModel.from_pretrained(str(path), local_files_only=True)
            extractor = extractor_cls.from_pretrained(str(path), local_files_only=True)
            tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except SfxkitError:
        raise
    except Exception as exc:  # transformers, safetensors and json errors alike
        raise ModelError(
            f"could not load CLAP model '{model_id}' from {path}: {exc}; the directory must hold a "
            "transformers ClapModel (config.json, model.safetensors or pytorch_model.bin, "
            "preprocessor_config.json, tokenizer files) — re-run "
            f"`sfxkit models pull {model_id}` or check the copy"
        ) from exc
    model = cast(Any, model).to(device).float().eval()
    return ClapEncoder(model, extractor, tokenizer, model_id=model_id, device=device)
