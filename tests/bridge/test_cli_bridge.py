"""The bridge through the command line: describe, mine, train, calibrate, eval."""

from __future__ import annotations

import json

import pytest

from sfxkit.index.store import load_index
from tests.cli_run import in_process


def _run(capsys, *args: str) -> tuple[int, str]:
    code, out, err = in_process(capsys, *args)
    return code, out + err


def test_describe_mine_train_eval_from_the_command_line(
    capsys, index_copy, bridge_videos, tmp_path
):
    from tests.bridge.conftest import holdout_csv

    idx = str(index_copy)
    code, out = _run(capsys, "bridge", "describe", idx, "--json")
    assert code == 0, out
    assert json.loads(out)["describer"] == "template/2"

    code, out = _run(capsys, "bridge", "mine", idx, str(bridge_videos), "--per-shot", "2",
                     "--keep", "1.0", "--threshold", "none", "--json")  # fmt: skip
    assert code == 0, out
    mined = json.loads(out)
    assert mined["frames"] == 18 and mined["pairs"] > 0 and mined["untrained"]
    assert [f["video"].rsplit("/", 1)[1] for f in mined["failures"]] == ["broken.mp4"]
    assert (index_copy / "mined_pairs.parquet").is_file()
    assert (index_copy / "frame_pool" / "pool.json").is_file()

    hold = holdout_csv(tmp_path / "holdout.csv", bridge_videos, index_copy)
    code, out = _run(capsys, "bridge", "train", idx, "--holdout", str(hold), "--epochs", "15",
                     "--dim", "16", "--json")  # fmt: skip
    assert code == 0, out
    trained = json.loads(out)
    assert trained["calibration"]["labels"] == "labelled"
    assert "bridge" in load_index(index_copy, views=[]).manifest.views

    code, out = _run(capsys, "eval", idx, "--pairs", str(hold), "--out", str(tmp_path / "r.json"))
    assert code == 0, out
    assert "zero_shot" in out and "fused" in out and "UNTRAINED" in out
    report = json.loads((tmp_path / "r.json").read_text())
    assert set(report["results"]) == {"zero_shot", "trained", "fused"}

    code, out = _run(capsys, "bridge", "calibrate", idx, "--pairs", str(hold),
                     "--target-precision", "0.5")  # fmt: skip
    assert code == 0, out
    assert "calibration" in out

    # a calibrated index says, per frame query, whether anything is a confident match
    frame = tmp_path / "frame.png"
    from PIL import Image

    from tests import synth

    Image.fromarray(synth.draw_frame("circle", 64)).save(frame)
    code, out = _run(capsys, "recommend", str(frame), "--index", idx, "-k", "2", "--json")
    assert code == 0, out
    result = json.loads(out)["results"][0]
    # threshold is None when no score reached the target precision on this tiny world: then
    # nothing is ever called confident
    assert isinstance(result["confident"], bool) and "threshold" in result
    if result["threshold"] is None:
        assert result["confident"] is False
    assert len(result["recommendations"]) == 2  # best candidates even when not confident
    assert all(r["confidence"] is not None for r in result["recommendations"])
    code, out = _run(capsys, "recommend", str(frame), "--index", idx, "-k", "1")
    assert code == 0 and ("confident match" in out)


@pytest.mark.network
def test_describe_with_an_unreachable_endpoint_fails_cleanly(capsys, index_copy):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    version = load_index(index_copy, views=[]).version
    code, out = _run(capsys, "bridge", "describe", str(index_copy), "--describer", "openai",
                     "--model", "llama3.2", "--base-url", f"http://127.0.0.1:{port}/v1",
                     "--retries", "0", "--no-cache")  # fmt: skip
    assert code == 4 and "cannot connect" in out and "Traceback" not in out
    assert load_index(index_copy, views=[]).version == version


def test_bad_arguments_are_reported(capsys, index_copy, tmp_path):
    code, out = _run(capsys, "bridge", "describe", str(index_copy), "--describer", "openai")
    assert code == 2 and "--base-url" in out
    code, out = _run(capsys, "eval", str(index_copy), "--pairs", str(tmp_path / "nope.csv"))
    assert code == 2 and "no such pairs file" in out
    code, out = _run(capsys, "bridge", "train", str(index_copy))
    assert code == 2 and "mined_pairs.parquet" in out and "sfxkit bridge mine" in out
