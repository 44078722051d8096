"""The build's CPU stages as plain functions over batches, and the local engine that runs them.

Reader → mapper → writer: :func:`measure_batch` (decode, hash, loudness, QC of files that changed)
and :func:`decode_batch` (decode + resample to the encoder's rate) are pure functions of paths
returning picklable results, so any engine can map them: the local engine runs them in a pool
of worker processes (:class:`CpuPool`) while the main process embeds; a failure comes back as its
reason text, exactly the words a sequential build reports.

Workers: ``SFXKIT_BUILD_WORKERS`` (``0`` runs every stage in the main process), else
:func:`build_workers` picks by cores and device. At most ``2 × workers`` batches are in flight,
so memory stays bounded by a few batches of decoded audio whatever the library's size.

Why the default gives the pool no cores on a CPU with 1–2 cores: there the CLAP forward is
~75 % of a build and the text towers most of the rest (decode, hash and loudness: ~1 %), and
torch already uses every core. A spawned worker takes CPU time from torch's threads (its start-up
imports alone cost seconds) and buys nothing: benchmarks/build.py on 2 cores measured the build
with one worker at 0.70-0.76x the raw CLAP forward against 0.81-0.94x without. With a GPU doing
the forward the CPU is free, so every core but one decodes.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any, TypeVar

import numpy as np

# Groups of texts per embedding call: vectors reach the build's on-disk store in pieces.
TEXT_GROUPS = 4096

T = TypeVar("T")
R = TypeVar("R")

__all__ = ["CpuPool", "build_workers", "decode_batch", "failure_reason", "measure_batch"]


def failure_reason(exc: BaseException) -> str:
    """The reason a build reports for a file that raised ``exc`` while being read."""
    from sfxkit.errors import MediaError

    if isinstance(exc, MediaError):
        return exc.reason
    if isinstance(exc, MemoryError):
        return "out of memory while decoding it"
    if isinstance(exc, OSError):  # broken symlink, permissions, file vanished mid-scan
        return f"cannot read the file ({exc.strerror or exc})"
    return f"{type(exc).__name__}: {exc}"


def measure_batch(paths: Sequence[str]) -> list[Any]:
    """Per path: its :class:`~sfxkit.catalog.ingest.Measurement`, or the failure reason (str)."""
    from sfxkit.catalog.ingest import measure_file

    out: list[Any] = []
    for path in paths:
        try:
            out.append(measure_file(path))
        except Exception as exc:  # noqa: BLE001 - one odd file must not stop a library build
            out.append(failure_reason(exc))
    return out


def decode_batch(
    paths: Sequence[str], sample_rate: int, duration: float | None
) -> list[tuple[np.ndarray | None, str]]:
    """Per path: (mono float32 samples at ``sample_rate``, "") or (None, failure reason)."""
    from sfxkit.errors import MediaError
    from sfxkit.media.audio import load_audio

    out: list[tuple[np.ndarray | None, str]] = []
    for path in paths:
        try:
            audio = load_audio(path, sample_rate=sample_rate, mono=True, duration=duration)
        except MediaError as exc:
            out.append((None, exc.reason))
        except Exception as exc:  # noqa: BLE001 - one odd file must not abort the build
            out.append((None, f"{type(exc).__name__}: {exc}"))
        else:
            out.append((audio.samples[0], ""))
    return out


def build_workers(device: str | None = None) -> int:
    """Worker processes for the CPU stages: ``SFXKIT_BUILD_WORKERS``, else 0 on ≤ 2 cores,
    ``cores // 8`` when the models run on the CPU, ``cores − 1`` when they run on a GPU."""
    raw = os.environ.get("SFXKIT_BUILD_WORKERS", "").strip()
    if raw:
        try:
            return max(0, int(raw))
        except ValueError:
            from sfxkit.errors import ConfigError

            raise ConfigError(
                f"SFXKIT_BUILD_WORKERS={raw!r} is not a number; use 0 (no worker processes) or "
                "a count of worker processes"
            ) from None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    if cores <= 2:
        return 0
    from sfxkit.config import resolve_device

    if resolve_device(device) == "cpu":
        return cores // 8
    return cores - 1


class CpuPool:
    """Worker processes for the CPU stages, or the main process when there is no gain.

    ``map`` yields results in order while keeping at most ``2 × workers`` batches in flight, so
    the caller's work on batch k (embedding) overlaps with the decoding of batches k+1, k+2...
    """

    def __init__(self, workers: int | None = None, device: str | None = None) -> None:
        self.workers = build_workers(device) if workers is None else workers
        self._executor: Executor | None = None

    def __enter__(self) -> CpuPool:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def _pool(self) -> Executor:
        if self._executor is None:
            import multiprocessing

            # spawn: forking a process that holds torch's threads and OpenMP state can deadlock
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("spawn")
            )
        return self._executor

    def map(
        self, fn: Callable[..., R], batches: Iterable[T], *args: Any, parallel: bool = True
    ) -> Iterator[R]:
        if self.workers <= 0 or not parallel:
            for batch in batches:
                yield fn(batch, *args)
            return
        pool = self._pool()
        pending: deque[Future[R]] = deque()
        for batch in batches:
            pending.append(pool.submit(fn, batch, *args))
            if len(pending) >= 2 * self.workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def embed_wave_batch(enc: Any, waves: list[np.ndarray]) -> list[tuple[np.ndarray | None, str]]:
    """Per wave: (vector, "") or (None, why the encoder failed on it).

    A batch that fails is retried one clip at a time to find the file that breaks it; when every
    clip fails, the encoder is broken, not the files, and the batch's error is raised.
    """
    try:
        return [(v, "") for v in enc.encode_audio(waves, sample_rate=enc.sample_rate)]
    except Exception as batch_exc:  # noqa: BLE001 - find the file that breaks the batch
        out: list[tuple[np.ndarray | None, str]] = []
        for wave in waves:
            try:
                out.append((enc.encode_audio([wave], sample_rate=enc.sample_rate)[0], ""))
            except Exception as exc:  # noqa: BLE001
                why = f"the audio encoder failed on it ({type(exc).__name__}: {exc})"
                out.append((None, why))
        if all(v is None for v, _ in out):
            raise batch_exc from None
        return out


def embed_audio_results(
    enc: Any, decoded: Sequence[tuple[np.ndarray | None, str]]
) -> list[tuple[np.ndarray | None, str]]:
    """Embed the decoded clips of one batch; failed decodes keep their reason."""
    ok = [j for j, (samples, _) in enumerate(decoded) if samples is not None]
    out = list(decoded)
    if ok:
        embedded = embed_wave_batch(enc, [decoded[j][0] for j in ok])  # type: ignore[misc]
        for j, res in zip(ok, embedded, strict=True):
            out[j] = res
    return out


def embed_text_groups(enc: Any, groups: Sequence[Sequence[str]]) -> np.ndarray:
    """One unit vector per group of texts: the mean of its texts' vectors (prompt ensembling)."""
    embs = enc.encode_texts([t for g in groups for t in g])
    starts = np.cumsum([0] + [len(g) for g in groups[:-1]])
    sums = np.add.reduceat(embs, starts, axis=0)
    sums /= np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    return sums.astype(np.float32)


def refresh_clip_text(vectors: Any, items: Any, rows: Any, encoder: Any) -> None:
    """Re-embed, in place, the ``clip_text`` vectors of ``rows`` from their items' visual
    descriptions: the same prompt-ensembled unit vectors a build makes
    (:func:`embed_text_groups`). The one way to refresh that view."""
    rows = list(rows)
    if rows:
        vectors[rows] = embed_text_groups(
            encoder, [list(items[i].visual_descriptions) for i in rows]
        )


def load_encoder(role: str, model_id: str, device: str | None) -> Any:
    from sfxkit.models import registry

    loader = {
        "frame": registry.load_frame_encoder,
        "audio": registry.load_audio_encoder,
        "sfx": registry.load_sfx_encoder,
        "av": registry.load_av_encoder,
    }[role]
    return loader(model_id, device=device)


class LocalEngine:
    """Runs the build's stages on this machine: CPU stages in :class:`CpuPool`, models here.

    ``encoders`` (role → encoder) is filled as models load, so the caller sees what was used.
    """

    name = "local"

    def __init__(self, encoders: dict[str, Any], device: str | None) -> None:
        self.encoders = encoders
        self.device = device
        self.pool = CpuPool(device=device)

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.__exit__(*exc)

    @property
    def parallel(self) -> bool:
        return self.pool.workers > 0

    def encoder(self, role: str, model_id: str) -> Any:
        if role not in self.encoders:
            self.encoders[role] = load_encoder(role, model_id, self.device)
        return self.encoders[role]

    def measure(self, paths: Sequence[str], batch: int) -> dict[str, Any]:
        chunks = [list(paths[s : s + batch]) for s in range(0, len(paths), batch)]
        out: dict[str, Any] = {}
        for chunk, results in zip(chunks, self.pool.map(measure_batch, chunks), strict=True):
            out.update(zip(chunk, results, strict=True))
        return out

    def embed_audio(
        self,
        role: str,
        model_id: str,
        paths: Sequence[str],
        *,
        batch: int,
        duration: float | None,
        progress: bool | None,
        desc: str,
    ) -> Iterator[tuple[np.ndarray, list[tuple[np.ndarray | None, str]]]]:
        """Per batch, as it is embedded: (positions in ``paths``, (vector, "") or (None, why))."""
        from sfxkit._progress import track

        enc = self.encoder(role, model_id)
        chunks = [list(paths[s : s + batch]) for s in range(0, len(paths), batch)]
        # worker processes decode the next batches while this process embeds the current one
        decoded = self.pool.map(
            decode_batch, chunks, enc.sample_rate, duration, parallel=len(chunks) > 1
        )
        start = 0
        for results in track(decoded, total=len(chunks), desc=desc, unit="batch", enabled=progress):
            yield np.arange(start, start + len(results)), embed_audio_results(enc, results)
            start += len(results)

    def embed_texts(
        self, role: str, model_id: str, groups: Sequence[Sequence[str]]
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Per batch of groups: (positions in ``groups``, one vector per group)."""
        enc = self.encoder(role, model_id)
        for s in range(0, len(groups), TEXT_GROUPS):
            part = groups[s : s + TEXT_GROUPS]
            yield np.arange(s, s + len(part)), embed_text_groups(enc, part)

    def dim(self, role: str, model_id: str) -> int:
        return int(self.encoder(role, model_id).dim)
