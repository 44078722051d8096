"""Broadcast WAV (EBU Tech 3285): PCM WAV with a ``bext`` chunk that places the file in time.

:func:`write_bwf` writes 24-bit (or 16-bit) PCM with a version-1 ``bext`` chunk: Description,
Originator, OriginatorReference, origination date and time, **TimeReference** (the file's first
sample, counted in samples since midnight: a DAW uses it to "spot" the file to its timeline
position) and CodingHistory. Up to two channels use ``WAVE_FORMAT_PCM`` as Tech 3285 asks; more
use ``WAVE_FORMAT_EXTENSIBLE`` with the speaker mask, 5.1 in SMPTE order L R C LFE Ls Rs.
Files are written atomically, streamed in one-second blocks.

:func:`read_bwf` parses the chunks back (bounded by the file's size, never by what a header
claims); the audio itself is read with soundfile.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import numpy as np

from sfxkit.errors import InputError, MediaError

BEXT_VERSION = 1
_BEXT_FIXED = 602  # bytes before CodingHistory
_MAX_RIFF = 0xFFFFFFFF
_PCM, _EXTENSIBLE = 0x0001, 0xFFFE
# KSDATAFORMAT_SUBTYPE_PCM
_PCM_GUID = struct.pack("<IHH", 1, 0x0000, 0x0010) + bytes.fromhex("800000aa00389b71")
# Speaker masks (WAVEFORMATEXTENSIBLE): FL FR FC LFE BL BR for 5.1, as SMPTE orders it.
CHANNEL_MASKS: Mapping[int, int] = {1: 0x4, 2: 0x3, 6: 0x3F}


@dataclass(frozen=True)
class BwfInfo:
    """What :func:`read_bwf` finds in a file's ``fmt `` and ``bext`` chunks."""

    sample_rate: int
    channels: int
    bits: int
    frames: int
    channel_mask: int | None
    description: str
    originator: str
    originator_reference: str
    origination_date: str
    origination_time: str
    time_reference: int
    version: int
    coding_history: str

    @property
    def seconds_since_midnight(self) -> float:
        return self.time_reference / self.sample_rate


def _field(text: str, size: int) -> bytes:
    # bext text is ASCII; other characters become '?', and the field is NUL-padded.
    return text.encode("ascii", "replace")[:size].ljust(size, b"\0")


def bext_chunk(
    *,
    description: str,
    originator: str,
    originator_reference: str,
    origination: datetime,
    time_reference: int,
    coding_history: str,
) -> bytes:
    """The body of a version-1 ``bext`` chunk (EBU Tech 3285 v2 layout, loudness fields zero)."""
    if not 0 <= time_reference < 1 << 64:
        raise InputError(f"BWF TimeReference must be a sample count >= 0, got {time_reference}")
    history = coding_history.encode("ascii", "replace")
    body = b"".join(
        [
            _field(description, 256),
            _field(originator, 32),
            _field(originator_reference, 32),
            _field(origination.strftime("%Y-%m-%d"), 10),
            _field(origination.strftime("%H:%M:%S"), 8),
            struct.pack("<II", time_reference & 0xFFFFFFFF, time_reference >> 32),
            struct.pack("<H", BEXT_VERSION),
            bytes(64),  # UMID: none
            bytes(10),  # loudness fields (version 2): not claimed by a version-1 chunk
            bytes(180),  # reserved
            history,
        ]
    )
    assert len(body) == _BEXT_FIXED + len(history)
    return body


def _chunk(fourcc: bytes, body: bytes) -> bytes:
    return fourcc + struct.pack("<I", len(body)) + body + (b"\0" if len(body) % 2 else b"")


def _fmt_chunk(channels: int, sample_rate: int, bits: int) -> bytes:
    block = channels * bits // 8
    common = struct.pack("<HIIHH", channels, sample_rate, sample_rate * block, block, bits)
    if channels <= 2:
        return _chunk(b"fmt ", struct.pack("<H", _PCM) + common)
    mask = CHANNEL_MASKS.get(channels, 0)
    ext = struct.pack("<HHI", 22, bits, mask) + _PCM_GUID
    return _chunk(b"fmt ", struct.pack("<H", _EXTENSIBLE) + common + ext)


def _pcm_bytes(block: np.ndarray, bits: int) -> bytes:
    """Interleaved little-endian PCM of a float ``(channels, n)`` block, clipped to full scale."""
    scale = float(1 << (bits - 1))
    ints = np.clip(np.rint(block.T.astype(np.float64) * scale), -scale, scale - 1).astype("<i4")
    if bits == 16:
        return ints.astype("<i2").tobytes()
    # 24-bit: the low three bytes of each little-endian int32.
    return ints.reshape(-1, 1).view(np.uint8)[:, :3].tobytes()


def write_bwf(
    path: str | Path,
    audio: np.ndarray,
    sample_rate: int,
    *,
    time_reference: int = 0,
    description: str = "",
    originator: str = "sfxkit",
    originator_reference: str | None = None,
    origination: datetime | None = None,
    coding_history: str | None = None,
    bits: int = 24,
) -> Path:
    """Write ``(channels, samples)`` float audio as a Broadcast WAV at ``path``, atomically.

    ``time_reference`` is the sample (at ``sample_rate``, counted from midnight) where the file's
    first sample belongs: timeline position plus the start timecode. ``originator_reference``
    defaults to a fresh unique id; ``origination`` to now (local time, as Tech 3285 asks);
    ``coding_history`` to one line describing this PCM (``A=PCM,F=48000,W=24,M=stereo,T=sfxkit``).
    """
    from sfxkit._atomic import atomic_file

    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[0] < 1:
        raise InputError(f"BWF audio must be (channels, samples), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise InputError("BWF audio contains NaN or inf samples; check the mix that produced it")
    if bits not in (16, 24):
        raise InputError(f"BWF bit depth must be 16 or 24, got {bits}")
    sample_rate = int(sample_rate)
    channels, n = x.shape
    block = channels * bits // 8
    mode = {1: "mono", 2: "stereo"}.get(channels, "multichannel")
    if coding_history is None:
        from sfxkit._version import __version__

        coding_history = f"A=PCM,F={sample_rate},W={bits},M={mode},T=sfxkit {__version__}"
    if coding_history and not coding_history.endswith("\r\n"):
        coding_history += "\r\n"
    bext = bext_chunk(
        description=description,
        originator=originator,
        originator_reference=originator_reference or uuid.uuid4().hex,
        origination=origination or datetime.now(),
        time_reference=int(time_reference),
        coding_history=coding_history,
    )
    head = _chunk(b"bext", bext) + _fmt_chunk(channels, sample_rate, bits)
    data_size = n * block
    riff_size = 4 + len(head) + 8 + data_size + (data_size % 2)
    if riff_size > _MAX_RIFF:
        raise InputError(
            f"{path}: {n / sample_rate / 3600:.1f} h of {channels}-channel {bits}-bit audio does "
            "not fit a 4 GiB WAV; export a shorter range or fewer channels"
        )
    with atomic_file(path) as fh:
        fh.write(b"RIFF" + struct.pack("<I", riff_size) + b"WAVE" + head)
        fh.write(b"data" + struct.pack("<I", data_size))
        step = max(1, sample_rate)
        for i in range(0, n, step):
            fh.write(_pcm_bytes(x[:, i : i + step], bits))
        if data_size % 2:
            fh.write(b"\0")
    return Path(path)


def time_reference(
    position: float, sample_rate: int, *, start_tc: str | None = None, fps: float | None = None
) -> int:
    """Samples since midnight of a point ``position`` seconds into a timeline that starts at
    ``start_tc`` (a label at ``fps``; none means 00:00:00:00): what ``bext`` TimeReference holds.
    """
    from sfxkit.delivery.timecode import timecode_to_seconds

    start = 0.0
    if start_tc:
        if not fps:
            raise InputError(f"start timecode {start_tc!r} needs the video's frame rate")
        start = timecode_to_seconds(start_tc, fps)
    at = start + float(position)
    if at < 0:
        raise InputError(f"BWF position {at:.3f} s is before midnight; check the start timecode")
    return int(round(at * sample_rate))


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("ascii", "replace")


def _chunks(fh: BinaryIO, size: int) -> dict[bytes, tuple[int, int]]:
    """Offsets and sizes of the top-level chunks, each clamped to the bytes really there."""
    found: dict[bytes, tuple[int, int]] = {}
    pos = 12
    while pos + 8 <= size:
        fh.seek(pos)
        head = fh.read(8)
        fourcc, length = head[:4], struct.unpack("<I", head[4:])[0]
        length = min(length, size - pos - 8)
        found.setdefault(fourcc, (pos + 8, length))
        pos += 8 + length + (length % 2)
    return found


def read_bwf(path: str | Path) -> BwfInfo:
    """Read the format and ``bext`` chunk of a Broadcast WAV (``MediaError`` when it is not one)."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, 2)
            fh.seek(0)
            riff = fh.read(12)
            if riff[:4] != b"RIFF" or riff[8:12] != b"WAVE":
                raise MediaError(path, "not a RIFF/WAVE file", "write it with sfxkit.delivery.bwf")
            chunks = _chunks(fh, size)
            if b"fmt " not in chunks or b"bext" not in chunks or b"data" not in chunks:
                missing = [c.decode() for c in (b"fmt ", b"bext", b"data") if c not in chunks]
                raise MediaError(path, f"no {', '.join(missing)} chunk", "this is no Broadcast WAV")
            off, length = chunks[b"fmt "]
            fh.seek(off)
            fmt = fh.read(length)
            off, length = chunks[b"bext"]
            fh.seek(off)
            bext = fh.read(length)
            data_len = chunks[b"data"][1]
    except OSError as exc:
        raise MediaError(path, f"cannot read ({exc.strerror or exc})") from exc
    if len(fmt) < 16 or len(bext) < _BEXT_FIXED:
        raise MediaError(path, "fmt or bext chunk is truncated", "write the file again")
    tag, channels, sample_rate, _, block, bits = struct.unpack("<HHIIHH", fmt[:16])
    mask = struct.unpack("<I", fmt[20:24])[0] if tag == _EXTENSIBLE and len(fmt) >= 24 else None
    low, high = struct.unpack("<II", bext[338:346])
    return BwfInfo(
        sample_rate=sample_rate,
        channels=channels,
        bits=bits,
        frames=data_len // block if block else 0,
        channel_mask=mask,
        description=_text(bext[0:256]),
        originator=_text(bext[256:288]),
        originator_reference=_text(bext[288:320]),
        origination_date=_text(bext[320:330]),
        origination_time=_text(bext[330:338]),
        time_reference=low | (high << 32),
        version=struct.unpack("<H", bext[346:348])[0],
        coding_history=_text(bext[_BEXT_FIXED:]),
    )


__all__ = [
    "BEXT_VERSION",
    "CHANNEL_MASKS",
    "BwfInfo",
    "bext_chunk",
    "read_bwf",
    "time_reference",
    "write_bwf",
]
