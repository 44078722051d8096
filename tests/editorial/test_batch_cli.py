"""A folder of videos (resumable, bad videos reported, the rest finished) and the
`sfxkit soundtrack` command line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import soundfile as sf

from sfxkit.editorial import DONE_MARKER, soundtrack_batch
from sfxkit.errors import WeightsMissingError
from sfxkit.media.loudness import integrated_loudness, true_peak_dbtp
from tests import synth
from tests.cli_run import in_process

RETRIEVE = {"policy": "retrieve", "variant": "tiny_16k", "steps": 2}


run = in_process


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "videos"
    synth.make_video(root / "a.mp4", [("red", 1.0), ("checker", 1.0)], moving=True)
    synth.make_video(root / "sub" / "b.mp4", [("circle", 1.2)], moving=True)
    (root / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(400))
    (root / "notes.txt").write_text("not a video")
    return root


def test_batch_reports_bad_video_and_resumes(tiny_index, folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = soundtrack_batch(folder, tiny_index[0], out=out, **RETRIEVE)
    assert {i.video.name: i.status for i in first.items} == {
        "a.mp4": "done",
        "b.mp4": "done",
        "broken.mp4": "failed",
    }
    bad = first.failed[0]
    assert "broken.mp4" in bad.error and not (bad.out / DONE_MARKER).exists()
    for name in ("a", "sub__b"):
        assert (out / name / "mix.wav").is_file() and (out / name / DONE_MARKER).is_file()
        assert (out / name / f"{name.split('__')[-1]}_sfx.mp4").is_file()
    assert first.items[0].decisions["retrieve"] == 2  # a.mp4's two shots
    saved = json.loads((out / "batch_report.json").read_text())
    assert (saved["done"], saved["failed"]) == (2, 1)

    # A rerun skips the finished videos (their files untouched) and reports the bad one again.
    mix_b = out / "sub__b" / "mix.wav"
    stamp = mix_b.stat().st_mtime_ns
    second = soundtrack_batch(folder, tiny_index[0], out=out, **RETRIEVE)
    assert sorted(i.video.name for i in second.skipped) == ["a.mp4", "b.mp4"]
    assert [i.video.name for i in second.failed] == ["broken.mp4"]
    assert mix_b.stat().st_mtime_ns == stamp

    # A changed video, or changed settings, is done again.
    synth.make_video(folder / "a.mp4", [("stripes", 1.5)], moving=True)
    third = soundtrack_batch(folder, tiny_index[0], out=out, **RETRIEVE)
    assert {i.video.name: i.status for i in third.items if i.status != "failed"} == {
        "a.mp4": "done",
        "b.mp4": "skipped",
    }
    fourth = soundtrack_batch(folder, tiny_index[0], out=out, target_lufs=-16.0, **RETRIEVE)
    assert len(fourth.done) == 2


def test_batch_stops_on_a_setup_problem(tiny_index, folder: Path, tmp_path: Path) -> None:
    # Weights missing would fail every video the same way: raised, not reported per video.
    with pytest.raises(WeightsMissingError, match="sfxkit models pull"):
        soundtrack_batch(
            folder, tiny_index[0], out=tmp_path / "out", policy="generate", variant="small_16k"
        )


def test_cli_soundtrack_one_video_at_web_loudness(
    capsys: pytest.CaptureFixture[str], tiny_index, three_shots: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    code, stdout, err = run(
        capsys, "soundtrack", three_shots, "--index", tiny_index[0], "--out", out,
        "--policy", "retrieve", "--target", "-14", "--no-progress", "--json",
    )  # fmt: skip
    assert code == 0, err
    doc = json.loads(stdout)
    assert [s["decision"] for s in doc["shots"]] == ["retrieve"] * 3
    assert all(s["reason"].startswith("policy 'retrieve'") for s in doc["shots"])
    mix, sr = sf.read(doc["files"]["mix"], dtype="float32", always_2d=True)
    assert integrated_loudness(mix.T, sr) == pytest.approx(-14.0, abs=0.5)
    assert true_peak_dbtp(mix.T, sr) <= -1.0
    assert Path(doc["files"]["video"]).is_file() and doc["non_commercial"] is False

    code, stdout, _ = run(
        capsys, "soundtrack", three_shots, "--index", tiny_index[0], "--out", out,
        "--policy", "retrieve", "--force", "1=silence", "--no-progress",
    )  # fmt: skip
    assert code == 0
    assert "UNTRAINED" in stdout and "silence" in stdout and "-23.0" in stdout
    assert sorted(p.name for p in (out / "clips").iterdir()) == [
        "shot_000_retrieve.wav",
        "shot_002_retrieve.wav",
    ]


def test_cli_errors_and_batch_exit_code(
    capsys: pytest.CaptureFixture[str], tiny_index, three_shots: Path, folder: Path, tmp_path: Path
) -> None:
    base = ["soundtrack", three_shots, "--index", tiny_index[0], "--out", tmp_path / "o"]
    code, _, err = run(capsys, *base, "--policy", "maybe")
    assert code == 2 and "auto, retrieve, generate, blend" in err
    code, _, err = run(capsys, *base, "--force", "two=generate")
    assert code == 2 and "SHOT=DECISION" in err
    code, _, err = run(
        capsys, *base, "--force", "9=generate", "--policy", "retrieve", "--models", "tiny"
    )
    assert code == 2 and "numbered 0..2" in err

    code, stdout, _ = run(
        capsys, "soundtrack", folder, "--index", tiny_index[0], "--out", tmp_path / "b",
        "--policy", "retrieve", "--no-progress",
    )  # fmt: skip
    assert code == 1  # one video failed; the others are done
    assert "2 done, 0 skipped (already finished), 1 failed" in stdout
    assert "broken.mp4" in stdout
