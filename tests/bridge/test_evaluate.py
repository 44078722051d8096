"""Evaluation: the metrics, the pairs loader (incl. VGGSound-style CSVs), the report and CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from sfxkit.bridge.evaluate import (
    EvalPair,
    evaluate,
    load_eval_pairs,
    rank_metrics,
    resolve_targets,
)
from sfxkit.errors import InputError
from sfxkit.index.store import load_index


def test_rank_metrics_on_a_known_ranking():
    scores = np.array(
        [
            [0.9, 0.1, 0.2, 0.3],  # target 0 at rank 1
            [0.9, 0.8, 0.7, 0.1],  # target 2 at rank 3
            [0.1, 0.2, 0.3, 0.4],  # target 0 at rank 4
            [0.5, 0.5, 0.5, 0.5],  # a tie counts against the target: rank 1 still (no one above)
        ]
    )
    targets = np.array([0, 2, 0, 3])
    m = rank_metrics(scores, targets, ks=(1, 3))
    assert m["queries"] == 4
    assert m["R@1"] == pytest.approx(2 / 4)
    assert m["R@3"] == pytest.approx(3 / 4)
    assert m["MRR"] == pytest.approx((1 + 1 / 3 + 1 / 4 + 1) / 4)
    assert m["median_rank"] == pytest.approx(2.0)
    cats = rank_metrics(scores, np.array([-1, -1, -1, -1]), item_categories=["a", "b", "a", "c"],
                        target_categories=["a", "c", "b", None], ks=(1, 2))  # fmt: skip
    assert cats["category_queries"] == 3 and "R@1" not in cats
    assert cats["category_hit@1"] == pytest.approx(1 / 3)  # only query 0 (item 0 is "a")
    assert cats["category_hit@2"] == pytest.approx(1 / 3)


def test_pairs_csv_with_headers_paths_and_midpoints(tmp_path):
    (tmp_path / "clips").mkdir()
    csv = tmp_path / "pairs.csv"
    csv.write_text(
        "Video_Path,start,end,SFX\n"
        "clips/a.mp4,1.0,3.0,Door_Slam.wav\n"
        "/abs/b.mp4,0,,0123456789abcdef\n"
    )
    pairs = load_eval_pairs(csv)
    assert pairs[0] == EvalPair(str(tmp_path / "clips" / "a.mp4"), 2.0, "Door_Slam.wav", None)
    assert pairs[1] == EvalPair("/abs/b.mp4", 0.0, "0123456789abcdef", None)
    rooted = load_eval_pairs(csv, video_root=tmp_path / "elsewhere")
    assert rooted[0].video == str(tmp_path / "elsewhere" / "clips" / "a.mp4")
    (tmp_path / "bad.csv").write_text("clip,sfx\nx.mp4,y.wav\n")
    with pytest.raises(InputError, match="no time column"):
        load_eval_pairs(tmp_path / "bad.csv")
    (tmp_path / "nohead.csv").write_text("x.mp4,1.0,y.wav,extra,more\n")
    with pytest.raises(InputError, match="header"):
        load_eval_pairs(tmp_path / "nohead.csv")


def test_vggsound_csv_without_header(tmp_path):
    root = tmp_path / "vgg"
    root.mkdir()
    (root / "abc123_000030.mp4").write_bytes(b"")  # a pre-cut clip exists for this row only
    csv = tmp_path / "vggsound.csv"
    csv.write_text("abc123,30,dog barking,test\nzzz999,12,rain,test\n")
    pairs = load_eval_pairs(csv, video_root=root)
    assert pairs[0] == EvalPair(str(root / "abc123_000030.mp4"), 5.0, None, "dog barking")
    assert pairs[1] == EvalPair(str(root / "zzz999.mp4"), 17.0, None, "rain")


def test_targets_resolve_by_id_path_and_file_name(tiny_index):
    idx = load_index(tiny_index[0], views=[])
    row = idx.rows.iloc[2]
    pairs = [
        EvalPair("v.mp4", 0.0, row["id"]),
        EvalPair("v.mp4", 0.0, row["path"]),
        EvalPair("v.mp4", 0.0, row["path"].rsplit("/", 1)[1]),
        EvalPair("v.mp4", 0.0, "no_such_sound.wav"),
        EvalPair("v.mp4", 0.0, None, "weather"),
    ]
    assert resolve_targets(pairs, idx).tolist() == [2, 2, 2, -1, -1]


def test_evaluate_reports_every_mode_side_by_side(index_copy, tiny_pool, bridge_videos, tmp_path):
    from sfxkit.bridge.train import TrainConfig, train_bridge
    from tests.bridge.conftest import holdout_csv, labelled_pairs

    hold = holdout_csv(tmp_path / "holdout.csv", bridge_videos, index_copy)
    zero = evaluate(index_copy, hold, progress=False)
    assert list(zero.results) == ["zero_shot"], "no heads yet: zero-shot only"
    train_bridge(index_copy, labelled_pairs(index_copy, tiny_pool), pool=tiny_pool.pool,
                 holdout=hold, config=TrainConfig(dim=16, hidden=32, max_epochs=20, seed=0),
                 progress=False)  # fmt: skip
    csv = tmp_path / "test.csv"
    lines = pd.read_csv(hold)
    lines.loc[len(lines)] = ["v0.mp4", 0.5, "not_in_catalog.wav"]
    lines.loc[len(lines)] = ["missing.mp4", 0.5, lines.iloc[0]["sfx"]]
    lines.to_csv(csv, index=False)
    report = evaluate(index_copy, csv, progress=False)
    assert list(report.results) == ["zero_shot", "trained", "fused"]
    assert report.pairs == len(lines) and report.evaluated == len(lines) - 2
    assert len(report.skipped) == 2
    for res in report.results.values():
        assert set(res) >= {"R@1", "R@5", "R@10", "MRR", "median_rank", "category_hit@1"}
        assert 0 <= res["R@1"] <= res["R@5"] <= res["R@10"] <= 1
    assert report.untrained and report.notes
    assert report.calibration is not None and 0 <= report.calibration["ece"] <= 1
    table = report.table()
    assert "zero_shot" in table and "trained" in table and "fused" in table and "MRR" in table
    data = json.loads(json.dumps(report.to_dict(), default=str))
    assert data["results"]["fused"]["R@1"] == report.results["fused"]["R@1"]
    assert data["chance"]["R@1"] == pytest.approx(1 / 8)
