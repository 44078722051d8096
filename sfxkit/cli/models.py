"""`sfxkit models list|pull`: which models sfxkit knows, where their weights are, and fetching them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from sfxkit.cli.options import Json, Progress
from sfxkit.cli.output import console, err_console, print_json

__all__ = ["register"]

models_app = typer.Typer(
    name="models",
    help="Model ids, where their weights are, and `pull` (the one command that downloads).",
    no_args_is_help=True,
)


def _table_console() -> Any:
    """Off a terminal (logs, pipes, tests) do not squeeze model ids into rich's default 80 columns."""
    if sys.stdout.isatty():
        return console
    from rich.console import Console

    return Console(file=sys.stdout, width=160, highlight=False, soft_wrap=True)


@models_app.command("list")
def list_command(
    kind: Annotated[
        str,
        typer.Option(
            "--kind",
            help="Only this kind: frame, audio, sfx, av (audio-visual), generator or language.",
            show_default=False,
        ),
    ] = "",
    as_json: Json = False,
) -> None:
    """List known models: id, kind, default?, tiny?, licence, and where the weights were found."""
    from rich.table import Table

    from sfxkit.errors import InputError
    from sfxkit.models.registry import find_weights, is_default, list_models

    kinds = ("frame", "audio", "sfx", "av", "generator", "language")
    if kind and kind not in kinds:
        raise InputError(f"--kind {kind!r}: use one of {', '.join(kinds)}")
    specs = [s for s in list_models() if not kind or s.kind == kind]
    rows = []
    for spec in specs:
        where = find_weights(spec)
        rows.append(
            {
                "id": spec.id,
                "kind": spec.kind,
                "default": is_default(spec),
                "tiny": spec.tiny,
                "licence": spec.licence,
                "found": None if where is None else where.source,
                "path": None if where is None or spec.tiny else str(where.path),
                "description": spec.description,
            }
        )
    if as_json:
        print_json(rows)
        return
    table = Table(title="sfxkit models", show_lines=False)
    table.add_column("id", no_wrap=True)
    table.add_column("kind")
    table.add_column("default?")
    table.add_column("tiny?")
    table.add_column("licence")
    table.add_column("cached? (where found)")
    for row in rows:
        if row["found"] is None:
            cached = "no"
        elif row["tiny"]:
            cached = str(row["found"])
        else:
            cached = f"yes: {row['found']} {row['path']}"
        table.add_row(
            str(row["id"]),
            str(row["kind"]),
            "default" if row["default"] else "",
            "tiny (UNTRAINED)" if row["tiny"] else "",
            str(row["licence"]),
            cached,
        )
    out = _table_console()
    out.print(table)
    out.print("Fetch missing weights with `sfxkit models pull ID`.")
    out.print(
        "Also valid: any open_clip ARCH/TAG, open_clip:local-dir:/path, clap:ORG/NAME, clap:/path."
    )


@models_app.command("pull")
def pull_command(
    model_id: Annotated[
        str, typer.Argument(metavar="ID", help="Model id, e.g. clap:laion/larger_clap_general.")
    ],
    dest: Annotated[
        Path | None,
        typer.Option(
            "--dest",
            help="Weights root to fill (default <SFXKIT_CACHE>/weights), e.g. your SFXKIT_WEIGHTS_DIR.",
        ),
    ] = None,
    progress: Progress = True,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for the hub to answer.")
    ] = 10.0,
) -> None:
    """Download a model's weights (needs network), or verify they are already there."""
    from sfxkit.models.registry import pull

    path = pull(model_id, dest=dest, progress=progress, timeout=timeout, echo=err_console.print)
    print(path)


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
