"""Root typer app, and which module owns each command.

Commands are registered lazily: a run imports only the module of the command it runs (so
``sfxkit recommend --server URL`` loads neither torch nor the other commands' modules); ``--help``,
a bare ``sfxkit`` or an unknown command name registers them all, so the listing and click's
"did you mean" see every command. ``app`` (attribute access) is the fully registered app.
"""

from __future__ import annotations

import importlib
import sys
import typing
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


def command_for(args: list[str]) -> Any:
    """The click command that runs ``args``, with help printed as a Unix tool prints it."""
    command = typer.main.get_command(app_for(args))
    plain_help(command)
    return command


# Value names in help, as click and most Unix tools print them (`--out PATH`, `-k INTEGER`).
_METAVARS = {"str": "TEXT", "int": "INTEGER", "float": "FLOAT", "bool": "BOOLEAN", "Path": "PATH"}


def plain_help(command: Any) -> None:
    """Help as plain text in the usual Unix shape: ``Usage: sfxkit index build [OPTIONS] FOLDER``,
    ``--out PATH``, flags without a value name.

    Rich markup is off for every command: help texts quote shell lines such as
    ``pip install 'sfxkit[distributed]'``, and rich read ``[distributed]`` as a style tag and
    printed nothing. Typer 0.29 also writes ``<bool>`` beside flags and ``{query}`` for required
    arguments; both are replaced by the conventions that man pages and click use.
    """
    stack = [command]
    while stack:
        cmd = stack.pop()
        stack.extend((getattr(cmd, "commands", None) or {}).values())
        if hasattr(cmd, "rich_markup_mode"):
            cmd.rich_markup_mode = None
        for param in cmd.params:
            _unix_value_name(param)


def _unix_value_name(param: Any) -> None:
    if param.param_type_name == "option":
        if param.metavar is not None:
            return
        if getattr(param, "is_flag", False) or getattr(param, "count", False):
            return
        descriptor = getattr(param, "type_descriptor", None)
        if descriptor is None:  # typer < 0.29: click's own value names are already plain
            return
        annotation = descriptor.annotation
        element = typing.get_args(annotation)[0] if descriptor.is_list else annotation
        param.metavar = _METAVARS.get(getattr(element, "__name__", ""), param.name.upper())
        return
    if not hasattr(param, "_usage_display_name"):  # typer < 0.29 prints FOLDER already
        return
    name = (param.metavar or param.name).upper()  # an argument's own metavar: plain too
    many = "..." if param.nargs != 1 else ""
    required = param.required
    # Instance attributes shadow typer's methods for this one parameter of this run only.
    param._usage_display_name = lambda: (name if required else f"[{name}]") + many
    param._rich_display_name = lambda: name + many
    param.display_type_rich = lambda ctx: None


def __getattr__(name: str) -> Any:
    if name == "app":
        return app_for([])
    raise AttributeError(f"module 'sfxkit.cli.app' has no attribute {name!r}")
