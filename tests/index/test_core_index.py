"""Build → recommend end to end, with the tiny encoders: what a sound designer would notice."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from sfxkit.errors import IndexCorruptError, IndexNotFoundError, InputError
from sfxkit.index.store import IndexStore, load_index
from sfxkit.recommender import Filters, Recommender
from tests import ROOT, synth
from tests.synth import make_sfx_library


def _frame(kind: str = "checker") -> np.ndarray:
    return synth.draw_frame(kind, 96)


def test_build_reports_items_duplicates_and_the_corrupt_file(tiny_index, sfx_library):
    out, report = tiny_index
    # 10 audio files, one corrupt, one exact duplicate → 8 items
    assert report.items == 8
    assert report.duplicates == 1
    failed = {Path(p).name: reason for p, reason in report.failures}
    assert set(failed) == {"corrupt.wav"}
    assert failed["corrupt.wav"]
    idx = load_index(out)
    rain = idx.rows[idx.rows["title"].str.contains("rain", case=False)]
    assert len(rain) == 1 and len(rain.iloc[0]["paths"]) == 2
    door = idx.rows[idx.rows["ucs_catid"] == "DOORWood"].iloc[0]
    assert door["category"].upper() == "DOORS"
    glass = idx.rows[idx.rows["path"].str.endswith("glass_break.aiff")].iloc[0]
    assert glass["title"] == "Glass window smash" and glass["licence"] == "CC-BY-4.0"
    assert idx.manifest.untrained
    assert set(idx.manifest.views) >= {"clip_text", "clap_audio", "clap_text"}


def test_recommend_returns_k_unique_results_sorted_by_score(tiny_index):
    out, _ = tiny_index
    recs = Recommender(out).recommend(_frame(), k=5)
    assert len(recs) == 5
    assert len({r.id for r in recs}) == 5
    scores = [r.score for r in recs]
    assert scores == sorted(scores, reverse=True)
    assert [r.rank for r in recs] == [1, 2, 3, 4, 5]
    assert all(r.untrained for r in recs) and "untrained" in str(recs[0])
    assert all(Path(r.path).exists() for r in recs)


def test_every_frame_form_gives_the_same_answer(tiny_index, tmp_path):
    from PIL import Image

    out, _ = tiny_index
    rec = Recommender(out)
    arr = _frame("circle")
    png = tmp_path / "f.png"
    Image.fromarray(arr).save(png)
    video = synth.make_video(tmp_path / "v.mp4", [("circle", 1.0)], size=96)
    by_array = [r.id for r in rec.recommend(arr, k=3)]
    assert [r.id for r in rec.recommend(Image.fromarray(arr), k=3)] == by_array
    assert [r.id for r in rec.recommend(str(png), k=3)] == by_array
    assert len(rec.recommend((video, 0.5), k=3)) == 3  # h264 is lossy: same size, not same ids
    batch = rec.recommend_batch([arr, Image.fromarray(arr)], k=3)
    assert [[r.id for r in b] for b in batch] == [by_array, by_array]


def test_reload_gives_identical_results(tiny_index):
    out, _ = tiny_index
    frames = [_frame(k) for k in ("red", "stripes", "noise")]
    first = Recommender(out).recommend_batch(frames, k=4)
    second = Recommender(load_index(out)).recommend_batch(frames, k=4)
    assert [[(r.id, r.score) for r in b] for b in first] == [
        [(r.id, r.score) for r in b] for b in second
    ]


def test_text_and_audio_queries(tiny_index, sfx_library):
    out, _ = tiny_index
    rec = Recommender(out)
    recs = rec.recommend_text("rain on a tin roof", k=3)
    assert len(recs) == 3 and set(recs[0].view_scores) == {"clap_audio", "clap_text"}
    assert [r.score for r in recs] == sorted((r.score for r in recs), reverse=True)
    query = sfx_library / "foley" / "footsteps_gravel.flac"
    same = rec.recommend_audio(query, k=3, exclude_self=False)
    assert Path(same[0].path).name == "footsteps_gravel.flac"  # identical sound is its own nearest
    assert same[0].score == pytest.approx(1.0, abs=1e-4)
    others = rec.recommend_audio(query, k=3)
    assert "footsteps_gravel.flac" not in {Path(r.path).name for r in others}


@pytest.mark.parametrize(
    "filters",
    [
        {"category": "VEHICLES"},
        {"licence": ["CC0", "CC-BY-4.0"]},
        {"min_duration": 1.9, "max_duration": 2.6},
        {"exclude_flags": ["silent"]},
        Filters(category=("weather", "water"), max_duration=10.0),
    ],
)
def test_filters_never_leak_excluded_items(tiny_index, filters):
    out, _ = tiny_index
    rec = Recommender(out)
    f = Filters.from_any(filters)
    allowed = set(rec.index.rows[f.mask(rec.index.rows)]["id"])
    assert allowed, "the filter should admit something"
    for query in (_frame("red"), _frame("noise")):
        recs = rec.recommend(query, k=7, filters=filters)
        assert {r.id for r in recs} <= allowed
        assert len(recs) == min(7, len(allowed))
    text = rec.recommend_text("something", k=7, filters=filters)
    assert {r.id for r in text} <= allowed
    for r in recs:
        if f.min_duration is not None:
            assert r.duration >= f.min_duration
        if f.exclude_flags:
            assert "silent" not in r.qc_flags


def test_unknown_filter_is_a_clear_error(tiny_index):
    out, _ = tiny_index
    with pytest.raises(InputError, match="unknown filter 'colour'.*category"):
        Recommender(out).recommend(_frame(), filters={"colour": "red"})


def test_public_recommend_function(tiny_index, monkeypatch):
    import sfxkit

    out, _ = tiny_index
    recs = sfxkit.recommend(_frame(), k=2, index=out)
    assert len(recs) == 2 and isinstance(recs[0], sfxkit.Recommendation)
    monkeypatch.delenv("SFXKIT_INDEX", raising=False)
    with pytest.raises(InputError, match="SFXKIT_INDEX"):
        sfxkit.recommend(_frame())


def test_recommend_video_gives_one_result_per_shot(tiny_index, tmp_path):
    out, _ = tiny_index
    video = synth.make_video(
        tmp_path / "three.mp4",
        [("red", 1.0), ("stripes", 1.5), ("circle", 1.0)],
        size=96,
        moving=True,
    )
    shots = Recommender(out).recommend_video(video, k=2)
    assert len(shots) == 3
    assert shots[0].start == pytest.approx(0.0, abs=0.11)
    assert shots[1].start == pytest.approx(1.0, abs=0.15)
    assert shots[2].end == pytest.approx(3.5, abs=0.15)
    assert all(len(s.recommendations) == 2 for s in shots)


# ------------------------------------------------------------------------- incremental
def test_incremental_rebuild_touches_only_changed_files(tmp_path):
    from sfxkit.index.build import build_index

    lib = make_sfx_library(tmp_path / "lib")
    out = tmp_path / "idx"
    first = build_index(lib, out, models="tiny", progress=False)
    before = load_index(out)
    # change one file, add one, delete one
    synth.write_audio(lib / "foley" / "footsteps_gravel.flac", synth.clicks(3.0, 4.0))
    synth.write_audio(lib / "new" / "wind_gust.wav", synth.noise(1.2, band=(100, 600), seed=9))
    (lib / "water" / "stream_flowing.wav").unlink()
    second = build_index(lib, out, models="tiny", progress=False)
    assert second.version == first.version + 1
    assert second.decoded == 2  # the changed and the added file
    assert second.reused_decodes == first.decoded - 2  # all but the changed and the deleted file
    assert [Path(p).name for p, _ in second.failures] == ["corrupt.wav"]  # still reported
    assert second.added == 2 and second.removed == 2  # the changed file has a new id
    assert second.embedded["clap_audio"] == 2
    after = load_index(out)
    unchanged = set(before.rows["id"]) & set(after.rows["id"])
    assert len(unchanged) == second.unchanged == first.items - 2
    for view in ("clip_text", "clap_audio", "clap_text"):
        ids = after.rows[after.rows["id"].isin(unchanged)]["faiss_id"].to_numpy()
        np.testing.assert_array_equal(before.vectors(view).get(ids), after.vectors(view).get(ids))
    third = build_index(lib, out, models="tiny", progress=False)
    assert third.embedded == {"clip_text": 0, "clap_audio": 0, "clap_text": 0}
    assert third.decoded == 0 and third.reused_decodes == second.items + 1  # + the duplicate path


# --------------------------------------------------------------------------- integrity
def _corruptions(path: Path) -> list[tuple[str, bytes]]:
    data = path.read_bytes()
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF
    return [("truncated", data[: len(data) // 2]), ("edited", bytes(flipped))]


def test_truncating_or_editing_any_index_file_is_caught(tiny_index, tmp_path):
    out, _ = tiny_index
    store = IndexStore(out)
    vdir, _ = store.current_version_dir()
    files = sorted(p.relative_to(vdir).as_posix() for p in vdir.rglob("*") if p.is_file())
    assert "manifest.json" in files and "rows.parquet" in files
    for rel in files:
        for how, data in _corruptions(vdir / rel):
            copy = tmp_path / f"{rel.replace('/', '_')}-{how}"
            shutil.copytree(out, copy)
            cvdir, _ = IndexStore(copy).current_version_dir()
            (cvdir / rel).write_bytes(data)
            with pytest.raises(IndexCorruptError) as err:
                idx = load_index(copy)
                for view in idx.view_names:
                    idx.vectors(view)
            assert rel.split("/")[-1] in str(err.value) or "manifest" in str(err.value)
            assert IndexStore(copy).verify(), f"verify missed {how} {rel}"


def test_missing_index_is_a_clear_error(tmp_path):
    with pytest.raises(IndexNotFoundError, match="sfxkit index build"):
        load_index(tmp_path / "nope")


CRASH_SCRIPT = textwrap.dedent(
    """
    import os, sys
    stage, lib, out = sys.argv[1:4]
    real_replace = os.replace
    def replace(src, dst):
        dst_s = str(dst)
        if stage == "before-switch" and dst_s.endswith("CURRENT"):
            os._exit(17)
        real_replace(src, dst)
        if stage == "after-version-rename" and "/versions/v" in dst_s:
            os._exit(17)
    os.replace = replace
    import sfxkit.index.store as st
    real_write = st.VersionWriter.write_bytes
    calls = []
    def write_bytes(self, rel, data):
        calls.append(rel)
        if stage == "mid-write" and len(calls) == 3:
            self.stage.joinpath(rel).parent.mkdir(parents=True, exist_ok=True)
            self.stage.joinpath(rel).write_bytes(data[: len(data) // 3])
            os._exit(17)
        real_write(self, rel, data)
    st.VersionWriter.write_bytes = write_bytes
    from sfxkit.index.build import build_index
    build_index(lib, out, models="tiny", progress=False)
    """
)


@pytest.mark.crash
@pytest.mark.parametrize("stage", ["mid-write", "after-version-rename", "before-switch"])
def test_build_killed_mid_commit_leaves_previous_version_loadable(tmp_path, stage):
    from sfxkit.index.build import build_index

    lib = make_sfx_library(tmp_path / "lib")
    out = tmp_path / "idx"
    build_index(lib, out, models="tiny", progress=False)
    before = Recommender(out).recommend(_frame(), k=3)
    synth.write_audio(lib / "new" / "thunder.wav", synth.noise(2.0, band=(40, 300), seed=11))
    proc = subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT, stage, str(lib), str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "SFXKIT_PROGRESS": "0"},
    )
    assert proc.returncode == 17, proc.stderr
    idx = load_index(out)
    assert idx.version == 1 and idx.manifest.row_count == 8
    assert not IndexStore(out).verify()
    after = Recommender(idx).recommend(_frame(), k=3)
    assert [(r.id, r.score) for r in after] == [(r.id, r.score) for r in before]
    # and the next build recovers: stale staging is cleaned, the new file is added
    report = build_index(lib, out, models="tiny", progress=False)
    assert report.items == 9 and load_index(out).version == report.version


def test_one_writer_at_a_time(tiny_index, tmp_path):
    from sfxkit.errors import IndexLockedError

    store = IndexStore(tmp_path / "locked")
    with (
        store.lock(),
        pytest.raises(IndexLockedError, match="another process"),
        store.lock(timeout=0.2),
    ):
        pass


def test_import_sfxkit_leaves_torch_unimported():
    code = (
        "import sys, sfxkit; "
        "heavy = [m for m in ('torch', 'faiss', 'av', 'open_clip', 'transformers', 'pandas') if m in sys.modules]; "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_an_empty_or_unmounted_library_never_replaces_a_built_index(tiny_index, tmp_path):
    from sfxkit.index.build import build_index

    out, _ = tiny_index
    copy = tmp_path / "idx"
    shutil.copytree(out, copy)
    before = load_index(copy).version
    empty = tmp_path / "unmounted"
    empty.mkdir()
    with pytest.raises(InputError, match="no decodable audio files.*previous version"):
        build_index(empty, copy, models="tiny", progress=False)
    assert load_index(copy).version == before and load_index(copy).manifest.row_count == 8
    (empty / "broken.wav").write_bytes(b"not audio")
    with pytest.raises(InputError, match="broken.wav"):
        build_index(empty, tmp_path / "new", models="tiny", progress=False)
    assert not IndexStore(tmp_path / "new").exists()


def test_public_recommend_picks_up_a_rebuild(tmp_path):
    import sfxkit
    from sfxkit.index.build import build_index

    lib = make_sfx_library(tmp_path / "lib")
    out = tmp_path / "idx"
    build_index(lib, out, models="tiny", progress=False)
    assert len(sfxkit.recommend(_frame(), k=20, index=out)) == 8
    synth.write_audio(lib / "new" / "thunder.wav", synth.noise(2.0, band=(40, 300), seed=11))
    build_index(lib, out, models="tiny", progress=False)
    assert len(sfxkit.recommend(_frame(), k=20, index=out)) == 9
