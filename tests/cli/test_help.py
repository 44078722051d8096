"""Every command's --help, through the installed entry point: the help texts print what their
source says (no markup eats `[distributed]`), in the plain shape of a Unix tool's help."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import typer

from sfxkit.cli.app import app_for

EXE = Path(sys.executable).with_name("sfxkit")


def _commands() -> dict[tuple[str, ...], list[str]]:
    """Each command path and the help strings its source gives (command and parameters)."""
    out: dict[tuple[str, ...], list[str]] = {}
    stack: list[tuple[tuple[str, ...], object]] = [((), typer.main.get_command(app_for([])))]
    while stack:
        path, cmd = stack.pop()
        texts = [cmd.help or ""] + [getattr(p, "help", None) or "" for p in cmd.params]
        out[path] = [t for t in texts if t]
        for name, sub in (getattr(cmd, "commands", None) or {}).items():
            stack.append(((*path, name), sub))
    return out


COMMANDS = _commands()


def _help(path: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EXE), *path, "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "100"},
        timeout=120,
    )


@pytest.fixture(scope="module")
def helps() -> dict[tuple[str, ...], str]:
    with ThreadPoolExecutor(4) as pool:
        done = dict(zip(COMMANDS, pool.map(_help, COMMANDS), strict=True))
    for path, proc in done.items():
        assert proc.returncode == 0, (path, proc.stderr)
    return {path: proc.stdout for path, proc in done.items()}


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_the_walk_finds_every_area():
    # The walk below must see the sub-commands, or the tests would check only the root.
    assert {("index", "build"), ("recommend",), ("bridge", "mine"), ("models", "pull")} <= set(
        COMMANDS
    )


@pytest.mark.slow  # one entry-point run per command (~20), ~40 s on a loaded machine
def test_every_bracket_in_a_help_text_is_printed(helps):
    brackets = {
        path: [b for text in texts for b in re.findall(r"\[[^\]\n]*\]", text)]
        for path, texts in COMMANDS.items()
    }
    assert "[distributed]" in brackets[("index", "build")]  # the one rich used to swallow
    missing = {
        " ".join(path) or "sfxkit": [b for b in found if _flat(b) not in _flat(helps[path])]
        for path, found in brackets.items()
    }
    assert not {k: v for k, v in missing.items() if v}
    assert "pip install 'sfxkit[distributed]'" in _flat(helps[("index", "build")])


def test_build_help_prints_the_extra_to_install():
    proc = _help(("index", "build"))
    assert proc.returncode == 0
    assert "pip install 'sfxkit[distributed]'" in _flat(proc.stdout)


@pytest.mark.parametrize(
    ("path", "usage", "lines"),
    [
        (
            ("index", "build"),
            "Usage: sfxkit index build [OPTIONS] FOLDER",
            ["-o, --out PATH", "--json ", "--progress / --no-progress ", "--engine TEXT"],
        ),
        (
            ("recommend",),
            "Usage: sfxkit recommend [OPTIONS] QUERY",
            ["-k, --top-k INTEGER", "--text ", "--category TEXT", "--min-duration FLOAT"],
        ),
        (("bridge", "mine"), "Usage: sfxkit bridge mine [OPTIONS] INDEX VIDEOS...", []),
    ],
)
def test_help_reads_like_a_unix_tools(path, usage, lines):
    proc = _help(path)
    assert proc.returncode == 0
    out = proc.stdout
    assert out.splitlines()[0] == usage
    for line in lines:  # flags without a value name, values named as man pages name them
        assert any(x.strip().startswith(line.strip()) for x in out.splitlines())
    assert not re.search(r"<\w[^>]*>|\{\w+\}|[╭│╰]", out), out


@pytest.mark.slow  # ~20 entry-point runs
def test_no_help_shows_typer_placeholders(helps):
    bad = {
        " ".join(p): re.findall(r"<(?:bool|str|int|float|path|list)[^>]*>|\{\w+\}", out)
        for p, out in helps.items()
    }
    assert not {k: v for k, v in bad.items() if v}
