"""Soundtrack, compare and generate jobs, each in its own process: progress, outputs, cancellation.

A job runs :func:`sfxkit.soundtrack`, :func:`sfxkit.compare` or (one shot's sound for the review
page) :func:`sfxkit.serve.review.generate_shot` in a child process (so that
cancelling it is a kill, never a half-stopped thread holding the model) and writes into its own
folder under the jobs directory; the progress comes from the per-shot progress bar on the
child's stderr.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
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
try:
    import sfxkit
    from sfxkit.errors import SfxkitError
    opts = dict(spec["options"])
    if spec["kind"] == "generate":
        from sfxkit.serve.review import generate_shot

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


@dataclass(eq=False)
class Job:
    id: str
    kind: str
    video: str
    out: Path
    options: dict[str, Any]
    state: str = "queued"  # queued, running, done, failed, cancelled
    done: int = 0
    total: int | None = None
    error: str | None = None
    started: float = field(default_factory=time.time)
    finished: float | None = None
    proc: subprocess.Popen[bytes] | None = None
    changed: threading.Condition = field(default_factory=threading.Condition)

    @property
    def finished_state(self) -> bool:
        return self.state in ("done", "failed", "cancelled")

    def outputs(self) -> list[str]:
        if not self.out.is_dir():
            return []
        return sorted(
            str(p.relative_to(self.out))
            for p in self.out.rglob("*")
            if p.is_file() and not p.is_symlink()
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "video": self.video,
            "state": self.state,
            "progress": {"done": self.done, "total": self.total},
            "error": self.error,
            "started": self.started,
            "finished": self.finished,
            "outputs": self.outputs() if self.finished_state else [],
        }


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
    ) -> None:
        self.index = index
        self.folder = folder
        self.device = device
        self.roots = roots if roots is not None else [folder.resolve()]
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def all(self) -> list[Job]:
        return list(self._jobs.values())

    def get(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise InputError(f"no job {job_id!r}; GET /api/jobs lists them")
        return job

    def start(self, kind: str, video: str, options: dict[str, Any]) -> Job:
        if kind not in KINDS:
            raise InputError(f"unknown job {kind!r}; use one of: {', '.join(KINDS)}")
        if not Path(video).is_file():
            raise InputError(f"{video}: no such video on the server")
        if kind == "generate" and not isinstance(options.get("shot"), int):
            raise InputError('a generate job needs the shot number: options {"shot": N}')
        if self.device is not None:
            options.setdefault("device", self.device)
        job_id = uuid.uuid4().hex[:12]
        out = self.folder / job_id
        job = Job(job_id, kind, video, out, check_options(kind, options, out, self.roots))
        job.out.mkdir(parents=True)
        spec = {
            "kind": kind,
            "video": video,
            "index": str(self.index),
            "out": str(job.out),
            "options": job.options,
        }
        env = {**os.environ, "SFXKIT_PROGRESS": "1"}
        job.proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, json.dumps(spec)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
        job.state = "running"
        with self._lock:
            self._jobs[job_id] = job
        threading.Thread(target=self._watch, args=(job,), daemon=True).start()
        return job

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
                if line.strip():
                    tail = line
                m = _PROGRESS.search(line) if line.lstrip().startswith(job.kind) else None
                if m:
                    with job.changed:
                        job.done, job.total = int(m.group(1)), int(m.group(2))
                        job.changed.notify_all()
        code = job.proc.wait()
        with job.changed:
            if job.state != "cancelled":
                if code == 0:
                    job.state = "done"
                else:
                    job.state = "failed"
                    job.error = result.get("error") or tail or f"exit status {code}"
            job.finished = time.time()
            job.changed.notify_all()

    def cancel(self, job_id: str) -> Job:
        job = self.get(job_id)
        with job.changed:
            if job.finished_state:
                return job
            job.state = "cancelled"
            job.changed.notify_all()
        if job.proc is not None and job.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(job.proc.pid, signal.SIGTERM)
        return job

    def events(self, job: Job, timeout: float = 3600.0) -> Iterator[str]:
        """Server-sent events: the job's state each time it changes, until it finishes."""
        deadline = time.monotonic() + timeout
        last: str | None = None
        while True:
            with job.changed:
                data = json.dumps(job.to_dict())
                if data == last and not job.finished_state:
                    job.changed.wait(timeout=1.0)
                    data = json.dumps(job.to_dict())
            if data != last:
                yield f"data: {data}\n\n"
                last = data
            if job.finished_state or time.monotonic() > deadline:
                return

    def close(self) -> None:
        for job in self.all():
            if not job.finished_state:
                self.cancel(job.id)
