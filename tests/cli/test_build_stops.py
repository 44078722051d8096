"""A build stopped from outside, through the installed entry point: SIGTERM (what `kill`,
`timeout`, docker and systemd send) is handled like Ctrl-C: one line, exit 143, the previous
version kept and no staging folder left behind."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

from sfxkit.index.build import build_index
from sfxkit.index.store import load_index
from tests import synth

EXE = Path(sys.executable).with_name("sfxkit")


def tones(folder: Path, n: int, start: int = 0) -> Path:
    for i in range(start, start + n):
        synth.write_audio(folder / f"tone_{i:03d}.wav", synth.tone(200 + 15 * i, 0.4))
    return folder


def litter(out: Path) -> list[str]:
    """What a build leaves behind when it stops: its stage and a first build's hidden folder."""
    found = list(out.parent.glob(f".{out.name}.sfxkit-new-*"))
    found += list((out / "versions").glob(".stage-*")) if out.is_dir() else []
    found += list((out / "versions").glob("*/.scratch")) if out.is_dir() else []
    return sorted(p.name for p in found)


def build_until_ingesting(lib: Path, out: Path) -> tuple[subprocess.Popen[str], queue.Queue[str]]:
    proc = subprocess.Popen(
        [str(EXE), "index", "build", str(lib), "--out", str(out), "--models", "tiny"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "SFXKIT_PROGRESS": "1", "SFXKIT_PROGRESS_INTERVAL": "0"},
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stderr], daemon=True).start()
    while True:  # wait until the build is really decoding files, inside its stage
        line = lines.get(timeout=120)
        if line.startswith("ingest: ") and not line.startswith("ingest: 0/"):
            return proc, lines


def stop_with_sigterm(proc: subprocess.Popen[str], lines: queue.Queue[str]) -> tuple[int, str]:
    try:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=120)
    finally:
        proc.kill()
    err = []
    while True:
        try:
            err.append(lines.get(timeout=2))
        except queue.Empty:
            return code, "".join(err)


def test_sigterm_during_a_first_build_leaves_nothing(tmp_path):
    lib, out = tones(tmp_path / "lib", 80), tmp_path / "idx"
    proc, lines = build_until_ingesting(lib, out)
    assert litter(out), "the build should be staging its index when it is stopped"
    code, err = stop_with_sigterm(proc, lines)
    assert code == 143, err
    assert "sfxkit: error: terminated (SIGTERM)" in err and "Traceback" not in err
    assert not out.exists() and litter(out) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lib"]


def test_sigterm_during_an_incremental_build_keeps_the_previous_version(tmp_path):
    lib, out = tones(tmp_path / "lib", 4), tmp_path / "idx"
    build_index(lib, out, models="tiny", progress=False)
    tones(lib, 80, start=4)
    proc, lines = build_until_ingesting(lib, out)
    assert litter(out), "the build should be staging its version when it is stopped"
    code, err = stop_with_sigterm(proc, lines)
    assert code == 143, err
    assert "terminated (SIGTERM)" in err and "Traceback" not in err
    assert litter(out) == []
    loaded = load_index(out)
    assert loaded.manifest.version == 1 and loaded.manifest.row_count == 4
    assert sorted(p.name for p in (out / "versions").iterdir()) == ["v000001"]
