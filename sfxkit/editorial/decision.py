"""Decision: retrieve, generate or blend for one cue's catalog candidates, and why.

Owns the decision (:func:`decide`), its numbers (:class:`Thresholds`), the retrieval-augmented
prompt for generation (:func:`build_prompt`), licence wording (:func:`is_non_commercial`) and the
per-shot overrides and review choices that force a decision (:func:`load_choices`). The same
rules decide every cue, whatever its role (a per-shot sound, a scene's ambience bed or a spot
effect on a motion onset); only the candidates differ (see :mod:`sfxkit.editorial.plan`).

The decision (policy ``"auto"``)
--------------------------------
Every cue's candidates come from :meth:`sfxkit.Recommender.search_frame_embeddings` (best first).
The *strength* of the best candidate is measured on one of two scales:

- **calibrated** — when the index has a calibration, ``Recommendation.confidence`` (a probability
  that the sound fits). ``Thresholds.retrieve_confidence`` (default 0.70) and
  ``Thresholds.generate_confidence`` (default 0.35) bound the three zones.
- **raw** — without calibration (``confidence is None``) each view's cosine score is placed on its
  own scale, 0 at that view's *generate-below* threshold and 1 at its *retrieve-at* threshold, and
  the positions of the views the candidate was scored on are averaged. Defaults
  (``Thresholds.raw``; heuristics for the pretrained models until an index is calibrated):

  ============  ==============  =============  =====================================================
  view          generate below  retrieve at    why
  ============  ==============  =============  =====================================================
  clip_text     0.20            0.27           CLIP ViT-B-32 image↔caption cosines: ~0.3 for a
                                               fitting caption, ~0.15–0.2 for an unrelated one
  bridge        0.30            0.50           trained heads spread matches and non-matches wider
  clap_audio    0.25            0.45           CLAP text/audio cosines of a fitting pair
  clap_text     0.25            0.45           as clap_audio
  ============  ==============  =============  =====================================================

Then, with ``margin`` = top-1 score − top-2 score (fused raw scores; ``Thresholds.min_margin``,
default 0.01):

- strength at or above *retrieve* and margin ≥ ``min_margin`` (or a single candidate) → ``retrieve``;
- strength at or above *retrieve* but margin < ``min_margin`` → ``blend`` (a strong match that does
  not stand out from the next one: the picture is close to many sounds, so a generated layer
  made for this shot ties the retrieved sound to it);
- strength below *generate* → ``generate`` (no confident match);
- in between → ``blend``;
- no candidate at all (empty index or filters too tight) → ``generate``.

Policies ``retrieve``, ``generate`` and ``blend`` force the decision for every cue and
``overrides={shot: decision}`` forces single shots (``silence`` is also allowed there); the auto
verdict is still computed and kept in the numbers. A forced ``retrieve`` with no candidate, or none
whose audio can be read, leaves the cue silent rather than generating behind the user's back.
Every decision records its reason (one line) and its numbers (scores, thresholds, margin).

Generation is retrieval-augmented: the prompt is built from the best candidates' titles and the
top candidate's visual description (:func:`build_prompt`), the negative prompt defaults to
``"speech, music"``; both can be overridden. Generated sounds are flagged non-commercial unless
their weights' licence is known and allows commercial use (no MMAudio checkpoint does:
CC-BY-NC 4.0; untrained tiny weights have no licence and are not cleared either).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sfxkit.errors import InputError

if TYPE_CHECKING:
    from sfxkit.recommender import Recommendation, Recommender

POLICIES: tuple[str, ...] = ("auto", "retrieve", "generate", "blend")
FORCED: tuple[str, ...] = ("retrieve", "generate", "blend", "silence")
PROMPT_CANDIDATES = 3
# CLIP's text tower reads 77 tokens; a prompt longer than this many words would be cut anyway.
PROMPT_MAX_WORDS = 40

RAW_THRESHOLDS: dict[str, tuple[float, float]] = {
    "clip_text": (0.20, 0.27),
    "bridge": (0.30, 0.50),
    "clap_audio": (0.25, 0.45),
    "clap_text": (0.25, 0.45),
}
"""Per view: (generate below, retrieve at) raw cosine scores; see the module docstring."""

# Licences whose text says the material may not be used commercially (CC-BY-NC-*, "NC", ...).
_NON_COMMERCIAL = re.compile(r"(\bNC\b|non[-\s]?commercial)", re.IGNORECASE)
# The describer's templates ("a photo of ...") help CLIP, not a sound prompt.
_VISUAL_PREFIX = re.compile(
    r"^(a photo of|a close-up of|a scene with|a video frame showing|a film still of|a wide shot of)\s+",
    re.IGNORECASE,
)


# ---- thresholds and the decision --------------------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    """The numbers :func:`decide` uses (see the module docstring for how)."""

    retrieve_confidence: float = 0.70
    generate_confidence: float = 0.35
    min_margin: float = 0.01
    raw: Mapping[str, tuple[float, float]] = field(default_factory=lambda: dict(RAW_THRESHOLDS))

    def __post_init__(self) -> None:
        if not 0.0 <= self.generate_confidence <= self.retrieve_confidence <= 1.0:
            raise InputError(
                "thresholds need 0 <= generate_confidence <= retrieve_confidence <= 1, got "
                f"{self.generate_confidence} and {self.retrieve_confidence}"
            )
        if self.min_margin < 0:
            raise InputError(f"min_margin must be >= 0, got {self.min_margin}")
        raw = {}
        for view, pair in dict(self.raw).items():
            lo, hi = (float(v) for v in pair)
            if not lo < hi:
                raise InputError(
                    f"raw thresholds for view '{view}' need generate-below < retrieve-at, "
                    f"got ({lo}, {hi})"
                )
            raw[view] = (lo, hi)
        object.__setattr__(self, "raw", raw)

    def to_dict(self) -> dict[str, Any]:
        return {
            "retrieve_confidence": self.retrieve_confidence,
            "generate_confidence": self.generate_confidence,
            "min_margin": self.min_margin,
            "raw": {v: list(p) for v, p in self.raw.items()},
        }


DEFAULT_THRESHOLDS = Thresholds()


def _check_policy(policy: str) -> None:
    if policy not in POLICIES:
        raise InputError(f"unknown policy {policy!r}; use one of: {', '.join(POLICIES)}")


def _evidence(
    recs: Sequence[Recommendation], th: Thresholds
) -> tuple[str | None, str, dict[str, Any]]:
    """(zone, wording, numbers) for the best candidate: zone is 'strong', 'middle', 'weak', or
    None when no threshold applies to any of its views."""
    top = recs[0]
    numbers: dict[str, Any] = {
        "candidates": len(recs),
        "top_id": top.id,
        "top_title": top.title,
        "top_score": round(float(top.score), 6),
        "view_scores": {v: round(float(s), 6) for v, s in top.view_scores.items()},
        "second_score": round(float(recs[1].score), 6) if len(recs) > 1 else None,
        "margin": round(float(top.score - recs[1].score), 6) if len(recs) > 1 else None,
        "min_margin": th.min_margin,
    }
    if top.confidence is not None:
        conf = float(top.confidence)
        numbers.update(
            scale="calibrated",
            confidence=round(conf, 6),
            retrieve_at=th.retrieve_confidence,
            generate_below=th.generate_confidence,
        )
        wording = f"confidence {conf:.2f}"
        if conf >= th.retrieve_confidence:
            return "strong", f"{wording} >= {th.retrieve_confidence:.2f}", numbers
        if conf < th.generate_confidence:
            return "weak", f"{wording} < {th.generate_confidence:.2f}", numbers
        return (
            "middle",
            f"{wording} between {th.generate_confidence:.2f} and {th.retrieve_confidence:.2f}",
            numbers,
        )
    positions: dict[str, float] = {}
    parts: list[str] = []
    for view, score in top.view_scores.items():
        pair = th.raw.get(view)
        if pair is None:
            continue
        lo, hi = pair
        positions[view] = (float(score) - lo) / (hi - lo)
        parts.append(f"{view} {float(score):.3f} (generate < {lo:.2f}, retrieve >= {hi:.2f})")
    numbers.update(
        scale="raw",
        confidence=None,
        raw_thresholds={v: list(th.raw[v]) for v in positions},
        positions={v: round(p, 6) for v, p in positions.items()},
    )
    if not positions:
        numbers["strength"] = None
        views = ", ".join(top.view_scores) or "none"
        return (
            None,
            f"no raw thresholds for the views it was scored on ({views}); pass "
            "thresholds=Thresholds(raw={...}) or calibrate the index",
            numbers,
        )
    strength = float(np.mean(list(positions.values())))
    numbers["strength"] = round(strength, 6)
    wording = "; ".join(parts) + (f"; mean position {strength:.2f}" if len(parts) > 1 else "")
    if strength >= 1.0:
        return "strong", wording, numbers
    if strength < 0.0:
        return "weak", wording, numbers
    return "middle", wording, numbers


def _auto(recs: Sequence[Recommendation], th: Thresholds) -> tuple[str, str, dict[str, Any]]:
    if not recs:
        return (
            "generate",
            "no catalog sound passes the filters: nothing to retrieve",
            {"candidates": 0},
        )
    zone, wording, numbers = _evidence(recs, th)
    title = recs[0].title or recs[0].id
    margin = numbers["margin"]
    if zone == "strong":
        if margin is None or margin >= th.min_margin:
            extra = f", margin {margin:.3f} over #2" if margin is not None else ", only candidate"
            return "retrieve", f"confident match '{title}': {wording}{extra}", numbers
        second = recs[1].title or recs[1].id
        return (
            "blend",
            f"strong but ambiguous match: '{title}' and '{second}' are {margin:.3f} apart "
            f"(< {th.min_margin:.3f}); {wording}",
            numbers,
        )
    if zone == "weak":
        return "generate", f"no confident match: best '{title}' has {wording}", numbers
    if zone is None:
        return "blend", f"cannot grade '{title}': {wording}", numbers
    return "blend", f"partial match '{title}': {wording}", numbers


def decide(
    recs: Sequence[Recommendation],
    *,
    policy: str = "auto",
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> tuple[str, str, dict[str, Any]]:
    """``(decision, reason, numbers)`` for one shot's candidates (best first).

    ``decision`` is ``retrieve``, ``generate``, ``blend`` or (a forced retrieve with nothing to
    retrieve) ``silence``. The rules and thresholds are in the module docstring; ``numbers`` holds
    everything the reason cites, plus ``policy`` and, for a forced policy, the ``auto_decision``.
    """
    _check_policy(policy)
    auto, reason, numbers = _auto(list(recs), thresholds)
    numbers = {**numbers, "policy": policy}
    if policy == "auto":
        return auto, reason, numbers
    numbers["auto_decision"] = auto
    if policy in ("retrieve", "blend") and not recs:
        forced = "silence" if policy == "retrieve" else "generate"
        why = "shot left silent" if forced == "silence" else "generating only"
        return forced, f"policy '{policy}' but {reason}; {why}", numbers
    return policy, f"policy '{policy}' (auto would {auto}: {reason})", numbers


# ---- prompts, layers --------------------------------------------------------------------------


def _visual_phrase(text: str) -> str:
    first = text.split("|")[0].strip()
    return _VISUAL_PREFIX.sub("", first).strip().rstrip(".")


def build_prompt(candidates: Sequence[Recommendation], n: int = PROMPT_CANDIDATES) -> str:
    """A generation prompt from the best ``n`` candidates: their titles (or descriptions) and the
    top candidate's visual description without its "a photo of" template, deduplicated, in rank
    order. Empty when there are no candidates."""
    phrases: list[str] = []
    seen: set[str] = set()

    def add(text: str) -> None:
        text = " ".join(text.split()).strip(" ,;.")
        key = text.lower()
        if text and key not in seen:
            seen.add(key)
            phrases.append(text)

    for r in list(candidates)[: max(n, 0)]:
        add(r.title or r.description)
    if candidates:
        add(_visual_phrase(candidates[0].visual_description))
    words = ", ".join(phrases).split()
    return " ".join(words[:PROMPT_MAX_WORDS])


def is_non_commercial(licence: str | None) -> bool:
    """Whether a licence text names a non-commercial restriction (CC-BY-NC-4.0, "NC", ...)."""
    return bool(licence) and bool(_NON_COMMERCIAL.search(str(licence)))


def check_overrides(overrides: Mapping[int, str] | None) -> dict[int, str]:
    out: dict[int, str] = {}
    for key, value in dict(overrides or {}).items():
        try:
            index = int(key)
        except (TypeError, ValueError):
            raise InputError(f"overrides keys are shot numbers, got {key!r}") from None
        if value not in FORCED:
            raise InputError(
                f"override for shot {index} is {value!r}; use one of: {', '.join(FORCED)}"
            )
        out[index] = value
    return out


# The ranges a review choice may take (documented in the README's review section): a nudge
# beyond them is a typing slip, not a mix decision, and would overflow the mix.
GAIN_RANGE_DB = (-60.0, 24.0)
OFFSET_RANGE_S = (-10.0, 10.0)


@dataclass(frozen=True)
class ShotChoice:
    """What a person chose for one shot (the review page's session file): ``decision``
    (retrieve, generate, blend, silence; None keeps the policy's), the catalog ``sound`` id to
    use instead of the best candidate, and ``gain_db`` and ``offset`` (seconds, later when
    positive, within the shot) nudges of that sound. ``blend`` is the generated share of a blended
    shot, 0 (all catalog) to 1 (all generated), an equal-power balance (:func:`share_gains_db`);
    None keeps ``soundtrack(blend_gains_db=)``."""

    decision: str | None = None
    sound: str | None = None
    gain_db: float = 0.0
    offset: float = 0.0
    blend: float | None = None

    def __post_init__(self) -> None:
        if self.decision is not None and self.decision not in FORCED:
            raise InputError(f"choice decision {self.decision!r}; use one of: {', '.join(FORCED)}")
        if self.sound is not None and not isinstance(self.sound, str):
            raise InputError(f"choice sound {self.sound!r}: a catalog item id (a string)")
        lo, hi = GAIN_RANGE_DB
        if not (math.isfinite(self.gain_db) and lo <= self.gain_db <= hi):
            raise InputError(f"choice gain_db {self.gain_db!r}: a number of dB from {lo} to +{hi}")
        lo, hi = OFFSET_RANGE_S
        if not (math.isfinite(self.offset) and lo <= self.offset <= hi):
            raise InputError(f"choice offset {self.offset!r}: seconds from {lo} to +{hi}")
        if self.blend is not None and not 0.0 <= self.blend <= 1.0:
            raise InputError(
                f"choice blend {self.blend!r}: the generated share goes from 0 (all catalog) "
                "to 1 (all generated)"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "sound": self.sound,
            "gain_db": self.gain_db,
            "offset": self.offset,
            "blend": self.blend,
        }


@dataclass(frozen=True)
class CueChoice(ShotChoice):
    """What a person chose for one cue of a layered soundtrack (``layers="auto"``): a shot
    choice's fields, ``offset`` moving the whole cue (a spot) or its sound inside the cue (a
    bed), and ``deleted`` to drop the cue."""

    deleted: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "deleted": self.deleted}


@dataclass(frozen=True)
class AddedSpot:
    """A spot cue placed by hand: catalog ``sound`` with its onset at ``at`` seconds into the
    video, nudged by ``gain_db``."""

    at: float
    sound: str
    gain_db: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.sound, str) or not self.sound:
            raise InputError(f"added spot: sound {self.sound!r} must be a catalog item id")
        if not (math.isfinite(self.at) and self.at >= 0):
            raise InputError(f"added spot: at {self.at!r} must be seconds >= 0 into the video")
        lo, hi = GAIN_RANGE_DB
        if not (math.isfinite(self.gain_db) and lo <= self.gain_db <= hi):
            raise InputError(f"added spot: gain_db {self.gain_db!r}: dB from {lo} to +{hi}")

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at, "sound": self.sound, "gain_db": self.gain_db}


CHOICES_VERSION = 2
CUE_KEY = re.compile(r"^(bed|spot)-(\d+)$")


@dataclass(frozen=True)
class ReviewChoices:
    """A review session file (``choices.json``), version 2: ``shots`` (``layers="shot"``, one
    choice per shot number, as version 1 files hold), ``cues`` (``layers="auto"``, keyed
    ``bed-N`` by scene and ``spot-N`` by planned event, in time order) and ``added`` spots."""

    shots: dict[int, ShotChoice] = field(default_factory=dict)
    cues: dict[str, CueChoice] = field(default_factory=dict)
    added: tuple[AddedSpot, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": CHOICES_VERSION,
            "shots": {str(i): c.to_dict() for i, c in sorted(self.shots.items())},
            "cues": {k: c.to_dict() for k, c in sorted(self.cues.items(), key=_cue_order)},
            "added": [a.to_dict() for a in sorted(self.added, key=lambda a: a.at)],
        }


def _cue_order(item: tuple[str, Any]) -> tuple[str, int]:
    m = CUE_KEY.match(item[0])
    return (m.group(1), int(m.group(2))) if m else (item[0], 0)


def _number(where: str, name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{where}: {name} {value!r} is not a number")
    return float(value)


def _read_doc(choices: str | Path | Mapping[Any, Any]) -> Any:
    if isinstance(choices, (str, Path)):
        path = Path(choices)
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            raise InputError(f"{path}: no such choices file") from None
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: not a choices file ({exc})") from None
    return dict(choices)


def load_review(choices: str | Path | Mapping[Any, Any] | None) -> ReviewChoices:
    """Every choice of a review session file or mapping: shots (version 1 files have only
    those), cues and added spots (version 2)."""
    if choices is None:
        return ReviewChoices()
    if isinstance(choices, ReviewChoices):
        return choices
    doc = _read_doc(choices)
    if not isinstance(doc, Mapping):
        raise InputError('choices: expected {"version": 2, "shots": {...}, "cues": {...}}')
    version = doc.get("version", 1)
    if version not in (1, CHOICES_VERSION):
        raise InputError(
            f"choices version {version!r}: this sfxkit reads versions 1 and {CHOICES_VERSION}"
        )
    cues: dict[str, CueChoice] = {}
    raw_cues = doc.get("cues") or {}
    if not isinstance(raw_cues, Mapping):
        raise InputError('choices: "cues" must be an object keyed bed-N / spot-N')
    for key, value in raw_cues.items():
        if not CUE_KEY.match(str(key)):
            raise InputError(f"choices: cue key {key!r}; write bed-N (scene N) or spot-N")
        if not isinstance(value, Mapping):
            raise InputError(f"choice for cue {key} must be an object, got {value!r}")
        unknown = set(value) - {"decision", "sound", "gain_db", "offset", "blend", "deleted"}
        if unknown:
            raise InputError(f"choice for cue {key}: unknown key(s) {sorted(unknown)}")
        where = f"choice for cue {key}"
        try:
            cues[str(key)] = CueChoice(
                decision=value.get("decision"),
                sound=value.get("sound"),
                gain_db=_number(where, "gain_db", value.get("gain_db")) or 0.0,
                offset=_number(where, "offset", value.get("offset")) or 0.0,
                blend=_number(where, "blend", value.get("blend")),
                deleted=bool(value.get("deleted", False)),
            )
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None
    raw_added = doc.get("added") or []
    if not isinstance(raw_added, list):
        raise InputError('choices: "added" must be a list of {"at": SECONDS, "sound": ID}')
    added = []
    for value in raw_added:
        if not isinstance(value, Mapping) or set(value) - {"at", "sound", "gain_db"}:
            raise InputError(f'choices: added spot {value!r}; write {{"at": S, "sound": ID}}')
        added.append(
            AddedSpot(
                at=_number("added spot", "at", value.get("at")) or 0.0,
                sound=value.get("sound"),  # type: ignore[arg-type]
                gain_db=_number("added spot", "gain_db", value.get("gain_db")) or 0.0,
            )
        )
    shots = load_choices(doc)
    return ReviewChoices(shots=shots, cues=cues, added=tuple(added))


def share_gains_db(share: float) -> tuple[float, float]:
    """(catalog dB, generated dB) of a blend whose generated share is ``share`` in [0, 1]:
    equal power, so the sum keeps its loudness across the range (-3 dB each at 0.5); an end of
    the range mutes the other sound (-120 dB)."""

    def db(x: float) -> float:
        return 20.0 * math.log10(max(x, 1e-6))

    return db(math.cos(share * math.pi / 2)), db(math.sin(share * math.pi / 2))


def load_choices(choices: str | Path | Mapping[Any, Any] | None) -> dict[int, ShotChoice]:
    """Per-shot choices from a session file (JSON ``{"shots": {"2": {"decision": "retrieve",
    "sound": ID, "gain_db": -3}}}``) or the same mapping; shot numbers as keys."""
    if choices is None:
        return {}
    if isinstance(choices, ReviewChoices):
        return dict(choices.shots)
    doc = _read_doc(choices)
    layered = isinstance(doc, Mapping) and ("version" in doc or "cues" in doc or "added" in doc)
    shots = (
        (doc.get("shots") or {} if layered else doc.get("shots", doc))
        if isinstance(doc, Mapping)
        else None
    )
    if not isinstance(shots, Mapping):
        raise InputError('choices: expected {"shots": {"SHOT": {"decision": ..., "sound": ...}}}')
    out: dict[int, ShotChoice] = {}
    for key, value in shots.items():
        try:
            index = int(key)
        except (TypeError, ValueError):
            raise InputError(f"choices keys are shot numbers, got {key!r}") from None
        if isinstance(value, ShotChoice):
            out[index] = value
            continue
        if not isinstance(value, Mapping):
            raise InputError(f"choice for shot {index} must be an object, got {value!r}")
        unknown = set(value) - {"decision", "sound", "gain_db", "offset", "blend"}
        if unknown:
            raise InputError(
                f"choice for shot {index}: unknown key(s) {sorted(unknown)}; "
                "use decision, sound, gain_db, offset, blend"
            )
        if index < 0:
            raise InputError(f"choices keys are shot numbers from 0, got {key!r}")
        for name in ("gain_db", "offset", "blend"):
            number = value.get(name)
            if number is not None and (
                isinstance(number, bool) or not isinstance(number, (int, float))
            ):
                raise InputError(f"choice for shot {index}: {name} {number!r} is not a number")
        blend = value.get("blend")
        try:
            out[index] = ShotChoice(
                decision=value.get("decision"),
                sound=value.get("sound"),
                gain_db=float(value.get("gain_db") or 0.0),
                offset=float(value.get("offset") or 0.0),
                blend=None if blend is None else float(blend),
            )
        except InputError as exc:
            raise InputError(f"choice for shot {index}: {exc}") from None
    return out


def chosen_sound(
    rec: Recommender, cands: Sequence[Recommendation], sound: str, shot: int
) -> Recommendation:
    for r in cands:
        if r.id == sound:
            return r
    rows = rec.index.rows
    hit = rows.index[rows["id"] == sound]
    if len(hit) == 0:
        raise InputError(f"choices: shot {shot} names sound {sound!r}, which is not in this index")
    fid = int(rows.loc[hit[0], "faiss_id"])
    return rec._make(np.array([fid]), np.array([0.0], dtype=np.float32), {})[0]


__all__ = [
    "DEFAULT_THRESHOLDS",
    "FORCED",
    "POLICIES",
    "RAW_THRESHOLDS",
    "ShotChoice",
    "Thresholds",
    "build_prompt",
    "check_overrides",
    "decide",
    "is_non_commercial",
    "load_choices",
    "share_gains_db",
]
