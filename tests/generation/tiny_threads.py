"""A fixture for test modules that run the tiny MMAudio models.

The tiny models are far too small to gain from threads, and on a shared machine idle OpenMP
workers spinning against other processes made them several times slower. Import the fixture into
a test module (it is autouse) to run that module's torch work on one thread.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread() -> Iterator[None]:
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
