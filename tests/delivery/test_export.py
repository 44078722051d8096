"""Export of a soundtrack: stems, mix, muxed video, CSV/EDL/OTIO cue sheets and provenance."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import av
import numpy as np
import opentimelineio as otio
import pytest
import soundfile as sf

from sfxkit.delivery.export import export_all, timecode
from sfxkit.delivery.mix import mix_timeline
from sfxkit.delivery.timeline import Cue, Layer, Timeline
from sfxkit.media.loudness import integrated_loudness, true_peak_dbtp
from tests.synth import clicks, make_video, noise, tone

SR = 48_000
FPS = 25
NC = "CC-BY-NC-4.0"


def build(tmp_path: Path, *, third: str = "blend") -> tuple[Timeline, Path]:
    video = make_video(
        tmp_path / "film.mp4",
        [("red", 2.0), ("checker", 0.4), ("circle", 1.6)],
        moving=True,
        audio=tone(200, 4.0, channels=2),
    )
    rain = Layer(
        "retrieved",
        noise(3.0, channels=2, amp=0.5, seed=1, band=(300, 6000)),
        SR,
        source={"id": "rain_01", "title": "Rain on roof", "path": "sfx/rain_01.wav"},
        licence="CC0",
    )
    click = Layer(
        "retrieved", clicks(0.4, 6, amp=0.8), SR, source={"id": "click_07"}, licence="CC-BY-4.0"
    )
    gen = Layer(
        "generated",
        noise(1.6, 16_000, amp=0.2, seed=2),
        16_000,
        source={"generator": "mmaudio", "variant": "small_16k", "seed": 1234, "prompt": "wind"},
        licence=NC,
        non_commercial=True,
    )
    hum = Layer("retrieved", tone(110, 1.6, amp=0.1), SR, source={"id": "hum_3"}, licence="CC0")
    third_layers = (hum, gen) if third == "blend" else (hum,)
    cues = (
        Cue(0, 0.0, 2.0, "retrieve", "score 0.41 >= 0.30", {"score": np.float32(0.41)}, (rain,)),
        Cue(1, 2.0, 2.4, "retrieve", "click", {"score": 0.5}, (click,)),
        Cue(2, 2.4, 4.0, third, "weak match", {"score": 0.22}, third_layers),  # type: ignore[arg-type]
    )
    return Timeline(str(video), 4.0, SR, 2, cues), video


def tc_frames(tc: str, fps: int = FPS) -> int:
    """Frame count of an HH:MM:SS:FF label (HH:MM:SS;FF: drop-frame at 30 nominal)."""
    h, m, s, f = (int(v) for v in re.split("[:;]", tc))
    frames = ((h * 60 + m) * 60 + s) * fps + f
    if ";" in tc:  # SMPTE drop-frame: 2 labels skipped each minute except every tenth
        minutes = h * 60 + m
        frames -= 2 * (minutes - minutes // 10)
    return frames


def tc_seconds(tc: str, fps: int = FPS, start: str = "00:00:00:00") -> float:
    real = 30000 / 1001 if fps == 30 and ";" in tc else fps
    return (tc_frames(tc, fps) - tc_frames(start, fps)) / real


def read_edl(path: Path, *, fps: int = FPS, start: str = "00:00:00:00") -> list[dict[str, object]]:
    """A small CMX3600 reader, independent of the writer: events with their comment lines.

    Record times come back as seconds from ``start``; the FCM line must match the labels.
    """
    label = r"(\d\d:\d\d:\d\d[:;]\d\d)"
    event_re = re.compile(
        rf"^(\d{{3,}})\s+(\S+)\s+(A|AA|A2|B|V)\s+C\s+{label}\s+{label}\s+{label}\s+{label}\s*$"
    )
    events: list[dict[str, object]] = []
    lines = path.read_text().splitlines()
    assert lines[0].startswith("TITLE:") and lines[1] in ("FCM: NON-DROP FRAME", "FCM: DROP FRAME")
    drop = lines[1] == "FCM: DROP FRAME"
    for line in lines[2:]:
        if m := event_re.match(line):
            assert all((";" in m[i]) == drop for i in range(4, 8)), line
            events.append(
                {
                    "num": int(m[1]),
                    "reel": m[2],
                    "track": m[3],
                    "src": (m[4], m[5]),
                    "rec_tc": (m[6], m[7]),
                    "rec": (tc_seconds(m[6], fps, start), tc_seconds(m[7], fps, start)),
                    "comments": [],
                }
            )
        elif line.startswith("*"):
            if events:
                events[-1]["comments"].append(line)  # type: ignore[union-attr]
        else:
            assert not line.strip(), f"unexpected EDL line {line!r}"
    return events


def test_export_everything(tmp_path: Path) -> None:
    tl, video = build(tmp_path)
    mix, stems = mix_timeline(tl, target_lufs=-23.0, true_peak=-1.0)
    res = export_all(tl, mix, stems, tmp_path / "out")
    assert res.non_commercial and res.skipped == ()

    # Clips (one per cue; a blend's catalog and generated shares apart, as its stems are),
    # stems by type and the mix: 24-bit Broadcast WAV.
    assert [p.name for p in res.clips] == [
        "shot_000_retrieve.wav",
        "shot_001_retrieve.wav",
        "shot_002_blend_FX.wav",
        "shot_002_blend_GEN.wav",
    ]
    # Per-shot cues are effects (FX) unless they hold generated material (GEN: non-commercial).
    assert [p.name for p in res.stems] == ["FX.wav", "GEN.wav"]
    for p in (*res.clips, *res.stems, res.mix):
        assert p is not None and sf.info(str(p)).subtype == "PCM_24"
    # The stems add up to the mix (before its limiter, which this quiet mix never reaches).
    summed = sum(sf.read(str(p), dtype="float64", always_2d=True)[0] for p in res.stems)
    mixed = sf.read(str(res.mix), dtype="float64", always_2d=True)[0]
    assert np.max(np.abs(summed - mixed)) < 1e-5
    back, sr = sf.read(str(res.mix), dtype="float32", always_2d=True)
    assert sr == SR and back.shape == (4 * SR, 2)
    assert integrated_loudness(back.T, SR) == pytest.approx(-23.0, abs=0.5)
    assert true_peak_dbtp(back.T, SR) <= -1.0

    # Muxed video: same picture packets, one audio stream as long as the picture.
    assert res.video is not None and res.video.name == "film_sfx.mp4"
    with av.open(str(video)) as c:
        src_packets = [bytes(p) for p in c.demux(c.streams.video[0]) if p.size]
    with av.open(str(res.video)) as c:
        assert len(c.streams.video) == 1 and len(c.streams.audio) == 1
        v_index, a_index = c.streams.video[0].index, c.streams.audio[0].index
        demuxed = [
            (p.stream_index, bytes(p), float((p.pts + p.duration) * p.time_base))
            for p in c.demux()
            if p.size
        ]
    out_packets = [data for index, data, _ in demuxed if index == v_index]
    a_end = max(end for index, _, end in demuxed if index == a_index)
    assert out_packets == src_packets
    assert abs(a_end - 4.0) <= 1024 / SR

    # EDL: the blend's two clips sound at once, so one EDL per track (FX, GEN); one event per
    # clip on audio track A (AA: stereo), record times at 25 fps, sounds named by catalog
    # title and file.
    assert [p.name for p in res.edls] == ["cues_FX.edl", "cues_GEN.edl"] and res.edl == res.edls[0]
    assert not (res.out_dir / "cues.edl").exists()
    events = [e for path in res.edls for e in read_edl(path)]
    assert res.start_tc == "00:00:00:00"  # the video has no timecode track
    cue2 = (tl.cues[2].start, tl.cues[2].end)
    assert [e["rec"] for e in events] == [(c.start, c.end) for c in tl.cues] + [cue2]
    assert all(e["track"] == "AA" for e in events)
    names = [
        next(c for c in e["comments"] if c.startswith("* FROM CLIP NAME:"))  # type: ignore[union-attr]
        for e in events
    ]
    assert names == [
        "* FROM CLIP NAME: Rain on roof (rain_01.wav)",
        "* FROM CLIP NAME: click_07",
        "* FROM CLIP NAME: hum_3",
        "* FROM CLIP NAME: mmaudio seed=1234",
    ]
    assert "* SOURCE FILE: rain_01.wav" in events[0]["comments"]  # type: ignore[operator]
    links = [next(c for c in e["comments"] if c.startswith("* FROM CLIP: ")) for e in events]  # type: ignore[union-attr]
    assert links == [f"* FROM CLIP: clips/{p.name}" for p in res.clips]
    assert all(e["src"] == e["rec_tc"] for e in events)  # each clip's file TC is its place
    nc = [any(c.startswith("* NON-COMMERCIAL") for c in e["comments"]) for e in events]  # type: ignore[union-attr]
    assert nc == [False, False, False, True]
    # Each EDL reads back in OTIO's CMX3600 reader (which refuses overlapping records).
    for path in res.edls:
        assert otio.adapters.read_from_file(str(path), rate=FPS).find_clips()

    # OTIO: an audio track per stem type whose clips sit at the cue times, linked to the clip
    # files (paths relative to the folder), with licence metadata.
    timeline = otio.adapters.read_from_file(str(res.otio))
    assert [t.name for t in timeline.tracks] == ["FX", "GEN"]
    assert all(t.kind == otio.schema.TrackKind.Audio for t in timeline.tracks)
    fx, gen = (list(t.find_clips()) for t in timeline.tracks)
    assert [c.name for c in fx + gen] == [p.name for p in res.clips]
    clips = fx + gen
    for clip, cue in zip(clips, [*tl.cues, tl.cues[2]], strict=True):
        placed = clip.range_in_parent()
        assert placed.start_time.to_seconds() == pytest.approx(cue.start, abs=1e-6)
        assert placed.end_time_exclusive().to_seconds() == pytest.approx(cue.end, abs=1e-6)
        meta = clip.metadata["sfxkit"]
        assert meta["decision"] == cue.decision
        avail = clip.media_reference.available_range
        assert avail.duration.to_seconds() >= cue.duration
        assert (res.out_dir / clip.media_reference.target_url).is_file()
    # Each share of the blend carries its own licence and flag.
    assert [c.metadata["sfxkit"]["licence"] for c in clips[2:]] == ["CC0", NC]
    assert [c.metadata["sfxkit"]["non_commercial"] for c in clips[2:]] == [False, True]

    # CSV cue sheet.
    with open(res.csv, newline="") as fh:  # type: ignore[arg-type]
        rows = list(csv.DictReader(fh))
    assert [r["non_commercial"] for r in rows] == ["", "", "NON-COMMERCIAL"]
    assert rows[1]["start_tc"] == "00:00:02:00" and rows[1]["end_tc"] == "00:00:02:10"
    assert "mmaudio seed=1234" in rows[2]["sources"]
    assert rows[0]["sources"] == "Rain on roof (rain_01.wav)"
    assert (rows[0]["source_titles"], rows[0]["source_files"]) == ("Rain on roof", "rain_01.wav")
    assert [r["stem_type"] for r in rows] == ["spot", "spot", "spot; generated"]
    assert rows[2]["clip"] == "clips/shot_002_blend_FX.wav; clips/shot_002_blend_GEN.wav"

    # Provenance: every sound, its licence, the generator and seed, the flag.
    prov = json.loads(res.provenance.read_text())  # type: ignore[union-attr]
    assert prov["non_commercial"] is True and "non-commercial" in prov["notice"]
    gen = prov["cues"][2]["layers"][1]
    assert (gen["kind"], gen["generator"], gen["seed"], gen["licence"], gen["non_commercial"]) == (
        "generated",
        "mmaudio",
        1234,
        NC,
        True,
    )
    assert prov["cues"][0]["layers"][0]["source"]["path"] == "sfx/rain_01.wav"
    assert prov["cues"][0]["numbers"]["score"] == pytest.approx(0.41)
    assert prov["mix"]["true_peak_dbtp"] <= -1.0

    # The saved plan reloads as the same timeline.
    assert Timeline.load(res.timeline) == tl  # type: ignore[arg-type]


def test_rerun_overwrites_cleanly(tmp_path: Path) -> None:
    tl, _ = build(tmp_path)
    out = tmp_path / "out"
    export_all(tl, *mix_timeline(tl), out)
    # The plan changes: shot 2 is now retrieved only, with no non-commercial sound.
    tl2, _ = build(tmp_path, third="retrieve")
    res = export_all(tl2, *mix_timeline(tl2), out)
    assert not res.non_commercial
    assert sorted(p.name for p in (out / "clips").iterdir()) == [
        "shot_000_retrieve.wav",
        "shot_001_retrieve.wav",
        "shot_002_retrieve.wav",
    ]
    # No generated sound any more: the GEN stem of the first run is gone.
    assert sorted(p.name for p in (out / "stems").iterdir()) == ["FX.wav"]
    assert "NON-COMMERCIAL" not in otio.adapters.read_from_file(str(res.otio)).to_json_string()
    assert not list(out.rglob(".*"))  # no temp files anywhere
    assert "NON-COMMERCIAL" not in res.edl.read_text()  # type: ignore[union-attr]
    assert "NON-COMMERCIAL" not in res.csv.read_text()  # type: ignore[union-attr]
    assert json.loads(res.provenance.read_text())["non_commercial"] is False  # type: ignore[union-attr]
    assert len(list((out / "layers").iterdir())) == 3


def test_missing_video_skips_mux_and_names_it(tmp_path: Path) -> None:
    tl, video = build(tmp_path)
    video.unlink()
    mix, stems = mix_timeline(tl)
    res = export_all(tl, mix, stems, tmp_path / "out", formats=("csv", "edl", "mp4"))
    assert res.video is None and res.mix is None and res.otio is None
    assert len(res.skipped) == 1 and "film.mp4" in res.skipped[0]
    assert read_edl(res.edl)[0]["rec"] == (0.0, 2.0)  # type: ignore[arg-type]


def test_timecode() -> None:
    assert timecode(0.0, 25) == "00:00:00:00"
    assert timecode(3661.4, 25) == "01:01:01:10"
    # Drop-frame at 29.97: frame 1800 is labelled 00:01:00;02 (;00 and ;01 do not exist).
    assert timecode(1800 * 1001 / 30000, 30000 / 1001) == "00:01:00;02"
    assert timecode(60.0, 24) == "00:01:00:00"
    assert timecode(59.96, 25) == "00:00:59:24"
    assert timecode(2.0, 25, "10:00:00:00") == "10:00:02:00"
