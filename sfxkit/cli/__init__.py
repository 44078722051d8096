"""The `sfxkit` command line: a typer app over the same functions as the Python API.

Each area registers its commands from its own module (``index``, ``recommend``, ``models``,
``generate``, ...), so the flags are the functions' arguments in one place; a run imports only
the module of the command it runs (see ``sfxkit.cli.app``).

Exit codes: 0 ok; 1 error; 2 usage error or bad input (option, argument, file); 3 missing
optional extra; 4 model or weights; 5 index (missing, corrupt, locked); 6 generation; 7 disk
full (what was being written, where, and the space needed); 130 interrupted (Ctrl-C); 143
terminated (SIGTERM, as sent by ``kill``, ``timeout``, docker and systemd: handled like Ctrl-C,
the build's staging folders are removed). Errors print as one line on stderr; ``--debug`` (or
SFXKIT_DEBUG=1) shows the traceback.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from sfxkit.cli.app import app_for, command_for, console_error

__all__ = ["app", "main"]

INTERRUPTED = 130
TERMINATED = 128 + signal.SIGTERM  # 143, the shell's code for a process ended by SIGTERM


def __getattr__(name: str) -> Any:
    if name == "app":  # every command registered (for CliRunner and other embedders)
        return app_for([])
    raise AttributeError(f"module 'sfxkit.cli' has no attribute {name!r}")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (never raises, except with ``--debug``)."""
    from sfxkit.errors import UntrainedModelWarning

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("SFXKIT_DEBUG") == "1"
    with warnings.catch_warnings():
        # The commands print their own banner for untrained models.
        warnings.simplefilter("ignore", UntrainedModelWarning)
        if not debug:  # --debug keeps Python's form, with the file and line that warned
            warnings.showwarning = _show_warning
        with _watch_signals() as stopped:
            code = _run(args, debug, stopped.interrupted)
    if stopped.terminated.is_set():
        console_error("terminated (SIGTERM)")
        return TERMINATED
    if stopped.interrupted.is_set():
        console_error("interrupted")
        return INTERRUPTED
    return code


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """A warning as one line in the CLI's own form, not Python's source location and line."""
    from sfxkit.catalog.schema import readable

    text = " ".join(str(message).split())
    print(f"sfxkit: warning: {readable(text)}", file=file or sys.stderr)


def _run(args: list[str], debug: bool, interrupted: threading.Event) -> int:
    from sfxkit.errors import SfxkitError

    try:
        # Not standalone: sfxkit's own errors must reach this function to be printed as one
        # line with their exit code. Typer then returns an exit code instead of exiting.
        rv = command_for(args).main(args=args, prog_name="sfxkit", standalone_mode=False)
    except SfxkitError as exc:
        if debug:
            raise
        console_error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        interrupted.set()
        return INTERRUPTED
    except SystemExit as exc:
        if isinstance(exc.code, int) or exc.code is None:
            return exc.code or 0
        console_error(str(exc.code))
        return 1
    except Exception as exc:
        usage, abort = _click_exception_types()
        if isinstance(exc, usage):
            exc.show()  # type: ignore[attr-defined]
            _usage_hint(args, exc)
            return int(getattr(exc, "exit_code", 2))
        if isinstance(exc, abort):
            console_error("aborted")
            return 1
        if debug:
            raise
        from sfxkit.errors import DiskFullError, is_disk_full

        if is_disk_full(exc):  # a writer that does not say what it wrote: name the file at least
            full = DiskFullError(getattr(exc, "filename", None) or os.getcwd(), "a file")
            console_error(str(full))
            return full.exit_code
        console_error(
            f"unexpected error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)"
        )
        return 1
    # typer/click return the exit code of `--help`, `ctx.exit(n)` and their own Ctrl-C handling
    return rv if isinstance(rv, int) and not isinstance(rv, bool) else 0


def _click_exception_types() -> tuple[tuple[type, ...], tuple[type, ...]]:
    """(usage-error, abort) classes of click and of the copy of click that typer may bundle
    (typer >= 0.29 ships its own; older ones use click's)."""
    import typer

    usage: list[type] = []
    abort: list[type] = [typer.Abort]
    try:
        import click

        usage.append(click.exceptions.ClickException)
        abort.append(click.exceptions.Abort)
    except ImportError:  # typer that bundles click does not need click installed
        pass
    usage += [c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"]
    return tuple(usage), tuple(abort)


def _usage_hint(args: list[str], exc: Exception) -> None:
    if "--text" in args and "extra argument" in str(exc):
        print(
            'sfxkit: hint: quote a text query of several words, e.g. sfxkit recommend "footsteps on gravel" '
            "--text --index IDX",
            file=sys.stderr,
        )


class _Stopped:
    """Which stop signals arrived: Ctrl-C (``interrupted``) and SIGTERM (``terminated``)."""

    def __init__(self) -> None:
        self.interrupted = threading.Event()
        self.terminated = threading.Event()


@contextmanager
def _watch_signals() -> Iterator[_Stopped]:
    """Record whether Ctrl-C or SIGTERM arrived, whatever typer or click make of the
    KeyboardInterrupt.

    SIGTERM raises the same KeyboardInterrupt as Ctrl-C, so every ``finally`` that cleans up
    after Ctrl-C (a build's ``versions/.stage-*`` and ``.IDX.sfxkit-new-*`` folders, temp
    files, worker pools) runs for it too; its default action would end the process with no
    cleanup at all. Only the first SIGTERM raises: a second one (docker and systemd repeat
    theirs before SIGKILL) must not interrupt the cleanup the first one started.
    """
    seen = _Stopped()
    main_thread = threading.current_thread() is threading.main_thread()
    previous = {}
    if main_thread:
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def on_sigint(signum: int, frame: object) -> None:
        seen.interrupted.set()
        raise KeyboardInterrupt

    def on_sigterm(signum: int, frame: object) -> None:
        first = not seen.terminated.is_set()
        seen.terminated.set()
        seen.interrupted.set()
        if first:
            raise KeyboardInterrupt

    handlers = {signal.SIGINT: on_sigint, signal.SIGTERM: on_sigterm}
    # A process started with a signal ignored (nohup, `cmd &` in a script) keeps ignoring it.
    installed = [s for s, h in previous.items() if h is not None and h is not signal.SIG_IGN]
    for sig in installed:
        signal.signal(sig, handlers[sig])
    try:
        yield seen
    finally:
        for sig in installed:
            signal.signal(sig, previous[sig])
