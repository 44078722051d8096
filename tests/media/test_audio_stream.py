"""Streaming decode and measurement: the same answers as the whole-file computations
(pyloudnorm's loudness, the PCM hash, the QC flags), from bounded blocks."""

from __future__ import annotations

import math

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from sfxkit.catalog.ingest import measure_file
from sfxkit.catalog.qc import QcAccumulator
from sfxkit.media.audio import PcmHasher, load_audio, open_audio, pcm_hash
from sfxkit.media.loudness import LoudnessMeter
from tests.synth import noise, tone, write_audio


@pytest.mark.parametrize(
    ("sr", "channels", "seconds"),
    [(48_000, 1, 3.0), (44_100, 2, 2.37), (11_025, 2, 0.93), (96_000, 1, 1.5), (22_050, 5, 4.1)],
)
def test_measured_loudness_equals_pyloudnorm(tmp_path, sr, channels, seconds):
    x = noise(seconds, sr, channels=channels, amp=0.4, seed=sr) * np.linspace(
        0.02, 1.0, int(round(seconds * sr)), dtype=np.float32
    )
    x[:, : x.shape[1] // 4] *= 0.001  # a quiet start the relative gate must drop
    path = write_audio(tmp_path / "x.wav", x, sr, subtype="FLOAT")
    data, _ = sf.read(path, dtype="float64", always_2d=True)
    expected = pyloudnorm.Meter(sr).integrated_loudness(data)
    m = measure_file(path)
    assert m.loudness_kind == "integrated"
    assert m.loudness == pytest.approx(expected, abs=0.1)
    # Fed in odd-sized blocks the meter gives the same number.
    meter = LoudnessMeter(sr, channels)
    for i in range(0, x.shape[1], 1001):
        meter.update(x[:, i : i + 1001])
    assert meter.integrated() == pytest.approx(expected, abs=1e-6)


def test_six_channel_file_is_measured_with_surround_weights(tmp_path):
    # pyloudnorm refuses more than five channels; six are 5.1 in WAV/SMPTE order (L R C LFE Ls
    # Rs) and BS.1770 weights L R C 1.0, the surrounds 1.41, and leaves the LFE out.
    mono = tone(997, 2.0, 48_000, amp=0.25)
    path = write_audio(tmp_path / "six.wav", np.repeat(mono, 6, axis=0), 48_000, subtype="FLOAT")
    ref = pyloudnorm.Meter(48_000).integrated_loudness(mono[0].astype(np.float64))
    m = measure_file(path)
    assert m.channels == 6
    assert m.loudness == pytest.approx(ref + 10 * math.log10(1 + 1 + 1 + 0 + 1.41 + 1.41), abs=0.01)


def test_streamed_hash_equals_pcm_hash_even_when_channels_are_reread(tmp_path):
    path = write_audio(tmp_path / "st.flac", noise(3.0, 16_000, channels=3, seed=5), 16_000)
    expected = pcm_hash(load_audio(path))
    assert measure_file(path).id == expected[:16]
    # A tiny buffer forces the second and third channels to be hashed from a second decode.
    with open_audio(path) as reader:
        hasher = PcmHasher(reader.sample_rate, reader.channels, buffer_bytes=1000)
        for block in reader.blocks(block=4096):
            hasher.update(block)

    def reread():
        with open_audio(path) as again:
            yield from again.blocks(block=3000)

    assert hasher.overflowed
    assert hasher.hexdigest(reread) == expected


def test_clipping_run_across_block_boundary_is_found():
    x = np.zeros((1, 20_000), np.float32)
    x[0, 9_999:10_002] = 1.0  # three full-scale samples, split 1 + 2 by the blocks below
    acc = QcAccumulator(48_000, 1)
    acc.update(x[:, :10_000])
    acc.update(x[:, 10_000:])
    assert "clipped" in acc.flags()
    two = np.zeros((1, 20_000), np.float32)
    two[0, 9_999:10_001] = 1.0
    acc = QcAccumulator(48_000, 1)
    acc.update(two[:, :10_000])
    acc.update(two[:, 10_000:])
    assert "clipped" not in acc.flags()


def test_load_audio_span_and_mono_match_the_whole_file(tmp_path):
    x = noise(5.0, 16_000, channels=2, seed=9)
    path = write_audio(tmp_path / "five.wav", x, 16_000, subtype="FLOAT")
    whole = load_audio(path)
    span = load_audio(path, offset=1.25, duration=2.0, mono=True)
    expected = whole.samples[:, 20_000:52_000].mean(axis=0, dtype=np.float64).astype(np.float32)
    np.testing.assert_array_equal(span.samples[0], expected)
    with open_audio(path) as reader:
        sizes = [b.shape[1] for b in reader.blocks(block=10_000)]
    assert max(sizes) == 10_000 and sum(sizes) == 80_000
