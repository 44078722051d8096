"""`sfxkit.generate` and `sfxkit generate` end to end with the tiny (untrained) MMAudio variants:
video / image / text in, a waveform of exactly the requested length out."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import sfxkit
from sfxkit.errors import InputError, MediaError, WeightsMissingError
from sfxkit.generation import GeneratedSound, Generator, MMAudioGenerator
from tests import synth
from tests.generation.tiny_threads import one_torch_thread  # noqa: F401 (autouse)

STEPS = 2


@pytest.fixture(scope="module")
def gen16() -> MMAudioGenerator:
    return MMAudioGenerator("tiny_16k")


@pytest.fixture(scope="module")
def gen44() -> MMAudioGenerator:
    return MMAudioGenerator("tiny_44k")


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("videos")
    return {
        "3s": synth.make_video(root / "three.mp4", [("red", 1.5), ("circle", 1.5)], moving=True),
        "8s": synth.make_video(root / "eight.mp4", [("checker", 8.0)], fps=24),
        "3.5s_same": synth.make_video(root / "same.mp4", [("red", 3.5)], fps=24),
        "3.5s_change": synth.make_video(
            root / "change.mp4", [("red", 2.5), ("stripes", 1.0)], fps=24
        ),
    }


def test_generator_protocol_and_untrained_label(gen16: MMAudioGenerator) -> None:
    assert isinstance(gen16, Generator)
    sound = gen16.generate(prompt="rain on a tin roof", duration=2.0, steps=STEPS)
    assert isinstance(sound, GeneratedSound)
    p = sound.provenance
    assert p["untrained"] is True and sound.untrained
    assert p["variant"] == "tiny_16k" and p["model"] == "mmaudio"
    assert p["weights_licence"] is None  # no real weights involved
    assert p["source"] == "text" and p["prompt"] == "rain on a tin roof"
    assert (p["steps"], p["cfg_strength"], p["seed"]) == (STEPS, 4.5, 42)
    assert sound.waveform.dtype == np.float32
    assert np.all(np.isfinite(sound.waveform)) and float(np.abs(sound.waveform).max()) <= 1.0
    assert float(np.abs(sound.waveform).mean()) > 1e-4  # a signal, not silence


def _check_length(sound: GeneratedSound, seconds: float, sr: int, windows: int) -> None:
    assert sound.sample_rate == sr
    assert sound.waveform.shape == (1, round(seconds * sr))
    assert sound.duration == pytest.approx(seconds, abs=1e-6)
    assert sound.provenance["windows"] == windows


def test_three_second_video_runs_as_one_shorter_window(
    gen44: MMAudioGenerator, videos: dict[str, Path]
) -> None:
    sound = gen44.generate(videos["3s"], steps=STEPS)  # duration=None: the whole video
    _check_length(sound, 3.04, 44_100, 1)
    assert sound.provenance["source"] == "video"


def test_eight_second_request_is_one_full_window(gen44: MMAudioGenerator) -> None:
    sound = gen44.generate(prompt="thunder", steps=1)  # text/image default: 8 s
    _check_length(sound, 8.0, 44_100, 1)


def test_nineteen_seconds_run_in_three_crossfaded_windows(gen16: MMAudioGenerator) -> None:
    sound = gen16.generate(image=synth.draw_frame("checker"), duration=19.0, steps=1)
    _check_length(sound, 19.0, 16_000, 3)


@pytest.mark.slow
@pytest.mark.parametrize(("seconds", "windows"), [(8.0, 1), (19.0, 3)])
def test_long_videos_have_exact_length(
    gen16: MMAudioGenerator, tmp_path: Path, seconds: float, windows: int
) -> None:
    scenes = [("red", seconds // 2), ("circle", seconds - seconds // 2)]  # whole frames at 25 fps
    video = synth.make_video(tmp_path / "long.mp4", scenes)
    _check_length(gen16.generate(video, steps=STEPS), seconds, 16_000, windows)


def test_each_window_is_conditioned_on_its_own_frames(videos: dict[str, Path]) -> None:
    # 2 s windows with 0.5 s overlap (cheap stand-ins for the 8 s ones): [0, 2], [1.5, 3.5].
    # Both videos are red for 2.5 s; the second then turns to stripes. With the same seed the
    # first window is identical, so the audio before the first crossfade (1.5-2 s) must match to
    # the sample, while the window that sees the stripes must differ.
    gen = MMAudioGenerator("tiny_16k", window=2.0, overlap=0.5)
    a = gen.generate(videos["3.5s_same"], steps=STEPS, seed=3)
    b = gen.generate(videos["3.5s_change"], steps=STEPS, seed=3)
    assert a.provenance["windows"] == 2
    sr = 16_000
    assert a.waveform.shape == b.waveform.shape == (1, 56_000)
    np.testing.assert_array_equal(a.waveform[:, : int(1.5 * sr)], b.waveform[:, : int(1.5 * sr)])
    assert float(np.abs(a.waveform[:, 2 * sr :] - b.waveform[:, 2 * sr :]).mean()) > 1e-4


def test_start_and_duration_select_a_slice(
    gen44: MMAudioGenerator, videos: dict[str, Path]
) -> None:
    sound = gen44.generate(videos["8s"], start=2.5, duration=3.3, steps=1)
    assert sound.waveform.shape == (1, round(3.3 * 44_100))
    assert sound.provenance["start"] == 2.5
    short = gen44.generate(videos["8s"], start=7.6, steps=1)  # the last 0.4 s: runs 1 s, trimmed
    assert short.waveform.shape == (1, round(0.4 * 44_100))
    with pytest.raises(InputError, match="past the end"):
        gen44.generate(videos["8s"], start=9.0, steps=1)


def test_same_seed_same_audio_different_seed_different(gen16: MMAudioGenerator) -> None:
    a = gen16.generate(prompt="door slam", duration=1.5, steps=STEPS, seed=5).waveform
    b = gen16.generate(prompt="door slam", duration=1.5, steps=STEPS, seed=5).waveform
    c = gen16.generate(prompt="door slam", duration=1.5, steps=STEPS, seed=6).waveform
    np.testing.assert_array_equal(a, b)
    assert float(np.abs(a - c).mean()) > 1e-4


def test_prompt_image_and_text_paths_differ(gen16: MMAudioGenerator, tmp_path: Path) -> None:
    from PIL import Image

    img_path = tmp_path / "still.png"
    Image.fromarray(synth.draw_frame("circle", 96)).save(img_path)
    text = gen16.generate(prompt="wind", duration=2.0, steps=STEPS)
    other = gen16.generate(prompt="a dog barking", duration=2.0, steps=STEPS)
    image = gen16.generate(image=img_path, prompt="wind", duration=2.0, steps=STEPS)
    array = gen16.generate(
        image=synth.draw_frame("circle", 96), prompt="wind", duration=2.0, steps=STEPS
    )
    assert image.provenance["source"] == "image" and image.provenance["input"] == str(img_path)
    assert image.waveform.shape == text.waveform.shape == (1, 32_000)
    assert float(np.abs(text.waveform - other.waveform).mean()) > 1e-4  # the prompt matters
    assert float(np.abs(text.waveform - image.waveform).mean()) > 1e-4  # the picture matters
    np.testing.assert_array_equal(image.waveform, array.waveform)  # path or pixels: same input
    assert text.duration == 2.0


def test_save_writes_24_bit_wav(gen16: MMAudioGenerator, tmp_path: Path) -> None:
    import soundfile as sf

    sound = gen16.generate(prompt="click", duration=1.0, steps=1)
    path = sound.save(tmp_path / "out" / "click.wav")
    info = sf.info(str(path))
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (
        16_000,
        1,
        16_000,
        "PCM_24",
    )
    data, _ = sf.read(str(path), dtype="float32")
    np.testing.assert_allclose(data, sound.waveform[0], atol=2e-6)
    assert sorted(p.name for p in path.parent.iterdir()) == ["click.wav"]


def test_unreadable_video_is_a_media_error(gen16: MMAudioGenerator, tmp_path: Path) -> None:
    junk = tmp_path / "broken.mp4"
    junk.write_bytes(b"\x00\x00\x00 this is not a video" * 50)
    with pytest.raises(MediaError) as err:
        gen16.generate(junk, steps=1)
    assert str(junk) in str(err.value)
    with pytest.raises(MediaError, match="missing.mp4"):
        gen16.generate(tmp_path / "missing.mp4", steps=1)


def test_bad_arguments_are_input_errors(gen16: MMAudioGenerator, videos: dict[str, Path]) -> None:
    with pytest.raises(InputError, match="not both"):
        gen16.generate(videos["3s"], image=synth.draw_frame("red"), steps=1)
    with pytest.raises(InputError, match="duration"):
        gen16.generate(prompt="x", duration=-1.0, steps=1)


def test_missing_weights_error_names_file_and_pull_command() -> None:
    with pytest.raises(WeightsMissingError) as err:
        sfxkit.generate(prompt="rain", variant="large_44k_v2", steps=1)
    msg = str(err.value)
    assert "mmaudio_large_44k_v2.pth" in msg
    assert "sfxkit models pull mmaudio:large_44k_v2" in msg


def test_unknown_variant_lists_variants() -> None:
    from sfxkit.errors import ModelError

    with pytest.raises(ModelError, match="small_16k.*large_44k_v2"):
        sfxkit.generate(prompt="rain", variant="giant_96k")


def test_module_function_caches_the_model() -> None:
    from sfxkit.generation.mmaudio.pipeline import get_generator

    a = sfxkit.generate(prompt="hum", duration=1.0, variant="tiny_16k", steps=1, device="cpu")
    g1 = get_generator("tiny_16k", device="cpu")
    b = sfxkit.generate(prompt="hum", duration=1.0, variant="tiny_16k", steps=1, device="cpu")
    assert get_generator("tiny_16k", device="cpu") is g1
    np.testing.assert_array_equal(a.waveform, b.waveform)


# ----------------------------------------------------------------------------------------- CLI


def test_cli_writes_wav_and_muxed_video(
    videos: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import av
    import soundfile as sf

    from sfxkit.cli import main

    out, muxed = tmp_path / "sound.wav", tmp_path / "with_sound.mp4"
    rc = main(
        [
            "generate",
            str(videos["3s"]),
            "--out",
            str(out),
            "--mux",
            str(muxed),
            "--variant",
            "tiny_44k",
            "--steps",
            "1",
            "--prompt",
            "footsteps",
            "--seed",
            "7",
        ]
    )
    printed = capsys.readouterr().out
    assert rc == 0
    assert sf.info(str(out)).frames == round(3.04 * 44_100)
    with av.open(str(muxed)) as c:
        assert len(c.streams.video) == 1 and len(c.streams.audio) == 1
    assert "tiny untrained model" in printed
    assert "prompt: footsteps" in printed and "seed: 7" in printed


def test_cli_reports_missing_video_and_missing_weights(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sfxkit.cli import main

    rc = main(
        [
            "generate",
            str(tmp_path / "nope.mp4"),
            "--out",
            str(tmp_path / "x.wav"),
            "--variant",
            "tiny_16k",
        ]
    )
    assert rc == 2
    assert "nope.mp4" in capsys.readouterr().err
    rc = main(
        ["generate", "--prompt", "rain", "--out", str(tmp_path / "x.wav"), "--variant", "small_16k"]
    )
    assert rc == 4
    assert "sfxkit models pull mmaudio:small_16k" in capsys.readouterr().err
    assert not (tmp_path / "x.wav").exists()


@pytest.mark.real_weights
@pytest.mark.skipif(
    not os.environ.get("SFXKIT_REAL_WEIGHTS_TEST"),
    reason="needs the MMAudio small_16k files in SFXKIT_WEIGHTS_DIR and SFXKIT_REAL_WEIGHTS_TEST=1",
)
def test_real_small_16k_checkpoint_generates(tmp_path: Path) -> None:
    video = synth.make_video(tmp_path / "v.mp4", [("circle", 2.0)], moving=True)
    sound = sfxkit.generate(video, prompt="a ball rolling", variant="small_16k", steps=10)
    assert not sound.untrained
    assert sound.provenance["weights_licence"] == "CC-BY-NC-4.0"
    assert sound.waveform.shape == (1, 32_000)
    assert 1e-4 < float(np.sqrt(np.mean(sound.waveform**2))) < 0.9
