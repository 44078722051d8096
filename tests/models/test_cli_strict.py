"""`sfxkit models pull` over bad weights, through the installed entry point: a checkpoint that is
not exactly the model fails with one line naming the file, never "OK"; a checkpoint that would
run code is refused as such, without torch's advice to turn the safety off."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from sfxkit.config import DEFAULT_AUDIO_MODEL, DEFAULT_FRAME_MODEL
from sfxkit.errors import ModelError
from sfxkit.models import weights
from sfxkit.models.registry import parse_model_id
from tests.models.conftest import save_clap_dir


def sfxkit(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = str(Path(sys.executable).with_name("sfxkit"))
    env = {**os.environ, "SFXKIT_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    env.pop("SFXKIT_WEIGHTS_DIR", None)
    return subprocess.run(
        [exe, *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
        check=False,
    )


def error_lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return [ln for ln in proc.stderr.splitlines() if ln.strip()]


def test_pull_over_a_clap_save_with_a_renamed_projection_fails(audio_encoder, tmp_path: Path):
    from safetensors.torch import load_file, save_file

    dest = tmp_path / "weights"
    folder = save_clap_dir(
        audio_encoder, weights.layout_path(parse_model_id(DEFAULT_AUDIO_MODEL), dest)
    )
    file = folder / "model.safetensors"
    state = load_file(str(file))
    state["audio_projection.linear1.weight_renamed"] = state.pop("audio_projection.linear1.weight")
    save_file(state, str(file), metadata={"format": "pt"})

    proc = sfxkit("models", "pull", DEFAULT_AUDIO_MODEL, "--dest", dest, cwd=tmp_path)
    assert proc.returncode == ModelError.exit_code, proc.stderr
    assert "OK" not in proc.stdout + proc.stderr
    last = error_lines(proc)[-1]
    assert last.startswith(f"sfxkit: error: {file}: "), proc.stderr
    assert "missing tensor 'audio_projection.linear1.weight'" in last
    assert "1 unexpected" in last


class RunsCode:
    marker = ""

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_pull_refuses_a_checkpoint_that_would_run_code_in_one_line(tmp_path: Path):
    dest = tmp_path / "weights"
    spec = parse_model_id(DEFAULT_FRAME_MODEL)
    file = weights.layout_path(spec, dest) / "open_clip_pytorch_model.bin"
    file.parent.mkdir(parents=True)
    RunsCode.marker = str(tmp_path / "code-ran")
    torch.save({"visual.conv1.weight": torch.zeros(1), "x": RunsCode()}, file)

    proc = sfxkit("models", "pull", DEFAULT_FRAME_MODEL, "--dest", dest, cwd=tmp_path)
    assert proc.returncode == ModelError.exit_code, proc.stderr
    errors = [ln for ln in error_lines(proc) if ln.startswith("sfxkit: error:")]
    assert len(errors) == 1 and error_lines(proc)[-1] == errors[0], proc.stderr
    line = errors[0]
    assert line.startswith(
        f"sfxkit: error: {file}: refused: loading this checkpoint would run code"
    )
    assert "posix.mkdir" in line
    # torch's own advice is to switch the safety off; sfxkit never passes that on
    assert "weights_only" not in proc.stderr and "will likely succeed" not in proc.stderr
    assert not (tmp_path / "code-ran").exists()


def test_pull_aisfx_over_a_truncated_file_names_it(tmp_path: Path):
    from safetensors.torch import save_file

    from sfxkit.models.aisfx import build_aisfx_net

    dest = tmp_path / "weights"
    file = weights.layout_path(parse_model_id("aisfx"), dest) / weights.AISFX_WEIGHTS_NAME
    file.parent.mkdir(parents=True)
    state = {k: v for k, v in build_aisfx_net(8).state_dict().items() if "num_batches" not in k}
    save_file(state, str(file))
    file.write_bytes(file.read_bytes()[:-100])

    proc = sfxkit("models", "pull", "aisfx", "--dest", dest, cwd=tmp_path)
    assert proc.returncode == ModelError.exit_code, proc.stderr
    last = error_lines(proc)[-1]
    assert last.startswith(f"sfxkit: error: {file}: cannot read this checkpoint (truncated")
    assert "sfxkit models pull aisfx" in last and "unexpected error" not in proc.stderr
