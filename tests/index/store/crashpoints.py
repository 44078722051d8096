"""Kill a build at every filesystem operation it makes, and check what it leaves.

Run as a script (``python -m tests.index.store.crashpoints WORK OUT.json SPEC``, see :func:`main`) by the tests in
``test_crash_points.py``. The existing fault injection of ``tests/test_core_index.py`` patches
``os.replace`` in a subprocess; this extends it to every operation that changes the file system
(open for writing, fsync, rename, replace, mkdir, unlink, rmdir, truncate, chmod), counted only
under the directory holding the index, and kills the build just before operation N, for each N.

Each build runs in a forked child of one process that imported everything once, so a kill point
costs a fraction of a second; the tiny encoders are created once and passed in. OpenMP is kept to
one thread (set before import by the caller's environment) so forking after torch is safe.

For each N the driver records: the operation killed at, the state after the kill (absent, or the
version and answers of a loadable index, plus ``verify`` problems and the error a reader gets),
and the outcome of the next, unkilled build (its answers, and any files left behind).
"""

from __future__ import annotations

import builtins
import io
import json
import os
import shutil
import sys
import traceback
from pathlib import Path
from typing import Any

KILLED = 17


def make_library(root: Path, extra: bool = False) -> Path:
    from tests import synth

    synth.write_audio(root / "rain.wav", synth.noise(1.0, band=(2000, 9000), seed=1))
    synth.write_audio(root / "steps.flac", synth.clicks(1.0, 3.0))
    synth.write_audio(root / "hum.wav", synth.tone(120, 1.0))
    if extra:
        synth.write_audio(root / "thunder.wav", synth.noise(1.0, band=(40, 300), seed=11))
    return root


# ------------------------------------------------------------------------------ the hook
def install_hook(watched: Path, kill_at: int | None, log: list[tuple[str, str]]) -> None:
    """Count every fs mutation under ``watched``; ``os._exit`` just before number ``kill_at``."""
    top = str(watched)

    def resolve(path: Any, dir_fd: int | None = None) -> str:
        if isinstance(path, int):
            try:
                return os.readlink(f"/proc/self/fd/{path}")
            except OSError:
                return ""
        p = os.fsdecode(path)
        if dir_fd is not None and not os.path.isabs(p):
            try:
                p = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), p)
            except OSError:
                return ""
        return os.path.abspath(p)

    def op(kind: str, path: str) -> None:
        if path == top or path.startswith(top + os.sep):
            log.append((kind, os.path.relpath(path, top)))
            if kill_at is not None and len(log) == kill_at:
                os._exit(KILLED)

    def wrap(name: str, paths: int = 1) -> None:
        real = getattr(os, name)

        def patched(*args: Any, **kwargs: Any) -> Any:
            dir_fd = kwargs.get("dir_fd", kwargs.get("src_dir_fd"))
            op(name, resolve(args[0], dir_fd))
            return real(*args, **kwargs)

        setattr(os, name, patched)

    for name in ("replace", "rename", "mkdir", "unlink", "remove", "rmdir", "fsync", "chmod"):
        wrap(name)
    for name in ("ftruncate", "pwrite"):
        wrap(name)

    real_os_open = os.open
    writing = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

    def os_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & writing:
            op("open", resolve(path, kwargs.get("dir_fd")))
        return real_os_open(path, flags, *args, **kwargs)

    os.open = os_open  # type: ignore[assignment]
    real_open = builtins.open

    def open_(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if not isinstance(file, int) and any(c in mode for c in "wax+"):
            op("open", resolve(file))
        return real_open(file, mode, *args, **kwargs)

    builtins.open = open_  # type: ignore[assignment]
    io.open = open_  # type: ignore[assignment]


# ----------------------------------------------------------------------------- the driver
def answer(index: Path) -> dict[str, Any]:
    """What a user sees of an index: its items and the top results of two queries."""
    from sfxkit.index.store import load_index
    from sfxkit.recommender import Recommender
    from tests import synth

    idx = load_index(index)
    rec = Recommender(idx, encoders=ENCODERS)
    return {
        "ids": sorted(idx.rows["id"]),
        "text": [(r.id, round(r.score, 5)) for r in rec.recommend_text("rain", k=3)],
        "frame": [
            (r.id, round(r.score, 5)) for r in rec.recommend(synth.draw_frame("red", 64), k=3)
        ],
    }


def leftovers(work: Path, index: Path) -> list[str]:
    """Files a finished build should not leave: temp files, staging, stray versions, siblings."""
    found = [p.name for p in work.iterdir() if p != index]
    if index.is_dir():
        found += [
            n
            for n in os.listdir(index)
            if n not in {".lock", "sfxkit-index.json", "CURRENT", "versions"}
        ]
        vroot = index / "versions"
        if vroot.is_dir():
            found += [f"versions/{n}" for n in os.listdir(vroot) if not n.startswith("v")]
    return found


def build(lib: Path, index: Path) -> int:
    from sfxkit.index.build import build_index

    return build_index(lib, index, models="tiny", progress=False, encoders=ENCODERS).version


def in_child(fn: Any, *args: Any) -> tuple[int, Any]:
    """Run ``fn`` in a forked child; return its exit status and what it returned (as JSON)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            out: Any = {"ok": fn(*args)}
        except BaseException as exc:  # noqa: BLE001  (reported to the parent)
            out = {"error": f"{type(exc).__name__}: {exc}", "tb": traceback.format_exc()}
        with os.fdopen(w, "w") as f:
            json.dump(out, f, default=str)
        os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), (json.loads(data) if data else None)


def killed_build(lib: Path, work: Path, index: Path, n: int | None) -> list[tuple[str, str]]:
    log: list[tuple[str, str]] = []
    install_hook(work, n, log)
    build(lib, index)
    return log


def after_kill(work: Path, index: Path) -> dict[str, Any]:
    from sfxkit.index.store import IndexStore

    out: dict[str, Any] = {"exists": index.exists()}
    try:
        out["answer"] = answer(index)
        out["version"] = IndexStore(index).manifest().version
        out["verify"] = IndexStore(index).verify()
    except Exception as exc:  # noqa: BLE001
        out["reader_error"] = f"{type(exc).__name__}: {exc}"
    return out


def next_build(lib: Path, work: Path, index: Path) -> dict[str, Any]:
    from sfxkit.index.store import IndexStore

    version = build(lib, index)
    store = IndexStore(index)
    manifest = store.manifest()
    prev = (manifest.get("previous") or {}).get("version")
    return {
        "version": version,
        "answer": answer(index),
        "verify": store.verify(),
        "leftovers": leftovers(work, index),
        "versions": [p.name for p in store.versions()],
        "previous_kept": prev is None or (index / "versions" / f"v{prev:06d}").is_dir(),
    }


ENCODERS: dict[str, Any] = {}


def pick(ops: list[tuple[str, str]], wanted: str) -> int:
    """Kill point ``N``, or ``KIND:TEXT`` for the first op of that kind whose path has TEXT."""
    if wanted.isdigit():
        return int(wanted)
    kind, _, text = wanted.partition(":")
    return next(i for i, (k, p) in enumerate(ops, 1) if k == kind and text in p)


def kill_each(
    lib: Path, base: Path, work: Path, ops: list[Any], wanted: list[str] | None
) -> list[dict[str, Any]]:
    """Copy ``base`` to ``work`` and build ``lib`` into it, killed at each wanted point in turn."""
    points = [pick(ops, w) for w in wanted] if wanted else list(range(1, len(ops) + 1))
    results = []
    for n in points:
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(base, work, symlinks=True)
        status, _ = in_child(killed_build, lib, work, work / "idx", n)
        record: dict[str, Any] = {"n": n, "op": ops[n - 1], "status": status}
        record["after"] = in_child(after_kill, work, work / "idx")[1]["ok"]
        record["next"] = in_child(next_build, lib, work, work / "idx")[1]
        results.append(record)
    return results


def reference_build(lib: Path, work: Path) -> list[Any]:
    """The unkilled build into ``work/idx``: the operations it makes."""
    status, res = in_child(killed_build, lib, work, work / "idx", None)
    assert status == 0 and "ok" in res, res
    return res["ok"]


def main(root: Path, out_json: Path, spec: dict[str, list[str] | None]) -> None:
    """``spec`` maps "first" and/or "incremental" to kill points (None: every operation).

    Both modes share one setup: the first build's reference run is the first version of the
    index the incremental builds update.
    """
    from sfxkit.config import TINY_AUDIO_MODEL, TINY_FRAME_MODEL
    from sfxkit.models.registry import load_audio_encoder, load_frame_encoder

    ENCODERS["frame"] = load_frame_encoder(TINY_FRAME_MODEL)
    ENCODERS["audio"] = load_audio_encoder(TINY_AUDIO_MODEL)
    lib_old = make_library(root / "lib_old")
    empty, base, work = root / "empty", root / "base", root / "work"
    empty.mkdir()
    base.mkdir()
    ops = reference_build(lib_old, base)
    out: dict[str, Any] = {}
    if "first" in spec:
        new = in_child(answer, base / "idx")[1]["ok"]
        results = kill_each(lib_old, empty, work, ops, spec["first"])
        out["first"] = {"ops": ops, "results": results, "old": None, "new": new}
    if "incremental" in spec:
        lib_new = make_library(root / "lib_new", extra=True)
        status, res = in_child(build, lib_old, base / "idx")  # a second version to clean up
        assert status == 0 and "ok" in res, res
        old = in_child(answer, base / "idx")[1]["ok"]
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(base, work, symlinks=True)
        ops = reference_build(lib_new, work)
        new = in_child(answer, work / "idx")[1]["ok"]
        results = kill_each(lib_new, base, work, ops, spec["incremental"])
        out["incremental"] = {"ops": ops, "results": results, "old": old, "new": new}
    out_json.write_text(json.dumps(out, default=str))


if __name__ == "__main__":
    sys.setrecursionlimit(10000)
    main(Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3]))
