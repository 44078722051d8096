"""The review page: per shot the keyframe, the decision and why, the candidates to audition;
choices saved to a session file next to the output; export as a soundtrack job; a shot's
generated sound on demand (a generate job) to audition before choosing it.

The session file is ``OUT/choices.json`` (``{"video": ..., "shots": {"1": {"decision": ...,
"sound": ID, "gain_db": ..., "offset": ..., "blend": ...}}}``), the same file
``sfxkit soundtrack VIDEO --choices FILE`` reads, so an export from the page can be reproduced
headless.

Per shot the page gets a dict (:func:`shots_for`): ``s`` (the Shot), ``decision``, ``plain``
(the decision in words), ``reason`` (the policy's), ``candidates`` (Recommendation dicts) and
``layers``: a list, empty for now, of the shot's soundtrack layers beyond its main sound
(``{"kind": "ambience" | "spot", "title", "start", "end", "sound"}``: ambience beds across a
scene, spot effects per event), which the template lists under the candidates when present.
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


def plain_reason(decision: str, numbers: dict[str, Any]) -> str:
    """The decision in a sound designer's words (the policy's reason cites its thresholds)."""
    conf = numbers.get("confidence", numbers.get("top_score"))
    best = f" (best match {conf:.2f})" if isinstance(conf, (int, float)) else ""
    return {
        "retrieve": f"A catalog sound fits this shot well{best}: use it.",
        "generate": f"Nothing in the catalog fits well enough{best}: generate a sound.",
        "blend": f"The catalog sound is close but not certain{best}: layer it with a generated one.",
        "silence": "No usable sound: leave this shot silent.",
    }.get(decision, decision)


def shots_for(rec: Any, video: Path, k: int, policy: str) -> list[dict[str, Any]]:
    from sfxkit.editorial.decision import decide

    out = []
    for s in rec.recommend_video(video, k, filters={"exclude_flags": ["silent"]}):
        decision, reason, numbers = decide(s.recommendations, policy=policy)
        out.append(
            {
                "s": s.shot,
                "decision": decision,
                "plain": plain_reason(decision, numbers),
                "reason": reason,
                "candidates": [r.to_dict() for r in s.recommendations],
                "layers": [],
            }
        )
    return out


def read_session(out: Path) -> dict[str, Any]:
    """The saved choices of a review; a file that cannot be read as choices is set aside as
    ``choices.json.bad-TIME`` (kept for the user) and the review starts empty, with a
    ``warning`` saying so: a corrupt file never stops the page from opening."""
    from sfxkit.editorial.decision import load_choices

    path = out / SESSION
    if not path.is_file():
        return {"shots": {}}
    try:
        doc = json.loads(path.read_text())
        if not isinstance(doc, dict):
            raise InputError("not a JSON object")
        load_choices(doc)  # what the export would refuse
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


def write_session(out: Path, video: Path, shots: Any, n_shots: int | None = None) -> Path:
    """Save the choices after validating them as ``--choices`` would (ranges in
    :class:`~sfxkit.editorial.decision.ShotChoice`) and against the video's ``n_shots``."""
    from sfxkit._atomic import atomic_write_text
    from sfxkit.editorial.decision import load_choices

    choices = load_choices({"shots": shots})  # refuse what `--choices` would refuse
    bad = sorted(i for i in choices if n_shots is not None and i >= n_shots)
    if bad:
        raise InputError(
            f"choices name shot(s) {bad} but {video} has {n_shots} shot(s), "
            f"numbered 0..{n_shots - 1}"
        )
    out.mkdir(parents=True, exist_ok=True)
    doc = {"video": str(video), "shots": {str(i): c.to_dict() for i, c in sorted(choices.items())}}
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
    from sfxkit.cli.options import (
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
    from sfxkit._atomic import atomic_write_text
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
    atomic_write_text(path.with_suffix(".json"), json.dumps(info, indent=2, default=str) + "\n")
    return path
