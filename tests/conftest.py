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
from tests.synth import make_sfx_library  # noqa: E402  (shared with tests that build their own)


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
