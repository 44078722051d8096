"""Issue 19, items 3, 4 and 6: a job queue with a limit, positions and cancel; async event
streams; jobs recorded on disk, children that die with the server, temp files never listed,
a killed job that says so."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from sfxkit.serve import create_app
from tests.serve.conftest import BASE, HEADERS, free_port, sfxkit_exe

# A job that waits: compare with a generator that takes long (steps) on the tiny index.
SLOW = json.dumps({"variant": "tiny_16k", "steps": 200})


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_twenty_jobs_queue_behind_the_limit_and_cancel_works(world, tmp_path):
    app = create_app(world.index, jobs_dir=tmp_path / "jobs", max_jobs=1)
    with TestClient(app, base_url=BASE) as c:
        ids = []
        for _ in range(20):
            r = c.post(
                "/api/jobs/compare",
                data={"video_path": str(world.video), "options": SLOW},
                headers=HEADERS,
            )
            assert r.status_code == 200, r.text
            ids.append(r.json()["id"])
        time.sleep(1.0)
        listed = {j["id"]: j for j in c.get("/api/jobs").json()}
        running = [i for i in ids if listed[i]["state"] == "running"]
        assert running == [ids[0]]  # one at a time, first come first served
        assert [listed[i]["position"] for i in ids[1:]] == list(range(1, 20))
        assert [listed[i]["state"] for i in ids[1:]] == ["queued"] * 19
        assert c.get("/api/jobs-queue").json() == {
            "limit": 1,
            "running": [ids[0]],
            "queued": ids[1:],
        }
        procs = [p for p in (app.state.jobs.get(i).proc for i in ids) if p is not None]
        assert len(procs) == 1  # 19 jobs wait without a process

        # cancel a queued job: it never runs; the others move up
        assert c.delete(f"/api/jobs/{ids[5]}", headers=HEADERS).json()["state"] == "cancelled"
        assert c.get(f"/api/jobs/{ids[6]}").json()["position"] == 5
        # cancel the running job: killed, and the next one starts
        first = app.state.jobs.get(ids[0]).proc
        assert c.delete(f"/api/jobs/{ids[0]}", headers=HEADERS).json()["state"] == "cancelled"
        assert first.wait(timeout=30) != 0
        deadline = time.monotonic() + 30
        while c.get(f"/api/jobs/{ids[1]}").json()["state"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert c.get(f"/api/jobs/{ids[5]}").json()["state"] == "cancelled"
        assert app.state.jobs.get(ids[5]).proc is None
        assert c.get(f"/api/jobs/{ids[2]}").json()["position"] == 1
        running_proc = app.state.jobs.get(ids[1]).proc
    # leaving the app (server shutdown) kills what runs
    assert running_proc.wait(timeout=30) != 0


def test_eighty_event_streams_leave_the_index_answering(world, tmp_path):
    from sfxkit.serve.loadtest import run_server

    app = create_app(world.index, jobs_dir=tmp_path / "jobs", max_jobs=1)
    with (
        run_server(app, free_port(), timeout=200) as url,
        httpx.Client(base_url=url, timeout=60) as c,
    ):
        r = c.post(
            "/api/jobs/compare",
            data={"video_path": str(world.video), "options": SLOW},
            headers=HEADERS,
        )
        job = r.json()["id"]
        opened = threading.Barrier(81)
        stop = threading.Event()

        def listen() -> None:
            with (
                httpx.Client(base_url=url, timeout=120) as own,
                own.stream("GET", f"/api/jobs/{job}/events") as s,
            ):
                it = s.iter_lines()
                next(it)  # the first event: the stream is open
                opened.wait()
                for _ in it:
                    if stop.is_set():
                        return

        threads = [threading.Thread(target=listen, daemon=True) for _ in range(80)]
        for t in threads:
            t.start()
        opened.wait(timeout=120)
        # with 80 streams open, /api/index answers, 20 times in a row
        for _ in range(20):
            assert c.get("/api/index").status_code == 200
        stop.set()
        c.delete(f"/api/jobs/{job}", headers=HEADERS)
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads)


def test_temp_files_and_the_record_are_never_listed_or_served(world, tmp_path):
    app = create_app(world.index, jobs_dir=tmp_path / "jobs")
    with TestClient(app, base_url=BASE) as c:
        from sfxkit.serve.jobs import Job

        out = tmp_path / "jobs" / "j1"
        out.mkdir(parents=True)
        (out / "mix.wav").write_bytes(b"RIFF")
        (out / ".mix.wav.abc123.tmp.wav").write_bytes(b"half")  # an atomic write cut short
        job = Job("j1", "soundtrack", str(world.video), out, {}, state="cancelled")
        job.record()
        app.state.jobs._jobs["j1"] = job
        assert c.get("/api/jobs/j1").json()["outputs"] == ["mix.wav"]
        for hidden in (".mix.wav.abc123.tmp.wav", ".job.json"):
            assert c.get(f"/api/jobs/j1/files/{hidden}").status_code == 404


def _start_server(world, jobs: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            "timeout",
            "300",
            sfxkit_exe(),
            "serve",
            "--index",
            str(world.index),
            "--port",
            str(port),
            "--jobs-dir",
            str(jobs),
            "--no-warm",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.3)
    raise AssertionError("the server did not start")


def _running_child(url: str, world) -> tuple[str, int]:
    r = httpx.post(
        f"{url}/api/jobs/compare",
        data={"video_path": str(world.video), "options": SLOW},
        headers=HEADERS,
        timeout=30,
    )
    job = r.json()["id"]
    deadline = time.monotonic() + 60
    while httpx.get(f"{url}/api/jobs/{job}", timeout=10).json()["state"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    # the child: the process whose parent is the server and whose argv carries the job's folder
    out = subprocess.run(["pgrep", "-f", job], capture_output=True, text=True).stdout.split()
    pids = [int(p) for p in out if int(p) != os.getpid()]
    assert pids, "the job's process was not found"
    return job, pids[0]


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_children_die_with_the_server_and_a_restart_reports_the_job(world, tmp_path, sig):
    jobs = tmp_path / "jobs"
    port = free_port()
    server = _start_server(world, jobs, port)
    url = f"http://127.0.0.1:{port}"
    try:
        job, child = _running_child(url, world)
        # the sfxkit process itself (under `timeout`)
        serve = int(
            subprocess.run(
                ["pgrep", "-P", str(server.pid)], capture_output=True, text=True
            ).stdout.split()[0]
        )
        os.kill(serve, sig)
        deadline = time.monotonic() + 30
        while _alive(child):
            assert time.monotonic() < deadline, f"job child {child} outlived the server ({sig!r})"
            time.sleep(0.2)
        server.wait(timeout=30)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
    port = free_port()
    again = _start_server(world, jobs, port)
    try:
        info = httpx.get(f"http://127.0.0.1:{port}/api/jobs/{job}", timeout=10).json()
        assert info["state"] == "interrupted", info
        assert "server stopped" in info["error"]
    finally:
        again.terminate()
        again.wait(timeout=30)


def test_a_job_killed_by_a_signal_says_so(world, tmp_path):
    app = create_app(world.index, jobs_dir=tmp_path / "jobs")
    with TestClient(app, base_url=BASE) as c:
        r = c.post(
            "/api/jobs/compare",
            data={"video_path": str(world.video), "options": SLOW},
            headers=HEADERS,
        )
        job = app.state.jobs.get(r.json()["id"])
        deadline = time.monotonic() + 60
        while job.proc is None:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(3.0)  # let it print progress lines
        os.kill(job.proc.pid, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while not job.finished_state:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        info = c.get(f"/api/jobs/{job.id}").json()
        assert info["state"] == "failed"
        assert info["error"].startswith("killed by SIGKILL (signal 9)"), info["error"]
