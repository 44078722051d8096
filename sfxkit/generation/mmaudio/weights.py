"""Loading the MMAudio flow network from its checkpoint (strictly, ``weights_only``).

Which files a variant needs, where they are found and how they are pulled is
``sfxkit.models.mmaudio_files``; this builds the network from the file it located.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sfxkit.generation.mmaudio.variants import get_variant

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from sfxkit.generation.mmaudio.network import FlowNetwork


def load_network(
    variant: str,
    path: str | Path,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
) -> FlowNetwork:
    """Build ``variant`` and load its checkpoint strictly (no missing, unexpected or mis-shaped
    key, no NaN/infinite value, no pickled code)."""
    from sfxkit.generation.mmaudio.checkpoint import load_strict, read_checkpoint, tensor_dict
    from sfxkit.generation.mmaudio.network import DERIVED_KEYS, build_network

    cfg = get_variant(variant)
    source = str(path)
    raw = read_checkpoint(path, model_id=cfg.model_id, what="MMAudio network")
    state = tensor_dict(
        raw, path=source, fix=f"re-download it with `sfxkit models pull {cfg.model_id}`"
    )
    for key in DERIVED_KEYS:  # recomputed at run time; older files carry them
        state.pop(key, None)
    # Built on the meta device and filled by assignment: no second copy of the weights in RAM.
    net = build_network(cfg, device="meta")
    load_strict(
        net,
        state,
        what=f"MMAudio {cfg.name} network",
        source=source,
        model_id=cfg.model_id,
        assign=True,
    )
    return net.to(device=device, dtype=dtype).eval()
