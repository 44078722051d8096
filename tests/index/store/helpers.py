"""Shared helpers for the store tests: small libraries, the CLI in a subprocess, re-hashing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sfxkit.index.store import IndexStore, sha256_bytes
from tests import ROOT, synth

SFXKIT = Path(sys.executable).with_name("sfxkit")


def small_library(root: Path, n: int = 3) -> Path:
    """``n`` short sounds (distinct content, so distinct items)."""
    makers = [
        lambda: synth.noise(1.0, band=(2000, 9000), seed=1),
        lambda: synth.clicks(1.0, 3.0),
        lambda: synth.tone(120, 1.0),
    ]
    for i in range(n):
        samples = makers[i]() if i < len(makers) else synth.noise(0.8, seed=100 + i)
        synth.write_audio(root / f"sound_{i:02d}.wav", samples)
    return root


def sfxkit(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The installed entry point, as a user runs it."""
    return subprocess.run(
        [str(SFXKIT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "SFXKIT_PROGRESS": "0", **(env or {})},
    )


def rehash(index: Path, rel: str, data: bytes) -> None:
    """Put ``data`` at ``rel`` in the current version and make the manifest and CURRENT agree,
    as someone with write access to the index could."""
    store = IndexStore(index)
    vdir, _ = store.current_version_dir()
    (vdir / rel).write_bytes(data)
    manifest = json.loads((vdir / "manifest.json").read_text())
    manifest["files"][rel] = {"sha256": sha256_bytes(data), "bytes": len(data)}
    raw = json.dumps(manifest, indent=2, sort_keys=True).encode()
    (vdir / "manifest.json").write_bytes(raw)
    (index / "CURRENT").write_text(f"{vdir.name} {sha256_bytes(raw)}\n")
