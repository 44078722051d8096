"""Shot detection: where a video's shots begin and end, across hard cuts, fades through black and
cross-dissolves, with one keyframe per shot.

Three detectors run over the same analysed frames (``detectors``; all three by default):

- ``"adaptive"``, hard cuts: PySceneDetect's :class:`~scenedetect.AdaptiveDetector` (HSV content
  score of consecutive frames against the mean of its neighbours, so handheld or busy footage
  does not cut everywhere), followed by a flash check: a "cut" whose picture comes back within
  ``flash_frames`` frames (a photographer's flash, a lightning frame, one or two white frames) is
  not a cut; nor is a dip to black that short. "Comes back" is relative: closer to the frame
  before the cut than half the cut's own change, so a flash during a pan (where nothing comes
  back exactly) is still a flash.
- ``"fade"``, fades to and from black: PySceneDetect's :class:`~scenedetect.ThresholdDetector`
  (mean level below ``fade_level``), with the boundary in the middle of the black.
- ``"dissolve"``, cross-dissolves: PySceneDetect has no dissolve detector, and measured on
  synthetic 1 s dissolves neither its adaptive nor its content detector fires (each step of a
  dissolve changes the picture by 1/25 of the whole change). sfxkit's own windowed test compares
  frames ``dissolve_window`` seconds apart, and twice that apart (a 2 s dissolve changes the
  picture by only half its whole change across 1 s): around frame ``c`` (``w`` frames each side) a
  dissolve changes the picture a lot (``D = |F[c-w] - F[c+w]| >= dissolve_threshold``), in
  small steps (no single step above half of ``D``), and *linearly*: the middle frame is close to
  the average of the two ends (``|F[c] - (F[c-w] + F[c+w]) / 2| <= dissolve_linearity * D``).
  A pan or moving objects fail the linearity test (the average of two shifted pictures is a
  double image, not the middle picture); a cut or flash fails the small-steps test; a fade or a
  lighting change (the same picture at another gain) fails the change test once both ends are
  scaled to the same mean, so fades are left to the fade detector. A dissolve while the camera
  moves fails the linearity test too, so a second test stands in for it: the middle of a mix of
  two pictures has less local contrast than they have, everywhere in the frame (each quartile of
  its 8x8-block variances at 20-80 % of the ends' mean, ``DISSOLVE_DIP``), which a pan does not
  (its contrast stays) and a pan onto a blank wall does only where the wall is. The boundary is
  the middle of the run of frames that pass, which is the middle of the dissolve.

Boundaries closer than ``min_shot`` seconds to the previous one (or to either end) are merged:
a fade wins over a cut and a cut over a dissolve at the same place (a fade's two halves can look
like short dissolves), otherwise the first one stays. ``detectors=("content",)`` is the previous
hard-cut-only detector (sfxkit's six-channel frame difference sampled at 10 fps, refined to the
exact frame), kept for comparison; see :func:`content_scores`.

Decoding: frames come from :func:`sfxkit.media.frames.frames_at`, not from PySceneDetect's own
``open_video(..., backend="pyav")``. Both decode with PyAV, but PySceneDetect times frames from
the container's timestamps and headers: on the test suite's hostile MP4s (two seconds of frames,
a cut at 1 s) its own backend reports 36000 s or 30720 s of video and places the cut at 18000 s
or 15360 s (measured with 0.7.2). sfxkit's path times the frames by what they fill (the cut at
1.0 s, with a :class:`~sfxkit.media.frames.VideoTimingWarning`) and
reads ``ANALYSIS_CHUNK`` frames at a time, so memory stays bounded by the chunk (plus a ring of
twice ``dissolve_window`` seconds of frames), not by the video's length or what its header claims.
The detectors are fed frame by frame through their ``process_frame`` API with frame numbers on
sfxkit's timeline. Frames are analysed at the video's own rate (``analysis_fps``, at most
``MAX_ANALYSIS_FPS``) and downscaled to ``max_side`` pixels; a lower ``analysis_fps`` is faster
and places cuts by a second decode of the frames around each (``refine``).

PySceneDetect needs OpenCV (``cv2``) at import; the ``scenedetect`` package brings
``opencv-python`` (which needs ``libGL.so.1`` on Linux). On a server without it, install the
``scenedetect-headless`` package (same module, ``opencv-python-headless``) instead.

Keyframe: the analysed frame nearest the middle of the shot (simple and predictable; a shot's
middle is rarely mid-transition).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sfxkit.errors import ConfigError, InputError

DETECTORS: tuple[str, ...] = ("adaptive", "fade", "dissolve")
"""The default detectors; ``"content"`` (the previous hard-cut detector) runs alone."""
KNOWN_DETECTORS: tuple[str, ...] = (*DETECTORS, "content")

DEFAULT_THRESHOLD = 27.0
"""Minimum content score (mean abs difference over H, S, V, R, G, B on 0..255) for a cut by the
``"content"`` detector."""
ADAPTIVE_MIN_CONTENT = 15.0
"""Minimum HSV content score for a cut by the ``"adaptive"`` detector (PySceneDetect's default)."""
ADAPTIVE_RATIO = 3.0
ADAPTIVE_WINDOW = 2
FADE_LEVEL = 12.0
"""Mean 8-bit level below which a frame is black (PySceneDetect's ThresholdDetector default)."""
DISSOLVE_THRESHOLD = 20.0
"""Minimum mean abs RGB difference (0..255) across a dissolve window."""
DISSOLVE_LINEARITY = 0.25
DISSOLVE_WINDOW = 1.0
"""Seconds between the frames a dissolve is measured across (also twice this: dissolves up to
about twice this long are seen whole, longer ones by their linear middle). A dissolve within
twice this of either end of the video is not looked for."""
DISSOLVE_DIP = (0.2, 0.8)
"""Under camera motion, a dissolve's middle frame has this range of fractions of its ends' local
contrast (each quartile of the 8x8-block grey variances; about half for two unrelated pictures)."""
FLASH_FRAMES = 3
FLASH_RATIO = 0.5
"""A cut is a flash when a frame within ``flash_frames`` after it differs from the frame before
it by less than this fraction of the cut's own change."""
MAX_ANALYSIS_FPS = 30.0
ANALYSIS_CHUNK = 600
"""Analysis frames decoded per pass (24 s at 25 fps; about 9 MB at 96 px)."""

_PRIORITY = {"fade": 3, "cut": 2, "dissolve": 1}


@dataclass(frozen=True)
class Shot:
    """One shot: ``[start, end)`` in seconds, the time of its representative frame, and how it
    begins (``"start"`` for the first shot, else ``"cut"``, ``"fade"`` or ``"dissolve"``)."""

    index: int
    start: float
    end: float
    keyframe_time: float
    transition: str = "cut"

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict[str, float | int | str]:
        return {
            "shot": self.index,
            "start": self.start,
            "end": self.end,
            "keyframe_time": self.keyframe_time,
            "transition": self.transition,
        }


def _hsv(frames: np.ndarray) -> np.ndarray:
    """(n, H, W, 3) uint8 RGB -> float32 HSV on a 0..255 scale (hue wraps at 255)."""
    rgb = frames.astype(np.float32) / 255.0
    mx = rgb.max(axis=-1)
    mn = rgb.min(axis=-1)
    delta = mx - mn
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    safe = np.where(delta > 0, delta, 1.0)
    hue = np.where(
        mx == r,
        ((g - b) / safe) % 6.0,
        np.where(mx == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0),
    )
    hue = np.where(delta > 0, hue / 6.0, 0.0)
    sat = np.where(mx > 0, delta / np.where(mx > 0, mx, 1.0), 0.0)
    return np.stack([hue, sat, mx], axis=-1).astype(np.float32) * 255.0


def content_scores(frames: np.ndarray) -> np.ndarray:
    """Scores (len(frames) - 1,) of each step between consecutive frames (0..255 scale)."""
    if len(frames) < 2:
        return np.zeros(0, dtype=np.float32)
    hsv = _hsv(frames)
    diff = np.abs(hsv[1:] - hsv[:-1])
    # Hue is circular: a step from 250 to 5 is small.
    diff[..., 0] = np.minimum(diff[..., 0], 255.0 - diff[..., 0])
    rgb = frames.astype(np.float32)
    rgb_diff = np.abs(rgb[1:] - rgb[:-1])
    total = diff.mean(axis=(1, 2, 3)) + rgb_diff.mean(axis=(1, 2, 3))
    return (total / 2.0).astype(np.float32)


def _cut_steps(scores: np.ndarray, threshold: float) -> list[int]:
    cuts = []
    for i, s in enumerate(scores):
        if s < threshold:
            continue
        lo, hi = max(0, i - ADAPTIVE_WINDOW), min(len(scores), i + ADAPTIVE_WINDOW + 1)
        neighbours = np.concatenate([scores[lo:i], scores[i + 1 : hi]])
        local = float(np.median(neighbours)) if neighbours.size else 0.0
        if s >= ADAPTIVE_RATIO * local:
            cuts.append(i)
    return cuts


def detect_shots(
    video: str | Path,
    *,
    detectors: str | Sequence[str] = DETECTORS,
    threshold: float | None = None,
    adaptive_ratio: float = ADAPTIVE_RATIO,
    fade_level: float = FADE_LEVEL,
    dissolve_threshold: float = DISSOLVE_THRESHOLD,
    dissolve_linearity: float = DISSOLVE_LINEARITY,
    dissolve_window: float = DISSOLVE_WINDOW,
    flash_frames: int = FLASH_FRAMES,
    min_shot: float = 0.5,
    analysis_fps: float | None = None,
    max_side: int = 96,
    refine: bool = True,
) -> list[Shot]:
    """Split a video into shots at cuts, fades and dissolves; see the module docstring.

    ``detectors``: any of ``"adaptive"`` (hard cuts), ``"fade"`` (through black), ``"dissolve"``;
    or ``("content",)`` alone, the previous hard-cut detector. ``threshold``: the minimum content
    score of a hard cut (default 15 for ``"adaptive"``, PySceneDetect's; 27 for ``"content"``).
    ``adaptive_ratio``: how far a cut's score must stand above its neighbours' mean.
    ``fade_level``: the mean 8-bit level that counts as black. ``dissolve_threshold``,
    ``dissolve_linearity``, ``dissolve_window``: the dissolve test. ``flash_frames``: a picture
    that comes back within this many frames was a flash, not a cut. ``analysis_fps``: frames
    analysed per second (default: the video's rate, at most ``MAX_ANALYSIS_FPS``; 10 for
    ``"content"``). ``refine=False`` leaves cuts found at a lower analysis rate accurate to one
    analysis step instead of decoding the frames around each.
    """
    from sfxkit.media.frames import video_info

    chosen = tuple(dict.fromkeys([detectors] if isinstance(detectors, str) else detectors))
    unknown = [d for d in chosen if d not in KNOWN_DETECTORS]
    if unknown or not chosen or ("content" in chosen and len(chosen) > 1):
        raise InputError(
            f"unknown or mixed shot detectors {list(detectors)!r}; pick any of "
            f"{', '.join(DETECTORS)}, or 'content' alone (the previous hard-cut detector)"
        )
    legacy = chosen == ("content",)
    if analysis_fps is not None and not analysis_fps > 0:
        raise InputError(f"analysis_fps must be > 0, got {analysis_fps}")
    if min_shot < 0:
        raise InputError(f"min_shot must be >= 0 seconds, got {min_shot}")
    if dissolve_window <= 0 or flash_frames < 0:
        raise InputError(
            f"dissolve_window must be > 0 s and flash_frames >= 0, got {dissolve_window} "
            f"and {flash_frames}"
        )
    info = video_info(video)
    if analysis_fps is None:
        rate = 10.0 if legacy else min(info.fps, MAX_ANALYSIS_FPS)
    else:
        rate = float(analysis_fps)
    # Same times as sample_frames(video, rate).
    n = int(np.floor(info.duration * rate + 1e-6))
    times = np.arange(n, dtype=np.float64) / rate

    found: list[tuple[int, str]]  # (index of the shot's first analysed frame, transition)
    if legacy:
        scores = _scores_in_chunks(video, times, max_side)
        found = [
            (i + 1, "cut")
            for i in _cut_steps(scores, DEFAULT_THRESHOLD if threshold is None else threshold)
        ]
    else:
        analyser = _Transitions(
            chosen,
            rate=rate,
            threshold=ADAPTIVE_MIN_CONTENT if threshold is None else threshold,
            adaptive_ratio=adaptive_ratio,
            fade_level=fade_level,
            dissolve_threshold=dissolve_threshold,
            dissolve_linearity=dissolve_linearity,
            half_window=max(1, int(round(dissolve_window * rate / 2))),
            flash_frames=flash_frames,
        )
        from sfxkit.media.frames import frames_at

        for lo in range(0, n, ANALYSIS_CHUNK):
            for frame in frames_at(video, times[lo : lo + ANALYSIS_CHUNK], max_side=max_side):
                analyser.push(frame)
        found = analyser.finish()

    # A boundary as a time: exact source frames for cuts found between sparser samples.
    bounds: list[tuple[float, str]] = []
    cut_steps = [k - 1 for k, kind in found if kind == "cut"]
    exact: dict[int, float] = {}
    if cut_steps and refine and info.fps > rate * (1 + 1e-6):
        refined = _refine(video, cut_steps, times, info.fps, max_side)
        exact = dict(zip(cut_steps, refined, strict=True))
    for k, kind in found:
        bounds.append(
            (exact.get(k - 1, float(times[k])) if kind == "cut" else float(times[k]), kind)
        )
    kept = _merge(sorted(bounds), min_shot, info.duration)

    edges = [(0.0, "start"), *kept, (info.duration, "")]
    shots = []
    for k in range(len(edges) - 1):
        (start, kind), end = edges[k], edges[k + 1][0]
        inside = np.nonzero((times >= start - 1e-9) & (times < end))[0]
        mid = 0.5 * (start + end)
        key = float(times[inside[np.argmin(np.abs(times[inside] - mid))]]) if inside.size else mid
        shots.append(Shot(index=k, start=start, end=end, keyframe_time=key, transition=kind))
    return shots


def _merge(
    bounds: list[tuple[float, str]], min_shot: float, duration: float
) -> list[tuple[float, str]]:
    """Boundaries at least ``min_shot`` apart and from both ends; of two too close, a fade wins
    over a cut and a cut over a dissolve, else the first stays."""
    kept: list[tuple[float, str]] = []
    for t, kind in bounds:
        if duration - t < min_shot:
            continue
        last = kept[-1][0] if kept else 0.0
        if t - last >= min_shot:
            kept.append((t, kind))
            continue
        before = kept[-2][0] if len(kept) > 1 else 0.0
        if kept and _PRIORITY[kind] > _PRIORITY[kept[-1][1]] and t - before >= min_shot:
            kept[-1] = (t, kind)
    return kept


def _scenedetect() -> Any:
    try:
        import scenedetect
    except ImportError as exc:  # cv2 missing, or opencv-python without libGL.so.1
        raise ConfigError(
            f"shot detection needs PySceneDetect and OpenCV, which failed to import ({exc}); "
            "install them with: pip install 'scenedetect>=0.7,<0.8' (on a server without "
            "libGL, pip install scenedetect-headless instead)"
        ) from exc
    return scenedetect


def _contrast(frame: np.ndarray, block: int = 8) -> np.ndarray:
    """Quartiles (25, 50, 75 %) of the grey-level variances of ``frame``'s ``block``-pixel
    squares (a float HxWx3 array)."""
    grey = frame.mean(axis=-1)
    h, w = (grey.shape[0] // block) * block, (grey.shape[1] // block) * block
    if h == 0 or w == 0:
        return np.full(3, float(grey.var()))
    tiles = grey[:h, :w].reshape(h // block, block, w // block, block)
    return np.quantile(tiles.var(axis=(1, 3)), [0.25, 0.5, 0.75])


def _score(a: np.ndarray, b: np.ndarray) -> float:
    """:func:`content_scores` of two frames (float arrays holding 0..255 values)."""
    return float(content_scores(np.stack([a, b]).astype(np.uint8))[0])


@dataclass
class _Pending:
    """A boundary waiting for its flash check: it is dropped if a frame after ``after`` (and
    within ``flash_frames`` of it) is closer to ``before`` than ``FLASH_RATIO * jump``."""

    after: int
    before: np.ndarray
    jump: float
    boundary: int
    kind: str


class _Transitions:
    """Feeds analysed frames, one at a time, to the chosen detectors; ``finish`` returns the
    boundaries as (index of the first analysed frame of the new shot, transition kind).

    Holds ``4 * half_window + 1`` frames (twice the dissolve window; at least the few frames
    the flash check looks back), so memory does not grow with the video."""

    def __init__(
        self,
        detectors: tuple[str, ...],
        *,
        rate: float,
        threshold: float,
        adaptive_ratio: float,
        fade_level: float,
        dissolve_threshold: float,
        dissolve_linearity: float,
        half_window: int,
        flash_frames: int,
    ) -> None:
        sd = _scenedetect()
        self._timecode = sd.FrameTimecode
        self.rate = rate
        self.threshold = threshold
        self.flash_frames = flash_frames
        # min_shot is applied to all kinds afterwards, and a flash's return step is dropped in
        # _candidate (PySceneDetect 0.7.0 measures its own min_scene_len from a later frame
        # than 0.7.2 does, so it cannot be relied on for that).
        self.adaptive = (
            sd.AdaptiveDetector(
                adaptive_threshold=adaptive_ratio,
                min_scene_len=1,
                window_width=ADAPTIVE_WINDOW,
                min_content_val=threshold,
            )
            if "adaptive" in detectors
            else None
        )
        self.fade = (
            sd.ThresholdDetector(threshold=fade_level, min_scene_len=0, fade_bias=0.0)
            if "fade" in detectors
            else None
        )
        self.fade_level = fade_level
        self.dissolve = "dissolve" in detectors
        self.d_threshold = dissolve_threshold
        self.d_linearity = dissolve_linearity
        self.w = half_window
        self.frames: deque[np.ndarray] = deque(maxlen=max(4 * half_window + 1, ADAPTIVE_WINDOW + 2))
        self.steps: deque[float] = deque(maxlen=4 * half_window)
        self.index = -1
        self.found: list[tuple[int, str]] = []
        self.starts_black = False
        # Cuts and short dips to black waiting for their flash check.
        self.pending: list[_Pending] = []
        self.dark_since: int | None = None  # first frame of the current run of black frames
        self.last_candidate: int | None = None
        self.run: list[int] = []  # consecutive dissolve centres
        self.gap = 0

    def push(self, rgb: np.ndarray) -> None:
        self.index += 1
        k = self.index
        frame = rgb.astype(np.float32)
        if self.frames:
            self.steps.append(float(np.abs(frame - self.frames[-1]).mean()))
        self.frames.append(frame)
        self._check_flashes(k, frame)
        if self.adaptive is not None or self.fade is not None:
            tc = self._timecode(k, fps=self.rate)
            bgr = np.ascontiguousarray(rgb[..., ::-1])
            if self.adaptive is not None:
                for cut in self.adaptive.process_frame(tc, bgr):
                    self._candidate(int(cut.frame_num))
            if self.fade is not None:
                self._fade(k, bgr)
        if self.dissolve and len(self.frames) == 4 * self.w + 1:
            self._dissolve_step(k - 2 * self.w)

    def _fade(self, k: int, bgr: np.ndarray) -> None:
        assert self.fade is not None
        dark = float(bgr.mean()) < int(self.fade_level)  # ThresholdDetector's own test
        if k == 0:
            self.starts_black = dark
        out = self.dark_since
        self.dark_since = (k if out is None else out) if dark else None
        for cut in self.fade.process_frame(self._timecode(k, fps=self.rate), bgr):
            split = int(cut.frame_num)
            if self.starts_black:
                # The first fade-in of a video that opens on black starts its first shot; it is
                # not a boundary between two.
                self.starts_black = False
                continue
            short = (
                self.flash_frames > 0
                and out is not None
                and out >= 1
                and k - out <= self.flash_frames
            )
            if short and out is not None and k - out + 2 <= len(self.frames):
                # A dip to black of a frame or two: a flash too, if the picture comes back.
                before = self.frames[-(k - out + 2)].copy()  # frame out - 1
                dip = _Pending(k - 1, before, _score(before, self.frames[-2]), split, "fade")
                self.pending.append(dip)
                self._check_flashes(k, self.frames[-1], only=dip)
                continue
            self.found.append((split, "fade"))

    def _candidate(self, k: int) -> None:
        if self.last_candidate is not None and k - self.last_candidate <= self.flash_frames:
            return  # the step back from a flash, or a cut right after a cut
        self.last_candidate = k
        back = self.index - k + 2  # frames[-back] is frame k - 1
        if self.flash_frames == 0 or k < 1 or back > len(self.frames):
            self.found.append((k, "cut"))
            return
        before = self.frames[-back].copy()
        cut = _Pending(k, before, _score(before, self.frames[-back + 1]), k, "cut")
        self.pending.append(cut)
        # Frames after k already seen (the adaptive detector answers a few frames late).
        for j in range(back - 2, 0, -1):
            self._check_flashes(self.index - j + 1, self.frames[-j], only=cut)

    def _check_flashes(self, index: int, frame: np.ndarray, only: _Pending | None = None) -> None:
        keep: list[_Pending] = []
        for p in self.pending:
            if (only is not None and p is not only) or index <= p.after:
                keep.append(p)
            elif _score(p.before, frame) < FLASH_RATIO * p.jump:
                # The picture came back (give or take what the camera moved meanwhile): a flash.
                pass
            elif index >= p.after + self.flash_frames:
                self.found.append((p.boundary, p.kind))
            else:
                keep.append(p)
        self.pending = keep

    def _dissolve_step(self, c: int) -> None:
        """Whether frame ``c`` (the middle of the ring) is inside a dissolve, at the window and
        at twice it (a long dissolve changes the picture too little across the short one)."""
        frames, steps, mid = self.frames, list(self.steps), 2 * self.w
        ok = self._linear_change(
            frames[mid - self.w], frames[mid], frames[mid + self.w], steps[self.w : 3 * self.w]
        ) or self._linear_change(frames[0], frames[mid], frames[-1], steps)
        if ok:
            self.run.append(c)
            self.gap = 0
        elif self.run:
            self.gap += 1
            if self.gap > 2:  # codec noise may break a run for a frame or two
                self._close_run()

    def _linear_change(
        self, first: np.ndarray, mid: np.ndarray, last: np.ndarray, steps: list[float]
    ) -> bool:
        change = float(np.abs(first - last).mean())
        if change < self.d_threshold or max(steps) > 0.5 * change:
            return False
        # The same picture at another gain (a fade, a light change) is not a dissolve.
        m0, m1 = float(first.mean()), float(last.mean())
        if min(m0, m1) < self.fade_level:
            return False
        scale = 0.5 * (m0 + m1)
        if float(np.abs(first * (scale / m0) - last * (scale / m1)).mean()) < self.d_threshold:
            return False
        if float(np.abs(mid - 0.5 * (first + last)).mean()) <= self.d_linearity * change:
            return True
        # While the camera moves the middle is no average of the ends, but a mix of two
        # pictures has less contrast than they have (variance of a*A + (1-a)*B), everywhere in
        # the frame: a dip in every quantile of the local (8x8 block) variances. A pan keeps its
        # contrast; a pan onto a blank wall loses it only where the wall is (low quantiles).
        q0, q1, qm = _contrast(first), _contrast(last), _contrast(mid)
        ratio = qm / np.maximum(0.5 * (q0 + q1), 1e-6)
        return bool(np.all((ratio >= DISSOLVE_DIP[0]) & (ratio <= DISSOLVE_DIP[1])))

    def _close_run(self) -> None:
        if len(self.run) >= 2:
            self.found.append(((self.run[0] + self.run[-1] + 1) // 2, "dissolve"))
        self.run, self.gap = [], 0

    def finish(self) -> list[tuple[int, str]]:
        if self.run:
            self._close_run()
        # Cuts too near the end for a full flash check: keep them unless the picture came back.
        self.found.extend((p.boundary, p.kind) for p in self.pending)
        self.pending = []
        if self.fade is not None:
            tc = self._timecode(max(self.index, 0), fps=self.rate)
            self.found.extend((int(c.frame_num), "fade") for c in self.fade.post_process(tc))
        n = self.index + 1
        return sorted((k, kind) for k, kind in self.found if 0 < k < n)


def check_shots(video: str | Path, shots: Sequence[Shot], duration: float) -> list[Shot]:
    """``shots`` as a list, or an :class:`InputError` when one does not lie inside the video
    (``duration`` seconds, what its frames fill): a shot list must not stretch the work past it."""
    out = list(shots)
    tolerance = 1e-3
    for shot in out:
        if not (0.0 <= shot.start < shot.end <= duration + tolerance):
            d = f"{duration:.3f}".rstrip("0").rstrip(".")
            raise InputError(
                f"{video}: shot {shot.index} ({shot.start:g}-{shot.end:g} s) is outside the video "
                f"(duration {d} s); give shots with 0 <= start < end <= {d}"
            )
    return out


def _scores_in_chunks(video: str | Path, times: np.ndarray, max_side: int) -> np.ndarray:
    """Content scores between consecutive sampled frames, decoding ``ANALYSIS_CHUNK`` frames at
    a time so a feature-length video never holds all its analysis frames in memory."""
    from sfxkit.media.frames import frames_at

    parts: list[np.ndarray] = []
    last: np.ndarray | None = None
    for lo in range(0, len(times), ANALYSIS_CHUNK):
        frames = frames_at(video, times[lo : lo + ANALYSIS_CHUNK], max_side=max_side)
        joined = frames if last is None else np.concatenate([last[None], frames])
        parts.append(content_scores(joined))
        last = frames[-1]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def _refine(
    video: str | Path, steps: list[int], times: np.ndarray, fps: float, max_side: int
) -> list[float]:
    """For each cut step (between samples i and i+1), the time of the first frame of the new shot."""
    from sfxkit.media.frames import frames_at

    windows: list[np.ndarray] = []
    for i in steps:
        t0, t1 = float(times[i]), float(times[i + 1])
        # Source frames whose start lies in (t0, t1], plus the frame shown at t0.
        first = int(np.floor(t0 * fps + 1e-6))
        last = int(np.floor(t1 * fps + 1e-6))
        windows.append(np.arange(first, last + 1, dtype=np.float64) / fps)
    flat = np.concatenate(windows)
    frames = frames_at(video, flat, max_side=max_side)
    out: list[float] = []
    pos = 0
    for i, w in zip(steps, windows, strict=True):
        chunk = frames[pos : pos + len(w)]
        pos += len(w)
        sc = content_scores(chunk)
        out.append(float(w[int(np.argmax(sc)) + 1]) if sc.size else float(times[i + 1]))
    return out
