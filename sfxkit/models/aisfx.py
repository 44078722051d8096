"""aiSFX: a CNN trained on commercial sound-effects libraries, giving 512-d audio embeddings.

A. B. Ma and A. Lerch, "Representation Learning for the Automatic Indexing of Sound Effects
Libraries", ISMIR 2022 (model X-Sequential-CE, CC BY 4.0, shipped in the PyPI wheel
``aisfx==0.1.2``). sfxkit has its own implementation of the network and of the package's
Essentia front end, so the ``aisfx`` package and its pinned librosa/numpy are never needed:

- audio: mono (channels averaged), 44.1 kHz, no gain normalisation (Essentia's EasyLoader at its
  default replay gain scales by 1; ``peak_normalise=True`` scales to a peak of 1 as the
  package's librosa path does);
- frames: 2048 samples, hop 1024, the first frame centred on sample 0 (zero-padded on the left),
  frames continue until one is centred at or past the end; symmetric Hann window;
- 96 triangular mel bands over 0–22050 Hz, HTK mel scale, triangles drawn on the mel axis,
  each band's weights summing to 1 (Essentia's ``unit_sum``), applied to the power spectrum;
- ``log10(1e4 * power + 1)``, divided by 9.4578 (the training set's maximum; min 0);
- four VGG-style blocks (conv-BN-ReLU x2, 2x2 max pool except the last; 64→512 channels), mean
  over the input's second axis, max over its first → one 512-d vector per input.

The network input (``layout``) is where the package's two paths differ. The wheel holds
inference code only (no training code or data to read); its network's own docstring says
``(batch_size, times_steps, freq_bins)``, and the choice was measured
(``benchmarks/aisfx_real.py``: 203 "more like this" queries among 268 real sounds from five
packages, pretrained vs random weights, both layouts):

- ``"blocks"`` (the default): the package's Essentia path, the one the paper used:
  ``(100 frames, 96 mels)`` blocks with a hop of 50 (a trailing partial block dropped unless it
  is the only one; a clip shorter than one block zero-padded), the clip's vector the mean of its
  blocks'. P@5 0.41 / R@10 0.59 against 0.28 / 0.41 at random weights; CatID top-1 0.60 vs 0.26;
  better than the clip layout on every source and every clip length measured;
- ``"clip"``: what the package's librosa path feeds the network — its spectrogram is a
  ``(96 mel bands, frames)`` matrix and ``blocking`` cuts its first axis, so the input is one
  matrix per clip, the bands zero-padded to 100 rows and every frame a column (at least
  :data:`MIN_FRAMES`). With the pretrained weights its "more like this" is at the level of
  random weights (P@5 0.35 vs 0.33), so it is kept for comparison only.

Peak normalisation changed little (blocks: P@5 0.41 with, 0.42 without) and stays off.

Vectors are L2-normalised. Clips longer than ``MAX_SECONDS`` (the build's 60 s budget) are
embedded from their first minute. An index view records the front end its vectors came from
(:data:`FRONTEND`, ``ViewInfo.frontend``); vectors of another front end are re-embedded by a
rebuild and refused for new queries.

``AisfxEncoder.encode_audio(waveforms, sample_rate=)`` is the whole API: a list of 1-D or
``(channels, samples)`` float arrays → ``(n, dim)`` float32 L2-normalised. Load one with
``sfxkit.models.registry.load_sfx_encoder("aisfx:x-sequential-ce")`` (weights from
``sfxkit models pull aisfx``) or ``"aisfx:tiny"`` (seeded random weights, 64-d, for tests).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sfxkit._progress import track
from sfxkit.errors import ModelError
from sfxkit.models.base import check_batch_size, empty, l2_normalise, resample, to_mono

__all__ = [
    "AisfxEncoder",
    "blocks_of",
    "clip_input",
    "build_aisfx_net",
    "build_tiny_aisfx",
    "convert_checkpoint",
    "load_aisfx",
    "log_mel",
]

# The one pretrained model: its wheel on PyPI, the checkpoint inside it and that file's sha256.
WHEEL_REQUIREMENT = "aisfx==0.1.2"
CHECKPOINT_MEMBER = "aisfx/models/checkpoint.pth"
CHECKPOINT_SHA256 = "499ea75909c932a2f94c35fa722fa4fabc5bcb7e84917209cc5f7402627b7eb5"

SAMPLE_RATE = 44_100
N_FFT = 2048
HOP = 1024
N_MELS = 96
F_MIN, F_MAX = 0.0, 22_050.0
SPEC_MAX = 9.457798957824707  # the package's "original" min-max normalisation (min 0)
BLOCK_FRAMES = 100
BLOCK_HOP = 50
MAX_SECONDS = 60.0
WIDTH = 64  # first block's channels: 64, 128, 256, 512
TINY_WIDTH = 8
TINY_SEED = 0
MIN_FRAMES = 8  # the clip layout's shortest input: three 2x2 poolings halve it to 1
LAYOUT_CLIP = "clip"
LAYOUT_BLOCKS = "blocks"
LAYOUTS = (LAYOUT_CLIP, LAYOUT_BLOCKS)
DEFAULT_LAYOUT = LAYOUT_BLOCKS  # measured: see the module docstring
DEFAULT_PEAK_NORMALISE = False
FRONTEND_VERSION = 1  # bump when the vectors of the same clip and weights change
# what an index view records (``ViewInfo.frontend``): the default encoder's input. Indexes
# written before it was recorded hold exactly these vectors (see :func:`same_frontend`)
FRONTEND = f"aisfx-{DEFAULT_LAYOUT}-raw-v{FRONTEND_VERSION}"


def same_frontend(stored: str, current: str) -> bool:
    """Whether vectors recorded with front end ``stored`` compare with ``current`` ones ("" =
    an index written before the front end was recorded: the blocks layout, unnormalised)."""
    return (stored or "aisfx-blocks-raw-v1") == (current or "aisfx-blocks-raw-v1")


BLOCK_BATCH = 32  # blocks per forward pass: ~40 MB of activations at full width


# ----------------------------------------------------------------------------- front end


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(np.asarray(hz, dtype=np.float64) / 700.0 + 1.0)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


@functools.cache
def mel_filters() -> np.ndarray:
    """``(N_MELS, N_FFT // 2 + 1)`` weights: mel-axis triangles, each row summing to 1."""
    n_bins = N_FFT // 2 + 1
    edges = _mel_to_hz(np.linspace(_hz_to_mel(F_MIN), _hz_to_mel(F_MAX), N_MELS + 2))
    bin_hz = np.arange(n_bins) * (SAMPLE_RATE / 2.0) / (n_bins - 1)
    bin_mel = _hz_to_mel(bin_hz)
    edge_mel = _hz_to_mel(edges)
    out = np.zeros((N_MELS, n_bins), dtype=np.float64)
    for i in range(N_MELS):
        lo, mid, hi = edge_mel[i], edge_mel[i + 1], edge_mel[i + 2]
        inside = (bin_hz >= edges[i]) & (bin_hz <= edges[i + 2])
        rising = inside & (bin_hz < edges[i + 1])
        falling = inside & ~rising
        out[i, rising] = (bin_mel[rising] - lo) / (mid - lo)
        out[i, falling] = (hi - bin_mel[falling]) / (hi - mid)
        out[i] /= out[i].sum()
    out.setflags(write=False)
    return out


@functools.cache
def _window() -> np.ndarray:
    n = np.arange(N_FFT)
    w = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / (N_FFT - 1.0))
    w.setflags(write=False)
    return w


def log_mel(x: np.ndarray) -> np.ndarray:
    """1-D 44.1 kHz float audio → ``(frames, 96)`` float32 normalised log-mel spectrogram."""
    x = np.asarray(x, dtype=np.float32)
    # Frame k covers [k*HOP - N_FFT/2, k*HOP + N_FFT/2); the last one is centred at or past the end.
    n_frames = -(-x.shape[0] // HOP) + 1
    left = N_FFT // 2
    right = max(0, (n_frames - 1) * HOP + N_FFT - left - x.shape[0])
    padded = np.concatenate([np.zeros(left, np.float32), x, np.zeros(right, np.float32)]).astype(
        np.float64
    )
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP][:n_frames]
    power = np.abs(np.fft.rfft(frames * _window(), axis=1)) ** 2
    bands = power @ mel_filters().T
    return (np.log10(bands * 1e4 + 1.0) / SPEC_MAX).astype(np.float32)


def peak_normalised(x: np.ndarray) -> np.ndarray:
    """``x`` scaled to a peak of 1 (digital silence stays silent)."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    return (x / peak).astype(np.float32) if peak > 0 else x


def clip_input(spec: np.ndarray) -> np.ndarray:
    """``(frames, 96)`` → ``(100, max(frames, 8))``: mel bands as rows, zero-padded to 100 rows,
    every frame of the clip as columns (at least 8, which three 2x2 poolings need)."""
    out = np.zeros((BLOCK_FRAMES, max(spec.shape[0], MIN_FRAMES)), dtype=np.float32)
    out[: spec.shape[1], : spec.shape[0]] = spec.T
    return out


def blocks_of(spec: np.ndarray) -> np.ndarray:
    """``(frames, 96)`` → ``(blocks, 100, 96)``: hop 50, a trailing partial block dropped unless
    it is the only one, zero-padded to full length."""
    n = spec.shape[0]
    count = 1 if n <= BLOCK_FRAMES else (n - BLOCK_FRAMES) // BLOCK_HOP + 1
    need = (count - 1) * BLOCK_HOP + BLOCK_FRAMES
    if need > n:
        spec = np.concatenate([spec, np.zeros((need - n, spec.shape[1]), spec.dtype)])
    starts = np.arange(count) * BLOCK_HOP
    return np.stack([spec[s : s + BLOCK_FRAMES] for s in starts])


# ----------------------------------------------------------------------------- network


def build_aisfx_net(width: int = WIDTH) -> Any:
    """The embedding network (torch ``nn.Module``): ``(B, 100, 96)`` → ``(B, 8 * width)``.

    Parameter names match the checkpoint's ``embedding_net.*`` entries without that prefix.
    """
    import torch
    from torch import nn

    class ConvBlock(nn.Module):
        def __init__(self, cin: int, cout: int, pool: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
            self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.bn2 = nn.BatchNorm2d(cout)
            self.pool = pool

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = torch.relu(self.bn1(self.conv1(x)))
            x = torch.relu(self.bn2(self.conv2(x)))
            return nn.functional.max_pool2d(x, self.pool) if self.pool > 1 else x

    class AisfxNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            chans = [1, width, width * 2, width * 4, width * 8]
            for i in range(4):
                pool = 2 if i < 3 else 1
                self.add_module(f"conv_block{i + 1}", ConvBlock(chans[i], chans[i + 1], pool))
            self.dim = chans[-1]

        def forward(self, spec: torch.Tensor) -> torch.Tensor:
            x = spec.unsqueeze(1)  # (B, 1, time, mel)
            for i in range(4):
                x = getattr(self, f"conv_block{i + 1}")(x)
            return x.mean(dim=3).amax(dim=2)

    return AisfxNet()


def build_tiny_aisfx(device: str = "cpu") -> Any:
    """The same network at width 8 (64-d), seeded random weights.

    Its batch-norm statistics are measured on seeded random spectrograms (as training would
    leave them): with the init's zero means, every ReLU fires on everything and all sounds get
    nearly the same vector; normalised, the toy net at least tells sounds apart.
    """
    import torch

    from sfxkit.models.tiny import _seeded

    with _seeded():
        net = build_aisfx_net(TINY_WIDTH)
        gen = torch.Generator().manual_seed(TINY_SEED)
        level = torch.rand(16, 1, N_MELS, generator=gen)
        pulse = torch.rand(16, BLOCK_FRAMES, 1, generator=gen) ** 4
        calib = level * pulse + 0.05 * torch.rand(16, BLOCK_FRAMES, N_MELS, generator=gen)
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.momentum = None  # a plain average over the calibration batch
        net.train()
        with torch.no_grad():
            net(calib)
    return net.to(device).eval()


def _checkpoint_globals() -> list[Any]:
    """Exactly what the checkpoint pickles besides tensors: the numpy int64 dataset indices of
    its classifier-head table (``numpy.core.multiarray.scalar``, ``numpy.dtype``, ``Int64DType``)."""
    try:  # numpy >= 2 keeps the function under numpy._core; the pickle names numpy.core
        from numpy._core.multiarray import scalar
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import scalar  # type: ignore[no-redef]
    # the same function under the name numpy 1 pickles (the real file) and numpy 2's own name
    allowed: list[Any] = [(scalar, "numpy.core.multiarray.scalar"), scalar, np.dtype]
    if hasattr(np, "dtypes"):
        allowed.append(np.dtypes.Int64DType)
    return allowed


def convert_checkpoint(data: bytes) -> dict[str, Any]:
    """The aiSFX ``checkpoint.pth`` bytes → the embedding network's tensors (float32, CPU).

    Read with ``weights_only=True`` and only the numpy globals above allowed; the classifier
    heads and batch-norm counters are dropped. The embedding network must be complete, exactly
    shaped and finite.
    """
    import io

    import torch

    from sfxkit.models.checkpoint import check_finite, check_layout, refusal

    source = f"{WHEEL_REQUIREMENT}:{CHECKPOINT_MEMBER}"
    fix = "the package index served an unusable file; nothing was written"
    try:
        with torch.serialization.safe_globals(_checkpoint_globals()):
            loaded = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise refusal(source, exc, fix) from exc
    state = loaded[0] if isinstance(loaded, (tuple, list)) else loaded
    prefix = "embedding_net."
    tensors = {
        k[len(prefix) :]: v.detach().to(torch.float32).contiguous()
        for k, v in dict(state).items()
        if k.startswith(prefix) and not k.endswith("num_batches_tracked")
    }
    expected = _layout(build_aisfx_net())
    what = "aiSFX EmbeddingNet('max', 3, 1, 64)"
    check_layout(tensors, expected, path=source, what=what, fix=fix)
    check_finite(tensors, path=source, fix=fix)
    return tensors


def _layout(net: Any) -> dict[str, Any]:
    """The converted file's layout: the network's tensors without batch-norm counters."""
    return {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}


def load_aisfx(path: Path, *, model_id: str, device: str) -> AisfxEncoder:
    """An encoder from the converted ``model.safetensors`` (``sfxkit models pull aisfx``), strictly:
    every tensor present with its shape, nothing extra, all finite."""
    from sfxkit.models.checkpoint import load_into, pull_fix, read_checkpoint, tensor_dict

    fix = pull_fix(model_id)
    state = tensor_dict(read_checkpoint(path, fix=fix), path=path, fix=fix)
    first = state.get("conv_block1.conv1.weight")
    width = int(first.shape[0]) if first is not None and first.ndim == 4 else WIDTH
    net = build_aisfx_net(width)
    # Batch-norm counters are training bookkeeping the converted file leaves out on purpose.
    own = net.state_dict()
    for key in own:
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = own[key].clone()
    load_into(net, state, path=path, what=f"aiSFX network (width {width})", fix=fix)
    return AisfxEncoder(net.to(device).eval(), model_id=model_id, device=device)


# ----------------------------------------------------------------------------- encoder


class AisfxEncoder:
    """Sounds → aiSFX vectors (``(n, dim)`` float32, unit length). Audio only: no text tower.

    ``layout`` picks the network input (:data:`LAYOUTS`): ``"blocks"`` (the default: the
    package's Essentia path, what the checkpoint answers to) or ``"clip"`` (the librosa path's
    layout). ``peak_normalise`` scales each clip to a peak of 1 first, as the librosa path does
    (default off, as the Essentia path: it measured no better).
    """

    sample_rate = SAMPLE_RATE

    def __init__(
        self,
        model: Any,
        *,
        model_id: str,
        device: str,
        untrained: bool = False,
        layout: str = DEFAULT_LAYOUT,
        peak_normalise: bool = DEFAULT_PEAK_NORMALISE,
    ) -> None:
        if layout not in LAYOUTS:
            raise ModelError(f"unknown aiSFX input layout {layout!r}; one of {', '.join(LAYOUTS)}")
        self.model = model.eval()
        self.model_id = model_id
        self.device = device
        self.untrained = untrained
        self.layout = layout
        self.peak_normalise = peak_normalise
        self.dim = int(model.dim)

    def __repr__(self) -> str:
        return (
            f"AisfxEncoder({self.model_id!r}, dim={self.dim}, device={self.device!r}, "
            f"layout={self.layout!r})"
        )

    @property
    def frontend(self) -> str:
        """What the vectors were computed from (recorded with an index view: vectors from
        another front end are not comparable and are never reused or searched together)."""
        norm = "peak" if self.peak_normalise else "raw"
        return f"aisfx-{self.layout}-{norm}-v{FRONTEND_VERSION}"

    def _spectrogram(self, waveform: np.ndarray, *, sample_rate: int, index: int) -> np.ndarray:
        x = resample(to_mono(waveform, index), int(sample_rate), SAMPLE_RATE)
        x = x[: int(MAX_SECONDS * SAMPLE_RATE)]
        if self.peak_normalise:
            x = peak_normalised(x)
        return log_mel(x)

    def blocks(self, waveform: np.ndarray, *, sample_rate: int, index: int = 0) -> np.ndarray:
        """One clip's network input(s): ``(1, 100, frames)`` for the clip layout, ``(blocks,
        100, 96)`` for the blocks layout; float32."""
        spec = self._spectrogram(waveform, sample_rate=sample_rate, index=index)
        return clip_input(spec)[None] if self.layout == LAYOUT_CLIP else blocks_of(spec)

    def embed_blocks(self, blocks: np.ndarray, *, batch_size: int = BLOCK_BATCH) -> np.ndarray:
        """``(n, rows, cols)`` network inputs → the raw (unnormalised) ``(n, dim)`` vectors."""
        import torch

        out = []
        with torch.inference_mode():
            for s in range(0, len(blocks), batch_size):
                chunk = torch.from_numpy(np.ascontiguousarray(blocks[s : s + batch_size]))
                out.append(self.model(chunk.to(self.device)).float().cpu().numpy())
        return np.concatenate(out) if out else empty(self.dim)

    def encode_audio(
        self, waveforms: Sequence[np.ndarray], *, sample_rate: int, batch_size: int = BLOCK_BATCH
    ) -> np.ndarray:
        """Clips → ``(n, dim)``: the mean of each clip's input vectors, L2-normalised."""
        batch_size = check_batch_size(batch_size)
        if len(waveforms) == 0:
            return empty(self.dim)
        if self.layout == LAYOUT_CLIP:
            # one input per clip, as long as the clip: clips of different lengths cannot share
            # a batch without padding, which would change the mean over time
            vecs = [
                self.embed_blocks(self.blocks(w, sample_rate=sample_rate, index=i))[0]
                for i, w in track(
                    list(enumerate(waveforms)),
                    total=len(waveforms),
                    desc="aiSFX audio",
                    unit="clip",
                )
            ]
            return l2_normalise(np.stack(vecs))
        per_clip = [
            self.blocks(w, sample_rate=sample_rate, index=i) for i, w in enumerate(waveforms)
        ]
        counts = np.array([len(b) for b in per_clip])
        flat = np.concatenate(per_clip)
        chunks = range(0, len(flat), batch_size)
        vecs = np.concatenate(
            [
                self.embed_blocks(flat[s : s + batch_size], batch_size=batch_size)
                for s in track(chunks, total=len(chunks), desc="aiSFX audio", unit="batch")
            ]
        )
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        means = np.add.reduceat(vecs, starts, axis=0) / counts[:, None]
        return l2_normalise(means)

    def encode_texts(self, texts: Sequence[str], *, batch_size: int = 256) -> np.ndarray:
        raise ModelError(
            f"{self.model_id} embeds sounds only (it has no text tower); text queries use CLAP"
        )
