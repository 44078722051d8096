"""MMAudio weight files: what each variant needs, where they are found and how they are pulled.

Search order for a file ``NAME`` of the MMAudio stack:

1. ``<weights_dir>/mmaudio/NAME`` then ``<weights_dir>/NAME`` when a ``weights_dir`` is passed;
2. ``$SFXKIT_WEIGHTS_DIR/mmaudio/NAME``;
3. ``$SFXKIT_CACHE/weights/mmaudio/NAME`` (where ``sfxkit models pull mmaudio:<variant>`` writes).

Files that come from Hugging Face repositories other than MMAudio's live in a sub-folder named
after the repository (``bigvgan_v2_44khz_128band_512x/``, ``DFN5B-CLIP-ViT-H-14-384/``).

Licences: the MMAudio checkpoints are CC-BY-NC 4.0 (non-commercial); BigVGAN v2 is MIT; the
DFN5B CLIP weights are under Apple's sample-code licence. Every generated sound records the
network's licence in its provenance.

This is the files' side only, so that ``sfxkit.models`` (the registry, ``sfxkit models pull``)
can find and fetch them without importing ``sfxkit.generation``, which sits above it; the
network is built and loaded by ``sfxkit.generation.mmaudio.weights``. Which variants exist is
decided here from the name alone (``tests/generation/test_weights.py`` checks that this agrees
with ``sfxkit.generation.mmaudio.variants``).
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from sfxkit._atomic import fsync_dir
from sfxkit.errors import ModelError, WeightsMissingError

MMAUDIO_LICENCE = "CC-BY-NC-4.0"
LICENCE_NOTICE = (
    "MMAudio weights are licensed CC-BY-NC 4.0 (https://creativecommons.org/licenses/by-nc/4.0/): "
    "non-commercial use only, with attribution to MMAudio (Cheng et al., arXiv 2412.15322)."
)
SUBDIR = "mmaudio"

_HF_MMAUDIO = "https://huggingface.co/hkchengrex/MMAudio/resolve/main/weights"
_GH_RELEASE = "https://github.com/hkchengrex/MMAudio/releases/download/v0.1"
_HF_BIGVGAN = "https://huggingface.co/nvidia/bigvgan_v2_44khz_128band_512x/resolve/main"
_HF_CLIP = "https://huggingface.co/apple/DFN5B-CLIP-ViT-H-14-384/resolve/main"
BIGVGAN_V2_DIR = "bigvgan_v2_44khz_128band_512x"
CLIP_DIR = "DFN5B-CLIP-ViT-H-14-384"


@dataclass(frozen=True)
class WeightFile:
    """One file of the MMAudio stack."""

    role: str  # network | vae | vocoder | vocoder_config | synchformer | clip_weights | clip_config
    relpath: str  # path under the ``mmaudio`` weights folder
    url: str
    md5: str | None  # from the reference's download list; None where the source publishes none
    licence: str
    approx_size: str = ""
    alternatives: tuple[str, ...] = ()  # other accepted relpaths (e.g. a safetensors export)

    @property
    def name(self) -> str:
        return Path(self.relpath).name


def _mm(role: str, name: str, md5: str, size: str, base: str = _GH_RELEASE) -> WeightFile:
    return WeightFile(role, name, f"{base}/{name}", md5, MMAUDIO_LICENCE, size)


_NETWORK_FILES = {
    "small_16k": _mm(
        "network", "mmaudio_small_16k.pth", "af93cde404179f58e3919ac085b8033b", "601M", _HF_MMAUDIO
    ),
    "small_44k": _mm(
        "network", "mmaudio_small_44k.pth", "babd74c884783d13701ea2820a5f5b6d", "601M", _HF_MMAUDIO
    ),
    "medium_44k": _mm(
        "network", "mmaudio_medium_44k.pth", "5a56b6665e45a1e65ada534defa903d0", "2.4G", _HF_MMAUDIO
    ),
    "large_44k": _mm(
        "network", "mmaudio_large_44k.pth", "fed96c325a6785b85ce75ae1aafd2673", "3.9G", _HF_MMAUDIO
    ),
    "large_44k_v2": _mm(
        "network",
        "mmaudio_large_44k_v2.pth",
        "01ad4464f049b2d7efdaa4c1a59b8dfe",
        "3.9G",
        _HF_MMAUDIO,
    ),
}
VAE_16K = _mm("vae", "v1-16.pth", "69f56803f59a549a1a507c93859fd4d7", "655M")
VAE_44K = _mm("vae", "v1-44.pth", "fab020275fa44c6589820ce025191600", "1.2G")
VOCODER_16K = _mm("vocoder", "best_netG.pt", "eeaf372a38a9c31c362120aba2dde292", "429M")
SYNCHFORMER = _mm(
    "synchformer", "synchformer_state_dict.pth", "5b2f5594b0730f70e41e549b7c94390c", "907M"
)
# NVIDIA's 44.1 kHz BigVGAN v2 (MIT); the reference fetches it with from_pretrained, no md5.
VOCODER_44K = WeightFile(
    "vocoder",
    f"{BIGVGAN_V2_DIR}/bigvgan_generator.pt",
    f"{_HF_BIGVGAN}/bigvgan_generator.pt",
    None,
    "MIT",
    "489M",
)
VOCODER_44K_CONFIG = WeightFile(
    "vocoder_config", f"{BIGVGAN_V2_DIR}/config.json", f"{_HF_BIGVGAN}/config.json", None, "MIT"
)
# DFN5B CLIP ViT-H-14 at 384 px, loaded by open_clip from this folder.
CLIP_WEIGHTS = WeightFile(
    "clip_weights",
    f"{CLIP_DIR}/open_clip_pytorch_model.bin",
    f"{_HF_CLIP}/open_clip_pytorch_model.bin",
    None,
    "apple-amlr",
    "3.9G",
    alternatives=(f"{CLIP_DIR}/open_clip_model.safetensors",),
)
CLIP_CONFIG = WeightFile(
    "clip_config",
    f"{CLIP_DIR}/open_clip_config.json",
    f"{_HF_CLIP}/open_clip_config.json",
    None,
    "apple-amlr",
)


# The toy test variants: built with seeded random weights, never loaded from files.
_TINY_VARIANTS = ("tiny_16k", "tiny_44k")


def _variant_name(variant: str) -> str:
    """The plain name of an MMAudio variant (a ``"mmaudio:"`` prefix is accepted); raises
    :class:`ModelError` for a name that is neither a released nor a tiny variant."""
    name = variant.removeprefix("mmaudio:")
    if name not in _NETWORK_FILES and name not in _TINY_VARIANTS:
        known = ", ".join((*_NETWORK_FILES, *_TINY_VARIANTS))
        raise ModelError(f"unknown MMAudio variant '{variant}'; choose one of: {known}")
    return name


def _variant_mode(variant: str) -> str:
    """``"16k"`` or ``"44k"``: the sampling-rate mode of a variant, read from its name."""
    return "16k" if _variant_name(variant).endswith("_16k") else "44k"


def weight_files(variant: str, *, need_conditions: bool = True) -> tuple[WeightFile, ...]:
    """Every file a variant needs (empty for the tiny variants, which are built, not loaded).

    ``need_conditions=False`` leaves out the encoders (Synchformer, CLIP): decoding only."""
    name = _variant_name(variant)
    if name in _TINY_VARIANTS:
        return ()
    codec = (
        (VAE_16K, VOCODER_16K)
        if _variant_mode(name) == "16k"
        else (VAE_44K, VOCODER_44K, VOCODER_44K_CONFIG)
    )
    encoders = (SYNCHFORMER, CLIP_WEIGHTS, CLIP_CONFIG) if need_conditions else ()
    return (_NETWORK_FILES[name], *codec, *encoders)


def search_roots(weights_dir: str | Path | None = None) -> list[Path]:
    """Folders searched for MMAudio files, in order."""
    from sfxkit.config import get_settings

    roots: list[Path] = []
    if weights_dir is not None:
        base = Path(weights_dir).expanduser()
        roots += [base / SUBDIR, base]
    roots += [root / SUBDIR for root in get_settings().weight_roots()]
    return roots


def default_pull_dir() -> Path:
    from sfxkit.config import get_settings

    return get_settings().cache_dir / "weights" / SUBDIR


def _find(spec: WeightFile, roots: Sequence[Path]) -> Path | None:
    for root in roots:
        for rel in (spec.relpath, *spec.alternatives):
            candidate = root / rel
            if candidate.is_file():
                return candidate
    return None


def locate(
    variant: str, *, weights_dir: str | Path | None = None, need_conditions: bool = True
) -> dict[str, Path]:
    """Paths of every file ``variant`` needs, by role; raises :class:`WeightsMissingError`
    naming each missing file and the ``sfxkit models pull mmaudio:<variant>`` command."""
    name = _variant_name(variant)
    roots = search_roots(weights_dir)
    found: dict[str, Path] = {}
    missing: list[WeightFile] = []
    for spec in weight_files(name, need_conditions=need_conditions):
        path = _find(spec, roots)
        if path is None:
            missing.append(spec)
        else:
            found[spec.role] = path
    if missing:
        names = ", ".join(spec.relpath for spec in missing)
        where = " or ".join(str(r) for r in roots)
        raise WeightsMissingError(
            f"mmaudio:{name}",
            where,
            hint=f"Missing file(s): {names}. Licence of the MMAudio weights: CC-BY-NC 4.0.",
        )
    return found


# ------------------------------------------------------------------------------------ download


def _chunks(response, size: int) -> Iterator[bytes]:  # type: ignore[no-untyped-def]
    while True:
        block = response.read(size)
        if not block:
            return
        yield block


def download(
    spec: WeightFile, dest_dir: str | Path, *, progress: bool | None = True, timeout: float = 60.0
) -> Path:
    """Download one file into ``dest_dir / spec.relpath`` atomically, verifying its md5.

    The bytes go to a temporary name in the same folder and are renamed only after the checksum
    matched (and the data reached the disk), so a failed or interrupted download never leaves a
    file at the final name."""
    import urllib.error
    import urllib.request

    from sfxkit._progress import track

    final = Path(dest_dir) / spec.relpath
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}.part")
    chunk = 1 << 20
    digest = hashlib.md5(usedforsecurity=False)
    try:
        request = urllib.request.Request(spec.url, headers={"User-Agent": "sfxkit"})
        with urllib.request.urlopen(request, timeout=timeout) as response, open(tmp, "wb") as out:
            length = int(response.headers.get("Content-Length") or 0)
            total = -(-length // chunk) if length else None
            received = 0
            for block in track(
                _chunks(response, chunk),
                total=total,
                desc=spec.name,
                unit="MiB",
                enabled=None if progress else False,
            ):
                digest.update(block)
                out.write(block)
                received += len(block)
            out.flush()
            os.fsync(out.fileno())
        if length and received != length:
            raise ModelError(
                f"{spec.url}: download ended after {received} of {length} bytes; "
                f"nothing was written to {final}; run the pull again"
            )
        if spec.md5 is not None and digest.hexdigest() != spec.md5:
            raise ModelError(
                f"{spec.url}: checksum mismatch for {spec.name} (md5 {digest.hexdigest()}, "
                f"expected {spec.md5}); the download was discarded and nothing was written to "
                f"{final}; run the pull again, and if it repeats check for a proxy altering files"
            )
        os.replace(tmp, final)
        fsync_dir(final.parent)
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise ModelError(
            f"{spec.url}: download of {spec.name} failed ({exc}); check the network connection "
            f"(or download the file by hand into {final.parent})"
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return final


def pull(variant: str, *, dest: str | Path | None = None, progress: bool = True) -> list[Path]:
    """Download every file of ``variant`` that is not found yet; returns the paths of all of its
    files.

    ``dest`` is a weights root, as for every ``sfxkit models pull``: files go to
    ``<dest>/mmaudio/`` (default ``$SFXKIT_CACHE/weights/mmaudio``), where :func:`locate` looks
    when ``dest`` is ``SFXKIT_WEIGHTS_DIR`` or the cache. Downloads even when sfxkit is offline
    otherwise: this is the one explicit download step."""
    name = _variant_name(variant)
    target = Path(dest).expanduser() / SUBDIR if dest is not None else default_pull_dir()
    roots = [target, *search_roots()]
    paths: list[Path] = []
    for spec in weight_files(name):
        path = _find(spec, roots)
        if path is None:
            path = download(spec, target, progress=progress)
        paths.append(path)
    return paths
