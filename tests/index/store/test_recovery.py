"""After corruption the advice works: repair/rollback return to a version that verifies, a
rebuild over a corrupt version starts from the files, and an old CURRENT put back is caught."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sfxkit.errors import IndexCorruptError
from sfxkit.index.build import build_index
from sfxkit.index.store import IndexStore, load_index
from tests import synth
from tests.index.store.helpers import sfxkit, small_library


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory) -> tuple[Path, Path, bytes]:
    """An index at version 2 (4 items) over version 1 (3 items); and version 1's CURRENT."""
    root = tmp_path_factory.mktemp("recovery")
    lib = small_library(root / "lib", n=3)
    out = root / "idx"
    build_index(lib, out, models="tiny", progress=False)
    old_current = (out / "CURRENT").read_bytes()
    synth.write_audio(lib / "thunder.wav", synth.noise(1.0, band=(40, 300), seed=11))
    build_index(lib, out, models="tiny", progress=False)
    return lib, out, old_current


@pytest.fixture
def copy(two_versions, tmp_path) -> Path:
    _, out, _ = two_versions
    shutil.copytree(out, tmp_path / "idx")
    return tmp_path / "idx"


def _flip(index: Path, rel: str) -> None:
    vdir, _ = IndexStore(index).current_version_dir()
    data = bytearray((vdir / rel).read_bytes())
    data[len(data) // 2] ^= 0x01
    (vdir / rel).write_bytes(bytes(data))


@pytest.mark.parametrize("rel", ["rows.parquet", "views/clap_audio.npy"])
def test_repair_returns_to_the_newest_version_that_verifies(copy, rel):
    _flip(copy, rel)
    with pytest.raises(IndexCorruptError) as err:
        idx = load_index(copy)
        idx.vectors("clap_audio")
    assert f"sfxkit index verify {copy} --repair" in str(err.value)
    proc = sfxkit("index", "verify", str(copy))
    assert proc.returncode == 5 and "--repair" in proc.stderr
    proc = sfxkit("index", "verify", str(copy), "--repair")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "version 1" in proc.stdout and "OK" in proc.stdout
    idx = load_index(copy)
    assert idx.version == 1 and len(idx.rows) == 3 and not IndexStore(copy).verify()


@pytest.mark.parametrize("rel", ["rows.parquet", "views/clap_text.npy"])
def test_a_rebuild_over_a_corrupt_version_starts_from_the_files(two_versions, copy, rel):
    lib, out, _ = two_versions
    _flip(copy, rel)
    report = build_index(lib, copy, models="tiny", progress=False)
    assert report.version == 3 and report.items == 4
    assert report.decoded == 4 and report.reused_decodes == 0  # nothing taken from version 2
    assert report.embedded == {"clip_text": 4, "clap_audio": 4, "clap_text": 4}
    assert any("corrupt" in n for n in report.notes)
    fresh, rebuilt = load_index(out), load_index(copy)
    assert sorted(rebuilt.rows["id"]) == sorted(fresh.rows["id"])
    assert not IndexStore(copy).verify()


def test_an_older_current_put_back_is_caught_and_repaired(two_versions, copy):
    _, _, old_current = two_versions
    (copy / "CURRENT").write_bytes(old_current)
    with pytest.raises(
        IndexCorruptError, match="CURRENT points at version 1, but version 2 was committed"
    ):
        load_index(copy)
    proc = sfxkit("index", "verify", str(copy))
    assert proc.returncode == 5 and "OK" not in proc.stdout
    IndexStore(copy).repair()
    assert load_index(copy).version == 2


def test_rollback_serves_the_previous_version_and_the_next_build_starts_from_it(two_versions, copy):
    lib, _, _ = two_versions
    proc = sfxkit("index", "rollback", str(copy))
    assert proc.returncode == 0, proc.stderr
    assert "version 2 -> version 1" in proc.stdout
    idx = load_index(copy)
    assert idx.version == 1 and len(idx.rows) == 3
    assert not IndexStore(copy).verify()
    report = build_index(lib, copy, models="tiny", progress=False)
    manifest = load_index(copy).manifest
    assert report.version == 3 and manifest.get("previous")["version"] == 1
    assert report.reused_decodes == 3 and report.decoded == 1


def test_repair_with_no_good_version_says_rebuild(copy):
    store = IndexStore(copy)
    for vdir in store.versions():
        (vdir / "rows.parquet").write_bytes(b"broken")
    with pytest.raises(IndexCorruptError, match="no committed version verifies") as err:
        store.repair()
    assert "--repair" not in str(err.value) and "sfxkit index build" in str(err.value)


def test_a_rebuild_over_a_corrupt_version_keeps_the_intact_one_behind_it(two_versions, copy):
    lib, _, _ = two_versions
    _flip(copy, "rows.parquet")  # version 2 corrupt, version 1 intact
    build_index(lib, copy, models="tiny", progress=False)
    store = IndexStore(copy)
    assert [p.name for p in store.versions()] == ["v000001", "v000003"]
    assert load_index(copy).manifest.get("previous")["version"] == 1
    proc = sfxkit("index", "rollback", str(copy))
    assert proc.returncode == 0, proc.stderr
    idx = load_index(copy)
    assert idx.version == 1 and len(idx.rows) == 3 and not store.verify()


def test_a_rebuild_over_an_old_current_put_back_keeps_the_newest_intact_version(two_versions, copy):
    lib, _, old_current = two_versions
    (copy / "CURRENT").write_bytes(old_current)
    build_index(lib, copy, models="tiny", progress=False)
    store = IndexStore(copy)
    assert [p.name for p in store.versions()] == ["v000002", "v000003"]
    assert load_index(copy).manifest.get("previous")["version"] == 2
    assert not store.verify()
