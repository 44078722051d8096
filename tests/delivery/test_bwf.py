"""Broadcast WAV: sfxkit writes bext itself; wavinfo (an independent reader) and FFmpeg read it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
import wavinfo

from sfxkit.delivery.bwf import read_bwf, time_reference, write_bwf
from sfxkit.errors import InputError, MediaError

SR = 48_000


def audio(channels: int, seconds: float = 0.5, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.uniform(-0.9, 0.9, (channels, int(seconds * SR)))).astype(np.float32)


@pytest.mark.parametrize("channels", [1, 2, 6])
def test_bwf_is_read_by_wavinfo_soundfile_and_ffmpeg(tmp_path: Path, channels: int) -> None:
    x = audio(channels)
    ref = 10 * 3600 * SR + 12_345  # 10:00:00 plus a bit: past 2**31 samples is fine too
    when = datetime(2026, 12, 6, 17, 5, 9)
    path = write_bwf(
        tmp_path / "fx.wav",
        x,
        SR,
        time_reference=ref,
        description="door slam, shot 3",
        originator_reference="sfxkit-0003",
        origination=when,
    )
    bext = wavinfo.WavInfoReader(str(path)).bext
    assert bext is not None
    assert (bext.time_reference, bext.version, bext.originator) == (ref, 1, "sfxkit")
    assert bext.description == "door slam, shot 3" and bext.originator_ref == "sfxkit-0003"
    assert (bext.originator_date, bext.originator_time) == ("2026-12-06", "17:05:09")
    assert bext.coding_history.startswith(f"A=PCM,F={SR},W=24,")
    fmt = wavinfo.WavInfoReader(str(path)).fmt
    assert (fmt.sample_rate, fmt.channel_count, fmt.bits_per_sample) == (SR, channels, 24)

    # The samples are the 24-bit quantisation of the input.
    back, sr = sf.read(str(path), dtype="float64", always_2d=True)
    assert sr == SR and sf.info(str(path)).subtype == "PCM_24"
    assert np.max(np.abs(back.T - x)) <= 0.5 / 2**23 + 1e-12

    # Our own reader agrees with wavinfo; 5.1 carries the SMPTE speaker mask FFmpeg names 5.1.
    info = read_bwf(path)
    assert info.time_reference == ref and info.frames == x.shape[1]
    with av.open(str(path)) as c:
        layout = c.streams.audio[0].layout
    assert len(layout.channels) == channels
    if channels == 6:  # plain PCM (1-2 channels) has no speaker mask, so FFmpeg names no layout
        assert layout.name == "5.1"
    assert info.channel_mask == (0x3F if channels == 6 else None)


def test_time_reference_is_position_plus_start_timecode() -> None:
    # 01:00:00:00 at 25 fps is 3600 s; a cue at 2.5 s sits at 3602.5 s after midnight.
    assert time_reference(2.5, SR, start_tc="01:00:00:00", fps=25) == 3602.5 * SR
    # At 29.97 drop-frame, 01:00:00;00 is frame 107892 = 3599.9964 s of real time.
    ntsc = 30000 / 1001
    assert time_reference(0.0, SR, start_tc="01:00:00;00", fps=ntsc) == round(
        107892 * 1001 / 30000 * SR
    )
    assert time_reference(1.0, SR) == SR
    with pytest.raises(InputError, match="frame rate"):
        time_reference(0.0, SR, start_tc="01:00:00:00")


def test_clipping_odd_sizes_and_bad_input(tmp_path: Path) -> None:
    x = np.array([[2.0, -2.0, 0.0]], dtype=np.float32)  # odd data size: a pad byte follows
    path = write_bwf(tmp_path / "c.wav", x, SR, bits=24)
    back, _ = sf.read(str(path), dtype="float64")
    assert back[0] == pytest.approx(1 - 2**-23) and back[1] == -1.0
    assert wavinfo.WavInfoReader(str(path)).bext.time_reference == 0
    with pytest.raises(InputError, match="NaN"):
        write_bwf(tmp_path / "n.wav", np.full((1, 4), np.nan), SR)
    plain = tmp_path / "plain.wav"
    sf.write(str(plain), np.zeros(100), SR, subtype="PCM_24")
    with pytest.raises(MediaError, match="bext"):
        read_bwf(plain)
