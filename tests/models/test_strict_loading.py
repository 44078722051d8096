"""Every encoder loader refuses every kind of bad checkpoint, naming the file.

open_clip (a checkpoint file in both of open_clip's formats, and an ``open_clip_config.json``
directory), CLAP through transformers (``model.safetensors`` and ``pytorch_model.bin`` saves),
aiSFX and laion-clap each read a file fabricated from a tiny model's state dict in the real
layout, spoiled one way at a time: a missing, an unexpected or a wrong-shaped tensor, a NaN, a
truncated file, and a pickle that would run code. The refusal is one line with the file's path
and (where there is one) the offending key; transformers never fills a tensor with random values
behind the user's back, and torch's advice to switch ``weights_only`` off never reaches them.
"""

from __future__ import annotations

import os
import shutil
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

from sfxkit.errors import CheckpointError, ModelError
from tests.models.conftest import save_clap_dir, save_open_clip_dir

KINDS = ("missing", "unexpected", "shape", "nan", "truncated", "code")


class RunsCode:
    """Unpickling this creates a directory: the proof that a loader ran the file's code."""

    marker = ""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.mkdir, (self.marker,))


@dataclass
class Case:
    state: dict[str, torch.Tensor]
    write: Callable[[dict[str, torch.Tensor], Path], Path]  # (state, folder) -> weights file
    load: Callable[[Path], Any]  # folder -> encoder
    key: str


def _tensors(module: Any) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone().contiguous() for k, v in module.state_dict().items()}


def _file(name: str, base: Path | None = None) -> Callable[[dict[str, torch.Tensor], Path], Path]:
    def write(state: dict[str, torch.Tensor], folder: Path) -> Path:
        if base is not None:
            shutil.copytree(base, folder, dirs_exist_ok=True)
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith(".safetensors"):
            from safetensors.torch import save_file

            save_file(state, str(path), metadata={"format": "pt"})
        else:
            torch.save(state, path)
        return path

    return write


def _open_clip_file(name: str) -> Callable[[Path], Case]:
    def make(scratch: Path) -> Case:
        from sfxkit.models.openclip import load_open_clip_checkpoint
        from sfxkit.models.tiny import build_tiny_open_clip, register_tiny_open_clip

        arch = register_tiny_open_clip()
        return Case(
            _tensors(build_tiny_open_clip()[0]),
            _file(name),
            lambda d: load_open_clip_checkpoint(
                arch, None, d / name, model_id="open_clip:x/y", device="cpu"
            ),
            "visual.conv1.weight",
        )

    return make


def _open_clip_dir(scratch: Path) -> Case:
    from sfxkit.models.openclip import load_open_clip_dir
    from sfxkit.models.tiny import build_tiny_open_clip

    model = build_tiny_open_clip()[0]
    base = save_open_clip_dir(model, scratch / "oc-base")
    (base / "open_clip_model.safetensors").unlink()
    return Case(
        _tensors(model),
        _file("open_clip_model.safetensors", base),
        lambda d: load_open_clip_dir(d, model_id="open_clip:hf-hub:org/x", device="cpu"),
        "text_projection",
    )


def _clap(name: str) -> Callable[[Path], Case]:
    def make(scratch: Path) -> Case:
        from sfxkit.models.clap import load_clap_dir
        from sfxkit.models.registry import build_encoder, parse_model_id

        encoder = build_encoder(parse_model_id("clap:tiny"))
        base = save_clap_dir(encoder, scratch / f"clap-base-{name}")
        (base / "model.safetensors").unlink()
        return Case(
            _tensors(encoder.model),
            _file(name, base),
            lambda d: load_clap_dir(d, model_id="clap:laion/larger_clap_general", device="cpu"),
            "audio_projection.linear1.weight",
        )

    return make


def _aisfx(scratch: Path) -> Case:
    from sfxkit.models.aisfx import build_tiny_aisfx, load_aisfx

    state = {
        k: v for k, v in _tensors(build_tiny_aisfx()).items() if "num_batches_tracked" not in k
    }
    return Case(
        state,
        _file("model.safetensors"),
        lambda d: load_aisfx(d / "model.safetensors", model_id="aisfx", device="cpu"),
        "conv_block2.conv1.weight",
    )


class _FakeClapModule:
    """Stands in for ``laion_clap.CLAP_Module`` (an optional extra not installed in CI): the
    checks under test are sfxkit's, around the package's model."""

    def __init__(self, **kwargs: Any) -> None:
        self.model = torch.nn.ModuleDict(
            {
                "audio_branch": torch.nn.ModuleDict(
                    {"patch_embed": torch.nn.ModuleDict({"proj": torch.nn.Conv2d(1, 128, 4, 4)})}
                ),
                "text_branch": torch.nn.Linear(8, 4),
            }
        )
        self.model_cfg = {"embed_dim": 4}


def _laion_clap(scratch: Path) -> Case:
    from sfxkit.models.laionclap import load_laion_clap

    return Case(
        {f"module.{k}": v for k, v in _tensors(_FakeClapModule().model).items()},
        _file("630k-audioset-best.pt"),
        lambda d: load_laion_clap(
            d / "630k-audioset-best.pt", model_id="laion_clap:x", device="cpu"
        ),
        "module.text_branch.weight",
    )


CASES: dict[str, Callable[[Path], Case]] = {
    "open_clip_safetensors": _open_clip_file("open_clip_model.safetensors"),
    "open_clip_bin": _open_clip_file("open_clip_pytorch_model.bin"),
    "open_clip_dir": _open_clip_dir,
    "clap_safetensors": _clap("model.safetensors"),
    "clap_bin": _clap("pytorch_model.bin"),
    "aisfx": _aisfx,
    "laion_clap": _laion_clap,
}


@pytest.fixture(autouse=True)
def _fake_laion_clap(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("laion_clap")
    module.CLAP_Module = _FakeClapModule  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "laion_clap", module)


@pytest.fixture(scope="module", params=list(CASES))
def case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Case:
    return CASES[request.param](tmp_path_factory.mktemp("base"))


def spoil(case: Case, kind: str, folder: Path) -> Path:
    state = dict(case.state)
    assert case.key in state, case.key
    if kind == "missing":
        del state[case.key]
    elif kind == "unexpected":
        state["zz_stray.weight"] = torch.zeros(2, 2)
    elif kind == "shape":
        state[case.key] = torch.zeros(*(n + 1 for n in state[case.key].shape))
    elif kind == "nan":
        state[case.key] = state[case.key].clone()
        state[case.key].view(-1)[0] = float("nan")
    path = case.write(state, folder)
    if kind == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif kind == "code":
        RunsCode.marker = str(folder / "code-ran")
        torch.save({**state, "payload": RunsCode()}, path)  # a pickle, whatever the file's name
    return path


def test_the_good_file_loads(case: Case, tmp_path: Path) -> None:
    case.write(case.state, tmp_path)
    assert case.load(tmp_path).dim > 0


@pytest.mark.parametrize("kind", KINDS)
def test_bad_file_is_refused_naming_it(case: Case, kind: str, tmp_path: Path) -> None:
    path = spoil(case, kind, tmp_path)
    with pytest.raises(ModelError) as err:
        case.load(tmp_path)
    msg = str(err.value)
    assert isinstance(err.value, CheckpointError), msg
    assert "\n" not in msg and msg.startswith(f"{path}: "), msg
    if kind in {"missing", "unexpected", "shape", "nan"}:
        key = "zz_stray.weight" if kind == "unexpected" else case.key
        # laion-clap checkpoints carry DistributedDataParallel's "module." prefix; the model not
        key = key.removeprefix("module.")
        assert f"'{key}'" in msg, msg
    if kind == "nan":
        assert "NaN" in msg
    if kind == "truncated" or (kind == "code" and path.suffix == ".safetensors"):
        assert "cannot read" in msg  # a pickle named .safetensors is never unpickled at all
    elif kind == "code":
        assert "would run code" in msg and "weights_only" not in msg
    assert not (tmp_path / "code-ran").exists()
