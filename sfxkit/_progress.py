"""One progress style for all long work, on stderr.

- In a terminal: one live tqdm bar per stage, removed when the stage ends (nothing stale is left).
- Elsewhere (a log file, a pipe, CI): plain lines, ``ingest: 120/400 (30%)``, at the start,
  at most every ``SFXKIT_PROGRESS_INTERVAL`` seconds (default 10) and once at the end of a stage.
- ``SFXKIT_PROGRESS=0`` (or ``enabled=False``) turns it off; ``SFXKIT_PROGRESS=1`` forces it on.

A stage started inside another one (the encoder's own batches inside "embedding clap_audio")
stays silent: the outer stage already reports the work.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

DEFAULT_INTERVAL = 10.0
_OFF = {"0", "false", "off", "no"}
_ON = {"1", "true", "on", "yes"}
_active = threading.local()


def progress_enabled(enabled: bool | None = None) -> bool:
    """``enabled`` when given; else off when SFXKIT_PROGRESS=0, otherwise on."""
    if enabled is not None:
        return enabled
    return os.environ.get("SFXKIT_PROGRESS", "").strip().lower() not in _OFF


def _interval() -> float:
    try:
        return max(0.0, float(os.environ.get("SFXKIT_PROGRESS_INTERVAL", DEFAULT_INTERVAL)))
    except ValueError:
        return DEFAULT_INTERVAL


def _live() -> bool:
    return sys.stderr is not None and sys.stderr.isatty()


@contextmanager
def _claim(enabled: bool | None) -> Iterator[bool]:
    """Whether this stage reports (enabled and not nested in a reporting stage)."""
    depth = getattr(_active, "depth", 0)
    show = depth == 0 and progress_enabled(enabled)
    _active.depth = depth + 1
    try:
        yield show
    finally:
        _active.depth = depth


def _line(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def track(
    iterable: Iterable[T],
    *,
    total: int | None = None,
    desc: str = "",
    unit: str = "it",
    enabled: bool | None = None,
) -> Iterator[T]:
    """Iterate, reporting progress of the stage ``desc`` (see the module docstring)."""
    with _claim(enabled) as show:
        if not show:
            yield from iterable
            return
        if total is None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        if _live():
            from tqdm import tqdm

            yield from tqdm(
                iterable, total=total, desc=desc, unit=unit, leave=False, dynamic_ncols=True
            )
            return
        yield from _plain(iterable, total, desc)


def _plain(iterable: Iterable[T], total: int | None, desc: str) -> Iterator[T]:
    if total is not None and total <= 1:  # a one-step stage has no progress to show
        yield from iterable
        return

    def report(done: int, end: str = "") -> None:
        of = f"/{total} ({100 * done // total}%)" if total else ""
        _line(f"{desc}: {done}{of}{end}")

    start = last = time.monotonic()
    interval = _interval()
    report(0)
    done = 0
    for item in iterable:
        yield item
        done += 1
        now = time.monotonic()
        if now - last >= interval and (total is None or done < total):
            report(done)
            last = now
    report(done, f" in {time.monotonic() - start:.1f} s")


@contextmanager
def stage(desc: str, *, enabled: bool | None = None) -> Iterator[None]:
    """Report one step without a count ("loading MMAudio large_44k_v2"): a transient line in
    a terminal, a start and an end line elsewhere (there also inside a counted stage)."""
    live = _live()
    with _claim(enabled) as show:
        if not show and (live or not progress_enabled(enabled)):
            yield
            return
        start = time.monotonic()
        if live:
            sys.stderr.write(f"{desc} ...")
            sys.stderr.flush()
        else:
            _line(f"{desc} ...")
        try:
            yield
        finally:
            if live:
                sys.stderr.write("\r\x1b[2K")
                sys.stderr.flush()
        if not live:
            _line(f"{desc}: done in {time.monotonic() - start:.1f} s")


@contextmanager
def third_party_bars_off() -> Iterator[None]:
    """No progress bars from transformers or huggingface_hub inside the block.

    transformers draws a tqdm "Loading weights ... 555/555" bar for every ``from_pretrained``,
    whatever sfxkit was told: ``--no-progress``, ``SFXKIT_PROGRESS=0`` and logs got it too.
    Loading a model is not a stage of sfxkit's (it takes seconds), so its bars are switched
    off through the libraries' own switches and put back as they were afterwards.
    """
    restore: list[Callable[[], None]] = []
    try:
        from transformers.utils import logging as tf_logging

        if tf_logging.is_progress_bar_enabled():
            tf_logging.disable_progress_bar()
            restore.append(tf_logging.enable_progress_bar)
    except ImportError:
        pass
    try:
        from huggingface_hub import utils as hub

        if not hub.are_progress_bars_disabled():
            hub.disable_progress_bars()
            restore.append(hub.enable_progress_bars)
    except ImportError:
        pass
    try:
        yield
    finally:
        for undo in reversed(restore):
            undo()
