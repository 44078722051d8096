"""`sfxkit serve --index IDX [--host 127.0.0.1] [--port N]`: the resident service."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from sfxkit.cli.options import Device, Index

__all__ = ["register"]


def serve_cmd(
    index: Index,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; other than loopback needs a token.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=0, max=65535)] = 8765,
    token: Annotated[
        str | None,
        typer.Option("--token", help="Token clients send (default: SFXKIT_TOKEN, or generated)."),
    ] = None,
    max_upload: Annotated[
        float, typer.Option("--max-upload", min=0.001, help="Upload size limit in MB.")
    ] = 200.0,
    jobs_dir: Annotated[
        Path | None,
        typer.Option("--jobs-dir", help="Where jobs write their outputs (default: a temp dir)."),
    ] = None,
    outputs_root: Annotated[
        Path | None,
        typer.Option(
            "--outputs-root",
            help="A folder review sessions may also write under (out=); by default the server "
            "writes only inside --jobs-dir.",
        ),
    ] = None,
    max_jobs: Annotated[
        int | None,
        typer.Option(
            "--max-jobs",
            min=1,
            help="Jobs that run at once; the others queue (default: one per two cores, "
            "at most one per 3 GB of free memory).",
        ),
    ] = None,
    device: Device = None,
    no_warm: Annotated[
        bool,
        typer.Option(
            "--no-warm",
            help="Load the models on the first query instead of before the ready line "
            "(starts faster on a small machine; the first query then waits).",
        ),
    ] = False,
) -> None:
    """Serve recommendations over HTTP with the models and the index kept loaded."""
    from sfxkit.errors import MissingExtraError
    from sfxkit.serve.security import is_loopback, new_token

    try:
        import fastapi  # noqa: F401
        import multipart  # noqa: F401
        import uvicorn
    except ImportError as exc:
        raise MissingExtraError(exc.name or "fastapi", "serve", "sfxkit serve") from exc
    from sfxkit.serve.app import create_app

    token = token or os.environ.get("SFXKIT_TOKEN") or None
    if not is_loopback(host) and not token:
        token = new_token()
        typer.echo(f"sfxkit serve: token (send as 'Authorization: Bearer …'): {token}", err=True)
    shown = f"[{host}]" if ":" in host else host

    def ready() -> None:
        typer.echo(
            f"sfxkit serve: ready: {info['index']} (version {info['index_version']}) on "
            f"http://{shown}:{port} — API docs at /docs",
            err=True,
        )

    app = create_app(
        index,
        host=host,
        token=token,
        max_upload_mb=max_upload,
        jobs_dir=jobs_dir,
        device=device,
        outputs_root=outputs_root,
        max_jobs=max_jobs,
        warm=not no_warm,
        on_ready=ready,
    )
    info = app.state.resident.info()
    if not no_warm:
        typer.echo(
            f"sfxkit serve: loading the models of {info['index']} "
            f"(GET http://{shown}:{port}/health says when it is ready)",
            err=True,
        )
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        app.state.jobs.close()


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_cmd)
