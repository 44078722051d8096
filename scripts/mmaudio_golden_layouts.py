"""Key names and shapes of the MMAudio codecs and Synchformer at their REAL configurations, from
the reference implementation built on PyTorch's meta device (no memory, no weights).

Dev tool, not part of the library. It imports the reference (hkchengrex/MMAudio at the commit
pinned in ``mmaudio_golden_codecs.py``, MIT licence) from a local checkout, builds

- the VAE at both released configurations (``VAE_16k``, ``VAE_44k``: ``v1-16.pth``, ``v1-44.pth``),
- the 16 kHz BigVGAN from the reference's own ``bigvgan_vocoder.yml`` (``best_netG.pt``),
- BigVGAN v2 from ``nvidia/bigvgan_v2_44khz_128band_512x``'s config numbers (the reference fetches
  that file from the hub; the numbers are sfxkit's ``BIGVGAN_V2_44K``, the architecture code is
  the reference's),
- Synchformer's visual branch (``synchformer_state_dict.pth``; the file's other branches are not
  built by the reference either),

and writes only their ``{key: shape}`` lists to ``tests/generation/golden/layouts_real.json``.
``tests/generation/test_real_layouts.py`` loads sfxkit's modules from meta tensors of exactly
these shapes through sfxkit's strict loaders.

Usage::

    pip install --target /tmp/refdeps omegaconf requests
    MMAUDIO_REF=/path/to/MMAudio PYTHONPATH=/tmp/refdeps python scripts/mmaudio_golden_layouts.py
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mmaudio_golden_codecs import REFERENCE_COMMIT, REPO, import_reference  # noqa: E402

OUT = REPO / "tests" / "generation" / "golden" / "layouts_real.json"


def layout(module: torch.nn.Module) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in module.state_dict().items()}


def main() -> None:
    ref = import_reference()
    from omegaconf import OmegaConf

    from sfxkit.generation.mmaudio.bigvgan_v2 import BIGVGAN_V2_44K

    ref_root = Path(sys.modules["mmaudio"].__file__).parent
    with torch.device("meta"):
        vae16 = ref.vae.VAE_16k()
        vae44 = ref.vae.VAE_44k()
        cfg16 = OmegaConf.load(ref_root / "ext" / "bigvgan" / "bigvgan_vocoder.yml")
        voc16 = ref.bigvgan.BigVGANVocoder(cfg16)
        v2 = {
            k: (list(v) if isinstance(v, tuple) else v)
            for k, v in dataclasses.asdict(BIGVGAN_V2_44K).items()
        }
        v2["resblock_dilation_sizes"] = [list(d) for d in BIGVGAN_V2_44K.resblock_dilation_sizes]
        voc44 = ref.bigvgan_v2.BigVGAN(ref.AttrDict(v2), use_cuda_kernel=False)
    # MotionFormer calls .item() while it is built, which the meta device cannot do: built on the
    # CPU instead (about 0.4 GB for a moment).
    sync = ref.synchformer.Synchformer()
    doc = {
        "source": f"hkchengrex/MMAudio@{REFERENCE_COMMIT}, built on the meta device",
        "layouts": {
            "vae_16k": layout(vae16),
            "vae_44k": layout(vae44),
            "bigvgan_16k": layout(voc16),
            "bigvgan_v2_44k": layout(voc44),
            "synchformer": layout(sync),
        },
    }
    OUT.write_text(json.dumps(doc, indent=0, sort_keys=True) + "\n")
    print(OUT, {k: len(v) for k, v in doc["layouts"].items()})


if __name__ == "__main__":
    main()
