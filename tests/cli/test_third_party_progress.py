"""Progress from the libraries underneath (transformers' "Loading weights ... N/N" bar while a
CLAP checkpoint loads) follows sfxkit's own: nothing with --no-progress, nothing in a log.
Through the installed entry point, with the tiny CLAP saved as a real checkpoint directory so
that it loads through transformers' from_pretrained as the pretrained one does."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests import synth

EXE = Path(sys.executable).with_name("sfxkit")
# tqdm's marks: "Loading weights:  40%|####      | 34/85 [00:00<00:00, 2813.50it/s]"
THIRD_PARTY = re.compile(r"Loading weights|Writing model shards|it/s\]|s/it\]|\|[#█ ]*\||\r")


@pytest.fixture(scope="module")
def clap_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sfxkit.config import TINY_AUDIO_MODEL
    from sfxkit.models.registry import build_encoder, parse_model_id

    folder = tmp_path_factory.mktemp("clap") / "tiny-clap"
    enc = build_encoder(parse_model_id(TINY_AUDIO_MODEL), device="cpu")
    enc.model.save_pretrained(str(folder))
    enc.feature_extractor.save_pretrained(str(folder))
    enc.tokenizer.save_pretrained(str(folder))
    return folder


def run(*args: object, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EXE), *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=600,
    )


def test_loading_clap_prints_no_third_party_progress(clap_checkpoint, tmp_path):
    lib = tmp_path / "lib"
    for i in range(3):
        synth.write_audio(lib / f"tone_{i}.wav", synth.tone(300 + 100 * i, 0.4))
    out = tmp_path / "idx"
    models = f"open_clip:tiny,clap:{clap_checkpoint}"

    build = run("index", "build", lib, "--out", out, "--models", models, "--no-progress")
    assert build.returncode == 0, build.stderr
    assert not THIRD_PARTY.search(build.stderr), build.stderr
    # --no-progress means no progress at all, sfxkit's own text batches included
    assert not re.search(r"^[\w ]+: \d+/\d+", build.stderr, re.M), build.stderr

    # progress on, stderr a log: sfxkit's plain lines only
    query = run("recommend", "a low tone", "--text", "--index", out, SFXKIT_PROGRESS="1")
    assert query.returncode == 0, query.stderr
    assert not THIRD_PARTY.search(query.stderr), query.stderr
