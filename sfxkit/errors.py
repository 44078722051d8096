"""One exception tree for sfxkit.

Every message says what went wrong *and what to do next*: the file or thing to check, the valid
options, or the exact command that fixes it. The CLI prints ``str(error)`` as one line and maps
each class to an exit code (see ``EXIT_CODES``).
"""

from __future__ import annotations

from pathlib import Path


class SfxkitError(Exception):
    """Base of every error sfxkit raises on purpose."""

    exit_code = 1


class InputError(SfxkitError, ValueError):
    """A user-supplied argument or file is unusable."""

    exit_code = 2


class MediaError(InputError):
    """A media file could not be read. Names the file and the reason."""

    def __init__(self, path: str | Path, reason: str, fix: str = "") -> None:
        self.path = str(path)
        self.reason = reason
        self.fix = (
            fix
            or "check that the file exists, is not empty and is a supported audio/video/image format"
        )
        super().__init__(f"{self.path}: {reason}; {self.fix}")


class ConfigError(SfxkitError):
    """Settings or environment are inconsistent."""

    exit_code = 2


class MissingExtraError(SfxkitError, ImportError):
    """An optional dependency group is not installed."""

    exit_code = 3

    def __init__(self, package: str, extra: str, what: str = "") -> None:
        self.package = package
        self.extra = extra
        purpose = f" (needed for {what})" if what else ""
        super().__init__(
            f"the optional package '{package}' is not installed{purpose}; "
            f"install it with: pip install 'sfxkit[{extra}]'"
        )


class ModelError(SfxkitError):
    """A model id is unknown or a model cannot be built."""

    exit_code = 4


class CheckpointError(ModelError):
    """A weights file is unusable: unreadable, truncated, carrying code, or not the model's layout.

    One line: the file, what is wrong (the first bad key where there is one), and the fix.
    """

    def __init__(self, path: str | Path, reason: str, fix: str = "") -> None:
        self.path = str(path)
        self.reason = " ".join(str(reason).split())
        self.fix = " ".join(
            (fix or "delete it and fetch a fresh copy with `sfxkit models pull ID`").split()
        )
        super().__init__(f"{self.path}: {self.reason}; {self.fix}")


class WeightsMissingError(ModelError, FileNotFoundError):
    """Pretrained weights are not available offline."""

    def __init__(self, model_id: str, expected: str | Path, hint: str = "") -> None:
        self.model_id = model_id
        self.expected = str(expected)
        cmd = f"sfxkit models pull {model_id}"
        extra = f" {hint}" if hint else ""
        super().__init__(
            f"weights for '{model_id}' are not available offline (looked in {self.expected}); "
            f"on a connected machine run `{cmd}` and copy the cache directory here, or set "
            f"SFXKIT_WEIGHTS_DIR to a directory holding them.{extra}"
        )


class MissingViewsWarning(UserWarning):
    """An index was built without some of its views (their model weights are missing): the
    queries that need them will fail until it is rebuilt with the weights."""


class UntrainedModelWarning(UserWarning):
    """A tiny untrained model (random weights, for tests) is in use: its results are meaningless."""


_warned_untrained = False


def warn_untrained(what: str, stacklevel: int = 3) -> None:
    """Warn, once per process, that ``what`` runs on tiny untrained models."""
    global _warned_untrained
    if _warned_untrained:
        return
    _warned_untrained = True
    import warnings

    warnings.warn(
        f"{what} uses tiny UNTRAINED models (random weights, for tests): its scores and "
        "rankings are meaningless. For real results build the index with the pretrained models "
        "(build_index(..., models='default')) after fetching their weights with "
        "`sfxkit models pull ID` (see `sfxkit models list`).",
        UntrainedModelWarning,
        stacklevel=stacklevel,
    )


class IndexStoreError(SfxkitError):
    """Base for index-store problems."""

    exit_code = 5


class IndexNotFoundError(IndexStoreError, FileNotFoundError):
    def __init__(self, path: str | Path, detail: str = "") -> None:
        self.path = str(path)
        super().__init__(
            f"{self.path}: "
            + (
                detail
                or f"no sfxkit index here; build one with `sfxkit index build SFX_DIR --out {self.path}`"
            )
        )


class IndexCreatingError(IndexNotFoundError):
    """A first build is creating the index right now: nothing is committed yet."""

    def __init__(self, path: str | Path, holder: str) -> None:
        super().__init__(
            path,
            f"an sfxkit index is being created here by {holder}; nothing is committed yet, "
            "wait for that build to finish and try again",
        )


class IndexCorruptError(IndexStoreError):
    """A file in the index does not match the manifest (size or sha256), or is unreadable."""

    def __init__(
        self,
        path: str | Path,
        reason: str,
        *,
        root: str | Path | None = None,
        rebuild_only: bool = False,
    ) -> None:
        self.path = str(path)
        self.reason = reason
        idx = str(root) if root is not None else "INDEX"
        repair = (
            ""
            if rebuild_only
            else f"`sfxkit index verify {idx} --repair` returns to the newest version that "
            "verifies, or "
        )
        super().__init__(
            f"{self.path}: index file is corrupt ({reason}); {repair}rebuild from the sound files "
            f"with `sfxkit index build SFX_DIR --out {idx}`"
        )


class IndexLockedError(IndexStoreError):
    def __init__(
        self, path: str | Path, timeout: float, holder: str = "another process", advice: str = ""
    ) -> None:
        self.path = str(path)
        waited = f" (waited {timeout:.0f} s for the lock)" if timeout else ""
        super().__init__(
            f"{self.path}: {holder} is writing this index{waited}; "
            + (advice or "wait for it to finish")
        )


class IndexMismatchError(IndexStoreError):
    """A query or operation is incompatible with the index (unknown view, wrong model, dims)."""


class GenerationError(SfxkitError):
    exit_code = 6


def human_bytes(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


class DiskFullError(SfxkitError):
    """The disk filled up (or would fill up) while sfxkit wrote a file.

    Names what was being written and where, and, where it is known, how much space the whole
    operation needs and how much is free.
    """

    exit_code = 7

    def __init__(
        self,
        path: str | Path,
        what: str,
        *,
        needed: int | None = None,
        free: int | None = None,
        kept: str = "",
    ) -> None:
        self.path = str(path)
        self.needed = needed
        self.free = free
        space = ""
        if needed is not None:
            space = f"; it needs about {human_bytes(needed)}"
            if free is not None:
                space += f" and {human_bytes(free)} is free there"
        super().__init__(
            f"{self.path}: no space left on the device for {what}{space}; free some space or "
            "write to another disk" + (f" ({kept})" if kept else "")
        )


def is_disk_full(exc: BaseException) -> bool:
    import errno

    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


EXIT_CODES: dict[str, int] = {
    "ok": 0,
    "error": SfxkitError.exit_code,
    "bad input": InputError.exit_code,
    "missing extra": MissingExtraError.exit_code,
    "model / weights": ModelError.exit_code,
    "index": IndexStoreError.exit_code,
    "generation": GenerationError.exit_code,
    "disk full": DiskFullError.exit_code,
    "interrupted (Ctrl-C)": 130,
    "terminated (SIGTERM)": 143,
}
