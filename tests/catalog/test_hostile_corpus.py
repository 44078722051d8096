"""A library with 47 hostile audio files beside good ones: the build finishes, every good file is
in the index, every bad one is skipped and listed with a reason a person understands, and a
file whose name is not UTF-8 is stored losslessly, shown readably and stays usable by path."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from sfxkit.index.build import build_index
from sfxkit.media.probe import REASONS
from tests.catalog.hostile import make_hostile_corpus

CAFE = os.fsdecode(b"caf\xe9_door_slam.wav")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("hostile")
    good, bad = make_hostile_corpus(root / "lib")
    report = build_index(root / "lib", root / "idx", models="tiny", progress=False)
    return root, good, bad, report


def test_corpus_is_hostile_enough(corpus):
    _, good, bad, _ = corpus
    assert len(bad) >= 40 and len(good) >= 10
    assert {word for word in bad.values()} >= {
        "truncated",
        "not audio",
        "unsupported format",
        "non-finite samples",
        "absurd header",
    }


def test_build_finishes_with_every_good_file_and_every_bad_one_reported(corpus):
    root, good, bad, report = corpus
    from sfxkit.index.store import load_index

    idx = load_index(root / "idx", views=[])
    indexed = sorted(os.path.basename(p) for paths in idx.rows["paths"] for p in paths)
    assert indexed == sorted(good)
    assert report.items == len(good)

    reasons = {os.path.basename(p): r for p, r in report.failures}
    assert sorted(reasons) == sorted(bad)
    for name, word in bad.items():
        assert reasons[name].startswith(word), (name, reasons[name])
        assert reasons[name].split(":")[0] in REASONS
        assert "NoneType" not in reasons[name] and "Error:" not in reasons[name]
    # The reasons are specific, not one catch-all phrase.
    assert "2147483647 Hz" in reasons["rate_2e31.wav"]
    assert "block align 0" in reasons["block_align_0.wav"]
    assert "7 bits" in reasons["bits_7.wav"]
    assert "0x1234" in reasons["format_tag_bogus.wav"]
    assert "0.250 s" in reasons["nan.wav"]
    assert "end-of-stream" in reasons["ogg_cut_at_page.ogg"]
    assert "1193.0 h" in reasons["flac_claims_2000_hours.flac"]
    # ...and the index records them too.
    recorded = {os.path.basename(f["path"]) for f in idx.manifest.get("build")["failures"]}
    assert recorded == set(bad)


@pytest.mark.slow  # a fresh interpreter loads torch and the tiny models: ~20 s on 2 busy cores
def test_cli_build_exits_0_and_lists_each_skipped_file(corpus, tmp_path):
    root, good, bad, _ = corpus
    sfxkit = Path(sys.executable).with_name("sfxkit")
    env = {**os.environ, "COLUMNS": "400", "SFXKIT_PROGRESS": "0"}
    done = subprocess.run(
        [str(sfxkit), "index", "build", str(root / "lib"), "--out", str(tmp_path / "idx")]
        + ["--models", "tiny", "--no-progress"],
        capture_output=True,
        env=env,
        timeout=300,
    )
    out = done.stdout.decode("utf-8")  # readable: strict UTF-8 even with a non-UTF-8 name inside
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    assert f"{len(good)} items" in out
    assert f"{len(bad)} file(s) skipped" in out
    lines = {
        os.path.basename(line.split(": ", 1)[0].strip()): line.split(": ", 1)[1]
        for line in out.splitlines()
        if line.startswith("  /")
    }
    for name, word in bad.items():
        assert lines[name].startswith(word), (name, lines.get(name))


def test_non_utf8_name_is_lossless_readable_and_usable(corpus):
    root, _, _, _ = corpus
    from sfxkit.recommender import Recommender

    real = str(root / "lib" / CAFE)
    # Parquet holds readable text and the exact bytes.
    from sfxkit.index.store import IndexStore

    table = pq.read_table(io.BytesIO(IndexStore(root / "idx").read_verified("rows.parquet")))
    row = [r for r in table.to_pylist() if "caf" in r["path"]][0]
    assert row["path"].endswith("caf\\xe9_door_slam.wav")
    assert row["title"] == "caf\\xe9 door slam"
    assert row["raw_path"] == os.fsencode(real)

    rec = Recommender(root / "idx")
    paths = list(rec.index.rows["path"])
    assert real in paths  # the real name, openable
    more = rec.recommend_audio(real, k=3)  # "more like this" reads the file by its path
    assert more and real not in [r.path for r in more]  # itself excluded, found by its PCM hash
    assert all(os.path.exists(r.path) for r in more)


def test_rebuild_keeps_the_non_utf8_file_without_decoding_it_again(corpus, tmp_path):
    root, good, bad, _ = corpus
    import shutil

    shutil.copytree(root / "idx", tmp_path / "idx")
    again = build_index(root / "lib", tmp_path / "idx", models="tiny", progress=False)
    assert again.reused_decodes == len(good) and again.decoded == 0
    assert len(again.failures) == len(bad)  # still reported
    assert again.items == len(good) and again.added == 0 and again.removed == 0
