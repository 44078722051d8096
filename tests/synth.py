"""Synthesised test media: audio files, frames and videos made on the fly (no fixtures on disk).

Audio arrays are float32 (channels, samples), as everywhere in sfxkit.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

SR = 48_000


def tone(
    freq: float, seconds: float, sr: int = SR, *, channels: int = 1, amp: float = 0.5
) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    x = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.repeat(x[None, :], channels, axis=0)


def noise(
    seconds: float,
    sr: int = SR,
    *,
    channels: int = 1,
    amp: float = 0.3,
    seed: int = 0,
    band: tuple[float, float] | None = None,
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sr))
    x = rng.standard_normal((channels, n)).astype(np.float32)
    if band is not None:
        spec = np.fft.rfft(x, axis=1)
        freqs = np.fft.rfftfreq(n, 1 / sr)
        spec[:, (freqs < band[0]) | (freqs > band[1])] = 0
        x = np.fft.irfft(spec, n=n, axis=1).astype(np.float32)
    x *= amp / max(float(np.max(np.abs(x))), 1e-9)
    return x


def clicks(seconds: float, rate_hz: float, sr: int = SR, *, amp: float = 0.8) -> np.ndarray:
    """Decaying clicks: footstep/tap-like transients."""
    n = int(round(seconds * sr))
    x = np.zeros(n, dtype=np.float32)
    env = np.exp(-np.arange(int(0.03 * sr)) / (0.005 * sr)).astype(np.float32)
    rng = np.random.default_rng(1)
    for start in np.arange(0, seconds, 1 / rate_hz):
        i = int(start * sr)
        seg = env[: max(0, min(len(env), n - i))]
        x[i : i + len(seg)] += amp * seg * rng.standard_normal(len(seg)).astype(np.float32)
    return np.clip(x, -1, 1)[None, :]


def write_audio(
    path: str | Path, samples: np.ndarray, sr: int = SR, *, subtype: str | None = None
) -> Path:
    """Write with soundfile (wav, flac, ogg, aiff) or PyAV (mp3, m4a) chosen by suffix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix in {".mp3", ".m4a", ".aac", ".opus"}:
        _write_with_av(path, samples, sr)
        return path
    import soundfile as sf

    fmt = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".aif": "AIFF", ".aiff": "AIFF"}[suffix]
    if subtype is None:
        subtype = {"OGG": "VORBIS", "FLAC": "PCM_16", "AIFF": "PCM_16"}.get(fmt, "PCM_16")
    sf.write(str(path), np.asarray(samples, dtype=np.float32).T, sr, format=fmt, subtype=subtype)
    return path


def _write_with_av(path: Path, samples: np.ndarray, sr: int) -> None:
    import av

    codec = {".mp3": "libmp3lame", ".m4a": "aac", ".aac": "aac", ".opus": "libopus"}[
        path.suffix.lower()
    ]
    x = np.asarray(samples, dtype=np.float32)
    layout = "mono" if x.shape[0] == 1 else "stereo"
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=sr, layout=layout)
        frame_size = 1152
        for i in range(0, x.shape[1], frame_size):
            chunk = np.ascontiguousarray(x[:, i : i + frame_size])
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
            frame.sample_rate = sr
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def draw_frame(kind: str, size: int = 64, *, seed: int = 0) -> np.ndarray:
    """A drawn HxWx3 uint8 frame: 'red', 'green', 'blue', 'stripes', 'checker', 'circle', 'noise'."""
    h = w = size
    img = np.zeros((h, w, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    if kind in {"red", "green", "blue"}:
        img[..., {"red": 0, "green": 1, "blue": 2}[kind]] = 220
    elif kind == "stripes":
        img[(xx // 4) % 2 == 0] = (240, 240, 240)
    elif kind == "checker":
        img[((xx // 8) + (yy // 8)) % 2 == 0] = (250, 200, 0)
    elif kind == "circle":
        img[(xx - w / 2) ** 2 + (yy - h / 2) ** 2 < (w / 3) ** 2] = (0, 200, 255)
    elif kind == "noise":
        img = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    else:
        raise ValueError(f"unknown frame kind {kind!r}")
    return img


def make_video(
    path: str | Path,
    scenes: Sequence[tuple[str, float]],
    *,
    fps: int = 25,
    size: int = 64,
    audio: np.ndarray | None = None,
    audio_sr: int = SR,
    moving: bool = False,
) -> Path:
    """Encode an H.264 (or mpeg4 fallback) video of drawn scenes [(kind, seconds), ...].

    With ``moving=True`` a small white square moves left→right inside each scene, so frame
    differences within a shot are non-zero but far below a cut.
    """
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        try:
            vstream = container.add_stream("libx264", rate=fps)
            vstream.options = {"preset": "ultrafast", "crf": "18"}
        except Exception:  # pragma: no cover - ffmpeg builds without x264
            vstream = container.add_stream("mpeg4", rate=fps)
        vstream.width = vstream.height = size
        vstream.pix_fmt = "yuv420p"
        astream = None
        if audio is not None:
            layout = "mono" if audio.shape[0] == 1 else "stereo"
            astream = container.add_stream("aac", rate=audio_sr, layout=layout)
        for s_index, (kind, seconds) in enumerate(scenes):
            n = int(round(seconds * fps))
            base = draw_frame(kind, size, seed=s_index)
            for i in range(n):
                img = base.copy()
                if moving:
                    x0 = int((size - 8) * i / max(n - 1, 1))
                    img[size // 2 - 4 : size // 2 + 4, x0 : x0 + 8] = 255
                frame = av.VideoFrame.from_ndarray(img, format="rgb24")
                for packet in vstream.encode(frame):
                    container.mux(packet)
        for packet in vstream.encode(None):
            container.mux(packet)
        if astream is not None and audio is not None:
            layout = "mono" if audio.shape[0] == 1 else "stereo"
            step = 1024
            for i in range(0, audio.shape[1], step):
                chunk = np.ascontiguousarray(audio[:, i : i + step].astype(np.float32))
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
                frame.sample_rate = audio_sr
                for packet in astream.encode(frame):
                    container.mux(packet)
            for packet in astream.encode(None):
                container.mux(packet)
    return path


# --- added for media/catalog tests -------------------------------------------------------------

INDEX_BITS = 10


def write_tagged_audio(
    path: str | Path, samples: np.ndarray, sr: int = SR, *, tags: dict[str, str]
) -> Path:
    """Write audio with embedded metadata: soundfile string chunks (WAV INFO, FLAC/OGG comments,
    AIFF) for wav/flac/ogg/aiff, ID3 through PyAV for mp3. Keys: title, comment, artist, album,
    genre (and any key PyAV accepts for mp3)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    x = np.asarray(samples, dtype=np.float32)
    if suffix == ".mp3":
        import av

        layout = "mono" if x.shape[0] == 1 else "stereo"
        with av.open(str(path), "w") as container:
            for key, value in tags.items():
                container.metadata[key] = value
            stream = container.add_stream("libmp3lame", rate=sr, layout=layout)
            for i in range(0, x.shape[1], 1152):
                frame = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(x[:, i : i + 1152]), format="fltp", layout=layout
                )
                frame.sample_rate = sr
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode(None):
                container.mux(packet)
        return path
    import soundfile as sf

    fmt, subtype = {
        ".wav": ("WAV", "PCM_16"),
        ".flac": ("FLAC", "PCM_16"),
        ".ogg": ("OGG", "VORBIS"),
        ".aif": ("AIFF", "PCM_16"),
        ".aiff": ("AIFF", "PCM_16"),
    }[suffix]
    with sf.SoundFile(str(path), "w", sr, x.shape[0], format=fmt, subtype=subtype) as f:
        for key, value in tags.items():
            setattr(f, key, value)
        f.write(x.T)
    return path


def index_frame(index: int, size: int = 64) -> np.ndarray:
    """A frame whose vertical bars spell ``index`` in binary (bit 0 leftmost; white = 1).

    Bars are ``size / INDEX_BITS`` pixels wide and the full height, so H.264 at a sane quality
    keeps every bit readable; :func:`read_index_frame` decodes it.
    """
    img = np.zeros((size, size, 3), dtype=np.uint8)
    edges = np.linspace(0, size, INDEX_BITS + 1).round().astype(int)
    for bit in range(INDEX_BITS):
        if (index >> bit) & 1:
            img[:, edges[bit] : edges[bit + 1]] = 255
    return img


def read_index_frame(img: np.ndarray) -> int:
    """The index drawn by :func:`index_frame` (frames may have been downscaled)."""
    h, w = img.shape[:2]
    bar = w / INDEX_BITS
    value = 0
    for bit in range(INDEX_BITS):
        lo, hi = int(round(bit * bar + bar * 0.3)), int(round((bit + 1) * bar - bar * 0.3))
        if img[h // 4 : 3 * h // 4, lo : max(hi, lo + 1)].mean() > 127:
            value |= 1 << bit
    return value


def make_indexed_video(
    path: str | Path, n_frames: int, fps: float | int, *, size: int = 64
) -> Path:
    """An H.264 video whose frame k shows ``index_frame(k)``; ``fps`` may be a Fraction (30000/1001)."""
    from fractions import Fraction

    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = fps if isinstance(fps, Fraction) else Fraction(fps).limit_denominator(1001)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.options = {"preset": "ultrafast", "crf": "10"}
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for k in range(n_frames):
            frame = av.VideoFrame.from_ndarray(index_frame(k, size), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


# --- added for shot-transition tests ------------------------------------------------------------


def texture(seed: int, width: int = 160, height: int = 90, *, cell: int = 10) -> np.ndarray:
    """A smooth, colourful HxWx3 uint8 texture (bilinear-upsampled random grid) that differs
    from seed to seed in layout and mean colour: a stand-in for a real scene."""
    rng = np.random.default_rng(seed)
    gh, gw = height // cell + 2, width // cell + 2
    grid = rng.uniform(0, 255, (gh, gw, 3)) * 0.6 + rng.uniform(0, 255, 3) * 0.4
    ys = np.linspace(0, gh - 1.001, height)
    xs = np.linspace(0, gw - 1.001, width)
    y0, x0 = ys.astype(int), xs.astype(int)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    top = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x0 + 1] * fx
    bottom = grid[y0 + 1][:, x0] * (1 - fx) + grid[y0 + 1][:, x0 + 1] * fx
    return np.clip(top * (1 - fy) + bottom * fy, 0, 255).astype(np.uint8)


def with_square(img: np.ndarray, i: int, n: int) -> np.ndarray:
    """``img`` with a small white square moved left to right over ``n`` frames (frame ``i``),
    so a shot has motion inside it, far below a change of scene."""
    out = img.copy()
    h, w = out.shape[:2]
    x0 = int((w - 8) * i / max(n - 1, 1))
    out[h // 2 - 4 : h // 2 + 4, x0 : x0 + 8] = 255
    return out


def write_video_frames(path: str | Path, frames: Iterable[np.ndarray], fps: int = 25) -> Path:
    """Encode HxWx3 uint8 RGB frames (even width and height; any iterable, so a long video need
    not be held in memory) as an H.264 MP4."""
    import itertools

    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    it = iter(frames)
    first = next(it)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.options = {"preset": "ultrafast", "crf": "18"}
        stream.height, stream.width = first.shape[:2]
        stream.pix_fmt = "yuv420p"
        for f in itertools.chain([first], it):
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


TRANSITIONS = ("cut", "fade", "dissolve", "flash", "flash2", "dip", "pan")


def transition_frames(
    kind: str,
    *,
    fps: int = 25,
    width: int = 160,
    height: int = 90,
    shot: float = 1.6,
    length: float = 1.0,
    seed: int = 0,
    pan: float = 0.0,
) -> tuple[list[np.ndarray], list[float]]:
    """Frames of a short clip with one known transition, and the true shot boundaries (seconds,
    mid-transition for gradual ones; none for a flash or a pan).

    - ``cut``: scene A for ``shot`` s, then scene B for ``shot`` s.
    - ``fade``: A, a fade to black over ``length / 2`` s, then up from black into B.
    - ``dissolve``: A, a cross-dissolve A -> B over ``length`` s, then B.
    - ``flash`` / ``flash2``: A with one / two white frames in the middle (not a cut).
    - ``dip``: A with two black frames in the middle (not a cut either).
    - ``pan``: a camera pan across a textured image (4 px a frame unless ``pan`` says; not a cut).

    Scenes show a small moving square; with ``pan`` > 0 the camera pans across each scene at
    ``pan`` pixels a frame instead (a harder case for the gradual transitions).
    """
    n_shot = int(round(shot * fps))
    n_tr = int(round(length * fps))
    total = {"cut": 2 * n_shot, "fade": 2 * n_shot + n_tr, "dissolve": 2 * n_shot + n_tr}.get(
        kind, 2 * n_shot
    )
    if kind == "pan" and pan <= 0:
        pan = 4.0
    scenes = (2 * seed + 1, 2 * seed + 2)
    if pan > 0:
        wide = [texture(sd, width + int(np.ceil(pan * total)) + 1, height) for sd in scenes]
    else:
        still = [texture(sd, width, height) for sd in scenes]

    def scene(which: int, i: int) -> np.ndarray:
        if pan > 0:
            x = int(round(pan * i))
            return np.ascontiguousarray(wide[which][:, x : x + width])
        return with_square(still[which], i, total)

    frames: list[np.ndarray] = []
    if kind == "cut":
        frames = [scene(0 if i < n_shot else 1, i) for i in range(total)]
        return frames, [n_shot / fps]
    if kind in {"fade", "dissolve"}:
        for i in range(total):
            if i < n_shot:
                frames.append(scene(0, i))
                continue
            if i >= n_shot + n_tr:
                frames.append(scene(1, i))
                continue
            t = (i - n_shot + 0.5) / n_tr  # 0 -> 1 across the transition
            fa, fb = scene(0, i).astype(float), scene(1, i).astype(float)
            if kind == "dissolve":
                mix = (1 - t) * fa + t * fb
            else:
                mix = fa * max(0.0, 1 - 2 * t) + fb * max(0.0, 2 * t - 1)
            frames.append(np.clip(np.round(mix), 0, 255).astype(np.uint8))
        return frames, [(n_shot + n_tr / 2) / fps]
    if kind in {"flash", "flash2", "dip"}:
        odd = {n_shot} if kind == "flash" else {n_shot, n_shot + 1}
        for i in range(total):
            f = scene(0, i)
            frames.append(np.full_like(f, 0 if kind == "dip" else 255) if i in odd else f)
        return frames, []
    if kind == "pan":
        return [scene(0, i) for i in range(total)], []
    raise ValueError(f"unknown transition {kind!r}; one of {', '.join(TRANSITIONS)}")


def make_transition_video(path: str | Path, kind: str, **kwargs: float) -> tuple[Path, list[float]]:
    """:func:`transition_frames` encoded as an H.264 MP4: (path, true boundaries)."""
    fps = int(kwargs.get("fps", 25))
    frames, truth = transition_frames(kind, **kwargs)  # type: ignore[arg-type]
    return write_video_frames(path, frames, fps=fps), truth


# --- added for the layered soundtrack tests ----------------------------------------------------


def draw_place(kind: str, size: int = 112) -> np.ndarray:
    """A drawn 'place' bigger than a frame, so that several shots can frame it differently:
    'street' (warm gradient, white kerb stripes), 'sea' (blue waves, a sun), 'forest' (dark
    trunks on green) or 'room' (grey walls, a bright window)."""
    h = w = size
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3), dtype=np.uint8)
    if kind == "street":
        img[..., 0] = (120 + 100 * xx / w).astype(np.uint8)
        img[..., 1] = (60 + 60 * yy / h).astype(np.uint8)
        img[..., 2] = 40
        img[((xx // 10) % 3 == 0) & (yy > h // 2)] = (230, 230, 230)
    elif kind == "sea":
        img[..., 2] = (150 + 100 * yy / h).astype(np.uint8)
        img[..., 1] = (120 + 60 * np.sin(xx / 6)).astype(np.uint8)
        img[..., 0] = 20
        img[(xx - w * 0.7) ** 2 + (yy - h * 0.3) ** 2 < (h / 8) ** 2] = (250, 240, 120)
    elif kind == "forest":
        img[..., 1] = (90 + 80 * yy / h).astype(np.uint8)
        img[..., 0] = 30
        img[(xx % 23) < 6] = (70, 45, 20)
    elif kind == "room":
        img[...] = (150 + 40 * np.cos(xx / 20))[..., None].astype(np.uint8)
        img[h // 5 : h // 2, w // 3 : 2 * w // 3] = (255, 250, 230)
    else:
        raise ValueError(f"unknown place {kind!r}")
    return img


def make_layered_video(
    path: str | Path,
    *,
    fps: int = 25,
    size: int = 64,
    shots: Sequence[tuple[str, int, int, int]] = (
        ("street", 0, 0, 30),
        ("street", 40, 30, 30),
        ("sea", 0, 10, 50),
        ("sea", 44, 40, 30),
    ),
    events: Sequence[tuple[int, int]] = ((2, 10), (2, 22), (2, 37)),
) -> tuple[Path, list[float], list[float]]:
    """Shots framing drawn places ``(place, x, y, frames)``, with visible events: at each
    ``(shot, frame into the shot)`` a white square appears (and stays), a sudden change that
    starts motion there. Defaults: 4 shots, 2 places (scenes), 3 events in shot 2.

    Returns ``(path, cut times, event times)`` in seconds (exact frame times).
    """
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    places: dict[str, np.ndarray] = {}
    frames: list[np.ndarray] = []
    cuts: list[float] = []
    times: list[float] = []
    for s_index, (place, x, y, n) in enumerate(shots):
        if frames:
            cuts.append(len(frames) / fps)
        canvas = places.setdefault(place, draw_place(place))
        img = canvas[y : y + size, x : x + size].copy()
        mine = sorted(f for s, f in events if s == s_index)
        for i in range(n):
            for j, f in enumerate(mine):
                if i == f:
                    times.append((len(frames)) / fps)
                if i >= f:
                    x0 = 6 + 20 * j
                    img[8 + 16 * j : 24 + 16 * j, x0 : x0 + 16] = 255
            frames.append(img.copy())
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.options = {"preset": "ultrafast", "crf": "12"}
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for img in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path, cuts, times


# --- visible events with known times, among transitions (benchmarks/events.py, spot tests) -----

EVENT_KINDS = ("bounce", "appear", "burst", "strike")


def _disk(img: np.ndarray, cx: float, cy: float, r: float, colour: Sequence[int]) -> None:
    h, w = img.shape[:2]
    y0, y1 = max(0, int(cy - r - 1)), min(h, int(cy + r + 2))
    x0, x1 = max(0, int(cx - r - 1)), min(w, int(cx + r + 2))
    if y0 >= y1 or x0 >= x1:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1]
    inside = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    img[y0:y1, x0:x1][inside] = colour


def event_shot(
    kind: str,
    n: int,
    *,
    rng: np.random.Generator,
    width: int = 160,
    height: int = 90,
    pan: float = 0.0,
    pan_start: int = 0,
    margin: int = 12,
) -> tuple[list[np.ndarray], list[int], list[int]]:
    """``n`` frames of one shot showing ``kind`` events on a textured background (panning by
    ``pan`` px a frame from frame ``pan_start``): ``(frames, event frames, don't-care frames)``.

    - ``bounce``: a ball falls in from the top and bounces off the floor (events: the bounces).
    - ``appear``: objects appear (and stay) at chosen frames.
    - ``burst``: sparks fly out of a point at chosen frames (fireworks).
    - ``strike``: a hammer comes down faster and faster and stops on an anvil (events: the hits),
      then lifts slowly.

    Events within ``margin`` frames of either end are don't-care (neither hits nor misses).
    """
    seed = int(rng.integers(1 << 30))
    wide = texture(seed, width + int(np.ceil(pan * n)) + 2, height)
    frames: list[np.ndarray] = []
    offsets = np.cumsum([0.0] + [pan if i >= pan_start else 0.0 for i in range(1, n)])
    events: list[int] = []
    # Event frames for the scheduled kinds, spaced and inside the margins.
    slots = list(range(margin, n - margin))
    picks: list[int] = []
    for _ in range(int(rng.integers(1, 3))):
        free = [f for f in slots if all(abs(f - p) >= 12 for p in picks)]
        if free:
            picks.append(int(rng.choice(free)))
    picks.sort()
    colour = [int(c) for c in rng.integers(180, 256, 3)]
    ball_x, ball_y, vx, vy = float(rng.uniform(20, 60)), -8.0, float(rng.uniform(1.5, 3)), 0.0
    floor, g = height - 10.0, float(rng.uniform(0.5, 0.8))
    hammer_x = float(rng.uniform(30, width - 40))
    anvil = height - 20
    for i in range(n):
        x = int(round(offsets[i]))
        img = np.ascontiguousarray(wide[:, x : x + width]).copy()
        if kind == "bounce":
            vy += g
            ball_y += vy
            ball_x += vx
            if ball_y > floor:
                ball_y = floor - (ball_y - floor)
                vy = -abs(vy) * 0.92
                events.append(i)
            if ball_x > width - 10 or ball_x < 10:
                vx = -vx
            _disk(img, ball_x, ball_y, 6, colour)
        elif kind == "appear":
            for j, f in enumerate(picks):
                if i >= f:
                    x0 = 20 + 40 * j
                    img[25:50, x0 : x0 + 22] = colour
        elif kind == "burst":
            for j, f in enumerate(picks):
                if f <= i < f + 14:
                    age = i - f
                    sub = np.random.default_rng(seed + j)
                    cx, cy = float(sub.uniform(40, width - 40)), float(sub.uniform(25, 50))
                    angles = sub.uniform(0, 2 * np.pi, 14)
                    speeds = sub.uniform(1.5, 3.5, 14)
                    fade = 1.0 - age / 14
                    for a, s in zip(angles, speeds, strict=True):
                        px, py = cx + np.cos(a) * s * (age + 1), cy + np.sin(a) * s * (age + 1)
                        _disk(img, px, py, 2.5, [int(255 * fade + img[0, 0, 0] * (1 - fade))] * 3)
        elif kind == "strike":
            # Each hit: 10 frames of accelerating fall ending on the anvil at the hit frame, 6 on
            # it, then a slow lift back up.
            top = 8.0
            y = top
            for f in picks:
                if f - 10 <= i <= f:
                    y = top + (anvil - 22 - top) * ((i - (f - 10)) / 10) ** 2
                    break
                if f < i <= f + 6:
                    y = anvil - 22
                    break
                if f + 6 < i <= f + 26:
                    y = (
                        anvil
                        - 22
                        - (anvil - 22 - top) * 0.5 * (1 - np.cos(np.pi * (i - f - 6) / 20))
                    )
                    break
            img[anvil : anvil + 8, int(hammer_x) - 10 : int(hammer_x) + 20] = (60, 60, 60)
            yi = int(round(y))
            img[yi : yi + 22, int(hammer_x) : int(hammer_x) + 10] = colour
        frames.append(img)
    if kind in ("appear", "burst", "strike"):
        events = picks
    good = [f for f in events if margin <= f < n - margin]
    return frames, good, [f for f in events if f not in good]


def event_clip(
    seed: int,
    *,
    fps: int = 25,
    width: int = 160,
    height: int = 90,
    shots: int = 4,
    transition: float = 0.8,
    kinds: Sequence[str] | None = None,
    joins: Sequence[str] | None = None,
    pans: Sequence[float] | None = None,
    flashes: Sequence[bool] | None = None,
) -> tuple[list[np.ndarray], dict[str, list]]:
    """A clip of ``shots`` shots, each with visible events of one kind (:func:`event_shot`), some
    panning (the pan starts mid-shot), joined by cuts, fades through black and dissolves of
    ``transition`` s, with a white flash (one or two frames) in some shots.

    Returns ``(frames, truth)``: truth has ``events`` (seconds), ``dont_care`` (seconds),
    ``transitions`` (``[start, end]`` spans in seconds of everything that is no event: fades,
    dissolves, flashes, cuts and pan starts, each widened by two frames) and ``kinds``.
    ``kinds`` (one per shot), ``joins`` (``cut``/``fade``/``dissolve`` before each shot after the
    first), ``pans`` (px a frame) and ``flashes`` fix what ``seed`` would otherwise draw."""
    drawn_kinds = list(kinds) if kinds is not None else None
    shots = len(drawn_kinds) if drawn_kinds is not None else shots
    rng = np.random.default_rng(seed)
    lt = int(round(transition * fps))
    out: list[np.ndarray] = []
    events: list[float] = []
    dont: list[float] = []
    spans: list[list[float]] = []
    kinds: list[str] = []
    pad = 2 / fps
    for s in range(shots):
        kind = EVENT_KINDS[int(rng.integers(len(EVENT_KINDS)))]
        kind = drawn_kinds[s] if drawn_kinds is not None else kind
        kinds.append(kind)
        n = int(rng.integers(75, 100))
        pan = float(rng.choice([0.0, 0.0, 2.0, 3.5]))
        pan = float(pans[s]) if pans is not None else pan
        pan_start = int(rng.integers(5, n - 5))
        frames, good, bad = event_shot(
            kind,
            n,
            rng=rng,
            width=width,
            height=height,
            pan=pan,
            pan_start=pan_start,
            margin=lt + 4,
        )
        flash = rng.random() < 0.5
        flash = bool(flashes[s]) if flashes is not None else flash
        if flash:
            quiet = [
                i
                for i in range(lt // 2 + 4, n - lt // 2 - 4)
                if all(abs(i - f) > 8 for f in good + bad)
            ]
            if quiet:
                at = int(rng.choice(quiet))
                for i in range(at, min(n, at + int(rng.integers(1, 3)))):
                    frames[i] = np.full_like(frames[i], 255)
                good_flash = at
            else:
                good_flash = None
        else:
            good_flash = None
        how = "start" if s == 0 else ["cut", "fade", "dissolve"][int(rng.integers(3))]
        how = joins[s - 1] if joins is not None and s > 0 else how
        if how == "dissolve":
            base = len(out) - lt
            for i in range(lt):
                t = (i + 0.5) / lt
                a = out[base + i].astype(np.float32)
                out[base + i] = np.clip((1 - t) * a + t * frames[i], 0, 255).astype(np.uint8)
            out.extend(frames[lt:])
            spans.append([base / fps - pad, (base + lt) / fps + pad])
        else:
            base = len(out)
            if how == "fade":
                half = lt // 2
                for i in range(half):
                    k = (half - i - 0.5) / half
                    out[base - half + i] = (out[base - half + i] * k).astype(np.uint8)
                    frames[i] = (frames[i] * ((i + 0.5) / half)).astype(np.uint8)
                spans.append([(base - half) / fps - pad, (base + half) / fps + pad])
            elif how == "cut":
                spans.append([base / fps - pad, base / fps + pad])
            out.extend(frames)
        if pan > 0:
            spans.append([(base + pan_start) / fps - pad, (base + pan_start) / fps + pad])
        if good_flash is not None:
            spans.append([(base + good_flash) / fps - pad, (base + good_flash + 2) / fps + pad])
        events += [(base + f) / fps for f in good]
        dont += [(base + f) / fps for f in bad]
    return out, {
        "events": events,
        "dont_care": dont,
        "transitions": spans,
        "kinds": kinds,
        "duration": len(out) / fps,
    }


def make_sfx_library(root: Path | str) -> Path:
    """A small SFX folder in mixed formats with one corrupt file, one duplicate, one UCS name,
    a silent file and a sidecar CSV. Returns the folder path."""
    from pathlib import Path

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    # the duplicate: the same 16-bit PCM in two containers (pre-quantised so both writers agree)
    rain = np.round(noise(2.0, channels=2, band=(2000, 9000), seed=1) * 32767) / 32768
    write_audio(root / "weather" / "rain_heavy.wav", rain)
    write_audio(root / "weather" / "copies" / "rain_again.flac", rain)
    write_audio(root / "foley" / "footsteps_gravel.flac", clicks(3.0, 2.0))
    write_audio(root / "vehicles" / "engine_idle.ogg", tone(80, 2.5) + tone(160, 2.5, amp=0.2))
    write_audio(root / "ui" / "beep_short.mp3", tone(1000, 0.6, sr=44_100), sr=44_100)
    write_audio(
        root / "DOORWood_Creak Open Slow_JD_TestLib.wav", noise(1.5, band=(200, 1200), seed=3)
    )
    write_audio(root / "glass" / "glass_break.aiff", noise(1.0, seed=4, amp=0.9))
    write_audio(root / "misc" / "room_tone_silent.wav", tone(100, 1.0, amp=0.0))
    write_audio(
        root / "water" / "stream_flowing.wav", noise(2.0, band=(300, 3000), seed=5), sr=44_100
    )
    (root / "misc" / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(range(200)))
    (root / "notes.txt").write_text("not audio")
    (root / "sfxkit.csv").write_text(
        "file,title,licence,category,tags\n"
        'vehicles/engine_idle.ogg,Car engine idling,CC0,VEHICLES,"car,engine,idle"\n'
        'glass/glass_break.aiff,Glass window smash,CC-BY-4.0,GLASS,"glass,break"\n'
    )
    return root


def one_torch_thread() -> Iterator[None]:
    """For package-scoped autouse fixtures: tiny models gain nothing from threads, and idle
    OpenMP workers spinning against other processes on a shared machine made them several times
    slower."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
