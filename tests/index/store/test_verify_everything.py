"""`sfxkit index verify` checks everything it can, through the installed entry point: the index
marker (empty, garbled, missing) and whether each FAISS view answers for the exact vectors kept
beside it (a valid FAISS file of another view, with every checksum recomputed, is caught)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sfxkit.index.build import build_index
from sfxkit.index.store import IndexStore, load_index
from tests.index.store.helpers import rehash, sfxkit, small_library

CORRUPT = 5
SLOW = pytest.mark.slow  # two entry-point runs each; the other cases cover the same code


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("verify")
    out = root / "idx"
    build_index(small_library(root / "lib", n=10), out, models="tiny", progress=False)
    return out


@pytest.fixture
def index(built: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(built, tmp_path / "idx"))


def verify(index: Path, *more: str):
    return sfxkit("index", "verify", str(index), *more)


def test_a_healthy_index_verifies_its_views_too(index):
    proc = verify(index)
    assert proc.returncode == 0, proc.stderr
    assert "FAISS view(s) find their own vectors" in proc.stdout


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"", "the index marker is empty"),
        pytest.param(b'{"format": "sfxkit-ind', "the index marker is not JSON", marks=SLOW),
        pytest.param(b"[1, 2]", "not an sfxkit index marker", marks=SLOW),
        (b'{"format": "sfxkit-index", "head": {"version": "x"}}', "its head"),
        pytest.param(None, "the index marker is missing", marks=SLOW),
    ],
    ids=["empty", "truncated", "not-an-object", "garbled-head", "missing"],
)
def test_a_broken_marker_fails_verify_and_repair_rewrites_it(index, content, said):
    marker = index / "sfxkit-index.json"
    if content is None:
        marker.unlink()
    else:
        marker.write_bytes(content)
    proc = verify(index)
    assert proc.returncode == CORRUPT, proc.stdout + proc.stderr
    assert said in proc.stdout and "Traceback" not in proc.stderr

    proc = verify(index, "--repair")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    head = json.loads(marker.read_text())["head"]
    assert head["version"] == 1 and not IndexStore(index).verify()


def test_a_valid_faiss_file_of_another_view_is_caught(index):
    store = IndexStore(index)
    vdir, _ = store.current_version_dir()
    audio = (vdir / "views/clap_audio.faiss").read_bytes()
    text = (vdir / "views/clap_text.faiss").read_bytes()
    assert audio != text
    # Same width, same ids, every checksum recomputed: only the search can tell.
    rehash(index, "views/clap_audio.faiss", text)
    rehash(index, "views/clap_text.faiss", audio)
    assert load_index(index).view("clap_audio").ntotal == 10  # readers accept it

    proc = verify(index)
    assert proc.returncode == CORRUPT, proc.stdout + proc.stderr
    assert "views/clap_audio.faiss: the FAISS index does not answer for the vectors" in proc.stdout
    assert "views/clap_text.faiss: the FAISS index does not answer" in proc.stdout
    assert "views/clip_text.faiss" not in proc.stdout
