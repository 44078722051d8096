"""`sfxkit recommend FRAME_OR_VIDEO --index IDX`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

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
        Path | None,
        typer.Option("--index", "-i", help="Index directory (see `sfxkit index build`)."),
    ] = None,
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
    device: Annotated[str | None, typer.Option("--device", help="auto, cpu, cuda, mps.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print results as JSON.")] = False,
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            help="URL of a running `sfxkit serve` (default: SFXKIT_SERVER) to answer the query.",
        ),
    ] = None,
) -> None:
    """Recommend sounds for a frame, a video (per shot), a text or a sound."""
    from sfxkit.errors import InputError

    filters = {
        "category": list(category or ()),
        "licence": list(licence or ()),
        "min_duration": min_duration,
        "max_duration": max_duration,
        "exclude_flags": list(exclude_flag or ()),
    }
    filters = {key: v for key, v in filters.items() if v not in (None, [])}
    server = server or os.environ.get("SFXKIT_SERVER") or None
    if server:
        from sfxkit.serve.client import query_server

        payload = query_server(server, query, _query_kind(query, text, audio), k, filters, index)
        if payload is not None:
            print_payload(payload, as_json)
            return
    if index is None:
        raise InputError(
            "no index given; pass --index IDX, or --server URL of a running `sfxkit serve`"
        )
    from sfxkit.recommender import Recommender

    rec = Recommender(index, device=device)
    kind, frame = _query_kind(query, text, audio)
    payload = {"query": query, "untrained": rec.untrained}
    if kind == "text":
        payload["results"] = [result_entry("text", rec.recommend_text(query, k, filters=filters))]
    elif kind == "audio":
        payload["results"] = [result_entry("audio", rec.recommend_audio(query, k, filters=filters))]
    elif kind == "video":
        shots = rec.recommend_video(query, k, filters=filters)
        payload["shots"] = [s.to_dict() for s in shots]
        payload["results"] = [
            result_entry(f"shot {s.shot.index} {s.start:.2f}-{s.end:.2f}s", s.recommendations)
            for s in shots
        ]
    else:
        payload["results"] = [result_entry("frame", rec.recommend(frame, k, filters=filters))]
    print_payload(payload, as_json)


def _query_kind(query: str, text: bool, audio: bool) -> tuple[str, object]:
    """What QUERY is (text, audio, video, frame) and, for a frame, what to embed."""
    from sfxkit.errors import InputError
    from sfxkit.media.frames import is_video

    if text and audio:
        raise InputError("use --text or --audio, not both")
    if text:
        return "text", query
    if audio:
        return "audio", query
    path, _, at = query.rpartition("@")
    if path and is_video(path) and _is_number(at):
        return "frame", (path, float(at))
    if is_video(query):
        return "video", query
    if not Path(query).exists():
        raise InputError(f"{query}: no such file; pass an image, a video, VIDEO@SECONDS, or --text")
    return "frame", query


def result_entry(label: str, recs: Any) -> dict[str, Any]:
    """One labelled result list as the CLI prints it (and as `sfxkit serve` sends it)."""
    return {"label": label, **_verdict(recs), "recommendations": [r.to_dict() for r in recs]}


def print_payload(payload: dict[str, Any], as_json: bool) -> None:
    """Print an answer, computed in-process or by a server, one way."""
    query, untrained = payload["query"], payload["untrained"]
    if as_json:
        if "shots" in payload:
            print_json({"query": query, "untrained": untrained, "shots": payload["shots"]})
        else:
            print_json(
                {
                    "query": query,
                    "untrained": untrained,
                    **({"note": UNTRAINED} if untrained else {}),
                    "results": payload["results"],
                }
            )
        return
    if untrained:
        untrained_banner()
    for res in payload["results"]:
        note = f" — {res['verdict']}" if res.get("confident") is not None else ""
        console.print(f"[bold]{res['label']}[/]: {query}{note}")
        if not res["recommendations"]:
            console.print("  (no item matches the filters)")
        for r in res["recommendations"]:
            conf = f"  p={r['confidence']:.2f}" if r["confidence"] is not None else ""
            console.print(
                f"  {r['rank']}. {r['score']:+.3f}{conf}  {r['title']}  [{r['category'] or '-'}]  "
                f"{r['duration']:.2f}s  {r['licence']}  {r['path']}"
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
