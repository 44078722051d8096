"""`sfxkit.soundtrack` end to end on a synthesised three-shot video with the tiny models:
decisions with reasons, forced shots, the mix, the muxed video and every exported file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import av
import numpy as np
import opentimelineio as otio
import pytest
import soundfile as sf

import sfxkit
from sfxkit.delivery.timeline import DECISIONS
from sfxkit.editorial import SoundtrackResult, soundtrack
from sfxkit.errors import InputError
from sfxkit.media.loudness import integrated_loudness, true_peak_dbtp
from tests import synth
from tests.editorial.conftest import make_late_motion_video

TINY = {"variant": "tiny_16k", "steps": 2}


@pytest.fixture(scope="module")
def result(
    tiny_index, three_shots: Path, tmp_path_factory: pytest.TempPathFactory
) -> SoundtrackResult:
    out = tmp_path_factory.mktemp("soundtrack") / "out"
    return sfxkit.soundtrack(
        three_shots, tiny_index[0], out=out, overrides={0: "generate", 1: "retrieve"}, **TINY
    )


def tc_seconds(tc: str, fps: float) -> float:
    h, m, s, f = (int(v) for v in tc.split(":"))
    return h * 3600 + m * 60 + s + f / round(fps)


def edl_events(path: Path, fps: float) -> list[tuple[float, float, list[str]]]:
    """(record in, record out, comment lines) per event of a CMX3600 EDL, read independently."""
    event = re.compile(
        r"^\d{3}\s+\S+\s+A{1,2}\s+C\s+\S+\s+\S+\s+(\d\d:\d\d:\d\d:\d\d)\s+(\d\d:\d\d:\d\d:\d\d)\s*$"
    )
    events: list[tuple[float, float, list[str]]] = []
    for line in path.read_text().splitlines():
        if m := event.match(line):
            events.append((tc_seconds(m[1], fps), tc_seconds(m[2], fps), []))
        elif line.startswith("*") and events:
            events[-1][2].append(line)
    return events


def test_every_shot_gets_a_decision_with_a_reason(result: SoundtrackResult) -> None:
    d = result.decisions
    assert [x.shot.index for x in d] == [0, 1, 2]
    assert all(x.decision in DECISIONS and x.reason for x in d)
    assert (d[0].decision, d[1].decision) == ("generate", "retrieve")
    assert "overrides[0]" in d[0].reason and "overrides[1]" in d[1].reason
    # The unforced shot is decided by the auto policy on raw scores (the tiny index has no
    # calibration), and the numbers behind it are kept.
    assert d[2].numbers["policy"] == "auto" and d[2].numbers["scale"] == "raw"
    assert d[2].numbers["top_score"] == pytest.approx(d[2].candidates[0].score, abs=1e-5)
    assert d[2].decision == d[2].numbers["decision"]
    # Every candidate list excludes sounds the catalog flagged silent.
    assert all("silent" not in c.qc_flags for x in d for c in x.candidates)
    assert result.stats["untrained_index"] and result.stats["untrained_generator"]


def test_forced_generate_and_retrieve_are_both_in_the_mix(result: SoundtrackResult) -> None:
    cues = result.timeline.cues
    assert [lay.kind for lay in cues[0].layers] == ["generated"]
    assert [lay.kind for lay in cues[1].layers] == ["retrieved"]
    # The retrieved sound is the best candidate for the shot, read from the catalog.
    best = result.decisions[1].candidates[0]
    assert cues[1].layers[0].source["id"] == best.id
    # The generated sound was prompted from the shot's candidates, with the default negative.
    gen = cues[0].layers[0].source
    assert gen["generator"] == "mmaudio:tiny_16k" and gen["seed"] == 42
    assert gen["prompt"] == result.decisions[0].prompt != ""
    assert result.decisions[0].candidates[0].title in gen["prompt"]
    assert gen["negative_prompt"] == "speech, music"
    # Each shot's stretch of the mix is that shot's stem (away from the crossfades).
    sr = result.timeline.sample_rate
    stems = {s.cue_index: s for s in result.stems}
    for cue in cues[:2]:
        stem = stems[cue.index]
        a, b = int((cue.start + 0.05) * sr), int((cue.end - 0.05) * sr)
        mixed = result.mix[:, a:b].ravel()
        placed = stem.audio[:, a - stem.offset : b - stem.offset].ravel()
        assert float(np.sqrt(np.mean(mixed**2))) > 1e-3  # audible, not silence
        assert np.corrcoef(mixed, placed)[0, 1] > 0.95


def test_muxed_video_keeps_the_picture_and_carries_the_mix(
    result: SoundtrackResult, three_shots: Path
) -> None:
    assert result.exports is not None and result.exports.video is not None
    with av.open(str(three_shots)) as c:
        vs = c.streams.video[0]
        src = [(bytes(p), p.pts, p.duration) for p in c.demux(vs) if p.size]
        v_end = max(pts + dur for _, pts, dur in src) * vs.time_base
    with av.open(str(result.exports.video)) as c:
        assert len(c.streams.video) == 1 and len(c.streams.audio) == 1
        a = c.streams.audio[0]
        assert a.codec_context.sample_rate == 48_000 and a.codec_context.channels == 2
        packets = [(p.stream_index, bytes(p), p) for p in c.demux() if p.size]
        video_out = [data for i, data, _ in packets if i == c.streams.video[0].index]
        a_end = max(
            float((p.pts + p.duration) * p.time_base) for i, _, p in packets if i == a.index
        )
    assert video_out == [data for data, _, _ in src]  # bit-identical picture
    assert abs(a_end - float(v_end)) <= 1024 / 48_000  # within one AAC frame


def test_cue_sheets_reread_with_the_cue_times(result: SoundtrackResult) -> None:
    ex = result.exports
    assert ex is not None and ex.edl is not None and ex.otio is not None
    fps = result.timeline.fps or 25.0
    cues = result.timeline.cues
    # A blend is two clips (catalog share on FX, generated share on GEN) that sound at once, so
    # there is one EDL per track then; together they hold every cue.
    events = sorted(e for path in ex.edls for e in edl_events(path, fps))
    spans = sorted({(a, b) for a, b, _ in events})
    assert len(spans) == len(cues)
    for (rec_in, rec_out), cue in zip(spans, cues, strict=True):
        # Record times are whole frames: the cue times to the nearest frame.
        assert (rec_in, rec_out) == pytest.approx((cue.start, cue.end), abs=0.5 / fps)
    flagged = {span: False for span in spans}
    for a, b, comments in events:
        flagged[(a, b)] |= any("NON-COMMERCIAL" in x for x in comments)
    assert [flagged[span] for span in spans] == [c.non_commercial for c in cues]
    tl = otio.adapters.read_from_file(str(ex.otio))
    # One audio track per stem type (FX, GEN...): the clips of all tracks in time order.
    clips = sorted(tl.find_clips(), key=lambda c: c.range_in_parent().start_time.to_seconds())
    by_start: dict[float, list] = {}
    for clip in clips:
        by_start.setdefault(round(clip.range_in_parent().start_time.to_seconds(), 6), []).append(
            clip
        )
    assert len(by_start) == len(cues)
    for group, cue in zip(by_start.values(), cues, strict=True):
        for clip in group:
            placed = clip.range_in_parent()
            assert placed.start_time.to_seconds() == pytest.approx(cue.start, abs=1e-6)
            assert placed.end_time_exclusive().to_seconds() == pytest.approx(cue.end, abs=1e-6)
            assert clip.metadata["sfxkit"]["decision"] == cue.decision
        assert len(group) == (2 if cue.decision == "blend" else 1)


def test_provenance_flags_the_generated_sound(result: SoundtrackResult) -> None:
    ex = result.exports
    assert ex is not None and ex.provenance is not None and ex.non_commercial
    prov = json.loads(ex.provenance.read_text())
    assert prov["non_commercial"] is True and prov["notice"]
    gen = prov["cues"][0]["layers"][0]
    assert gen["kind"] == "generated" and gen["non_commercial"] is True
    assert gen["generator"] == "mmaudio:tiny_16k" and gen["seed"] == 42
    ret = prov["cues"][1]["layers"][0]
    assert ret["kind"] == "retrieved" and ret["non_commercial"] is False
    assert Path(ret["source"]["path"]).is_file()
    assert prov["cues"][0]["reason"] == result.decisions[0].reason
    decisions = json.loads((ex.out_dir / "decisions.json").read_text())
    assert [s["decision"] for s in decisions["shots"]] == [d.decision for d in result.decisions]
    assert decisions["shots"][0]["negative_prompt"] == "speech, music"


def test_mix_meets_loudness_target_and_true_peak(result: SoundtrackResult) -> None:
    ex = result.exports
    assert ex is not None and ex.mix is not None
    assert sf.info(str(ex.mix)).subtype == "PCM_24"
    assert all(sf.info(str(p)).subtype == "PCM_24" for p in ex.stems)
    mix, sr = sf.read(str(ex.mix), dtype="float32", always_2d=True)
    assert mix.shape[0] == result.timeline.samples
    assert integrated_loudness(mix.T, sr) == pytest.approx(-23.0, abs=0.5)
    assert true_peak_dbtp(mix.T, sr) <= -1.0
    assert result.stats["loudness"] == pytest.approx(-23.0, abs=0.5)


def test_retrieved_onset_follows_the_visual_onset(tiny_index, tmp_path: Path) -> None:
    # Shot 1's square appears 0.6 s after the cut; the footsteps' clicks come every 0.5 s.
    video = make_late_motion_video(tmp_path / "late.mp4")
    common = dict(
        policy="retrieve", filters={"category": "foley"}, follow_motion=False, k=1, **TINY
    )
    aligned = soundtrack(video, tiny_index[0], **common)
    plain = soundtrack(video, tiny_index[0], align=False, **common)
    assert aligned.decisions[1].candidates[0].title == "footsteps gravel"
    cut = aligned.timeline.cues[1].start
    sr = aligned.timeline.sample_rate

    def peak(res: SoundtrackResult, a: float, b: float) -> float:
        seg = res.mix[:, int((cut + a) * sr) : int((cut + b) * sr)]
        return float(np.abs(seg).max()) / float(np.abs(res.mix).max())

    # Aligned: a click starts at the visual onset, and nothing sounds just before it.
    assert peak(aligned, 0.595, 0.625) > 0.3
    assert peak(aligned, 0.50, 0.58) < 0.05
    # Not aligned: the clicks keep their own grid (0.0, 0.5, 1.0 s into the shot).
    assert peak(plain, 0.50, 0.53) > 0.3


def test_bad_arguments_are_named(tiny_index, three_shots: Path) -> None:
    with pytest.raises(InputError, match=r"shot\(s\) \[7\].*3 shot\(s\), numbered 0..2"):
        soundtrack(three_shots, tiny_index[0], overrides={7: "generate"}, **TINY)
    with pytest.raises(InputError, match="retrieve, generate, blend, silence"):
        soundtrack(three_shots, tiny_index[0], overrides={0: "loud"}, **TINY)
    with pytest.raises(InputError, match="'layer' or 'crossfade'"):
        soundtrack(three_shots, tiny_index[0], blend_mode="mush", **TINY)
    with pytest.raises(InputError, match="auto, retrieve, generate, blend"):
        soundtrack(three_shots, tiny_index[0], policy="guess", **TINY)


def test_blend_crossfade_and_missing_catalog_file(tiny_index, tmp_path: Path) -> None:
    """A blended shot holds both sounds; a catalog file gone since indexing is skipped (named
    in the numbers) and the next candidate is used."""
    import shutil

    lib = tmp_path / "lib"
    synth.write_audio(lib / "water" / "stream.wav", synth.noise(2.0, band=(300, 3000), seed=5))
    synth.write_audio(lib / "weather" / "rain.wav", synth.noise(2.0, band=(2000, 9000), seed=1))
    idx = tmp_path / "idx"
    sfxkit.build_index(lib, idx, models="tiny", progress=False)
    video = synth.make_video(tmp_path / "one.mp4", [("stripes", 1.6)], moving=True)
    first = sfxkit.Recommender(idx).recommend_video(video, k=2)[0].recommendations[0]
    shutil.move(first.path, tmp_path / "moved.wav")
    res = soundtrack(video, idx, policy="blend", blend_mode="crossfade", **TINY)
    cue = res.timeline.cues[0]
    assert cue.decision == "blend" and cue.blend == "crossfade"
    assert [lay.kind for lay in cue.layers] == ["retrieved", "generated"]
    assert cue.layers[0].source["id"] != first.id
    skipped = res.decisions[0].numbers["unreadable_candidates"]
    assert [s["id"] for s in skipped] == [first.id] and "file not found" in skipped[0]["reason"]
    assert cue.non_commercial  # the generated half carries the flag
