"""Mixing a timeline: target loudness, true-peak ceiling, placement and shot-boundary crossfades."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sfxkit.delivery.mix import mix_timeline
from sfxkit.delivery.timeline import Cue, Layer, Timeline
from sfxkit.errors import InputError, MediaError
from sfxkit.media.loudness import integrated_loudness, peak_dbfs, true_peak_dbtp
from tests.synth import clicks, noise, tone

SR = 48_000
NC = "CC-BY-NC-4.0"


def three_cue_timeline(sr: int = SR) -> Timeline:
    """Rain-like noise, a 0.3 s click shot, then a tone blended with a generated noise layer."""
    rain = Layer(
        "retrieved",
        noise(3.0, sr, channels=2, amp=0.9, seed=1, band=(300, 6000)),
        sr,
        source={"id": "rain_01", "title": "Rain on roof"},
        licence="CC0",
    )
    click = Layer(
        "retrieved", clicks(0.3, 8, sr, amp=0.9), sr, source={"id": "click_07"}, licence="CC-BY-4.0"
    )
    hum = Layer(
        "retrieved", tone(110, 1.7, sr, amp=0.05), sr, source={"id": "hum_3"}, licence="CC0"
    )
    gen = Layer(
        "generated",
        noise(1.7, 16_000, amp=0.2, seed=2),
        16_000,
        source={"generator": "mmaudio", "variant": "small_16k", "seed": 42},
        licence=NC,
        non_commercial=True,
        gain_db=-3.0,
    )
    cues = (
        Cue(0, 0.0, 2.0, "retrieve", "clip 0.41 > 0.30", {"score": 0.41}, (rain,)),
        Cue(1, 2.0, 2.3, "retrieve", "click", {"score": 0.5}, (click,)),
        Cue(2, 2.3, 4.0, "blend", "weak match", {"score": 0.22}, (hum, gen)),
    )
    return Timeline("movie.mp4", 4.0, sr, 2, cues, fps=25.0)


@pytest.mark.parametrize("target", [-23.0, -14.0])
def test_mix_hits_target_under_the_true_peak_ceiling(target: float) -> None:
    tl = three_cue_timeline()
    mix, stems = mix_timeline(tl, target_lufs=target, true_peak=-1.0)
    assert mix.shape == (2, 4 * SR)  # the video duration, to the sample
    assert integrated_loudness(mix, SR) == pytest.approx(target, abs=0.5)
    assert true_peak_dbtp(mix, SR) <= -1.0
    assert [s.name for s in stems] == [
        "shot_000_retrieve.wav",
        "shot_001_retrieve.wav",
        "shot_002_blend.wav",
    ]
    # Each stem sits at its cue (minus the crossfade lead-in), and the mix is the stems' sum
    # with only gain reduction from the limiter on top: same sign, never louder.
    total = np.zeros_like(mix)
    for stem, cue in zip(stems, tl.cues, strict=True):
        assert stem.offset + stem.head == round(cue.start * SR)
        total[:, stem.offset : stem.offset + stem.audio.shape[1]] += stem.audio
    audible = np.abs(total) > 1e-3
    ratio = mix[audible] / total[audible]
    assert ratio.min() > 0 and ratio.max() <= 1.0 + 1e-3
    assert float(np.corrcoef(mix.ravel(), total.ravel())[0, 1]) > 0.98


def test_short_click_cue_is_levelled_by_peak() -> None:
    # The 0.3 s click shot has no 400 ms gating block: it is levelled by its sample peak (default
    # target + 12 dB), while the long shots around it sit at the target loudness.
    for short_peak, expected in ((None, -23.0 + 12.0), (-20.0, -20.0)):
        mix, _ = mix_timeline(three_cue_timeline(), short_peak_db=short_peak)
        click = mix[:, int(2.05 * SR) : int(2.25 * SR)]
        assert peak_dbfs(click) == pytest.approx(expected, abs=1.0)
        assert integrated_loudness(mix[:, : 2 * SR], SR) == pytest.approx(-23.0, abs=0.5)


def test_shot_boundary_is_an_equal_power_crossfade() -> None:
    # Two shots of independent noise at the same loudness: no dip or bump across the cut.
    a = Layer("retrieved", noise(3.0, channels=2, amp=0.3, seed=3), SR)
    b = Layer("retrieved", noise(3.0, channels=2, amp=0.3, seed=4), SR)
    tl = Timeline(
        "v.mp4",
        4.0,
        SR,
        2,
        (Cue(0, 0, 2, "retrieve", layers=(a,)), Cue(1, 2, 4, "retrieve", layers=(b,))),
    )
    mix, _ = mix_timeline(tl, crossfade=0.1)
    db = lambda x: 10 * np.log10(np.mean(np.asarray(x, np.float64) ** 2))  # noqa: E731
    steady = db(mix[:, SR : int(1.5 * SR)])
    half = int(0.05 * SR)
    # After the cut both sounds play: equal power keeps 0 dB (a linear fade would sag 1.76 dB).
    assert db(mix[:, 2 * SR : 2 * SR + half]) - steady == pytest.approx(0.0, abs=0.5)
    # Before the cut only the outgoing sound has material (the incoming one starts in sync at
    # the cut), so it eases towards -3 dB at the cut and no further: no hole, no bump.
    assert -1.5 < db(mix[:, 2 * SR - half : 2 * SR]) - steady < 0.5


def test_silent_cues_and_empty_timeline() -> None:
    tl = Timeline("v.mp4", 2.5, SR, 1, (Cue(0, 0.0, 2.5, "silence", "nothing fits"),))
    mix, stems = mix_timeline(tl)
    assert mix.shape == (1, int(2.5 * SR)) and not np.any(mix) and stems == ()


def test_timeline_validates_and_round_trips(tmp_path: Path) -> None:
    tl = three_cue_timeline()
    path = tl.save(tmp_path / "plan")
    again = Timeline.load(path)
    assert again == tl
    assert again.cues[2].layers[1].non_commercial and again.non_commercial
    assert (
        "samples" in path.read_text() and "waveform" not in path.read_text()
    )  # audio by reference
    (tmp_path / "plan" / tl.cues[0].layer_name(0)).unlink()
    with pytest.raises(MediaError, match="shot_000_L0_retrieved.wav"):
        Timeline.load(path)
    with pytest.raises(InputError, match="use one of"):
        Cue(0, 0, 1, "guess")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="after the video"):
        Timeline("v.mp4", 1.0, SR, 2, (Cue(0, 0.5, 2.0, "silence"),))
