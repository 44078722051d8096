"""One loaded :class:`~sfxkit.recommender.Recommender`, moved to each newly committed version.

Every request takes the current Recommender once (:meth:`ResidentIndex.get`) and answers from it
alone, so an answer never mixes two versions. ``get`` reads ``CURRENT`` (one small file) and,
when a build has committed a new version, the first request to notice loads it while the others
keep using the previous one, then the reference is swapped. A loaded index holds its version's
files open, so a Recommender still in use survives the cleanup of its version's directory.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any, TypeVar

from sfxkit.recommender import Recommender

T = TypeVar("T")

MAX_WAIT = 60.0
"""Seconds a request waits for the model thread before a 503."""


class Busy(Exception):
    """The model thread did not get to a request in time."""

    def __init__(self, waited: float) -> None:
        super().__init__(
            f"the server is busy: the models did not get to this request within {waited:g} s; "
            "try again"
        )
        self.retry_after = max(1, int(waited / 4))


class ResidentIndex:
    def __init__(
        self,
        index: str | Path,
        *,
        device: str | None = None,
        encoders: dict[str, Any] | None = None,
    ) -> None:
        self.path = Path(index).expanduser().resolve()
        self.device = device
        # Encoders given by the caller (as Recommender's ``encoders=``) serve every version.
        self.encoders = dict(encoders or {})
        self._rec = Recommender(self.path, device=device, encoders=self.encoders or None)
        self._load_lock = threading.Lock()
        # All model work runs on one thread: encoders are not known to be safe to call from
        # several threads at once, parallel forwards only compete for the same cores, and torch
        # pays for a thread pool of its own in every new thread that calls it.
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sfxkit-model")
        self.load_error: str | None = None
        self.ready = False  # the encoders are loaded (see warm); True at once when deferred

    def warm(self) -> None:
        """Load the encoders the index's views need and run each once (on the model thread),
        so that the first query costs what the second does; then :attr:`ready` is True."""
        rec = self._rec
        views = rec.manifest.views

        def run() -> None:
            import numpy as np

            if "clip_text" in views:
                black = np.zeros((224, 224, 3), dtype=np.uint8)
                rec.embed_frames([black])
            if "clap_audio" in views or "clap_text" in views:
                enc = rec.encoder("audio")
                enc.encode_texts(["warm up"])
                enc.encode_audio(
                    [np.zeros(enc.sample_rate, np.float32)], sample_rate=enc.sample_rate
                )
            if "sfx_audio" in views:
                enc = rec.encoder("sfx")
                enc.encode_audio(
                    [np.zeros(enc.sample_rate, np.float32)], sample_rate=enc.sample_rate
                )

        try:
            self.compute(run)
        except Exception as exc:  # noqa: BLE001 - queries will report it; the server runs
            self.load_error = f"warming the models failed: {exc}"
        self.ready = True

    def compute(self, fn: Callable[[], T], wait: float | None = None) -> T:
        """``fn()`` on the model thread (requests wait their turn, first come first served).

        A request that has not had its turn after ``wait`` seconds (default
        :data:`MAX_WAIT`) gives up with :class:`Busy` (a 503 with Retry-After); decoding
        happens before, on the request's own thread, so each turn is one model pass."""
        future = self._worker.submit(fn)
        try:
            return future.result(timeout=MAX_WAIT if wait is None else wait)
        except FutureTimeout:
            if future.cancel():
                raise Busy(MAX_WAIT if wait is None else wait) from None
            return future.result()

    @property
    def version(self) -> int:
        return int(self._rec.manifest.version)

    def get(self) -> Recommender:
        """The Recommender of the newest committed version (the previous one while it loads)."""
        rec = self._rec
        try:
            current = rec.index.store.current_version_dir()[0]
        except Exception as exc:  # noqa: BLE001 - a broken pointer must not stop the service
            self.load_error = str(exc)
            return rec
        if current == rec.manifest.dir or not self._load_lock.acquire(blocking=False):
            return rec
        try:
            if self._rec is rec:
                self._rec = self._load(rec)
                self.load_error = None
        except Exception as exc:  # noqa: BLE001 - keep answering from the version we have
            self.load_error = str(exc)
        finally:
            self._load_lock.release()
        return self._rec

    def _load(self, old: Recommender) -> Recommender:
        new = Recommender(self.path, device=self.device, encoders=self.encoders or None)
        # Same models: the loaded encoders are reused, so a swap costs only the index files.
        if all(
            new.manifest.views[v].model == old.manifest.views[v].model
            for v in ("clip_text", "clap_audio")
            if v in new.manifest.views and v in old.manifest.views
        ):
            new._encoders.update(old._encoders)
        return new

    def info(self, rec: Recommender | None = None) -> dict[str, Any]:
        rec = rec or self._rec
        return {
            "index": str(self.path),
            "index_version": int(rec.manifest.version),
            "untrained": rec.untrained,
            "rows": int(rec.manifest.row_count),
            "views": list(rec.index.view_names),
            "models": dict(rec.manifest.models),
            "ready": self.ready,
            **({"load_error": self.load_error} if self.load_error else {}),
        }
