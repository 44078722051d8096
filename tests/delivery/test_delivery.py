"""Delivery to the mix stage: BWF clips and stems placed by TimeReference, handles, 5.1, and the
AAF / FCP XML / EDL / OTIO files read back by their adapters (and the EDL by our own parser)."""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from pathlib import Path

import aaf2
import av
import numpy as np
import opentimelineio as otio
import pyloudnorm
import pytest
import soundfile as sf
import wavinfo

from sfxkit.delivery.export import export_all
from sfxkit.delivery.interchange import DeliveredClip, build_otio, edl_text
from sfxkit.delivery.mix import mix_timeline
from sfxkit.delivery.surround import fold_down
from sfxkit.delivery.timeline import Timeline
from sfxkit.errors import InputError
from sfxkit.media.loudness import integrated_loudness
from tests.delivery.helpers import video_with_timecode
from tests.delivery.test_export import SR, build, read_edl

NTSC = 30000 / 1001
ROLES = {0: "bed", 1: "spot", 2: "shot"}  # shot 2 is a blend: catalog share FX, generated GEN
NC = "CC-BY-NC-4.0"


def ntsc_timeline(tmp_path: Path, tc: str = "00:59:59;00") -> tuple[Timeline, Path]:
    """The three-cue timeline at 29.97 fps, its video carrying a drop-frame tmcd track."""
    tl, _ = build(tmp_path)
    video = video_with_timecode(tmp_path / "ntsc.mov", tc, fps=Fraction(30000, 1001))
    return dataclasses.replace(tl, video=str(video), fps=NTSC), video


def file_path(url: str) -> Path:
    return Path(otio.url_utils.filepath_from_url(url))


def time_ref(path: Path) -> int:
    bext = wavinfo.WavInfoReader(str(path)).bext
    assert bext is not None and bext.version == 1
    return int(bext.time_reference)


def test_everything_round_trips_at_29_97_drop_frame(tmp_path: Path) -> None:
    tl, video = ntsc_timeline(tmp_path)
    mix, stems = mix_timeline(tl)
    res = export_all(
        tl, mix, stems, tmp_path / "out", roles=ROLES, formats=("wav", "edl", "otio", "aaf", "xml")
    )
    # The start timecode came from the video's timecode track.
    assert res.start_tc == "00:59:59;00" and res.fps == pytest.approx(NTSC)
    tc_frames = 107892 - 30  # 01:00:00;00 is frame 107892; one second earlier keeps all labels
    tc_s = tc_frames / NTSC

    # BWF (read by wavinfo): each clip's TimeReference is its first sample's place on the
    # timeline plus the start timecode; the stems and the mix start at the start timecode.
    by_cue = {s.cue_index: s for s in stems}
    # The blend (cue 2) is two clips, its catalog share on FX and its generated share on GEN.
    assert [p.name for p in res.clips] == [
        "shot_000_retrieve.wav",
        "shot_001_retrieve.wav",
        "shot_002_blend_FX.wav",
        "shot_002_blend_GEN.wav",
    ]
    clip_cues = [*tl.cues, tl.cues[2]]
    for clip, cue in zip(res.clips, clip_cues, strict=True):
        before = by_cue[cue.index].head if cue.index != 1 else min(SR, by_cue[1].head)
        assert time_ref(clip) == round((cue.start - before / SR + tc_s) * SR)
    assert {time_ref(p) for p in (*res.stems, res.mix)} == {round(tc_s * SR)}
    assert [p.name for p in res.stems] == ["BG.wav", "FX.wav", "GEN.wav"]

    # AAF, read back by the AAF adapter: a track per stem type, one clip each, linked files.
    aaf_tl = otio.adapters.read_from_file(str(res.aaf))
    assert aaf_tl.global_start_time.value == tc_frames
    assert len(aaf_tl.tracks) == 3
    tracks = [list(t.find_clips()) for t in aaf_tl.tracks]
    by_track = [[res.clips[0].name], [p.name for p in res.clips[1:3]], [res.clips[3].name]]
    assert [[c.name for c in cs] for cs in tracks] == by_track
    clips = [c for cs in tracks for c in cs]
    for clip, path, cue in zip(clips, res.clips, clip_cues, strict=True):
        assert file_path(clip.media_reference.target_url) == path.resolve()
        assert clip.range_in_parent().start_time.value == round(cue.start * NTSC)
        assert clip.source_range.start_time.value == tc_frames + round(cue.start * NTSC)
        assert clip.source_range.duration.value == round(cue.end * NTSC) - round(cue.start * NTSC)
    comments = [c.metadata["AAF"]["UserComments"] for c in clips]
    assert [c["Licence"] for c in comments] == ["CC0", "CC-BY-4.0", "CC0", NC]
    assert ["NON-COMMERCIAL" in c for c in comments] == [False, False, False, True]
    # pyaaf2 directly: the slots are named by stem type and the timecode is drop-frame.
    with aaf2.open(str(res.aaf)) as f:
        (comp,) = list(f.content.compositionmobs())
        names = [slot.name for slot in comp.slots]
        (tcs,) = [s.segment for s in comp.slots if isinstance(s.segment, aaf2.components.Timecode)]
        assert names[:3] == ["BG", "FX", "GEN"] and (tcs.start, tcs.drop) == (tc_frames, True)

    # FCP 7 XML, read back by its adapter: same clips and links, drop-frame start.
    xml_tl = otio.adapters.read_from_file(str(res.xml))
    assert otio.opentime.to_timecode(xml_tl.global_start_time, NTSC) == "00:59:59;00"
    xml_tracks = [list(t.find_clips()) for t in xml_tl.tracks]
    assert [[c.name for c in cs] for cs in xml_tracks] == by_track
    xml_clips = [c for cs in xml_tracks for c in cs]
    assert [file_path(c.media_reference.target_url) for c in xml_clips] == [
        p.resolve() for p in res.clips
    ]
    nc = xml_clips[3].metadata["fcp_xml"]["comments"]["mastercomment1"]
    assert nc.startswith("NON-COMMERCIAL")
    assert "displayformat>DF<" in res.xml.read_text()  # type: ignore[union-attr]

    # EDL, one per track (the blend's two shares sound at once): our parser sees drop-frame
    # labels at the right times; OTIO's reader agrees on names, source in/out and file links.
    assert [p.name for p in res.edls] == ["cues_BG.edl", "cues_FX.edl", "cues_GEN.edl"]
    events = [e for p in res.edls for e in read_edl(p, fps=30, start="00:59:59;00")]
    for event, cue in zip(events, clip_cues, strict=True):
        assert event["rec"][0] == pytest.approx(round(cue.start * NTSC) / NTSC, abs=1e-9)
        assert event["src"] == event["rec_tc"]
    assert events[0]["rec_tc"] == ("00:59:59;00", "01:00:01;00")
    edl_clips = [
        c
        for p in res.edls
        for c in otio.adapters.read_from_file(str(p), rate=NTSC).tracks[0].find_clips()
    ]
    assert [c.name for c in edl_clips] == [
        "Rain on roof (rain_01.wav)",
        "click_07",
        "hum_3",
        "mmaudio seed=1234",
    ]
    assert [Path(c.media_reference.target_url).name for c in edl_clips] == [
        p.name for p in res.clips
    ]
    for c, cue in zip(edl_clips, clip_cues, strict=True):
        assert c.source_range.start_time.value == tc_frames + round(cue.start * NTSC)
        assert (res.out_dir / c.media_reference.target_url).is_file()

    # .otio: track names survive, paths are relative to the folder.
    o = otio.adapters.read_from_file(str(res.otio))
    assert [t.name for t in o.tracks] == ["BG", "FX", "GEN"]
    assert o.global_start_time.value == tc_frames


def test_spot_clips_carry_handles(tmp_path: Path) -> None:
    tl, _ = build(tmp_path)
    tl = dataclasses.replace(tl, fps=25.0)
    mix, stems = mix_timeline(tl)
    # The caller kept 1.5 s of material each side of the 0.4 s spot effect at 2.0 s.
    rng = np.random.default_rng(7)
    material = rng.uniform(-0.5, 0.5, (2, int(3.4 * SR))).astype(np.float32)
    out = tmp_path / "out"
    res = export_all(
        tl, mix, stems, out, roles=ROLES, start_tc="10:00:00:00", formats=("wav", "otio"),
        material={1: (material, int(1.5 * SR))},
    )  # fmt: skip
    spot = res.clips[1]
    audio, _ = sf.read(str(spot), dtype="float32", always_2d=True)
    assert audio.shape[0] == int(2.4 * SR)  # 1 s handle + 0.4 s cue + 1 s handle
    np.testing.assert_allclose(audio.T, material[:, int(0.5 * SR) : int(2.9 * SR)], atol=2**-22)
    # TimeReference moves back by the handle: the cue itself still lands at 10:00:02:00.
    assert time_ref(spot) == (36000 + 2.0 - 1.0) * SR
    clip = next(
        c for c in otio.adapters.read_from_file(str(res.otio)).find_clips() if "001" in c.name
    )
    avail = clip.media_reference.available_range
    assert (avail.start_time.value, avail.duration.value) == (900_000 + 50 - 25, 60)
    assert clip.source_range.start_time.value == 900_050

    # Handles never reach before the video's start; without kept material a clip has what the
    # mix gave it (its crossfade lead-in and tail).
    res = export_all(
        tl, mix, stems, out, roles={0: "spot", 1: "spot", 2: "spot"}, formats=("wav",),
        material={0: (np.zeros((2, int(4.5 * SR)), np.float32), int(1.5 * SR))},
    )  # fmt: skip
    assert time_ref(res.clips[0]) == 0
    assert sf.info(str(res.clips[0])).frames == int(2.0 * SR) + SR  # no head, 1 s tail
    assert sf.info(str(res.clips[1])).frames == stems[1].audio.shape[1]


def clip(name: str, kind: str, start: float, duration: float, handle: float) -> DeliveredClip:
    return DeliveredClip(
        name=name, stem_type=kind, path=f"clips/{name}", start=start, duration=duration,
        handle_before=handle, file_duration=duration + 2 * handle,
    )  # fmt: skip


@pytest.mark.parametrize("fps", [25.0, NTSC])
def test_cmx3600_adapter_writes_the_same_timecodes_as_ours(fps: float) -> None:
    # The adapter only writes a single *video* track and ignores the start timecode, so it
    # cannot deliver sound; on a video track from 00:00:00:00 its times must equal ours.
    clips = [
        clip("a.wav", "spot", 0.0, 2.0, 0.0),
        clip("b.wav", "spot", 2.0, 0.4, 1.0),
        clip("c.wav", "spot", 75.0, 1.6, 1.0),  # past a minute: drop-frame labels skip
    ]
    ours = read_edl_text(edl_text(clips, fps=fps), fps)
    tl = build_otio(clips, fps=fps)
    tl.tracks[0].kind = otio.schema.TrackKind.Video
    theirs = read_edl_text(otio.adapters.write_to_string(tl, "cmx_3600"), fps)
    assert [e[2:] for e in ours] == [e[2:] for e in theirs]  # source and record in/out
    assert ours[2][3][0] == ("00:01:15;00" if fps != 25 else "00:01:15:00")
    # ...but it calls every event picture (V); ours are sound on the stereo channel pair.
    assert {e[1] for e in theirs} == {"V"} and {e[1] for e in ours} == {"AA"}


def read_edl_text(text: str, fps: float) -> list[tuple[str, str, tuple[str, str], tuple[str, str]]]:
    events = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 8 and parts[0].isdigit():
            events.append((parts[1], parts[2], (parts[4], parts[5]), (parts[6], parts[7])))
    return events


def test_51_mix_and_stems(tmp_path: Path) -> None:
    tl, _ = build(tmp_path)
    mix, stems = mix_timeline(tl, target_lufs=-20.0)
    res = export_all(
        tl, mix, stems, tmp_path / "out", roles=ROLES, positions={1: -1.0}, channels="5.1",
        target_lufs=-20.0, formats=("wav",),
    )  # fmt: skip
    assert res.mix_51 is not None
    with av.open(str(res.mix_51)) as c:
        assert c.streams.audio[0].layout.name == "5.1"
    m51, sr = sf.read(str(res.mix_51), dtype="float64", always_2d=True)
    m51 = m51.T
    assert m51.shape == (6, tl.samples)
    # On target by BS.1770 with the 5.1 weights, by our meter and by pyloudnorm (no LFE).
    assert integrated_loudness(m51, sr) == pytest.approx(-20.0, abs=0.5)
    ref = pyloudnorm.Meter(sr).integrated_loudness(m51[[0, 1, 2, 4, 5]].T)
    assert ref == pytest.approx(-20.0, abs=0.5)
    # The bed reaches the surrounds; the spot effect at the left edge is in L only.
    bg = sf.read(str(res.out_dir / "stems" / "BG_51.wav"), always_2d=True)[0].T
    fx = sf.read(str(res.out_dir / "stems" / "FX_51.wav"), always_2d=True)[0].T
    assert np.abs(bg[4]).max() > 0 and np.abs(bg[2]).max() == 0
    spot = next(s for s in stems if s.cue_index == 1)
    blend = next(s for s in stems if s.cue_index == 2)
    alone = slice(spot.offset, min(spot.offset + spot.audio.shape[1], blend.offset))
    assert alone.stop > alone.start
    assert np.abs(fx[0, alone]).max() > 0 and np.abs(fx[1:, alone]).max() == 0
    # FX never reaches the surrounds or the LFE; the blend's catalog share sits in FX (front)
    # and its generated share in GEN.
    assert np.abs(fx[3:]).max() == 0 and np.abs(fx[:3, blend.offset :]).max() > 0
    gen = sf.read(str(res.out_dir / "stems" / "GEN_51.wav"), always_2d=True)[0].T
    assert np.abs(gen[:, blend.offset :]).max() > 0 and np.abs(gen[:, alone]).max() == 0
    # The stereo fold-down for checking keeps that effect on the left.
    lo_ro = fold_down(fx.astype(np.float32))
    np.testing.assert_allclose(lo_ro[0, alone], fx[0, alone], atol=1e-6)
    assert np.abs(lo_ro[1, alone]).max() == 0
    assert [p.name for p in res.stems][-3:] == ["BG_51.wav", "FX_51.wav", "GEN_51.wav"]


def test_start_timecode_override_and_bad_labels(tmp_path: Path) -> None:
    tl, video = ntsc_timeline(tmp_path)
    mix, stems = mix_timeline(tl)
    res = export_all(tl, mix, stems, tmp_path / "o", start_tc="01:00:00:00", formats=("edl",))
    assert res.start_tc == "01:00:00;00"  # 29.97 labels are drop-frame
    assert read_edl(res.edl, fps=30, start="01:00:00;00")[0]["rec_tc"][0] == "01:00:00;00"  # type: ignore[arg-type,index]
    with pytest.raises(InputError, match="--start-tc"):
        export_all(tl, mix, stems, tmp_path / "o", start_tc="00:01:00;00", formats=("edl",))
    with pytest.raises(InputError, match="5.1"):
        export_all(tl, mix, stems, tmp_path / "o", channels="7.1", formats=("edl",))


def test_export_needs_no_stems_to_write_empty_files(tmp_path: Path) -> None:
    tl, _ = build(tmp_path)
    empty = dataclasses.replace(tl, cues=())
    res = export_all(empty, np.zeros((2, empty.samples), np.float32), (), tmp_path / "o",
                     formats=("wav", "edl", "aaf", "otio"))  # fmt: skip
    assert res.clips == () and res.stems == () and res.aaf is None
    assert "NO SOUNDING CUES" in res.edl.read_text()  # type: ignore[union-attr]
    assert time_ref(res.mix) == 0  # type: ignore[arg-type]


def test_timecodes_use_the_frame_rate_the_frames_have_not_the_header(tmp_path: Path) -> None:
    """A video whose stts claims one frame every 600 s (container average rate 1/600 fps) is
    timed at its real 30 fps everywhere else (shots, mux); the EDL and clip timecodes must be
    too, or the cues land hours away from the muxed picture."""
    from tests.media.hostile_video import make_hostile

    tl, _ = build(tmp_path)
    video = make_hostile(tmp_path / "stts.mp4", "stts_delta")
    with av.open(str(video)) as c:  # the bypassed header really lies
        assert float(c.streams.video[0].average_rate) < 1
    tl = dataclasses.replace(tl, video=str(video), fps=None)
    mix, stems = mix_timeline(tl)
    with pytest.warns(UserWarning):
        res = export_all(tl, mix, stems, tmp_path / "o", formats=("wav", "edl"))
    assert res.fps == pytest.approx(30.0)
    events = read_edl(res.edl, fps=30, start="00:00:00:00")  # type: ignore[arg-type]
    starts = sorted({round(c.start, 3) for c in tl.cues})
    assert len(events) >= 2
    for e in events:  # each record starts on its cue, to the frame
        assert min(abs(e["rec"][0] - s) for s in starts) <= 1 / 30 + 1e-6, e  # type: ignore[index]
