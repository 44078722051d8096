"""The one way tests run sfxkit's command line.

``sfxkit(...)``: the installed entry point in a subprocess (what a user runs: exit codes, one-line
errors, signals, help). ``in_process(capsys, ...)``: ``sfxkit.cli.main`` in this process, for the
many tests that only need a command's output and are not about the process itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SFXKIT = Path(sys.executable).with_name("sfxkit")


def sfxkit(
    *args: object,
    cwd: str | Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 300,
    **kwargs: Any,
) -> subprocess.CompletedProcess[str]:
    """Run ``sfxkit ARGS`` through the installed entry point; never raises on a non-zero exit."""
    return subprocess.run(
        [str(SFXKIT), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "SFXKIT_PROGRESS": "0", **(env or {})},
        timeout=timeout,
        check=False,
        **kwargs,
    )


def in_process(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    """``sfxkit ARGS`` through ``sfxkit.cli.main`` here: (exit code, stdout, stderr)."""
    from sfxkit.cli import main

    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err
