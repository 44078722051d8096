"""Batch: a folder (or list) of videos through :func:`~sfxkit.editorial.soundtrack`, resumable."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sfxkit.editorial.options import SoundtrackOptions
from sfxkit.editorial.plan import open_recommender
from sfxkit.editorial.render import LazyGenerator
from sfxkit.editorial.run import soundtrack
from sfxkit.errors import ConfigError, InputError, MissingExtraError, ModelError, SfxkitError

if TYPE_CHECKING:
    from sfxkit.generation.base import Generator
    from sfxkit.index.store import LoadedIndex
    from sfxkit.recommender import Recommender

DONE_MARKER = "sfxkit_done.json"
BATCH_REPORT = "batch_report.json"
# Problems of the setup, not of one video: every other video would fail the same way.
_FATAL = (ModelError, MissingExtraError, ConfigError)


@dataclass(frozen=True)
class BatchItem:
    """One video of a batch: ``status`` is ``done``, ``skipped`` (finished by an earlier run with
    the same settings) or ``failed`` (``error`` says why)."""

    video: Path
    out: Path
    status: str
    error: str = ""
    seconds: float = 0.0
    decisions: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchReport:
    """What :func:`soundtrack_batch` did, per video; also written to ``out_dir/batch_report.json``."""

    out_dir: Path
    items: tuple[BatchItem, ...]
    report: Path | None = None

    @property
    def done(self) -> list[BatchItem]:
        return [i for i in self.items if i.status == "done"]

    @property
    def skipped(self) -> list[BatchItem]:
        return [i for i in self.items if i.status == "skipped"]

    @property
    def failed(self) -> list[BatchItem]:
        return [i for i in self.items if i.status == "failed"]

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir),
            "done": len(self.done),
            "skipped": len(self.skipped),
            "failed": len(self.failed),
            "videos": [
                {
                    "video": str(i.video),
                    "out": str(i.out),
                    "status": i.status,
                    "error": i.error,
                    "seconds": round(i.seconds, 3),
                    "decisions": i.decisions,
                }
                for i in self.items
            ],
        }


def list_videos(videos_or_dir: str | Path | Sequence[str | Path]) -> tuple[list[Path], Path | None]:
    """The videos a batch covers (a folder is searched recursively by extension) and the folder."""
    from sfxkit.media.frames import is_video

    if isinstance(videos_or_dir, (str, Path)):
        root = Path(videos_or_dir)
        if root.is_dir():
            found = sorted(p for p in root.rglob("*") if p.is_file() and is_video(p))
            if not found:
                raise InputError(
                    f"{root}: no video files here (looked for common video extensions)"
                )
            return found, root
        return [root], None
    return [Path(v) for v in videos_or_dir], None


def _out_names(videos: Sequence[Path], root: Path | None) -> list[str]:
    """One folder name per video: its path under ``root`` joined with ``__``, unique."""
    names: list[str] = []
    used: set[str] = set()
    for v in videos:
        rel = v.relative_to(root) if root is not None else Path(v.name)
        base = "__".join([*rel.parts[:-1], rel.stem]) or "video"
        name = base
        if name in used:
            name = f"{base}_{rel.suffix.lstrip('.')}"
        n = 2
        while name in used:
            name = f"{base}_{n}"
            n += 1
        used.add(name)
        names.append(name)
    return names


def _identity(video: Path, settings: Mapping[str, Any]) -> dict[str, Any]:
    st = video.stat()
    blob = json.dumps(settings, sort_keys=True, default=str)
    return {
        "video": str(video.resolve()),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "settings": hashlib.sha256(blob.encode()).hexdigest()[:16],
    }


def _finished(out: Path, identity: Mapping[str, Any]) -> bool:
    marker = out / DONE_MARKER
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return all(data.get(k) == v for k, v in identity.items())


def soundtrack_batch(
    videos_or_dir: str | Path | Sequence[str | Path],
    index: str | Path | LoadedIndex | Recommender,
    options: SoundtrackOptions | None = None,
    *,
    out: str | Path,
    progress: bool | None = None,
    device: str | None = None,
    generator: Generator | LazyGenerator | None = None,
    **knobs: Any,
) -> BatchReport:
    """:func:`soundtrack` for every video in a folder (recursively) or list, into
    ``out/<name>/``.

    Resumable: a video's folder gets ``sfxkit_done.json`` last, after all its files; a rerun skips
    a video whose marker matches its path, size, modification time and these settings, and
    redoes it otherwise. A bad video is reported (``failed``, with the error) and the batch goes
    on; problems of the setup (model weights missing, an optional package absent) stop it, since
    every video would fail the same way. ``options`` / ``knobs`` are :class:`SoundtrackOptions`. The
    index and generator are loaded once for the whole batch.
    """
    from sfxkit._json import write_json
    from sfxkit._progress import track

    opts = SoundtrackOptions.from_kwargs(options, **knobs)
    if opts.overrides or opts.choices is not None:
        raise InputError(
            "overrides and choices name shots of one video; they cannot apply to a batch"
        )
    videos, root = list_videos(videos_or_dir)
    out_root = Path(out)
    out_root.mkdir(parents=True, exist_ok=True)
    rec = open_recommender(index, device)
    gen = (
        generator
        if isinstance(generator, LazyGenerator)
        else LazyGenerator(opts.variant, device, generator)
    )
    settings = opts.to_dict()
    items: list[BatchItem] = []
    names = _out_names(videos, root)
    for video, name in track(
        list(zip(videos, names, strict=True)),
        total=len(videos),
        desc="videos",
        unit="video",
        enabled=progress,
    ):
        out = out_root / name
        t0 = time.perf_counter()
        try:
            identity = _identity(video, settings)
        except OSError as exc:
            items.append(
                BatchItem(video, out, "failed", f"{video}: cannot read ({exc.strerror or exc})")
            )
            continue
        if _finished(out, identity):
            items.append(BatchItem(video, out, "skipped"))
            continue
        (out / DONE_MARKER).unlink(missing_ok=True)
        try:
            result = soundtrack(
                video,
                rec,
                out=out,
                device=device,
                progress=False,
                generator=gen,
                options=opts,
            )
        except _FATAL:
            raise
        except Exception as exc:  # noqa: BLE001 - one bad video must not stop the batch
            message = str(exc) if isinstance(exc, SfxkitError) else f"{type(exc).__name__}: {exc}"
            items.append(BatchItem(video, out, "failed", message, time.perf_counter() - t0))
            continue
        write_json(out / DONE_MARKER, {**identity, "stats": result.stats})
        items.append(
            BatchItem(
                video,
                out,
                "done",
                seconds=time.perf_counter() - t0,
                decisions=dict(result.stats["decisions"]),
            )
        )
    report = BatchReport(out_root, tuple(items))
    path = write_json(out_root / BATCH_REPORT, report.to_dict())
    return BatchReport(out_root, tuple(items), path)


__all__ = [
    "BATCH_REPORT",
    "DONE_MARKER",
    "BatchItem",
    "BatchReport",
    "list_videos",
    "soundtrack_batch",
]
