"""Training the bridge heads: it learns, it is reproducible, validation never sees training videos."""

from __future__ import annotations

import numpy as np
import pytest

from sfxkit.bridge.train import TrainConfig, split_by_group, train_heads
from sfxkit.errors import InputError


def _unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _pairs(n_items=12, per_item=20, seed=0, noise_seed=100):
    """Frames and sounds in different spaces, linked by a hidden item identity; ``noise_seed``
    draws other frames of the same items."""
    rng = np.random.default_rng(seed)
    audio = _unit(rng.standard_normal((n_items, 24)))
    centres = rng.standard_normal((n_items, 16)) * 2.0
    items = np.repeat(np.arange(n_items), per_item)
    noise = np.random.default_rng(noise_seed).standard_normal((len(items), 16))
    frames = _unit(centres[items] + noise)
    videos = [f"v{i % 15}" for i in range(len(items))]
    cats = [f"cat{i // 3}" for i in range(n_items)]
    return frames, items, audio, videos, cats


FAST = TrainConfig(dim=16, hidden=32, max_epochs=40, patience=10, batch_size=32, seed=0)


def test_heads_learn_to_retrieve_the_right_sound():
    frames, items, audio, videos, cats = _pairs()
    result = train_heads(frames, items, audio, categories=cats, groups=videos, config=FAST)
    test_frames, test_items, *_ = _pairs(noise_seed=7)  # unseen frames of the same items
    scores = result.heads.embed_image(test_frames) @ result.heads.embed_audio(audio).T
    r1 = np.mean(scores.argmax(axis=1) == test_items)
    assert r1 > 0.8, f"R@1 {r1:.2f} (chance is {1 / len(audio):.2f})"
    assert result.val_recall > 0.8 and 1 <= result.best_epoch <= len(result.history)
    z = result.heads.embed_image(test_frames[:3])
    assert z.dtype == np.float32 and np.allclose(np.linalg.norm(z, axis=1), 1.0, atol=1e-5)


def test_training_is_deterministic_under_a_seed():
    frames, items, audio, videos, cats = _pairs()
    a = train_heads(frames, items, audio, categories=cats, groups=videos, config=FAST)
    b = train_heads(frames, items, audio, categories=cats, groups=videos, config=FAST)
    assert a.heads.state_bytes() == b.heads.state_bytes()
    assert [h.loss for h in a.history] == [h.loss for h in b.history]
    other = TrainConfig(**{**FAST.to_dict(), "seed": 1})
    c = train_heads(frames, items, audio, categories=cats, groups=videos, config=other)
    assert c.heads.state_bytes() != a.heads.state_bytes()


def test_training_leaves_the_global_torch_rng_alone():
    import torch

    frames, items, audio, videos, cats = _pairs(n_items=4, per_item=5)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train_heads(frames, items, audio, groups=videos, config=TrainConfig(max_epochs=2, dim=8))
    assert torch.equal(torch.rand(3), expected)


def test_validation_split_keeps_videos_apart():
    videos = [f"v{i % 7}" for i in range(100)]
    mask = split_by_group(videos, 0.2, seed=0)
    val_videos = {v for v, m in zip(videos, mask, strict=True) if m}
    train_videos = {v for v, m in zip(videos, mask, strict=True) if not m}
    assert val_videos and train_videos and not (val_videos & train_videos)
    assert 0.1 <= mask.mean() <= 0.35


def test_labelled_validation_drives_early_stopping():
    frames, items, audio, videos, cats = _pairs()
    result = train_heads(frames, items, audio, groups=videos, config=FAST,
                         validation=(frames[::7], items[::7]))  # fmt: skip
    assert result.n_train == len(frames), "every pair trains when validation is given"
    assert result.n_val == len(frames[::7])


def test_bad_inputs_are_refused():
    frames, items, audio, videos, _ = _pairs(n_items=3, per_item=1)
    with pytest.raises(InputError, match="only 3 training pairs"):
        train_heads(frames, items, audio)
    with pytest.raises(InputError, match="index rows"):
        train_heads(frames, items + 10, audio)
