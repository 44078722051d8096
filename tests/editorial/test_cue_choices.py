"""Review choices per cue of a layered soundtrack (choices.json version 2): swap, move, drop
planned beds and spots, add spots by hand; version 1 files (shots only) still load."""

from __future__ import annotations

import json

import numpy as np
import pytest

import sfxkit
from sfxkit.editorial.decision import load_choices, load_review
from sfxkit.errors import InputError
from sfxkit.recommender import Recommender
from tests.editorial.conftest import Layered

TINY = dict(variant="tiny_16k", steps=2, progress=False)


def _ids(layered: Layered) -> dict[str, str]:
    rows = Recommender(layered.index).index.rows
    return {str(t): str(i) for t, i in zip(rows["title"], rows["id"], strict=True)}


def test_cue_choices_swap_move_drop_and_add(layered: Layered, tmp_path) -> None:
    ids = _ids(layered)
    plain = sfxkit.soundtrack(
        layered.video, layered.index, layers="auto", policy="retrieve", **TINY
    )
    planned = {d.numbers["cue_key"]: d for d in plain.decisions}
    assert sorted(planned) == ["bed-0", "bed-1", "spot-0", "spot-1", "spot-2"]
    first_spot = planned["spot-1"].numbers["retrieved_id"]
    other = next(i for t, i in ids.items() if i != first_spot and t in ("Glass tap", "Door knock"))
    choices = {
        "version": 2,
        "cues": {
            "spot-1": {"sound": other, "offset": 0.2, "gain_db": -3},
            "spot-2": {"deleted": True},
            "bed-0": {"offset": 0.5},
        },
        "added": [{"at": 0.8, "sound": ids["Wood hit"]}],
    }
    path = tmp_path / "choices.json"
    path.write_text(json.dumps(choices))
    res = sfxkit.soundtrack(
        layered.video, layered.index, layers="auto", policy="retrieve", choices=path, **TINY
    )
    got = {d.numbers["cue_key"]: d for d in res.decisions}
    assert sorted(got) == ["added-0", "bed-0", "bed-1", "spot-0", "spot-1"]
    assert got["spot-1"].numbers["retrieved_id"] == other
    assert got["spot-1"].span[0] == pytest.approx(planned["spot-1"].span[0] + 0.2, abs=1e-6)
    assert got["added-0"].numbers["retrieved_id"] == ids["Wood hit"]
    assert got["added-0"].span[0] == pytest.approx(0.8 - 0.01, abs=1e-6)
    assert "added by hand" in got["added-0"].reason
    # the bed's sound starts half a second later inside its scene: silence before it
    sr = res.timeline.sample_rate
    bed = next(s for s in res.stems if s.role == "bed" and s.cue_index == 0)
    assert float(np.max(np.abs(bed.audio[:, : int(0.45 * sr)]))) == 0.0
    assert float(np.max(np.abs(bed.audio[:, int(0.55 * sr) : sr]))) > 0.0


def test_choices_must_match_the_layer_mode(layered: Layered) -> None:
    with pytest.raises(InputError, match="per cue"):
        sfxkit.soundtrack(
            layered.video,
            layered.index,
            layers="auto",
            policy="retrieve",
            choices={"shots": {"0": {"decision": "silence"}}},
            **TINY,
        )
    with pytest.raises(InputError, match="--layers auto"):
        sfxkit.soundtrack(
            layered.video,
            layered.index,
            policy="retrieve",
            choices={"version": 2, "cues": {"bed-0": {"decision": "silence"}}},
            **TINY,
        )
    with pytest.raises(InputError, match="spot-9"):
        sfxkit.soundtrack(
            layered.video,
            layered.index,
            layers="auto",
            policy="retrieve",
            choices={"version": 2, "cues": {"spot-9": {"deleted": True}}},
            **TINY,
        )


def test_choice_files_of_both_versions_load() -> None:
    v1 = {"video": "v.mp4", "shots": {"2": {"decision": "silence", "gain_db": -2}}}
    assert load_choices(v1)[2].decision == "silence"
    assert load_review(v1).shots[2].gain_db == -2 and load_review(v1).cues == {}
    v2 = {
        "version": 2,
        "cues": {"bed-0": {"gain_db": 3}, "spot-10": {"deleted": True}},
        "added": [{"at": 1.5, "sound": "abc"}],
    }
    review = load_review(v2)
    assert review.cues["spot-10"].deleted and review.added[0].at == 1.5
    assert load_review(review.to_dict()) == review
    for bad, words in (
        ({"version": 3}, "version"),
        ({"version": 2, "cues": {"shot-1": {}}}, "bed-N"),
        ({"version": 2, "cues": {"bed-0": {"gain_db": 1e9}}}, "gain_db"),
        ({"version": 2, "added": [{"at": -1, "sound": "x"}]}, "at"),
        ({"version": 2, "added": [{"at": 1}]}, "sound"),
    ):
        with pytest.raises(InputError, match=words):
            load_review(bad)


def test_a_gain_nudge_moves_the_level_of_that_bed_or_spot(layered: Layered) -> None:
    """A bed or spot turned down 12 dB on the page is 12 dB quieter against the others."""
    common = dict(layers="auto", policy="retrieve", follow_motion=False, align=False, **TINY)
    plain = sfxkit.soundtrack(layered.video, layered.index, **common)
    nudged = {"spot-1": {"gain_db": -12}, "bed-0": {"gain_db": -12}}
    quiet = sfxkit.soundtrack(
        layered.video, layered.index, choices={"version": 2, "cues": nudged}, **common
    )

    def peaks(res) -> dict[str, float]:
        keys = {d.cue: d.numbers["cue_key"] for d in res.decisions}
        return {
            keys[s.cue_index]: 20 * float(np.log10(np.abs(s.audio).max() + 1e-12))
            for s in res.stems
        }

    a, b = peaks(plain), peaks(quiet)
    change = {key: b[key] - a[key] for key in a}
    untouched = change["spot-0"]  # the mix is normalised again: changes are relative
    assert change["spot-2"] - untouched == pytest.approx(0.0, abs=0.5), change
    assert change["bed-1"] - untouched == pytest.approx(0.0, abs=0.5), change
    assert change["spot-1"] - untouched == pytest.approx(-12.0, abs=1.0), change
    assert change["bed-0"] - untouched == pytest.approx(-12.0, abs=1.0), change
