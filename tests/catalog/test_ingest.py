"""Ingest a synthesised SFX library: formats, failures, duplicates, metadata precedence, QC,
loudness, incremental rebuilds and visual descriptions."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sfxkit.catalog import CatalogItem, IngestResult, ingest
from sfxkit.catalog.sidecar import SidecarWarning
from sfxkit.errors import InputError
from tests.synth import clicks, noise, tone, write_audio, write_tagged_audio

SINE_AMP = 0.25


def _pcm16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * 32768), -32768, 32767).astype(np.int16)


def _build_library(root: Path) -> Path:
    lib = root / "lib"
    # An exact duplicate: the same 16-bit PCM as WAV and, renamed, as FLAC in another folder.
    pcm = _pcm16(noise(1.0, 48_000, amp=0.3, seed=1))
    (lib / "Doors").mkdir(parents=True)
    (lib / "Copies").mkdir()
    sf.write(lib / "Doors" / "door_wood_open.wav", pcm.T, 48_000, subtype="PCM_16")
    sf.write(lib / "Copies" / "door copy.flac", pcm.T, 48_000, subtype="PCM_16")

    write_audio(
        lib / "Footsteps" / "steps_gravel-2.wav",
        noise(1.0, 44_100, channels=2, seed=2),
        44_100,
        subtype="PCM_24",
    )
    write_audio(
        lib / "Ambience" / "forest_birds.ogg", noise(1.5, 48_000, channels=2, seed=3, amp=0.2)
    )
    write_audio(lib / "Ambience" / "city-traffic.mp3", noise(1.0, 44_100, seed=4, amp=0.2), 44_100)
    write_audio(lib / "Metal" / "metal_hit.aiff", clicks(0.6, 4, 44_100, amp=0.1), 44_100)
    write_audio(lib / "DOORWood_Creaky Open Slow_JD_MyLib.wav", noise(0.8, seed=5))
    write_tagged_audio(
        lib / "GLASBrk_Bottle Smash_JD_MyLib.flac",
        noise(0.5, seed=6),
        tags={"title": "Tagged Bottle Title"},
    )
    write_tagged_audio(
        lib / "tagged.flac",
        tone(300, 0.5),
        tags={"title": "Big Glass Shatter", "comment": "shards everywhere", "artist": "Ann"},
    )
    write_tagged_audio(
        lib / "thunder_embedded.wav", noise(1.2, seed=7), tags={"title": "Embedded Title"}
    )
    write_audio(lib / "silent.wav", np.zeros((1, 48_000), np.float32))
    write_audio(lib / "clipped.wav", np.clip(tone(200, 1.0, amp=2.0), -1, 1))
    click = clicks(0.2, 10)
    write_audio(lib / "click.wav", click * (0.5 / np.max(np.abs(click))))
    write_audio(lib / "sine_1k.wav", tone(1000, 2.0, 48_000, amp=SINE_AMP), subtype="FLOAT")
    write_audio(lib / "blip.wav", tone(2000, 0.05, amp=0.3))
    write_audio(lib / "Sub" / "rain.wav", noise(1.0, seed=8, amp=0.1))
    (lib / "Sub" / "sfxkit.json").write_text(
        '[{"file": "rain.wav", "title": "Rain On Roof", "tags": ["rain", "roof"]}]'
    )

    (lib / "corrupt.wav").write_bytes(np.random.default_rng(0).bytes(5000))
    good = write_audio(root / "scratch.flac", noise(2.0, channels=2, seed=9))
    (lib / "truncated.flac").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (lib / "notes.txt").write_text("not audio")
    (lib / ".hidden.wav").write_bytes(b"junk")
    (lib / "._door_wood_open.wav").write_bytes(b"AppleDouble junk")
    os.symlink(lib, lib / "Sub" / "loop")  # a symlink loop must not hang the walk

    (root / "meta.csv").write_text(
        "file,title,licence,tags,mood\n"
        'thunder_embedded.wav,Thunder Clap Close,CC-BY-4.0,"thunder; storm",dark\n'
        "ghost.wav,Ghost,,,\n"
    )
    return lib


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> tuple[Path, IngestResult]:
    root = tmp_path_factory.mktemp("sfx")
    lib = _build_library(root)
    with pytest.warns(SidecarWarning, match="mood"):
        result = ingest(lib, sidecar=root / "meta.csv", licence="CC0", source="TestLib")
    return lib, result


def _by_title(result: IngestResult) -> dict[str, CatalogItem]:
    return {it.title: it for it in result.items}


def test_every_good_file_is_an_item_and_bad_ones_are_reported(library):
    lib, result = library
    assert result.decoded == 16 and result.reused == 0
    assert len(result.items) == 15  # 16 decodable files, one exact duplicate pair
    failures = {Path(f.path).name: f.reason for f in result.failures}
    assert set(failures) == {"corrupt.wav", "truncated.flac", "ghost.wav"}
    assert "decodable" in failures["corrupt.wav"]
    assert "truncated" in failures["truncated.flac"]
    assert "not found" in failures["ghost.wav"] and "meta.csv" in failures["ghost.wav"]
    paths = {p for it in result.items for p in it.paths}
    assert not any("hidden" in p or "/._" in p or "loop" in p for p in paths)
    assert all(os.path.isabs(p) for p in paths)


def test_exact_duplicate_is_one_item_with_both_paths(library):
    lib, result = library
    (item,) = [it for it in result.items if len(it.paths) > 1]
    assert item.paths == (
        str(lib / "Copies" / "door copy.flac"),
        str(lib / "Doors" / "door_wood_open.wav"),
    )
    assert item.path == item.paths[0]
    assert len(item.file_stamps) == 2
    assert item.id == format(int(item.id, 16), "016x") and item.faiss_id == int(item.id, 16) & (
        2**63 - 1
    )


def test_formats_and_measurements(library):
    _, result = library
    items = _by_title(result)
    steps = items["steps gravel 2"]
    assert (steps.sample_rate, steps.channels) == (44_100, 2)
    assert steps.duration == pytest.approx(1.0)
    assert items["forest birds"].channels == 2
    assert items["city traffic"].sample_rate == 44_100
    assert items["metal hit"].category == "Metal"


def test_ucs_name_gives_category_and_credits(library):
    _, result = library
    item = _by_title(result)["Creaky Open Slow"]
    assert (item.category, item.subcategory, item.ucs_catid) == ("DOORS", "WOOD", "DOORWood")
    assert (item.creator, item.source, item.metadata_source) == ("JD", "TestLib", "ucs")


def test_metadata_precedence(library):
    _, result = library
    items = _by_title(result)
    # sidecar beats embedded tags
    thunder = items["Thunder Clap Close"]
    assert thunder.metadata_source == "sidecar"
    assert thunder.licence == "CC-BY-4.0" and thunder.tags == ("thunder", "storm")
    assert "Embedded Title" not in {it.title for it in result.items}
    # embedded tags beat the UCS name, which still gives the category
    bottle = items["Tagged Bottle Title"]
    assert (
        bottle.metadata_source == "tags"
        and bottle.category == "GLASS"
        and bottle.ucs_catid == "GLASBrk"
    )
    # tags: title, comment as description, artist as creator
    glass = items["Big Glass Shatter"]
    assert (glass.description, glass.creator, glass.metadata_source) == (
        "shards everywhere",
        "Ann",
        "tags",
    )
    # file name fallback, category from the parent folder, licence default from the argument
    steps = items["steps gravel 2"]
    assert (steps.metadata_source, steps.category, steps.licence) == (
        "filename",
        "Footsteps",
        "CC0",
    )
    # a per-folder sidecar is picked up automatically
    rain = items["Rain On Roof"]
    assert rain.metadata_source == "sidecar" and rain.tags == ("rain", "roof")
    assert "Rain On Roof" in rain.metadata_text and "rain, roof" in rain.metadata_text


def test_qc_flags_and_loudness(library):
    _, result = library
    items = _by_title(result)
    assert items["silent"].qc_flags == ("silent",)
    assert items["clipped"].qc_flags == ("clipped",)
    assert items["blip"].qc_flags == ("too_short",)
    assert items["Creaky Open Slow"].qc_flags == ()

    click = items["click"]
    assert click.loudness_kind == "peak"
    assert click.loudness == pytest.approx(20 * math.log10(0.5), abs=0.01)
    assert click.peak_dbfs == pytest.approx(click.loudness)

    sine = items["sine 1k"]
    assert sine.loudness_kind == "integrated"
    # BS.1770 calibration: a 1 kHz sine of peak A reads 20*log10(A) - 3.01 LUFS.
    assert sine.loudness == pytest.approx(20 * math.log10(SINE_AMP) - 3.01, abs=0.1)
    assert sine.peak_dbfs == pytest.approx(20 * math.log10(SINE_AMP), abs=0.01)


def test_items_are_sorted_and_described(library):
    _, result = library
    ids = [it.id for it in result.items]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    for it in result.items:
        assert len(it.visual_descriptions) == 3 and all(it.visual_descriptions)
        assert it.visual_description == it.visual_descriptions[0]
        assert it.describer == "template/2"
    door = _by_title(result)["Creaky Open Slow"]
    assert door.visual_description == "a photo of a wooden door being opened slowly"


class CountingDescriber:
    name = "counting"
    version = "7"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def describe(self, items, n=3):
        self.seen.extend(it.title for it in items)
        return [[f"a picture of {it.title.lower()}"] * n for it in items]


def test_incremental_rebuild_reuses_unchanged_files(tmp_path):
    lib = tmp_path / "lib"
    for i, name in enumerate(["a.wav", "b.flac", "c.wav"]):
        write_audio(lib / name, noise(0.5, seed=10 + i))
    describer = CountingDescriber()
    first = ingest(lib, describer=describer)
    assert (first.decoded, first.reused) == (3, 0)
    assert sorted(describer.seen) == ["a", "b", "c"]
    assert first.items[0].visual_descriptions[0].startswith("a picture of")

    describer.seen.clear()
    second = ingest(lib, previous=first.items, describer=describer)
    assert (second.decoded, second.reused) == (0, 3)
    assert second.items == first.items
    assert describer.seen == []  # unchanged metadata keeps its descriptions

    st = os.stat(lib / "b.flac")
    os.utime(lib / "b.flac", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    write_audio(lib / "c.wav", noise(0.5, seed=99))  # new content under an old name
    (lib / "metadata.csv").write_text("file,title\na.wav,Renamed A\n")
    third = ingest(lib, previous=second.items, describer=describer)
    assert (third.decoded, third.reused) == (2, 1)
    assert {it.title for it in third.items} == {"Renamed A", "b", "c"}
    assert sorted(describer.seen) == ["Renamed A", "c"]
    old_c = next(it for it in first.items if it.title == "c")
    new_c = next(it for it in third.items if it.title == "c")
    assert old_c.id != new_c.id

    # A different describer re-describes everything.
    fresh = ingest(lib, previous=third.items)
    assert all(it.describer == "template/2" for it in fresh.items)


def test_folder_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        ingest(tmp_path / "nope")
    f = write_audio(tmp_path / "x.wav", tone(440, 0.2))
    with pytest.raises(InputError, match="not a folder"):
        ingest(f)
    with pytest.raises(InputError, match="Describer"):
        ingest(tmp_path, describer=object())  # type: ignore[arg-type]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert ingest(empty) == IngestResult((), (), 0, 0)
