"""Fixtures for the report tests: one torch thread and one compare() run shared by the module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import synth


@pytest.fixture(autouse=True, scope="package")
def _one_thread() -> Iterator[None]:
    # Tiny models gain nothing from threads; idle OpenMP workers slow a shared machine down.
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="package")
def two_shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report-video")
    return synth.make_video(root / "two.mp4", [("stripes", 1.4), ("circle", 1.2)], moving=True)


@pytest.fixture(scope="package")
def report(tiny_index, two_shots: Path, tmp_path_factory: pytest.TempPathFactory):
    from sfxkit import compare

    out = tmp_path_factory.mktemp("report") / "report.html"
    return compare(two_shots, tiny_index[0], out=out, k=2, variant="tiny_16k", steps=2)
