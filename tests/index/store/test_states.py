"""A directory is untouched or a valid index; no index / being created / index are told apart;
a second writer says whom it waits for."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from sfxkit.errors import (
    IndexCreatingError,
    IndexLockedError,
    IndexMismatchError,
    IndexNotFoundError,
    SfxkitError,
)
from sfxkit.index.build import build_index
from sfxkit.index.store import load_index
from sfxkit.recommender import Recommender
from tests.index.store.helpers import ROOT, sfxkit, small_library

HOLDER = textwrap.dedent(
    """
    import sys
    from sfxkit.index.store import IndexStore
    with IndexStore(sys.argv[1]).writer() as w:
        w.write_bytes("rows.parquet", b"half-written")
        print("ready", flush=True)
        sys.stdin.read()
    """
)


@contextlib.contextmanager
def build_in_progress(index: Path) -> Iterator[int]:
    """Another process inside a build of ``index`` (holding its lock) until the block ends."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(index)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield proc.pid
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=60)


def _entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("target", ["missing", "empty dir"])
def test_a_failed_first_build_leaves_the_directory_as_it_was(tmp_path, target):
    out = tmp_path / "work" / "idx"
    out.parent.mkdir()
    if target == "empty dir":
        out.mkdir()
    empty = tmp_path / "empty"
    empty.mkdir()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "noise.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    good = small_library(tmp_path / "good", n=1)
    failures: list[tuple[Path, str, str | None]] = [
        (empty, "tiny", "nothing was written"),
        (broken, "tiny", "noise.wav"),
        (good, "default", None),  # no pretrained weights offline
    ]
    for folder, models, message in failures:
        with pytest.raises(SfxkitError) as err:
            build_index(folder, out, models=models, progress=False)
        if message:
            assert message in str(err.value)
        expected = [out.name] if target == "empty dir" else []
        assert _entries(out.parent) == expected, f"{folder.name} left files"
        if target == "empty dir":
            assert _entries(out) == []
        with pytest.raises(IndexNotFoundError, match="no sfxkit index here") as nf:
            load_index(out)
        assert not isinstance(nf.value, IndexCreatingError)
    # and the directory takes a first build after all that
    assert build_index(good, out, models="tiny", progress=False).version == 1
    assert _entries(out) == [".lock", "CURRENT", "sfxkit-index.json", "versions"]


def test_a_folder_of_other_files_is_refused_and_left_untouched(tmp_path):
    lib = small_library(tmp_path / "lib", n=1)
    mine = tmp_path / "my_project"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(
        IndexMismatchError, match="not empty and is not an sfxkit index.*nothing was written"
    ):
        build_index(lib, mine, models="tiny", progress=False)
    assert _entries(mine) == ["notes.txt"]
    assert _entries(tmp_path) == ["lib", "my_project"]
    with pytest.raises(IndexNotFoundError, match="holds other files.*--out NEW_DIR"):
        load_index(mine)


def test_an_index_path_that_is_a_file_is_named_as_such(tmp_path):
    lib = small_library(tmp_path / "lib", n=1)
    target = tmp_path / "index.faiss"
    target.write_bytes(b"a file")
    with pytest.raises(IndexNotFoundError) as err:
        load_index(target)
    msg = str(err.value)
    assert "is a file, not an index directory" in msg
    assert f"--out {target}" not in msg  # that command would fail
    with pytest.raises(IndexMismatchError, match="is a file, not a directory"):
        build_index(lib, target, models="tiny", progress=False)
    assert target.read_bytes() == b"a file"
    proc = sfxkit("recommend", "rain", "--text", "--index", str(target))
    assert proc.returncode == 5 and "is a file, not an index directory" in proc.stderr
    assert "--out NEW_DIR" in proc.stderr


def test_the_three_states_are_told_apart_while_a_first_build_runs(tmp_path):
    lib = small_library(tmp_path / "lib", n=1)
    out = tmp_path / "idx"
    with build_in_progress(out) as pid:
        assert not out.exists()  # assembled beside it
        with pytest.raises(
            IndexCreatingError, match=f"being created here by another process \\(pid {pid}"
        ):
            load_index(out)
        with pytest.raises(IndexCreatingError):
            Recommender(out)
        for args in (("index", "info", str(out)), ("index", "verify", str(out))):
            proc = sfxkit(*args)
            assert proc.returncode == 5, proc.stderr
            assert "being created" in proc.stderr and f"pid {pid}" in proc.stderr
            assert "corrupt" not in proc.stderr
        proc = sfxkit(
            "index",
            "build",
            str(lib),
            "--out",
            str(out),
            "--models",
            "tiny",
            env={"SFXKIT_LOCK_TIMEOUT": "1"},
        )
        assert proc.returncode == 5
        assert f"waiting for another process (pid {pid}" in proc.stderr
        assert "delete" not in proc.stderr and "remove" not in proc.stderr
    # the holder stopped without committing: nothing is left, and it is "no index" again
    assert _entries(tmp_path) == ["lib"]
    with pytest.raises(IndexNotFoundError, match="no sfxkit index here"):
        load_index(out)
    build_index(lib, out, models="tiny", progress=False)
    assert len(load_index(out).rows) == 1


def test_a_second_build_says_whom_it_waits_for(tmp_path, capsys):
    lib = small_library(tmp_path / "lib", n=1)
    out = tmp_path / "idx"
    build_index(lib, out, models="tiny", progress=False)
    with build_in_progress(out) as pid:
        holder = json.loads((out / ".lock").read_text())
        assert holder["pid"] == pid and holder["host"] and holder["started"]
        with pytest.raises(IndexLockedError) as err:
            build_index(lib, out, models="tiny", progress=False, lock_timeout=0.5)
        waited = capsys.readouterr().err
        assert f"waiting for another process (pid {pid} on {holder['host']}" in waited
        assert f"pid {pid}" in str(err.value) and "released automatically" in str(err.value)
        assert "delete" not in str(err.value) and "remove" not in str(err.value)
    assert load_index(out).version == 1
    assert build_index(lib, out, models="tiny", progress=False).version == 2


def test_a_build_that_cannot_wait_still_says_whom_it_waited_for(tmp_path, capsys):
    lib = small_library(tmp_path / "lib", n=1)
    out = tmp_path / "idx"
    build_index(lib, out, models="tiny", progress=False)
    with build_in_progress(out) as pid, pytest.raises(IndexLockedError):
        build_index(lib, out, models="tiny", progress=False, lock_timeout=0)
    assert f"waiting for another process (pid {pid}" in capsys.readouterr().err
