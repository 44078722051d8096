"""Exact vectors stored once as float16, read by row and checked chunk by chunk; large views
searched through compressed codes held by FAISS (``...,Refine(SQ8)``)."""

from __future__ import annotations

import numpy as np
import pytest

from sfxkit.errors import IndexCorruptError
from sfxkit.index.store import load_index
from sfxkit.index.views import CHUNK_BYTES, Preset
from tests.index.helpers import clustered, exact_top, presets_file, recall, write_index

FLAT = Preset("exact", None, "Flat", {}, {})
# float32 rescoring: at 64-d these tight clusters tie too closely for 8-bit codes to rank
REFINE = Preset("ivf", None, "IVF{nlist},PQ16x4fs,Refine(Flat)", {}, {"nprobe": 16, "k_factor": 10})


def _file(root, name="v.npy"):
    return next(root.glob(f"versions/*/views/{name}"))


def _flip(path, at, bit=0x40):
    data = bytearray(path.read_bytes())
    data[at] ^= bit
    path.write_bytes(bytes(data))


def test_exact_vectors_are_float16_and_read_only_where_asked(tmp_path):
    vectors = clustered(16000, 128, 20)
    ids = write_index(tmp_path / "idx", vectors, FLAT)
    assert _file(tmp_path / "idx").stat().st_size < vectors.nbytes / 2 + 4096
    idx = load_index(tmp_path / "idx")
    lookup = idx.vectors("v")
    got = lookup.get(ids[[5, 15999, 0, 6]])
    np.testing.assert_allclose(got, vectors[[5, 15999, 0, 6]], atol=1e-3)
    assert lookup.source.read_fraction < 0.01  # the header's chunk and three rows' chunks
    np.testing.assert_allclose(lookup.vectors, vectors, atol=1e-3)


def test_a_flipped_byte_in_the_float16_vectors_raises_index_corrupt(tmp_path):
    vectors = clustered(4000, 128, 20)
    ids = write_index(tmp_path / "idx", vectors, FLAT)
    path = _file(tmp_path / "idx")
    row = 2500  # 256 bytes a row, counted from the end of the file (after the .npy header)
    at = path.stat().st_size - (len(ids) - row) * 256 + 17
    _flip(path, at)
    idx = load_index(tmp_path / "idx")  # opening reads only the header chunk
    far = ids[:10]  # rows in other chunks are unaffected
    assert (at // CHUNK_BYTES) != 0
    idx.vectors("v").get(far)
    with pytest.raises(IndexCorruptError, match="v.npy"):
        idx.vectors("v").get(ids[[row]])
    with pytest.raises(IndexCorruptError):
        _ = idx.vectors("v").vectors
    # the filtered exact search over the damaged row fails loudly, never scores it
    with pytest.raises(IndexCorruptError):
        idx.view("v").search(vectors[:1], 3, allowed=ids[[row, 1]], vectors=idx.vectors("v"))


def test_a_flipped_byte_in_the_chunk_digests_is_caught(tmp_path):
    vectors = clustered(1000, 64, 10)
    write_index(tmp_path / "idx", vectors, FLAT)
    _flip(_file(tmp_path / "idx", "v.npy.chunks"), 5)
    with pytest.raises(IndexCorruptError, match="v.npy.chunks"):
        load_index(tmp_path / "idx").vectors("v")


def test_a_compressed_view_searches_by_id_and_filters(tmp_path, monkeypatch):
    vectors = clustered(6000, 64, 60)
    ids = write_index(tmp_path / "idx", vectors, REFINE)
    monkeypatch.setenv("SFXKIT_INDEX_PRESETS", str(presets_file(tmp_path / "p.json", REFINE)))
    idx = load_index(tmp_path / "idx")
    view = idx.view("v")
    queries = vectors[:40]
    assert recall(view.search(queries, 10)[1], exact_top(vectors, ids, queries, 10)) >= 0.9
    # one query and a batch agree
    np.testing.assert_array_equal(view.search(queries[:1], 10)[1], view.search(queries, 10)[1][:1])
    # a large filter goes through FAISS with a selector and returns allowed ids only
    allowed = ids[::3]
    got = view.search(queries, 10, allowed=allowed)[1]
    assert np.isin(got[got >= 0], allowed).all()
    mask = np.isin(ids, allowed)
    assert recall(got, exact_top(vectors[mask], ids[mask], queries, 10)) >= 0.8
    # unfiltered and large-filter queries never touch the float16 file
    assert idx.vectors("v").source.chunks_read <= 1


def test_a_flipped_byte_in_a_compressed_view_fails_its_open(tmp_path, monkeypatch):
    vectors = clustered(3000, 64, 30)
    write_index(tmp_path / "idx", vectors, REFINE)
    path = _file(tmp_path / "idx", "v.faiss")
    _flip(path, path.stat().st_size // 2, 0x01)
    monkeypatch.setenv("SFXKIT_INDEX_PRESETS", str(presets_file(tmp_path / "p.json", REFINE)))
    with pytest.raises(IndexCorruptError, match="sha256"):
        load_index(tmp_path / "idx")


def test_truncated_vector_file_is_caught_at_open(tmp_path):
    vectors = clustered(1000, 64, 10)
    write_index(tmp_path / "idx", vectors, FLAT)
    path = _file(tmp_path / "idx")
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
    _flip(_file(tmp_path / "idx"), -5, 0x10)
    with pytest.raises(IndexCorruptError, match="sha256"):
        load_index(tmp_path / "idx").vectors("v")
