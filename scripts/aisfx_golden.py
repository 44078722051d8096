"""Regenerate the aiSFX parity goldens from the reference package's own code.

Dev tool, not part of the library. It runs the code of the PyPI wheel ``aisfx==0.1.2`` (MIT code,
CC BY 4.0 model) from an unpacked copy — the Essentia front end the paper used
(``aisfx.spectrogram.spectrogram_essentia.compute_spectrogram``), ``spectrogram_normalize``
('original'), ``blocking`` (100 frames, hop 50, partial blocks dropped) and the network
(``CrossNet(EmbeddingNet('max', 3, 1, 64))``, ``get_embedding``) — on the closed-form clips of
``tests/models/aisfx_clips.py`` written as 16-bit WAV files, and writes under
``tests/models/golden/``:

- ``aisfx_tiny.safetensors``: ``EmbeddingNet('max', 3, 1, 8)`` with seeded random weights and
  batch-norm statistics (rounded to float16 and stored: the reference ran on exactly those
  values), and its block vectors and clip embeddings; ``tests/models/test_aisfx.py`` checks
  sfxkit against it on every run;
- ``aisfx_real.safetensors``: the pretrained checkpoint's block vectors and clip embeddings;
  ``tests/models/test_aisfx_real.py`` checks them when the weights are pulled.

Each file also holds every 9th frame of the reference spectrogram, to tell front-end drift
from network drift. A clip embedding is the mean of its block vectors, L2-normalised (the
reference returns the block vectors; sfxkit averages them).

``blocking`` is called directly rather than through ``model_get_embedding``, whose hop-size
check refuses clips under 51 frames (~1.2 s); for longer clips the two are the same call.

The ``clip_*`` entries are sfxkit's default input layout (``layout="clip"``): the reference's
librosa path returns a ``(96 mel bands, frames)`` matrix and ``blocking`` cuts it along its first
axis, which gives one input per clip, the 96 bands zero-padded to 100 rows and every frame as a
column. They are computed from the Essentia spectrogram of the peak-normalised clip (the
librosa path normalises to a peak of 1; its own spectrogram would need librosa): parity is
with the reference's layout and network on the Essentia front end sfxkit implements.

Usage (essentia and six in a scratch directory, never in the project's environment)::

    pip download --no-deps aisfx==0.1.2 -d /tmp/aisfx && (cd /tmp/aisfx && unzip -o aisfx-*.whl)
    pip install --target /tmp/aisfx-ref-site essentia six
    SFXKIT_AISFX_REF=/tmp/aisfx PYTHONPATH=$PWD:/tmp/aisfx-ref-site python scripts/aisfx_golden.py
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
GOLDEN_DIR = REPO / "tests" / "models" / "golden"
TINY_WIDTH = 8
TINY_SEED = 1234
SPEC_STRIDE = 9


def _reference() -> Any:
    raw = os.environ.get("SFXKIT_AISFX_REF")
    if not raw or not (Path(raw) / "aisfx" / "models" / "cnn2d.py").is_file():
        sys.exit(
            "set SFXKIT_AISFX_REF to an unpacked aisfx==0.1.2 wheel (the folder holding aisfx/)"
        )
    sys.path.insert(0, raw)
    import aisfx  # noqa: F401  (the reference package)
    from aisfx import inference, preprocessing
    from aisfx.models.cnn2d import CrossNet, EmbeddingNet
    from aisfx.spectrogram import spectrogram_essentia

    return {
        "root": Path(raw),
        "inference": inference,
        "spectrogram": spectrogram_essentia.compute_spectrogram,
        "normalize": preprocessing.spectrogram_normalize,
        "blocking": preprocessing.blocking,
        "compute_hopSize": preprocessing.compute_hopSize,
        "EmbeddingNet": EmbeddingNet,
        "CrossNet": CrossNet,
    }


def _ref_blocks(ref: Any, path: Path) -> tuple[np.ndarray, np.ndarray]:
    inf = ref["inference"]
    spec = ref["spectrogram"](
        filename=str(path),
        sr=inf.SAMPLE_RATE,
        block_size=inf.SPEC_BLOCK_LENGTH,
        hop_size=inf.SPEC_HOP_LENGTH,
        n_mels=inf.MEL_BINS,
        f_min=inf.F_MIN,
        f_max=inf.F_MAX,
    )
    spec = ref["normalize"](spec, spec_norm="original")
    hop = int(np.round(inf.EMB_BLOCK_LENGTH * 0.5))
    blocks = ref["blocking"](spec, inf.EMB_BLOCK_LENGTH, hop, True)
    return np.asarray(spec, dtype=np.float32), np.asarray(blocks, dtype=np.float32)


def _embed(model: Any, blocks: np.ndarray) -> np.ndarray:
    forward = getattr(model, "get_embedding", model)  # CrossNet's embedding, or the bare net
    with torch.no_grad():
        out = forward(torch.Tensor(blocks))
    return out.cpu().numpy().astype(np.float32)


def _clip_embedding(vecs: np.ndarray) -> np.ndarray:
    mean = vecs.astype(np.float64).mean(axis=0)
    return (mean / max(np.linalg.norm(mean), 1e-12)).astype(np.float32)


def _tiny_model(ref: Any) -> tuple[Any, dict[str, torch.Tensor]]:
    net = ref["EmbeddingNet"]("max", 3, 1, TINY_WIDTH)
    gen = torch.Generator().manual_seed(TINY_SEED)
    weights: dict[str, torch.Tensor] = {}
    for name, value in net.state_dict().items():
        if name.endswith("num_batches_tracked"):
            continue
        if name.endswith("running_var"):
            v = torch.rand(value.shape, generator=gen) + 0.5
        elif name.endswith(".weight") and ".bn" in name:
            v = 1.0 + 0.2 * torch.randn(value.shape, generator=gen)
        elif ".conv" in name:
            fan_in = value[0].numel()
            v = torch.randn(value.shape, generator=gen) * (2.0 / fan_in) ** 0.5
        else:
            v = 0.1 * torch.randn(value.shape, generator=gen)
        weights[name] = v.to(torch.float16)
    net.load_state_dict({k: w.float() for k, w in weights.items()}, strict=False)
    return net.eval(), weights


def _real_model(ref: Any) -> tuple[Any, str]:
    from sfxkit.models.aisfx import _checkpoint_globals

    path = ref["root"] / "aisfx" / "models" / "checkpoint.pth"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    # the reference's own load_weights calls torch.load without weights_only; same file, safely
    with torch.serialization.safe_globals(_checkpoint_globals()):
        weights, ds_dict = torch.load(path, map_location="cpu", weights_only=True)
    return ref["inference"].load_bestModel(weights, ds_dict, "cpu"), digest


def main() -> None:
    import soundfile as sf
    from safetensors.torch import save_file

    sys.path.insert(0, str(REPO))
    from tests.models.aisfx_clips import SR, clips

    ref = _reference()
    tiny, tiny_weights = _tiny_model(ref)
    real, digest = _real_model(ref)
    tiny_out: dict[str, torch.Tensor] = {f"weights.{k}": v for k, v in tiny_weights.items()}
    real_out: dict[str, torch.Tensor] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, audio in clips().items():
            path = Path(tmp) / f"{name}.wav"
            sf.write(path, audio.T, SR, subtype="PCM_16")
            spec, blocks = _ref_blocks(ref, path)
            rows = torch.from_numpy(spec[::SPEC_STRIDE].copy())
            for out, model in ((tiny_out, tiny), (real_out, real)):
                vecs = _embed(model, blocks)
                out[f"{name}.blocks"] = torch.from_numpy(vecs)
                out[f"{name}.embedding"] = torch.from_numpy(_clip_embedding(vecs))
                out[f"{name}.spec_rows"] = rows
            # the clip layout (sfxkit's default): the reference's blocking of the (mel, time)
            # matrix its librosa path returns, fed the peak-normalised mono clip as a float WAV
            mono = audio.mean(axis=0)
            normed = (mono / np.abs(mono).max()).astype(np.float32)
            npath = Path(tmp) / f"{name}_peak.wav"
            sf.write(npath, normed, SR, subtype="FLOAT")
            nspec, _ = _ref_blocks(ref, npath)
            mel_rows = np.ascontiguousarray(nspec.T)
            hop = ref["compute_hopSize"](ref["inference"].EMB_BLOCK_LENGTH, 0.5, mel_rows)
            clip_in = np.asarray(
                ref["blocking"](mel_rows, ref["inference"].EMB_BLOCK_LENGTH, hop, True),
                dtype=np.float32,
            )
            tiny_out[f"{name}.clip_input"] = torch.from_numpy(clip_in)
            for out, model in ((tiny_out, tiny), (real_out, real)):
                vec = _embed(model, clip_in)
                out[f"{name}.clip_embedding"] = torch.from_numpy(_clip_embedding(vec))
            print(
                f"{name}: {audio.shape[1] / SR:.2f} s, {spec.shape[0]} frames, {len(blocks)} "
                f"blocks; clip layout input {clip_in.shape}"
            )
    meta = {
        "reference": "aisfx==0.1.2 (Essentia front end, spectrogram_normalize 'original'); "
        "clip_*: the same spectrogram of the peak-normalised clip, transposed to the (mel, time) "
        "matrix of the librosa path and blocked by the reference's blocking()",
        "essentia": __import__("essentia").__version__,
        "spec_stride": str(SPEC_STRIDE),
    }
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    save_file(
        tiny_out, GOLDEN_DIR / "aisfx_tiny.safetensors", metadata={**meta, "width": str(TINY_WIDTH)}
    )
    save_file(
        real_out,
        GOLDEN_DIR / "aisfx_real.safetensors",
        metadata={**meta, "checkpoint_sha256": digest},
    )
    print(f"wrote {GOLDEN_DIR}/aisfx_tiny.safetensors and aisfx_real.safetensors")


if __name__ == "__main__":
    main()
