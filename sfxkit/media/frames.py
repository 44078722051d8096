"""Stills and video frames: load any frame-like input as a PIL image, probe videos, and pick the
frames displayed at given times (PyAV).

Time 0 is the first video frame (a stream's ``start_time`` offset is removed). The frame shown at
time ``t`` is the last frame whose presentation time is ``<= t``; times past the end give the last
frame. :func:`sample_frames` is the fixed-rate sampler MMAudio's features use (8 fps for CLIP,
25 fps for Synchformer) whatever the source frame rate.

A video's extent is what its frames fill, never what its headers claim. :func:`video_info` reads
every video packet's timestamp (a demux pass: no decoding) and takes the duration from them: the
last frame's start plus one frame. Headers that claim more (an mvhd/mdhd duration of years, a last
frame "held" for hours) are clamped to it with a :class:`VideoTimingWarning`. When the timestamps
spread the frames over more than ``TIMESTAMP_SLACK`` times the span they fill at the stream's
nominal frame rate (an mdhd timescale of 0 or 1, a huge stts delta), they are not believed at all:
frame ``k`` is placed at ``k / fps``, again with a warning. So a 53 KB file can never ask for hours
of work: memory and time follow the frames that are really there.

Memory per video, whatever it claims: the timing table (8 bytes per frame) plus the frames a call
asks for. :func:`frames_at` holds ``len(times)`` frames at the requested size, so the analyses
ask in chunks: shot detection 600 frames at 96 px (about 17 MB RGB), motion 500 frames at 96 px
(about 14 MB, 55 MB as float), and :func:`sfxkit.media.mux.mux_audio` holds the new sound for the
real duration only (384 KB per second at 48 kHz stereo). Shots, keyframes, motion and mux on a
hostile 39 KB file that claims 10 hours peak at about 80 MB RSS in a fresh process.
"""

from __future__ import annotations

import math
import warnings
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sfxkit.errors import InputError, MediaError
from sfxkit.media.kinds import IMAGE_EXTENSIONS as IMAGE_EXTENSIONS  # re-exported
from sfxkit.media.kinds import VIDEO_EXTENSIONS as VIDEO_EXTENSIONS  # re-exported
from sfxkit.media.kinds import is_image as is_image  # re-exported
from sfxkit.media.kinds import is_video

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    FrameLike = str | Path | Image.Image | np.ndarray | tuple[str | Path, float]
else:
    FrameLike = Any


TIMESTAMP_SLACK = 8.0
"""Timestamps may spread the frames over at most this many times the span they fill at the
nominal frame rate (variable-frame-rate footage drops below its nominal rate; hostile headers
claim thousands of times more)."""
NOMINAL_FPS_RANGE = (1.0, 1000.0)
"""Frame rates outside this range (1/512 fps from a zero mdhd timescale, say) are not nominal."""
DEFAULT_FPS = 25.0
"""The frame rate assumed when neither the codec nor the container gives a believable one."""


class VideoTimingWarning(UserWarning):
    """A video's headers or timestamps claim more than its frames fill; sfxkit used the frames."""


# Seek before decoding only when the first wanted time is this far in; below it, decoding from
# the start is about as fast as a seek and avoids relying on the file's index.
SEEK_THRESHOLD_S = 2.0

_ACCEPTED = (
    "an image path, a (video_path, seconds) tuple, a PIL image, or a numpy array "
    "(HxWx3 uint8 RGB, HxW grey, HxWx4 RGBA, or float in [0, 1])"
)


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`video_info` learns from a video: ``duration`` and ``n_frames`` from its frames'
    timestamps; ``claimed_duration`` is what the headers and timestamps claimed (equal to
    ``duration`` for an honest file)."""

    path: str
    duration: float
    fps: float
    width: int
    height: int
    n_frames: int
    has_audio: bool
    audio_sample_rate: int | None
    audio_channels: int | None
    claimed_duration: float = 0.0


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
        check_time(path, t)
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


def _rate(value: Any) -> float:
    try:
        return float(value) if value else 0.0
    except (TypeError, ValueError, ZeroDivisionError):
        return 0.0


def _in_range(fps: float) -> bool:
    return NOMINAL_FPS_RANGE[0] <= fps <= NOMINAL_FPS_RANGE[1]


def _nominal_fps(stream: Any) -> float:
    """The rate the picture was made at: the codec's own (an H.264 SPS, say) first, since it does
    not come from the container timestamps a hostile header rewrites. 0 when none is believable."""
    for rate in (
        stream.codec_context.framerate,
        stream.average_rate,
        stream.base_rate,
        stream.guessed_rate,
    ):
        if _in_range(fps := _rate(rate)):
            return fps
    return 0.0


def _seconds(x: float) -> str:
    """Seconds for messages: '9.0', '2.033', '36000.0'."""
    text = f"{x:.3f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _long_seconds(x: float) -> str:
    if x >= 365.25 * 86400:
        return f"{_seconds(x)} s (~{x / (365.25 * 86400):.0f} years)"
    if x >= 3600:
        return f"{_seconds(x)} s (~{x / 3600:.1f} h)"
    return f"{_seconds(x)} s"


@dataclass(frozen=True, eq=False)
class VideoTiming:
    """Where a video's frames lie on sfxkit's timeline, from its packets' timestamps.

    ``pts``: every frame's presentation timestamp (stream ticks, sorted; 8 bytes per frame).
    Trusted: a frame is at ``(pts - origin) * time_base``. Retimed (the timestamps are not
    believable): frame ``k`` is at ``k / fps``.
    """

    time_base: Fraction
    origin: int
    pts: np.ndarray
    fps: float
    retimed: bool
    duration: float
    claimed: float

    @property
    def eps(self) -> float:
        # Container timestamps are whole ticks; allow half a tick (and float noise) so a frame
        # whose exact time equals t counts as displayed at t.
        return 1e-6 if self.retimed else max(1e-6, 0.5 * float(self.time_base))

    def time_of(self, pts: int | None) -> float | None:
        if pts is None:
            return None
        if self.retimed:
            return float(np.searchsorted(self.pts, pts, side="left")) / self.fps
        return float((pts - self.origin) * self.time_base)

    def seek_pts(self, t: float) -> int:
        """A stream timestamp at or before the frame shown at ``t``."""
        if self.retimed:
            k = min(max(int(math.floor(t * self.fps + 1e-9)), 0), len(self.pts) - 1)
            return int(self.pts[k])
        return self.origin + int(t / self.time_base)


_TIMINGS: dict[tuple[str, int, int], VideoTiming] = {}
_TIMINGS_KEPT = 64


def video_timing(path: str | Path) -> VideoTiming:
    """Where ``path``'s frames lie on sfxkit's timeline, measured once per file version (shot
    detection reopens a video for every chunk of frames it analyses)."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        st = None
    key = (str(p.absolute()), st.st_size, st.st_mtime_ns) if st is not None else None
    found = _TIMINGS.get(key) if key is not None else None
    if found is None:
        found = _measure_timing(p)
        if key is not None:
            while len(_TIMINGS) >= _TIMINGS_KEPT:
                _TIMINGS.pop(next(iter(_TIMINGS)))
            _TIMINGS[key] = found
    return found


def _packet_stamps(container: Any, stream: Any) -> tuple[array, int]:
    """Presentation timestamps of the video packets (a demux pass: nothing is decoded), and
    how long the last one shown claims to last, in ticks."""
    stamps = array("q")
    last, last_duration = -(2**63), 0
    for packet in container.demux(stream):
        if packet.size == 0 or getattr(packet, "is_discard", False):
            continue  # flush packets and frames the edit list cuts carry no picture
        ts = packet.pts if packet.pts is not None else packet.dts
        if ts is None:
            continue
        stamps.append(ts)
        if ts >= last:
            last, last_duration = ts, int(packet.duration or 0)
    return stamps, last_duration


def _measure_timing(path: Path) -> VideoTiming:
    container, stream = _open_video(path)
    with container:
        tb = stream.time_base or Fraction(1, 90_000)
        try:
            stamps, last_duration = _packet_stamps(container, stream)
        except Exception as exc:  # noqa: BLE001 - demuxers raise many types on broken files
            raise MediaError(
                path, f"reading the video's packets failed ({exc})", "re-encode the video"
            ) from exc
        nominal = _nominal_fps(stream)
        if not stamps:
            # No timestamps at all (some raw streams): count decodable frames instead.
            n = sum(1 for _ in container.decode(stream))
            if n == 0:
                raise MediaError(
                    path, "the video stream has no decodable frames", "re-encode the video"
                )
            fps = nominal or DEFAULT_FPS
            pts = np.arange(n, dtype=np.int64)
            return VideoTiming(tb, 0, pts, fps, True, n / fps, n / fps)
        header = float(stream.duration * tb) if stream.duration else 0.0
        average = _rate(stream.average_rate)
        origin = int(stream.start_time) if stream.start_time is not None else min(stamps)
    pts = np.sort(np.frombuffer(stamps, dtype=np.int64))
    del stamps
    n = len(pts)
    span = float((int(pts[-1]) - int(pts[0])) * tb)
    measured = (n - 1) / span if n > 1 and span > 0 else 0.0
    fps = nominal or (measured if _in_range(measured) else DEFAULT_FPS)
    end = float((int(pts[-1]) - origin) * tb)
    held = float(last_duration * tb)
    claimed = max(header, end + held)
    if n > 1 and span > TIMESTAMP_SLACK * (n - 1) / fps + 1.0:
        duration = n / fps
        warnings.warn(
            f"{path}: the video's timestamps spread its {n} frames over {_long_seconds(claimed)}"
            f" (one frame every {span / (n - 1):.4g} s at a nominal {fps:.4g} fps); timing the"
            f" frames at {fps:.4g} fps instead: {_seconds(duration)} s. Re-encode the video if"
            " that is wrong",
            VideoTimingWarning,
            stacklevel=3,
        )
        return VideoTiming(tb, origin, pts, fps, True, duration, claimed)
    frame = float(np.median(np.diff(pts)) * tb) if n > 1 else 0.0
    frame = frame if frame > 0 else 1.0 / fps
    # The last frame lasts one frame; a header that holds it for hours claims what is not there.
    hold = held if 0 < held <= 2 * max(frame, 1.0 / fps) else frame
    duration = end + hold
    if claimed - duration > max(1.0, 0.01 * duration):
        warnings.warn(
            f"{path}: the video's headers and timestamps claim {_long_seconds(claimed)} but its"
            f" {n} frames end at {_seconds(duration)} s; using {_seconds(duration)} s",
            VideoTimingWarning,
            stacklevel=3,
        )
    rate = average if _in_range(average) else measured if _in_range(measured) else fps
    return VideoTiming(tb, origin, pts, rate, False, duration, claimed)


def video_info(path: str | Path) -> VideoInfo:
    """Duration, frame rate, size, frame count and audio presence.

    The duration and frame count come from the frames' timestamps (one demux pass, cached per
    file version), never from a header alone: see the module docstring for what happens when
    they disagree.
    """
    timing = video_timing(path)
    container, stream = _open_video(path)
    with container:
        audio = container.streams.audio[0] if container.streams.audio else None
        return VideoInfo(
            path=str(Path(path).absolute()),
            duration=timing.duration,
            fps=timing.fps,
            width=int(stream.codec_context.width),
            height=int(stream.codec_context.height),
            n_frames=len(timing.pts),
            has_audio=audio is not None,
            audio_sample_rate=int(audio.codec_context.sample_rate) if audio is not None else None,
            audio_channels=int(audio.codec_context.channels) if audio is not None else None,
            claimed_duration=timing.claimed,
        )


def check_time(path: str | Path, seconds: float) -> VideoInfo:
    """``path``'s info, or an :class:`InputError` when ``seconds`` is not a time inside it."""
    info = video_info(path)
    if not (math.isfinite(seconds) and 0.0 <= seconds <= info.duration):
        d = _seconds(info.duration)
        raise InputError(
            f"{path}: time {seconds:g} s is outside the video (duration {d} s); "
            f"pick a time from 0 to {d}"
        )
    return info


def _target_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    if max_side is None or max(width, height) <= max_side:
        return width, height
    if max_side < 1:
        raise InputError(f"max_side must be >= 1, got {max_side}")
    scale = max_side / float(max(width, height))
    return max(1, int(round(width * scale))), max(1, int(round(height * scale)))


MAX_FRAME_PIXELS = 4096 * 4096
"""Frames larger than this (16.8 MP, twice 4K UHD) are downscaled to it as they are converted
to RGB, so a video with giant frames costs bounded memory per frame."""


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
    ``max_side`` downscales (keeping the aspect ratio) so the longer side is at most that;
    without it frames over :data:`MAX_FRAME_PIXELS` are downscaled to that many pixels.
    """
    t = np.asarray(times, dtype=np.float64).reshape(-1)
    if t.size and not np.all(np.isfinite(t) & (t >= 0.0)):
        bad = float(t[~(np.isfinite(t) & (t >= 0.0))][0])
        raise InputError(f"{path}: frame times must be finite and >= 0 seconds, got {bad:g}")
    timing = video_timing(path) if t.size else None
    container, stream = _open_video(path)
    with container:
        stream.thread_type = "AUTO"
        w0, h0 = stream.codec_context.width, stream.codec_context.height
        if max_side is None and w0 * h0 > MAX_FRAME_PIXELS:
            # a giant frame is scaled while converted, never held at full size in RGB
            max_side = max(1, int(max(w0, h0) * (MAX_FRAME_PIXELS / (w0 * h0)) ** 0.5))
        width, height = _target_size(w0, h0, max_side)
        out = np.zeros((t.size, height, width, 3), dtype=np.uint8)
        if timing is None:
            return out
        order = np.argsort(t, kind="stable")
        sorted_t = t[order]
        eps = timing.eps

        def rgb(frame: Any) -> np.ndarray:
            return frame.to_ndarray(format="rgb24", width=width, height=height)

        def decode(seek_to: float | None) -> tuple[int, np.ndarray | None, bool]:
            """Fill ``out`` from a decode pass; returns (next unfilled index, last frame, ok).

            Frames are converted to RGB only when some requested time shows them: at 8 fps from a
            60 fps source most decoded frames are never looked at.
            """
            if seek_to is not None:
                container.seek(timing.seek_pts(seek_to), stream=stream, backward=True)
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
                ft = timing.time_of(frame.pts)
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

        seek = float(sorted_t[0]) if sorted_t[0] > SEEK_THRESHOLD_S else None
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
