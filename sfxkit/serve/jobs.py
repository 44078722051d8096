"""Soundtrack, compare and generate jobs, each in its own process: a queue, progress, outputs,
cancellation, and a record on disk.

A job runs :func:`sfxkit.soundtrack`, :func:`sfxkit.compare` or (one shot's sound for the review
page) :func:`sfxkit.serve.review.generate_shot` in a child process (so that
cancelling it is a kill, never a half-stopped thread holding the model) and writes into its own
folder under the jobs directory; the progress comes from the per-shot progress bar on the
child's stderr.

At most ``limit`` jobs run at once (default from the cores and the memory, see
:func:`default_limit`); the others wait in order, each with its position. A job's record is
``JOBS/ID/.job.json`` (hidden, like every temp file: names starting with a dot are never listed
or served), so a restarted server lists its jobs and shows the ones it lost as interrupted.
The children get SIGKILL when the server dies (``PR_SET_PDEATHSIG`` on Linux), so none
outlives it.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sfxkit.errors import InputError

KINDS = ("soundtrack", "compare", "generate")
_PROGRESS = re.compile(r"(\d+)/(\d+)")

# Runs in the child: the verb, then one line with the outcome that the parent reads.
_CHILD = r"""
import json, sys
spec = json.loads(sys.argv[1])
# The server's own import path, not the working folder's: `python -c` puts the current folder
# first on sys.path, and a folder there named `sfxkit` (a checkout) would shadow the installed
# package the server runs.
sys.path[:] = spec["sys_path"]
try:
    import sfxkit
    from sfxkit.errors import SfxkitError
    opts = dict(spec["options"])
    if spec["kind"] == "generate":
        from sfxkit.serve.review import generate_shot

        if "cue" in opts:  # a bed or spot of a layered soundtrack
            from sfxkit.serve.review import generate_cue

            generate_cue(spec["video"], spec["index"], out=spec["out"], **opts)
        else:
            generate_shot(spec["video"], spec["index"], out=spec["out"], **opts)
    elif spec["kind"] == "soundtrack":
        # The page's knobs become the one options object the CLI and the API build too.
        device = opts.pop("device", None)
        options = sfxkit.SoundtrackOptions.from_kwargs(**opts)
        sfxkit.soundtrack(
            spec["video"], spec["index"], options, out=spec["out"], device=device, progress=True
        )
    else:
        sfxkit.compare(
            spec["video"], spec["index"], out=spec["out"] + "/report.html", progress=True, **opts
        )
except SfxkitError as exc:
    print("SFXKIT_RESULT " + json.dumps({"error": str(exc)}), file=sys.stderr, flush=True)
    sys.exit(exc.exit_code)
print("SFXKIT_RESULT " + json.dumps({"ok": True}), file=sys.stderr, flush=True)
"""


def _import_path() -> list[str]:
    """The server's sys.path without the entries that mean "the working folder" ('' and
    relative ones), so that a job imports the sfxkit the server runs, wherever it was started."""
    return [p for p in sys.path if p and os.path.isabs(p)]


@dataclass(eq=False)
class Job:
    id: str
    kind: str
    video: str
    out: Path
    options: dict[str, Any]
    state: str = "queued"  # queued, running, done, failed, cancelled, interrupted
    done: int = 0
    total: int | None = None
    error: str | None = None
    started: float = field(default_factory=time.time)
    finished: float | None = None
    proc: subprocess.Popen[bytes] | None = None
    changed: threading.Condition = field(default_factory=threading.Condition)
    position: int | None = None  # 1-based place in the queue while queued
    changes: int = 0  # bumped at every change, for the event streams

    @property
    def finished_state(self) -> bool:
        return self.state in FINISHED

    def outputs(self) -> list[str]:
        if not self.out.is_dir():
            return []
        return sorted(
            str(p.relative_to(self.out))
            for p in self.out.rglob("*")
            if p.is_file()
            and not p.is_symlink()
            and not any(part.startswith(".") for part in p.relative_to(self.out).parts)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "video": self.video,
            "state": self.state,
            "position": self.position,
            "progress": {"done": self.done, "total": self.total},
            "error": self.error,
            "started": self.started,
            "finished": self.finished,
            "outputs": self.outputs() if self.finished_state else [],
        }

    def record(self) -> None:
        """The job's state on disk (``.job.json`` in its folder), for a restarted server."""
        from sfxkit._atomic import atomic_write_text

        doc = {k: v for k, v in self.to_dict().items() if k not in ("outputs", "position")}
        doc["options"] = self.options
        with contextlib.suppress(OSError):
            atomic_write_text(self.out / RECORD, json.dumps(doc, default=str) + "\n")

    @classmethod
    def from_record(cls, folder: Path) -> Job | None:
        try:
            doc = json.loads((folder / RECORD).read_text())
            job = cls(
                str(doc["id"]), str(doc["kind"]), str(doc["video"]), folder, dict(doc["options"])
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None
        job.state = str(doc.get("state", "failed"))
        job.error = doc.get("error")
        job.started = float(doc.get("started") or 0.0)
        job.finished = doc.get("finished")
        progress = doc.get("progress") or {}
        job.done, job.total = int(progress.get("done") or 0), progress.get("total")
        return job


FINISHED = ("done", "failed", "cancelled", "interrupted")
RECORD = ".job.json"
JOB_MEMORY = 3 << 30
"""What one job may take (a soundtrack with the tiny-to-small generator: 1-3 GB) for the default
limit."""


def default_limit() -> int:
    """Concurrent jobs by default: one per two cores, and no more than the available memory
    holds at :data:`JOB_MEMORY` each; at least one."""
    cores = os.cpu_count() or 1
    try:
        avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        avail = JOB_MEMORY * 2
    return max(1, min(cores // 2, avail // JOB_MEMORY))


def _die_with_parent() -> Any:
    """A preexec function giving the child SIGKILL when the thread that started it (the
    manager's long-lived dispatcher) dies: on Linux only, elsewhere None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    parent = os.getpid()

    def preexec() -> None:
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the server died before the prctl
            os._exit(1)

    return preexec


def _exit_reason(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by {name} (signal {-code}); nothing it was writing was kept"
    return f"exit status {code}"


# Options naming files: written ones must stay in the job's folder, read ones in the roots.
_WRITES = {"compare": ("json_out",), "soundtrack": (), "generate": ()}
_READS = ("choices",)
_SET_BY_SERVER = ("out", "video", "index", "progress", "generator")


def check_options(kind: str, options: dict[str, Any], out: Path, roots: list[Path]) -> dict:
    """``options`` with the file names they give resolved: a file written goes inside the job's
    folder ``out`` (a plain name there), a file read lies inside ``roots``; InputError (naming
    the allowed place) for anything else."""
    from sfxkit.serve.security import clean_path, inside

    opts = dict(options)
    for key in _SET_BY_SERVER:
        if key in opts:
            raise InputError(f"option {key!r} is set by the server (a job writes in its folder)")
    for key in _WRITES[kind]:
        if opts.get(key) is None:
            continue
        name = opts[key]
        if not isinstance(name, str):
            raise InputError(f"option {key!r} must be a file name, got {type(name).__name__}")
        target = clean_path(str(out / name), key)
        if Path(name).is_absolute() or target.parent != out.resolve():
            raise InputError(
                f"option {key!r}: {name[:200]!r} is outside the job's folder; give a plain "
                f"file name (it is written inside {out})"
            )
        opts[key] = str(target)
    for key in _READS:
        value = opts.get(key)
        if isinstance(value, str):
            path = clean_path(value, key)
            if not inside(path, roots):
                raise InputError(
                    f"option {key!r}: {value[:200]!r} is outside "
                    f"{' and '.join(str(r) for r in roots)}; send the choices inline instead"
                )
            opts[key] = str(path)
    return opts


class JobManager:
    def __init__(
        self,
        index: Path,
        folder: Path,
        *,
        device: str | None = None,
        roots: list[Path] | None = None,
        limit: int | None = None,
    ) -> None:
        self.index = index
        self.folder = folder
        self.device = device
        self.roots = roots if roots is not None else [folder.resolve()]
        self.limit = max(1, int(limit)) if limit else default_limit()
        self._jobs: dict[str, Job] = {}
        self._queue: list[Job] = []
        self._running: set[Job] = set()
        self._lock = threading.Condition()
        self._closed = False
        self._preexec = _die_with_parent()
        self._recover()
        # One long-lived thread starts every child: PR_SET_PDEATHSIG fires when the thread
        # that forked dies, so that must not be a request thread that a pool may retire.
        self._dispatcher = threading.Thread(target=self._dispatch, name="sfxkit-jobs", daemon=True)
        self._dispatcher.start()

    def _recover(self) -> None:
        """The jobs recorded by an earlier server: those it did not finish are interrupted."""
        if not self.folder.is_dir():
            return
        for record in sorted(self.folder.glob(f"*/{RECORD}")):
            job = Job.from_record(record.parent)
            if job is None or job.id != record.parent.name:
                continue
            if not job.finished_state:
                was = job.state
                job.state = "interrupted"
                job.error = f"interrupted: the server stopped while the job was {was}"
                job.finished = job.finished or time.time()
                job.record()
            self._jobs[job.id] = job

    def all(self) -> list[Job]:
        return sorted(self._jobs.values(), key=lambda j: j.started)

    def get(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise InputError(f"no job {job_id!r}; GET /api/jobs lists them")
        return job

    def start(
        self, kind: str, video: str, options: dict[str, Any], *, out: Path | None = None
    ) -> Job:
        """Queue a job writing into its own folder, or into ``out`` (a review's export, which goes
        where the page was asked to put it; the caller has checked it lies inside the allowed
        roots). It starts when fewer than ``limit`` jobs run."""
        if kind not in KINDS:
            raise InputError(f"unknown job {kind!r}; use one of: {', '.join(KINDS)}")
        if not Path(video).is_file():
            raise InputError(f"{video}: no such video on the server")
        if kind == "generate" and not (
            isinstance(options.get("shot"), int) or isinstance(options.get("cue"), str)
        ):
            raise InputError(
                'a generate job needs the shot number or the cue: options {"shot": N} or '
                '{"cue": "spot-N"}'
            )
        if self.device is not None:
            options.setdefault("device", self.device)
        job_id = uuid.uuid4().hex[:12]
        folder = out or self.folder / job_id
        job = Job(job_id, kind, video, folder, check_options(kind, options, folder, self.roots))
        job.out.mkdir(parents=True, exist_ok=out is not None)
        job.record()
        with self._lock:
            self._jobs[job_id] = job
            self._queue.append(job)
            self._renumber()
            self._lock.notify_all()
        return job

    def _renumber(self) -> None:
        for i, job in enumerate(self._queue, 1):
            if job.position != i:
                self._changed(job, position=i)

    @staticmethod
    def _changed(job: Job, **values: Any) -> None:
        with job.changed:
            for key, value in values.items():
                setattr(job, key, value)
            job.changes += 1
            job.changed.notify_all()

    def _dispatch(self) -> None:
        while True:
            with self._lock:
                while not self._closed and (not self._queue or len(self._running) >= self.limit):
                    self._lock.wait()
                if self._closed:
                    return
                job = self._queue.pop(0)
                self._running.add(job)
                self._renumber()
            try:
                self._launch(job)
            except Exception as exc:  # noqa: BLE001 - a job that cannot start fails alone
                self._finish(job, "failed", f"could not start the job: {exc}")

    def _launch(self, job: Job) -> None:
        spec = {
            "kind": job.kind,
            "video": job.video,
            "index": str(self.index),
            "out": str(job.out),
            "options": job.options,
            "sys_path": _import_path(),
        }
        env = {**os.environ, "SFXKIT_PROGRESS": "1"}
        job.proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, json.dumps(spec)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            cwd=job.out,  # nothing of the server's working folder is importable
            start_new_session=True,  # cancel kills its whole process group
            preexec_fn=self._preexec,
        )
        self._changed(job, state="running", position=None)
        job.record()
        threading.Thread(target=self._watch, args=(job,), daemon=True).start()

    def _finish(self, job: Job, state: str, error: str | None) -> None:
        with self._lock:
            self._running.discard(job)
            self._lock.notify_all()
        with job.changed:
            if job.state not in ("cancelled", "interrupted"):
                job.state, job.error = state, error
            job.finished = time.time()
            job.changes += 1
            job.changed.notify_all()
        job.record()

    def _watch(self, job: Job) -> None:
        assert job.proc is not None and job.proc.stderr is not None
        result: dict[str, Any] = {}
        tail = ""
        buf = b""
        stream: Any = job.proc.stderr  # a BufferedReader: read1 returns what has arrived
        for chunk in iter(lambda: stream.read1(4096), b""):
            buf += chunk
            *pieces, buf = re.split(rb"[\r\n]", buf)
            for raw in pieces:
                line = raw.decode("utf-8", "replace")
                if line.startswith("SFXKIT_RESULT "):
                    result = json.loads(line[len("SFXKIT_RESULT ") :])
                    continue
                m = _PROGRESS.search(line) if line.lstrip().startswith(job.kind) else None
                if m:
                    self._changed(job, done=int(m.group(1)), total=int(m.group(2)))
                elif line.strip():
                    tail = line  # the last line that is not a progress bar
        code = job.proc.wait()
        if code == 0:
            self._finish(job, "done", None)
        elif code < 0 and not result:
            self._finish(job, "failed", _exit_reason(code))
        else:
            self._finish(job, "failed", result.get("error") or tail or _exit_reason(code))

    def cancel(self, job_id: str, *, state: str = "cancelled", why: str = "cancelled") -> Job:
        """Cancel a queued job (it never starts) or a running one (its processes are killed)."""
        job = self.get(job_id)
        with self._lock:
            if job.finished_state:
                return job
            queued = job in self._queue
            if queued:
                self._queue.remove(job)
                self._renumber()
        self._changed(job, state=state, position=None, error=why)
        if queued:
            job.finished = time.time()
            job.record()
            return job
        job.record()
        proc = job.proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
            threading.Thread(target=self._kill_later, args=(proc,), daemon=True).start()
        return job

    @staticmethod
    def _kill_later(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)

    async def events(self, job: Job, timeout: float = 3600.0) -> AsyncIterator[str]:
        """Server-sent events: the job's state each time it changes, until it finishes.

        Async: a waiting stream holds no thread, so many open streams cost the server nothing.
        """
        import asyncio

        deadline = time.monotonic() + timeout
        seen = -1
        while True:
            if job.changes != seen:
                seen = job.changes
                yield f"data: {json.dumps(job.to_dict())}\n\n"
            if job.finished_state or time.monotonic() > deadline:
                return
            await asyncio.sleep(0.2)

    def close(self) -> None:
        """Stop the queue and kill the running jobs (the server is stopping)."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        for job in self.all():
            if not job.finished_state:
                was = job.state
                why = f"interrupted: the server stopped while the job was {was}"
                self.cancel(job.id, state="interrupted", why=why)
        for job in list(self._running):
            if job.proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    job.proc.wait(timeout=10)
