"""A build on a disk that fills up, on a small tmpfs: exit 7 with one line saying what was being
written, where and how much space the build needs; the previous version kept, no staging folder
left, and never a SIGBUS from the memory-mapped scratch vectors.

Mounting a tmpfs needs root (CI containers run as root); elsewhere these tests skip, saying so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sfxkit.index.build import build_index
from sfxkit.index.store import load_index
from sfxkit.recommender import Recommender
from tests import synth

EXE = Path(sys.executable).with_name("sfxkit")
DISK_FULL = 7


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 256 KiB tmpfs at ``tmp_path/disk``."""
    disk = tmp_path / "disk"
    disk.mkdir()
    try:
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=256k,mode=0755", "tmpfs", str(disk)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except FileNotFoundError:
        pytest.skip("no mount command here: a small tmpfs cannot be made")
    if proc.returncode != 0:
        pytest.skip(f"mount -t tmpfs was refused ({proc.stderr.strip()}): needs root")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False, timeout=30)


def tones(folder: Path, n: int, start: int = 0) -> Path:
    for i in range(start, start + n):
        synth.write_audio(folder / f"tone_{i:03d}.wav", synth.tone(200 + 15 * i, 0.4))
    return folder


def fill(disk: Path, leave: int) -> None:
    """Fill the disk up to ``leave`` bytes of free space."""
    free = shutil.disk_usage(disk).free
    with open(disk / "filler", "wb") as f:
        f.write(bytes(max(0, free - leave)))


def litter(disk: Path, out: Path) -> list[str]:
    found = list(disk.glob(".*sfxkit-new-*"))
    if out.is_dir():
        found += list((out / "versions").glob(".stage-*"))
        found += [p for p in (out / "versions").iterdir() if p.name != "v000001"]
    return sorted(p.name for p in found)


def build(lib: Path, out: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EXE), "index", "build", str(lib), "--out", str(out), "--models", "tiny"],
        capture_output=True,
        text=True,
        env={**os.environ, "SFXKIT_PROGRESS": "0", **env},
        timeout=600,
    )


def assert_one_disk_full_line(proc: subprocess.CompletedProcess[str], out: Path) -> str:
    assert proc.returncode == DISK_FULL, (proc.returncode, proc.stderr)  # not -7/135: SIGBUS
    errors = [x for x in proc.stderr.splitlines() if x.startswith("sfxkit: error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    line = errors[0]
    assert f"sfxkit: error: {out}: no space left on the device for " in line
    assert "unexpected error" not in line and "Errno" not in line
    assert "free some space or write to another disk" in line
    return line


@pytest.mark.slow  # three builds through the entry point
@pytest.mark.parametrize("check", ["estimate", "while-writing"])
def test_an_update_that_does_not_fit_keeps_the_index(small_disk, tmp_path, check):
    lib, out = tones(tmp_path / "lib", 4), small_disk / "idx"
    build_index(lib, out, models="tiny", progress=False)
    before = [r.id for r in Recommender(out).recommend_text("a low tone", k=3)]
    tones(lib, 20, start=4)
    fill(small_disk, leave=16 << 10)

    env = {"SFXKIT_NO_SPACE_CHECK": "1"} if check == "while-writing" else {}
    line = assert_one_disk_full_line(build(lib, out, **env), out)
    assert f"{out} keeps its current version" in line
    if check == "estimate":  # refused before any vector was computed, with the numbers
        assert "a new version of 24 sounds; it needs about " in line and " is free there" in line
    else:  # what was being written when the disk filled
        assert "for the index file " in line or "vectors" in line

    assert litter(small_disk, out) == []
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler", "idx"]
    assert load_index(out).manifest.version == 1
    assert [r.id for r in Recommender(out).recommend_text("a low tone", k=3)] == before
    (small_disk / "filler").unlink()  # with the space back, the same build succeeds
    assert build(lib, out).returncode == 0
    assert load_index(out).manifest.row_count == 24


def test_a_first_build_that_does_not_fit_leaves_nothing(small_disk, tmp_path):
    lib, out = tones(tmp_path / "lib", 6), small_disk / "idx"
    fill(small_disk, leave=8 << 10)
    proc = build(lib, out, SFXKIT_NO_SPACE_CHECK="1")
    line = assert_one_disk_full_line(proc, out)
    assert "nothing was written" in line
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]


def test_scratch_vectors_on_a_full_disk_raise_instead_of_sigbus(small_disk):
    # Writing through a memory map into a sparse file the disk cannot back kills the process
    # with SIGBUS; the scratch array is allocated up front, so the writer gets an error.
    script = textwrap.dedent(
        f"""
        import sys
        from sfxkit.errors import DiskFullError
        from sfxkit.index.store import IndexStore
        try:
            with IndexStore({str(small_disk / "idx")!r}).writer() as writer:
                arr = writer.scratch_vectors("clap_audio", (100_000, 512))  # ~100 MB
                arr[:] = 1.0
                arr.flush()
        except DiskFullError as exc:
            print(exc)
            sys.exit(7)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == DISK_FULL, (proc.returncode, proc.stderr)
    assert "the clap_audio vectors (100000 x 512 float16)" in proc.stdout
    assert "nothing was written" in proc.stdout
    assert sorted(p.name for p in small_disk.iterdir()) == []
