"""Fixtures for the soundtrack tests: one torch thread, videos with known shots and motion."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests import synth


@pytest.fixture(autouse=True, scope="package")
def _one_thread() -> Iterator[None]:
    # Tiny models gain nothing from threads, and idle OpenMP workers spinning against other
    # processes on a shared machine made them several times slower.
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


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
