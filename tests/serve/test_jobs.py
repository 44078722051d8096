"""Soundtrack and compare jobs in the background: progress, outputs, server-sent events, cancel."""

from __future__ import annotations

import json
import time

import pytest
import soundfile as sf
from starlette.testclient import TestClient

from sfxkit.serve import create_app
from tests.serve.conftest import BASE, HEADERS


def _wait(c, job_id: str, timeout: float = 240.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = c.get(f"/api/jobs/{job_id}").json()
        if job["state"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} still {job['state']} after {timeout} s")


@pytest.mark.slow
def test_a_soundtrack_job_reports_progress_and_serves_its_outputs(world, tmp_path):
    with TestClient(create_app(world.index, jobs_dir=tmp_path / "jobs"), base_url=BASE) as c:
        opts = {"policy": "retrieve", "variant": "tiny_16k", "steps": 2}
        r = c.post(
            "/api/jobs/soundtrack",
            data={"video_path": str(world.video), "options": json.dumps(opts)},
            headers=HEADERS,
        )
        assert r.status_code == 200, r.text
        job_id = r.json()["id"]
        events = []
        with c.stream("GET", f"/api/jobs/{job_id}/events") as stream:
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    events.append(json.loads(line[6:]))
        assert events[-1]["state"] == "done", events[-1]
        assert events[-1]["progress"] == {"done": 3, "total": 3}
        outputs = events[-1]["outputs"]
        mix = next(o for o in outputs if o.endswith(".wav") and "mix" in o)
        r = c.get(f"/api/jobs/{job_id}/files/{mix}")
        assert r.status_code == 200
        data, sr = sf.read(tmp_path / "jobs" / job_id / mix)
        assert len(data) / sr == pytest.approx(4.5, abs=0.1)
        assert r.content == (tmp_path / "jobs" / job_id / mix).read_bytes()


@pytest.mark.slow
def test_a_job_can_be_cancelled_and_a_bad_one_fails_with_the_cli_message(world, tmp_path):
    with TestClient(create_app(world.index, jobs_dir=tmp_path / "jobs"), base_url=BASE) as c:
        r = c.post("/api/jobs/compare", data={"video_path": str(world.video)}, headers=HEADERS)
        job_id = r.json()["id"]
        r = c.delete(f"/api/jobs/{job_id}", headers=HEADERS)
        assert r.json()["state"] == "cancelled"
        job = c.app.state.jobs.get(job_id)
        # stopped: killed if it had started, never started if it was still queued
        assert job.proc is None or job.proc.wait(timeout=30) != 0
        assert _wait(c, job_id)["state"] == "cancelled"
        assert not (tmp_path / "jobs" / job_id / "report.html").exists()

        bad = {"policy": "sometimes"}
        r = c.post(
            "/api/jobs/soundtrack",
            data={"video_path": str(world.video), "options": json.dumps(bad)},
            headers=HEADERS,
        )
        job = _wait(c, r.json()["id"])
        assert job["state"] == "failed" and "sometimes" in job["error"]
        r = c.post("/api/jobs/remix", data={"video_path": str(world.video)}, headers=HEADERS)
        assert r.status_code == 400 and "soundtrack, compare" in r.json()["detail"]
