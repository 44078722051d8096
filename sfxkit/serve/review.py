"""The review page: a timeline editor under the video (lanes BG/FX/GEN, a block per cue, shot
boundaries, playhead, mute/solo, zoom, Web Audio preview) and, per cue or per shot, the decision
and why, the candidates to audition, search, gain, offset and blend share; choices saved to a
session file; export as a soundtrack job into that folder; a cue's or shot's generated sound on
demand (a generate job) to audition before choosing it.

The session file is ``OUT/choices.json`` (version 2, :class:`~sfxkit.editorial.decision.
ReviewChoices`: ``shots`` for ``layers="shot"``, ``cues`` ``bed-N``/``spot-N`` and ``added``
spots for ``layers="auto"``), the same file ``sfxkit soundtrack VIDEO --choices FILE`` reads;
the page shows the command (:func:`reproduce_command`) that makes the same export headless.
Without ``out=`` it lives under the sfxkit cache (:func:`default_out`), so it survives restarts.

The page is planned by :func:`plan_page` with the export's own functions (``shot_candidates``,
``plan_layers``, ``decide``): per-shot sections (``layers="shot"``: ``s`` the Shot,
``decision``, ``plain``, ``reason``, ``candidates``, ``layers``) and the timeline's cues.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
from pathlib import Path
from typing import Any

from sfxkit.errors import InputError

SESSION = "choices.json"
STATIC = Path(__file__).parent / "static"


def review_root() -> Path:
    """Where the page keeps its choices when opened without ``out=``: under the sfxkit cache
    (``$SFXKIT_CACHE/review``), so that they survive a restart of the server."""
    from sfxkit.config import get_settings

    return get_settings().cache_dir / "review"


def default_out(video: Path, index: Path, root: Path | None = None) -> Path:
    """The review folder of ``video`` under ``index``: one per video and index (a choice names
    catalog sounds of one index), stable across restarts."""

    def digest(p: Path) -> str:
        return hashlib.sha256(str(p.resolve()).encode()).hexdigest()[:12]

    base = root if root is not None else review_root()
    return base / f"{index.name}-{digest(index)}" / f"{video.stem}-{digest(video)}"


def plain_reason(decision: str, numbers: dict[str, Any], role: str = "shot") -> str:
    """The decision in a sound designer's words (the policy's reason cites its thresholds),
    for a ``role`` of ``shot``, ``bed`` (a scene's ambience) or ``spot`` (a visible event)."""
    conf = numbers.get("confidence", numbers.get("top_score"))
    best = f" (best match {conf:.2f})" if isinstance(conf, (int, float)) else ""
    what = {"bed": "this scene's ambience", "spot": "this event"}.get(role, "this shot")
    return {
        "retrieve": f"A catalog sound fits {what} well{best}: use it.",
        "generate": f"Nothing in the catalog fits well enough{best}: generate a sound.",
        "blend": f"The catalog sound is close but not certain{best}: layer it with a generated one.",
        "silence": f"No usable sound: leave {what} silent.",
    }.get(decision, decision)


# The lanes of the timeline: the stems the export delivers (sfxkit.delivery.interchange.stem_type).
LANES = ("BG", "FX", "GEN")


def lane_of(role: str, decision: str) -> str:
    """The stem a cue lands in: anything generated in GEN, else a bed in BG, else FX."""
    if decision in ("generate", "blend"):
        return "GEN"
    return "BG" if role == "bed" else "FX"


def plan_page(
    rec: Any, video: Path, k: int, policy: str, layers: str = "shot"
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """What the page shows: per-shot sections (``layers="shot"``; none for ``"auto"``, whose
    cues are edited on the timeline) and the timeline: shots with their transitions, and the
    cues the export will plan, each ``{"key", "role", "lane", "start", "end", "onset",
    "decision", "plain", "reason", "candidates"}`` (keys ``shot-N``, ``bed-N``, ``spot-N`` as the
    session file names them). Planned as :func:`sfxkit.soundtrack` plans with the same options."""
    from sfxkit.editorial.decision import decide
    from sfxkit.editorial.options import SoundtrackOptions
    from sfxkit.editorial.plan import plan_layers, shot_candidates
    from sfxkit.editorial.results import StageClock
    from sfxkit.editorial.run import SPOT_PREROLL_SECONDS

    opts = SoundtrackOptions(k=k, policy=policy, layers=layers)
    filters = {"exclude_flags": ("silent",)}
    found = shot_candidates(video, rec, k=k, filters=filters, detectors=opts.shot_detectors)
    duration = float(found.info.duration)
    shots = [
        {
            "index": s.index,
            "start": s.start,
            "end": min(s.end, duration),
            "transition": s.transition,
        }
        for s in found.shots
    ]
    if layers != "auto":
        # Per-shot cues are aligned to and shaped by the shot's motion: the preview needs it.
        for entry, s in zip(shots, found.shots, strict=True):
            entry["motion"] = shot_motion(video, s)
    sections: list[dict[str, Any]] = []
    cues: list[dict[str, Any]] = []

    def cue(key: str, role: str, start: float, end: float, cands: list[Any], **extra: Any) -> None:
        decision, reason, numbers = decide(cands, policy=policy, thresholds=opts.thresholds)
        cues.append(
            {
                "key": key,
                "role": role,
                "lane": lane_of(role, decision),
                "start": round(start, 6),
                "end": round(end, 6),
                "decision": decision,
                "plain": plain_reason(decision, numbers, role),
                "reason": reason,
                "candidates": [r.to_dict() for r in cands],
                **extra,
            }
        )

    if layers == "auto":
        plan = plan_layers(
            video,
            rec,
            found,
            k=k,
            filters=filters,
            scene_threshold=opts.scene_threshold,
            max_spots=opts.max_spots,
            onset_rise=opts.onset_rise,
            spot_gap=opts.spot_gap,
            clock=StageClock(),
        )
        for sc, cands in zip(plan.scenes, plan.bed_candidates, strict=True):
            cue(f"bed-{sc.index}", "bed", sc.start, min(sc.end, duration), cands, shots=sc.shots)
        for j, (ev, cands) in enumerate(zip(plan.events, plan.spot_candidates, strict=True)):
            start = max(ev.time - SPOT_PREROLL_SECONDS, 0.0)
            end = min(ev.time + opts.spot_length, duration)
            cue(f"spot-{j}", "spot", start, end, cands, onset=ev.time, shot=ev.shot)
    else:
        for s, cands in zip(found.shots, found.candidates, strict=True):
            cue(f"shot-{s.index}", "shot", s.start, min(s.end, duration), cands, shot=s.index)
            made = cues[-1]
            sections.append(
                {
                    "s": s,
                    "decision": made["decision"],
                    "plain": made["plain"],
                    "reason": made["reason"],
                    "candidates": made["candidates"],
                    "layers": [],
                }
            )
    timeline = {
        "duration": duration,
        "fps": found.info.fps,
        "layers": layers,
        "lanes": list(LANES),
        "shots": shots,
        "cues": cues,
        "spot_length": opts.spot_length,
    }
    return sections, timeline


def shot_motion(video: Path, shot: Any) -> dict[str, Any]:
    """A shot's motion as the soundtrack measures it (:func:`sfxkit.editorial.render.motion_for`):
    its strongest onset (what a catalog sound is aligned to) and the profile (``times``,
    ``energy``, ``centroid_x``) that loudness and pan follow."""
    from sfxkit.editorial.render import motion_for
    from sfxkit.media.motion import strongest_onset

    profile = motion_for(video, shot)
    return {
        "onset": strongest_onset(profile),
        "times": profile.times.tolist(),
        "energy": profile.energy.tolist(),
        "centroid_x": profile.centroid_x.tolist(),
    }


def mix_settings(options: dict[str, Any]) -> dict[str, Any]:
    """What the page's mix preview needs to mix as the export will with these page options:
    the soundtrack's defaults (:class:`~sfxkit.editorial.options.SoundtrackOptions`) and the
    constants of its fitting and mixing."""
    import dataclasses

    from sfxkit.delivery.mix import MOTION_FLOOR_DB, SHORT_CLIP_PEAK_OFFSET_DB, SPOT_FADE_SECONDS
    from sfxkit.editorial.options import SoundtrackOptions
    from sfxkit.editorial.render import LOOP_MIN_SECONDS
    from sfxkit.editorial.run import SPOT_PREROLL_SECONDS

    known = {f.name for f in dataclasses.fields(SoundtrackOptions)}
    opts = SoundtrackOptions(**{k: v for k, v in options.items() if k in known and v is not None})
    return {
        "sample_rate": int(opts.sample_rate),
        "channels": 2,
        "target_lufs": opts.target_lufs,
        "short_peak_offset_db": SHORT_CLIP_PEAK_OFFSET_DB,
        "crossfade": opts.crossfade,
        "bed_crossfade": opts.bed_crossfade,
        "bed_level_db": opts.bed_level_db,
        "blend_mode": opts.blend_mode,
        "blend_gains_db": list(opts.blend_gains_db),
        "fit": opts.fit,
        "loop_min": LOOP_MIN_SECONDS,
        "align": opts.align,
        "follow_motion": opts.follow_motion,
        "pan": opts.pan,
        "motion_floor_db": MOTION_FLOOR_DB,
        "spot_fade": SPOT_FADE_SECONDS,
        "spot_preroll": SPOT_PREROLL_SECONDS,
        "spot_length": opts.spot_length,
        "handles": opts.handles,
    }


def read_session(out: Path) -> dict[str, Any]:
    """The saved choices of a review; a file that cannot be read as choices is set aside as
    ``choices.json.bad-TIME`` (kept for the user) and the review starts empty, with a
    ``warning`` saying so: a corrupt file never stops the page from opening."""
    from sfxkit.editorial.decision import load_review

    path = out / SESSION
    if not path.is_file():
        return {"shots": {}}
    try:
        doc = json.loads(path.read_text())
        if not isinstance(doc, dict):
            raise InputError("not a JSON object")
        load_review(doc)  # what the export would refuse
    except (OSError, UnicodeDecodeError, ValueError, InputError) as exc:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        kept = path.with_name(f"{SESSION}.bad-{stamp}-{os.getpid()}")
        try:
            path.replace(kept)
        except OSError:
            kept = path
        return {
            "shots": {},
            "warning": f"{path} could not be read as review choices ({exc}); it was set aside "
            f"as {kept} and this review starts without choices",
        }
    return doc


def write_session(
    out: Path,
    video: Path,
    shots: Any,
    n_shots: int | None = None,
    *,
    cues: Any = None,
    added: Any = None,
    cue_keys: set[str] | None = None,
    duration: float | None = None,
) -> Path:
    """Save the choices after validating them as ``--choices`` would (ranges in
    :class:`~sfxkit.editorial.decision.ShotChoice`) and against the video: its ``n_shots``,
    the ``cue_keys`` the page planned, its ``duration`` for added spots. Written as version 2
    (``shots``, ``cues``, ``added``)."""
    from sfxkit._atomic import atomic_write_text
    from sfxkit.editorial.decision import load_review

    review = load_review(
        {"version": 2, "shots": shots or {}, "cues": cues or {}, "added": added or []}
    )
    bad = sorted(i for i in review.shots if n_shots is not None and i >= n_shots)
    if bad:
        raise InputError(
            f"choices name shot(s) {bad} but {video} has {n_shots} shot(s), "
            f"numbered 0..{n_shots - 1}"
        )
    strange = sorted(set(review.cues) - cue_keys) if cue_keys is not None else []
    if strange:
        raise InputError(
            f"choices name cue(s) {strange}, which this review did not plan "
            f"(its cues: {', '.join(sorted(cue_keys or ())) or 'none'})"
        )
    late = [a.at for a in review.added if duration is not None and a.at >= duration]
    if late:
        raise InputError(f"added spot(s) at {late} s lie past the end of {video} ({duration} s)")
    out.mkdir(parents=True, exist_ok=True)
    doc = {"video": str(video), **review.to_dict()}
    return atomic_write_text(out / SESSION, json.dumps(doc, indent=2) + "\n")


def keyframe_png(video: Path, t: float, max_side: int = 320) -> bytes:
    from PIL import Image

    from sfxkit.media.frames import frames_at

    if not video.is_file():
        raise InputError(f"{video}: no such video on the server")
    frame = frames_at(video, [t], max_side=max_side)[0]
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, "PNG")
    return buf.getvalue()


# What a generate job passes on to the generator; the page's other options (policy, fit, ...)
# are the export's.
GENERATE_OPTIONS = (
    "k",
    "variant",
    "steps",
    "seed",
    "cfg_strength",
    "prompt",
    "negative_prompt",
    "crossfade",
    "device",
)


# The page's export options as `sfxkit soundtrack` flags, so the page can show the exact command
# that reproduces its export. An option without a flag here is refused by the page (see
# check_page_options) rather than silently dropped from the command.
CLI_FLAGS = {
    "policy": "--policy",
    "variant": "--variant",
    "layers": "--layers",
    "k": "--top-k",
    "steps": "--steps",
    "seed": "--seed",
    "prompt": "--prompt",
    "negative_prompt": "--negative-prompt",
    "blend_mode": "--blend-mode",
    "scene_threshold": "--scene-threshold",
    "target_lufs": "--target",
    "true_peak": "--true-peak",
    "start_tc": "--start-tc",
    "handles": "--handles",
    "channels": "--channels",
}
CLI_SWITCHES = {
    "follow_motion": ("--follow-motion", "--no-follow-motion"),
    "align": ("--align", "--no-align"),
    "pan": ("--pan", "--no-pan"),
}


def export_options(options: dict[str, Any]) -> dict[str, Any]:
    """The page's options with the generator variant and layer mode made explicit: which
    generator and which layer mode made an export is never implicit."""
    from sfxkit.generation.mmaudio.variants import DEFAULT_VARIANT

    out = dict(options)
    out.setdefault("variant", DEFAULT_VARIANT)
    out.setdefault("layers", "shot")
    return out


def check_page_options(options: dict[str, Any]) -> None:
    unknown = sorted(set(options) - set(CLI_FLAGS) - set(CLI_SWITCHES) - {"device", "formats"})
    if unknown:
        raise InputError(
            f"review option(s) {', '.join(unknown)} have no `sfxkit soundtrack` flag; use "
            f"{', '.join(sorted([*CLI_FLAGS, *CLI_SWITCHES, 'formats']))}"
        )


def reproduce_command(video: Path, index: Path, out: Path, options: dict[str, Any]) -> str:
    """The `sfxkit soundtrack` command that makes the same export as the page: the index, the
    output folder, the session file and every option of the page (quoted for a POSIX shell)."""
    import shlex

    args = ["sfxkit", "soundtrack", str(video), "--index", str(index), "--out", str(out)]
    args += ["--choices", str(out / SESSION)]
    for key, value in export_options(options).items():
        if value is None or key == "device":
            continue
        if key in CLI_SWITCHES:
            on, off = CLI_SWITCHES[key]
            args.append(on if value else off)
        elif key == "formats":
            args += ["--formats", ",".join(value) if not isinstance(value, str) else value]
        else:
            args += [CLI_FLAGS[key], str(value)]
    return shlex.join(args)


def may_generate(options: dict[str, Any], session: dict[str, Any]) -> bool:
    """Whether an export with these options and choices may need the generator."""
    if options.get("policy", "auto") != "retrieve":
        return True
    shots = session.get("shots") or {}
    cues = session.get("cues") or {}
    return any(
        isinstance(c, dict) and c.get("decision") in ("generate", "blend")
        for c in [*shots.values(), *cues.values()]
    )


def check_generator_here(options: dict[str, Any], *, retrieve: bool) -> None:
    """Refuse, before a job starts, a generator whose weights are not on this machine, with
    the CLI's advice on the offline route and the same advice in the page's terms."""
    from sfxkit.generation.preflight import (
        TINY_VARIANT,
        check_generator,
        generator_advice,
        resolve_variant,
    )

    variant = resolve_variant(None, options.get("variant"))
    page = (
        f" On this page: open it with &variant={TINY_VARIANT} in its address (the same "
        "untrained generator)"
        + (", or with &policy=retrieve for the catalog's sounds only." if retrieve else ".")
    )
    check_generator(variant, generator_advice("soundtrack", retrieve=retrieve) + page)


def generated_name(shot: int) -> str:
    return f"shot-{shot}-generated.wav"


def generate_shot(
    video: str | Path,
    index: str | Path,
    shot: int,
    out: str | Path,
    *,
    choices: str | Path | None = None,
    k: int = 5,
    variant: str | None = None,
    steps: int = 25,
    seed: int = 42,
    cfg_strength: float = 4.5,
    prompt: str | None = None,
    negative_prompt: str | None = None,
    crossfade: float = 0.02,
    device: str | None = None,
) -> Path:
    """Generate shot ``shot``'s sound as :func:`sfxkit.soundtrack` would with the same options
    and ``choices`` (same shot, prompt from the same candidates, the chosen sound first, seed
    ``seed + shot``), and write it to ``OUT/shot-N-generated.wav`` (+ ``.json``, its prompt and
    provenance): what the page plays is what the export will use for that shot."""
    from sfxkit._json import write_json
    from sfxkit.editorial.decision import build_prompt, chosen_sound, load_choices
    from sfxkit.editorial.options import DEFAULT_NEGATIVE_PROMPT
    from sfxkit.editorial.plan import open_recommender, shot_candidates
    from sfxkit.editorial.render import LazyGenerator
    from sfxkit.generation.mmaudio.variants import DEFAULT_VARIANT

    video, out = Path(video), Path(out)
    rec = open_recommender(index, device)
    found = shot_candidates(video, rec, k=k, filters={"exclude_flags": ("silent",)})
    if not 0 <= shot < len(found.shots):
        raise InputError(
            f"{video} has {len(found.shots)} shot(s), numbered 0..{len(found.shots) - 1}; "
            f"there is no shot {shot}"
        )
    cands = list(found.candidates[shot])
    choice = load_choices(choices).get(shot)
    if choice is not None and choice.sound is not None:
        pick = chosen_sound(rec, cands, choice.sound, shot)
        cands = [pick, *(c for c in cands if c.id != pick.id)]
    used_prompt = prompt if prompt is not None else build_prompt(cands)
    negative = DEFAULT_NEGATIVE_PROMPT if negative_prompt is None else negative_prompt
    sound = LazyGenerator(variant or DEFAULT_VARIANT, device).for_shot(
        video,
        found.shots[shot],
        found.info.duration,
        tail=max(crossfade, 0.0) / 2.0,  # the soundtrack's handle
        prompt=used_prompt,
        negative_prompt=negative,
        steps=steps,
        cfg_strength=cfg_strength,
        seed=seed,
    )
    out.mkdir(parents=True, exist_ok=True)
    path = sound.save(out / generated_name(shot))
    info = {"shot": shot, "prompt": used_prompt, "provenance": sound.provenance}
    write_json(path.with_suffix(".json"), info)
    return path


def generate_cue(
    video: str | Path,
    index: str | Path,
    cue: str,
    out: str | Path,
    *,
    choices: str | Path | None = None,
    k: int = 5,
    variant: str | None = None,
    steps: int = 25,
    seed: int = 42,
    cfg_strength: float = 4.5,
    prompt: str | None = None,
    negative_prompt: str | None = None,
    device: str | None = None,
) -> Path:
    """Generate the sound of cue ``cue`` (``bed-N`` or ``spot-N``) of a layered soundtrack as
    :func:`sfxkit.soundtrack` with ``layers="auto"`` would (the same span, prompt from the same
    candidates with the chosen sound first, ``, ambience`` for a bed, seed ``seed`` + the cue's
    number), and write it to ``OUT/CUE-generated.wav`` (+ ``.json``)."""
    from sfxkit._atomic import atomic_write_text
    from sfxkit.editorial.decision import build_prompt, chosen_sound, load_review
    from sfxkit.editorial.options import DEFAULT_NEGATIVE_PROMPT, SoundtrackOptions
    from sfxkit.editorial.plan import open_recommender, plan_layers, shot_candidates
    from sfxkit.editorial.render import LazyGenerator
    from sfxkit.editorial.results import StageClock
    from sfxkit.editorial.run import (
        BED_GENERATE_MAX_SECONDS,
        SPOT_PREROLL_SECONDS,
    )
    from sfxkit.generation.mmaudio.variants import DEFAULT_VARIANT

    video, out = Path(video), Path(out)
    opts = SoundtrackOptions(k=k, layers="auto")
    rec = open_recommender(index, device)
    filters = {"exclude_flags": ("silent",)}
    found = shot_candidates(video, rec, k=k, filters=filters, detectors=opts.shot_detectors)
    plan = plan_layers(
        video,
        rec,
        found,
        k=k,
        filters=filters,
        scene_threshold=opts.scene_threshold,
        max_spots=opts.max_spots,
        onset_rise=opts.onset_rise,
        spot_gap=opts.spot_gap,
        clock=StageClock(),
    )
    duration = float(found.info.duration)
    review = load_review(choices)
    choice = review.cues.get(cue)
    role, _, number = cue.partition("-")
    n = int(number) if number.isdigit() else -1
    if role == "bed" and 0 <= n < len(plan.scenes):
        scene = plan.scenes[n]
        cands, number_in_timeline = list(plan.bed_candidates[n]), scene.index
        start, end = scene.start, min(scene.end, duration)
    elif role == "spot" and 0 <= n < len(plan.events):
        event = plan.events[n]
        if choice is not None and choice.offset:
            event = type(event)(event.shot, min(max(event.time + choice.offset, 0.0), duration), 0)
        cands, number_in_timeline = list(plan.spot_candidates[n]), len(plan.scenes) + n
        start = max(event.time - SPOT_PREROLL_SECONDS, 0.0)
        end = min(event.time + opts.spot_length, duration)
    else:
        raise InputError(
            f"{video} has no cue {cue!r} in layers='auto' (beds bed-0..bed-{len(plan.scenes) - 1}"
            f", spots spot-0..spot-{len(plan.events) - 1})"
        )
    if choice is not None and choice.sound is not None:
        pick = chosen_sound(rec, cands, choice.sound, found.shots[0].index)
        cands = [pick, *(c for c in cands if c.id != pick.id)]
    used = prompt if prompt is not None else build_prompt(cands)
    if role == "bed" and prompt is None:
        used = f"{used}, ambience" if used else "ambience, room tone"
    span = end - start
    length = min(span, BED_GENERATE_MAX_SECONDS) if role == "bed" else span
    sound = LazyGenerator(variant or DEFAULT_VARIANT, device).for_span(
        video,
        start,
        min(length, duration - start),
        prompt=used,
        negative_prompt=DEFAULT_NEGATIVE_PROMPT if negative_prompt is None else negative_prompt,
        steps=steps,
        cfg_strength=cfg_strength,
        seed=seed + number_in_timeline,
    )
    out.mkdir(parents=True, exist_ok=True)
    path = sound.save(out / f"{cue}-generated.wav")
    info = {"cue": cue, "prompt": used, "provenance": sound.provenance}
    atomic_write_text(path.with_suffix(".json"), json.dumps(info, indent=2, default=str) + "\n")
    return path
