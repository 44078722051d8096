"""The `sfxkit` command line for the core job: build, info, verify, recommend; exit codes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from PIL import Image

from tests import ROOT, synth
from tests.cli_run import in_process

run = in_process


def test_build_info_verify_recommend(capsys, sfx_library, tmp_path):
    out = tmp_path / "idx"
    code, stdout, _ = run(
        capsys, "index", "build", sfx_library, "--out", out, "--models", "tiny", "--json"
    )
    assert code == 0
    report = json.loads(stdout)
    assert report["items"] == 8 and report["untrained"] is True
    assert [Path(f["path"]).name for f in report["failures"]] == ["corrupt.wav"]

    code, stdout, _ = run(capsys, "index", "info", out)
    assert code == 0 and "UNTRAINED" in stdout and "clip_text" in stdout and "8 items" in stdout

    code, stdout, _ = run(capsys, "index", "verify", out)
    assert code == 0 and stdout.startswith("OK")

    frame = tmp_path / "frame.png"
    Image.fromarray(synth.draw_frame("checker", 96)).save(frame)
    code, stdout, _ = run(capsys, "recommend", frame, "--index", out, "-k", "3", "--json")
    assert code == 0
    result = json.loads(stdout)
    recs = result["results"][0]["recommendations"]
    assert len(recs) == 3 and result["untrained"] is True and "meaningless" in result["note"]
    assert recs[0]["score"] >= recs[1]["score"] >= recs[2]["score"]

    code, stdout, _ = run(capsys, "recommend", frame, "--index", out, "-k", "2")
    ranks = [line.split()[0] for line in stdout.splitlines() if line.strip()]
    assert code == 0 and "UNTRAINED" in stdout and "1" in ranks and "2" in ranks

    code, stdout, _ = run(
        capsys, "recommend", "footsteps in gravel", "--text", "--index", out, "-k", "2", "--json"
    )
    assert code == 0 and len(json.loads(stdout)["results"][0]["recommendations"]) == 2

    video = synth.make_video(tmp_path / "v.mp4", [("red", 1.0), ("stripes", 1.0)], size=96)
    code, stdout, _ = run(capsys, "recommend", video, "--index", out, "-k", "1", "--json")
    assert code == 0 and len(json.loads(stdout)["shots"]) == 2
    code, stdout, _ = run(capsys, "recommend", f"{video}@0.5", "--index", out, "-k", "1", "--json")
    assert code == 0 and len(json.loads(stdout)["results"]) == 1


def test_errors_are_one_line_with_exit_codes(capsys, tiny_index, tmp_path):
    out, _ = tiny_index
    code, _, err = run(capsys, "recommend", tmp_path / "missing.png", "--index", out)
    assert code == 2 and "missing.png" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1

    code, _, err = run(capsys, "recommend", tmp_path / "x.png", "--index", tmp_path / "no-index")
    assert code == 5 and "sfxkit index build" in err

    broken = tmp_path / "broken"
    shutil.copytree(out, broken)
    rows = next((broken / "versions").glob("v*/rows.parquet"))
    rows.write_bytes(rows.read_bytes()[:-10])
    code, stdout, err = run(capsys, "index", "verify", broken)
    assert code == 5 and "rows.parquet" in stdout + err

    code, _, err = run(
        capsys, "index", "build", tmp_path / "nowhere", "--out", tmp_path / "o", "--models", "tiny"
    )
    assert code == 2 and "not a directory" in err


def test_console_script_runs_help():
    exe = Path(sys.executable).with_name("sfxkit")
    proc = subprocess.run([str(exe), "--help"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0
    for command in ("index", "recommend", "models"):
        assert command in proc.stdout
