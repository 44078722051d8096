"""Hostile MP4s for the media tests: a short real video whose ISO-BMFF boxes are patched so its
timestamps claim hours (or years) that the few frames inside cannot fill.

The boxes are parsed into a tree, edited, and written back with their sizes recomputed. The
encoder used by :func:`tests.synth.make_video` writes ``moov`` after ``mdat``, so growing or
shrinking ``moov`` moves no sample data and the chunk offsets (``stco``) stay valid.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests import synth

CONTAINER_BOXES = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf"}

REAL_SECONDS = 2.0
FPS = 30


@dataclass
class Box:
    kind: bytes
    payload: bytes = b""
    children: list[Box] = field(default_factory=list)

    def find(self, *path: bytes) -> Iterator[Box]:
        """Every descendant reached by following ``path`` (box kinds) from here."""
        if not path:
            yield self
            return
        for child in self.children:
            if child.kind == path[0]:
                yield from child.find(*path[1:])

    def to_bytes(self) -> bytes:
        body = b"".join(c.to_bytes() for c in self.children) if self.children else self.payload
        return struct.pack(">I4s", 8 + len(body), self.kind) + body


def parse(buf: bytes) -> list[Box]:
    boxes: list[Box] = []
    off = 0
    while off + 8 <= len(buf):
        size, kind = struct.unpack(">I4s", buf[off : off + 8])
        header = 8
        if size == 1:
            size = struct.unpack(">Q", buf[off + 8 : off + 16])[0]
            header = 16
        elif size == 0:
            size = len(buf) - off
        body = buf[off + header : off + size]
        if kind in CONTAINER_BOXES:
            boxes.append(Box(kind, children=parse(body)))
        else:
            boxes.append(Box(kind, payload=body))
        off += size
    return boxes


def video_trak(moov: Box) -> Box:
    for trak in moov.find(b"trak"):
        hdlr = next(trak.find(b"mdia", b"hdlr"))
        if hdlr.payload[8:12] == b"vide":
            return trak
    raise AssertionError("no video track")


def _timescale(payload: bytes) -> int:
    return struct.unpack(">I", payload[12:16] if payload[0] == 0 else payload[20:24])[0]


def huge_stts_delta(moov: Box) -> None:
    """Every video sample claims to last ten minutes (60 frames -> 10 hours)."""
    trak = video_trak(moov)
    scale = _timescale(next(trak.find(b"mdia", b"mdhd")).payload)
    stts = next(trak.find(b"mdia", b"minf", b"stbl", b"stts"))
    (count,) = struct.unpack(">I", stts.payload[4:8])
    entries = [struct.unpack(">II", stts.payload[8 + 8 * i : 16 + 8 * i]) for i in range(count)]
    total = sum(n for n, _ in entries)
    stts.payload = stts.payload[:4] + struct.pack(">III", 1, total, 600 * scale)


def huge_last_delta(moov: Box) -> None:
    """The last video sample claims to last ten hours (a frame held far past the real end)."""
    trak = video_trak(moov)
    scale = _timescale(next(trak.find(b"mdia", b"mdhd")).payload)
    stts = next(trak.find(b"mdia", b"minf", b"stbl", b"stts"))
    (count,) = struct.unpack(">I", stts.payload[4:8])
    entries = [struct.unpack(">II", stts.payload[8 + 8 * i : 16 + 8 * i]) for i in range(count)]
    n, delta = entries[-1]
    entries[-1:] = [(n - 1, delta), (1, 36_000 * scale)] if n > 1 else [(1, 36_000 * scale)]
    body = b"".join(struct.pack(">II", a, b) for a, b in entries)
    stts.payload = stts.payload[:4] + struct.pack(">I", len(entries)) + body


MAX_32 = 0xFFFFFFFF  # ticks: at a 1 Hz timescale, 2**32 - 1 seconds (~136 years)


def _set_u32(box: Box, v0_at: int, v1_at: int, value: int) -> None:
    p = bytearray(box.payload)
    at = v0_at if p[0] == 0 else v1_at
    p[at : at + 4] = value.to_bytes(4, "big")
    box.payload = bytes(p)


def huge_durations(moov: Box) -> None:
    """mvhd, every tkhd and every mdhd claim 136 years: 1 Hz timescales, durations 2**32 - 1.

    (64-bit durations at the original timescales are ignored by FFmpeg, which takes the smaller
    of mdhd and the stts total; a 1 Hz mdhd timescale instead turns every tick into a second.)
    """
    mvhd = next(moov.find(b"mvhd"))
    _set_u32(mvhd, 12, 20, 1)
    _set_u32(mvhd, 16, 24, MAX_32)
    for trak in moov.find(b"trak"):
        _set_u32(next(trak.find(b"tkhd")), 20, 28, MAX_32)
        mdhd = next(trak.find(b"mdia", b"mdhd"))
        _set_u32(mdhd, 12, 20, 1)
        _set_u32(mdhd, 16, 24, MAX_32)


def zero_timescale(moov: Box) -> None:
    """The video track's mdhd timescale is 0 (FFmpeg then reads each tick as one second)."""
    _set_u32(next(video_trak(moov).find(b"mdia", b"mdhd")), 12, 20, 0)


PATCHES: dict[str, Callable[[Box], None]] = {
    "stts_delta": huge_stts_delta,
    "last_delta": huge_last_delta,
    "136_years": huge_durations,
    "timescale_0": zero_timescale,
}


def make_base(path: Path) -> Path:
    """A real 2 s, 30 fps video with a cut at 1 s, a moving square and a stereo tone."""
    return synth.make_video(
        path,
        [("red", REAL_SECONDS / 2), ("checker", REAL_SECONDS / 2)],
        fps=FPS,
        moving=True,
        audio=synth.tone(220, REAL_SECONDS, channels=2, amp=0.1),
    )


def make_hostile(
    path: Path, kind: str, base: Path | None = None, *, keep_edit_lists: bool = False
) -> Path:
    """``path``: the base video with the ``kind`` patch (a key of :data:`PATCHES`) applied."""
    path = Path(path)
    if base is None:
        base = make_base(path.with_name(f".base-{path.name}"))
    boxes = parse(base.read_bytes())
    moov = next(b for b in boxes if b.kind == b"moov")
    PATCHES[kind](moov)
    if not keep_edit_lists:
        # An edit list would bound the claim by itself; hostile files need not carry one.
        for trak in moov.find(b"trak"):
            trak.children = [c for c in trak.children if c.kind != b"edts"]
    path.write_bytes(b"".join(b.to_bytes() for b in boxes))
    return path
