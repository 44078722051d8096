"""Fixtures for the layered soundtrack: a 4-shot, 2-scene drawn video with three events in one
shot, and a tiny index over ambience beds and one-shot transients."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests import synth


@pytest.fixture(autouse=True, scope="package")
def _one_thread() -> Iterator[None]:
    # Tiny models gain nothing from threads (see tests/policy/conftest.py).
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def one_shot(seconds: float, *, seed: int, at: float = 0.05) -> np.ndarray:
    """A single decaying burst ``at`` s into ``seconds`` of silence: a knock, a tap."""
    n = int(round(seconds * synth.SR))
    x = np.zeros((1, n), dtype=np.float32)
    burst = synth.noise(0.25, seed=seed, amp=0.9)
    burst *= np.exp(-np.arange(burst.shape[1]) / (0.03 * synth.SR)).astype(np.float32)
    i = int(at * synth.SR)
    x[:, i : i + burst.shape[1]] = burst[:, : n - i]
    return x


@dataclass(frozen=True)
class Layered:
    video: Path
    cuts: list[float]
    events: list[float]
    index: Path


@pytest.fixture(scope="package")
def layered(tmp_path_factory: pytest.TempPathFactory) -> Layered:
    from sfxkit.build import build_index

    root = tmp_path_factory.mktemp("layered")
    video, cuts, events = synth.make_layered_video(root / "scenes.mp4")
    lib = root / "library"
    # Ambiences: long and filed under AMB (the UCS category); one-shots: short transients.
    synth.write_audio(lib / "street_traffic.wav", synth.tone(173, 8.0, amp=0.3))
    synth.write_audio(lib / "sea_waves.wav", synth.noise(8.0, band=(200, 2000), seed=7))
    synth.write_audio(lib / "door_knock.wav", one_shot(0.6, seed=1))
    synth.write_audio(lib / "glass_tap.wav", one_shot(0.5, seed=2))
    synth.write_audio(lib / "wood_hit.wav", one_shot(0.7, seed=3))
    (lib / "sfxkit.csv").write_text(
        "file,title,licence,category\n"
        "street_traffic.wav,Street traffic distant,CC0,AMB\n"
        "sea_waves.wav,Sea waves on a beach,CC0,AMB\n"
        "door_knock.wav,Door knock,CC0,DOORS\n"
        "glass_tap.wav,Glass tap,CC0,GLASS\n"
        "wood_hit.wav,Wood hit,CC0,WOOD\n"
    )
    index = root / "index"
    build_index(lib, index, models="tiny", progress=False)
    return Layered(video, cuts, events, index)
