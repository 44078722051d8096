"""`sfxkit recommend FRAME_OR_VIDEO --index IDX`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sfxkit.cli.output import UNTRAINED, console, print_json, untrained_banner


def recommend_cmd(
    query: Annotated[
        str,
        typer.Argument(
            help="Image file, video file (per-shot results), 'VIDEO@SECONDS' for one frame, or text with --text.",
        ),
    ],
    index: Annotated[
        Path, typer.Option("--index", "-i", help="Index directory (see `sfxkit index build`).")
    ],
    k: Annotated[int, typer.Option("-k", "--top-k", min=1, help="How many sounds to return.")] = 5,
    text: Annotated[
        bool, typer.Option("--text", help="Treat QUERY as a text description.")
    ] = False,
    audio: Annotated[
        bool, typer.Option("--audio", help="Treat QUERY as a sound file: more like this.")
    ] = False,
    category: Annotated[
        list[str] | None, typer.Option("--category", help="Only these categories (repeatable).")
    ] = None,
    licence: Annotated[
        list[str] | None,
        typer.Option("--licence", "--license", help="Only these licences (repeatable)."),
    ] = None,
    min_duration: Annotated[float | None, typer.Option("--min-duration", help="Seconds.")] = None,
    max_duration: Annotated[float | None, typer.Option("--max-duration", help="Seconds.")] = None,
    exclude_flag: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude-flag", help="Drop items with this QC flag (silent, clipped, too_short)."
        ),
    ] = None,
    all_duplicates: Annotated[
        bool,
        typer.Option(
            "--all-duplicates",
            help="Show every near-duplicate (re-encoded, trimmed, re-gained copies); by default "
            "only the best-quality member of each group.",
        ),
    ] = False,
    device: Annotated[str | None, typer.Option("--device", help="auto, cpu, cuda, mps.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print results as JSON.")] = False,
) -> None:
    """Recommend sounds for a frame, a video (per shot), a text or a sound."""
    from sfxkit.errors import InputError
    from sfxkit.media.frames import is_video
    from sfxkit.recommender import Filters, Recommender

    filters = Filters(
        category=tuple(category or ()),
        licence=tuple(licence or ()),
        min_duration=min_duration,
        max_duration=max_duration,
        exclude_flags=tuple(exclude_flag or ()),
    )
    rec = Recommender(index, device=device, dedupe=not all_duplicates)
    if text and audio:
        raise InputError("use --text or --audio, not both")
    if text:
        results = [("text", query, rec.recommend_text(query, k, filters=filters))]
    elif audio:
        results = [("audio", query, rec.recommend_audio(query, k, filters=filters))]
    else:
        frame: object = query
        path, _, at = query.rpartition("@")
        if path and is_video(path) and _is_number(at):
            frame = (path, float(at))
        if isinstance(frame, str) and is_video(frame):
            shots = rec.recommend_video(frame, k, filters=filters)
            results = [
                (f"shot {s.shot.index} {s.start:.2f}-{s.end:.2f}s", query, s.recommendations)
                for s in shots
            ]
            if as_json:
                print_json(
                    {
                        "query": query,
                        "untrained": rec.untrained,
                        "shots": [s.to_dict() for s in shots],
                    }
                )
                return
        else:
            if isinstance(frame, str) and not Path(frame).exists():
                raise InputError(
                    f"{frame}: no such file; pass an image, a video, VIDEO@SECONDS, or --text"
                )
            results = [("frame", query, rec.recommend(frame, k, filters=filters))]
    if as_json:
        print_json(
            {
                "query": query,
                "untrained": rec.untrained,
                **({"note": UNTRAINED} if rec.untrained else {}),
                "results": [
                    {
                        "label": label,
                        **_verdict(recs),
                        "recommendations": [r.to_dict() for r in recs],
                    }
                    for label, _, recs in results
                ],
            }
        )
        return
    if rec.untrained:
        untrained_banner()
    for label, _, recs in results:
        verdict = _verdict(recs)
        note = f" — {verdict['verdict']}" if verdict.get("confident") is not None else ""
        console.print(f"[bold]{label}[/]: {query}{note}")
        if not recs:
            console.print("  (no item matches the filters)")
        for r in recs:
            conf = f"  p={r.confidence:.2f}" if r.confidence is not None else ""
            cat = r.category or (
                f"predicted {r.predicted_category}/{r.predicted_subcategory} "
                f"{r.predicted_confidence or 0:.2f}"
                if r.predicted_category
                else "-"
            )
            dups = f"  (+{r.near_duplicates} near-duplicates)" if r.near_duplicates else ""
            console.print(
                f"  {r.rank}. {r.score:+.3f}{conf}  {r.title}  [{cat}]  {r.duration:.2f}s  "
                f"{r.licence}  {r.path}{dups}"
            )


def _verdict(recs: object) -> dict[str, object]:
    """The calibrated verdict of a frame query ({} when the index has no calibration)."""
    confident = getattr(recs, "confident", None)
    if confident is None:
        return {}
    return {
        "confident": confident,
        "threshold": getattr(recs, "threshold", None),
        "verdict": recs.verdict(),  # type: ignore[attr-defined]
    }


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def register(app: typer.Typer) -> None:
    app.command("recommend")(recommend_cmd)
