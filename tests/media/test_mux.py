"""Muxing a soundtrack into a video: picture untouched, one audio stream, duration fitted."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import av
import numpy as np
import pytest

from sfxkit.errors import InputError, MediaError
from sfxkit.media.mux import mux_audio
from tests.synth import make_video, noise, tone, write_audio

SR = 48_000


def packets(path: Path, kind: str) -> list[tuple[int | None, int | None, bytes]]:
    with av.open(str(path)) as c:
        stream = getattr(c.streams, kind)[0]
        return [(p.pts, p.dts, bytes(p)) for p in c.demux(stream) if p.size]


def extent(path: Path, kind: str, index: int = 0) -> float:
    """Presentation end of a stream in seconds (time 0 = the file's start)."""
    with av.open(str(path)) as c:
        stream = getattr(c.streams, kind)[index]
        ends = [float((p.pts + p.duration) * p.time_base) for p in c.demux(stream) if p.size]
    return max(ends)


def first_channel(frame: av.AudioFrame) -> np.ndarray:
    data = frame.to_ndarray()
    return data[0] if frame.format.is_planar else data.reshape(-1)[:: len(frame.layout.channels)]


@pytest.fixture
def source(tmp_path: Path) -> Path:
    # 2.52 s of picture with its own (different) stereo soundtrack.
    return make_video(
        tmp_path / "src.mp4",
        [("red", 1.0), ("checker", 1.52)],
        moving=True,
        audio=tone(300, 2.52, channels=2),
    )


@pytest.mark.parametrize(
    ("suffix", "codec", "audio_seconds"),
    [(".mp4", "aac", 3.0), (".mkv", "pcm", 1.0), (".mov", "aac", 2.52)],
)
def test_video_packets_copied_and_audio_fitted(
    source: Path, tmp_path: Path, suffix: str, codec: str, audio_seconds: float
) -> None:
    out = tmp_path / f"out{suffix}"
    mix = tone(1000, audio_seconds, channels=2, amp=0.3)
    assert mux_audio(source, mix, out, sample_rate=SR, codec=codec) == out
    with av.open(str(out)) as c:
        assert len(c.streams.video) == 1 and len(c.streams.audio) == 1
        assert c.streams.audio[0].codec_context.name == ("aac" if codec == "aac" else "pcm_s24le")
        assert c.streams.audio[0].codec_context.sample_rate == SR
    # The picture is the source's packets, byte for byte (copied, not re-encoded).
    src_v, out_v = packets(source, "video"), packets(out, "video")
    assert [p[2] for p in out_v] == [p[2] for p in src_v]
    # The new sound lasts as long as the picture, to within one audio frame (AAC: 1024 samples).
    video_end = extent(out, "video")
    assert video_end == pytest.approx(2.52, abs=1e-3)
    assert abs(extent(out, "audio") - video_end) <= 1024 / SR
    # ...and what plays is the new sound (1 kHz), not the source's 300 Hz tone.
    with av.open(str(out)) as c:
        left = np.concatenate([first_channel(f) for f in c.decode(c.streams.audio[0])])
    spectrum = np.abs(np.fft.rfft(left[: SR // 2].astype(np.float64)))
    assert np.argmax(spectrum) * 2 == pytest.approx(1000, abs=4)  # bins are 2 Hz apart


def test_wav_input_and_keep_original(source: Path, tmp_path: Path) -> None:
    wav = write_audio(tmp_path / "mix.wav", noise(2.0, amp=0.3, seed=2), 44_100)
    out = mux_audio(source, wav, tmp_path / "both.mp4", keep_original=True)
    with av.open(str(out)) as c:
        assert len(c.streams.video) == 1 and len(c.streams.audio) == 2
        assert c.streams.audio[0].codec_context.sample_rate == 44_100
    assert [p[2] for p in packets(out, "video")] == [p[2] for p in packets(source, "video")]
    assert abs(extent(out, "audio", 0) - extent(out, "video")) <= 1024 / 44_100


def test_rewrite_is_atomic_and_overwrites(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "o" / "film.mp4"
    mux_audio(source, noise(2.52, amp=0.1, seed=3), out, sample_rate=SR)
    first = out.read_bytes()
    mux_audio(source, noise(2.52, amp=0.1, seed=4), out, sample_rate=SR)
    assert out.read_bytes() != first
    assert sorted(p.name for p in out.parent.iterdir()) == ["film.mp4"]  # no temp files left
    with pytest.raises(MediaError, match="missing.mp4"):
        mux_audio(tmp_path / "missing.mp4", noise(1.0), tmp_path / "o" / "x.mp4", sample_rate=SR)
    assert sorted(p.name for p in out.parent.iterdir()) == ["film.mp4"]


def test_bad_requests_say_what_to_do(source: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"\.mov or \.mkv"):
        mux_audio(source, noise(1.0), tmp_path / "x.mp4", sample_rate=SR, codec="pcm")
    with pytest.raises(InputError, match="sample_rate"):
        mux_audio(source, noise(1.0), tmp_path / "x.mp4")
    with pytest.raises(MediaError, match="nope.wav"):
        mux_audio(source, tmp_path / "nope.wav", tmp_path / "x.mp4")
    audio_only = write_audio(tmp_path / "a.m4a", noise(1.0), SR)
    with pytest.raises(MediaError, match="no video stream"):
        mux_audio(audio_only, noise(1.0), tmp_path / "x.mp4", sample_rate=SR)


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_muxed_video_gets_the_mode_of_any_new_file(
    source: Path, tmp_path: Path, umask: int
) -> None:
    previous = os.umask(umask)
    try:
        out = mux_audio(source, tone(500, 1.0, channels=2), tmp_path / "m.mp4", sample_rate=SR)
        (tmp_path / "plain.txt").write_text("x")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE(out.stat().st_mode) == stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode)
