"""The build on a Ray cluster, with Ray Data (extra ``sfxkit[distributed]``).

Same stages and stage functions as the local engine (:mod:`sfxkit.index.engines.local`), mapped by Ray Data:

* measure (decode, hash, loudness, QC) of new or changed files: ``map_batches`` CPU tasks;
* describe: on the driver, inside ingest (templates or the language-model describer's cache);
* per audio view: decode + resample as CPU tasks → embedding in an actor pool (one model load
  per actor; one GPU per actor and 4× larger batches when the cluster has GPUs);
* per text view: an actor pool over the items' texts;
* the embedded batches stream back to the driver (Ray Data's streaming executor keeps only a
  bounded number of blocks in flight), which is the one committing writer: each batch goes
  straight into the view's float16 array on disk in the new version's stage
  (:meth:`sfxkit.index.store.VersionWriter.scratch_vectors`), then FAISS is trained on a seeded
  sample of it, the rows are added in pieces, the array becomes the view file, and the version
  is committed atomically. The driver never holds a view in RAM, no shared filesystem is needed,
  and a failed stage leaves the index at its previous version.
* the bridge's frame pool (``sfxkit bridge mine --engine ray``): shot detection + frame sampling
  per video as CPU tasks → CLIP image embedding in an actor pool.

Resources. The actors must never hold every CPU the tasks feeding them need, or the pipeline
waits forever (it did on a 2-CPU runtime with two 1-CPU actors). On a CPU-only cluster the pool
has ``max(1, CPUs // 4)`` actors of ``min(2, CPUs / 2)`` CPUs each (torch uses that many
threads), leaving at least half the CPUs to the decode tasks; with GPUs, one actor per GPU.

Bad files come back as rows carrying their reason, so the build reports them exactly as the local
engine does. An actor whose process dies is restarted and its batch retried (at most
:data:`RETRIES` times); past that the build fails with :class:`~sfxkit.errors.SfxkitError` and
the index keeps its previous version.

``address``: ``None`` joins the Ray runtime this process already started (``ray.init``) or starts
a local one for the build; ``"auto"`` (on a cluster node) or ``"ray://HOST:10001"`` (Ray Client)
joins an existing cluster. Every node needs sfxkit (and the model weights) installed and the
sound folder at the same path.
"""

from __future__ import annotations

import logging
import os
import pickle
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from sfxkit.errors import MissingExtraError, SfxkitError
from sfxkit.index.engines.local import (
    decode_batch,
    embed_audio_results,
    embed_text_groups,
    load_encoder,
    measure_batch,
)

__all__ = ["RETRIES", "RayEngine", "actor_resources", "import_ray", "start_local_runtime"]

RETRIES = 3


def import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError("ray[data]", "distributed", "builds with --engine ray") from exc
    return ray


# Ray's switch for single-machine runtimes (meant for laptops): off, a node's address is the
# loopback address itself instead of the machine's routable one, and since Ray 2.5x its GCS,
# raylet, workers and agents bind to the node's address. With it on (Linux's default) they
# listen on every interface even when ray.init is given 127.0.0.1.
_LOOPBACK_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def start_local_runtime(**kwargs: Any) -> None:
    """Start a Ray runtime for this process only, every server bound to loopback (127.0.0.1):
    no dashboard, no logs forwarded, nothing reachable from another machine."""
    ray = import_ray()
    from ray._private import ray_constants

    saved_env, saved_flag = os.environ.get(_LOOPBACK_SWITCH), ray_constants.ENABLE_RAY_CLUSTER
    os.environ[_LOOPBACK_SWITCH] = "0"  # read by the processes ray.init starts
    ray_constants.ENABLE_RAY_CLUSTER = False  # read (at import) by this process
    try:
        ray.init(
            _node_ip_address="127.0.0.1",
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
            **kwargs,
        )
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved_flag
        if saved_env is None:
            os.environ.pop(_LOOPBACK_SWITCH, None)
        else:
            os.environ[_LOOPBACK_SWITCH] = saved_env


def _check_reachable(address: str, timeout: float = 10.0) -> None:
    """Fail in seconds, not minutes, when nothing listens at a HOST:PORT or ray://HOST:PORT
    address (ray.init retries an unreachable GCS for minutes); 'auto' is left to Ray."""
    import socket

    hostport = address.removeprefix("ray://")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        return  # 'auto' and other forms Ray resolves itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ConnectionError(f"nothing answers at {hostport} ({exc.strerror or exc})") from None


def actor_resources(cpus: float, gpus: float) -> tuple[int, float, float]:
    """(actors, CPUs per actor, GPUs per actor) for an embedding pool on this cluster.

    With GPUs: one actor per GPU. CPU only: the actors take at most half the CPUs, so the decode
    tasks feeding them always have CPUs left (two 1-CPU actors on 2 CPUs starved them forever).
    """
    if gpus >= 1:
        return int(gpus), 1.0, 1.0
    per_actor = max(0.5, min(2.0, cpus / 2))
    return max(1, int(cpus // 4)), per_actor, 0.0


def _measure_rows(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    results = measure_batch([str(p) for p in batch["path"]])
    return {
        "path": batch["path"],
        "result": np.array([pickle.dumps(r) for r in results], dtype=object),
    }


def _decode_rows(
    batch: dict[str, np.ndarray], sample_rate: int, duration: float | None
) -> dict[str, np.ndarray]:
    results = decode_batch([str(p) for p in batch["path"]], sample_rate, duration)
    return {
        "i": batch["i"],
        "wave": np.array(
            [b"" if w is None else w.astype(np.float32).tobytes() for w, _ in results],
            dtype=object,
        ),
        "ok": np.array([w is not None for w, _ in results]),
        "reason": np.array([r for _, r in results], dtype=object),
    }


def _sample_rows(batch: dict[str, np.ndarray], per_shot: int, max_side: int) -> dict[str, Any]:
    from sfxkit.index.engines.stages import sample_video

    out: dict[str, list[Any]] = {"i": [], "sampled": [], "reason": []}
    for i, video in zip(batch["i"], batch["video"], strict=True):
        res = sample_video(str(video), per_shot=per_shot, max_side=max_side)
        out["i"].append(i)
        out["sampled"].append(b"" if isinstance(res, str) else pickle.dumps(res))
        out["reason"].append(res if isinstance(res, str) else "")
    return {k: np.array(v, dtype=object if k != "i" else np.int64) for k, v in out.items()}


class _Embedder:
    """One model per actor, loaded once; ``encoder`` when the caller gave its own object."""

    def __init__(self, role: str, model_id: str, device: str | None, encoder: Any) -> None:
        self.enc = encoder if encoder is not None else load_encoder(role, model_id, device)


class _AudioEmbedder(_Embedder):
    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        decoded = [
            (np.frombuffer(w, dtype=np.float32) if ok else None, str(r))
            for w, ok, r in zip(batch["wave"], batch["ok"], batch["reason"], strict=True)
        ]
        results = embed_audio_results(self.enc, decoded)
        return {
            "i": batch["i"],
            "vec": np.array(
                [b"" if v is None else np.asarray(v, np.float32).tobytes() for v, _ in results],
                dtype=object,
            ),
            "reason": np.array([r for _, r in results], dtype=object),
        }


class _TextEmbedder(_Embedder):
    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        groups = [pickle.loads(g) for g in batch["texts"]]
        vecs = embed_text_groups(self.enc, groups)
        return {"i": batch["i"], "vec": np.array([v.tobytes() for v in vecs], dtype=object)}


class _FrameEmbedder(_Embedder):
    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from sfxkit.index.engines.stages import embed_frames

        out: dict[str, list[Any]] = {"i": [], "times": [], "shots": [], "vec": [], "reason": []}
        for i, blob, reason in zip(batch["i"], batch["sampled"], batch["reason"], strict=True):
            times, shots, vec = b"", b"", b""
            if blob:  # only the embeddings go back to the driver, not the frames
                t, s, frames = pickle.loads(blob)
                times, shots = t.astype(np.float64).tobytes(), s.astype(np.int64).tobytes()
                vec = embed_frames(frames, self.enc).astype(np.float32).tobytes()
            for k, v in zip(out, (i, times, shots, vec, reason), strict=True):
                out[k].append(v)
        return {k: np.array(v, dtype=np.int64 if k == "i" else object) for k, v in out.items()}


def _check_complete(seen: int, expected: int, what: str) -> None:
    """Every row came back exactly once (a retried block must not add or lose any)."""
    if seen != expected:
        raise SfxkitError(
            f"the Ray build returned {seen} results for {expected} inputs while {what}; nothing "
            "was written, the index keeps its previous version. Run the build again"
        )


class RayEngine:
    """The :class:`sfxkit.index.engines.local.LocalEngine` interface over Ray Data."""

    name = "ray"
    parallel = True

    def __init__(
        self, encoders: dict[str, Any], device: str | None, *, address: str | None = None
    ) -> None:
        self.ray = import_ray()
        self.encoders = encoders
        self.given = dict(encoders)  # the caller's own encoder objects, shipped to the actors
        self._driver: dict[str, Any] = {}
        self.device = device
        self._started = False
        if not self.ray.is_initialized():
            # Ray's C++ core logs every actor's set-up at INFO/WARNING on this process's stderr;
            # a build reports what matters itself (errors still show).
            os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "error")
            try:
                if address is None:
                    start_local_runtime()
                else:
                    _check_reachable(address)
                    self.ray.init(
                        address=address,
                        include_dashboard=False,
                        log_to_driver=False,
                        configure_logging=False,
                    )
            except Exception as exc:  # noqa: BLE001 - connection errors of every kind
                raise SfxkitError(
                    f"could not join the Ray cluster at {address or 'a new local runtime'} "
                    f"({type(exc).__name__}: {exc}); check --address ('auto' on a cluster node, "
                    "'ray://HOST:10001' from elsewhere) and that the cluster runs the same Ray "
                    "version"
                ) from exc
            self._started = True
        ctx = self.ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.print_on_execution_start = False
        resources = self.ray.cluster_resources()
        gpus = float(resources.get("GPU", 0)) if device in (None, "auto", "cuda") else 0.0
        self.actors, self.actor_cpus, self.actor_gpus = actor_resources(
            float(resources.get("CPU", 1)), gpus
        )
        self.gpus = self.actor_gpus > 0

    def __enter__(self) -> RayEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._started:
            self.ray.shutdown()

    # ---------------------------------------------------------------- helpers
    def _batches(self, ds: Any, what: str) -> Iterator[dict[str, np.ndarray]]:
        """The dataset's output, streamed; a worker failure becomes one clear SfxkitError."""
        # Ray Data logs each dataset's start and end at INFO on stderr: quiet unless it fails
        log = logging.getLogger("ray.data")
        level = log.level
        log.setLevel(logging.ERROR)
        try:
            yield from ds.iter_batches(batch_size=None, batch_format="numpy")
        except SfxkitError:
            raise
        except Exception as exc:  # noqa: BLE001 - Ray wraps worker errors in its own types
            cause = getattr(exc, "cause", None) or exc
            if isinstance(cause, SfxkitError):
                raise cause from exc
            raise SfxkitError(
                f"the Ray build failed while {what} ({type(cause).__name__}: "
                f"{str(cause).splitlines()[0] if str(cause) else ''}) after {RETRIES} retries; "
                "nothing was written, the index keeps its previous version. Check the Ray "
                "workers' logs (a node lost, out of memory) and run the build again"
            ) from None
        finally:
            log.setLevel(level)

    def _map(self, ds: Any, fn: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings():  # max_restarts & co. are only reachable this way in 2.x
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.filterwarnings("ignore", message=".*ray_remote_args.*")
            return ds.map_batches(fn, **kwargs)

    def _actor_args(self, role: str, model_id: str) -> dict[str, Any]:
        device = "cuda" if self.gpus else (self.device or "cpu")
        args: dict[str, Any] = {
            "fn_constructor_args": (role, model_id, device, self.given.get(role)),
            "compute": self.ray.data.ActorPoolStrategy(size=self.actors),
            "num_cpus": self.actor_cpus,
            "max_restarts": RETRIES,
            "max_task_retries": RETRIES,
        }
        if self.gpus:
            args["num_gpus"] = self.actor_gpus
        return args

    def _task_args(self) -> dict[str, Any]:
        return {"num_cpus": 1, "max_retries": RETRIES}

    # -------------------------------------------------------------- interface
    def measure(self, paths: Sequence[str], batch: int) -> dict[str, Any]:
        ds = self.ray.data.from_items([{"path": p} for p in paths])
        ds = self._map(ds, _measure_rows, batch_size=batch, **self._task_args())
        out: dict[str, Any] = {}
        for b in self._batches(ds, "measuring the sound files"):
            out.update(
                (str(p), pickle.loads(r)) for p, r in zip(b["path"], b["result"], strict=True)
            )
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
        sample_rate = int(self._driver_encoder(role, model_id).sample_rate)
        size = batch * 4 if self.gpus else batch
        ds = self.ray.data.from_items([{"i": i, "path": p} for i, p in enumerate(paths)])
        ds = self._map(
            ds, _decode_rows, batch_size=size, fn_args=(sample_rate, duration), **self._task_args()
        )
        ds = self._map(ds, _AudioEmbedder, batch_size=size, **self._actor_args(role, model_id))
        seen = 0
        for b in self._batches(ds, desc):
            yield (
                b["i"].astype(np.int64),
                [
                    (np.frombuffer(vec, dtype=np.float32), "") if vec else (None, str(reason))
                    for vec, reason in zip(b["vec"], b["reason"], strict=True)
                ],
            )
            seen += len(b["i"])
        _check_complete(seen, len(paths), desc)

    def embed_texts(
        self, role: str, model_id: str, groups: Sequence[Sequence[str]]
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        ds = self.ray.data.from_items(
            [{"i": i, "texts": pickle.dumps(list(g))} for i, g in enumerate(groups)]
        )
        ds = self._map(ds, _TextEmbedder, batch_size=256, **self._actor_args(role, model_id))
        what, seen = f"embedding the {role} model's texts", 0
        for b in self._batches(ds, what):
            yield (
                b["i"].astype(np.int64),
                np.stack([np.frombuffer(v, dtype=np.float32) for v in b["vec"]]),
            )
            seen += len(b["i"])
        _check_complete(seen, len(groups), what)

    def dim(self, role: str, model_id: str) -> int:
        return int(self._driver_encoder(role, model_id).dim)

    def frame_pool(
        self, videos: Sequence[str], model_id: str, *, per_shot: int, max_side: int
    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray] | str]:
        """Per video: (times, shot indices, embeddings) or the reason it was skipped."""
        ds = self.ray.data.from_items([{"i": i, "video": v} for i, v in enumerate(videos)])
        ds = self._map(
            ds, _sample_rows, batch_size=1, fn_args=(per_shot, max_side), **self._task_args()
        )
        ds = self._map(ds, _FrameEmbedder, batch_size=4, **self._actor_args("frame", model_id))
        out: list[Any] = ["not sampled"] * len(videos)
        dim = self.dim("frame", model_id)
        for b in self._batches(ds, "sampling and embedding the frame pool"):
            for i, t, s, vec, why in zip(
                b["i"], b["times"], b["shots"], b["vec"], b["reason"], strict=True
            ):
                out[int(i)] = (
                    (
                        np.frombuffer(t, dtype=np.float64).copy(),
                        np.frombuffer(s, dtype=np.int64).copy(),
                        np.frombuffer(vec, dtype=np.float32).reshape(-1, dim).copy(),
                    )
                    if not why
                    else str(why)
                )
        return out

    def _driver_encoder(self, role: str, model_id: str) -> Any:
        # Only the audio encoders' sample rate (and a width in an edge case) is needed here; the
        # tiny and CPU loads are cheap, and the embedding itself runs in the actors.
        if role in self.given:
            return self.given[role]
        if role not in self._driver:
            self._driver[role] = load_encoder(role, model_id, "cpu")
        return self._driver[role]
