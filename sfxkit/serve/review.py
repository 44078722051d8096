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
from pathlib import Path
from typing import Any

from sfxkit.errors import InputError

SESSION = "choices.json"
STATIC = Path(__file__).parent / "static"


def default_out(jobs_dir: Path, video: Path) -> Path:
    digest = hashlib.sha256(str(video.resolve()).encode()).hexdigest()[:12]
    return jobs_dir / "review" / f"{video.stem}-{digest}"


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
    path = out / SESSION
    if not path.is_file():
        return {"shots": {}}
    return json.loads(path.read_text())


def write_session(out: Path, video: Path, shots: Any) -> Path:
    from sfxkit._atomic import atomic_write_text
    from sfxkit.editorial.decision import load_choices

    choices = load_choices({"shots": shots})  # refuse what `--choices` would refuse
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
