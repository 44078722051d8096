"""Reading the MMAudio stack's checkpoint files: one strict reader for every module.

The network, the VAE, both BigVGAN vocoders and the Synchformer read their ``.pth`` files here
and load them through :func:`load_strict`, which refuses (one line naming the file and the first
bad key) a missing, unexpected or wrong-shaped tensor and NaN/infinite values; pickles that would
run code are refused before anything is built. The checks themselves are the ones every sfxkit
loader shares (``sfxkit.models.checkpoint``). Codec modules import this module; it imports none
of them, so the imports run one way: features → vae/bigvgan/synchformer → checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sfxkit.errors import WeightsMissingError
from sfxkit.models.checkpoint import (
    IgnoredKeys,
    check_finite,
    check_layout,
    load_into,
    pull_fix,
    tensor_dict,
)
from sfxkit.models.checkpoint import read_checkpoint as _read

if TYPE_CHECKING:  # pragma: no cover
    from torch import Tensor, nn

__all__ = [
    "IgnoredKeys",
    "check_finite",
    "check_layout",
    "fix_for",
    "load_strict",
    "read_checkpoint",
    "tensor_dict",
]

_GENERIC_FIX = (
    "check that it is the file for this model (v2 files need large_44k_v2) and re-download it "
    "with `sfxkit models pull mmaudio:VARIANT`"
)


def fix_for(model_id: str | None) -> str:
    return pull_fix(model_id) if model_id else _GENERIC_FIX


def read_checkpoint(path: str | Path, *, model_id: str, what: str) -> Any:
    """``torch.load(weights_only=True)`` (memory-mapped) with sfxkit's errors: a missing file is a
    :class:`WeightsMissingError`, an unreadable or code-carrying one a ``CheckpointError``."""
    path = Path(path)
    if not path.is_file():
        raise WeightsMissingError(model_id, path, hint=f"The {what} file '{path.name}' is missing.")
    return _read(path, fix=pull_fix(model_id))


def load_strict(
    module: nn.Module,
    state_dict: Mapping[str, Tensor],
    *,
    what: str,
    source: str,
    ignored: IgnoredKeys | None = None,
    model_id: str | None = None,
    assign: bool = False,
) -> list[str]:
    """Load ``state_dict`` into ``module`` with no missing, unexpected or mis-shaped key and only
    finite values. Returns the keys set aside under ``ignored`` (sorted)."""
    state = tensor_dict(state_dict, path=source, fix=fix_for(model_id))
    return load_into(
        module,
        state,
        path=source,
        what=f"{what} layout",
        fix=fix_for(model_id),
        ignored=ignored,
        assign=assign,
    )
