"""`sfxkit soundtrack VIDEO_OR_DIR --index IDX --out DIR` and `sfxkit compare VIDEO --index IDX`.

The flags are :func:`sfxkit.soundtrack`'s and :func:`sfxkit.compare`'s arguments. A folder runs
:func:`sfxkit.soundtrack_batch` (resumable; a bad video is reported and the rest go on; the
exit code is 1 when any video failed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from sfxkit.cli.options import Models, Variant
from sfxkit.cli.output import console, print_json, untrained_banner

__all__ = ["register"]

_POLICY_HELP = "auto (decide per shot), retrieve, generate or blend."


# Options shared by `soundtrack` and `compare`.
_Index = Annotated[
    Path, typer.Option("--index", "-i", help="Index directory (see `sfxkit index build`).")
]
_Prompt = Annotated[
    str | None,
    typer.Option("--prompt", help="Generation prompt for every shot (default: from matches)."),
]
_NegativePrompt = Annotated[
    str, typer.Option("--negative-prompt", help="What generated sounds should not be.")
]
_Steps = Annotated[int, typer.Option("--steps", min=1, help="Generation sampler steps.")]
_Seed = Annotated[int, typer.Option("--seed", help="Generation seed (plus shot number).")]


def _overrides(values: list[str]) -> dict[int, str]:
    from sfxkit.editorial.options import FORCED
    from sfxkit.errors import InputError

    out: dict[int, str] = {}
    for item in values:
        shot, sep, decision = item.partition("=")
        if not sep or not shot.strip().isdigit() or decision not in FORCED:
            raise InputError(
                f"--force {item!r}: write SHOT=DECISION, e.g. --force 2=generate; "
                f"decisions: {', '.join(FORCED)}"
            )
        out[int(shot)] = decision
    return out


def _preflight(
    command: str,
    index: Path,
    models: str | None,
    variant: str | None,
    policy: str,
    force: list[str],
    layers: str = "shot",
) -> str:
    """The MMAudio variant to use, once every model the command may need is known to load."""
    from sfxkit.cli.options import (
        check_generator,
        check_index_models,
        generator_advice,
        resolve_variant,
    )
    from sfxkit.editorial.options import LAYER_MODES, POLICIES
    from sfxkit.errors import InputError

    if policy not in POLICIES:  # input mistakes first: they need no model to be named
        raise InputError(f"unknown policy {policy!r}; use one of: {', '.join(POLICIES)}")
    if layers not in LAYER_MODES:
        raise InputError(f"unknown --layers {layers!r}; use one of: {', '.join(LAYER_MODES)}")
    forced = _overrides(force) if command == "soundtrack" else {}
    name = resolve_variant(models, variant)
    check_index_models(index, models, command)
    may_generate = (
        command == "compare"
        or policy != "retrieve"
        or any(decision in ("generate", "blend") for decision in forced.values())
    )
    if may_generate:
        check_generator(name, generator_advice(command, retrieve=command == "soundtrack"))
    return name


def soundtrack_cmd(
    video: Annotated[Path, typer.Argument(help="A video file, or a folder of videos (batch).")],
    index: _Index,
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="Output folder (a batch writes one sub-folder per video)."
        ),
    ],
    policy: Annotated[str, typer.Option("--policy", help=_POLICY_HELP)] = "auto",
    force: Annotated[
        list[str],
        typer.Option("--force", help="Force one shot: SHOT=retrieve|generate|blend|silence."),
    ] = [],  # noqa: B006 - typer reads the default, never mutates it
    target: Annotated[
        float, typer.Option("--target", help="Mix loudness in LUFS (e.g. -14 for web).")
    ] = -23.0,
    true_peak: Annotated[
        float, typer.Option("--true-peak", help="True-peak ceiling in dBTP.")
    ] = -1.0,
    k: Annotated[int, typer.Option("-k", "--top-k", min=1, help="Candidates per shot.")] = 5,
    prompt: _Prompt = None,
    negative_prompt: _NegativePrompt = "speech, music",
    models: Models = None,
    variant: Variant = None,
    steps: _Steps = 25,
    seed: _Seed = 42,
    blend_mode: Annotated[
        str, typer.Option("--blend-mode", help="layer (sum) or crossfade.")
    ] = "layer",
    follow_motion: Annotated[
        bool,
        typer.Option("--follow-motion/--no-follow-motion", help="Loudness follows motion."),
    ] = True,
    pan: Annotated[bool, typer.Option("--pan", help="Pan sounds with the motion.")] = False,
    device: Annotated[
        str | None, typer.Option("--device", help="auto, cpu, cuda, cuda:1, mps.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show progress bars.")
    ] = True,
    choices: Annotated[
        Path | None,
        typer.Option("--choices", help="A review session file: per-shot decisions and sounds."),
    ] = None,
    layers: Annotated[
        str,
        typer.Option(
            "--layers",
            help="shot: one sound per shot, cut to cut; auto: an ambience bed per scene and a "
            "spot effect on each visible event.",
        ),
    ] = "shot",
    scene_threshold: Annotated[
        float | None,
        typer.Option(
            "--scene-threshold",
            help="CLIP keyframe similarity (0-1) at which shots are one scene (--layers auto).",
        ),
    ] = None,
    start_tc: Annotated[
        str | None,
        typer.Option(
            "--start-tc",
            help="Start timecode HH:MM:SS:FF (;FF drop-frame); default: the video's own, else 0.",
        ),
    ] = None,
    handles: Annotated[
        float, typer.Option("--handles", min=0.0, help="Seconds of extra audio around spot clips.")
    ] = 1.0,
    channels: Annotated[
        str, typer.Option("--channels", help="2, or 5.1 to add 5.1 stems and mix.")
    ] = "2",
    formats: Annotated[
        str | None,
        typer.Option(
            "--formats",
            help="Comma-separated: wav,csv,edl,otio,aaf,xml,json,mp4 (default: all).",
        ),
    ] = None,
) -> None:
    """Give VIDEO (or every video in a folder) its sound effects: per shot retrieve, generate
    or blend; mix to a loudness target; deliver BWF clips, stems and mix (5.1 too), muxed video,
    AAF/FCP XML/EDL/OTIO, CSV, provenance."""
    from sfxkit.delivery.export import FORMATS, check_delivery
    from sfxkit.editorial import SoundtrackOptions, soundtrack, soundtrack_batch

    wanted = tuple(f.strip() for f in formats.split(",") if f.strip()) if formats else FORMATS
    check_delivery(
        None if video.is_dir() else video,
        start_tc=start_tc,
        handles=handles,
        channels=channels,
        formats=wanted,
    )
    variant = _preflight("soundtrack", index, models, variant, policy, force, layers)
    knobs: dict[str, Any] = dict(
        policy=policy,
        k=k,
        target_lufs=target,
        true_peak=true_peak,
        prompt=prompt,
        negative_prompt=negative_prompt,
        variant=variant,
        steps=steps,
        seed=seed,
        blend_mode=blend_mode,
        follow_motion=follow_motion,
        pan=pan,
        layers=layers,
        start_tc=start_tc,
        handles=handles,
        channels=channels,
        formats=wanted,
    )
    if scene_threshold is not None:
        knobs["scene_threshold"] = scene_threshold
    show = None if progress else False
    if video.is_dir():
        if force or choices:
            from sfxkit.errors import InputError

            raise InputError(
                "--force and --choices name shots of one video; they cannot apply to a folder"
            )
        options = SoundtrackOptions(**knobs)
        report = soundtrack_batch(video, index, out, options=options, device=device, progress=show)
        if as_json:
            print_json(report.to_dict())
        else:
            for item in report.items:
                line = f"{item.status:<8} {item.video}"
                if item.error:
                    line += f"  ({item.error})"
                console.print(line, markup=False)
            console.print(
                f"{len(report.done)} done, {len(report.skipped)} skipped (already finished), "
                f"{len(report.failed)} failed; report: {report.report}",
                markup=False,
            )
        if report.failed:
            from sfxkit.errors import SfxkitError

            # Exit code 1 (and a line on stderr) so scripts notice; the rest were finished.
            names = ", ".join(str(i.video) for i in report.failed)
            raise SfxkitError(f"{len(report.failed)} video(s) failed: {names}; see {report.report}")
        return
    options = SoundtrackOptions(**knobs, overrides=_overrides(force), choices=choices)
    result = soundtrack(video, index, options, out=out, device=device, progress=show)
    exports = result.exports
    if as_json:
        print_json(
            {
                "video": str(video),
                "out": str(out),
                "stats": result.stats,
                "non_commercial": result.non_commercial,
                "files": {
                    "mix": str(exports.mix) if exports else None,
                    "video": str(exports.video) if exports else None,
                    "edl": str(exports.edl) if exports else None,
                    "otio": str(exports.otio) if exports else None,
                    "csv": str(exports.csv) if exports else None,
                    "aaf": str(exports.aaf) if exports and exports.aaf else None,
                    "xml": str(exports.xml) if exports and exports.xml else None,
                    "mix_51": str(exports.mix_51) if exports and exports.mix_51 else None,
                    "start_tc": exports.start_tc if exports else None,
                    "provenance": str(exports.provenance) if exports else None,
                },
                "shots": [
                    {
                        "shot": d.shot.index,
                        "start": d.shot.start,
                        "end": d.shot.end,
                        "decision": d.decision,
                        "reason": d.reason,
                        "role": d.role,
                        **({"cue": d.cue, "cue_span": d.span} if d.span is not None else {}),
                    }
                    for d in result.decisions
                ],
            }
        )
        return
    if result.stats["untrained_index"] or result.stats["untrained_generator"]:
        untrained_banner()
    for d in result.decisions:
        what, (t0, t1) = (
            (f"shot {d.shot.index:>3}", (d.shot.start, d.shot.end))
            if d.span is None
            else (f"{d.role:<4} {d.cue:>3}", d.span)
        )
        console.print(f"{what} {t0:7.2f}-{t1:7.2f}s  {d.decision:<8} {d.reason}", markup=False)
    s = result.stats
    console.print(
        f"mix: {s['loudness']:.1f} LUFS (target {s['target_lufs']:.1f}), true peak "
        f"{s['true_peak_dbtp']:.1f} dBTP (ceiling {s['ceiling_dbtp']:.1f}); wrote {out}",
        markup=False,
    )
    if result.non_commercial:
        from sfxkit.delivery.export import NC_NOTICE

        console.print(f"NON-COMMERCIAL: {NC_NOTICE}", markup=False)


def compare_cmd(
    video: Annotated[Path, typer.Argument(help="The video to compare sounds for.")],
    index: _Index,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="HTML report to write (JSON beside it).")
    ] = Path("report.html"),
    k: Annotated[int, typer.Option("-k", "--top-k", min=1, help="Catalog sounds per shot.")] = 3,
    prompt: _Prompt = None,
    negative_prompt: _NegativePrompt = "speech, music",
    models: Models = None,
    variant: Variant = None,
    steps: _Steps = 25,
    seed: _Seed = 42,
    policy: Annotated[str, typer.Option("--policy", help=_POLICY_HELP)] = "auto",
    device: Annotated[
        str | None, typer.Option("--device", help="auto, cpu, cuda, cuda:1, mps.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")
    ] = True,
) -> None:
    """Compare, per shot of VIDEO, the catalog's best sounds with a generated one: an HTML report
    (keyframes, players, spectrograms, scores, decision, licences) and JSON."""
    from sfxkit.editorial.report import compare

    variant = _preflight("compare", index, models, variant, policy, [])
    result = compare(
        video,
        index,
        out=out,
        k=k,
        prompt=prompt,
        negative_prompt=negative_prompt,
        variant=variant,
        steps=steps,
        seed=seed,
        policy=policy,
        device=device,
        progress=None if progress else False,
    )
    if as_json:
        print_json(
            {
                "html": str(result.html),
                "json": str(result.json),
                "untrained": result.untrained,
                "non_commercial": result.non_commercial,
                "shots": [
                    {"shot": c.shot.index, "decision": c.decision, "reason": c.reason}
                    for c in result.shots
                ],
            }
        )
        return
    if result.untrained:
        untrained_banner()
    for c in result.shots:
        console.print(f"shot {c.shot.index:>3}  {c.decision:<8} {c.reason}", markup=False)
    console.print(f"wrote {result.html} and {result.json}", markup=False)


def register(app: typer.Typer) -> None:
    app.command("soundtrack")(soundtrack_cmd)
    app.command("compare")(compare_cmd)
