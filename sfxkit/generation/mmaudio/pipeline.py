"""Video / image / text → waveform with MMAudio: the public ``generate`` and ``MMAudioGenerator``.

Per request: read frames at the rates the model expects (CLIP 8 fps, Synchformer 25 fps), encode
the prompt and the negative prompt with CLIP's text tower, sample latents with the Euler flow
sampler (CFG), decode them with the VAE and vocode the mel spectrogram.

Durations: the model was trained on 8 s clips. A request of at most 8 s runs as one window with
the sequence lengths recomputed for its duration (at least ``MIN_DURATION``; shorter requests are
generated at that length and trimmed). Longer requests run in the fewest 8 s windows that
overlap by at least 1 s, spread evenly from start to end, each conditioned on its own slice of
frames, and joined with 1 s equal-power crossfades centred in the overlaps. The output has exactly ``round(duration * sample_rate)`` samples.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sfxkit.errors import InputError, MediaError
from sfxkit.generation.base import GeneratedSound
from sfxkit.generation.mmaudio.variants import (
    CLIP_FPS,
    DEFAULT_VARIANT,
    MIN_DURATION,
    SYNC_FPS,
    TRAINING_DURATION,
    NetworkConfig,
    get_variant,
    sequence_geometry,
)

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from PIL import Image

    from sfxkit.generation.mmaudio.network import FlowNetwork

log = logging.getLogger(__name__)

WINDOW_SECONDS = TRAINING_DURATION
OVERLAP_SECONDS = 1.0
DTYPES = {
    "fp32": "float32",
    "float32": "float32",
    "bf16": "bfloat16",
    "bfloat16": "bfloat16",
    "fp16": "float16",
    "float16": "float16",
}


# ------------------------------------------------------------------------------------ windows


@dataclass(frozen=True)
class Window:
    """One model run: ``duration`` seconds from ``start`` (relative to the request), placed at
    output samples ``[offset, offset + num_samples)``."""

    start: float
    duration: float
    offset: int
    num_samples: int


def plan_windows(
    duration: float,
    sample_rate: int,
    *,
    window: float = WINDOW_SECONDS,
    overlap: float = OVERLAP_SECONDS,
) -> list[Window]:
    """Split ``duration`` seconds into model windows (see the module docstring)."""
    if not duration > 0:
        raise InputError(f"duration must be > 0 seconds, got {duration}")
    if not 0 <= overlap < window:
        raise InputError(f"overlap must be in [0, window), got {overlap} for window {window}")
    total = int(round(duration * sample_rate))
    if duration <= window:
        return [Window(0.0, max(duration, MIN_DURATION), 0, total)]
    # The fewest windows that overlap by at least `overlap`, spread evenly so that no window
    # is a near-copy of its neighbour and every one sees a full `window` of context.
    count = math.ceil((duration - overlap) / (window - overlap) - 1e-9)
    spacing = (duration - window) / (count - 1)
    length = int(round(window * sample_rate))
    windows = []
    for k in range(count):
        s = k * spacing
        offset = total - length if k == count - 1 else int(round(s * sample_rate))
        windows.append(Window(s, window, offset, length))
    return windows


def crossfade_join(
    pieces: list[np.ndarray], windows: list[Window], total: int, *, fade: int
) -> np.ndarray:
    """Join window outputs ``(channels, n)`` into ``total`` samples with equal-power crossfades
    of ``fade`` samples, centred in each overlap (cos/sin gains: constant summed power)."""
    channels = pieces[0].shape[0]
    out = np.zeros((channels, total), dtype=np.float32)
    # Per window, the sample range it owns outright and the fades at its edges.
    bounds: list[tuple[int, int]] = []  # crossfade [c0, c1) between window k and k+1
    for a, b in zip(windows, windows[1:], strict=False):
        lo, hi = b.offset, a.offset + a.num_samples
        n = min(fade, max(hi - lo, 0))
        c0 = lo + (hi - lo - n) // 2
        bounds.append((c0, c0 + n))
    for k, (w, piece) in enumerate(zip(windows, pieces, strict=True)):
        seg = piece[:, : w.num_samples]
        if seg.shape[1] < w.num_samples:
            raise ValueError(f"window {k} produced {seg.shape[1]} samples, needs {w.num_samples}")
        gain = np.ones(w.num_samples, dtype=np.float64)
        idx = np.arange(w.offset, w.offset + w.num_samples)
        if k > 0:  # fade in over the previous crossfade, silent before it
            c0, c1 = bounds[k - 1]
            theta = (np.pi / 2) * (idx - c0 + 0.5) / max(c1 - c0, 1)
            gain = np.where(idx < c0, 0.0, np.where(idx < c1, np.sin(theta), gain))
        if k < len(windows) - 1:  # fade out over the next crossfade, silent after it
            c0, c1 = bounds[k]
            theta = (np.pi / 2) * (idx - c0 + 0.5) / max(c1 - c0, 1)
            gain = np.where(idx >= c1, 0.0, np.where(idx >= c0, np.cos(theta) * gain, gain))
        out[:, w.offset : w.offset + w.num_samples] += (seg * gain).astype(np.float32)
    return out


# ---------------------------------------------------------------------------------- settings


def resolve_dtype(dtype: Any, device: torch.device) -> torch.dtype:
    """``"auto"`` → bf16 on CUDA, fp32 elsewhere; also accepts fp32/bf16/fp16 names or a dtype."""
    import torch

    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype in (None, "auto"):
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    name = DTYPES.get(str(dtype).lower())
    if name is None:
        raise InputError(f"unknown dtype {dtype!r}; use one of: auto, {', '.join(sorted(DTYPES))}")
    return getattr(torch, name)


# -------------------------------------------------------------------------------- sampling


def sample_latents(
    net: FlowNetwork,
    clip: torch.Tensor,
    sync: torch.Tensor,
    text: torch.Tensor,
    negative_text: torch.Tensor | None,
    *,
    generator: torch.Generator,
    steps: int,
    cfg_strength: float,
    batch_cfg: bool = True,
    on_step: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """Unnormalised VAE latents ``(B, L, latent_dim)`` for features already at the network's
    sequence lengths (set them with ``net.set_duration``)."""
    import torch

    from sfxkit.generation.mmaudio.flow import SamplerSettings, euler_sample, initial_noise

    with torch.inference_mode():
        b = clip.shape[0]
        x0 = initial_noise(
            b,
            net.latent_seq_len,
            net.latent_dim,
            generator=generator,
            device=net.device,
            dtype=net.dtype,
        )
        conditions = net.preprocess_conditions(clip, sync, text)
        empty = net.empty_conditions(b, negative_text=negative_text)
        settings = SamplerSettings(steps=steps, cfg_strength=cfg_strength, batch_cfg=batch_cfg)
        x1 = euler_sample(net, x0, conditions, empty, settings, on_step=on_step)
        return net.unnormalize(x1)


# ----------------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class _Source:
    kind: str  # video | image | text
    video: Path | None = None
    image: np.ndarray | None = None  # HxWx3 uint8
    label: str | None = None


def _decode_scale(width: int, height: int, short_side: int) -> int | None:
    """``max_side`` for decoding that keeps the short side >= ``short_side`` (None: no resize).

    Decoding 4K at 25 fps would take gigabytes; the encoders need 224-384 px."""
    if min(width, height) <= short_side:
        return None
    return int(math.ceil(max(width, height) * short_side / min(width, height)))


def _fit_frames(frames: np.ndarray, n: int, path: Path) -> np.ndarray:
    """Exactly ``n`` frames: trim, or repeat the last one when the video ends early."""
    if frames.shape[0] == 0:
        raise MediaError(
            path, "no frames could be decoded in the requested range", "check start/duration"
        )
    if frames.shape[0] >= n:
        return frames[:n]
    pad = np.repeat(frames[-1:], n - frames.shape[0], axis=0)
    return np.concatenate([frames, pad], axis=0)


# --------------------------------------------------------------------------------- generator


class MMAudioGenerator:
    """An MMAudio model loaded once (network, VAE, vocoder, Synchformer, CLIP) for many requests.

    Real variants load the official checkpoints (see ``weights.locate``); ``tiny_16k`` and
    ``tiny_44k`` are built with seeded random weights, need no files, and their sounds are
    labelled untrained.
    """

    def __init__(
        self,
        variant: str = DEFAULT_VARIANT,
        *,
        device: str | None = None,
        dtype: Any = "auto",
        weights_dir: str | Path | None = None,
        batch_cfg: bool = True,
        window: float = WINDOW_SECONDS,
        overlap: float = OVERLAP_SECONDS,
    ) -> None:
        import torch

        from sfxkit.config import resolve_device
        from sfxkit.generation.mmaudio.features import FeatureFiles, build_feature_extractor
        from sfxkit.generation.mmaudio.network import build_network
        from sfxkit.generation.mmaudio.weights import load_network
        from sfxkit.models.mmaudio_files import locate

        self.config: NetworkConfig = get_variant(variant)
        self.variant = self.config.name
        self.device = torch.device(resolve_device(device))
        self.dtype = resolve_dtype(dtype, self.device)
        self.batch_cfg = batch_cfg
        self.window = window
        self.overlap = overlap
        if self.config.tiny:
            net = build_network(self.config, seed=0)
            files = None
        else:
            paths = locate(self.variant, weights_dir=weights_dir)
            net = load_network(self.variant, paths["network"])
            files = FeatureFiles(
                vae=paths["vae"],
                vocoder=paths.get("vocoder"),
                synchformer=paths.get("synchformer"),
                clip_dir=paths["clip_config"].parent if "clip_config" in paths else None,
            )
        self.net = net.to(self.device, self.dtype).eval()
        self.features = build_feature_extractor(
            self.config.mode,
            tiny=self.config.tiny,
            files=files,
            device=str(self.device),
            dtype=self.dtype,
            seed=0,
            model_id=self.config.model_id,
        ).eval()
        self.sample_rate = self.config.dims.sampling_rate

    @property
    def untrained(self) -> bool:
        return self.config.tiny

    # -------------------------------------------------------------------------------- inputs

    def _source(
        self, video: str | Path | None, image: Any, start: float, duration: float | None
    ) -> tuple[_Source, float]:
        if video is not None and image is not None:
            raise InputError("pass either a video or an image, not both")
        if start < 0 or not math.isfinite(start):
            raise InputError(f"start must be a time >= 0 seconds, got {start}")
        if duration is not None and not (duration > 0 and math.isfinite(duration)):
            raise InputError(f"duration must be > 0 seconds, got {duration}")
        if video is not None:
            from sfxkit.media.frames import video_info

            path = Path(video).expanduser()
            try:
                info = video_info(path)
            except (MediaError, InputError):
                raise
            except Exception as exc:  # noqa: BLE001 - any decoder failure is a media problem
                raise MediaError(path, f"not a readable video ({exc})") from exc
            available = info.duration - start
            if available <= 0:
                raise InputError(
                    f"{path}: start {start:.3f} s is past the end of the video ({info.duration:.3f} s)"
                )
            if duration is None:
                duration = available
            elif duration > available + 1e-6:
                log.warning(
                    "%s: only %.3f s of video after start=%.3f s; generating %.3f s, not %.3f s",
                    path,
                    available,
                    start,
                    available,
                    duration,
                )
                duration = available
            return _Source("video", video=path, label=str(path)), float(duration)
        duration = float(duration) if duration is not None else WINDOW_SECONDS
        if image is not None:
            from sfxkit.media.frames import load_frame

            frame = np.array(load_frame(image), dtype=np.uint8)  # a writable copy
            label = str(image) if isinstance(image, (str, Path)) else None
            return _Source("image", image=frame, label=label), duration
        return _Source("text"), duration

    def _visual_features(
        self, source: _Source, start: float, duration: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """CLIP ``(1, clip_len, clip_dim)`` and sync ``(1, sync_len, sync_dim)`` features for one
        window, at the network's current sequence lengths."""
        from sfxkit.generation.mmaudio.features import clip_frames, sync_frames

        net = self.net
        if source.kind == "text":
            return net.empty_clip(1), net.empty_sync(1)
        if source.kind == "image":
            assert source.image is not None
            pixels = clip_frames(source.image[None]).to(self.device, self.dtype)
            clip = self.features.encode_video_with_clip(pixels.unsqueeze(0))
            # One picture stands for every frame; the sync stream stays "no video".
            return clip.expand(-1, net.clip_seq_len, -1), net.empty_sync(1)
        from sfxkit.media.frames import sample_frames, video_info

        assert source.video is not None
        geo = sequence_geometry(duration, self.config.mode)
        info = video_info(source.video)
        clip_np = sample_frames(
            source.video,
            CLIP_FPS,
            start=start,
            duration=duration,
            max_side=_decode_scale(info.width, info.height, 768),
        )
        sync_np = sample_frames(
            source.video,
            SYNC_FPS,
            start=start,
            duration=duration,
            max_side=_decode_scale(info.width, info.height, 448),
        )
        clip_px = clip_frames(_fit_frames(clip_np, geo.clip_frames, source.video))
        sync_px = sync_frames(_fit_frames(sync_np, geo.sync_frames, source.video))
        clip = self.features.encode_video_with_clip(clip_px.to(self.device, self.dtype)[None])
        sync = self.features.encode_video_with_sync(sync_px.to(self.device, self.dtype)[None])
        return clip[:, : net.clip_seq_len], sync[:, : net.sync_seq_len]

    # ------------------------------------------------------------------------------ generate

    def generate(
        self,
        video: str | Path | None = None,
        *,
        image: str | Path | Image.Image | np.ndarray | None = None,
        start: float = 0.0,
        duration: float | None = None,
        prompt: str = "",
        negative_prompt: str = "",
        steps: int = 25,
        cfg_strength: float = 4.5,
        seed: int = 42,
        progress: bool | None = None,
    ) -> GeneratedSound:
        """Generate a sound for ``video`` (a path), ``image`` (path/PIL/array) or, with
        neither, for ``prompt`` alone. ``duration=None`` → the rest of the video from ``start``
        (8 s for image/text)."""
        import torch

        from sfxkit._progress import track

        if steps < 1:
            raise InputError(f"steps must be >= 1, got {steps}")
        source, duration = self._source(video, image, start, duration)
        sr = self.sample_rate
        windows = plan_windows(duration, sr, window=self.window, overlap=self.overlap)
        total = int(round(duration * sr))
        bar = iter(
            track(
                range(len(windows) * steps),
                total=len(windows) * steps,
                desc=f"mmaudio {self.variant}",
                unit="step",
                enabled=progress,
            )
        )

        def tick(_: int) -> None:
            next(bar, None)

        generator = torch.Generator(device=self.device).manual_seed(int(seed))
        pieces: list[np.ndarray] = []
        with torch.inference_mode():
            text = self.features.encode_text([prompt]).to(self.dtype)
            negative = self.features.encode_text([negative_prompt]).to(self.dtype)
            for w in windows:
                self.net.set_duration(w.duration)
                clip, sync = self._visual_features(source, start + w.start, w.duration)
                latents = sample_latents(
                    self.net,
                    clip,
                    sync,
                    text,
                    negative,
                    generator=generator,
                    steps=steps,
                    cfg_strength=cfg_strength,
                    batch_cfg=self.batch_cfg,
                    on_step=tick,
                )
                mel = self.features.decode(latents)
                wav = self.features.vocode(mel).float().reshape(1, -1).cpu().numpy()
                pieces.append(wav)
        for _ in bar:  # close the progress bar
            pass
        audio = crossfade_join(pieces, windows, total, fade=int(round(self.overlap * sr)))
        np.clip(audio, -1.0, 1.0, out=audio)
        provenance = {
            "model": "mmaudio",
            "variant": self.variant,
            "weights_licence": None if self.untrained else "CC-BY-NC-4.0",
            "untrained": self.untrained,
            "seed": int(seed),
            "prompt": prompt,
            "negative_prompt": negative_prompt,
            "steps": int(steps),
            "cfg_strength": float(cfg_strength),
            "source": source.kind,
            "input": source.label,
            "start": float(start) if source.kind == "video" else 0.0,
            "duration": float(duration),
            "windows": len(windows),
            "sample_rate": sr,
            "device": str(self.device),
            "dtype": str(self.dtype).removeprefix("torch."),
        }
        return GeneratedSound(audio, sr, float(duration), provenance)


# ------------------------------------------------------------------------------- module API

_CACHE: dict[tuple[Any, ...], MMAudioGenerator] = {}


def get_generator(
    variant: str = DEFAULT_VARIANT,
    *,
    device: str | None = None,
    dtype: Any = "auto",
    weights_dir: str | Path | None = None,
) -> MMAudioGenerator:
    """A cached :class:`MMAudioGenerator` (one model kept: the large one is ~4 GB)."""
    from sfxkit.config import resolve_device

    name = get_variant(variant).name
    resolved = resolve_device(device)
    key = (name, resolved, str(dtype), str(weights_dir) if weights_dir else None)
    gen = _CACHE.get(key)
    if gen is None:
        _CACHE.clear()
        gen = MMAudioGenerator(name, device=resolved, dtype=dtype, weights_dir=weights_dir)
        _CACHE[key] = gen
    return gen


def _check_video_path(path: Path) -> None:
    if path.is_dir():
        from sfxkit.media.frames import is_video

        inside = sorted(p.name for p in path.iterdir() if p.is_file() and is_video(p))
        example = f", e.g. {path / inside[0]}" if inside else ""
        raise MediaError(
            path,
            "is a directory, not a video file",
            f"pass one video file{example}; for every video in a folder use "
            f"`sfxkit soundtrack {path} --index IDX --out DIR`",
        )
    if not path.is_file():
        raise MediaError(path, "file not found", "check the path")


def generate(
    video: str | Path | None = None,
    *,
    image: str | Path | Image.Image | np.ndarray | None = None,
    start: float = 0.0,
    duration: float | None = None,
    prompt: str = "",
    negative_prompt: str = "",
    variant: str = DEFAULT_VARIANT,
    steps: int = 25,
    cfg_strength: float = 4.5,
    seed: int = 42,
    device: str | None = None,
    dtype: Any = "auto",
    weights_dir: str | Path | None = None,
    progress: bool | None = None,
) -> GeneratedSound:
    """Generate a sound effect with MMAudio for a video, an image, or a text prompt.

    ``video``: a path; ``image``: a path, PIL image or HxWx3 array (image-to-audio); neither:
    text-to-audio from ``prompt``. ``duration=None`` → the rest of the video from ``start``
    (8 s for image/text); longer than 8 s runs in crossfaded windows. ``variant``: small_16k,
    small_44k, medium_44k, large_44k, large_44k_v2 (default) or tiny_16k / tiny_44k (untrained,
    for tests). ``dtype="auto"``: bf16 on CUDA, fp32 elsewhere. The model is loaded once and
    cached. Real weights are CC-BY-NC 4.0 (recorded in ``provenance``).
    """
    if video is not None:
        # say so before loading (or failing to find) gigabytes of weights
        _check_video_path(Path(video).expanduser())
    gen = get_generator(variant, device=device, dtype=dtype, weights_dir=weights_dir)
    return gen.generate(
        video,
        image=image,
        start=start,
        duration=duration,
        prompt=prompt,
        negative_prompt=negative_prompt,
        steps=steps,
        cfg_strength=cfg_strength,
        seed=seed,
        progress=progress,
    )
