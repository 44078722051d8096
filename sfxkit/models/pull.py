"""``sfxkit models pull``: the one place that downloads weights.

Files come from the Hugging Face hub into the sfxkit layout (``sfxkit.models.weights``) under a
weights root (``<SFXKIT_CACHE>/weights`` or ``--dest``). Each model is fetched into a hidden
temporary directory beside its final place and renamed into it only when every file is there, so
a dropped connection never leaves a half model that later looks complete. A short connection
check runs first, so with no network the command fails in seconds with a clear message instead
of retrying for minutes. Already-present weights are not fetched again, only loaded to verify.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from sfxkit._atomic import fsync_dir
from sfxkit.config import get_settings
from sfxkit.errors import InputError, ModelError
from sfxkit.models import mmaudio_files, weights
from sfxkit.models.build import build_encoder
from sfxkit.models.spec import ModelSpec

__all__ = ["pull_spec"]

Echo = Callable[[str], None]


def _endpoint() -> str:
    from huggingface_hub import constants

    return os.environ.get("HF_ENDPOINT") or constants.ENDPOINT


def pull_spec(
    spec: ModelSpec,
    *,
    dest: Path | None = None,
    progress: bool = True,
    timeout: float = 10.0,
    echo: Echo | None = None,
) -> Path:
    say: Echo = echo or (lambda _msg: None)
    if spec.tiny:
        raise InputError(
            f"'{spec.id}' is built offline from seeded random weights; there is nothing to pull"
        )
    if weights.local_path(spec) is not None:
        raise InputError(
            f"'{spec.id}' names a local path; local models are not pulled — copy the files to "
            f"{weights.local_path(spec)}"
        )
    if spec.family == "mmaudio":
        return _pull_mmaudio(spec, dest=dest, progress=progress)
    if spec.family == "aisfx":
        return _pull_aisfx(spec, dest=dest, timeout=timeout, say=say)
    if spec.family == "laion_clap":
        from sfxkit.models.laionclap import import_laion_clap

        import_laion_clap()  # without the package the checkpoint could not be verified or used

    root = Path(dest).expanduser() if dest is not None else get_settings().cache_dir / "weights"
    roots = [(root, f"--dest {root}")] if dest is not None else None
    found = weights.locate(spec, roots=roots, library_cache=dest is None)
    if found is not None:
        say(f"{spec.id}: already present at {found.path} ({found.source}); verifying it loads")
        _verify(spec, found, say)
        return found.path

    if spec.hf_repo is None:
        raise ModelError(
            f"'{spec.id}' has no download source known to sfxkit (open_clip does not know this "
            f"pretrained tag); place its weights at {weights.layout_path(spec, root)}"
        )
    target = weights.layout_path(spec, root)
    with weights.hub_online(), _progress_bars(progress):
        files = _remote_files(spec, timeout)
        wanted = _choose_files(spec, files)
        say(f"{spec.id}: downloading {', '.join(wanted)} from {_endpoint()}/{spec.hf_repo}")
        if spec.family == "laion_clap":
            _download_file(spec.hf_repo, wanted[0], target, timeout)
            _fetch_support_repos(["roberta-base"], timeout, say)
        else:
            _download_dir(spec.hf_repo, wanted, target, timeout)
            if spec.family == "open_clip" and not spec.name.startswith("hf-hub:"):
                _fetch_support_repos(_open_clip_hf_text_repos(spec.name), timeout, say)
    found = weights.locate(spec, roots=[(root, "pulled")], library_cache=False)
    if found is None:  # pragma: no cover - the download wrote what locate looks for
        raise ModelError(f"{spec.id}: download finished but {target} is incomplete; run pull again")
    _verify(spec, found, say)
    return found.path


def _verify(spec: ModelSpec, where: weights.WeightsLocation, say: Echo) -> None:
    if spec.family in {"llm", "vlm"}:
        # Loading a multi-GB language model just to check it would cost more than the pull;
        # transformers checks the files when the describer loads them.
        import json

        json.loads((where.path / "config.json").read_text())
        say(f"{spec.id}: OK — config.json and weights at {where.path}")
        return
    encoder = build_encoder(spec, device="cpu", location=where)
    say(f"{spec.id}: OK — loads from {where.path} (embedding dim {encoder.dim})")


# ----------------------------------------------------------------------------- hub calls


def _remote_files(spec: ModelSpec, timeout: float) -> list[str]:
    """The repo's file list; doubles as a fast connectivity check (no retries, short timeout)."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    repo = str(spec.hf_repo)
    try:
        info = HfApi(endpoint=_endpoint()).model_info(repo, timeout=timeout, files_metadata=False)
    except GatedRepoError as exc:
        raise ModelError(
            f"{repo} is gated on the Hugging Face hub: accept its terms on the model page and log "
            "in (`hf auth login`), then pull again"
        ) from exc
    except RepositoryNotFoundError as exc:
        raise ModelError(
            f"no repository {repo!r} on {_endpoint()} for '{spec.id}'; check the model id"
        ) from exc
    except Exception as exc:
        raise _unreachable(spec, exc, timeout) from exc
    return [s.rfilename for s in (info.siblings or [])]


def _unreachable(spec: ModelSpec, exc: BaseException, timeout: float) -> ModelError:
    reason = f"{type(exc).__name__}: {exc}".strip()
    return ModelError(
        f"could not reach {_endpoint()} to pull '{spec.id}' ({reason}; timeout {timeout:g} s). "
        "`sfxkit models pull` needs network access: run it on a connected machine and copy the "
        f"weights directory ({get_settings().cache_dir / 'weights'}) here, or point "
        "SFXKIT_WEIGHTS_DIR at a copy; HF_ENDPOINT selects a mirror"
    )


def _choose_files(spec: ModelSpec, remote: Sequence[str]) -> list[str]:
    available = set(remote)
    if spec.family == "open_clip" and not spec.name.startswith("hf-hub:"):
        for name in spec.files:
            if name in available:
                return [name]
        raise ModelError(
            f"{spec.hf_repo} has none of {', '.join(spec.files)}; cannot pull '{spec.id}'"
        )
    if spec.family == "laion_clap":
        if spec.name not in available:
            listed = ", ".join(sorted(f for f in available if f.endswith(".pt"))[:12])
            raise ModelError(f"{spec.hf_repo} has no {spec.name!r}; it has: {listed}")
        return [spec.name]
    # A whole model directory: configs, tokenizer files and one weights format.
    support = [
        f
        for f in remote
        if "/" not in f and f.endswith((".json", ".txt", ".model")) and not f.startswith(".")
    ]
    safetensors = [f for f in remote if "/" not in f and f.endswith(".safetensors")]
    weight_files: list[str]
    if spec.family == "open_clip":
        preferred: list[str] = [
            f
            for f in ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
            if f in available
        ]
        weight_files = preferred[:1]
    elif spec.family == "pe_av":
        weight_files = safetensors  # PE-AV is read from safetensors only (no pickle)
    else:
        weight_files = safetensors or [
            f
            for f in remote
            if "/" not in f and f.startswith("pytorch_model") and f.endswith(".bin")
        ]
    if not weight_files:
        raise ModelError(
            f"{spec.hf_repo} has no loadable weights (.safetensors or .bin) for '{spec.id}'"
        )
    return sorted(set(support)) + weight_files


def _open_clip_hf_text_repos(arch: str) -> list[str]:
    """HF repos an open_clip architecture reads by name at build time (text config, tokenizer)."""
    import open_clip

    cfg = open_clip.get_model_config(arch) or {}
    text = cfg.get("text_cfg", {})
    return sorted({str(text[k]) for k in ("hf_tokenizer_name", "hf_model_name") if text.get(k)})


def _fetch_support_repos(repos: Sequence[str], timeout: float, say: Echo) -> None:
    """Configs and tokenizers (no weights) that a library loads by repo name, into the hub cache."""
    from huggingface_hub import snapshot_download

    for repo in repos:
        say(f"  also fetching the config/tokenizer of {repo} into the Hugging Face cache")
        try:
            snapshot_download(
                repo,
                allow_patterns=["*.json", "*.txt", "*.model"],
                etag_timeout=timeout,
                endpoint=_endpoint(),
            )
        except Exception as exc:
            raise ModelError(f"could not fetch the tokenizer/config repo {repo!r}: {exc}") from exc


def _download_dir(repo: str, files: Sequence[str], target: Path, timeout: float) -> None:
    from huggingface_hub import hf_hub_download

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.partial-{uuid.uuid4().hex[:8]}"
    try:
        for name in files:
            hf_hub_download(repo, name, local_dir=tmp, etag_timeout=timeout, endpoint=_endpoint())
        shutil.rmtree(tmp / ".cache", ignore_errors=True)  # the hub's resume bookkeeping
        _fsync_tree(tmp)
        _install(tmp, target)
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(
            f"download of {repo} failed ({type(exc).__name__}: {exc}); run pull again"
        ) from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _download_file(repo: str, name: str, target: Path, timeout: float) -> None:
    from huggingface_hub import hf_hub_download

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.partial-{uuid.uuid4().hex[:8]}"
    try:
        got = Path(
            hf_hub_download(repo, name, local_dir=tmp, etag_timeout=timeout, endpoint=_endpoint())
        )
        _fsync_tree(tmp)
        os.replace(got, target)
        fsync_dir(target.parent)
    except Exception as exc:
        raise ModelError(
            f"download of {repo}/{name} failed ({type(exc).__name__}: {exc}); run pull again"
        ) from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _install(tmp: Path, target: Path) -> None:
    """Rename a finished download into place; an incomplete earlier copy is moved aside first."""
    aside = None
    if target.exists():
        aside = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(target, aside)
    os.replace(tmp, target)
    fsync_dir(target.parent)
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())


@contextlib.contextmanager
def _progress_bars(enabled: bool) -> Iterator[None]:
    from huggingface_hub.utils import (
        are_progress_bars_disabled,
        disable_progress_bars,
        enable_progress_bars,
    )

    was_disabled = are_progress_bars_disabled()
    if enabled:
        enable_progress_bars()
    else:
        disable_progress_bars()
    try:
        yield
    finally:
        if was_disabled:
            disable_progress_bars()
        else:
            enable_progress_bars()


# ----------------------------------------------------------------------------- mmaudio


def _pull_mmaudio(spec: ModelSpec, *, dest: Path | None, progress: bool) -> Path:
    with weights.hub_online():
        paths = [Path(p) for p in mmaudio_files.pull(spec.name, dest=dest, progress=progress)]
    if not paths:
        raise ModelError(f"pulling '{spec.id}' returned no files")
    return Path(os.path.commonpath([str(p.parent) for p in paths]))


# ----------------------------------------------------------------------------- aisfx


def _pull_aisfx(spec: ModelSpec, *, dest: Path | None, timeout: float, say: Echo) -> Path:
    """The wheel from the package index (pip, no dependencies) → its checkpoint, checked against
    the pinned sha256 → converted once to ``model.safetensors`` in the sfxkit layout."""
    import hashlib
    import tempfile
    import zipfile

    from safetensors.torch import save

    from sfxkit._atomic import atomic_write_bytes
    from sfxkit.models import aisfx

    root = Path(dest).expanduser() if dest is not None else get_settings().cache_dir / "weights"
    found = weights.locate(spec, roots=[(root, f"--dest {root}" if dest else "sfxkit cache")])
    if found is not None:
        say(f"{spec.id}: already present at {found.path}; verifying it loads")
        _verify(spec, found, say)
        return found.path
    target = weights.layout_path(spec, root) / weights.AISFX_WEIGHTS_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".aisfx-wheel-") as tmp:
        say(
            f"{spec.id}: downloading the wheel {aisfx.WHEEL_REQUIREMENT} with pip (no dependencies)"
        )
        wheel = _pip_download(aisfx.WHEEL_REQUIREMENT, Path(tmp), timeout)
        try:
            with zipfile.ZipFile(wheel) as zf:
                data = zf.read(aisfx.CHECKPOINT_MEMBER)
        except (KeyError, zipfile.BadZipFile) as exc:
            raise ModelError(
                f"{wheel.name} has no readable {aisfx.CHECKPOINT_MEMBER} ({exc}); cannot pull '{spec.id}'"
            ) from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != aisfx.CHECKPOINT_SHA256:
        raise ModelError(
            f"{aisfx.CHECKPOINT_MEMBER} from {aisfx.WHEEL_REQUIREMENT} has sha256 {digest}, not the "
            f"pinned {aisfx.CHECKPOINT_SHA256}; the package index served a different file — "
            "nothing was written"
        )
    tensors = aisfx.convert_checkpoint(data)
    metadata = {
        "source": f"{aisfx.WHEEL_REQUIREMENT}:{aisfx.CHECKPOINT_MEMBER}",
        "sha256": digest,
        "licence": spec.licence,
    }
    atomic_write_bytes(target, save(tensors, metadata=metadata))
    say(f"{spec.id}: checkpoint sha256 OK, converted to {target}")
    where = weights.WeightsLocation(target, "pulled")
    _verify(spec, where, say)
    return target


def _pip_download(requirement: str, folder: Path, timeout: float) -> Path:
    """``pip download --no-deps`` one wheel into ``folder`` (PIP_INDEX_URL etc. select a mirror)."""
    import subprocess
    import sys

    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--no-input", "--quiet",
        "--timeout", f"{max(timeout, 1.0):g}", "--retries", "1", "-d", str(folder), requirement,
    ]  # fmt: skip
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=max(60.0, 12 * timeout))
    except subprocess.TimeoutExpired as exc:
        raise _pip_failed(requirement, f"pip did not finish within {exc.timeout:g} s") from exc
    except OSError as exc:
        raise _pip_failed(requirement, f"could not run pip: {exc}") from exc
    wheels = sorted(folder.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        tail = " ".join((proc.stderr or proc.stdout or "").strip().splitlines()[-3:])
        raise _pip_failed(requirement, f"pip exited with {proc.returncode}: {tail or 'no output'}")
    return wheels[0]


def _pip_failed(requirement: str, why: str) -> ModelError:
    return ModelError(
        f"could not download {requirement} from the Python package index ({why}). "
        "`sfxkit models pull aisfx` needs pip and access to PyPI (PIP_INDEX_URL selects a mirror); "
        f"or run it on a connected machine and copy {get_settings().cache_dir / 'weights'} "
        "here, or point SFXKIT_WEIGHTS_DIR at a copy"
    )
