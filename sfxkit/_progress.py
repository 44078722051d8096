"""One progress helper for long work (tqdm on stderr; off when not wanted)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def progress_enabled(enabled: bool | None = None) -> bool:
    if enabled is not None:
        return enabled
    if os.environ.get("SFXKIT_PROGRESS", "").lower() in {"0", "false", "off"}:
        return False
    return sys.stderr.isatty()


def track(
    iterable: Iterable[T],
    *,
    total: int | None = None,
    desc: str = "",
    unit: str = "it",
    enabled: bool | None = None,
) -> Iterator[T]:
    """Iterate with a progress bar when enabled (default: when stderr is a terminal)."""
    if not progress_enabled(enabled):
        yield from iterable
        return
    from tqdm.auto import tqdm

    yield from tqdm(iterable, total=total, desc=desc, unit=unit, dynamic_ncols=True)
