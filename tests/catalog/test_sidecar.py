"""Sidecar CSV/JSON parsing and file resolution."""

from __future__ import annotations

import json

import pytest

from sfxkit.catalog.sidecar import SidecarWarning, load_sidecar, split_tags
from sfxkit.errors import InputError
from tests.synth import tone, write_audio


@pytest.fixture()
def folder(tmp_path):
    write_audio(tmp_path / "a.wav", tone(440, 0.2))
    write_audio(tmp_path / "sub" / "b.wav", tone(440, 0.2))
    write_audio(tmp_path / "sub" / "dup.wav", tone(440, 0.2))
    write_audio(tmp_path / "other" / "dup.wav", tone(440, 0.2))
    return tmp_path


def _files(folder):
    return [str(p) for p in sorted(folder.rglob("*.wav"))]


def test_csv_columns_aliases_and_tags(folder):
    sc = folder / "meta.csv"
    sc.write_text(
        "File,Title,Tags,License,Creator,Category\n"
        'a.wav,Door Slam,"door; slam, wood",CC-BY,JD,DOORS\n'
        "b.wav,,,,,\n"  # bare name, found in sub/
    )
    side = load_sidecar(sc, folder=folder, files=_files(folder))
    a = side.entries[str(folder / "a.wav")]
    assert (a.title, a.licence, a.creator, a.category) == ("Door Slam", "CC-BY", "JD", "DOORS")
    assert a.tags == ("door", "slam", "wood")
    b = side.entries[str(folder / "sub" / "b.wav")]
    assert b.title == "" and b.tags is None  # empty cells mean "not given"
    assert side.problems == ()


def test_json_list_with_tag_list(folder):
    sc = folder / "sfxkit.json"
    sc.write_text(
        json.dumps([{"file": "sub/b.wav", "title": "B", "tags": ["x", "y"], "licence": "CC0"}])
    )
    side = load_sidecar(sc, folder=folder)
    entry = side.entries[str(folder / "sub" / "b.wav")]
    assert entry.tags == ("x", "y") and entry.licence == "CC0"


def test_unknown_columns_warn_and_missing_files_are_reported(folder):
    sc = folder / "meta.csv"
    sc.write_text("file,title,bpm,mood\na.wav,A,120,dark\nghost.wav,Ghost,,\ndup.wav,Dup,,\n")
    with pytest.warns(SidecarWarning, match="bpm, mood"):
        side = load_sidecar(sc, folder=folder, files=_files(folder))
    assert side.unknown_columns == ("bpm", "mood")
    problems = {p.file: p for p in side.problems}
    assert "not found" in problems["ghost.wav"].reason and problems["ghost.wav"].row == 3
    assert "ambiguous" in problems["dup.wav"].reason
    assert list(side.entries) == [str(folder / "a.wav")]


def test_bad_sidecars_raise_clear_errors(folder):
    no_file = folder / "x.csv"
    no_file.write_text("name,title\na.wav,A\n")
    with pytest.raises(InputError, match="no 'file' column"):
        load_sidecar(no_file, folder=folder)
    bad_json = folder / "x.json"
    bad_json.write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        load_sidecar(bad_json, folder=folder)
    with pytest.raises(InputError, match="not found"):
        load_sidecar(folder / "missing.csv")


def test_semicolon_delimited_csv(folder):
    sc = folder / "semi.csv"
    sc.write_text("file;title;tags\na.wav;Semi Title;one, two\n")
    entry = load_sidecar(sc, folder=folder).entries[str(folder / "a.wav")]
    assert entry.title == "Semi Title" and entry.tags == ("one", "two")


def test_split_tags():
    assert split_tags('["a", "b"]') == ("a", "b")
    assert split_tags("a, A ,b;;c") == ("a", "b", "c")
    assert split_tags(None) == ()
