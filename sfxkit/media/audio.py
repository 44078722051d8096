"""Audio decoding, resampling, atomic WAV writing, embedded tags and a PCM content hash.

Decoding goes through soundfile (libsndfile) first, because it is exact and fast for the PCM
formats SFX libraries are made of (WAV/BWF, AIFF, FLAC, OGG, CAF, W64; MP3 with libsndfile >= 1.1),
and falls back to PyAV (FFmpeg) for what libsndfile cannot open (M4A/AAC, Opus in MP4/WebM, WMA,
odd codecs inside WAV). Resampling uses soxr at "HQ" quality.

Arrays are float32 ``(channels, samples)`` as everywhere in sfxkit. Every failure to read a file
is a :class:`sfxkit.errors.MediaError` that names the file, the reason and the fix.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sfxkit._atomic import atomic_file
from sfxkit.errors import InputError, MediaError

AUDIO_EXTENSIONS: frozenset[str] = frozenset(
    {
        ".wav",
        ".wave",
        ".bwf",
        ".rf64",
        ".w64",
        ".flac",
        ".ogg",
        ".oga",
        ".opus",
        ".mp3",
        ".mp2",
        ".aif",
        ".aiff",
        ".aifc",
        ".caf",
        ".m4a",
        ".aac",
        ".wma",
        ".wv",
        ".ape",
        ".au",
        ".snd",
    }
)
"""File extensions (lower case, with the dot) that sfxkit treats as audio."""

RESAMPLE_QUALITY = "HQ"

# FFmpeg demuxers to force for containers whose extension is unambiguous. Letting FFmpeg probe
# a corrupt ".wav" can "succeed" as some other format and decode noise; forcing the demuxer
# makes a broken header fail loudly instead.
_FORCED_DEMUXER = {
    ".wav": "wav",
    ".wave": "wav",
    ".bwf": "wav",
    ".w64": "w64",
    ".rf64": "wav",
    ".aif": "aiff",
    ".aiff": "aiff",
    ".aifc": "aiff",
    ".flac": "flac",
    ".caf": "caf",
}

_TAG_ALIASES = {
    "comments": "comment",
    "author": "artist",
    "icmt": "comment",
    "inam": "title",
    "iart": "artist",
    "ignr": "genre",
    "ikey": "keywords",
    "isbj": "description",
    "subject": "description",
    "licence": "license",
}

_TAG_PROBE = {"probesize": "32768", "analyzeduration": "0"}

_FIX_DECODE = (
    "re-export it as WAV or FLAC, or remove it from the folder; supported extensions: "
    + ", ".join(sorted(e.lstrip(".") for e in AUDIO_EXTENSIONS))
)
_FIX_TRUNCATED = "the file ends before its header says it should; copy or export it again"


@dataclass(frozen=True)
class Audio:
    """Decoded audio: float32 ``samples`` shaped ``(channels, n)`` at ``sample_rate`` Hz."""

    samples: np.ndarray
    sample_rate: int

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def n_samples(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.n_samples / float(self.sample_rate)

    def to_mono(self) -> Audio:
        """Average of the channels (a one-channel Audio is returned as is)."""
        if self.channels == 1:
            return self
        mono = self.samples.mean(axis=0, keepdims=True, dtype=np.float64).astype(np.float32)
        return Audio(mono, self.sample_rate)

    def resampled(self, sample_rate: int) -> Audio:
        """The same sound at ``sample_rate`` (soxr HQ); no copy when the rate already matches."""
        if int(sample_rate) == self.sample_rate:
            return self
        return Audio(resample(self.samples, self.sample_rate, int(sample_rate)), int(sample_rate))


def resample(samples: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample channels-first audio with soxr; returns float32 ``(channels, n_out)``.

    A 1-D input is treated as one channel and comes back 2-D.
    """
    import soxr

    if sr_in <= 0 or sr_out <= 0:
        raise InputError(f"sample rates must be positive, got {sr_in} -> {sr_out}")
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise InputError(f"expected (channels, samples) audio, got an array of shape {x.shape}")
    if sr_in == sr_out:
        return np.ascontiguousarray(x)
    if x.shape[1] == 0:
        return np.zeros((x.shape[0], 0), dtype=np.float32)
    # soxr wants (frames, channels).
    y = soxr.resample(np.ascontiguousarray(x.T), sr_in, sr_out, quality=RESAMPLE_QUALITY)
    y = np.asarray(y, dtype=np.float32)
    if y.ndim == 1:
        y = y[:, None]
    return np.ascontiguousarray(y.T)


def load_audio(
    path: str | Path,
    *,
    sample_rate: int | None = None,
    mono: bool = False,
    offset: float = 0.0,
    duration: float | None = None,
) -> Audio:
    """Decode an audio file (or the audio track of a video) to float32 ``(channels, n)``.

    ``offset``/``duration`` (seconds) select a span; ``sample_rate`` resamples with soxr;
    ``mono`` averages the channels. Raises :class:`MediaError` for a missing, empty, truncated or
    undecodable file and for a file (or span) with no samples.
    """
    p = Path(path)
    if offset < 0 or (duration is not None and duration < 0):
        raise InputError(
            f"{p}: offset and duration must be >= 0 seconds (got offset={offset}, duration={duration})"
        )
    _check_file(p)
    try:
        audio = _load_soundfile(p, offset, duration)
    except _NotForSoundfile as exc:
        audio = _load_pyav(p, offset, duration, sf_reason=str(exc))
    if audio.n_samples == 0:
        if offset > 0:
            raise MediaError(
                p, f"no audio samples after offset {offset:.3f} s", "use an offset inside the file"
            )
        raise MediaError(p, "the file decodes to zero audio samples", _FIX_DECODE)
    if mono:
        audio = audio.to_mono()
    if sample_rate is not None:
        audio = audio.resampled(int(sample_rate))
    return audio


class _NotForSoundfile(Exception):
    """libsndfile could not open the file: let PyAV try."""


def _check_file(p: Path) -> None:
    if not p.exists():
        raise MediaError(p, "file not found", "check the path (and that the drive is mounted)")
    if p.is_dir():
        raise MediaError(p, "is a directory, not an audio file", "pass a file path")
    if p.stat().st_size == 0:
        raise MediaError(p, "the file is empty (0 bytes)", "copy or export the file again")


def _load_soundfile(p: Path, offset: float, duration: float | None) -> Audio:
    import soundfile as sf

    try:
        f = sf.SoundFile(str(p))
    except Exception as exc:  # noqa: BLE001 - libsndfile raises several types for "can't open"
        raise _NotForSoundfile(str(exc)) from exc
    with f:
        sr = int(f.samplerate)
        total = int(f.frames)
        start = int(round(offset * sr))
        if total > 0 and start >= total:
            return Audio(np.zeros((f.channels, 0), dtype=np.float32), sr)
        want = -1 if duration is None else int(round(duration * sr))
        try:
            if start:
                f.seek(start)
            data = f.read(frames=want, dtype="float32", always_2d=True)
        except Exception as exc:  # noqa: BLE001 - mid-stream decode errors (lost sync, ...)
            raise MediaError(
                p,
                f"decoding failed partway, the file is truncated or corrupt ({exc})",
                _FIX_TRUNCATED,
            ) from exc
        expected = total - start if want < 0 else min(want, total - start)
        # FLAC/OGG/MP3 declare their length up front; a short read means the stream is cut.
        # Lossy decoders may be a block short of the estimate, so allow a little slack for them.
        slack = 0 if f.format in {"FLAC", "WAV", "WAVEX", "AIFF", "W64", "CAF", "RF64"} else 4096
        if total > 0 and data.shape[0] + slack < expected:
            raise MediaError(
                p,
                f"truncated: decoded {data.shape[0]} of {expected} samples the header declares",
                _FIX_TRUNCATED,
            )
    if p.suffix.lower() in {".wav", ".wave", ".bwf"}:
        _check_riff_complete(p)
    return Audio(np.ascontiguousarray(data.T), sr)


def _check_riff_complete(p: Path) -> None:
    """libsndfile silently shortens a WAV whose data chunk runs past the end of the file."""
    size = p.stat().st_size
    with p.open("rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return  # RF64 / RIFX / odd variants: trust libsndfile
        pos = 12
        while pos + 8 <= size:
            fh.seek(pos)
            chunk = fh.read(8)
            if len(chunk) < 8:
                return
            cid, csize = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if cid == b"data":
                # 0 and 0xFFFFFFFF are "unknown length" placeholders left by streaming recorders.
                if csize in (0, 0xFFFFFFFF):
                    return
                available = size - (pos + 8)
                if csize > available:
                    raise MediaError(
                        p,
                        f"truncated: the data chunk declares {csize} bytes but only {available} are present",
                        _FIX_TRUNCATED,
                    )
                return
            pos += 8 + csize + (csize & 1)


def _frame_to_float(frame: Any, channels: int) -> np.ndarray:
    """One PyAV AudioFrame to float32 (channels, n) whatever its sample format."""
    arr = frame.to_ndarray()
    fmt = frame.format.name
    if not frame.format.is_planar:
        arr = arr.reshape(-1, channels).T
    base = fmt.rstrip("p")
    if base in {"flt", "dbl"}:
        return arr.astype(np.float32, copy=False)
    if base == "s16":
        return arr.astype(np.float32) / 32768.0
    if base == "s32":
        return (arr.astype(np.float64) / 2147483648.0).astype(np.float32)
    if base == "s64":
        return (arr.astype(np.float64) / 9223372036854775808.0).astype(np.float32)
    if base == "u8":
        return (arr.astype(np.float32) - 128.0) / 128.0
    raise ValueError(f"unsupported sample format {fmt}")


def _load_pyav(p: Path, offset: float, duration: float | None, *, sf_reason: str) -> Audio:
    import av

    demuxer = _FORCED_DEMUXER.get(p.suffix.lower())
    try:
        container = av.open(str(p), format=demuxer) if demuxer else av.open(str(p))
    except Exception as exc:  # noqa: BLE001 - FFmpeg raises many error types for bad input
        raise MediaError(
            p, f"not a decodable audio file ({_short(sf_reason)}; {_short(exc)})", _FIX_DECODE
        ) from exc
    with container:
        if not container.streams.audio:
            raise MediaError(p, "the file has no audio stream", _FIX_DECODE)
        stream = container.streams.audio[0]
        sr = int(stream.codec_context.sample_rate or stream.sample_rate or 0)
        channels = int(stream.codec_context.channels or 0)
        start = 0
        end: int | None = None
        chunks: list[np.ndarray] = []
        pos = 0
        try:
            for frame in container.decode(stream):
                if not sr:
                    sr = int(frame.sample_rate)
                if not channels:
                    channels = len(frame.layout.channels)
                start = int(round(offset * sr))
                end = None if duration is None else start + int(round(duration * sr))
                x = _frame_to_float(frame, channels)
                n = x.shape[1]
                lo, hi = max(start - pos, 0), n if end is None else min(end - pos, n)
                if hi > lo:
                    chunks.append(x[:, lo:hi])
                pos += n
                if end is not None and pos >= end:
                    break
        except Exception as exc:  # noqa: BLE001
            raise MediaError(
                p,
                f"decoding failed, the file is truncated or corrupt ({_short(exc)})",
                _FIX_TRUNCATED,
            ) from exc
    if not sr or not channels:
        raise MediaError(p, "the audio stream has no sample rate or channel layout", _FIX_DECODE)
    if not chunks:
        return Audio(np.zeros((channels, 0), dtype=np.float32), sr)
    return Audio(np.ascontiguousarray(np.concatenate(chunks, axis=1), dtype=np.float32), sr)


def _short(exc: object, limit: int = 160) -> str:
    text = str(exc).strip().replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def write_wav(
    path: str | Path, samples: np.ndarray, sample_rate: int, *, subtype: str = "PCM_24"
) -> Path:
    """Write ``(channels, n)`` (or 1-D mono) audio as WAV, atomically.

    The data goes to a temporary name in the same directory, is fsynced, then ``os.replace``d
    over ``path``, so a crash leaves either the old file or the new one, never half of one.
    """
    import soundfile as sf

    p = Path(path)
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[0] == 0:
        raise InputError(
            f"{p}: expected (channels, samples) audio, got an array of shape {x.shape}"
        )
    if not np.all(np.isfinite(x)):
        raise InputError(
            f"{p}: audio contains NaN or infinite samples; fix the signal before writing"
        )
    if subtype.upper().startswith("PCM"):
        # libsndfile wraps around on float→int overflow; clip instead
        x = np.clip(x, -1.0, 1.0)
    with atomic_file(p) as fh:
        sf.write(fh, x.T, int(sample_rate), format="WAV", subtype=subtype)
    return p


def read_tags(path: str | Path) -> dict[str, str]:
    """Embedded metadata as a dict with lower-case keys (title, comment, artist, genre, ...).

    libsndfile's string chunks come first (WAV INFO, FLAC/OGG comments, AIFF), then FFmpeg's
    container and stream metadata fills in the rest (ID3 on MP3, MP4 atoms, BWF ``bext``
    description). A readable file without tags gives ``{}``; a missing file is a MediaError.
    """
    p = Path(path)
    _check_file(p)
    tags: dict[str, str] = {}

    def add(key: str, value: object) -> None:
        k = str(key).strip().lower()
        k = _TAG_ALIASES.get(k, k)
        v = str(value).strip().strip("\x00").strip()
        if k and v and k not in tags:
            tags[k] = v

    import soundfile as sf

    try:
        with sf.SoundFile(str(p)) as f:
            for k, v in f.copy_metadata().items():
                add(k, v)
    except Exception:  # noqa: BLE001 - not for libsndfile; FFmpeg may still know it
        pass
    import av

    try:
        # Tags live in headers/chunks the demuxer reads on open; a small probe stops FFmpeg from
        # decoding megabytes of PCM to "find stream info" (80 ms -> 3 ms per WAV).
        with av.open(str(p), options=_TAG_PROBE) as container:
            for k, v in container.metadata.items():
                add(k, v)
            for stream in container.streams.audio[:1]:
                for k, v in stream.metadata.items():
                    add(k, v)
    except Exception:  # noqa: BLE001
        pass
    return tags


def pcm_hash(audio: Audio) -> str:
    """sha256 hex of the sound's content: sample rate, channel count and int16 PCM (little-endian).

    Quantising to 16 bits (round(x * 32768), clipped) makes the hash survive renaming and lossless
    re-wrapping (WAV <-> FLAC <-> AIFF at 16 bits), which is what catalog de-duplication needs.
    """
    x = np.asarray(audio.samples, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    h = hashlib.sha256()
    h.update(f"sfxkit-pcm16:{int(audio.sample_rate)}:{x.shape[0]}:".encode())
    # Channel by channel, in blocks, so a long file never needs a second full-size copy.
    # x * 32768 is exact in float32 (a power of two), so float32 rounding is exact too.
    block = 1 << 20
    for row in x:
        for start in range(0, row.shape[0], block):
            chunk = np.rint(row[start : start + block] * np.float32(32768.0))
            h.update(np.clip(chunk, -32768, 32767).astype("<i2").tobytes())
    return h.hexdigest()
