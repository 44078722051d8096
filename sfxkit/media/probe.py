"""What an audio file's bytes are, and whether its header can be believed, before decoding.

Decoders are lenient: libsndfile plays a WAV with a block align of 0 or 7 bits per sample, an Ogg
stream cut mid-page decodes to a shorter sound, and a header claiming 2^31 Hz is taken at its
word. sfxkit checks the container itself first, so a bad file is skipped with a reason a person
understands instead of being indexed wrong or crashing a later stage.

Every reason starts with one of the words in :data:`REASONS`.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sfxkit.errors import MediaError

TRUNCATED = "truncated"
"""The file ends before its header (or the decoder) says it should."""
CORRUPT = "truncated or corrupt"
"""The decoder stopped partway: a cut or a damaged stretch in the middle."""
NOT_AUDIO = "not audio"
"""The bytes are not an audio format sfxkit knows (text, an image, random data, MIDI...)."""
UNSUPPORTED = "unsupported format"
"""An audio container whose encoding neither libsndfile nor FFmpeg decodes."""
ABSURD = "absurd header"
"""Header fields no real recording has (0 channels, 2^31 Hz, 7-bit PCM, block align 0...)."""
NON_FINITE = "non-finite samples"
"""Float samples that are NaN or infinite."""
EMPTY = "empty"
"""A 0-byte file, or a valid header with no samples."""
TOO_LONG = "too long"
"""Decodes (or claims) more than :data:`MAX_SECONDS` of audio."""

REASONS = (TRUNCATED, CORRUPT, NOT_AUDIO, UNSUPPORTED, ABSURD, NON_FINITE, EMPTY, TOO_LONG)

MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 768_000
MAX_CHANNELS = 64
MAX_SECONDS = 24 * 3600.0
"""Longest sound sfxkit reads to the end (ingest, hashing, loudness): a day of audio."""

FIX_TRUNCATED = "the file ends before its header says it should; copy or export it again"
FIX_CORRUPT = "copy or export the file again; it is damaged or cut off"
FIX_HEADER = "re-export it from the original (as WAV or FLAC), or remove it from the folder"

_EXT_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
# Formats whose fields fully determine the frame layout, with the bit depths they allow.
_PCM_BITS = {
    0x0001: ("PCM", {8, 12, 16, 20, 24, 32}),
    0x0003: ("IEEE float", {32, 64}),
    0x0006: ("A-law", {8}),
    0x0007: ("mu-law", {8}),
}
_EXT_CONTAINER_BITS = {8, 16, 24, 32, 64}
_UNKNOWN_LENGTH = (0, 0xFFFFFFFF)


@dataclass(frozen=True)
class Container:
    """What the magic bytes say: ``kind`` ("WAV", "FLAC", ... or None) and a detail for messages
    (e.g. "WAV, format tag 0x1234")."""

    kind: str | None
    detail: str = ""

    @property
    def certain(self) -> bool:
        """False when nothing, or only a frame-sync pattern random bytes can match, was seen."""
        return self.kind is not None and self.kind not in ("MPEG audio", "AC-3")

    @property
    def describe(self) -> str:
        return self.detail or self.kind or "unknown content"


def sniff(head: bytes) -> str | None:
    """The container named by the first bytes of a file, or None when nothing audio-like matches."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "WAV"
    if head[:4] in (b"RF64", b"BW64"):
        return "RF64"
    if head[:4] == b"RIFX":
        return "WAV (big-endian)"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "AVI"
    if head[:8] == b"riff\x2e\x91\xcf\x11":
        return "W64"
    if head[:4] == b"fLaC":
        return "FLAC"
    if head[:4] == b"OggS":
        return "Ogg"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "AIFF"
    if head[:4] == b"caff":
        return "CAF"
    if head[4:8] == b"ftyp":
        return "MP4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "Matroska"
    if head[:16] == b"\x30\x26\xb2\x75\x8e\x66\xcf\x11\xa6\xd9\x00\xaa\x00\x62\xce\x6c":
        return "ASF"
    if head[:4] == b"wvpk":
        return "WavPack"
    if head[:4] == b"MAC ":
        return "APE"
    if head[:4] == b".snd":
        return "AU"
    if head[:3] == b"ID3":
        return "ID3-tagged audio"
    if head[:5] == b"#!AMR":
        return "AMR"
    if head[:2] == b"\x0b\x77":
        return "AC-3"
    if len(head) >= 4 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0 and _mpeg_frame(head):
        return "MPEG audio"
    return None


def _mpeg_frame(head: bytes) -> bool:
    """An MPEG audio / ADTS frame header (not just 11 set bits by chance in random data)."""
    if (head[1] & 0xF6) == 0xF0:  # ADTS: layer bits 00
        return ((head[2] >> 2) & 0x0F) < 13
    version, layer = (head[1] >> 3) & 3, (head[1] >> 1) & 3
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 3
    return version != 1 and layer != 0 and bitrate not in (0, 15) and rate != 3


def check_container(path: Path, fh: BinaryIO) -> Container:
    """Sniff ``fh`` and validate the headers sfxkit can check itself (RIFF/WAVE, AIFF, Ogg).

    Raises :class:`MediaError` with a reason from :data:`REASONS` for a file that must not be
    decoded; returns what the file claims to be otherwise.
    """
    size = os.fstat(fh.fileno()).st_size
    if size == 0:
        raise MediaError(path, f"{EMPTY}: the file is 0 bytes", "copy or export the file again")
    fh.seek(0)
    head = fh.read(64)
    kind = sniff(head)
    if kind is None and head[:4] == b"RIFF":
        form = head[8:12].decode("latin-1") if len(head) >= 12 else ""
        if len(head) < 12:
            raise MediaError(
                path, f"{TRUNCATED}: the file ends inside its RIFF header", FIX_TRUNCATED
            )
        raise MediaError(
            path, f"{NOT_AUDIO}: a RIFF file of type {form!r}, not WAVE audio", FIX_HEADER
        )
    if kind == "WAV":
        return _check_wav(path, fh, size)
    if kind == "AIFF":
        return _check_aiff(path, fh, size)
    if kind == "Ogg":
        _check_ogg(path, fh, size)
    return Container(kind)


def check_stream(path: Path, sample_rate: int, channels: int, frames: int | None) -> None:
    """Refuse decoder-reported parameters no real recording has (any container)."""
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise MediaError(
            path,
            f"{ABSURD}: sample rate {sample_rate} Hz (sfxkit reads "
            f"{MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz)",
            FIX_HEADER,
        )
    if not 1 <= channels <= MAX_CHANNELS:
        raise MediaError(
            path, f"{ABSURD}: {channels} channels (sfxkit reads 1-{MAX_CHANNELS})", FIX_HEADER
        )
    if frames is not None and frames > MAX_SECONDS * sample_rate:
        raise MediaError(
            path,
            f"{ABSURD}: the header claims {_hours(frames / sample_rate)} of audio "
            f"(sfxkit reads up to {_hours(MAX_SECONDS)})",
            FIX_HEADER,
        )


def _hours(seconds: float) -> str:
    if seconds >= 365 * 86400:
        return f"{seconds / (365.25 * 86400):.0f} years"
    return f"{seconds / 3600:.1f} h"


def _absurd(path: Path, what: str) -> MediaError:
    return MediaError(path, f"{ABSURD}: {what}", FIX_HEADER)


def _check_wav(path: Path, fh: BinaryIO, size: int) -> Container:
    pos = 12
    fmt: tuple[int, int, int, int, int] | None = None
    detail = "WAV"
    while True:
        if pos + 8 > size:
            where = "before its fmt chunk" if fmt is None else "before its data chunk"
            raise MediaError(path, f"{TRUNCATED}: the file ends {where}", FIX_TRUNCATED)
        fh.seek(pos)
        cid, csize = struct.unpack("<4sI", fh.read(8))
        available = size - (pos + 8)
        if cid == b"fmt ":
            if csize < 16:
                raise _absurd(path, f"the fmt chunk is {csize} bytes (at least 16 are needed)")
            if csize > available:
                raise MediaError(
                    path,
                    f"{TRUNCATED}: the fmt chunk declares {csize} bytes, {available} are present",
                    FIX_TRUNCATED,
                )
            body = fh.read(min(csize, 40))
            tag, channels, rate, _byte_rate, block_align, bits = struct.unpack("<HHIIHH", body[:16])
            fmt = (tag, channels, rate, block_align, bits)
            detail = _check_wav_fmt(path, body, fmt)
        elif cid == b"data":
            if fmt is None:
                raise _absurd(path, "no fmt chunk before the audio data")
            if csize not in _UNKNOWN_LENGTH and csize > available:
                raise MediaError(
                    path,
                    f"{TRUNCATED}: the data chunk declares {csize} bytes but only {available} "
                    "are present",
                    FIX_TRUNCATED,
                )
            return Container("WAV", detail)
        elif csize > available:
            raise MediaError(
                path,
                f"{TRUNCATED}: the file ends inside its {cid.decode('latin-1')!r} chunk, "
                "before the audio data",
                FIX_TRUNCATED,
            )
        pos += 8 + csize + (csize & 1)


def _check_wav_fmt(path: Path, body: bytes, fmt: tuple[int, int, int, int, int]) -> str:
    """Validate a WAVE fmt chunk; returns a description for later messages."""
    tag, channels, rate, block_align, bits = fmt
    detail = f"WAV, format tag 0x{tag:04x}"
    if tag == 0:
        raise MediaError(path, f"{UNSUPPORTED}: WAV format tag 0 (no encoding named)", FIX_HEADER)
    if not 1 <= channels <= MAX_CHANNELS:
        raise _absurd(path, f"{channels} channels (sfxkit reads 1-{MAX_CHANNELS})")
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise _absurd(
            path, f"sample rate {rate} Hz (sfxkit reads {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz)"
        )
    if tag == 0xFFFE:
        if len(body) < 40:
            raise _absurd(path, "a WAVE_FORMAT_EXTENSIBLE fmt chunk shorter than 40 bytes")
        valid_bits = struct.unpack("<H", body[18:20])[0]
        sub_tag, tail = struct.unpack("<H", body[24:26])[0], body[26:40]
        if tail != _EXT_GUID_TAIL:
            raise MediaError(
                path,
                f"{UNSUPPORTED}: WAVE_FORMAT_EXTENSIBLE with an unknown sub-format",
                FIX_HEADER,
            )
        if bits not in _EXT_CONTAINER_BITS or not 0 <= valid_bits <= bits:
            raise _absurd(path, f"{valid_bits} valid bits in {bits}-bit samples")
        tag, detail = sub_tag, f"WAV (extensible), format tag 0x{sub_tag:04x}"
        if sub_tag in _PCM_BITS:
            allowed = {8, 16, 24, 32} if sub_tag == 1 else _PCM_BITS[sub_tag][1]
            _check_layout(path, _PCM_BITS[sub_tag][0], allowed, channels, block_align, bits)
        return detail
    if tag in _PCM_BITS:
        name, allowed = _PCM_BITS[tag]
        _check_layout(path, name, allowed, channels, block_align, bits)
    elif block_align == 0:
        raise _absurd(path, "block align 0")
    return detail


def _check_layout(
    path: Path, name: str, allowed: set[int], channels: int, block_align: int, bits: int
) -> None:
    if bits not in allowed:
        raise _absurd(
            path,
            f"{bits} bits per sample is not valid {name} ({', '.join(map(str, sorted(allowed)))})",
        )
    expected = channels * ((bits + 7) // 8)
    if block_align != expected:
        raise _absurd(
            path,
            f"block align {block_align} (for {channels} channel(s) of {bits}-bit {name} it is "
            f"{expected})",
        )


def _check_aiff(path: Path, fh: BinaryIO, size: int) -> Container:
    pos = 12
    plain = fh.seek(8) == 8 and fh.read(4) == b"AIFF"
    frames = channels = bits = None
    while pos + 8 <= size:
        fh.seek(pos)
        cid, csize = struct.unpack(">4sI", fh.read(8))
        available = size - (pos + 8)
        if cid == b"COMM":
            body = fh.read(min(csize, 18))
            if len(body) < 18:
                raise MediaError(
                    path, f"{TRUNCATED}: the file ends inside its COMM chunk", FIX_TRUNCATED
                )
            channels, frames, bits = struct.unpack(">hIh", body[:8])
            rate = _extended(body[8:18])
            if not (math.isfinite(rate) and MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE):
                raise _absurd(
                    path,
                    f"sample rate {rate:.6g} Hz (sfxkit reads {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz)",
                )
            if not 1 <= channels <= MAX_CHANNELS:
                raise _absurd(path, f"{channels} channels (sfxkit reads 1-{MAX_CHANNELS})")
        elif cid == b"SSND":
            if csize > available:
                raise MediaError(
                    path,
                    f"{TRUNCATED}: the sound data chunk declares {csize} bytes but only "
                    f"{available} are present",
                    FIX_TRUNCATED,
                )
            if plain and frames is not None and channels and bits and 1 <= bits <= 32:
                need = frames * channels * ((bits + 7) // 8)
                if need > csize - 8:
                    raise MediaError(
                        path,
                        f"{TRUNCATED}: the header declares {frames} frames but the sound data "
                        f"holds {max(csize - 8, 0)} bytes",
                        FIX_TRUNCATED,
                    )
            return Container("AIFF")
        pos += 8 + csize + (csize & 1)
    raise MediaError(path, f"{TRUNCATED}: the file ends before its sound data chunk", FIX_TRUNCATED)


def _extended(b: bytes) -> float:
    """An IEEE 754 80-bit extended float (AIFF's sample rate)."""
    exp = int.from_bytes(b[:2], "big")
    mant = int.from_bytes(b[2:10], "big")
    sign = -1.0 if exp & 0x8000 else 1.0
    exp &= 0x7FFF
    if exp == 0x7FFF:
        return math.inf
    if exp == 0 and mant == 0:
        return 0.0
    try:
        return sign * math.ldexp(float(mant), exp - 16383 - 63)
    except OverflowError:
        return math.inf


def _check_ogg(path: Path, fh: BinaryIO, size: int) -> None:
    """Every page complete, and every logical stream closed by a page with end-of-stream set."""
    pos = 0
    open_streams: set[int] = set()
    seen_eos = False
    while pos < size:
        fh.seek(pos)
        header = fh.read(27)
        if header[:4] != b"OggS":
            if open_streams or not seen_eos:
                raise MediaError(
                    path,
                    f"{CORRUPT}: no Ogg page where one should start at byte {pos}",
                    FIX_CORRUPT,
                )
            return  # trailing bytes after the last stream ended (an appended tag): harmless
        if len(header) < 27:
            raise MediaError(path, f"{TRUNCATED}: the last Ogg page is cut off", FIX_TRUNCATED)
        flags, serial, nseg = header[5], struct.unpack("<I", header[14:18])[0], header[26]
        lacing = fh.read(nseg)
        end = pos + 27 + nseg + sum(lacing)
        if len(lacing) < nseg or end > size:
            raise MediaError(
                path,
                f"{TRUNCATED}: the last Ogg page is cut off ({end - size} bytes missing)",
                FIX_TRUNCATED,
            )
        if flags & 0x04:
            open_streams.discard(serial)
            seen_eos = True
        else:
            open_streams.add(serial)
        pos = end
    if open_streams or not seen_eos:
        raise MediaError(
            path, f"{TRUNCATED}: the Ogg stream ends without its end-of-stream page", FIX_TRUNCATED
        )
