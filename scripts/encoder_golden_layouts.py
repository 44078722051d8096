"""Key names and shapes of the real encoders' checkpoints, for tests that need no weights.

Dev tool, not part of the library. Writes ``tests/models/golden/layouts_real.json`` with

- ``open_clip_ViT-B-32``: open_clip's own factory building ViT-B-32 on the meta device (the
  architecture of ``laion/CLIP-ViT-B-32-laion2B-s34B-b79K``'s full-model checkpoint);
- ``clap_larger_clap_general``: transformers' ``ClapModel`` built on the meta device from
  ``tests/models/data/larger_clap_general_config.json``;
- ``aisfx_checkpoint``: every tensor of the real aiSFX ``checkpoint.pth`` inside the PyPI wheel
  ``aisfx==0.1.2`` (read with ``weights_only=True``), classifier heads included.

Only key/shape lists are committed. Usage::

    pip download --no-deps --only-binary=:all: aisfx==0.1.2 -d /tmp/aisfxwheel
    AISFX_WHEEL=/tmp/aisfxwheel/aisfx-0.1.2-py2.py3-none-any.whl python scripts/encoder_golden_layouts.py
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "tests" / "models" / "golden" / "layouts_real.json"
CLAP_CONFIG = REPO / "tests" / "models" / "data" / "larger_clap_general_config.json"


def layout(state: dict) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in state.items() if hasattr(v, "shape")}


def main() -> None:
    import open_clip
    from transformers import ClapConfig, ClapModel

    from sfxkit.models import aisfx

    clip = open_clip.create_model("ViT-B-32", device="meta")
    raw = json.loads(CLAP_CONFIG.read_text())
    raw.pop("_source")
    with torch.device("meta"):
        clap = ClapModel(ClapConfig(**raw))
    with zipfile.ZipFile(os.environ["AISFX_WHEEL"]) as zf:
        data = zf.read(aisfx.CHECKPOINT_MEMBER)
    with torch.serialization.safe_globals(aisfx._checkpoint_globals()):
        loaded = torch.load(io.BytesIO(data), map_location="meta", weights_only=True)
    state = loaded[0] if isinstance(loaded, (tuple, list)) else loaded
    doc = {
        "source": {
            "open_clip": f"open_clip_torch {open_clip.__version__} create_model('ViT-B-32')",
            "clap": "transformers ClapModel(larger_clap_general_config.json)",
            "aisfx": f"{aisfx.WHEEL_REQUIREMENT}:{aisfx.CHECKPOINT_MEMBER}",
        },
        "layouts": {
            "open_clip_ViT-B-32": layout(clip.state_dict()),
            "clap_larger_clap_general": layout(clap.state_dict()),
            "aisfx_checkpoint": layout(dict(state)),
        },
    }
    OUT.write_text(json.dumps(doc, indent=0, sort_keys=True) + "\n")
    print(OUT, {k: len(v) for k, v in doc["layouts"].items()})


if __name__ == "__main__":
    main()
