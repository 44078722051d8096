"""A hostile audio corpus made on the fly: broken headers, truncated containers, non-audio
content, non-finite samples and non-UTF-8 names, beside good files of every common kind.

``make_hostile_corpus(folder)`` writes it and returns ``(good, bad)``: good file names, and bad
file names mapped to the reason word sfxkit must report for each (see
``sfxkit.media.audio.REASONS``).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

from tests.synth import noise, tone, write_audio

SR = 16_000

TRUNCATED = "truncated"
NOT_AUDIO = "not audio"
UNSUPPORTED = "unsupported format"
NON_FINITE = "non-finite samples"
ABSURD = "absurd header"
EMPTY = "empty"

_EXT_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


def riff_wav(
    data: bytes,
    *,
    tag: int = 1,
    channels: int = 1,
    rate: int = SR,
    bits: int = 16,
    block_align: int | None = None,
    byte_rate: int | None = None,
    fmt_extra: bytes = b"",
    data_size: int | None = None,
    fmt: bool = True,
) -> bytes:
    """A RIFF/WAVE file built field by field, so each field can be made wrong on purpose."""
    if block_align is None:
        block_align = channels * ((bits + 7) // 8)
    if byte_rate is None:
        byte_rate = rate * block_align
    body = b"WAVE"
    if fmt:
        fmt_body = struct.pack("<HHIIHH", tag, channels, rate, byte_rate, block_align, bits)
        fmt_body += fmt_extra
        body += b"fmt " + struct.pack("<I", len(fmt_body)) + fmt_body
    size = len(data) if data_size is None else data_size
    body += b"data" + struct.pack("<I", size) + data + (b"\x00" if len(data) & 1 else b"")
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _pcm16(x: np.ndarray) -> bytes:
    return np.clip(np.rint(x * 32768), -32768, 32767).astype("<i2").tobytes()


def _extensible(sub_tag: int, valid_bits: int, tail: bytes = _EXT_GUID_TAIL) -> bytes:
    return struct.pack("<HHI", 22, valid_bits, 0) + struct.pack("<H", sub_tag) + tail


def _float_with(value: float, dtype: str = "<f4") -> bytes:
    x = tone(440, 0.5, SR, amp=0.3)[0].astype(dtype)
    x[len(x) // 2] = value
    return x.tobytes()


def _encoded(suffix: str, seconds: float = 1.0, seed: int = 3, channels: int = 1) -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        p = write_audio(
            Path(tmp) / f"x{suffix}", noise(seconds, SR, amp=0.3, seed=seed, channels=channels), SR
        )
        return p.read_bytes()


def _ogg_pages(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each Ogg page."""
    pages, pos = [], 0
    while pos + 27 <= len(data) and data[pos : pos + 4] == b"OggS":
        nseg = data[pos + 26]
        end = pos + 27 + nseg + sum(data[pos + 27 : pos + 27 + nseg])
        pages.append((pos, end))
        pos = end
    return pages


def _patch(data: bytes, offset: int, new: bytes) -> bytes:
    return data[:offset] + new + data[offset + len(new) :]


def _aiff_with_rate(rate_bytes: bytes) -> bytes:
    data = _encoded(".aiff")
    i = data.index(b"COMM")
    # COMM: id, size, channels(2), frames(4), bits(2), rate (80-bit extended)
    return _patch(data, i + 8 + 8, rate_bytes)


def _flac_streaminfo(data: bytes, *, rate: int | None = None, total: int | None = None) -> bytes:
    # STREAMINFO starts at 8 ("fLaC" + block header); rate is 20 bits at byte 18, total samples
    # the low 36 bits ending at byte 26.
    b = bytearray(data)
    if rate is not None:
        packed = int.from_bytes(b[18:21], "big")
        packed = (packed & 0x00000F) | ((rate & 0xFFFFF) << 4)
        b[18:21] = packed.to_bytes(3, "big")
    if total is not None:
        packed = int.from_bytes(b[21:26], "big")
        packed = (packed & ~0xFFFFFFFFF) | (total & 0xFFFFFFFFF)
        b[21:26] = packed.to_bytes(5, "big")
    return bytes(b)


def hostile_files() -> dict[str, tuple[Callable[[], bytes], str]]:
    """Bad file name -> (maker of its bytes, the reason word expected for it)."""
    good16 = _pcm16(tone(440, 0.5, SR, amp=0.3)[0])
    good_wav = riff_wav(good16)
    flac = _encoded(".flac", 2.0)
    ogg = _encoded(".ogg", 2.0)
    aiff = _encoded(".aiff", 1.0)
    ogg_pages = _ogg_pages(ogg)
    rng = np.random.default_rng(7)
    return {
        # absurd RIFF/WAVE fmt fields
        "rate_2e31.wav": (lambda: riff_wav(good16, rate=2**31 - 1), ABSURD),
        "rate_0.wav": (lambda: riff_wav(good16, rate=0, byte_rate=0), ABSURD),
        "rate_1hz.wav": (lambda: riff_wav(good16, rate=1), ABSURD),
        "channels_0.wav": (lambda: riff_wav(good16, channels=0, block_align=2), ABSURD),
        "channels_65535.wav": (lambda: riff_wav(good16, channels=65535, block_align=2), ABSURD),
        "bits_0.wav": (lambda: riff_wav(good16, bits=0, block_align=2), ABSURD),
        "bits_7.wav": (lambda: riff_wav(good16[: len(good16) // 2], bits=7), ABSURD),
        "bits_13_float.wav": (lambda: riff_wav(good16, tag=3, bits=13, block_align=2), ABSURD),
        "block_align_0.wav": (lambda: riff_wav(good16, block_align=0), ABSURD),
        "block_align_3.wav": (lambda: riff_wav(good16, block_align=3), ABSURD),
        "fmt_too_short.wav": (
            lambda: _patch(good_wav, 16, struct.pack("<I", 6)),
            ABSURD,
        ),
        "fmt_chunk_huge.wav": (
            lambda: _patch(good_wav, 16, struct.pack("<I", 0xFFFFFFF0)),
            TRUNCATED,
        ),
        "no_fmt_chunk.wav": (lambda: riff_wav(good16, fmt=False), ABSURD),
        "format_tag_bogus.wav": (lambda: riff_wav(good16, tag=0x1234), UNSUPPORTED),
        "format_tag_0.wav": (lambda: riff_wav(good16, tag=0), UNSUPPORTED),
        "extensible_bogus_guid.wav": (
            lambda: riff_wav(good16, tag=0xFFFE, fmt_extra=_extensible(1, 16, b"\x01" * 14)),
            UNSUPPORTED,
        ),
        "extensible_valid_bits_40.wav": (
            lambda: riff_wav(good16, tag=0xFFFE, fmt_extra=_extensible(1, 40)),
            ABSURD,
        ),
        # truncated WAV
        "header_only.wav": (lambda: good_wav[:44], TRUNCATED),
        "cut_in_fmt.wav": (lambda: good_wav[:24], TRUNCATED),
        "riff_only.wav": (lambda: good_wav[:12], TRUNCATED),
        "cut_half.wav": (lambda: good_wav[: len(good_wav) // 2], TRUNCATED),
        "cut_len_minus_1.wav": (lambda: good_wav[:-1], TRUNCATED),
        # non-finite samples
        "nan.wav": (lambda: riff_wav(_float_with(np.nan), tag=3, bits=32), NON_FINITE),
        "plus_inf.wav": (lambda: riff_wav(_float_with(np.inf), tag=3, bits=32), NON_FINITE),
        "minus_inf.wav": (lambda: riff_wav(_float_with(-np.inf), tag=3, bits=32), NON_FINITE),
        "nan_double.wav": (
            lambda: riff_wav(_float_with(np.nan, "<f8"), tag=3, bits=64),
            NON_FINITE,
        ),
        "nan_extensible.wav": (
            lambda: riff_wav(
                _float_with(np.nan), tag=0xFFFE, bits=32, fmt_extra=_extensible(3, 32)
            ),
            NON_FINITE,
        ),
        # not audio at all
        "empty.wav": (lambda: b"", EMPTY),
        "text.wav": (lambda: b"this is not a sound, it is a note\n" * 40, NOT_AUDIO),
        "random.wav": (lambda: rng.bytes(5000), NOT_AUDIO),
        "random.flac": (lambda: rng.bytes(5000), NOT_AUDIO),
        "random.mp3": (lambda: rng.bytes(5000), NOT_AUDIO),
        "page.ogg": (lambda: b"<html><body>404 Not Found</body></html>\n" * 20, NOT_AUDIO),
        "image.aiff": (lambda: b"\x89PNG\r\n\x1a\n" + rng.bytes(3000), NOT_AUDIO),
        "riff_midi.wav": (
            lambda: b"RIFF" + struct.pack("<I", 4004) + b"RMID" + rng.bytes(4000),
            NOT_AUDIO,
        ),
        # FLAC
        "flac_cut_half.flac": (lambda: flac[: len(flac) // 2], TRUNCATED),
        "flac_cut_len_minus_1.flac": (lambda: flac[:-1], TRUNCATED),
        "flac_header_only.flac": (lambda: flac[:42], TRUNCATED),
        "flac_claims_more.flac": (lambda: _flac_streaminfo(flac, total=10**9), TRUNCATED),
        "flac_rate_absurd.flac": (lambda: _flac_streaminfo(flac, rate=1_000_000), ABSURD),
        "flac_claims_2000_hours.flac": (lambda: _flac_streaminfo(flac, total=2**36 - 1), ABSURD),
        # Ogg Vorbis
        "ogg_cut_half.ogg": (lambda: ogg[: len(ogg) // 2], TRUNCATED),
        "ogg_cut_len_minus_1.ogg": (lambda: ogg[:-1], TRUNCATED),
        "ogg_cut_at_page.ogg": (lambda: ogg[: ogg_pages[-2][1]], TRUNCATED),
        "ogg_first_page_only.ogg": (lambda: ogg[: ogg_pages[0][1]], TRUNCATED),
        # AIFF
        "aiff_cut_half.aiff": (lambda: aiff[: len(aiff) // 2], TRUNCATED),
        "aiff_rate_absurd.aiff": (
            # 80-bit extended 2^40 Hz
            lambda: _aiff_with_rate(struct.pack(">H", 0x3FFF + 40) + b"\x80" + b"\x00" * 7),
            ABSURD,
        ),
    }


def make_hostile_corpus(folder: Path) -> tuple[list[str], dict[str, str]]:
    """Write good and bad files into ``folder``; return (good names, {bad name: reason word})."""
    folder.mkdir(parents=True, exist_ok=True)
    bad: dict[str, str] = {}
    for name, (make, reason) in hostile_files().items():
        (folder / name).write_bytes(make())
        bad[name] = reason
    good: list[str] = []

    def add(name: str, samples: np.ndarray, subtype: str | None = None, sr: int = SR) -> None:
        write_audio(folder / name, samples, sr, subtype=subtype)
        good.append(name)

    add("good_tone.wav", tone(330, 1.0, SR, amp=0.4))
    add("good_noise_stereo.flac", noise(1.5, SR, amp=0.3, seed=11, channels=2))
    add("good_u8.wav", tone(550, 0.7, SR, amp=0.4), "PCM_U8")
    add("good_24bit.wav", noise(0.8, SR, amp=0.2, seed=12), "PCM_24")
    add("good_float.wav", tone(660, 0.6, SR, amp=0.5), "FLOAT")
    add("good_ulaw.wav", noise(0.9, SR, amp=0.2, seed=13), "ULAW")
    add("good_vorbis.ogg", noise(2.0, SR, amp=0.3, seed=14), None)
    add("good.aiff", tone(770, 0.5, SR, amp=0.3))
    add("good.mp3", noise(1.2, 44_100, amp=0.3, seed=15), None, 44_100)
    add("good_short.wav", tone(880, 0.05, SR, amp=0.3))
    add("good_5_1.wav", noise(0.7, SR, amp=0.2, seed=17, channels=6))
    ext = folder / "good_extensible.wav"
    ext.write_bytes(
        riff_wav(
            _pcm16(noise(0.6, SR, amp=0.3, seed=16)[0]),
            tag=0xFFFE,
            fmt_extra=_extensible(1, 16),
        )
    )
    good.append(ext.name)
    # A good file whose name is not valid UTF-8 (Latin-1 "café", as old Windows zips leave).
    raw = os.fsencode(folder) + b"/caf\xe9_door_slam.wav"
    with open(raw, "wb") as fh:
        sf.write(fh, tone(220, 0.8, SR, amp=0.4)[0], SR, format="WAV", subtype="PCM_16")
    good.append(os.fsdecode(b"caf\xe9_door_slam.wav"))
    return good, bad
