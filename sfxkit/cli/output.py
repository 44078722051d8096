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
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
    sys.stdout.flush()
