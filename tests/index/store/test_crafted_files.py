"""Crafted index files, with the manifest re-hashed to match, end in IndexCorruptError naming the
file (exit 5), never in a raw FAISS or NumPy exception."""

from __future__ import annotations

import io
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from sfxkit.errors import IndexCorruptError
from sfxkit.index.store import IndexStore
from sfxkit.recommender import Recommender
from tests.index.store.helpers import rehash, sfxkit


@pytest.fixture
def index_copy(tiny_index, tmp_path) -> Path:
    out, _ = tiny_index
    copy = tmp_path / "idx"
    shutil.copytree(out, copy)
    return copy


def _query(index: Path) -> None:
    rec = Recommender(index)
    rec.recommend_text("rain", k=3)
    rec.recommend_text("rain", k=3, filters={"category": list(set(rec.index.rows["category"]))})


def _faiss_crafts(index: Path) -> list[tuple[str, bytes]]:
    import faiss

    vdir, _ = IndexStore(index).current_version_dir()
    good = (vdir / "views" / "clap_text.faiss").read_bytes()
    n = len(np.load(vdir / "views" / "clap_text.npy"))
    vecs = np.load(vdir / "views" / "clap_text.npy")
    crafts = [("garbage", b"IxM2" + bytes(range(256)) * 4), ("truncated header", good[:40])]
    # every 8-byte field of the header set to absurd sizes (some make FAISS allocate petabytes)
    for off in range(4, 120, 4):
        for value in (2**61, -1):
            crafts.append(
                (f"field@{off}={value}", good[:off] + struct.pack("<q", value) + good[off + 8 :])
            )
    # well-formed FAISS files that sfxkit never writes: wrong ids, wrong metric, no id map
    wrong_ids = faiss.IndexIDMap2(faiss.IndexFlatIP(vecs.shape[1]))
    wrong_ids.add_with_ids(vecs, np.arange(10_000, 10_000 + n, dtype=np.int64))
    crafts.append(("ids not in rows", faiss.serialize_index(wrong_ids).tobytes()))
    l2 = faiss.IndexFlatL2(vecs.shape[1])
    l2.add(vecs)
    crafts.append(("bare L2 index", faiss.serialize_index(l2).tobytes()))
    return crafts


def test_crafted_faiss_files_are_reported_as_corrupt(index_copy, tmp_path):
    crafts = _faiss_crafts(index_copy)
    rejected = 0
    for name, data in crafts:
        copy = tmp_path / f"c{rejected}-{len(data)}-{abs(hash(name)) % 10**6}"
        shutil.copytree(index_copy, copy)
        rehash(copy, "views/clap_text.faiss", data)
        try:
            _query(copy)
        except IndexCorruptError as exc:
            assert "clap_text.faiss" in str(exc), name
            assert "--repair" in str(exc) and "sfxkit index build" in str(exc)
            rejected += 1
        # anything else (RuntimeError, MemoryError, KeyError) fails the test
        shutil.rmtree(copy)
    assert rejected >= 10  # the garbage, the truncation, the foreign indexes and absurd sizes


@pytest.mark.parametrize(
    "how",
    ["object dtype", "float64", "wrong shape", "not npy"],
)
def test_crafted_vector_files_are_reported_as_corrupt(index_copy, how):
    vdir, _ = IndexStore(index_copy).current_version_dir()
    vecs = np.load(vdir / "views" / "clap_text.npy")
    buf = io.BytesIO()
    if how == "object dtype":
        np.save(buf, np.array([{"a": 1}] * len(vecs), dtype=object), allow_pickle=True)
    elif how == "float64":
        np.save(buf, vecs.astype(np.float64))
    elif how == "wrong shape":
        np.save(buf, vecs[:, :-1])
    else:
        buf.write(b"\x93NUMPY garbage")
    rehash(index_copy, "views/clap_text.npy", buf.getvalue())
    with pytest.raises(IndexCorruptError, match=r"clap_text\.npy"):
        _query(index_copy)


def test_crafted_files_exit_5_on_the_command_line(index_copy):
    buf = io.BytesIO()
    np.save(buf, np.array([None] * 8, dtype=object), allow_pickle=True)
    rehash(index_copy, "views/clap_text.npy", buf.getvalue())
    rehash(index_copy, "views/clap_audio.faiss", b"IxM2" + bytes(300))
    proc = sfxkit("recommend", "rain on a roof", "--text", "--index", str(index_copy))
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert "corrupt" in proc.stderr and (
        "clap_audio.faiss" in proc.stderr or "clap_text.npy" in proc.stderr
    )
    assert "unexpected error" not in proc.stderr
