"""The CLI registers only the command that runs; the map of commands must name them all."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sfxkit.cli.app import COMMANDS, app_for

EXE = Path(sys.executable).with_name("sfxkit")


def _top_level_names() -> set[str]:
    import typer.main

    return set(typer.main.get_command(app_for([])).commands)  # type: ignore[attr-defined]


def test_every_registered_command_is_in_the_lazy_map():
    # A command a module registers but COMMANDS does not name would be "No such command" when
    # run (only its name's modules are imported), though `--help` lists it.
    assert _top_level_names() == set(COMMANDS)


def test_each_command_runs_with_only_its_own_modules():
    # `--help` of one command, in a fresh process: only the modules of that command load.
    for command in ("recommend", "index", "compare", "eval"):
        probe = (
            "import sys; from sfxkit.cli import main; code = main([sys.argv[1], '--help']); "
            "print(' '.join(m for m in sys.modules if m.startswith('sfxkit.cli.'))); "
            "raise SystemExit(code)"
        )
        proc = subprocess.run(
            [sys.executable, "-c", probe, command], capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, proc.stderr
        loaded = set(proc.stdout.split("\n")[-2].split())
        own = set(COMMANDS[command]) | {"sfxkit.cli.app", "sfxkit.cli.output", "sfxkit.cli.options"}
        assert set(COMMANDS[command]) <= loaded <= own, (command, loaded - own)
        assert "Usage: sfxkit " + command in proc.stdout


def test_help_and_unknown_commands_still_see_every_command():
    proc = subprocess.run([str(EXE), "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0
    for command in COMMANDS:
        assert command in proc.stdout
    typo = subprocess.run([str(EXE), "recomend", "x"], capture_output=True, text=True, timeout=60)
    assert typo.returncode == 2
    assert "No such command 'recomend'" in typo.stderr and "recommend" in typo.stderr.split("?")[0]
    debug_first = subprocess.run(
        [str(EXE), "--debug", "recommend"], capture_output=True, text=True, timeout=60
    )
    assert debug_first.returncode == 2 and "missing argument 'query'" in debug_first.stderr.lower()
