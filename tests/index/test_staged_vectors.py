"""A build writes each view's vectors to disk as they are embedded and indexes them from there:
no view is ever held in RAM as float32, the stored file is that on-disk array, and a sound that
breaks in the middle of a build is reported and left out of every view."""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

from sfxkit.index.store import IndexStore, load_index
from sfxkit.index.views import Preset, VectorIndex
from tests import synth
from tests.index.helpers import clustered, commit_view, presets_file

# a small fixed IVF so the test trains in a second; SQ8 codes keep FAISS's own memory small
IVF = Preset("ivf", None, "IVF256,PQ32x4fs,Refine(SQ8)", {}, {"nprobe": 32, "k_factor": 10}, 16384)


def _staged(writer: Any, n: int, dim: int) -> np.memmap:
    arr = writer.scratch_vectors("v", (n, dim))
    for s in range(0, n, 50_000):  # filled in pieces, as a build does
        arr[s : s + 50_000] = clustered(min(50_000, n - s), dim, 40, seed=s)
    return arr


def test_a_large_view_is_indexed_and_stored_from_disk_without_a_float32_copy(
    tmp_path: Path, monkeypatch: Any
):
    n, dim = 200_000, 128
    full_copy = n * dim * 4  # what holding the view as float32 would cost: 102 MB
    ids = np.arange(n, dtype=np.int64) * 3 + 1
    with IndexStore(tmp_path / "idx").writer() as w:
        arr = _staged(w, n, dim)
        tracemalloc.start()
        vi = VectorIndex.build(arr, ids, preset=IVF)
        build_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        w.write_bytes("views/v.faiss", vi.to_bytes())
        tracemalloc.reset_peak()
        w.adopt_vectors("views/v.npy", arr)
        store_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        commit_view(w, ids, dim, IVF.factory)
    # numpy's allocations: pieces of 16k rows and the training sample, never the view
    assert build_peak < full_copy / 2, build_peak
    assert store_peak < 8 << 20, store_peak  # hashed in 4 MiB blocks, then renamed
    version = next((tmp_path / "idx" / "versions").glob("v*"))
    assert not (version / ".scratch").exists()

    # the same answers as an index built from the same (float16) values held in RAM
    stored = np.load(version / "views" / "v.npy")
    assert stored.dtype == np.float16 and stored.shape == (n, dim)
    in_ram = VectorIndex.build(stored.astype(np.float32), ids, preset=IVF)
    queries = stored[:: n // 40].astype(np.float32)
    got, want = vi.search(queries, 10), in_ram.search(queries, 10)
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0], want[0])
    monkeypatch.setenv("SFXKIT_INDEX_PRESETS", str(presets_file(tmp_path / "p.json", IVF)))
    idx = load_index(tmp_path / "idx")
    np.testing.assert_array_equal(idx.view("v").search(queries, 10)[1], got[1])
    np.testing.assert_allclose(idx.vectors("v").get(ids[[7, n - 1]]), stored[[7, n - 1]])


class BreakingEncoder:
    """The tiny CLAP audio encoder; its first batch breaks ``victim`` on disk (a sound replaced
    by junk while the build runs), so the next batch's decode fails."""

    def __init__(self, inner: Any, victim: Path) -> None:
        self.inner, self.victim = inner, victim
        self.model_id, self.dim, self.untrained = inner.model_id, inner.dim, inner.untrained
        self.sample_rate = inner.sample_rate

    def encode_texts(self, texts: Any, **kw: Any) -> Any:
        return self.inner.encode_texts(texts, **kw)

    def encode_audio(self, waves: Any, **kw: Any) -> Any:
        self.victim.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt junk")
        return self.inner.encode_audio(waves, **kw)


def test_a_sound_that_breaks_mid_build_is_reported_and_left_out_of_every_view(tmp_path: Path):
    from sfxkit.config import TINY_AUDIO_MODEL
    from sfxkit.index.build import AUDIO_BATCH, build_index
    from sfxkit.models.registry import load_audio_encoder

    lib = tmp_path / "lib"
    n = AUDIO_BATCH + 4  # the victim is in the second batch, decoded after the first is embedded
    for i in range(n):
        x = synth.noise(0.4 + 0.05 * (i % 4), seed=i, band=(150 + 30 * i, 2500 + 80 * i))
        synth.write_audio(lib / f"clip_{i:02d}.wav", x)
    kw: dict[str, Any] = {"models": "tiny", "sfx_model": None, "progress": False}
    build_index(lib, tmp_path / "order", **kw)  # the order the build embeds the sounds in
    victim = Path(load_index(tmp_path / "order").rows["path"].iloc[-1])
    enc = BreakingEncoder(load_audio_encoder(TINY_AUDIO_MODEL, device="cpu"), victim)
    report = build_index(lib, tmp_path / "a", encoders={"audio": enc}, **kw)
    assert report.items == n - 1
    assert [Path(p).name for p, _ in report.failures] == [victim.name]

    # a build of the library as it is now (the victim fails at ingest) gives the same index
    again = build_index(lib, tmp_path / "b", **kw)
    assert [Path(p).name for p, _ in again.failures] == [victim.name]
    a, b = load_index(tmp_path / "a"), load_index(tmp_path / "b")
    assert a.rows["id"].tolist() == b.rows["id"].tolist()
    for view in ("clip_text", "clap_audio", "clap_text"):
        np.testing.assert_array_equal(a.vectors(view).vectors, b.vectors(view).vectors)
        assert a.view(view).ntotal == n - 1
    assert not list((tmp_path / "a").rglob(".scratch"))
