"""Root typer app, and which module owns each command.

Commands are registered lazily: a run imports only the module of the command it runs (so
``sfxkit recommend --server URL`` loads neither torch nor the other commands' modules); ``--help``,
a bare ``sfxkit`` or an unknown command name registers them all, so the listing and click's
"did you mean" see every command. ``app`` (attribute access) is the fully registered app.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import typer

root = typer.Typer(
    name="sfxkit",
    help="Sound effects for video: retrieve from an SFX catalog, generate with MMAudio, or blend.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Command name -> modules that define `register(app)`; each module owns its commands and flags.
COMMANDS: dict[str, tuple[str, ...]] = {
    "index": ("sfxkit.cli.index",),
    "recommend": ("sfxkit.cli.recommend",),
    "models": ("sfxkit.cli.models",),
    "generate": ("sfxkit.cli.generate",),
    "bridge": ("sfxkit.cli.bridge",),
    "soundtrack": ("sfxkit.cli.soundtrack",),
    "compare": ("sfxkit.cli.soundtrack",),
    "eval": ("sfxkit.cli.bridge",),
    "serve": ("sfxkit.cli.serve",),
}
# Options of the root callback that come before the command name.
_ROOT_FLAGS = {"--debug"}

_registered: set[str] = set()


def console_error(message: str) -> None:
    from sfxkit._text import readable

    # A message naming a file that is not UTF-8 must not crash a strict UTF-8 stderr.
    print(f"sfxkit: error: {readable(message)}", file=sys.stderr)


@root.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    """sfxkit command line."""


def _register(modules: tuple[str, ...] | list[str]) -> None:
    for name in modules:
        if name in _registered:
            continue
        # A module that fails to import is a packaging bug: let it raise, never drop the command.
        importlib.import_module(name).register(root)
        _registered.add(name)


def app_for(args: list[str]) -> typer.Typer:
    """The root app with the commands ``args`` can reach: only the named command's module
    when ``args`` names a known command, every command otherwise."""
    command = next((a for a in args if a not in _ROOT_FLAGS), None)
    if command in COMMANDS:
        _register(COMMANDS[command])
    else:
        _register([m for modules in COMMANDS.values() for m in modules])
    return root


def __getattr__(name: str) -> Any:
    if name == "app":
        return app_for([])
    raise AttributeError(f"module 'sfxkit.cli.app' has no attribute {name!r}")
