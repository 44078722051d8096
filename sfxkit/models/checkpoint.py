"""Weight files read safely and strictly: the checks every sfxkit loader shares.

A checkpoint is refused, as one :class:`~sfxkit.errors.CheckpointError` line naming the file, when

- it cannot be read (truncated download, not a checkpoint at all);
- it is a pickle that references anything but tensors: loading it would run code, so it is refused
  outright (``torch.load(weights_only=True)``; the unsafe switch is never suggested);
- its keys differ from the model's: a missing, an unexpected or a wrong-shaped tensor (the message
  names the first one and counts the rest);
- a floating-point tensor holds NaN or infinity.

Every loader (open_clip, CLAP, laion-clap, aiSFX, and the MMAudio stack through
``sfxkit.generation.mmaudio.checkpoint``) goes through here, so "loads OK" always means every
tensor of the model came from the file, with the right shape and finite values.

Importing this module imports no torch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sfxkit.errors import CheckpointError

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

__all__ = [
    "IgnoredKeys",
    "check_finite",
    "check_layout",
    "load_into",
    "pull_fix",
    "read_checkpoint",
    "safetensors_layout",
    "tensor_dict",
]

Shape = tuple[int, ...]
_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


def pull_fix(model_id: str) -> str:
    """The fix for a bad file that ``sfxkit models pull`` can replace."""
    return f"delete it and fetch a fresh copy with `sfxkit models pull {model_id}`"


_ADVICE = (
    "weights_only",
    "weights only",
    "torch.load",
    "pytorch",
    "trusted source",
    "documentation",
)


def _first_sentence(exc: BaseException) -> str:
    """The informative part of a library error, without torch's advice about unsafe loading."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    plain = [ln for ln in lines if not any(a in ln.lower() for a in _ADVICE)]
    text = (plain or lines or [type(exc).__name__])[0]
    head = text.split(". ")[0].rstrip(".")
    if any(a in head.lower() for a in _ADVICE):
        head = "the file is not a plain tensor checkpoint"
    return head[:200]


def refusal(path: str | Path, exc: BaseException, fix: str) -> CheckpointError:
    """The error for a file torch or safetensors could not read, classified for the user."""
    text = str(exc)
    found = _GLOBAL.search(text)
    if found is not None or "unsupported global" in text.lower():
        what = f" (it references {found.group(1)})" if found else ""
        return CheckpointError(
            path,
            f"refused: loading this checkpoint would run code{what}; sfxkit loads plain tensors "
            "only",
            fix,
        )
    return CheckpointError(
        path,
        f"cannot read this checkpoint (truncated or not a checkpoint: {type(exc).__name__}: "
        f"{_first_sentence(exc)})",
        fix,
    )


def read_checkpoint(
    path: str | Path, *, fix: str, safe_globals: Sequence[Any] = (), mmap: bool = True
) -> Any:
    """The object stored in ``path``: a ``.safetensors`` file's tensors, or ``torch.load`` with
    ``weights_only=True`` (memory-mapped where the format allows, so entries a loader sets aside
    are never read in). ``safe_globals`` allows a few named non-tensor types (aiSFX's numpy
    scalars). Raises :class:`CheckpointError` for every failure."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "no such checkpoint file", fix)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path), device="cpu")
        with torch.serialization.safe_globals(list(safe_globals)):
            if mmap:
                try:
                    return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
                except RuntimeError as exc:
                    if "mmap" not in str(exc):
                        raise
            # Legacy (pre-zip) files cannot be memory-mapped; same safe loader, read in full.
            return torch.load(path, map_location="cpu", weights_only=True)
    except CheckpointError:
        raise
    except Exception as exc:  # torch, pickle, zip and safetensors errors alike
        raise refusal(path, exc, fix) from exc


def safetensors_layout(path: str | Path, *, fix: str) -> dict[str, Shape]:
    """Key → shape of a ``.safetensors`` file from its header alone (checks the file's length)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt") as handle:
            return {k: tuple(handle.get_slice(k).get_shape()) for k in handle.keys()}  # noqa: SIM118
    except Exception as exc:
        raise refusal(path, exc, fix) from exc


def tensor_dict(obj: Any, *, path: str | Path, fix: str, entry: str | None = None) -> dict:
    """``obj`` (or ``obj[entry]``) as a ``{name: tensor}`` dict, else a :class:`CheckpointError`."""
    import torch

    if entry is not None:
        if not isinstance(obj, Mapping) or not isinstance(obj.get(entry), Mapping):
            keys = list(obj)[:5] if isinstance(obj, Mapping) else type(obj).__name__
            raise CheckpointError(path, f"no '{entry}' state dict in this file (found {keys})", fix)
        obj = obj[entry]
    if not isinstance(obj, Mapping) or not obj:
        raise CheckpointError(
            path, f"expected a state dict of tensors, found {type(obj).__name__}", fix
        )
    for key, value in obj.items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(
                path, f"entry '{key}' is a {type(value).__name__}, not a tensor", fix
            )
    return dict(obj)


@dataclass(frozen=True)
class IgnoredKeys:
    """Checkpoint entries a module deliberately leaves unused, each accounted for.

    ``exact`` lists key → shape that must *all* be present with those shapes (the part of the
    reference's layout a module skips, e.g. the VAE encoder); ``prefixes`` names whole sub-trees
    of branches never built (e.g. Synchformer's audio branch). Keys that fit neither and are not
    the module's own are errors, so no checkpoint is ever half-loaded silently.
    """

    exact: Mapping[str, Shape] = field(default_factory=dict)
    prefixes: tuple[str, ...] = ()
    reason: str = ""


def _shape(x: Any) -> Shape:
    return tuple(int(n) for n in (x.shape if hasattr(x, "shape") else x))


def check_layout(
    state: Mapping[str, Any],
    expected: Mapping[str, Any],
    *,
    path: str | Path,
    what: str,
    fix: str,
    ignored: IgnoredKeys | None = None,
) -> list[str]:
    """Refuse ``state`` (key → tensor or shape) unless it has exactly ``expected``'s keys and
    shapes, apart from ``ignored``. Returns the keys set aside under ``ignored`` (sorted)."""
    ignored = ignored or IgnoredKeys()
    missing = [k for k in expected if k not in state]
    missing += [k for k in ignored.exact if k not in state]
    unexpected: list[str] = []
    wrong: list[tuple[str, Shape, Shape]] = []
    skipped: list[str] = []
    for key, value in state.items():
        if key in expected:
            want = _shape(expected[key])
        elif key in ignored.exact:
            want = _shape(ignored.exact[key])
            skipped.append(key)
        elif ignored.prefixes and key.startswith(ignored.prefixes):
            skipped.append(key)
            continue
        else:
            unexpected.append(key)
            continue
        if _shape(value) != want:
            wrong.append((key, _shape(value), want))
    if not (missing or unexpected or wrong):
        return sorted(skipped)
    if missing:
        first = f"missing tensor '{missing[0]}'"
    elif unexpected:
        first = f"unexpected tensor '{unexpected[0]}'"
    else:
        key, got, want = wrong[0]
        first = f"tensor '{key}' has shape {list(got)}, the model needs {list(want)}"
    counts = f"{len(missing)} missing, {len(unexpected)} unexpected, {len(wrong)} wrong-shaped"
    raise CheckpointError(path, f"does not match the {what}: {first} ({counts})", fix)


def check_finite(state: Mapping[str, Any], *, path: str | Path, fix: str) -> None:
    """Refuse a state dict with NaN or infinite values in any floating-point tensor."""
    import torch

    bad = [
        key
        for key, value in state.items()
        if isinstance(value, torch.Tensor)
        and value.is_floating_point()
        and value.device.type != "meta"
        and not bool(torch.isfinite(value).all())
    ]
    if bad:
        more = f" ({len(bad)} tensors in all)" if len(bad) > 1 else ""
        raise CheckpointError(path, f"tensor '{bad[0]}' holds NaN or infinite values{more}", fix)


def load_into(
    module: nn.Module,
    state: Mapping[str, torch.Tensor],
    *,
    path: str | Path,
    what: str,
    fix: str,
    ignored: IgnoredKeys | None = None,
    assign: bool = False,
) -> list[str]:
    """Check ``state`` against ``module`` (keys, shapes, finite values), then load it strictly.

    Returns the checkpoint keys set aside under ``ignored``."""
    own = module.state_dict()
    skipped = check_layout(state, own, path=path, what=what, fix=fix, ignored=ignored)
    use = {k: v for k, v in state.items() if k in own}
    check_finite(use, path=path, fix=fix)
    module.load_state_dict(use, strict=True, assign=assign)
    return skipped


def first_of(keys: Iterable[str]) -> str:
    """The first key in sorted order (for messages about a set of keys)."""
    return sorted(keys)[0]
