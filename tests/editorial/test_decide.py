"""The per-shot decision: raw-score fallback, calibrated confidence, margin, forced policies,
and the retrieval-augmented prompt and licence flags that come with it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sfxkit.editorial import (
    DEFAULT_THRESHOLDS,
    Thresholds,
    build_prompt,
    decide,
    generated_layer,
    is_non_commercial,
    retrieved_layer,
)
from sfxkit.errors import InputError
from sfxkit.generation.base import GeneratedSound
from sfxkit.recommender import Recommendation
from tests import synth


def rec(
    rank: int,
    score: float,
    *,
    views: dict[str, float] | None = None,
    confidence: float | None = None,
    title: str = "",
    visual: str = "",
    path: str = "",
    licence: str = "CC0",
) -> Recommendation:
    return Recommendation(
        id=f"id{rank}",
        path=path or f"/sfx/{rank}.wav",
        title=title or f"sound {rank}",
        score=score,
        rank=rank,
        view_scores=views if views is not None else {"clip_text": score},
        licence=licence,
        duration=2.0,
        loudness=-20.0,
        loudness_kind="integrated",
        category="",
        subcategory="",
        description="",
        visual_description=visual,
        tags=(),
        qc_flags=(),
        confidence=confidence,
    )


def test_raw_scores_fall_back_to_per_view_thresholds() -> None:
    lo, hi = DEFAULT_THRESHOLDS.raw["clip_text"]
    strong = [rec(1, hi + 0.05), rec(2, hi - 0.05)]
    weak = [rec(1, lo - 0.02), rec(2, lo - 0.05)]
    middle = [rec(1, (lo + hi) / 2), rec(2, lo)]

    decision, reason, numbers = decide(strong)
    assert decision == "retrieve"
    assert "confident match 'sound 1'" in reason and f"{hi:.2f}" in reason
    assert numbers["scale"] == "raw" and numbers["confidence"] is None
    assert numbers["raw_thresholds"] == {"clip_text": [lo, hi]}
    assert numbers["margin"] == pytest.approx(0.10)

    decision, reason, numbers = decide(weak)
    assert decision == "generate" and reason.startswith("no confident match")
    assert numbers["positions"]["clip_text"] < 0

    decision, reason, numbers = decide(middle)
    assert decision == "blend" and reason.startswith("partial match")
    assert 0 <= numbers["strength"] < 1


def test_several_views_are_each_graded_on_their_own_scale() -> None:
    # bridge clearly above its retrieve threshold, clip_text just under its own: the mean
    # position decides, and both views are cited.
    th = Thresholds(raw={"clip_text": (0.20, 0.30), "bridge": (0.30, 0.50)})
    r = rec(1, 0.5, views={"clip_text": 0.29, "bridge": 0.75})
    decision, reason, numbers = decide([r], thresholds=th)
    assert numbers["positions"] == pytest.approx({"clip_text": 0.9, "bridge": 2.25})
    assert decision == "retrieve" and "only candidate" in reason
    assert "clip_text 0.290" in reason and "bridge 0.750" in reason
    # A view without thresholds cannot be graded: blend, with the way out in the reason.
    decision, reason, _ = decide([rec(1, 0.9, views={"mystery": 0.9})], thresholds=th)
    assert decision == "blend" and "Thresholds(raw=" in reason


def test_calibrated_confidence_wins_over_raw_scores() -> None:
    # A raw score far above the raw threshold, but the calibration says it rarely fits.
    high_raw_low_conf = [rec(1, 0.9, confidence=0.10), rec(2, 0.5, confidence=0.02)]
    decision, reason, numbers = decide(high_raw_low_conf)
    assert decision == "generate" and "confidence 0.10 < 0.35" in reason
    assert numbers["scale"] == "calibrated" and numbers["confidence"] == pytest.approx(0.10)
    # A raw score under every raw threshold, but calibrated as a likely fit.
    low_raw_high_conf = [rec(1, 0.05, confidence=0.9), rec(2, 0.0, confidence=0.5)]
    assert decide(low_raw_high_conf)[0] == "retrieve"
    assert decide([rec(1, 0.05, confidence=0.5)])[0] == "blend"


def test_small_margin_makes_a_strong_match_a_blend() -> None:
    tied = [rec(1, 0.800, confidence=0.95), rec(2, 0.795, confidence=0.94)]
    decision, reason, numbers = decide(tied)
    assert decision == "blend" and "ambiguous" in reason and "'sound 2'" in reason
    assert numbers["margin"] == pytest.approx(0.005) and numbers["min_margin"] == 0.01
    # The margin is a parameter: with a looser one the same candidates are retrieved.
    assert decide(tied, thresholds=Thresholds(min_margin=0.001))[0] == "retrieve"


def test_thresholds_are_parameters() -> None:
    r = [rec(1, 0.25), rec(2, 0.1)]
    assert decide(r)[0] == "blend"
    assert decide(r, thresholds=Thresholds(raw={"clip_text": (0.1, 0.2)}))[0] == "retrieve"
    assert decide(r, thresholds=Thresholds(raw={"clip_text": (0.3, 0.4)}))[0] == "generate"
    with pytest.raises(InputError, match="generate-below < retrieve-at"):
        Thresholds(raw={"clip_text": (0.4, 0.3)})
    with pytest.raises(InputError, match="generate_confidence <= retrieve_confidence"):
        Thresholds(retrieve_confidence=0.2, generate_confidence=0.5)


def test_no_candidates() -> None:
    decision, reason, numbers = decide([])
    assert decision == "generate" and "no catalog sound" in reason and numbers["candidates"] == 0
    # A forced retrieve with nothing to retrieve stays silent instead of generating.
    decision, reason, _ = decide([], policy="retrieve")
    assert decision == "silence" and "left silent" in reason
    assert decide([], policy="blend")[0] == "generate"


def test_forced_policies_keep_the_auto_verdict() -> None:
    strong = [rec(1, 0.6), rec(2, 0.1)]
    for policy in ("retrieve", "generate", "blend"):
        decision, reason, numbers = decide(strong, policy=policy)
        assert decision == policy and numbers["policy"] == policy
        assert numbers["auto_decision"] == "retrieve" and "auto would retrieve" in reason
    with pytest.raises(InputError, match="auto, retrieve, generate, blend"):
        decide(strong, policy="random")


def test_prompt_is_built_from_the_best_candidates() -> None:
    cands = [
        rec(1, 0.3, title="Footsteps on gravel", visual="a photo of a person walking on gravel"),
        rec(2, 0.2, title="footsteps on gravel"),  # same words: not repeated
        rec(3, 0.1, title="Wind gusts"),
        rec(4, 0.05, title="Thunder"),  # beyond the three best
    ]
    prompt = build_prompt(cands)
    assert prompt == "Footsteps on gravel, Wind gusts, a person walking on gravel"
    assert build_prompt([]) == ""
    assert len(build_prompt([rec(1, 0.3, title="word " * 200)]).split()) <= 40


def test_licence_flags(tmp_path: Path) -> None:
    assert is_non_commercial("CC-BY-NC-4.0") and is_non_commercial("CC BY-NC-SA 3.0")
    assert is_non_commercial("Non-commercial use only")
    assert not is_non_commercial("CC0") and not is_non_commercial("CC-BY-4.0")
    assert not is_non_commercial("") and not is_non_commercial("unknown")

    wav = synth.write_audio(tmp_path / "door.wav", synth.tone(300, 0.5))
    layer = retrieved_layer(rec(1, 0.3, path=str(wav), licence="CC-BY-NC-4.0"))
    assert layer.kind == "retrieved" and layer.non_commercial
    assert layer.source["path"] == str(wav) and layer.waveform.shape == (1, 24_000)
    assert not retrieved_layer(rec(1, 0.3, path=str(wav), licence="CC0")).non_commercial

    audio = np.zeros((1, 1600), dtype=np.float32)
    real = GeneratedSound(
        audio,
        16_000,
        0.1,
        {
            "model": "mmaudio",
            "variant": "small_16k",
            "seed": 3,
            "weights_licence": "CC-BY-NC-4.0",
            "untrained": False,
        },
    )
    layer = generated_layer(real)
    assert layer.non_commercial and layer.licence == "CC-BY-NC-4.0"
    assert layer.source["generator"] == "mmaudio:small_16k" and layer.source["seed"] == 3
    # Untrained test weights have no licence at all: not cleared for commercial use either.
    tiny = GeneratedSound(
        audio,
        16_000,
        0.1,
        {"model": "mmaudio", "variant": "tiny_16k", "weights_licence": None, "untrained": True},
    )
    layer = generated_layer(tiny)
    assert layer.non_commercial and "untrained" in layer.licence
