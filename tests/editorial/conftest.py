"""Fixtures for the soundtrack stage: drawn videos with known shots and motion (three shots, a
late visual onset), one compare() report, and for the layered soundtrack a 4-shot, 2-scene drawn
video with three events in one shot over a tiny index of ambience beds and one-shot transients."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests import synth

_one_thread = pytest.fixture(autouse=True, scope="package")(synth.one_torch_thread)


def make_late_motion_video(
    path: Path, *, first: float = 1.2, still: float = 0.6, moving: float = 1.0, fps: int = 25
) -> Path:
    """Two shots: a still red one, then a still checker one in which a white square appears
    ``still`` seconds after the cut and moves right: the second shot's visual onset."""
    import av

    size = 64
    frames: list[np.ndarray] = [synth.draw_frame("red", size)] * int(round(first * fps))
    base = synth.draw_frame("checker", size)
    frames += [base] * int(round(still * fps))
    n = int(round(moving * fps))
    for i in range(n):
        img = base.copy()
        x0 = int((size - 12) * i / max(n - 1, 1))
        img[size // 2 - 6 : size // 2 + 6, x0 : x0 + 12] = 255
        frames.append(img)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.options = {"preset": "ultrafast", "crf": "18"}
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for img in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


@pytest.fixture(scope="package")
def three_shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three drawn shots of 1.5 s at 25 fps, each with a moving square, and a source audio track
    (which the soundtrack replaces)."""
    root = tmp_path_factory.mktemp("videos")
    return synth.make_video(
        root / "three.mp4",
        [("red", 1.5), ("checker", 1.5), ("circle", 1.5)],
        moving=True,
        audio=synth.tone(220, 4.5, channels=2, amp=0.1),
    )


@pytest.fixture(scope="package")
def two_shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report-video")
    return synth.make_video(root / "two.mp4", [("stripes", 1.4), ("circle", 1.2)], moving=True)


@pytest.fixture(scope="package")
def report(tiny_index, two_shots: Path, tmp_path_factory: pytest.TempPathFactory):
    from sfxkit import compare

    out = tmp_path_factory.mktemp("report") / "report.html"
    return compare(two_shots, tiny_index[0], out=out, k=2, variant="tiny_16k", steps=2)


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
    return build_layered(tmp_path_factory.mktemp("layered"))


def build_layered(root: Path) -> Layered:
    """Two scenes (street, sea) of two shots each, three visible events in shot 2, and a tiny
    index of two ambiences (AMB) and three one-shots."""
    from sfxkit.index.build import build_index

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
