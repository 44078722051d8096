"""Root typer app; command modules attach themselves in ``_register_all``."""

from __future__ import annotations

import importlib
import sys

import typer

app = typer.Typer(
    name="sfxkit",
    help="Sound effects for video: retrieve from an SFX catalog, generate with MMAudio, or blend.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Modules that define `register(app)`. Each owns its commands and flags.
COMMAND_MODULES = [
    "sfxkit.cli.index",
    "sfxkit.cli.recommend",
    "sfxkit.cli.models",
    "sfxkit.cli.generate",
    "sfxkit.cli.bridge",
    "sfxkit.cli.soundtrack",
    "sfxkit.cli.categorize",
    "sfxkit.cli.serve",
]


def console_error(message: str) -> None:
    from sfxkit.catalog.schema import readable

    # A message naming a file that is not UTF-8 must not crash a strict UTF-8 stderr.
    print(f"sfxkit: error: {readable(message)}", file=sys.stderr)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    """sfxkit command line."""


def _register_all() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # that area is not built yet in this checkout
                continue
            raise
        module.register(app)


_register_all()
