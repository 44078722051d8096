"""Layers like a sound editor's: one ambience bed per scene running unbroken under its shots, a
spot effect on each visible event, and ``layers="shot"`` keeping one sound per shot."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import sfxkit
from sfxkit.delivery.mix import audio_onset
from sfxkit.delivery.timeline import Timeline
from sfxkit.editorial import SoundtrackOptions
from sfxkit.editorial.plan import calibrate_scene_threshold, group_scenes, motion_onsets
from sfxkit.errors import InputError
from tests.cli_run import sfxkit as run_sfxkit
from tests.editorial.conftest import Layered

FPS = 25.0
TINY = dict(variant="tiny_16k", steps=2, progress=False)


@pytest.fixture(scope="module")
def auto(layered: Layered) -> sfxkit.editorial.SoundtrackResult:
    return sfxkit.soundtrack(layered.video, layered.index, layers="auto", policy="retrieve", **TINY)


def test_one_bed_per_scene_spans_its_shots(layered: Layered, auto) -> None:
    beds = auto.timeline.by_role("bed")
    assert [b.shots for b in beds] == [(0, 1), (2, 3)]
    assert beds[0].start == 0.0 and beds[0].end == pytest.approx(layered.cuts[1], abs=1e-6)
    assert beds[1].start == pytest.approx(layered.cuts[1], abs=1e-6)
    assert beds[1].end == pytest.approx(auto.timeline.duration, abs=1e-6)
    # The beds crossfade (1 s, equal power) only at the scene change: the first carries on half
    # a second past it, the second's stem begins half a second before it.
    sr = auto.timeline.sample_rate
    stems = {s.cue_index: s for s in auto.stems if s.role == "bed"}
    change = int(round(layered.cuts[1] * sr))
    assert stems[0].offset == 0 and stems[0].offset + stems[0].audio.shape[1] == change + sr // 2
    assert stems[1].offset == change - sr // 2 and stems[1].head == sr // 2
    # Ambience queries prefer long sounds filed as AMB.
    for bed in beds:
        assert bed.layers[0].source["category"] == "AMB", bed.reason
        assert bed.reason.startswith(f"bed for scene {bed.scene}")


def test_bed_is_continuous_across_the_cut_inside_its_scene(layered: Layered, auto) -> None:
    """Around the cut between shots 0 and 1 the bed's stem is the catalog sound's consecutive
    samples at one gain: it runs on, it does not restart or dip."""
    stem = next(s for s in auto.stems if s.role == "bed" and s.cue_index == 0)
    bed = auto.timeline.by_role("bed")[0]
    source, sr = sf.read(bed.layers[0].source["path"], dtype="float32", always_2d=True)
    assert sr == stem.sample_rate
    source = source.T.mean(axis=0)
    cut = int(round(layered.cuts[0] * sr)) - stem.offset  # index into the stem
    window = slice(cut - 960, cut + 960)  # 20 ms either side
    got = stem.audio[0, window].astype(np.float64)
    # The stem starts at the cue start (head 0: the first bed starts at 0) = source sample 0.
    want = source[window.start - stem.head : window.stop - stem.head].astype(np.float64)
    gain = float(got @ want / (want @ want))
    assert gain > 0
    assert np.max(np.abs(got - gain * want)) < 1e-3 * np.max(np.abs(got))
    # ...while per-shot mode cuts the sound at the same place.
    shot = sfxkit.soundtrack(layered.video, layered.index, layers="shot", policy="retrieve", **TINY)
    starts = sorted(s.offset + s.head for s in shot.stems)
    assert any(abs(t - int(round(layered.cuts[0] * sr))) <= 1 for t in starts)


def test_three_spots_land_on_their_onsets(layered: Layered, auto) -> None:
    spots = auto.timeline.by_role("spot")
    assert len(spots) == 3
    frame = 1.0 / FPS
    for cue, event in zip(spots, layered.events, strict=True):
        assert cue.shots == (2,) and cue.scene == 1
        assert abs(cue.numbers["onset"] - event) <= frame
        stem = next(s for s in auto.stems if s.cue_index == cue.index)
        assert stem.role == "spot" and stem.head == 0
        heard = stem.start + audio_onset(stem.audio, stem.sample_rate)
        assert abs(heard - event) <= frame, (cue.reason, heard, event)
        # Spots prefer short transients; they overlap the bed of their scene.
        assert cue.layers[0].source["category"] != "AMB"
    bed = auto.timeline.by_role("bed")[1]
    assert all(bed.start < c.start < bed.end for c in spots)


def test_stems_name_their_role_and_split_by_kind(layered: Layered) -> None:
    res = sfxkit.soundtrack(layered.video, layered.index, layers="auto", policy="blend", **TINY)
    assert {s.role for s in res.stems} == {"bed", "spot"}
    for stem in res.stems:
        assert stem.name.startswith(f"{stem.role}_")
        assert set(stem.by_kind) == {"retrieved", "generated"}
        total = stem.by_kind["retrieved"] + stem.by_kind["generated"]
        assert np.allclose(total, stem.audio, atol=1e-5)
        assert float(np.max(np.abs(stem.by_kind["generated"]))) > 0


def test_batch_takes_the_same_options(layered: Layered, tmp_path: Path) -> None:
    opts = SoundtrackOptions(layers="auto", policy="retrieve", variant="tiny_16k")
    report = sfxkit.soundtrack_batch([layered.video], layered.index, opts, out=tmp_path)
    assert [i.status for i in report.items] == ["done"]
    stems = sorted(p.name.split("_")[0] for p in (report.items[0].out / "clips").iterdir())
    assert stems == ["bed", "bed", "spot", "spot", "spot"]
    again = sfxkit.soundtrack_batch([layered.video], layered.index, opts, out=tmp_path)
    assert [i.status for i in again.items] == ["skipped"]
    # Other options are other settings: the video is done again.
    redo = sfxkit.soundtrack_batch(
        [layered.video], layered.index, opts, out=tmp_path, layers="shot"
    )
    assert [i.status for i in redo.items] == ["done"]


def test_timeline_round_trips_roles_and_reads_schema_1(tmp_path: Path, auto) -> None:
    path = auto.timeline.save(tmp_path / "tl")
    back = Timeline.load(path)
    assert [(c.role, c.scene, c.shots, c.gain_db) for c in back.cues] == [
        (c.role, c.scene, c.shots, c.gain_db) for c in auto.timeline.cues
    ]
    doc = json.loads(path.read_text())
    assert doc["schema"] == 2
    # A schema 1 file (per-shot cues, no role fields) still loads, as per-shot cues.
    doc["schema"] = 1
    for cue in doc["cues"]:
        for key in ("role", "scene", "shots", "gain_db"):
            cue.pop(key)
    path.write_text(json.dumps(doc))
    old = Timeline.load(path)
    assert {c.role for c in old.cues} == {"shot"} and len(old.cues) == len(back.cues)


def test_shot_mode_is_one_sound_per_shot(layered: Layered) -> None:
    res = sfxkit.soundtrack(layered.video, layered.index, layers="shot", policy="retrieve", **TINY)
    cues = res.timeline.cues
    assert [c.role for c in cues] == ["shot"] * 4 and [c.index for c in cues] == [0, 1, 2, 3]
    assert [c.start for c in cues[1:]] == pytest.approx(layered.cuts, abs=1e-6)
    assert all(s.name.startswith("shot_") for s in res.stems)
    # The same as the default (layers="shot" is today's behaviour).
    default = sfxkit.soundtrack(layered.video, layered.index, policy="retrieve", **TINY)
    assert np.array_equal(default.mix, res.mix)


def test_scene_threshold_is_calibrated_on_drawn_places(layered: Layered) -> None:
    """Shots of one drawn place vs of two places, in the tiny CLIP image space: the default
    threshold separates them, and :func:`calibrate_scene_threshold` finds a threshold in the gap."""
    from sfxkit.editorial.plan import shot_candidates
    from sfxkit.recommender import Recommender

    found = shot_candidates(layered.video, Recommender(layered.index), k=1)
    e = found.embeddings / np.linalg.norm(found.embeddings, axis=1, keepdims=True)
    same = [float(e[0] @ e[1]), float(e[2] @ e[3])]
    different = [float(e[i] @ e[j]) for i in (0, 1) for j in (2, 3)]
    threshold = calibrate_scene_threshold(same, different)
    assert min(different) <= max(different) < threshold < min(same)
    assert max(different) < SoundtrackOptions().scene_threshold < min(same)
    assert len(group_scenes(found.shots, found.embeddings, threshold)) == 2
    # Too strict a threshold splits every shot off; too loose joins both places.
    assert len(group_scenes(found.shots, found.embeddings, 0.9999)) == 4
    assert len(group_scenes(found.shots, found.embeddings, -1.0)) == 1


def test_onsets_are_found_and_spaced() -> None:
    from sfxkit.media.motion import MotionProfile

    energy = np.zeros(50, dtype=np.float32)
    energy[10:12] = 0.05  # event 1
    energy[12:20] = 0.01
    energy[13] = 0.04  # a second rise 3 frames later: the same event by min_gap
    energy[30:33] = 0.03  # event 2
    times = np.arange(50) / FPS
    profile = MotionProfile(times, energy, np.zeros(50, np.float32), 0.0, 2.0, FPS)
    onsets = motion_onsets(profile, min_rise=0.01, min_gap=0.25)
    assert [round(t, 3) for t, _ in onsets] == [0.4, 1.2]
    assert len(motion_onsets(profile, max_onsets=1, min_rise=0.01)) == 1
    assert motion_onsets(profile, min_rise=0.1) == []


def test_options_are_validated() -> None:
    with pytest.raises(InputError, match="layers.*shot, auto"):
        SoundtrackOptions(layers="scene")
    with pytest.raises(InputError, match="scene_threshold"):
        SoundtrackOptions(scene_threshold=1.5)
    with pytest.raises(InputError, match="layers='shot'"):
        SoundtrackOptions(layers="auto", overrides={0: "generate"})
    with pytest.raises(InputError, match="unknown soundtrack option.*layer_mode"):
        SoundtrackOptions.from_kwargs(layer_mode="auto")
    opts = SoundtrackOptions.from_kwargs(SoundtrackOptions(k=3), layers="auto")
    assert (opts.k, opts.layers) == (3, "auto")
    assert json.loads(json.dumps(opts.to_dict()))["layers"] == "auto"


@pytest.mark.slow  # ~25 s: a fresh process loads torch and the tiny models
def test_cli_layers(layered: Layered, tmp_path: Path) -> None:
    out = tmp_path / "out"
    base = ["soundtrack", layered.video, "--index", layered.index, "--models", "tiny"]
    r = run_sfxkit(
        *base, "--out", out, "--layers", "auto", "--policy", "retrieve", "--no-progress", "--json",
        "--channels", "5.1", "--start-tc", "01:00:00:00",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["stats"]["layers"] == "auto" and doc["stats"]["cues"] == {"bed": 2, "spot": 3}
    assert doc["files"]["start_tc"] == "01:00:00:00" and doc["files"]["mix_51"]
    clips = sorted(p.name for p in (out / "clips").iterdir())
    assert sum(n.startswith("bed_") for n in clips) == 2
    assert sum(n.startswith("spot_") for n in clips) == 3
    # Beds are delivered as backgrounds, spots as effects, in stereo and 5.1, with an AAF.
    stems = {p.name for p in (out / "stems").iterdir()}
    assert {"BG.wav", "FX.wav", "BG_51.wav", "FX_51.wav"} <= stems
    assert (out / "cues.aaf").stat().st_size > 0 and (out / "mix_51.wav").is_file()
    decisions = json.loads((out / "decisions.json").read_text())
    assert [sc["shots"] for sc in decisions["scenes"]] == [[0, 1], [2, 3]]


def test_cli_rejects_an_unknown_layer_mode(layered: Layered, tmp_path: Path) -> None:
    base = ["soundtrack", layered.video, "--index", layered.index, "--models", "tiny"]
    r = run_sfxkit(*base, "--out", tmp_path / "o", "--layers", "scenes", "--no-progress")
    assert r.returncode == 2 and "shot, auto" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_spot_clips_carry_handles_and_sit_at_their_timecode(
    layered: Layered, tmp_path: Path
) -> None:
    """Delivered spot clips run past their cue by the handle (as far as the sound has material)
    and their BWF TimeReference is the cue start plus the start timecode, so a DAW spots them."""
    from sfxkit.delivery.bwf import read_bwf

    out = tmp_path / "out"
    knobs = dict(layers="auto", policy="retrieve", spot_length=0.2, formats=("wav",), **TINY)
    res = sfxkit.soundtrack(
        layered.video, layered.index, out=out, start_tc="01:00:00:00", handles=1.0, **knobs
    )
    spots = res.timeline.by_role("spot")
    assert len(spots) == 3
    for cue in spots:
        info = read_bwf(out / "clips" / cue.stem_name)
        sr = info.sample_rate
        assert info.time_reference == round((3600 + cue.start) * sr)
        # One-shots of 0.5-0.7 s on a 0.2 s cue: the rest of the sound is the handle.
        assert cue.duration + 0.2 < info.frames / sr <= cue.duration + 1.0 + 1e-6
    flush = sfxkit.soundtrack(
        layered.video, layered.index, out=tmp_path / "flush", handles=0.0, **knobs
    )
    for cue in flush.timeline.by_role("spot"):
        info = read_bwf(tmp_path / "flush" / "clips" / cue.stem_name)
        assert info.frames == pytest.approx(cue.duration * info.sample_rate, abs=2)


def test_spots_on_a_drawn_video_land_on_its_events_not_its_transitions(
    layered: Layered, tmp_path: Path
) -> None:
    """Through the soundtrack: a drawn video with a bounce, an appearance, a strike and two
    bursts, a fade, a dissolve, a pan and a flash gets its spots on the events."""
    from tests import synth
    from tests.media.test_events import SPEC, TOL

    frames, truth = synth.event_clip(5, **SPEC)  # type: ignore[arg-type]
    video = synth.write_video_frames(tmp_path / "events.mp4", frames)
    res = sfxkit.soundtrack(video, layered.index, layers="auto", policy="retrieve", **TINY)
    onsets = [c.numbers["onset"] for c in res.timeline.by_role("spot")]
    for t in truth["events"]:
        assert any(abs(t - s) <= TOL for s in onsets), (t, onsets)
    assert not [s for s in onsets if any(a <= s <= b for a, b in truth["transitions"])]
