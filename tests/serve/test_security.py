"""Safe by default: traversal, symlinks out, oversize uploads, token, host and cross-site checks."""

from __future__ import annotations

import os

import pytest
from starlette.testclient import TestClient

from sfxkit.errors import InputError
from sfxkit.recommender import Recommender
from sfxkit.serve import create_app
from tests.serve.conftest import BASE, HEADERS, png_bytes

TRAVERSALS = [
    "/api/audio/../../../../etc/passwd",
    "/api/audio/..%2F..%2F..%2Fetc%2Fpasswd",
    "/api/audio/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/api/audio/%2Fetc%2Fpasswd",
    "/api/audio//etc/passwd",
    "/api/audio/",
]


@pytest.mark.parametrize("url", TRAVERSALS)
def test_catalog_audio_is_only_looked_up_by_id(client, url):
    r = client.get(url)
    assert r.status_code in (400, 404, 405)
    assert b"root:" not in r.content


def test_a_catalog_symlink_out_of_the_catalog_is_not_served(client, world):
    rows = Recommender(world.index).index.rows
    linked = rows[rows["path"].str.endswith("secret_link.wav")]
    assert len(linked) == 1  # the walker indexed it ...
    r = client.get(f"/api/audio/{linked.iloc[0]['id']}")
    assert r.status_code == 404  # ... but its file lies outside the catalog
    assert r.content != world.outside.read_bytes()


def test_job_outputs_refuse_traversal_symlinks_and_folders(world, tmp_path):
    app = create_app(world.index, jobs_dir=tmp_path / "jobs")
    with TestClient(app, base_url=BASE) as c:
        r = c.post(
            "/api/jobs/soundtrack", data={"video_path": str(tmp_path / "none.mp4")}, headers=HEADERS
        )
        assert r.status_code == 400 and "none.mp4" in r.json()["detail"]
        # a finished job's folder, made by hand: one output, a symlink out, a sub-folder
        from sfxkit.serve.jobs import Job

        out = tmp_path / "jobs" / "j1"
        (out / "sub").mkdir(parents=True)
        (out / "mix.wav").write_bytes(b"RIFF-mix")
        os.symlink("/etc/passwd", out / "leak.txt")
        job = Job("j1", "soundtrack", str(world.video), out, {}, state="done")
        app.state.jobs._jobs["j1"] = job
        assert c.get("/api/jobs/j1/files/mix.wav").content == b"RIFF-mix"
        for bad in (
            "leak.txt",
            "sub",
            "../j1/mix.wav",
            "..%2Fj1%2Fmix.wav",
            "%2Fetc%2Fpasswd",
            "sub/../../../etc/passwd",
        ):
            r = c.get(f"/api/jobs/j1/files/{bad}")
            assert r.status_code == 404, bad
            assert b"root:" not in r.content
        assert c.get("/api/jobs/j1").json()["outputs"] == ["mix.wav"]


def test_oversize_uploads_get_a_clear_413(world):
    with TestClient(create_app(world.index, max_upload_mb=0.01), base_url=BASE) as c:
        big = b"\0" * 20_000
        r = c.post("/api/recommend/frame", files={"image": ("big.png", big)}, headers=HEADERS)
        assert r.status_code == 413
        detail = r.json()["detail"]
        assert detail.startswith("upload is 0.02") and "the limit is 0.01 MB" in detail
        assert "--max-upload" in detail

        def chunks():  # no Content-Length: counted as it arrives
            yield b'--xyz\r\nContent-Disposition: form-data; name="text"\r\n\r\n'
            for _ in range(10):
                yield b"\0" * 4096

        r = c.post(
            "/api/recommend/text",
            content=chunks(),
            headers={**HEADERS, "Content-Type": "multipart/form-data; boundary=xyz"},
        )
        assert r.status_code == 413
        ok = c.post(
            "/api/recommend/frame", files={"image": ("s.png", png_bytes())}, headers=HEADERS
        )
        assert ok.status_code == 200


def test_non_loopback_needs_the_token(world):
    with pytest.raises(InputError, match="needs a token"):
        create_app(world.index, host="0.0.0.0")
    app = create_app(world.index, host="0.0.0.0", token="s3cret-token")
    with TestClient(app, base_url="http://203.0.113.7:8765") as c:
        assert c.get("/api/index").status_code == 401
        assert c.get("/api/index", headers={"Authorization": "Bearer wrong"}).status_code == 403
        assert c.get("/api/index", headers={"X-Sfxkit-Token": "s3cret-tokeX"}).status_code == 403
        r = c.post("/api/recommend/text", data={"text": "rain"}, headers=HEADERS)
        assert r.status_code == 401
        good = {"Authorization": "Bearer s3cret-token"}
        assert c.get("/api/index", headers=good).status_code == 200
        assert c.get("/api/index?token=s3cret-token").status_code == 200
        r = c.post("/api/recommend/text", data={"text": "rain"}, headers={**HEADERS, **good})
        assert r.status_code == 200


def test_cross_site_and_foreign_host_requests_are_refused(client):
    r = client.post("/api/recommend/text", data={"text": "rain"})  # a plain cross-site form
    assert r.status_code == 403 and "X-Sfxkit" in r.json()["detail"]
    r = client.post(
        "/api/recommend/text",
        data={"text": "rain"},
        headers={**HEADERS, "Origin": "https://evil.example"},
    )
    assert r.status_code == 403 and "evil.example" in r.json()["detail"]
    # DNS rebinding: a foreign name resolving to loopback
    r = client.get("/api/index", headers={"Host": "evil.example"})
    assert r.status_code == 403
    r = client.delete("/api/jobs/anything")
    assert r.status_code == 403
