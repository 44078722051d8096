"""`sfxkit index build|info|verify`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sfxkit.cli.options import Address, Engine, check_engine
from sfxkit.cli.output import console, print_json, untrained_banner

index_app = typer.Typer(help="Build, inspect and verify SFX indexes.", no_args_is_help=True)


@index_app.command("build")
def build(
    folder: Annotated[Path, typer.Argument(help="Folder of sound effects (searched recursively).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Index directory to create or update.")],
    models: Annotated[
        str | None,
        typer.Option(
            "--models",
            help="'default' (pretrained CLIP + CLAP), 'tiny' (untrained toy encoders), or "
            "'FRAME_ID,AUDIO_ID'. A rebuild keeps the index's own models unless this is given.",
            show_default=False,
        ),
    ] = None,
    sfx_model: Annotated[
        str,
        typer.Option(
            "--sfx-model",
            help="sfx_audio view (aiSFX): 'auto' (built when `sfxkit models pull aisfx` has run), 'none', or an id (aisfx:tiny).",
        ),
    ] = "auto",
    sidecar: Annotated[
        Path | None, typer.Option("--sidecar", help="CSV/JSON with per-file metadata.")
    ] = None,
    licence: Annotated[
        str, typer.Option("--licence", "--license", help="Licence for files without one.")
    ] = "unknown",
    source: Annotated[
        str, typer.Option("--source", help="Library or vendor name recorded per item.")
    ] = "",
    device: Annotated[
        str | None, typer.Option("--device", help="auto, cpu, cuda, cuda:1, mps.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the build report as JSON.")
    ] = False,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show progress bars.")
    ] = True,
    engine: Engine = "local",
    address: Address = None,
    recall_target: Annotated[
        float,
        typer.Option(
            "--recall-target",
            min=0.5,
            max=1.0,
            help="recall@10 each approximate view's search is tuned to reach on its own vectors "
            "(measured at build, shown by `sfxkit index info`).",
        ),
    ] = 0.95,
) -> None:
    """Build or incrementally update an index over FOLDER."""
    from sfxkit.index.build import build_index

    check_engine(engine, address)
    report = build_index(
        folder,
        out,
        models=models,
        sfx_model=sfx_model,
        sidecar=sidecar,
        licence=licence,
        source=source,
        device=device,
        progress=None if progress and not as_json else False,
        engine=engine,
        address=address,
        recall_target=recall_target,
    )
    if as_json:
        print_json(report.to_dict())
        return
    if report.untrained:
        untrained_banner()
    console.print(
        f"[bold]{report.index}[/] version {report.version}: {report.items} items "
        f"(+{report.added} added, -{report.removed} removed, {report.unchanged} unchanged; "
        f"{report.duplicates} with duplicate files)"
    )
    console.print(
        f"decoded {report.decoded} files, reused {report.reused_decodes} unchanged; embedded "
        + ", ".join(f"{v}: {n}" for v, n in report.embedded.items())
    )
    for note in report.notes:
        console.print(f"[yellow]note:[/] {note}")
    for line in report.sound_analysis:
        console.print(line)
    if report.failures:
        console.print(f"[yellow]{len(report.failures)} file(s) skipped:[/]")
        for path, reason in report.failures:
            console.print(f"  {path}: {reason}")


@index_app.command("info")
def info(
    index: Annotated[Path, typer.Argument(help="Index directory.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the manifest summary as JSON.")
    ] = False,
) -> None:
    """Show what an index holds: version, models, views, counts by category."""
    from rich.table import Table

    from sfxkit.index.store import load_index

    idx = load_index(index, views=[])
    m = idx.manifest
    categories = idx.rows["category"].replace("", "(none)").value_counts().head(15).to_dict()
    summary = {
        "index": str(idx.root),
        "version": m.version,
        "created": m.get("created"),
        "items": m.row_count,
        "models": m.models,
        "untrained": m.untrained,
        "views": {name: v.to_dict() for name, v in m.views.items()},
        "categories": categories,
        "licences": idx.rows["licence"].value_counts().to_dict(),
        "build_failures": len((m.get("build") or {}).get("failures", [])),
        "calibration": m.get("calibration"),
        **_sound_summary(idx),
    }
    if as_json:
        print_json(summary)
        return
    if m.untrained:
        untrained_banner()
    console.print(
        f"[bold]{idx.root}[/] version {m.version} ({m.get('created')}), {m.row_count} items"
    )
    table = Table("view", "model", "tower", "embeds", "dim", "FAISS", "search (measured)")
    for name, v in m.views.items():
        table.add_row(
            name,
            v.model + (" (untrained)" if v.untrained else ""),
            v.tower,
            v.source,
            str(v.dim),
            v.factory,
            search_summary(v.factory, v.tuning),
        )
    console.print(table)
    for name, v in m.views.items():
        if v.tuning and not v.tuning.get("reached", True):
            console.print(
                f"[yellow]warning:[/] view {name} reaches recall@{v.tuning['k']} "
                f"{v.tuning['recall']:.3f}, below its target {v.tuning['target']:g}"
            )
    console.print("categories: " + ", ".join(f"{k} {n}" for k, n in categories.items()))
    console.print("licences: " + ", ".join(f"{k} {n}" for k, n in summary["licences"].items()))
    from sfxkit.cli.categorize import print_sound_summary

    print_sound_summary(summary)


def search_summary(factory: str, tuning: dict | None) -> str:
    """How a view searches: exact, or the tuned parameters with the recall measured at build."""
    if factory == "Flat":
        return "exact"
    if not tuning:
        return "preset parameters (recall not measured)"
    params = ", ".join(f"{k} {v:g}" for k, v in tuning["params"].items())
    how = "kept from an earlier build" if tuning.get("carried") else f"{tuning['seconds']:g} s"
    return (
        f"recall@{tuning['k']} {tuning['recall']:.3f} (target {tuning['target']:g}) at "
        f"{params}; fixed preset {tuning['fixed_recall']:.3f}; tuned in {how}"
    )


def _sound_summary(idx: object) -> dict[str, object]:
    from sfxkit.cli.categorize import sound_summary

    return sound_summary(idx)


@index_app.command("verify")
def verify(
    index: Annotated[Path, typer.Argument(help="Index directory.")],
    repair: Annotated[
        bool,
        typer.Option(
            "--repair", help="If the current version fails, return to the newest one that verifies."
        ),
    ] = False,
) -> None:
    """Check every file of the current version against the manifest's sha256."""
    from sfxkit.errors import IndexCorruptError
    from sfxkit.index.store import IndexStore

    store = IndexStore(index)
    try:
        store.current_version_dir()  # no index / being created / index: each says so
    except IndexCorruptError:
        if not repair:
            raise
    problems = store.verify()
    for p in problems:
        console.print(f"[red]CORRUPT[/] {p}")
    if problems and repair:
        _, to, _skipped = store.repair()
        console.print(f"repaired: {store.root} now serves version {to}, which verifies")
        problems = store.verify()
    if problems:
        raise IndexCorruptError(
            store.root, f"{len(problems)} file(s) failed verification", root=store.root
        )
    m = store.manifest()
    console.print(f"OK: {store.root} version {m.version}, {len(m.files)} files verified")


@index_app.command("rollback")
def rollback(
    index: Annotated[Path, typer.Argument(help="Index directory.")],
    to: Annotated[
        int | None,
        typer.Option(
            "--to", help="Version to return to (default: the newest older one that verifies)."
        ),
    ] = None,
) -> None:
    """Serve an older version again (atomically); the next build starts from it."""
    from sfxkit.index.store import IndexStore

    store = IndexStore(index)
    before, after, _skipped = store.repair(to=to, older=to is None)
    console.print(f"{store.root}: version {before} -> version {after} (verified)")


def register(app: typer.Typer) -> None:
    app.add_typer(index_app, name="index")
