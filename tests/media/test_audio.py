"""Audio decoding, resampling, writing, tags and content hashing, on synthesised files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sfxkit.errors import MediaError
from sfxkit.media.audio import (
    AUDIO_EXTENSIONS,
    Audio,
    load_audio,
    pcm_hash,
    read_tags,
    resample,
    write_wav,
)
from tests.synth import make_video, noise, tone, write_audio, write_tagged_audio


def _dominant_freq(x: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / sr)[int(np.argmax(spec))])


@pytest.mark.parametrize(
    ("name", "channels", "sr", "subtype", "lossless"),
    [
        ("a.wav", 1, 48_000, "PCM_16", True),
        ("b.wav", 2, 44_100, "PCM_24", True),
        ("c.flac", 2, 48_000, None, True),
        ("d.aiff", 1, 44_100, None, True),
        ("e.ogg", 2, 48_000, None, False),
        ("f.mp3", 1, 44_100, None, False),
        ("g.m4a", 2, 48_000, None, False),
    ],
)
def test_formats_decode_to_channels_first_float32(tmp_path, name, channels, sr, subtype, lossless):
    x = tone(440.0, 1.0, sr, channels=channels, amp=0.5)
    path = write_audio(tmp_path / name, x, sr, subtype=subtype)
    audio = load_audio(path)
    assert audio.samples.dtype == np.float32
    assert audio.channels == channels and audio.sample_rate == sr
    if lossless:
        assert audio.samples.shape == x.shape
        np.testing.assert_allclose(audio.samples, x, atol=1.5 / 32768)
    else:
        # Lossy codecs add priming/padding: duration within ~60 ms, and still a 440 Hz tone.
        assert abs(audio.duration - 1.0) < 0.06
        assert abs(_dominant_freq(audio.samples[0], sr) - 440.0) < 3.0
        rms = float(np.sqrt(np.mean(audio.samples**2)))
        assert abs(rms - 0.5 / np.sqrt(2)) < 0.05


def test_resample_mono_and_span(tmp_path):
    x = tone(1000.0, 2.0, 44_100, channels=2, amp=0.4)
    x[1] *= 0.5
    path = write_audio(tmp_path / "s.wav", x, 44_100)
    audio = load_audio(path, sample_rate=48_000, mono=True, offset=0.5, duration=1.0)
    assert audio.sample_rate == 48_000 and audio.channels == 1
    assert audio.samples.shape[1] == 48_000
    assert abs(_dominant_freq(audio.samples[0], 48_000) - 1000.0) < 2.0
    # mono is the channel average: 0.75 of the left channel's amplitude
    assert np.max(np.abs(audio.samples)) == pytest.approx(0.3, abs=0.01)

    span = load_audio(path, offset=0.5, duration=0.25)
    np.testing.assert_allclose(span.samples, x[:, 22_050 : 22_050 + 11_025], atol=2 / 32768)


def test_audio_methods():
    a = Audio(np.stack([np.ones(480), -np.ones(480)]).astype(np.float32), 48_000)
    assert a.duration == pytest.approx(0.01) and a.channels == 2
    assert np.all(a.to_mono().samples == 0)
    assert a.resampled(48_000) is a
    assert a.resampled(16_000).samples.shape == (2, 160)


def test_resample_function_shapes():
    y = resample(np.zeros(44_100, dtype=np.float32), 44_100, 22_050)
    assert y.shape == (1, 22_050) and y.dtype == np.float32
    assert resample(np.zeros((2, 0), np.float32), 44_100, 48_000).shape == (2, 0)


def test_audio_track_of_a_video(tmp_path):
    audio_in = tone(500.0, 1.0, 48_000, channels=2, amp=0.3)
    video = make_video(tmp_path / "v.mp4", [("red", 1.0)], audio=audio_in)
    audio = load_audio(video, sample_rate=16_000, mono=True)
    assert audio.sample_rate == 16_000
    assert abs(audio.duration - 1.0) < 0.1
    assert abs(_dominant_freq(audio.samples[0], 16_000) - 500.0) < 3.0


def _assert_media_error(path: Path, words: str) -> MediaError:
    with pytest.raises(MediaError) as info:
        load_audio(path)
    message = str(info.value)
    assert str(path) in message
    assert words in message.lower()
    assert info.value.fix  # every error says what to do next
    return info.value


def test_bad_files_raise_media_error_naming_the_file(tmp_path):
    _assert_media_error(tmp_path / "missing.wav", "not found")
    (tmp_path / "empty.wav").write_bytes(b"")
    _assert_media_error(tmp_path / "empty.wav", "empty")
    (tmp_path / "random.wav").write_bytes(np.random.default_rng(0).bytes(4000))
    _assert_media_error(tmp_path / "random.wav", "not a decodable audio file")
    (tmp_path / "random.mp3").write_bytes(np.random.default_rng(1).bytes(4000))
    _assert_media_error(tmp_path / "random.mp3", "not a decodable audio file")

    good = write_audio(tmp_path / "good.flac", noise(2.0, channels=2))
    data = good.read_bytes()
    (tmp_path / "cut.flac").write_bytes(data[: len(data) // 2])
    _assert_media_error(tmp_path / "cut.flac", "truncated")

    wav = write_audio(tmp_path / "good.wav", noise(1.0))
    data = wav.read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[: len(data) // 2])
    _assert_media_error(tmp_path / "cut.wav", "truncated")

    sf.write(tmp_path / "zero.wav", np.zeros((0, 1), np.float32), 48_000)
    _assert_media_error(tmp_path / "zero.wav", "zero audio samples")

    with pytest.raises(MediaError, match="offset"):
        load_audio(wav, offset=5.0)


def test_write_wav_is_atomic_and_round_trips(tmp_path):
    x = tone(300.0, 0.5, 48_000, channels=2, amp=0.7)
    target = tmp_path / "out" / "stem.wav"
    write_wav(target, x, 48_000)
    back = load_audio(target)
    assert sf.info(str(target)).subtype == "PCM_24"
    np.testing.assert_allclose(back.samples, x, atol=2.0 / 2**23)
    assert [p.name for p in target.parent.iterdir()] == ["stem.wav"]

    before = target.read_bytes()
    with pytest.raises(ValueError):
        write_wav(target, np.full((1, 10), np.nan, np.float32), 48_000)
    assert target.read_bytes() == before
    assert [p.name for p in target.parent.iterdir()] == ["stem.wav"]

    write_wav(target, x[0], 48_000, subtype="FLOAT")  # overwrite, 1-D mono
    again = load_audio(target)
    assert again.channels == 1 and np.array_equal(again.samples[0], x[0])


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg", "aiff", "mp3"])
def test_read_tags(tmp_path, ext):
    path = write_tagged_audio(
        tmp_path / f"t.{ext}",
        tone(440, 0.3),
        tags={"title": "Big Door Slam", "comment": "heavy oak"},
    )
    tags = read_tags(path)
    assert tags["title"] == "Big Door Slam"
    assert tags["comment"] == "heavy oak"
    assert all(k == k.lower() for k in tags)


def test_read_tags_untagged_is_empty(tmp_path):
    path = write_audio(tmp_path / "plain.wav", tone(440, 0.3))
    assert read_tags(path) == {}
    with pytest.raises(MediaError):
        read_tags(tmp_path / "nope.wav")


def test_pcm_hash_survives_rename_and_lossless_rewrap(tmp_path):
    q = (np.random.default_rng(3).standard_normal((2, 24_000)) * 6000).astype(np.int16)
    sf.write(tmp_path / "a.wav", q.T, 48_000, subtype="PCM_16")
    sf.write(tmp_path / "renamed copy.flac", q.T, 48_000, subtype="PCM_16")
    sf.write(tmp_path / "b.aiff", q.T, 48_000, subtype="PCM_16")
    hashes = {pcm_hash(load_audio(tmp_path / n)) for n in ("a.wav", "renamed copy.flac", "b.aiff")}
    assert len(hashes) == 1

    q2 = q.copy()
    q2[0, 100] += 1
    sf.write(tmp_path / "edited.wav", q2.T, 48_000, subtype="PCM_16")
    assert pcm_hash(load_audio(tmp_path / "edited.wav")) not in hashes
    sf.write(tmp_path / "other_rate.wav", q.T, 44_100, subtype="PCM_16")
    assert pcm_hash(load_audio(tmp_path / "other_rate.wav")) not in hashes


def test_audio_extensions_cover_common_formats():
    for ext in (
        "wav",
        "flac",
        "ogg",
        "oga",
        "mp3",
        "aif",
        "aiff",
        "aifc",
        "m4a",
        "aac",
        "opus",
        "wma",
        "caf",
        "w64",
        "bwf",
    ):
        assert f".{ext}" in AUDIO_EXTENSIONS
    assert ".txt" not in AUDIO_EXTENSIONS and ".mp4" not in AUDIO_EXTENSIONS
