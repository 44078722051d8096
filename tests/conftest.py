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


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees an empty sfxkit cache, so nothing leaks from the developer's machine."""
    monkeypatch.setenv("SFXKIT_CACHE", str(tmp_path_factory.mktemp("sfxkit-cache")))
    if not os.environ.get("SFXKIT_REAL_WEIGHTS_TEST"):
        monkeypatch.delenv("SFXKIT_WEIGHTS_DIR", raising=False)


@pytest.fixture(autouse=True)
def _seeded() -> None:
    random.seed(0)
    np.random.seed(0)
