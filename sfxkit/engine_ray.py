"""The build on a Ray cluster, with Ray Data (extra ``sfxkit[distributed]``).

WORK IN PROGRESS: the text views run; on a 2-CPU local runtime the audio view hung (decode
tasks and embedding actors starve each other of CPUs). Not wired into the CLI yet, no tests.

Same stages and stage functions as the local engine (:mod:`sfxkit.pipeline`), mapped by Ray Data:

* measure (decode, hash, loudness, QC) of new or changed files: ``map_batches`` CPU tasks;
* per audio view: decode + resample as CPU tasks → embedding in an actor pool (one model load
  per actor; one GPU per actor and 4× larger batches when the cluster has GPUs);
* per text view: an actor pool over the items' texts;
* the driver collects the vector shards in item order, and the existing store writer trains the
  FAISS views and commits the version atomically (nothing is replaced when a stage fails).

Bad files come back as rows carrying their reason, so the build reports them exactly as the local
engine does. Actors killed mid-build are restarted and their batches retried (at most
:data:`RETRIES` times); past that the build fails with :class:`~sfxkit.errors.SfxkitError` and
the index keeps its previous version.

``address``: ``None`` joins the Ray runtime this process already started (``ray.init``) or starts
a local one for the build; ``"auto"`` or ``"ray://HOST:10001"`` joins an existing cluster. Every
node needs sfxkit (and the model weights) installed and the sound folder at the same path.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from typing import Any

import numpy as np

from sfxkit.errors import MissingExtraError, SfxkitError
from sfxkit.pipeline import (
    decode_batch,
    embed_audio_results,
    embed_text_groups,
    load_encoder,
    measure_batch,
)

__all__ = ["RETRIES", "RayEngine", "import_ray"]

RETRIES = 3
ACTORS = 2  # embedding actors per view on a CPU-only cluster (one per GPU on a GPU cluster)


def import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError("ray[data]", "distributed", "builds with --engine ray") from exc
    return ray


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


class RayEngine:
    """The :class:`sfxkit.pipeline.LocalEngine` interface over Ray Data."""

    name = "ray"
    parallel = True

    def __init__(self, encoders: dict[str, Any], device: str | None, *, address: str | None):
        self.ray = import_ray()
        self.encoders = encoders  # the caller's own encoder objects, shipped to the actors
        self.given = dict(encoders)
        self._driver: dict[str, Any] = {}
        self.device = device
        self._started = False
        if not self.ray.is_initialized():
            try:
                self.ray.init(address=address, include_dashboard=False, log_to_driver=False)
            except Exception as exc:  # noqa: BLE001 - connection errors of every kind
                raise SfxkitError(
                    f"could not join the Ray cluster at {address or 'a new local runtime'}: {exc}; "
                    "check --address (e.g. 'auto' on a cluster node, 'ray://HOST:10001')"
                ) from exc
            self._started = True
        ctx = self.ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        gpus = float(self.ray.cluster_resources().get("GPU", 0))
        self.gpus = gpus >= 1 and device in (None, "auto", "cuda")

    def __enter__(self) -> RayEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._started:
            self.ray.shutdown()

    # ---------------------------------------------------------------- helpers
    def _run(self, ds: Any, what: str) -> list[dict[str, Any]]:
        try:
            rows = ds.take_all()
        except SfxkitError:
            raise
        except Exception as exc:  # noqa: BLE001 - Ray wraps worker errors in its own types
            cause = getattr(exc, "cause", None) or exc
            if isinstance(cause, SfxkitError):
                raise cause from exc
            raise SfxkitError(
                f"the Ray build failed while {what} ({type(cause).__name__}: {cause}); nothing "
                "was written, the index keeps its previous version"
            ) from exc
        return sorted(rows, key=lambda r: int(r["i"]) if "i" in r else 0)

    def _actor_args(self, role: str, model_id: str) -> dict[str, Any]:
        device = "cuda" if self.gpus else (self.device or "cpu")
        actors = int(self.ray.cluster_resources().get("GPU", 0)) if self.gpus else ACTORS
        return {
            "fn_constructor_args": (role, model_id, device, self.given.get(role)),
            "compute": self.ray.data.ActorPoolStrategy(size=actors),
            "num_gpus": 1 if self.gpus else None,
            "num_cpus": None if self.gpus else 1,
            "max_restarts": RETRIES,
            "max_task_retries": RETRIES,
        }

    # -------------------------------------------------------------- interface
    def measure(self, paths: Sequence[str], batch: int) -> dict[str, Any]:
        ds = self.ray.data.from_items([{"path": p} for p in paths]).map_batches(
            _measure_rows, batch_size=batch, num_cpus=1, max_retries=RETRIES
        )
        rows = self._run(ds, "measuring the sound files")
        return {str(r["path"]): pickle.loads(r["result"]) for r in rows}

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
    ) -> list[tuple[np.ndarray | None, str]]:
        sample_rate = self._sample_rate(role, model_id)
        size = batch * 4 if self.gpus else batch
        ds = (
            self.ray.data.from_items([{"i": i, "path": p} for i, p in enumerate(paths)])
            .map_batches(
                _decode_rows,
                batch_size=size,
                fn_args=(sample_rate, duration),
                num_cpus=1,
                max_retries=RETRIES,
            )
            .map_batches(_AudioEmbedder, batch_size=size, **self._actor_args(role, model_id))
        )
        rows = self._run(ds, desc)
        return [
            (np.frombuffer(r["vec"], dtype=np.float32).copy(), "")
            if r["vec"]
            else (None, str(r["reason"]))
            for r in rows
        ]

    def embed_texts(self, role: str, model_id: str, groups: Sequence[Sequence[str]]) -> np.ndarray:
        ds = self.ray.data.from_items(
            [{"i": i, "texts": pickle.dumps(list(g))} for i, g in enumerate(groups)]
        ).map_batches(_TextEmbedder, batch_size=256, **self._actor_args(role, model_id))
        rows = self._run(ds, f"embedding the {role} model's texts")
        return np.stack([np.frombuffer(r["vec"], dtype=np.float32) for r in rows])

    def dim(self, role: str, model_id: str) -> int:
        return int(self._driver_encoder(role, model_id).dim)

    def _sample_rate(self, role: str, model_id: str) -> int:
        return int(self._driver_encoder(role, model_id).sample_rate)

    def _driver_encoder(self, role: str, model_id: str) -> Any:
        # Only the audio encoders' sample rate (and a width in an edge case) is needed here; the
        # tiny and CPU loads are cheap, and the embedding itself runs in the actors.
        if role in self.given:
            return self.given[role]
        if role not in self._driver:
            self._driver[role] = load_encoder(role, model_id, "cpu")
        return self._driver[role]
