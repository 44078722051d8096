"""Shared CLI output: one console, JSON printing, the untrained-model banner."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

UNTRAINED = (
    "NOTE: this index uses tiny UNTRAINED models (random weights, for tests): "
    "its scores and rankings are meaningless. Build with --models default for real results."
)


def untrained_banner() -> None:
    console.print(f"[bold yellow]{UNTRAINED}[/]")


def print_json(obj: Any) -> None:
    """``obj`` as JSON on stdout. A file name that is not UTF-8 is written readably (``\\xNN``),
    as everywhere else the CLI shows it: a lone surrogate is not valid JSON text."""
    from sfxkit._text import readable

    sys.stdout.write(
        json.dumps(_readable(obj), indent=2, default=lambda o: readable(str(o))) + "\n"
    )
    sys.stdout.flush()


def _readable(obj: Any) -> Any:
    from sfxkit._text import readable

    if isinstance(obj, str):
        return readable(obj)
    if isinstance(obj, dict):
        return {_readable(k): _readable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_readable(v) for v in obj]
    return obj
