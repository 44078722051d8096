"""A layered soundtrack as an editor opens it: EDLs that CMX3600 readers accept (the bed and the
spots overlap, so one EDL per track), a BG track wherever the BG stem has sound, and catalog
sounds named by title and file name in the EDL, the cue sheet and the BWF ``bext``."""

from __future__ import annotations

import csv
from pathlib import Path

import aaf2
import opentimelineio as otio
import pytest

import sfxkit
from sfxkit.delivery.bwf import read_bwf
from sfxkit.delivery.export import export_all
from sfxkit.delivery.mix import mix_timeline
from tests.delivery.test_export import build, read_edl
from tests.editorial.conftest import Layered

TINY = dict(variant="tiny_16k", steps=2, progress=False)
FPS = 25


@pytest.fixture(scope="module")
def delivered(layered: Layered, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("layered-out")
    res = sfxkit.soundtrack(
        layered.video, layered.index, layers="auto", policy="retrieve", out=out, **TINY
    )
    return res, out


def test_layered_edls_read_back_in_otio_and_an_independent_parser(delivered) -> None:
    res, out = delivered
    cues = res.timeline.cues
    assert {c.role for c in cues} == {"bed", "spot"}
    # Spots sound over their scene's bed (and over each other): one EDL per track.
    names = sorted(p.name for p in out.glob("*.edl"))
    assert "cues.edl" not in names and {"cues_BG.edl", "cues_FX.edl"} <= set(names)
    records = []
    for name in names:
        path = out / name
        events = read_edl(path)
        spans = [e["rec"] for e in events]
        assert all(a[1] <= b[0] + 1e-9 for a, b in zip(spans, spans[1:], strict=False)), name  # type: ignore[index]
        # OTIO's CMX3600 reader refuses overlapping records on a channel (EDLParseError).
        tl = otio.adapters.read_from_file(str(path), rate=FPS)
        assert [t.name for t in tl.tracks] == ["A1", "A2"]  # AA: a stereo pair
        assert len(list(tl.tracks[0].find_clips())) == len(events)
        records += spans
    # Every cue is in exactly one EDL, at its place on the timeline.
    want = sorted((round(c.start * FPS) / FPS, round(c.end * FPS) / FPS) for c in cues)
    assert sorted((round(a, 6), round(b, 6)) for a, b in records) == [
        (round(a, 6), round(b, 6)) for a, b in want
    ]


def test_catalog_sounds_are_named_by_title_and_file(delivered) -> None:
    res, out = delivered
    files = {c.index: Path(c.layers[0].source["path"]).name for c in res.timeline.cues if c.layers}
    titles = {c.index: c.layers[0].source["title"] for c in res.timeline.cues if c.layers}
    assert set(files.values()) <= {
        "street_traffic.wav",
        "sea_waves.wav",
        "door_knock.wav",
        "glass_tap.wav",
        "wood_hit.wav",
    }
    # EDL: the clip is named by the catalog sound's title and file; SOURCE FILE gives the file.
    events = [e for p in sorted(out.glob("*.edl")) for e in read_edl(p)]
    assert len(events) == len(files)
    for e in events:
        comments = e["comments"]
        link = next(c for c in comments if c.startswith("* FROM CLIP: "))  # type: ignore[union-attr]
        index = int(Path(link.split(": ", 1)[1]).stem.split("_")[1])
        assert f"* FROM CLIP NAME: {titles[index]} ({files[index]})" in comments  # type: ignore[operator]
        assert f"* SOURCE FILE: {files[index]}" in comments  # type: ignore[operator]
        assert not any("SOURCE " in c and files[index] not in c for c in comments)  # type: ignore[union-attr]
    # CSV cue sheet: titles and file names in their own columns.
    with open(out / "cues.csv", newline="") as fh:
        rows = {int(r["shot"]): r for r in csv.DictReader(fh)}
    for index, file in files.items():
        assert rows[index]["source_files"] == file
        assert rows[index]["source_titles"] == titles[index]
    # bext: Description says what the cue is (a bed, a spot: never "shot N" for a spot) and
    # names the sound; OriginatorReference is the catalog file name.
    for cue in res.timeline.cues:
        (clip,) = [
            p for p in (out / "clips").iterdir() if p.stem.split("_")[1] == f"{cue.index:03d}"
        ]
        info = read_bwf(clip)
        assert info.originator_reference == files[cue.index][:32]
        assert f"{titles[cue.index]} ({files[cue.index]})" in info.description
        if cue.role == "spot":
            assert info.description.startswith("FX spot on the event at 00:00:0")
            assert " shot " not in info.description
        else:
            assert info.description.startswith(f"BG bed for scene {cue.scene}")


def test_bg_fx_gen_tracks_whenever_their_stems_have_sound(tmp_path: Path) -> None:
    """A bed, a spot and a blended bed (catalog share and generated share): the stems BG, FX
    and GEN all have sound, and so AAF, FCP XML and OTIO all have BG, FX and GEN tracks (the
    blend's catalog share on BG, its generated share on GEN, as in the stems)."""
    tl, _ = build(tmp_path)
    roles = {0: "bed", 1: "spot", 2: "bed"}
    mix, stems = mix_timeline(tl)
    res = export_all(
        tl, mix, stems, tmp_path / "out", roles=roles, formats=("wav", "otio", "aaf", "xml")
    )
    assert [p.name for p in res.stems] == ["BG.wav", "FX.wav", "GEN.wav"]
    o = otio.adapters.read_from_file(str(res.otio))
    assert [t.name for t in o.tracks] == ["BG", "FX", "GEN"]
    members = [[c.name for c in t.find_clips()] for t in o.tracks]
    assert members == [
        ["shot_000_retrieve.wav", "shot_002_blend_BG.wav"],
        ["shot_001_retrieve.wav"],
        ["shot_002_blend_GEN.wav"],
    ]
    with aaf2.open(str(res.aaf)) as f:
        (comp,) = list(f.content.compositionmobs())
        assert [s.name for s in comp.slots][:3] == ["BG", "FX", "GEN"]
    aaf_tl = otio.adapters.read_from_file(str(res.aaf))
    assert [[c.name for c in t.find_clips()] for t in aaf_tl.tracks] == members
    xml_tl = otio.adapters.read_from_file(str(res.xml))
    assert [[c.name for c in t.find_clips()] for t in xml_tl.tracks] == members


@pytest.mark.slow
def test_layered_blend_has_bg_fx_and_gen_tracks(layered: Layered, tmp_path: Path) -> None:
    """Through the soundtrack: a blended layered soundtrack (the case that lost its BG track)."""
    res = sfxkit.soundtrack(
        layered.video, layered.index, layers="auto", policy="blend", out=tmp_path, **TINY
    )
    stems = sorted(p.stem for p in (tmp_path / "stems").glob("*.wav"))
    assert stems == ["BG", "FX", "GEN"]
    o = otio.adapters.read_from_file(str(tmp_path / "cues.otio"))
    assert {t.name.split(" ")[0] for t in o.tracks} == {"BG", "FX", "GEN"}
    for p in tmp_path.glob("*.edl"):
        otio.adapters.read_from_file(str(p), rate=FPS)
    assert res.exports is not None and res.exports.edls
