"""`sfxkit bridge describe|mine|train|calibrate IDX ...` and `sfxkit eval IDX --pairs ...`.

The bridge's working files live inside the index directory by default, next to ``versions/``
(outside the versioned, checksummed part): ``IDX/frame_pool/`` (the embedded frames of your
videos) and ``IDX/mined_pairs.parquet``. Heads, fusion weights and calibration are committed
into the index as a new version.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sfxkit.cli.options import Address, Device, Engine, Json, Seed, check_engine
from sfxkit.cli.output import console, print_json, untrained_banner

bridge_app = typer.Typer(
    help="The language bridge: describe sounds, mine audio-visual pairs from your videos, "
    "train frame→sound heads, calibrate 'no good match'.",
    no_args_is_help=True,
)

POOL_DIR = "frame_pool"
PAIRS_FILE = "mined_pairs.parquet"

_Index = Annotated[Path, typer.Argument(help="Index directory (see `sfxkit index build`).")]


def _progress(as_json: bool) -> bool | None:
    return False if as_json else None


@bridge_app.command("describe")
def describe_cmd(
    index: _Index,
    describer: Annotated[
        str, typer.Option("--describer", "-d", help="template, llm (local transformers) or openai.")
    ] = "template",
    model: Annotated[
        str | None,
        typer.Option(
            "--model", "-m", help="llm: a model directory or cached HF id; openai: model name."
        ),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url", help="openai: API root, e.g. http://localhost:11434/v1 (Ollama)."
        ),
    ] = None,
    n: Annotated[int, typer.Option("-n", min=1, help="Descriptions per sound.")] = 3,
    timeout: Annotated[
        float, typer.Option("--timeout", help="openai: seconds per request.")
    ] = 60.0,
    retries: Annotated[
        int, typer.Option("--retries", min=0, help="openai: retries per request.")
    ] = 3,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="openai: requests in flight.")
    ] = 1,
    cache: Annotated[
        Path | None,
        typer.Option("--cache", help="Response cache file (default: in the sfxkit cache)."),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Do not read or write the cache.")
    ] = False,
    device: Device = None,
    as_json: Json = False,
) -> None:
    """Re-describe every sound of IDX (what one would see) and re-embed its clip_text view."""
    from sfxkit.catalog.describe import make_describer
    from sfxkit.index.maintain import describe_index

    kwargs: dict[str, object] = {}
    if describer in {"llm", "transformers", "openai"}:
        kwargs["cache"] = False if no_cache else cache
    if describer in {"llm", "transformers"}:
        kwargs["device"] = device
    if describer == "openai":
        kwargs.update(timeout=timeout, retries=retries, workers=workers)
    d = make_describer(describer, model=model, base_url=base_url, **kwargs)
    report = describe_index(index, d, n=n, device=device)
    if as_json:
        print_json(report.to_dict())
        return
    if report.untrained:
        console.print(
            "[bold yellow]NOTE: this describer is a tiny UNTRAINED language model: its text is "
            "junk and most descriptions fell back to the template.[/]"
        )
    console.print(
        f"[bold]{report.index}[/] version {report.version}: {report.items} sounds described by "
        f"{report.describer}, {report.changed} changed (model calls {report.calls}, cache hits "
        f"{report.cache_hits}, template fallbacks {report.fallbacks})"
    )
    for title, descs in report.examples:
        console.print(f"  {title}: " + " | ".join(descs))
    for note in report.notes:
        console.print(f"[yellow]{note}[/]")


@bridge_app.command("mine")
def mine_cmd(
    index: _Index,
    videos: Annotated[list[Path], typer.Argument(help="Your videos: files or folders.")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help=f"Pairs file (default IDX/{PAIRS_FILE}).")
    ] = None,
    pool: Annotated[
        Path | None, typer.Option("--pool", help=f"Frame pool directory (default IDX/{POOL_DIR}).")
    ] = None,
    per_shot: Annotated[
        int, typer.Option("--per-shot", min=1, help="Frames sampled per shot.")
    ] = 3,
    top_m: Annotated[
        int, typer.Option("--top-m", min=1, help="Frames kept per sound (mutual).")
    ] = 40,
    frame_top: Annotated[
        int, typer.Option("--frame-top", min=1, help="Sounds per frame (mutual).")
    ] = 2,
    keep: Annotated[
        float, typer.Option("--keep", help="Share of each sound's matches kept (most confident).")
    ] = 0.5,
    threshold: Annotated[
        str, typer.Option("--threshold", help="Minimum cosine, 'auto' or 'none'.")
    ] = "auto",
    max_per_video: Annotated[
        int | None, typer.Option("--max-per-video", help="Cap of pairs per video.")
    ] = None,
    max_video_share: Annotated[
        float, typer.Option("--max-video-share", help="Largest share of pairs from one video.")
    ] = 0.1,
    max_per_item_video: Annotated[
        int, typer.Option("--max-per-item-video", min=1, help="Frames per sound per video.")
    ] = 2,
    no_propagate: Annotated[
        bool, typer.Option("--no-propagate", help="Do not pair the rest of a matched shot.")
    ] = False,
    captioner: Annotated[
        str | None,
        typer.Option(
            "--captioner",
            help="Also caption frames with this image-to-text model (dir or cached HF id).",
        ),
    ] = None,
    device: Device = None,
    as_json: Json = False,
    engine: Engine = "local",
    address: Address = None,
) -> None:
    """Sample your VIDEOS per shot into a frame pool and mine sound↔frame pairs for IDX."""
    from sfxkit.bridge.mine import TransformersCaptioner, mine_index
    from sfxkit.bridge.pool import build_frame_pool
    from sfxkit.errors import InputError
    from sfxkit.index.store import load_index

    check_engine(engine, address)
    idx = load_index(index, views=[])
    pool_dir = pool or (idx.root / POOL_DIR)
    out_path = out or (idx.root / PAIRS_FILE)
    thr: float | str | None
    if threshold.lower() == "auto":
        thr = "auto"
    elif threshold.lower() == "none":
        thr = None
    else:
        try:
            thr = float(threshold)
        except ValueError:
            raise InputError(f"--threshold {threshold!r}: use a number, 'auto' or 'none'") from None
    built = build_frame_pool(
        videos,
        model=idx.manifest.views["clip_text"].model,
        pool_dir=pool_dir,
        per_shot=per_shot,
        device=device,
        progress=_progress(as_json),
        engine=engine,
        address=address,
    )
    cap = TransformersCaptioner(captioner, device=device) if captioner else None
    result = mine_index(
        index,
        built.pool,
        top_m=top_m,
        frame_top=frame_top,
        keep=keep,
        threshold=thr,
        max_per_video=max_per_video,
        max_video_share=max_video_share,
        max_per_item_video=max_per_item_video,
        propagate=not no_propagate,
        captioner=cap,
        out=out_path,
        device=device,
        progress=_progress(as_json),
    )
    failures = [{"video": f.video, "reason": f.reason} for f in built.failures]
    failures += [{"video": v, "reason": r} for v, r in result.failures]
    summary = {
        "index": str(idx.root),
        "pool": str(pool_dir),
        "frames": len(built.pool),
        "videos_added": built.added,
        "videos_reused": built.reused,
        "pairs_file": str(out_path),
        "pairs": int(len(result.pairs)),
        "directions": result.stats,
        "failures": failures,
        "untrained": result.untrained,
    }
    if as_json:
        print_json(summary)
        return
    if result.untrained:
        untrained_banner()
    console.print(
        f"frame pool {pool_dir}: {len(built.pool)} frames ({built.added} videos sampled, "
        f"{built.reused} reused)"
    )
    for direction, st in result.stats.items():
        console.print(f"  {direction}: " + ", ".join(f"{k} {v}" for k, v in st.items()))
    console.print(f"[bold]{len(result.pairs)} pairs[/] → {out_path}")
    for f in failures:
        console.print(f"[yellow]skipped[/] {f['video']}: {f['reason']}")


@bridge_app.command("train")
def train_cmd(
    index: _Index,
    pairs: Annotated[
        Path | None, typer.Option("--pairs", help=f"Mined pairs (default IDX/{PAIRS_FILE}).")
    ] = None,
    pool: Annotated[
        Path | None, typer.Option("--pool", help=f"Frame pool (default IDX/{POOL_DIR} if present).")
    ] = None,
    holdout: Annotated[
        Path | None,
        typer.Option(
            "--holdout",
            help="Labelled hold-out pairs CSV (video,time,sfx): fusion weights and calibration.",
        ),
    ] = None,
    video_root: Annotated[
        Path | None, typer.Option("--video-root", help="Folder that relative video paths are in.")
    ] = None,
    epochs: Annotated[
        int, typer.Option("--epochs", min=1, help="Maximum epochs (early stopping).")
    ] = 200,
    seed: Seed = 0,
    dim: Annotated[int, typer.Option("--dim", min=4, help="Shared space dimension.")] = 128,
    target_precision: Annotated[
        float,
        typer.Option("--target-precision", help="Precision the confidence threshold must reach."),
    ] = 0.8,
    device: Device = None,
    as_json: Json = False,
) -> None:
    """Train the bridge heads on mined pairs and store heads, bridge view, fusion and calibration."""
    from sfxkit.bridge.train import TrainConfig, train_bridge
    from sfxkit.index.store import IndexStore

    root = IndexStore(index).root
    pairs_path = pairs or (root / PAIRS_FILE)
    pool_dir = pool or ((root / POOL_DIR) if (root / POOL_DIR / "pool.json").is_file() else None)
    report = train_bridge(
        index,
        pairs_path,
        pool=pool_dir,
        holdout=holdout,
        config=TrainConfig(max_epochs=epochs, seed=seed, dim=dim),
        target_precision=target_precision,
        device=device,
        video_root=video_root,
        progress=_progress(as_json),
    )
    if as_json:
        print_json(report.to_dict())
        return
    if report.untrained:
        untrained_banner()
    t = report.training
    console.print(
        f"[bold]{report.index}[/] version {report.version}: heads trained on {report.pairs_used} "
        f"of {report.pairs} pairs, best epoch {t['best_epoch']} (validation R@{t['val_k']} "
        f"{t['val_recall']:.3f}, MRR {t['val_mrr']:.3f})"
    )
    console.print(f"fusion {report.fusion} ({report.fusion_chosen_on})")
    _print_calibration(report.calibration)
    for note in report.notes:
        console.print(f"[yellow]{note}[/]")
    if report.skipped:
        console.print(f"[yellow]{len(report.skipped)} pair(s) skipped[/]")


@bridge_app.command("calibrate")
def calibrate_cmd(
    index: _Index,
    pairs: Annotated[
        Path, typer.Option("--pairs", help="Labelled hold-out pairs CSV (video,time,sfx).")
    ],
    video_root: Annotated[
        Path | None, typer.Option("--video-root", help="Folder that relative video paths are in.")
    ] = None,
    target_precision: Annotated[float, typer.Option("--target-precision")] = 0.8,
    keep_weights: Annotated[
        bool, typer.Option("--keep-weights", help="Keep the stored fusion weights.")
    ] = False,
    device: Device = None,
    as_json: Json = False,
) -> None:
    """Fit fusion weights and the calibrated 'no good match' threshold on labelled pairs."""
    from sfxkit.bridge.train import calibrate_index

    report = calibrate_index(
        index,
        pairs,
        target_precision=target_precision,
        choose_weights=not keep_weights,
        device=device,
        video_root=video_root,
        progress=_progress(as_json),
    )
    if as_json:
        print_json(report.to_dict())
        return
    if report.untrained:
        untrained_banner()
    console.print(f"[bold]{report.index}[/] version {report.version}: fusion {report.fusion}")
    _print_calibration(report.calibration)


def _print_calibration(cal: dict[str, object] | None) -> None:
    if not cal:
        return
    thr = cal.get("threshold")
    thr_text = f"{thr:.3f}" if isinstance(thr, float) else "none (target not reachable)"
    console.print(
        f"calibration ({cal.get('method')}, on {cal.get('labels')} pairs): threshold {thr_text} for "
        f"precision {cal.get('target_precision')}, ECE {float(cal.get('ece') or 0):.3f}"  # type: ignore[arg-type]
    )


def eval_cmd(
    index: _Index,
    pairs: Annotated[
        Path,
        typer.Option(
            "--pairs", help="Held-out pairs: CSV/Parquet (video,time,sfx) or VGGSound CSV."
        ),
    ],
    video_root: Annotated[
        Path | None, typer.Option("--video-root", help="Folder that relative video paths are in.")
    ] = None,
    mode: Annotated[
        list[str] | None,
        typer.Option("--mode", help="zero_shot, trained, fused (repeatable; default all)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Also write the JSON report here.")
    ] = None,
    device: Device = None,
    as_json: Json = False,
) -> None:
    """R@1/5/10, MRR, median rank and category hit@k on held-out pairs, per scoring mode."""
    from sfxkit._json import write_json
    from sfxkit.bridge.evaluate import evaluate

    report = evaluate(
        index,
        pairs,
        modes=mode or None,
        video_root=video_root,
        device=device,
        progress=_progress(as_json),
    )
    data = report.to_dict()
    if out is not None:
        write_json(out, data)
    if as_json:
        print_json(data)
        return
    if report.untrained:
        untrained_banner()
    console.print(
        f"[bold]{report.index}[/] version {report.version}: {report.evaluated} of {report.pairs} "
        f"pairs evaluated; fusion {report.fusion}"
    )
    console.print(report.table(), markup=False)
    if report.calibration:
        c = report.calibration
        prec = c.get("confident_precision")
        console.print(
            f"calibration: ECE {c['ece']:.3f}; {c['confident_fraction']:.0%} of queries confident"
            + (f", {prec:.0%} of those right" if prec is not None else "")
        )
    if report.skipped:
        console.print(f"[yellow]{len(report.skipped)} pair(s) skipped[/]")
        for what, reason in report.skipped[:10]:
            console.print(f"  {what}: {reason}")


def register(app: typer.Typer) -> None:
    app.add_typer(bridge_app, name="bridge")
    app.command("eval")(eval_cmd)
