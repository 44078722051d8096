"""Test media for delivery: videos that carry a start timecode, synthetic 5.1 material."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np


def video_with_timecode(
    path: Path,
    tc: str | None,
    *,
    fps: Fraction = Fraction(25),
    frames: int = 10,
    where: str = "container",
) -> Path:
    """A small H.264 video whose start timecode is ``tc``.

    ``where="container"`` in .mov/.mp4 makes FFmpeg's muxer write a ``tmcd`` timecode track (the
    way cameras and editors record it); in .mkv a ``TIMECODE`` tag on the video stream.
    """
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        if tc is not None:
            (c.metadata if where == "container" else s.metadata)["timecode"] = tc
        img = np.zeros((48, 64, 3), np.uint8)
        for i in range(frames):
            img[:, :, 0] = (i * 20) % 255
            for pk in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(pk)
        for pk in s.encode(None):
            c.mux(pk)
    return path
