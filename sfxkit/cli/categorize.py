"""`sfxkit index categorize IDX`, and the near-duplicate / predicted-category part of `index info`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from sfxkit.cli.options import Device, Json
from sfxkit.cli.output import console, print_json, untrained_banner


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
