"""Fabricate a Hugging Face hub cache entry exactly as huggingface_hub's downloads leave it:
``models--org--repo/refs/main`` naming the revision, the files as content-addressed
``blobs/<sha256>``, and ``snapshots/<revision>/<name>`` relative symlinks into the blobs."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

REVISION = "ada0c23a36c4e8582805bb38fec3905903f18b41"  # any 40-hex commit id


def put_repo(cache: Path, repo: str, files: Mapping[str, bytes], revision: str = REVISION) -> Path:
    """Write ``files`` (name -> bytes) into ``cache`` for ``repo``; returns the snapshot folder."""
    base = cache / f"models--{repo.replace('/', '--')}"
    (base / "refs").mkdir(parents=True, exist_ok=True)
    (base / "refs" / "main").write_text(revision)
    blobs = base / "blobs"
    blobs.mkdir(exist_ok=True)
    snapshot = base / "snapshots" / revision
    for name, data in files.items():
        blob = blobs / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    return snapshot


def read_dir(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
