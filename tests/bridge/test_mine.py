"""Frame pool and pair mining: mutual matches, caps that spread pairs over videos, Parquet out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sfxkit.bridge.mine import (
    CAPTION_TO_AUDIO,
    PAIR_COLUMNS,
    TEXT_TO_IMAGE,
    mine_index,
    mine_pairs,
    read_pairs,
)
from sfxkit.errors import InputError


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _world(n_items=6, frames_per_item=30, n_videos=10, seed=0, dim=16):
    """Items are random directions; each frame is a noisy copy of one item's direction."""
    rng = np.random.default_rng(seed)
    items = _unit(rng.standard_normal((n_items, dim)))
    truth = np.repeat(np.arange(n_items), frames_per_item)
    frames = _unit(items[truth] + 0.6 * rng.standard_normal((len(truth), dim)))
    videos = np.array([f"v{int(v)}" for v in rng.integers(n_videos, size=len(truth))])
    return items, frames, truth, videos


def test_mined_pairs_are_mutual_and_mostly_right():
    items, frames, truth, videos = _world()
    m = mine_pairs(items, frames, videos, top_m=10, frame_top=1, threshold=None, keep=1.0)
    assert len(m) > 0
    sims = items @ frames.T
    r_item = np.sort(sims, axis=1)[:, -10:].mean(axis=1)
    r_frame = np.sort(sims, axis=0)[-6:, :].mean(axis=0)
    csls = 2 * sims - r_item[:, None] - r_frame[None, :]
    # frame_top=1: every pair's item is its frame's best match by CSLS (mutual), and the pair
    # is among the item's best frames
    assert np.array_equal(csls.argmax(axis=0)[m.frames], m.items)
    assert np.allclose(m.cosine, sims[m.items, m.frames], atol=1e-5)
    # mutual matches are more often right than a plain best match over all frames
    precision = np.mean(truth[m.frames] == m.items)
    assert precision > np.mean(sims.argmax(axis=0) == truth) + 0.05
    assert set(m.items.tolist()) == set(range(len(items))), "every item gets pairs"
    assert np.all(np.bincount(m.items) <= 10)


def test_per_video_caps_are_obeyed():
    items, frames, truth, videos = _world(n_videos=4)
    videos[: len(videos) // 2] = "one_long_video"  # half of all frames come from one video
    m = mine_pairs(items, frames, videos, top_m=20, max_per_item_video=3, max_per_video=5,
                   threshold=None, keep=1.0)  # fmt: skip
    per_video = {v: int(np.sum(videos[m.frames] == v)) for v in set(videos.tolist())}
    assert max(per_video.values()) <= 5
    assert m.video_cap == 5
    per_item_video: dict[tuple[int, str], int] = {}
    for i, f in zip(m.items, m.frames, strict=True):
        per_item_video[(int(i), videos[f])] = per_item_video.get((int(i), videos[f]), 0) + 1
    assert max(per_item_video.values()) <= 3
    # the default share cap also stops one video from dominating
    share = mine_pairs(items, frames, videos, top_m=20, threshold=None, keep=1.0)
    counts = np.unique(videos[share.frames], return_counts=True)[1]
    assert counts.max() <= share.video_cap
    assert counts.max() / len(share) < 0.5


def test_a_hub_description_does_not_take_every_frame():
    items, frames, truth, videos = _world(n_items=5)
    hub = _unit(frames.mean(axis=0, keepdims=True))  # close to every frame
    all_items = np.vstack([items, hub])
    m = mine_pairs(all_items, frames, videos, top_m=15, frame_top=1, threshold=None, keep=1.0)
    assert np.sum(m.items == 5) <= np.sum(m.items == 0)


def test_threshold_and_keep_drop_weak_matches():
    items, frames, truth, videos = _world()
    loose = mine_pairs(items, frames, videos, threshold=None, keep=1.0)
    strict = mine_pairs(items, frames, videos, threshold=0.9, keep=1.0)
    assert len(strict) < len(loose) and np.all(strict.cosine >= 0.9)
    half = mine_pairs(items, frames, videos, threshold=None, keep=0.5)
    assert len(half) < len(loose)
    assert set(half.items.tolist()) == set(loose.items.tolist()), "keep is per item"
    with pytest.raises(InputError):
        mine_pairs(items, frames[:, :8], videos)


def test_blocks_give_the_same_pairs():
    items, frames, truth, videos = _world(frames_per_item=50)
    a = mine_pairs(items, frames, videos, block=4096)
    b = mine_pairs(items, frames, videos, block=37)
    assert np.array_equal(a.items, b.items) and np.array_equal(a.frames, b.frames)


def test_pool_samples_per_shot_and_reports_bad_videos(tiny_pool, bridge_videos):
    pool = tiny_pool.pool
    assert [Path(f.video).name for f in tiny_pool.failures] == ["broken.mp4"]
    assert tiny_pool.added == 3 and tiny_pool.reused == 0
    assert len(pool.videos) == 3
    per_video = pool.records.groupby("video")["shot"].nunique()
    assert (per_video == 3).all(), "three hard cuts → three shots per video"
    assert len(pool) == 3 * 3 * 2
    assert pool.embeddings.shape == (18, 32)
    assert np.allclose(np.linalg.norm(pool.embeddings, axis=1), 1.0, atol=1e-4)
    # frames sit inside their shots: 2 per shot at 1/4 and 3/4 of it
    t = pool.records[pool.records["video"].str.endswith("v0.mp4")]["time"].to_numpy()
    assert np.allclose(t, [0.25, 0.75, 1.25, 1.75, 2.25, 2.75], atol=0.05)


def test_pool_reuses_unchanged_videos(tiny_pool, bridge_videos, tmp_path):
    import shutil

    from sfxkit.bridge.pool import FramePool, build_frame_pool

    copy = tmp_path / "pool"
    shutil.copytree(tiny_pool.path, copy)
    again = build_frame_pool([bridge_videos], model="open_clip:tiny", pool_dir=copy,
                             per_shot=2, progress=False)  # fmt: skip
    assert again.reused == 3 and again.added == 0
    assert np.array_equal(again.pool.embeddings, tiny_pool.pool.embeddings)
    loaded = FramePool.load(copy)
    assert loaded.lookup(loaded.records["video"][3], loaded.records["time"][3]) == 3
    (copy / "embeddings.npy").write_bytes(b"garbage")
    from sfxkit.errors import IndexCorruptError

    with pytest.raises(IndexCorruptError):
        FramePool.load(copy)


def test_mine_index_writes_parquet_with_propagated_shot_mates(tiny_index, tiny_pool, tmp_path):
    out = tmp_path / "pairs.parquet"
    result = mine_index(tiny_index[0], tiny_pool.pool, top_m=5, frame_top=2, keep=1.0,
                        threshold=None, out=out, progress=False)  # fmt: skip
    df = read_pairs(out)
    assert list(df.columns) == list(PAIR_COLUMNS)
    assert len(df) == len(result.pairs) > 0
    assert set(df["direction"]) == {TEXT_TO_IMAGE}
    assert df["source"].iloc[0] == "clip:open_clip:tiny"
    assert result.untrained
    direct = df[~df["propagated"]]
    # every direct pair's shot-mates in the pool are paired with the same item
    for row in direct.itertuples():
        mates = tiny_pool.pool.records
        mates = mates[(mates["video"] == row.video) & (mates["shot"] == row.shot)]
        got = df[(df["item_id"] == row.item_id) & (df["video"] == row.video)]["time"]
        assert set(np.round(mates["time"], 3)) <= set(np.round(got, 3))
    assert not df.duplicated(["item_id", "video", "time", "direction"]).any()


def test_caption_direction_with_a_tiny_vlm(tiny_index, tiny_pool, tmp_path):
    from sfxkit.bridge.mine import TransformersCaptioner
    from sfxkit.bridge.tiny import save_tiny_captioner

    model = save_tiny_captioner(tmp_path / "tiny-vlm")

    class Wordy(TransformersCaptioner):
        """The untrained captioner's words are junk; keep them so the direction has input."""

        def caption(self, images):
            raw = super().caption(images)
            return [c or f"a frame number {k}" for k, c in enumerate(raw)]

    cap = Wordy(model, max_new_tokens=8)
    result = mine_index(tiny_index[0], tiny_pool.pool, captioner=cap, top_m=5, keep=1.0,
                        threshold=None, out=tmp_path / "p.parquet", progress=False)  # fmt: skip
    assert cap.untrained
    df = result.pairs
    assert set(df["direction"]) == {TEXT_TO_IMAGE, CAPTION_TO_AUDIO}
    caps = df[df["direction"] == CAPTION_TO_AUDIO]
    assert caps["source"].iloc[0] == f"vlm:{model}+clap:clap:tiny"
    assert (caps["caption"].str.len() > 0).all()
    assert (df[df["direction"] == TEXT_TO_IMAGE]["caption"] == "").all()
