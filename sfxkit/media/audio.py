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
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sfxkit._atomic import atomic_file
from sfxkit.errors import InputError, MediaError
from sfxkit.media import probe
from sfxkit.media.kinds import AUDIO_EXTENSIONS

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

BLOCK_FRAMES = 1 << 16
"""Frames per block when a file is streamed (65,536: 1.4 s at 48 kHz)."""

# Formats whose header states the exact frame count; lossy decoders may end a block short.
_EXACT_LENGTH = frozenset({"FLAC", "WAV", "WAVEX", "AIFF", "W64", "CAF", "RF64"})
_SF_COUNT_MAX = 0x7FFFFFFFFFFFFFFF
# Containers with magic bytes: when libsndfile refuses one of these extensions and the magic is
# missing too, FFmpeg is not asked (probing random bytes can "find" a stream and decode noise).
_MAGIC_EXTENSIONS = frozenset(
    {".wav", ".wave", ".bwf", ".rf64", ".w64", ".flac", ".aif", ".aiff", ".aifc", ".caf"}
)


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

    ``offset``/``duration`` (seconds) select a span, and only that span is decoded;
    ``sample_rate`` resamples with soxr; ``mono`` averages the channels block by block, so a
    long multichannel file never needs its full-width copy. Raises :class:`MediaError` (reason
    words in :data:`sfxkit.media.probe.REASONS`) for a missing, empty, truncated, absurd or
    undecodable file, for NaN/infinite samples and for a file (or span) with no samples.
    """
    p = Path(path)
    if offset < 0 or (duration is not None and duration < 0):
        raise InputError(
            f"{p}: offset and duration must be >= 0 seconds (got offset={offset}, duration={duration})"
        )
    with open_audio(p) as reader:
        sr = reader.sample_rate
        start = int(round(offset * sr))
        count = None if duration is None else int(round(duration * sr))
        parts = [_downmix(x) if mono else x for x in reader.blocks(start=start, count=count)]
        width = 1 if mono else reader.channels
    if not parts:
        if offset > 0:
            raise MediaError(
                p, f"no audio samples after offset {offset:.3f} s", "use an offset inside the file"
            )
        raise MediaError(p, f"{probe.EMPTY}: the file decodes to zero audio samples", _FIX_DECODE)
    samples = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
    audio = Audio(np.ascontiguousarray(samples.reshape(width, -1)), sr)
    if sample_rate is not None:
        audio = audio.resampled(int(sample_rate))
    return audio


def _downmix(x: np.ndarray) -> np.ndarray:
    if x.shape[0] == 1:
        return x
    return x.mean(axis=0, keepdims=True, dtype=np.float64).astype(np.float32)


class AudioReader:
    """An open audio file, decoded in bounded blocks by :meth:`blocks` (see :func:`open_audio`).

    ``frames`` is the length the header declares (None when it does not say); the blocks
    check it, so a file that ends early raises instead of giving a shorter sound.
    """

    def __init__(
        self,
        path: Path,
        sample_rate: int,
        channels: int,
        frames: int | None,
        container: probe.Container,
        source: Any,
        backend: str,
    ) -> None:
        self.path = path
        self.sample_rate = sample_rate
        self.channels = channels
        self.frames = frames
        self.container = container
        self.backend = backend
        self._source = source

    def blocks(
        self, *, start: int = 0, count: int | None = None, block: int = BLOCK_FRAMES
    ) -> Iterator[np.ndarray]:
        """float32 ``(channels, <= block)`` arrays from frame ``start``, ``count`` frames (or to
        the end). Raises MediaError for a cut, a decode error, NaN/inf or more than
        :data:`~sfxkit.media.probe.MAX_SECONDS`."""
        limit = int(probe.MAX_SECONDS * self.sample_rate)
        pos = start
        source = (
            self._sf_blocks(start, count, block)
            if self.backend == "soundfile"
            else self._av_blocks(start, count, block)
        )
        for x in source:
            bad = ~np.isfinite(x)
            if bad.any():
                ch, at = np.unravel_index(int(np.argmax(bad)), bad.shape)
                raise MediaError(
                    self.path,
                    f"{probe.NON_FINITE}: NaN or infinite values from "
                    f"{(pos + int(at)) / self.sample_rate:.3f} s (channel {int(ch) + 1})",
                    "the file was written by a broken export; re-export or repair it",
                )
            pos += x.shape[1]
            if pos > limit:
                raise MediaError(
                    self.path,
                    f"{probe.TOO_LONG}: more than {probe.MAX_SECONDS / 3600:.0f} h of audio",
                    "split it into shorter files",
                )
            yield x

    def _sf_blocks(self, start: int, count: int | None, block: int) -> Iterator[np.ndarray]:
        f = self._source
        total = self.frames
        if total is not None and start >= total:
            return
        decoded = 0
        try:
            if start:
                f.seek(start)
            while count is None or decoded < count:
                want = block if count is None else min(block, count - decoded)
                data = f.read(frames=want, dtype="float32", always_2d=True)
                if data.shape[0] == 0:
                    break
                decoded += data.shape[0]
                yield np.ascontiguousarray(data.T)
                if data.shape[0] < want:
                    break
        except MediaError:
            raise
        except Exception as exc:  # noqa: BLE001 - mid-stream decode errors (lost sync, ...)
            raise MediaError(
                self.path,
                f"{probe.CORRUPT}: the decoder failed {_where(start + decoded, self.sample_rate)} "
                f"({_short(exc)})",
                probe.FIX_CORRUPT,
            ) from exc
        if total is None:
            return
        expected = total - start if count is None else min(count, total - start)
        slack = 0 if f.format in _EXACT_LENGTH else 4096
        if decoded + slack < expected:
            raise MediaError(
                self.path,
                f"{probe.TRUNCATED}: decoded {decoded} of {expected} samples the header declares",
                probe.FIX_TRUNCATED,
            )

    def _av_blocks(self, start: int, count: int | None, block: int) -> Iterator[np.ndarray]:
        container, stream = self._source
        end = None if count is None else start + count
        pos = 0
        pending: list[np.ndarray] = []
        held = 0
        try:
            for frame in container.decode(stream):
                x = _frame_to_float(frame, self.channels)
                if x.shape[0] != self.channels or int(frame.sample_rate) != self.sample_rate:
                    raise MediaError(
                        self.path,
                        f"{probe.UNSUPPORTED}: the channel layout or sample rate changes mid-stream",
                        _FIX_DECODE,
                    )
                n = x.shape[1]
                lo, hi = max(start - pos, 0), n if end is None else min(end - pos, n)
                pos += n
                if hi > lo:
                    pending.append(x[:, lo:hi])
                    held += hi - lo
                if held >= block:
                    yield np.ascontiguousarray(np.concatenate(pending, axis=1))
                    pending, held = [], 0
                if end is not None and pos >= end:
                    break
        except MediaError:
            raise
        except Exception as exc:  # noqa: BLE001 - FFmpeg raises many error types for bad input
            raise MediaError(
                self.path,
                f"{probe.CORRUPT}: the decoder failed {_where(pos, self.sample_rate)} ({_short(exc)})",
                probe.FIX_CORRUPT,
            ) from exc
        if pending:
            yield np.ascontiguousarray(np.concatenate(pending, axis=1))


@contextmanager
def open_audio(path: str | Path) -> Iterator[AudioReader]:
    """Open an audio file for streaming: its container and header checked, nothing decoded yet.

    A name that is not valid UTF-8 (held as a surrogate-escaped ``str``) is opened by its bytes.
    """
    p = Path(path)
    _check_file(p)
    with p.open("rb") as fh:
        container = probe.check_container(p, fh)
    import soundfile as sf

    try:
        f = sf.SoundFile(_native_name(p))
    except Exception as exc:  # noqa: BLE001 - libsndfile raises several types for "can't open"
        # "Error opening b'/path': Format not recognised." -> the part after the path
        f, sf_reason = None, str(exc).split("': ", 1)[-1]
    if f is None:
        with _open_pyav(p, container, sf_reason) as reader:
            yield reader
        return
    with f:
        frames = int(f.frames)
        declared = None if frames <= 0 or frames >= _SF_COUNT_MAX else frames
        probe.check_stream(p, int(f.samplerate), int(f.channels), declared)
        yield AudioReader(
            p, int(f.samplerate), int(f.channels), declared, container, f, "soundfile"
        )


def _native_name(p: Path) -> str | bytes:
    """The name libsndfile can open: bytes on POSIX, so non-UTF-8 names survive."""
    return str(p) if os.name == "nt" else os.fsencode(p)


def _check_file(p: Path) -> None:
    if not p.exists():
        raise MediaError(p, "file not found", "check the path (and that the drive is mounted)")
    if p.is_dir():
        raise MediaError(p, "is a directory, not an audio file", "pass a file path")
    if p.stat().st_size == 0:
        raise MediaError(p, f"{probe.EMPTY}: the file is 0 bytes", "copy or export the file again")


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


@contextmanager
def _open_pyav(p: Path, container: probe.Container, sf_reason: str) -> Iterator[AudioReader]:
    import av

    suffix = p.suffix.lower()
    if container.kind is None and suffix in _MAGIC_EXTENSIONS:
        raise MediaError(
            p,
            f"{probe.NOT_AUDIO}: not a decodable audio file (its bytes are neither "
            f"{suffix.lstrip('.').upper()} nor any other format sfxkit reads)",
            _FIX_DECODE,
        )
    demuxer = _FORCED_DEMUXER.get(suffix) if container.kind is not None else None
    try:
        handle = av.open(str(p), format=demuxer) if demuxer else av.open(str(p))
    except Exception as exc:  # noqa: BLE001 - FFmpeg raises many error types for bad input
        if not container.certain:
            raise MediaError(
                p, f"{probe.NOT_AUDIO}: not a decodable audio file ({_short(exc)})", _FIX_DECODE
            ) from exc
        raise MediaError(
            p,
            f"{probe.UNSUPPORTED}: {container.describe} that neither libsndfile nor FFmpeg "
            f"decodes ({_short(sf_reason)}; {_short(exc)})",
            _FIX_DECODE,
        ) from exc
    with handle:
        if not handle.streams.audio:
            what = probe.NOT_AUDIO if not container.certain else "no audio"
            raise MediaError(p, f"{what}: the file has no audio stream", _FIX_DECODE)
        stream = handle.streams.audio[0]
        ctx = stream.codec_context
        if ctx is None or getattr(ctx, "codec", None) is None:
            raise MediaError(
                p,
                f"{probe.UNSUPPORTED if container.certain else probe.NOT_AUDIO}: "
                f"{container.describe}, an encoding FFmpeg cannot decode "
                f"({_short(sf_reason)})",
                _FIX_DECODE,
            )
        sr = int(ctx.sample_rate or stream.sample_rate or 0)
        channels = int(getattr(ctx, "channels", 0) or 0)
        if not sr or not channels:
            raise MediaError(
                p,
                f"{probe.UNSUPPORTED if container.certain else probe.NOT_AUDIO}: the audio stream "
                "has no sample rate or channel layout",
                _FIX_DECODE,
            )
        probe.check_stream(p, sr, channels, None)
        yield AudioReader(p, sr, channels, None, container, (handle, stream), "pyav")


def _where(frame: int, sample_rate: int) -> str:
    return "near the start" if frame == 0 else f"after {frame / sample_rate:.2f} s"


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
        with sf.SoundFile(_native_name(p)) as f:
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
    The PCM is hashed channel after channel; :class:`PcmHasher` computes the same digest from
    streamed blocks.
    """
    x = np.asarray(audio.samples, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    hasher = PcmHasher(audio.sample_rate, x.shape[0], buffer_bytes=None)
    hasher.update(x)
    return hasher.hexdigest(lambda: iter(()))


HASH_BUFFER_BYTES = 64 << 20
"""int16 PCM of the second and later channels kept in memory while hashing a stream; beyond it
those channels are hashed by decoding the file again, once per channel."""


class PcmHasher:
    """:func:`pcm_hash` over ``(channels, n)`` blocks as they are decoded.

    The digest covers channel 0 entirely, then channel 1, ...: channel 0 is hashed as it comes,
    the others are kept as int16 up to ``buffer_bytes`` (None: no limit). Past the limit they are
    dropped and :meth:`hexdigest` asks ``reread`` for the blocks again, once per extra channel,
    so memory stays bounded whatever the file's length.
    """

    def __init__(
        self, sample_rate: int, channels: int, *, buffer_bytes: int | None = HASH_BUFFER_BYTES
    ) -> None:
        self.channels = int(channels)
        self._h = hashlib.sha256(f"sfxkit-pcm16:{int(sample_rate)}:{self.channels}:".encode())
        self._kept: list[list[bytes]] = [[] for _ in range(self.channels)]
        self._kept_bytes = 0
        self._limit = buffer_bytes
        self.overflowed = False

    @staticmethod
    def _pcm16(row: np.ndarray) -> bytes:
        # x * 32768 is exact in float32 (a power of two), so float32 rounding is exact too.
        q = np.rint(row * np.float32(32768.0))
        return np.clip(q, -32768, 32767).astype("<i2").tobytes()

    def update(self, block: np.ndarray) -> None:
        block = np.asarray(block, dtype=np.float32)
        for start in range(0, block.shape[1], 1 << 20):
            part = block[:, start : start + (1 << 20)]
            self._h.update(self._pcm16(part[0]))
            if self.overflowed:
                continue
            for c in range(1, self.channels):
                data = self._pcm16(part[c])
                self._kept[c].append(data)
                self._kept_bytes += len(data)
            if self._limit is not None and self._kept_bytes > self._limit:
                self.overflowed = True
                self._kept = [[] for _ in range(self.channels)]
                self._kept_bytes = 0

    def hexdigest(self, reread: Callable[[], Iterator[np.ndarray]]) -> str:
        for c in range(1, self.channels):
            if self.overflowed:
                for block in reread():
                    self._h.update(self._pcm16(np.asarray(block[c], dtype=np.float32)))
            else:
                for data in self._kept[c]:
                    self._h.update(data)
                self._kept[c] = []
        return self._h.hexdigest()
