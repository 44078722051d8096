"""What the installed `sfxkit` prints stays readable: file names that are not UTF-8 are shown
as ``\\xNN`` escapes (as ``ls -b`` does), never crash a strict UTF-8 stdout, and JSON stays valid
UTF-8; library warnings come out as one ``sfxkit: warning:`` line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sfxkit.recommender import Recommender
from tests import synth
from tests.cli.test_unix_cli import sfxkit
from tests.media import hostile_video as hv

CAFE = os.fsdecode(b"caf\xe9_door.wav")  # Latin-1 "café", as old Windows zips leave
STRICT = {"PYTHONIOENCODING": "utf-8:strict", "SFXKIT_PROGRESS": "0"}


@pytest.fixture(scope="module")
def latin1_index(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("latin1")
    lib, index = root / "lib", root / "idx"
    synth.write_audio(lib / "bell.wav", synth.tone(900, 0.5))
    synth.write_audio(lib / "plain.wav", synth.noise(0.5, band=(200, 2000), seed=3))
    (lib / "plain.wav").rename(lib / CAFE)  # soundfile cannot open a surrogate-escaped name
    proc = sfxkit("index", "build", lib, "--out", index, "--models", "tiny", **STRICT)
    assert proc.returncode == 0, proc.stderr
    return lib, index


def _strings(obj: object) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for k, v in obj.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return []


def test_recommend_table_shows_a_latin1_name_readably(latin1_index):
    _, index = latin1_index
    proc = sfxkit("recommend", "a door", "--text", "--index", index, "-k", "2", **STRICT)
    assert proc.returncode == 0, proc.stderr
    assert "caf\\xe9_door.wav" in proc.stdout and "bell.wav" in proc.stdout


def test_recommend_json_is_valid_utf8_with_the_readable_name(latin1_index):
    lib, index = latin1_index
    proc = sfxkit("recommend", "a door", "--text", "--index", index, "-k", "2", "--json", **STRICT)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    for s in _strings(doc):
        s.encode("utf-8")  # no lone surrogates: every string is real Unicode
    paths = sorted(r["path"] for r in doc["results"][0]["recommendations"])
    assert paths == [str(lib / "bell.wav"), str(lib) + "/caf\\xe9_door.wav"]


def test_a_recommendation_prints_readably_and_keeps_the_openable_path(latin1_index):
    lib, index = latin1_index
    recs = Recommender(index).recommend_text("a door", k=2)
    cafe = next(r for r in recs if r.path.endswith(CAFE))
    assert Path(cafe.path).is_file()  # the Python value still opens the real file
    text = str(cafe)
    text.encode("utf-8")
    assert text.rstrip().endswith("caf\\xe9_door.wav (tiny untrained model)")


@pytest.mark.parametrize("kind", ["stts_delta", "last_delta"])
def test_a_library_warning_prints_as_one_sfxkit_line(latin1_index, tmp_path, kind):
    _, index = latin1_index
    video = hv.make_hostile(tmp_path / f"{kind}.mp4", kind)
    proc = sfxkit("recommend", f"{video}@0.5", "--index", index, "-k", "1", **STRICT)
    assert proc.returncode == 0, proc.stderr
    warned = [line for line in proc.stderr.splitlines() if "warning" in line.lower()]
    assert len(warned) == 1, proc.stderr
    assert warned[0].startswith(f"sfxkit: warning: {video}: ") and "2.0 s" in warned[0]
    # not Python's form: no source location, category name or echoed source line
    assert "VideoTimingWarning" not in proc.stderr and "frames.py" not in proc.stderr
    assert "timing = " not in proc.stderr
