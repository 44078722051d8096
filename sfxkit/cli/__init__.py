"""The `sfxkit` command line: a typer app over the same functions as the Python API.

Each area registers its commands from its own module (``index``, ``recommend``, ``models``,
``generate``, ...), so the flags are the functions' arguments in one place.

Exit codes: 0 ok; 1 error; 2 bad input (file, argument); 3 missing optional extra;
4 model or weights; 5 index (missing, corrupt, locked); 6 generation; 130 interrupted.
Errors print as one line on stderr; ``--debug`` (or SFXKIT_DEBUG=1) shows the traceback.
"""

from __future__ import annotations

import os
import sys

from sfxkit.cli.app import app, console_error

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> int:
    from sfxkit.errors import SfxkitError

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("SFXKIT_DEBUG") == "1"
    try:
        app(args=args, prog_name="sfxkit", standalone_mode=False)
    except SfxkitError as exc:
        if debug:
            raise
        console_error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        console_error("interrupted")
        return 130
    except SystemExit as exc:  # typer/click exits (--help, usage errors)
        return int(exc.code or 0) if isinstance(exc.code, int) else 1
    except Exception as exc:  # click usage errors and friends
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            return 2
        if isinstance(exc, click.exceptions.Abort):
            console_error("aborted")
            return 130
        if debug:
            raise
        console_error(
            f"unexpected error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)"
        )
        return 1
    return 0
