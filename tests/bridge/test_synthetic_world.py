"""The synthetic world behind the bridge benchmark: deterministic, with truth that matches what
the video shows; the benchmark itself (slow) shows the trained bridge beating chance."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sfxkit.bridge.synthetic import VARIANTS, World, WorldConfig

ROOT = Path(__file__).resolve().parents[2]


def test_world_is_deterministic_and_titles_hide_some_items():
    a, b = World(WorldConfig(seed=3, n_classes=4)), World(WorldConfig(seed=3, n_classes=4))
    assert a.items == b.items and len(a.items) == 4 * len(VARIANTS)
    vague = [it for it in a.items if not it.informative]
    assert len(vague) == 4 and all(it.title.startswith("Take ") for it in vague)
    assert np.array_equal(a.sound(5), b.sound(5))
    rng1, rng2 = np.random.default_rng(0), np.random.default_rng(0)
    assert np.array_equal(a.draw(5, rng1), b.draw(5, rng2))
    # sizes differ by variant: a huge item covers more of a clean frame than a tiny one
    bg = np.zeros(3)
    tiny = a.draw(0, np.random.default_rng(0), clean=True, background=bg)
    huge = a.draw(3, np.random.default_rng(0), clean=True, background=bg)
    assert (huge.sum(axis=2) > 0).mean() > 4 * (tiny.sum(axis=2) > 0).mean()


def test_videos_cut_where_the_truth_says(tmp_path):
    from sfxkit.media.shots import detect_shots

    world = World(WorldConfig(n_classes=4, distractor=0.0))
    truth = world.write_videos(tmp_path, 1, seed=1, shots=4)
    shots = detect_shots(truth[0].video)
    assert len(shots) == 4
    assert np.allclose([s.start for s in shots], [t.start for t in truth], atol=0.05)
    assert world.truth_at(truth, truth[0].video, truth[2].start + 0.1) == truth[2].item


@pytest.mark.slow
def test_benchmark_quick_run_beats_chance(tmp_path):
    out = tmp_path / "bridge.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bridge_synthetic.py"), "--quick", "--out",
         str(out)],
        capture_output=True, text=True, timeout=900, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["trained"]["R@1"] > 3 * result["chance"]["R@1"]
    assert result["fused"]["MRR"] > result["chance"]["MRR"]
    assert "tiny encoders" in result["note"]
