"""`sfxkit index build|info|verify|rollback|categorize`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from sfxkit.cli.options import Address, Device, Engine, Json, Progress, check_engine, option
from sfxkit.cli.output import console, print_json, untrained_banner

index_app = typer.Typer(help="Build, inspect and verify SFX indexes.", no_args_is_help=True)


@index_app.command("build")
def build(
    folder: Annotated[Path, typer.Argument(help="Folder of sound effects (searched recursively).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Index directory to create or update.")],
    models: Annotated[
        str | None,
        option(
            "models",
            "Here: CLIP + CLAP, or 'FRAME_ID,AUDIO_ID'; a rebuild keeps the index's own models "
            "unless this is given.",
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
    av_model: Annotated[
        str,
        typer.Option(
            "--av-model",
            help="pe_audio + pe_text views (Meta PE-AV: frames and shots matched to sounds "
            "directly): 'auto' (built when a pe_av model has been pulled), 'none', or an id "
            "(pe_av:large, pe_av:tiny).",
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
    device: Device = None,
    as_json: Json = False,
    progress: Progress = True,
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
    import warnings

    from sfxkit.errors import MissingViewsWarning
    from sfxkit.index.build import build_index

    check_engine(engine, address)
    with warnings.catch_warnings():
        # The report's notes say it below (and in --json), once and in the CLI's words.
        warnings.simplefilter("ignore", MissingViewsWarning)
        report = build_index(
            folder,
            out,
            models=models,
            sfx_model=sfx_model,
            av_model=av_model,
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
    as_json: Json = False,
    dedupe: Annotated[
        bool,
        option(
            "dedupe",
            "Here: the first 5 near-duplicate groups, or every group with --all-duplicates.",
        ),
    ] = True,
) -> None:
    """Show what an index holds: version, models, views, counts by category, near-duplicates."""
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
        "weights_licences": dict(m.get("weights_licences") or {}),
        **sound_summary(idx, all_duplicates=not dedupe),
    }
    if as_json:
        print_json(summary)
        return
    if m.untrained:
        untrained_banner()
    from rich.markup import escape

    console.print(
        f"[bold]{escape(str(idx.root))}[/] version {m.version} ({m.get('created')}), "
        f"{m.row_count} items"
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
    licences = summary["licences"]
    console.print(
        "categories: " + ", ".join(f"{escape(str(k))} {n}" for k, n in categories.items())
    )
    console.print("licences: " + ", ".join(f"{escape(str(k))} {n}" for k, n in licences.items()))
    if summary["weights_licences"]:
        console.print(
            "weights licences: "
            + ", ".join(f"{escape(str(k))} {v}" for k, v in summary["weights_licences"].items())
        )

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
    """Check the index marker, every file of the current version against the manifest's
    sha256, and that each FAISS view finds a sample of the exact vectors stored beside it."""
    from sfxkit.errors import IndexCorruptError
    from sfxkit.index.store import IndexStore

    store = IndexStore(index)
    try:
        store.current_version_dir()  # no index / being created / index: each says so
    except IndexCorruptError:
        if not repair:
            raise
    problems = store.verify()
    from rich.markup import escape

    for p in problems:  # escaped: a path or reason with [brackets] must print as it is
        console.print(f"[red]CORRUPT[/] {escape(p)}")
    if problems and repair:
        _, to, _skipped = store.repair()
        console.print(f"repaired: {store.root} now serves version {to}, which verifies")
        problems = store.verify()
    if problems:
        raise IndexCorruptError(
            store.root, f"{len(problems)} problem(s) found by verification", root=store.root
        )
    m = store.manifest()
    console.print(
        f"OK: {escape(str(store.root))} version {m.version}, {len(m.files)} files verified, "
        f"{len(m.views)} FAISS view(s) find their own vectors"
    )


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


# ---- `index categorize`, and the near-duplicate / predicted-category part of `index info`


def categorize_cmd(
    index: Annotated[Path, typer.Argument(help="Index directory.")],
    view: Annotated[
        str, typer.Option("--view", help="Embedding view to classify from (aiSFX by default).")
    ] = "sfx_audio",
    method: Annotated[str, typer.Option("--method", help="knn (default) or logreg.")] = "knn",
    device: Device = None,
    as_json: Json = False,
) -> None:
    """Predict UCS categories for the items of INDEX that have none (a new index version).

    Items with a category (UCS file name, sidecar, tags) train the classifier; their own metadata
    is never changed: predictions go to separate predicted_* columns.
    """
    from sfxkit.index.maintain import categorize_index

    report = categorize_index(index, view=view, method=method, device=device)
    if as_json:
        print_json(report.to_dict())
        return
    if report.untrained:
        untrained_banner()
    console.print(f"[bold]{report.index}[/] version {report.version}")
    for note in report.notes:
        console.print(note)
    console.print(f"{report.redescribed} item(s) described again from their predicted category")


NEAR_DUP_EXAMPLES = 5  # groups `index info` lists unless --all-duplicates


def sound_summary(idx: Any, all_duplicates: bool = False) -> dict[str, Any]:
    """Near-duplicate groups and predicted categories of a loaded index, for `index info`
    (the first few near-duplicate groups, or every one with ``all_duplicates``)."""
    rows = idx.rows
    m = idx.manifest
    out: dict[str, Any] = {}
    if "near_dup_group" in rows:
        grouped = rows[rows["near_dup_group"] != ""]
        groups = grouped.groupby("near_dup_group")["path"].apply(list)
        out["near_duplicates"] = {
            **(m.get("near_duplicates") or {}),
            "groups": int(len(groups)),
            "items": int(len(grouped)),
            "examples": [
                sorted(paths)
                for paths in list(groups)[: None if all_duplicates else NEAR_DUP_EXAMPLES]
            ],
        }
    if "predicted_category" in rows:
        pred = rows[rows["predicted_category"] != ""]
        sub = pred["predicted_subcategory"]
        labels = pred["predicted_category"] + sub.where(sub == "", " / " + sub)
        out["predicted_categories"] = labels.value_counts().head(15).to_dict()
    if m.get("categorize"):
        out["categorize"] = m.get("categorize")
    if m.get("ucs"):
        out["ucs"] = m.get("ucs")
    return out


def print_sound_summary(summary: dict[str, Any]) -> None:
    from rich.markup import escape

    nd = summary.get("near_duplicates")
    if nd is not None:
        if nd.get("groups"):
            console.print(
                f"near-duplicates: {nd['items']} items in {nd['groups']} groups"
                + (f" (aiSFX cosine >= {nd['threshold']})" if "threshold" in nd else "")
            )
            for paths in nd["examples"]:  # escaped: file names such as "Boom [Big].wav"
                console.print("  " + "  =  ".join(escape(p) for p in paths))
            shown = len(nd["examples"])
            if shown < nd["groups"]:
                where = summary.get("index", "IDX")
                console.print(
                    f"  ({shown} of {nd['groups']} groups shown; "
                    f"`sfxkit index info {escape(str(where))} --all-duplicates` lists all)"
                )
        elif "threshold" in nd:
            console.print("near-duplicates: none")
        else:
            console.print(
                "near-duplicates: not computed (no aiSFX view; `sfxkit models pull aisfx`)"
            )
    pred = summary.get("predicted_categories")
    if pred:
        console.print(
            "predicted categories (from the sound, not your metadata): "
            + ", ".join(f"{k} {n}" for k, n in pred.items())
        )
    ev = (summary.get("categorize") or {}).get("evaluation")
    if ev:
        from sfxkit.catalog.categorize import LEVEL_NAMES

        level = (summary.get("categorize") or {}).get("level", "catid")
        console.print(
            f"categoriser ({ev['method']}, {ev['labelled']} labelled items, learnt and predicted "
            f"at the {LEVEL_NAMES.get(level, level)} level): {ev['protocol']} "
            f"top-1 {ev['top1']:.0%}, top-3 {ev['top3']:.0%}, majority baseline "
            f"{ev['majority_baseline']:.0%}"
        )


index_app.command("categorize")(categorize_cmd)
