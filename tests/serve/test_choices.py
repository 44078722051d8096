"""`soundtrack(..., choices=)` and `sfxkit soundtrack VIDEO --choices FILE`: a review session's
per-shot choices override the policy's decision, sound and gain."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import soundfile as sf

from sfxkit.editorial import soundtrack
from sfxkit.errors import InputError
from sfxkit.recommender import Recommender
from tests.serve.conftest import sfxkit_exe


def test_choices_pick_the_shot_sound_and_decision(world, tmp_path):
    rec = Recommender(world.index)
    auto = soundtrack(
        world.video, rec, policy="retrieve", variant="tiny_16k", steps=2, progress=False
    )
    first = auto.decisions[1].numbers["retrieved_id"]
    other = next(
        r
        for r in rec.recommend_video(world.video, 5)[1].recommendations
        if r.id != first and "silent" not in r.qc_flags
    )
    choices = {
        "shots": {
            "1": {"decision": "retrieve", "sound": other.id, "gain_db": -3.0},
            "2": {"decision": "silence"},
        }
    }
    path = tmp_path / "choices.json"
    path.write_text(json.dumps(choices))
    out = tmp_path / "api"
    res = soundtrack(
        world.video,
        rec,
        out=out,
        policy="retrieve",
        variant="tiny_16k",
        steps=2,
        progress=False,
        choices=path,
    )
    d = res.decisions
    assert d[1].numbers["retrieved_id"] == other.id and "review choices" in d[1].reason
    assert d[2].decision == "silence"
    assert d[0].numbers["retrieved_id"] == auto.decisions[0].numbers["retrieved_id"]

    cli = tmp_path / "cli"
    r = subprocess.run(
        [
            sfxkit_exe(),
            "soundtrack",
            str(world.video),
            "--index",
            str(world.index),
            "--out",
            str(cli),
            "--policy",
            "retrieve",
            "--variant",
            "tiny_16k",
            "--steps",
            "2",
            "--choices",
            str(path),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    a, _ = sf.read(res.exports.mix)
    b, _ = sf.read(cli / res.exports.mix.name)
    np.testing.assert_array_equal(a, b)


def test_bad_choices_are_named(world, tmp_path):
    bad = tmp_path / "c.json"
    bad.write_text('{"shots": {"1": {"sound": "nope"}}}')
    with pytest.raises(InputError, match="'nope', which is not in this index"):
        soundtrack(world.video, world.index, policy="retrieve", progress=False, choices=bad)
    with pytest.raises(InputError, match="use one of"):
        soundtrack(
            world.video, world.index, progress=False, choices={"shots": {"0": {"decision": "loud"}}}
        )
    with pytest.raises(InputError, match="numbered 0..2"):
        soundtrack(world.video, world.index, progress=False, choices={"7": {"decision": "silence"}})


def test_an_offset_nudge_moves_the_sound_later_in_its_shot(world):
    rec = Recommender(world.index)
    sound = next(
        r.id
        for r in rec.recommend_video(world.video, 5)[0].recommendations
        if "silent" not in r.qc_flags
    )
    common = dict(
        policy="retrieve",
        variant="tiny_16k",
        steps=2,
        progress=False,
        align=False,
        follow_motion=False,
    )
    plain = soundtrack(world.video, rec, choices={"0": {"sound": sound}}, **common)
    moved = soundtrack(world.video, rec, choices={"0": {"sound": sound, "offset": 0.2}}, **common)
    sr = plain.timeline.sample_rate
    a, b = plain.mix.mean(axis=0), moved.mix.mean(axis=0)
    n, i0, i1 = int(0.2 * sr), int(0.1 * sr), int((plain.decisions[0].shot.end - 0.3) * sr)

    def corr(x: np.ndarray, y: np.ndarray) -> float:
        x, y = x - x.mean(), y - y.mean()
        return float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y) + 1e-12))

    assert corr(b[i0 + n : i1 + n], a[i0:i1]) > 0.99
    assert corr(b[i0:i1], a[i0:i1]) < 0.9
    assert np.abs(b[: int(0.15 * sr)]).max() < 1e-3 * np.abs(a).max() + 1e-6  # silent before
    assert moved.decisions[0].numbers["offset_nudge"] == 0.2


def _corr(x: np.ndarray, y: np.ndarray) -> float:
    x, y = x - x.mean(), y - y.mean()
    return float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y) + 1e-12))


def test_a_blend_share_sets_the_balance_of_catalog_and_generated_sound(world):
    from sfxkit.editorial.render import LazyGenerator

    rec = Recommender(world.index)
    common = dict(
        policy="retrieve",
        steps=2,
        progress=False,
        align=False,
        follow_motion=False,
        generator=LazyGenerator("tiny_16k"),
    )

    def shot0(choice: dict) -> np.ndarray:
        res = soundtrack(world.video, rec, choices={"0": choice}, **common)
        sr, end = res.timeline.sample_rate, res.decisions[0].shot.end
        assert res.decisions[0].decision == choice["decision"]
        return res.mix.mean(axis=0)[int(0.05 * sr) : int((end - 0.05) * sr)]

    catalog = shot0({"decision": "retrieve"})
    generated = shot0({"decision": "generate"})
    assert abs(_corr(catalog, generated)) < 0.3  # two different sounds
    only_catalog = shot0({"decision": "blend", "blend": 0.0})
    half = shot0({"decision": "blend", "blend": 0.5})
    only_generated = shot0({"decision": "blend", "blend": 1.0})
    assert _corr(only_catalog, catalog) > 0.99 and _corr(only_generated, generated) > 0.99
    # equal power at 0.5: both sounds are clearly there, neither alone
    assert 0.4 < _corr(half, catalog) < 0.95 and 0.4 < _corr(half, generated) < 0.95

    for bad, words in ((1.5, r"from 0 \(all catalog\)"), ("lots", "not a number")):
        with pytest.raises(InputError, match=words):
            soundtrack(world.video, rec, choices={"0": {"decision": "blend", "blend": bad}})


def _peak_db(x: np.ndarray) -> float:
    return 20 * float(np.log10(np.abs(x).max() + 1e-12))


def test_a_gain_nudge_moves_the_level_of_that_shot_only(world):
    """Each cue is levelled to the loudness target; the review's gain is on top of that, so a
    shot turned down 12 dB is 12 dB quieter against the others (it was once levelled away)."""
    rec = Recommender(world.index)
    common = dict(
        policy="retrieve", variant="tiny_16k", steps=2, progress=False, follow_motion=False
    )
    plain = soundtrack(world.video, rec, **common)
    quiet = soundtrack(world.video, rec, choices={"1": {"gain_db": -12.0}}, **common)
    sr = plain.timeline.sample_rate

    def inside(res, i: int) -> np.ndarray:
        shot = res.decisions[i].shot
        return res.mix[:, int((shot.start + 0.05) * sr) : int((shot.end - 0.05) * sr)]

    change = [_peak_db(inside(quiet, i)) - _peak_db(inside(plain, i)) for i in range(3)]
    # the mix is normalised again, so compare shot 1's change with the others'
    assert change[1] - change[0] == pytest.approx(-12.0, abs=1.0), change
    assert change[2] - change[0] == pytest.approx(0.0, abs=0.5), change
