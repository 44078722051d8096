"""Issue 19, item 1: the service writes only inside its own folders, and every other path is
refused with a 4xx naming where it may write."""

from __future__ import annotations

import json

from starlette.testclient import TestClient

from sfxkit.serve import create_app
from tests.serve.conftest import BASE, HEADERS


def test_a_compare_job_cannot_write_outside_its_folder(world, tmp_path):
    target = tmp_path / "elsewhere" / "stolen.json"
    jobs = tmp_path / "jobs"
    with TestClient(create_app(world.index, jobs_dir=jobs), base_url=BASE) as c:
        for bad in (str(target), "../../stolen.json", "sub/../../x.json", {"a": 1}):
            r = c.post(
                "/api/jobs/compare",
                data={"video_path": str(world.video), "options": json.dumps({"json_out": bad})},
                headers=HEADERS,
            )
            assert r.status_code == 400, (bad, r.text)
            assert "json_out" in r.json()["detail"]
        r = c.post(
            "/api/jobs/compare",
            data={"video_path": str(world.video), "options": json.dumps({"out": str(target)})},
            headers=HEADERS,
        )
        assert r.status_code == 400 and "set by the server" in r.json()["detail"]
        # a choices file to read must be one the server keeps
        r = c.post(
            "/api/jobs/soundtrack",
            data={"video_path": str(world.video), "options": '{"choices": "/etc/passwd"}'},
            headers=HEADERS,
        )
        assert r.status_code == 400 and str(jobs.resolve()) in r.json()["detail"]
        # a plain name is accepted and lands in the job's own folder
        r = c.post(
            "/api/jobs/compare",
            data={"video_path": str(world.video), "options": '{"json_out": "r.json"}'},
            headers=HEADERS,
        )
        assert r.status_code == 200, r.text
        job = c.app.state.jobs.get(r.json()["id"])
        assert job.options["json_out"] == str((jobs / job.id / "r.json").resolve())
        c.delete(f"/api/jobs/{job.id}", headers=HEADERS)
    assert not target.parent.exists()
    assert sorted(p.name for p in jobs.iterdir() if not p.name.startswith(".")) == [job.id]


def test_review_sessions_write_only_under_the_jobs_dir_or_the_outputs_root(world, tmp_path):
    jobs, root = tmp_path / "jobs", tmp_path / "deliveries"
    outside = tmp_path / "any" / "dir"
    app = create_app(world.index, jobs_dir=jobs, outputs_root=root)
    with TestClient(app, base_url=BASE) as c:
        for out in (str(outside), "/proc/self", str(root) + "/../any", "relative/dir"):
            r = c.get("/review", params={"video": str(world.video), "out": out})
            assert r.status_code == 400, (out, r.text)
            detail = r.json()["detail"]
            assert str(root.resolve()) in detail and str(jobs.resolve()) in detail
            assert "--outputs-root" in detail
        assert c.get("/review", params={"video": str(world.video)}).status_code == 200
        body = {"video": str(world.video), "out": str(outside), "shots": {}}
        r = c.post("/api/review/session", json=body, headers=HEADERS)
        assert r.status_code == 400 and str(root.resolve()) in r.json()["detail"]
        # an existing choices.json elsewhere is not read back either
        (tmp_path / "spy").mkdir()
        (tmp_path / "spy" / "choices.json").write_text('{"shots": {"0": {"decision": "x"}}}')
        r = c.get(
            "/api/review/session", params={"video": str(world.video), "out": str(tmp_path / "spy")}
        )
        assert r.status_code == 400
        r = c.post("/api/review/export", json={**body, "shots": None}, headers=HEADERS)
        assert r.status_code == 400
        # inside the outputs root it works
        ok = {**body, "out": str(root / "film"), "shots": {"0": {"decision": "silence"}}}
        r = c.post("/api/review/session", json=ok, headers=HEADERS)
        assert r.status_code == 200, r.text
    assert (root / "film" / "choices.json").is_file()
    assert not outside.exists() and not (tmp_path / "any").exists()


def test_without_an_outputs_root_only_the_jobs_dir_is_writable(world, tmp_path):
    jobs = tmp_path / "jobs"
    with TestClient(create_app(world.index, jobs_dir=jobs), base_url=BASE) as c:
        r = c.get("/review", params={"video": str(world.video), "out": str(tmp_path / "o")})
        assert r.status_code == 400 and str(jobs.resolve()) in r.json()["detail"]
        inside = jobs / "mine"
        r = c.get("/review", params={"video": str(world.video), "out": str(inside)})
        assert r.status_code == 200
