"""Test-wide settings: offline, a private cache, no progress bars, seeded."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest

os.environ.setdefault("SFXKIT_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("SFXKIT_PROGRESS", "0")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

if not os.environ.get("SFXKIT_REAL_WEIGHTS_TEST"):
    # Session fixtures (the shared tiny index) are built before the per-test cache below is in
    # place: give the whole run a private cache and no weights directory from the start, so
    # weights pulled on this machine (~/.cache/sfxkit) never change what a test builds.
    import atexit
    import shutil
    import tempfile

    os.environ["SFXKIT_CACHE"] = _run_cache = tempfile.mkdtemp(prefix="sfxkit-test-cache-")
    atexit.register(shutil.rmtree, _run_cache, ignore_errors=True)
    os.environ.pop("SFXKIT_WEIGHTS_DIR", None)


@pytest.fixture(autouse=True)
def _isolated_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each test sees an empty sfxkit cache, so nothing leaks from the developer's machine."""
    monkeypatch.setenv("SFXKIT_CACHE", str(tmp_path_factory.mktemp("sfxkit-cache")))
    if not os.environ.get("SFXKIT_REAL_WEIGHTS_TEST"):
        monkeypatch.delenv("SFXKIT_WEIGHTS_DIR", raising=False)


@pytest.fixture(autouse=True)
def _private_hub_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty Hugging Face cache per test: weights on the developer's machine never count."""
    if os.environ.get("SFXKIT_REAL_WEIGHTS_TEST"):
        return
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path_factory.mktemp("hf-hub-cache")))


@pytest.fixture(autouse=True)
def _seeded() -> None:
    random.seed(0)
    np.random.seed(0)


# ----------------------------------------------------------------------------- core fixtures
def make_sfx_library(root):
    """A small SFX folder in mixed formats with one corrupt file, one duplicate, one UCS name,
    a silent file and a sidecar CSV. Returns the folder path."""
    from pathlib import Path

    from tests import synth

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    # the duplicate: the same 16-bit PCM in two containers (pre-quantised so both writers agree)
    rain = np.round(synth.noise(2.0, channels=2, band=(2000, 9000), seed=1) * 32767) / 32768
    synth.write_audio(root / "weather" / "rain_heavy.wav", rain)
    synth.write_audio(root / "weather" / "copies" / "rain_again.flac", rain)
    synth.write_audio(root / "foley" / "footsteps_gravel.flac", synth.clicks(3.0, 2.0))
    synth.write_audio(
        root / "vehicles" / "engine_idle.ogg", synth.tone(80, 2.5) + synth.tone(160, 2.5, amp=0.2)
    )
    synth.write_audio(root / "ui" / "beep_short.mp3", synth.tone(1000, 0.6, sr=44_100), sr=44_100)
    synth.write_audio(
        root / "DOORWood_Creak Open Slow_JD_TestLib.wav", synth.noise(1.5, band=(200, 1200), seed=3)
    )
    synth.write_audio(root / "glass" / "glass_break.aiff", synth.noise(1.0, seed=4, amp=0.9))
    synth.write_audio(root / "misc" / "room_tone_silent.wav", synth.tone(100, 1.0, amp=0.0))
    synth.write_audio(
        root / "water" / "stream_flowing.wav", synth.noise(2.0, band=(300, 3000), seed=5), sr=44_100
    )
    (root / "misc" / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(range(200)))
    (root / "notes.txt").write_text("not audio")
    (root / "sfxkit.csv").write_text(
        "file,title,licence,category,tags\n"
        'vehicles/engine_idle.ogg,Car engine idling,CC0,VEHICLES,"car,engine,idle"\n'
        'glass/glass_break.aiff,Glass window smash,CC-BY-4.0,GLASS,"glass,break"\n'
    )
    return root


@pytest.fixture(scope="session")
def sfx_library(tmp_path_factory: pytest.TempPathFactory):
    return make_sfx_library(tmp_path_factory.mktemp("sfx") / "library")


@pytest.fixture(scope="session")
def tiny_index(sfx_library, tmp_path_factory: pytest.TempPathFactory):
    """An index over ``sfx_library`` built once with the tiny encoders (read-only for tests)."""
    from sfxkit.index.build import build_index

    out = tmp_path_factory.mktemp("idx") / "index"
    report = build_index(sfx_library, out, models="tiny", progress=False)
    return out, report
