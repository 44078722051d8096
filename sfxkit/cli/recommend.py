"""`sfxkit recommend FRAME_OR_VIDEO --index IDX`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any

import typer

from sfxkit.cli.options import Dedupe, Device, Json, TopK, option
from sfxkit.cli.output import UNTRAINED, console, print_json, untrained_banner


def recommend_cmd(
    ctx: typer.Context,
    query: Annotated[
        str,
        typer.Argument(
            help="Image file, video file (per-shot results), 'VIDEO@SECONDS' for one frame, or text with --text.",
        ),
    ],
    index: Annotated[Path | None, option("index")] = None,
    k: TopK = 5,
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
    dedupe: Dedupe = True,
    device: Device = None,
    as_json: Json = False,
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

    if text and audio:
        raise InputError("use --text or --audio, not both")
    if not text:
        _check_query_kind(query, audio)
    filters = {
        "category": list(category or ()),
        "licence": list(licence or ()),
        "min_duration": min_duration,
        "max_duration": max_duration,
        "exclude_flags": list(exclude_flag or ()),
    }
    filters = {key: v for key, v in filters.items() if v not in (None, [])}
    server = server or os.environ.get("SFXKIT_SERVER") or None
    try:
        if server:
            from sfxkit.serve.client import ServerError, query_server

            kind = _query_kind(query, text, audio)
            try:
                payload = query_server(server, query, kind, k, filters, index)
            except ServerError as exc:
                raise exc.library_error() from None
            if payload is not None:
                print_payload(payload, as_json)
                return
        if index is None:
            # a usage error (exit 2 with the usage line), as when --index was required
            usage_error = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
            raise usage_error(
                "Missing option '--index' / '-i': pass --index IDX, or --server URL of a running "
                "`sfxkit serve` (or set SFXKIT_SERVER).",
                ctx=ctx,
            )
        from sfxkit.recommender import Recommender

        rec = Recommender(index, device=device, dedupe=dedupe)
        payload = answer_query(rec, query, k, filters, text=text, audio=audio)
    except InputError as exc:
        raise in_cli_terms(exc, audio) from exc
    print_payload(payload, as_json)


def answer_query(
    rec: Any, query: str, k: int, filters: Any, *, text: bool = False, audio: bool = False
) -> dict[str, Any]:
    """A query's answer as the CLI prints it (and as `sfxkit serve` sends it)."""
    from sfxkit.recommender import result_entry

    kind, frame = _query_kind(query, text, audio)
    payload: dict[str, Any] = {
        "query": query,
        "untrained": rec.untrained,
        "root": (rec.manifest.get("build") or {}).get("root"),
    }
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
    return payload


def _query_kind(query: str, text: bool, audio: bool) -> tuple[str, object]:
    """What QUERY is (text, audio, video, frame) and, for a frame, what to embed."""
    from sfxkit.errors import InputError
    from sfxkit.media.kinds import is_video

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
        raise InputError(
            f"{query}: no such file; pass an image, a video, VIDEO@SECONDS, a sound with --audio, "
            "or a description with --text"
        )
    return "frame", query


def print_payload(payload: dict[str, Any], as_json: bool) -> None:
    """Print an answer, computed in-process or by a server, one way."""
    from sfxkit._text import readable

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
    out = _table_console()
    for res in payload["results"]:
        note = f" — {res['verdict']}" if res.get("confident") is not None else ""
        out.print(f"{res['label']}: {readable(query)}{note}", markup=False, highlight=False)
        recs = [SimpleNamespace(**r) for r in res["recommendations"]]
        if not recs:
            out.print("  (no item matches the filters)")
            continue
        out.print(_table(recs, payload.get("root"), plain=out is not console))


def _check_query_kind(query: str, audio: bool) -> None:
    """A sound given as a picture, or a picture as a sound, is named before anything loads."""
    from sfxkit.errors import InputError
    from sfxkit.media.kinds import AUDIO_EXTENSIONS, is_image, is_video

    suffix = Path(query).suffix.lower()
    if not audio and suffix in AUDIO_EXTENSIONS:
        raise InputError(
            f"{query} is a sound file; add --audio to find sounds like it "
            f"(sfxkit recommend {query} --audio --index IDX)"
        )
    if audio and (is_image(query) or is_video(query) or is_video(query.rpartition("@")[0])):
        kind = "an image" if is_image(query) else "a video"
        raise InputError(
            f"{query} is {kind}, not a sound; drop --audio to recommend sounds for "
            + ("the picture" if kind == "an image" else "it")
        )


def in_cli_terms(exc: Exception, audio: bool) -> Exception:
    """The library's advice in command-line words: VIDEO@SECONDS, not (video_path, seconds)."""
    from sfxkit.errors import InputError, MediaError

    if isinstance(exc, MediaError):
        fix = (
            "pass a sound file sfxkit can decode (WAV, FLAC, AIFF, OGG, MP3, ...)"
            if audio
            else "pass a JPEG/PNG/WebP/TIFF/BMP image, a video, or VIDEO@SECONDS for one frame "
            "of a video"
        )
        return MediaError(exc.path, exc.reason, fix)
    message = str(exc)
    if "(video_path, seconds)" in message or "(path, seconds)" in message:
        return InputError(
            message.replace("(video_path, seconds)", "VIDEO@SECONDS").replace(
                "(path, seconds)", "VIDEO@SECONDS"
            )
        )
    return exc


def _table_console() -> Any:
    """Off a terminal (pipes, logs) a wide plain console: no colour, rows never wrapped."""
    if sys.stdout.isatty():
        return console
    from rich.console import Console

    return Console(file=sys.stdout, width=200, no_color=True, highlight=False, emoji=False)


def _table(recs: Any, root: str | None, *, plain: bool) -> Any:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    calibrated = any(r.confidence is not None for r in recs)
    table = Table(
        box=None if plain else box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        header_style="" if plain else "bold",
    )
    table.add_column("#", justify="right")
    table.add_column("score", justify="right")
    if calibrated:
        table.add_column("p", justify="right")
    table.add_column("title", overflow="ellipsis", max_width=40, no_wrap=True)
    table.add_column("category", no_wrap=True)
    table.add_column("duration", justify="right", no_wrap=True)
    table.add_column("loudness", justify="right", no_wrap=True)
    table.add_column("licence", no_wrap=True)
    table.add_column("file", no_wrap=True)
    for r in recs:
        loud = (
            f"{r.loudness:.1f} LUFS"
            if r.loudness_kind == "integrated"
            else f"{r.loudness:.1f} dBFS pk"
        )
        row = [str(r.rank), f"{r.score:+.3f}"]
        if calibrated:
            row.append("-" if r.confidence is None else f"{r.confidence:.2f}")
        row += [
            r.title,
            _category(r),
            f"{r.duration:.2f} s",
            loud,
            r.licence,
            _short_path(r.path, root)
            + (f" (+{r.near_duplicates} near-duplicates)" if r.near_duplicates else ""),
        ]
        table.add_row(*(Text(cell) for cell in row))  # titles are text, not markup
    return table


def _category(r: Any) -> str:
    """The item's own category, else the predicted one, marked as such."""
    if r.category:
        return str(r.category)
    if r.predicted_category:
        return (
            f"predicted {r.predicted_category}/{r.predicted_subcategory} "
            f"{r.predicted_confidence or 0:.2f}"
        )
    return "-"


def _short_path(path: str, root: str | None) -> str:
    """The file relative to the library folder (its format stays visible), else parent/name;
    a name that is not UTF-8 shows its odd bytes as ``\\xNN``."""
    from sfxkit._text import readable

    p = Path(path)
    if root:
        try:
            return readable(str(p.relative_to(root)))
        except ValueError:
            pass
    return readable(str(Path(p.parent.name) / p.name))


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def register(app: typer.Typer) -> None:
    app.command("recommend")(recommend_cmd)
