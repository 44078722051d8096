"""Exact vectors stored once as float16, memory-mapped and checked chunk by chunk."""

from __future__ import annotations

import numpy as np
import pytest

from sfxkit.errors import IndexCorruptError
from sfxkit.index import CHUNK_BYTES, Preset
from sfxkit.store import load_index
from tests.index.helpers import clustered, exact_top, presets_file, recall, write_index

FLAT = Preset("exact", None, "Flat", {}, {})


def _vector_file(root):
    return next(root.glob("versions/*/views/v.npy"))


def test_exact_vectors_are_float16_and_read_only_where_asked(tmp_path):
    vectors = clustered(16000, 128, 20)
    ids = write_index(tmp_path / "idx", vectors, FLAT)
    assert _vector_file(tmp_path / "idx").stat().st_size < vectors.nbytes / 2 + 4096
    idx = load_index(tmp_path / "idx")
    lookup = idx.vectors("v")
    got = lookup.get(ids[[5, 15999, 0]])
    np.testing.assert_allclose(got, vectors[[5, 15999, 0]], atol=1e-3)
    assert lookup.source.checked_fraction < 0.05
    np.testing.assert_allclose(lookup.vectors, vectors, atol=1e-3)


def test_a_flipped_byte_in_the_float16_vectors_raises_index_corrupt(tmp_path):
    vectors = clustered(4000, 128, 20)
    ids = write_index(tmp_path / "idx", vectors, FLAT)
    path = _vector_file(tmp_path / "idx")
    data = bytearray(path.read_bytes())
    row = 2500  # 256 bytes a row: its chunk is (header + 2500*256) // 64 KiB
    at = len(data) - (len(ids) - row) * 256 + 17
    data[at] ^= 0x40
    path.write_bytes(bytes(data))
    idx = load_index(tmp_path / "idx")  # opening reads only the header chunk
    far = ids[:10]  # rows in the first chunk are unaffected
    assert (at // CHUNK_BYTES) != 0
    idx.vectors("v").get(far)
    with pytest.raises(IndexCorruptError, match="v.npy"):
        idx.vectors("v").get(ids[[row]])
    with pytest.raises(IndexCorruptError):
        _ = idx.vectors("v").vectors
    # the filtered exact search over the damaged row fails loudly, never scores it
    with pytest.raises(IndexCorruptError):
        idx.view("v").search(vectors[:1], 3, allowed=ids[[row, 1]], vectors=idx.vectors("v"))


def test_a_rescoring_view_with_a_flipped_byte_fails_the_search_that_reads_it(tmp_path, monkeypatch):
    vectors = clustered(3000, 64, 30)
    preset = Preset("ivf", None, "IVF{nlist},PQ16x4fs", {}, {"nprobe": 16, "k_factor": 10})
    ids = write_index(tmp_path / "idx", vectors, preset)
    path = _vector_file(tmp_path / "idx")
    data = bytearray(path.read_bytes())
    for at in range(CHUNK_BYTES + 100, len(data), CHUNK_BYTES):
        data[at] ^= 0x01  # one byte in every chunk past the header
    path.write_bytes(bytes(data))
    monkeypatch.setenv("SFXKIT_INDEX_PRESETS", str(presets_file(tmp_path / "p.json", preset)))
    view = load_index(tmp_path / "idx").view("v")
    with pytest.raises(IndexCorruptError, match="do not match"):
        view.search(vectors[:1], 10)
    assert len(ids) == 3000


def test_truncated_vector_file_is_caught_at_open(tmp_path):
    vectors = clustered(1000, 64, 10)
    write_index(tmp_path / "idx", vectors, FLAT)
    path = _vector_file(tmp_path / "idx")
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(IndexCorruptError, match="size"):
        load_index(tmp_path / "idx").vectors("v")


def test_an_index_in_the_previous_float32_layout_still_opens_and_searches(tmp_path):
    vectors = clustered(2000, 64, 20)
    ids = write_index(tmp_path / "idx", vectors, FLAT, old_format=True)
    idx = load_index(tmp_path / "idx")
    entry = idx.manifest.files["views/v.npy"]
    assert "chunks" not in entry
    np.testing.assert_array_equal(idx.vectors("v").get(ids[[7, 8]]), vectors[[7, 8]])
    np.testing.assert_array_equal(idx.vectors("v").vectors, vectors)
    found = idx.view("v").search(vectors[:20], 5)[1]
    assert recall(found, exact_top(vectors, ids, vectors[:20], 5)) == 1.0
    # a flipped byte in the old layout is still caught (whole-file sha256)
    path = _vector_file(tmp_path / "idx")
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x10
    path.write_bytes(bytes(data))
    with pytest.raises(IndexCorruptError, match="sha256"):
        load_index(tmp_path / "idx").vectors("v")
