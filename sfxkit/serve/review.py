"""The review page: per shot the keyframe, the decision and why, the candidates to audition;
choices saved to a session file next to the output; export as a soundtrack job.

The session file is ``OUT/choices.json`` (``{"video": ..., "shots": {"1": {"decision": ...,
"sound": ID, "gain_db": ...}}}``), the same file ``sfxkit soundtrack VIDEO --choices FILE``
reads, so an export from the page can be reproduced headless.
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
