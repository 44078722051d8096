"""Stills and video frames: load any frame-like input as a PIL image, probe videos, and pick the
frames displayed at given times (PyAV).

Time 0 is the first video frame (a stream's ``start_time`` offset is removed). The frame shown at
time ``t`` is the last frame whose presentation time is ``<= t``; times past the end give the last
frame. :func:`sample_frames` is the fixed-rate sampler MMAudio's features use (8 fps for CLIP,
25 fps for Synchformer) whatever the source frame rate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sfxkit.errors import InputError, MediaError

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    FrameLike = str | Path | Image.Image | np.ndarray | tuple[str | Path, float]
else:
    FrameLike = Any

VIDEO_EXTENSIONS: frozenset[str] = frozenset(
    {
        ".mp4",
        ".m4v",
        ".mov",
        ".mkv",
        ".webm",
        ".avi",
        ".mpg",
        ".mpeg",
        ".ts",
        ".mts",
        ".m2ts",
        ".mxf",
        ".wmv",
        ".flv",
        ".3gp",
        ".ogv",
        ".dv",
    }
)
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".tga"}
)

# Seek before decoding only when the first wanted time is this far in; below it, decoding from
# the start is about as fast as a seek and avoids relying on the file's index.
SEEK_THRESHOLD_S = 2.0

_ACCEPTED = (
    "an image path, a (video_path, seconds) tuple, a PIL image, or a numpy array "
    "(HxWx3 uint8 RGB, HxW grey, HxWx4 RGBA, or float in [0, 1])"
)


def is_video(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def is_image(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`video_info` learns from a video's headers."""

    path: str
    duration: float
    fps: float
    width: int
    height: int
    n_frames: int
    has_audio: bool
    audio_sample_rate: int | None
    audio_channels: int | None


def load_frame(frame: FrameLike) -> Image.Image:
    """Any accepted frame form as an RGB PIL image.

    Accepts an image path, ``(video_path, seconds)``, a PIL image, or an array (HxWx3 uint8,
    HxW grey, HxWx4 RGBA with alpha dropped, or float in [0, 1]). Anything else is an
    :class:`InputError` naming what was given and what is accepted.
    """
    from PIL import Image

    if isinstance(frame, Image.Image):
        return frame if frame.mode == "RGB" else frame.convert("RGB")
    if isinstance(frame, np.ndarray):
        return Image.fromarray(_array_to_rgb(frame), mode="RGB")
    if isinstance(frame, tuple):
        if len(frame) != 2 or not isinstance(frame[0], (str, Path)):
            raise InputError(
                f"got a tuple {_describe(frame)}; expected (video_path, seconds). Accepted: {_ACCEPTED}"
            )
        path, seconds = frame
        try:
            t = float(seconds)
        except (TypeError, ValueError):
            raise InputError(
                f"got ({path!r}, {seconds!r}); the second item must be a time in seconds"
            ) from None
        return Image.fromarray(frames_at(path, [t])[0], mode="RGB")
    if isinstance(frame, (str, Path)):
        p = Path(frame)
        if is_video(p):
            raise InputError(
                f"{p} is a video; pass (path, seconds) for one frame, e.g. ({str(p)!r}, 1.5), "
                "or use Recommender.recommend_video for the whole video"
            )
        if not p.exists():
            raise MediaError(p, "file not found", "check the path")
        if p.is_dir():
            raise MediaError(
                p, "is a directory, not an image", f"pass an image file; accepted: {_ACCEPTED}"
            )
        try:
            with Image.open(p) as img:
                img.load()
                return _pil_to_rgb(img)
        except Exception as exc:  # noqa: BLE001 - PIL raises many types for unreadable files
            raise MediaError(
                p,
                f"not a readable image ({exc})",
                "use a JPEG/PNG/WebP/TIFF/BMP image, or (video_path, seconds) for a video frame",
            ) from exc
    raise InputError(f"cannot use {_describe(frame)} as a frame; accepted: {_ACCEPTED}")


def _describe(obj: object) -> str:
    if isinstance(obj, np.ndarray):
        return f"an array of shape {obj.shape} and dtype {obj.dtype}"
    text = repr(obj)
    return f"{type(obj).__name__} {text[:60]}"


def _pil_to_rgb(img: Any) -> Any:
    from PIL import Image

    if img.mode == "RGB":
        return img.copy()
    if img.mode in {"RGBA", "LA"} or (img.mode == "P" and "transparency" in img.info):
        # Composite on black rather than keeping hidden RGB under transparent pixels.
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def _array_to_rgb(arr: np.ndarray) -> np.ndarray:
    a = np.asarray(arr)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    elif a.ndim == 3 and a.shape[2] == 4:
        a = a[..., :3]
    elif not (a.ndim == 3 and a.shape[2] == 3):
        hint = (
            " (channels-first? transpose to HxWx3)"
            if a.ndim == 3 and a.shape[0] in (1, 3, 4)
            else ""
        )
        raise InputError(f"cannot use {_describe(arr)} as a frame{hint}; accepted: {_ACCEPTED}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise InputError(f"cannot use {_describe(arr)} as a frame: it has no pixels")
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    if np.issubdtype(a.dtype, np.floating):
        if not np.all(np.isfinite(a)):
            raise InputError(f"{_describe(arr)} contains NaN/inf; accepted: {_ACCEPTED}")
        lo, hi = float(a.min()), float(a.max())
        if lo < 0.0 or hi > 1.0:
            raise InputError(
                f"float frame values must be in [0, 1], got [{lo:.3g}, {hi:.3g}]; "
                "divide by 255 or convert to uint8"
            )
        return np.ascontiguousarray(np.rint(a * 255.0).astype(np.uint8))
    raise InputError(
        f"cannot use {_describe(arr)} as a frame (dtype {a.dtype}); accepted: {_ACCEPTED}"
    )


def _open_video(path: str | Path) -> tuple[Any, Any]:
    import av

    p = Path(path)
    if not p.exists():
        raise MediaError(p, "file not found", "check the path")
    if p.is_dir() or p.stat().st_size == 0:
        raise MediaError(p, "not a video file (a directory or empty)", "pass a video file")
    try:
        container = av.open(str(p))
    except Exception as exc:  # noqa: BLE001
        raise MediaError(
            p,
            f"not a readable video ({exc})",
            "use an MP4/MOV/MKV/WebM video; re-encode it with ffmpeg if needed",
        ) from exc
    if not container.streams.video:
        container.close()
        raise MediaError(
            p, "the file has no video stream", "pass a video file (audio files go to load_audio)"
        )
    return container, container.streams.video[0]


def _stream_start(stream: Any) -> float:
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def _stream_fps(stream: Any) -> float:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return float(rate)
    return 0.0


def _stream_duration(container: Any, stream: Any) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return float(container.duration) / 1_000_000.0 - _stream_start(stream)
    return 0.0


def video_info(path: str | Path) -> VideoInfo:
    """Duration, frame rate, size, frame count and audio presence, from the headers.

    When the headers lack a duration or frame count (some MKV/WebM/TS files), the video is
    decoded once to count frames.
    """
    container, stream = _open_video(path)
    with container:
        fps = _stream_fps(stream)
        duration = _stream_duration(container, stream)
        n_frames = int(stream.frames or 0)
        if n_frames <= 0 and duration > 0 and fps > 0:
            n_frames = int(round(duration * fps))
        if n_frames <= 0 or duration <= 0:
            start = _stream_start(stream)
            last = 0.0
            n_frames = 0
            for frame in container.decode(stream):
                n_frames += 1
                if frame.pts is not None:
                    last = float(frame.pts * stream.time_base) - start
            if n_frames == 0:
                raise MediaError(
                    path, "the video stream has no decodable frames", "re-encode the video"
                )
            if not fps:
                fps = (n_frames - 1) / last if last > 0 else 25.0
            duration = last + 1.0 / fps
        audio = container.streams.audio[0] if container.streams.audio else None
        return VideoInfo(
            path=str(Path(path).absolute()),
            duration=duration,
            fps=fps,
            width=int(stream.codec_context.width),
            height=int(stream.codec_context.height),
            n_frames=n_frames,
            has_audio=audio is not None,
            audio_sample_rate=int(audio.codec_context.sample_rate) if audio is not None else None,
            audio_channels=int(audio.codec_context.channels) if audio is not None else None,
        )


def _target_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    if max_side is None or max(width, height) <= max_side:
        return width, height
    if max_side < 1:
        raise InputError(f"max_side must be >= 1, got {max_side}")
    scale = max_side / float(max(width, height))
    return max(1, int(round(width * scale))), max(1, int(round(height * scale)))


def frames_at(
    path: str | Path,
    times: Sequence[float] | np.ndarray,
    *,
    max_side: int | None = None,
) -> np.ndarray:
    """The frames displayed at ``times`` (seconds), as ``(len(times), H, W, 3)`` uint8 RGB.

    For each time: the last frame whose presentation time is ``<= t``; times past the end give
    the last frame. One sequential decode pass serves all times (sorted internally; the output
    follows the input order), seeking first only when the earliest time is far into the video.
    ``max_side`` downscales (keeping the aspect ratio) so the longer side is at most that.
    """
    t = np.asarray(times, dtype=np.float64).reshape(-1)
    if t.size and (not np.all(np.isfinite(t)) or float(t.min()) < 0.0):
        raise InputError(f"{path}: frame times must be finite and >= 0 seconds, got {t.min()!r}..")
    container, stream = _open_video(path)
    with container:
        stream.thread_type = "AUTO"
        width, height = _target_size(
            stream.codec_context.width, stream.codec_context.height, max_side
        )
        out = np.zeros((t.size, height, width, 3), dtype=np.uint8)
        if t.size == 0:
            return out
        order = np.argsort(t, kind="stable")
        sorted_t = t[order]
        start = _stream_start(stream)
        tb = stream.time_base
        # Container timestamps are whole ticks; allow half a tick (and float noise) so a frame
        # whose exact time equals t counts as displayed at t.
        eps = max(1e-6, 0.5 * float(tb)) if tb is not None else 1e-6

        def rgb(frame: Any) -> np.ndarray:
            return frame.to_ndarray(format="rgb24", width=width, height=height)

        def decode(seek_to: float | None) -> tuple[int, np.ndarray | None, bool]:
            """Fill ``out`` from a decode pass; returns (next unfilled index, last frame, ok).

            Frames are converted to RGB only when some requested time shows them: at 8 fps from a
            60 fps source most decoded frames are never looked at.
            """
            if seek_to is not None:
                container.seek(int((seek_to + start) / tb), stream=stream, backward=True)
            i = 0
            prev: Any = None
            prev_rgb: np.ndarray | None = None
            first = True

            def shown() -> np.ndarray:
                nonlocal prev_rgb
                if prev_rgb is None:
                    prev_rgb = rgb(prev)
                return prev_rgb

            for frame in container.decode(stream):
                ft = (float(frame.pts * tb) - start) if frame.pts is not None else None
                if first and seek_to is not None and ft is not None and ft > sorted_t[0] + eps:
                    return 0, None, False  # the seek overshot: the file's index lies
                first = False
                if ft is None:
                    ft = -math.inf if prev is None else math.inf
                # Every pending time before this frame's start shows the previous frame.
                while i < sorted_t.size and sorted_t[i] + eps < ft:
                    out[order[i]] = shown() if prev is not None else rgb(frame)
                    i += 1
                if i >= sorted_t.size:
                    return i, (shown() if prev is not None else None), True
                prev, prev_rgb = frame, None
            return i, (shown() if prev is not None else None), True

        seek = float(sorted_t[0]) if sorted_t[0] > SEEK_THRESHOLD_S and tb is not None else None
        try:
            filled, last, ok = decode(seek)
            if not ok:
                container.seek(0, stream=stream, backward=True)
                filled, last, ok = decode(None)
        except MediaError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise MediaError(
                path, f"decoding video frames failed ({exc})", "re-encode the video with ffmpeg"
            ) from exc
        if filled < sorted_t.size:
            if last is None:
                raise MediaError(
                    path, "the video stream has no decodable frames", "re-encode the video"
                )
            # Times past the last frame show the last frame.
            out[order[filled:]] = last
        return out


def sample_frames(
    path: str | Path,
    fps: float,
    *,
    start: float = 0.0,
    duration: float | None = None,
    max_side: int | None = None,
) -> np.ndarray:
    """Frames at ``start + i / fps`` for ``i in range(floor(duration * fps + 1e-6))``.

    ``duration`` defaults to the rest of the video and is clipped to the video's end. Returns
    ``(n, H, W, 3)`` uint8. The count depends only on ``duration`` and ``fps``, never on the
    source frame rate (a 25 fps sampler over 8 s gives 200 frames from 24, 30 or 29.97 fps video).
    """
    if fps <= 0 or not math.isfinite(fps):
        raise InputError(f"{path}: sampling fps must be > 0, got {fps}")
    if start < 0 or (duration is not None and duration < 0):
        raise InputError(
            f"{path}: start and duration must be >= 0 (got start={start}, duration={duration})"
        )
    info = video_info(path)
    if start >= info.duration:
        raise InputError(
            f"{path}: start {start:.3f} s is past the end of the video ({info.duration:.3f} s)"
        )
    available = info.duration - start
    span = available if duration is None else min(duration, available)
    n = int(math.floor(span * fps + 1e-6))
    times = start + np.arange(n, dtype=np.float64) / fps
    return frames_at(path, times, max_side=max_side)
