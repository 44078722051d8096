"""Where pretrained weights live on disk, how they are found offline, and the hub's offline switch.

One layout, used by ``SFXKIT_WEIGHTS_DIR`` and by the sfxkit cache (``<SFXKIT_CACHE>/weights``)::

    open_clip/<arch>/<tag>/open_clip_model.safetensors   (or open_clip_pytorch_model.bin)
    open_clip/hf-hub/<org>--<repo>/                        (open_clip_config.json + weights)
    clap/<org>--<name>/                                    (a ClapModel save_pretrained / snapshot)
    laion_clap/<checkpoint>.pt
    aisfx/<name>/model.safetensors                         (converted by `sfxkit models pull aisfx`)
    pe_av/<name>/                                          (a PeAudioVideoModel snapshot)
    mmaudio/...                                            (sfxkit.models.mmaudio_files)

Search order for a model: ``SFXKIT_WEIGHTS_DIR`` → ``<SFXKIT_CACHE>/weights`` → the library's own
cache (the Hugging Face hub cache that open_clip and transformers download into), read with
``local_files_only`` semantics. Nothing found → ``WeightsMissingError`` naming the model, the
sfxkit path where ``sfxkit models pull`` would put it, and every place searched.

Loading never touches the network: ``hub_offline()`` sets the hub's offline flag for the
duration of a load; ``sfxkit models pull`` is the one place that flips it off, for itself only.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sfxkit.config import get_settings
from sfxkit.errors import WeightsMissingError

if TYPE_CHECKING:  # pragma: no cover
    from sfxkit.models.spec import ModelSpec

__all__ = [
    "WeightsLocation",
    "expected_path",
    "hub_offline",
    "hub_online",
    "layout_path",
    "locate",
    "require",
    "search_roots",
]

SOURCE_WEIGHTS_DIR = "SFXKIT_WEIGHTS_DIR"
SOURCE_CACHE = "sfxkit cache"
SOURCE_HF_CACHE = "Hugging Face cache"
SOURCE_LOCAL = "local path"
SOURCE_BUILT_IN = "built in (random weights)"

# open_clip's own names for full-model checkpoints, safetensors first (open_clip.constants).
OPEN_CLIP_WEIGHT_NAMES = (
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.bin",
    "open_clip_pytorch_model.pth",
    "model.safetensors",
    "pytorch_model.bin",
)
AISFX_WEIGHTS_NAME = "model.safetensors"
CLAP_WEIGHT_NAMES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


@dataclass(frozen=True)
class WeightsLocation:
    """Where a model's weights were found: a checkpoint file or a model directory."""

    path: Path
    source: str

    def __str__(self) -> str:
        return f"{self.path} ({self.source})"


# ----------------------------------------------------------------------------- hub switch

_HUB_LOCK = threading.RLock()


@contextmanager
def hub_offline(offline: bool = True) -> Iterator[None]:
    """Force the Hugging Face hub (and so transformers and open_clip) offline, or online.

    huggingface_hub reads ``HF_HUB_OFFLINE`` once at import into ``constants.HF_HUB_OFFLINE``
    and checks that attribute before every request, so both are set for the duration.
    """
    from huggingface_hub import constants

    with _HUB_LOCK:
        old_flag = constants.HF_HUB_OFFLINE
        old_env = os.environ.get("HF_HUB_OFFLINE")
        constants.HF_HUB_OFFLINE = offline
        os.environ["HF_HUB_OFFLINE"] = "1" if offline else "0"
        try:
            yield
        finally:
            constants.HF_HUB_OFFLINE = old_flag
            if old_env is None:
                os.environ.pop("HF_HUB_OFFLINE", None)
            else:
                os.environ["HF_HUB_OFFLINE"] = old_env


def hub_online() -> AbstractContextManager[None]:
    """The one exception to offline: ``sfxkit models pull``."""
    return hub_offline(False)


# ----------------------------------------------------------------------------- layout


def search_roots() -> list[tuple[Path, str]]:
    """sfxkit's weight roots in search order, each with the name shown to users."""
    settings = get_settings()
    roots: list[tuple[Path, str]] = []
    if settings.weights_dir is not None:
        roots.append((settings.weights_dir, SOURCE_WEIGHTS_DIR))
    roots.append((settings.cache_dir / "weights", SOURCE_CACHE))
    return roots


def repo_dirname(repo: str) -> str:
    """``org/name`` → ``org--name`` (one directory level, like the hub cache)."""
    return repo.strip("/").replace("/", "--")


def layout_path(spec: ModelSpec, root: Path) -> Path:
    """Where ``spec``'s weights sit under a weights root (a directory, or a file for laion_clap)."""
    if spec.family == "open_clip":
        if spec.name.startswith("hf-hub:"):
            return root / "open_clip" / "hf-hub" / repo_dirname(spec.name[len("hf-hub:") :])
        return root / "open_clip" / spec.name / str(spec.pretrained)
    if spec.family == "clap":
        return root / "clap" / repo_dirname(spec.name)
    if spec.family == "laion_clap":
        return root / "laion_clap" / Path(spec.name).name
    if spec.family == "mmaudio":
        return root / "mmaudio"
    if spec.family in {"llm", "vlm"}:
        return root / spec.family / repo_dirname(spec.name)
    if spec.family == "aisfx":
        return root / "aisfx" / spec.name
    if spec.family == "pe_av":
        return root / "pe_av" / spec.name
    raise ValueError(f"no weights layout for family {spec.family!r}")  # pragma: no cover


def local_path(spec: ModelSpec) -> Path | None:
    """The user's own directory/file for path-style ids (``open_clip:local-dir:…``, ``clap:/…``)."""
    if spec.family == "open_clip" and spec.name.startswith("local-dir:"):
        return Path(spec.name[len("local-dir:") :])
    if spec.family == "clap" and spec.hf_repo is None and not spec.tiny:
        return Path(spec.name)
    if spec.family == "laion_clap" and Path(spec.name).is_absolute():
        return Path(spec.name)
    return None


def expected_path(spec: ModelSpec) -> Path:
    """The path named in errors: the user's own path, or where `sfxkit models pull` puts it."""
    own = local_path(spec)
    if own is not None:
        return own
    return layout_path(spec, get_settings().cache_dir / "weights")


# ----------------------------------------------------------------------------- checks


def find_checkpoint(folder: Path, preferred: Sequence[str] = OPEN_CLIP_WEIGHT_NAMES) -> Path | None:
    """The checkpoint file in a directory: a preferred name first, else any weights file."""
    if not folder.is_dir():
        return None
    for name in preferred:
        candidate = folder / name
        if candidate.is_file() and candidate.stat().st_size > 0:
            return candidate
    for pattern in ("*.safetensors", "*.bin", "*.pth", "*.pt"):
        found = sorted(p for p in folder.glob(pattern) if p.is_file() and p.stat().st_size > 0)
        if found:
            return found[0]
    return None


def open_clip_dir_ready(folder: Path) -> bool:
    return (folder / "open_clip_config.json").is_file() and find_checkpoint(folder) is not None


def clap_dir_ready(folder: Path) -> bool:
    return (folder / "config.json").is_file() and any(
        (folder / n).is_file() for n in CLAP_WEIGHT_NAMES
    )


def pe_av_dir_ready(folder: Path) -> bool:
    """A PE-AV snapshot: its config and safetensors weights (read from safetensors only)."""
    return (folder / "config.json").is_file() and any(
        (folder / n).is_file() for n in ("model.safetensors", "model.safetensors.index.json")
    )


def open_clip_tag_files(arch: str, tag: str) -> tuple[str | None, tuple[str, ...]]:
    """(hf repo, checkpoint names to look for, safetensors first) of an open_clip pretrained tag.

    open_clip's table writes ``org/repo/`` (default file name) or ``org/repo/file``.
    Imports open_clip.
    """
    import open_clip

    cfg = open_clip.get_pretrained_cfg(arch, tag) or {}
    hub = str(cfg.get("hf_hub") or "")
    parts = [p for p in hub.split("/") if p]
    if len(parts) < 2:
        return None, OPEN_CLIP_WEIGHT_NAMES
    repo = "/".join(parts[:2])
    filename = "/".join(parts[2:]) or "open_clip_pytorch_model.bin"
    names = [filename]
    if filename == "open_clip_pytorch_model.bin":
        names.insert(0, "open_clip_model.safetensors")
    elif filename.endswith((".bin", ".pth")):
        names.insert(0, filename[:-4] + ".safetensors")
    return repo, tuple(names)


def _in_root(spec: ModelSpec, root: Path) -> Path | None:
    where = layout_path(spec, root)
    if spec.family == "open_clip":
        if spec.name.startswith("hf-hub:"):
            return where if open_clip_dir_ready(where) else None
        return find_checkpoint(where, (*spec.files, *OPEN_CLIP_WEIGHT_NAMES))
    if spec.family == "clap":
        return where if clap_dir_ready(where) else None
    if spec.family == "laion_clap":
        return where if where.is_file() and where.stat().st_size > 0 else None
    if spec.family in {"llm", "vlm"}:
        return where if (where / "config.json").is_file() else None
    if spec.family == "pe_av":
        return where if pe_av_dir_ready(where) else None
    if spec.family == "aisfx":
        weights = where / AISFX_WEIGHTS_NAME
        return weights if weights.is_file() and weights.stat().st_size > 0 else None
    return None


def _in_hf_cache(spec: ModelSpec) -> Path | None:
    """The hub cache that open_clip / transformers download into, read without network."""
    if spec.hf_repo is None:
        return None
    from huggingface_hub import try_to_load_from_cache

    def cached(filename: str) -> Path | None:
        hit = try_to_load_from_cache(spec.hf_repo, filename)  # type: ignore[arg-type]
        return Path(hit) if isinstance(hit, str) else None

    if spec.family == "open_clip" and not spec.name.startswith("hf-hub:"):
        for name in spec.files:
            path = cached(name)
            if path is not None:
                return path
        return None
    marker = "open_clip_config.json" if spec.family == "open_clip" else "config.json"
    config = cached(marker)
    if config is None:
        return None
    folder = config.parent
    ready = {"open_clip": open_clip_dir_ready, "pe_av": pe_av_dir_ready}.get(
        spec.family, clap_dir_ready
    )(folder)
    return folder if ready else None


def locate(
    spec: ModelSpec,
    *,
    roots: Sequence[tuple[Path, str]] | None = None,
    library_cache: bool = True,
) -> WeightsLocation | None:
    """Where ``spec``'s weights are, searching in order; ``None`` if nowhere. Never downloads."""
    if spec.tiny:
        return WeightsLocation(Path(__file__).parent / "data", SOURCE_BUILT_IN)
    own = local_path(spec)
    if own is not None:
        ok = (
            open_clip_dir_ready(own)
            if spec.family == "open_clip"
            else clap_dir_ready(own)
            if spec.family == "clap"
            else own.is_file()
        )
        return WeightsLocation(own, SOURCE_LOCAL) if ok else None
    for root, label in search_roots() if roots is None else roots:
        hit = _in_root(spec, root)
        if hit is not None:
            return WeightsLocation(hit, label)
    if library_cache:
        hit = _in_hf_cache(spec)
        if hit is not None:
            return WeightsLocation(hit, SOURCE_HF_CACHE)
    return None


def require(spec: ModelSpec) -> WeightsLocation:
    """``locate`` or a ``WeightsMissingError`` that says where to put the weights and how."""
    found = locate(spec)
    if found is not None:
        return found
    raise missing_error(spec)


def missing_error(spec: ModelSpec) -> WeightsMissingError:
    own = local_path(spec)
    if own is not None:
        need = {
            "open_clip": "open_clip_config.json and open_clip_model.safetensors",
            "clap": "a transformers ClapModel (config.json + model.safetensors, preprocessor and tokenizer files)",
        }.get(spec.family, "the checkpoint file")
        return WeightsMissingError(
            spec.id,
            own,
            hint=f"That path must hold {need}; local paths are not pulled, copy them there.",
        )
    searched = [str(layout_path(spec, root)) for root, _ in search_roots()]
    if spec.hf_repo:
        searched.append(f"the Hugging Face cache ({spec.hf_repo})")
    hint = "Searched: " + "; ".join(searched) + "."
    return WeightsMissingError(spec.id, expected_path(spec), hint=hint)
