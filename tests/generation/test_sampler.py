"""The flow sampler, the sequence geometry and the long-clip windowing (no encoders needed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sfxkit.generation.mmaudio.network import build_network
from sfxkit.generation.mmaudio.pipeline import (
    crossfade_join,
    plan_windows,
    sample_latents,
)
from sfxkit.generation.mmaudio.variants import VARIANTS, sequence_geometry
from tests.generation.tiny_threads import one_torch_thread  # noqa: F401 (autouse)


@pytest.fixture(scope="module")
def tiny44():
    return build_network(VARIANTS["tiny_44k"], seed=0)


def _features(net, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    d = net.config.dims
    clip = torch.randn(1, net.clip_seq_len, d.clip_dim, generator=g)
    sync = torch.randn(1, net.sync_seq_len, d.sync_dim, generator=g)
    text = torch.randn(1, d.text_seq_len, d.text_dim, generator=g)
    neg = torch.randn(1, d.text_seq_len, d.text_dim, generator=g)
    return clip, sync, text, neg


def _latents(net, seed: int, **kw):
    clip, sync, text, neg = _features(net)
    return sample_latents(
        net,
        clip,
        sync,
        text,
        kw.pop("negative", neg),
        generator=torch.Generator().manual_seed(seed),
        steps=kw.pop("steps", 3),
        cfg_strength=kw.pop("cfg", 4.5),
        **kw,
    )


def test_reference_sequence_geometry() -> None:
    g16, g44 = sequence_geometry(8.0, "16k"), sequence_geometry(8.0, "44k")
    assert (g16.latent_seq_len, g16.clip_seq_len, g16.sync_seq_len) == (250, 64, 192)
    assert (g44.latent_seq_len, g44.clip_seq_len, g44.sync_seq_len) == (345, 64, 192)
    assert g16.num_audio_samples == 128_000 and g44.num_audio_samples == 353_280
    g3 = sequence_geometry(3.0, "44k")
    assert (g3.latent_seq_len, g3.clip_seq_len, g3.sync_seq_len) == (130, 24, 64)
    assert g3.num_audio_samples >= 3 * 44_100


def test_same_seed_same_latents_other_seed_different(tiny44) -> None:
    tiny44.set_duration(3.0)
    a, b, c = _latents(tiny44, 7), _latents(tiny44, 7), _latents(tiny44, 8)
    assert a.shape == (1, 130, 40)
    assert torch.equal(a, b)
    assert float((a - c).abs().mean()) > 0.1


def test_batched_cfg_equals_two_forwards(tiny44) -> None:
    tiny44.set_duration(2.0)
    batched = _latents(tiny44, 1, batch_cfg=True)
    separate = _latents(tiny44, 1, batch_cfg=False)
    assert float((batched - separate).abs().max()) < 1e-4


def test_negative_prompt_and_guidance_change_the_result(tiny44) -> None:
    tiny44.set_duration(2.0)
    base = _latents(tiny44, 1)
    no_negative = _latents(tiny44, 1, negative=None)  # learned empty string instead
    no_cfg = _latents(tiny44, 1, cfg=0.0)  # conditional velocity only
    assert float((base - no_negative).abs().mean()) > 1e-3
    assert float((base - no_cfg).abs().mean()) > 1e-3


def test_rope_follows_the_duration(tiny44) -> None:
    for seconds in (1.0, 5.5, 8.0):
        tiny44.set_duration(seconds)
        g = sequence_geometry(seconds, "44k")
        out = _latents(tiny44, 0, steps=1)
        assert out.shape == (1, g.latent_seq_len, 40)
        (lat_cos, _), (clip_cos, _) = tiny44.rope(torch.device("cpu"))
        assert lat_cos.shape[0] == g.latent_seq_len and clip_cos.shape[0] == g.clip_seq_len
    with pytest.raises(ValueError, match="update_seq_lengths"):
        tiny44.set_duration(8.0)
        clip, sync, text, _ = _features(tiny44)
        tiny44.set_duration(4.0)
        tiny44.preprocess_conditions(clip, sync, text)


def test_windows_cover_long_requests_exactly() -> None:
    sr = 16_000
    assert plan_windows(3.0, sr) == plan_windows(3.0, sr)
    (w,) = plan_windows(3.0, sr)
    assert (w.duration, w.num_samples) == (3.0, 48_000)
    (w,) = plan_windows(0.4, sr)  # shorter than one Synchformer window: run 1 s, trim
    assert (w.duration, w.num_samples) == (1.0, 6_400)
    ws = plan_windows(19.0, sr)
    assert [w.start for w in ws] == [0.0, 5.5, 11.0]  # >= 1 s overlaps, evenly spread
    assert all(w.duration == 8.0 for w in ws)
    assert ws[-1].offset + ws[-1].num_samples == 19 * sr
    ws = plan_windows(8.5, 44_100)
    assert len(ws) == 2 and ws[-1].offset + ws[-1].num_samples == round(8.5 * 44_100)
    assert [w.start for w in plan_windows(15.0, sr)] == [0.0, 7.0]  # exactly the 1 s overlap
    assert len(plan_windows(15.01, sr)) == 3


def test_equal_power_crossfade() -> None:
    sr = 100
    windows = plan_windows(15.0, sr)  # [0, 8) and [7, 15): 1 s overlap
    ones = np.ones((1, 800), dtype=np.float32)
    zeros = np.zeros((1, 800), dtype=np.float32)
    fade_out = crossfade_join([ones, zeros], windows, 1500, fade=100)[0]
    fade_in = crossfade_join([zeros, ones], windows, 1500, fade=100)[0]
    assert fade_out.shape == (1500,)
    np.testing.assert_allclose(fade_out[:700], 1.0)
    np.testing.assert_allclose(fade_out[800:], 0.0)
    np.testing.assert_allclose(fade_in[:700], 0.0)
    np.testing.assert_allclose(fade_in[800:], 1.0)
    # Equal power: the two gains' squares sum to one through the fade.
    np.testing.assert_allclose(fade_out[700:800] ** 2 + fade_in[700:800] ** 2, 1.0, atol=1e-6)
    assert np.all(np.diff(fade_out[700:800]) < 0)
