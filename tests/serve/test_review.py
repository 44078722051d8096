"""The review page without a browser: shots, plain-words decisions, the session file surviving a
restart, and what the page may load."""

from __future__ import annotations

import json

from starlette.testclient import TestClient

from sfxkit.editorial import load_choices
from sfxkit.serve import create_app
from tests.serve.conftest import BASE, HEADERS


def test_review_page_and_session_survive_a_restart(world, tmp_path):
    out = tmp_path / "out"
    params = {"video": str(world.video), "out": str(out)}
    with TestClient(create_app(world.index, jobs_dir=tmp_path / "jobs"), base_url=BASE) as c:
        page = c.get("/review", params=params)
        assert page.status_code == 200
        assert page.text.count('<section class="shot"') == 3
        plain = ("A catalog sound fits", "Nothing in the catalog fits", "layer it", "silent")
        for section in page.text.split('<section class="shot"')[1:]:
            said = section.split('<p class="reason">')[0]  # plain words before the numbers
            assert any(p in said for p in plain) and "clip_text" not in said
        assert (
            c.get("/api/review/keyframe", params={"video": str(world.video), "t": 0.5}).headers[
                "content-type"
            ]
            == "image/png"
        )
        first = page.text.split('class="cand" data-id="')[1].split('"')[0]
        body = {
            "video": str(world.video),
            "out": str(out),
            "shots": {"2": {"decision": "silence"}, "0": {"sound": first, "gain_db": -2}},
        }
        assert c.post("/api/review/session", json=body).status_code == 403  # no X-Sfxkit
        r = c.post("/api/review/session", json=body, headers=HEADERS)
        assert r.status_code == 200, r.text
        bad = {**body, "shots": {"1": {"decision": "louder"}}}
        assert c.post("/api/review/session", json=bad, headers=HEADERS).status_code == 400
    saved = out / "choices.json"
    assert load_choices(saved)[0].sound == first and load_choices(saved)[2].decision == "silence"
    with TestClient(create_app(world.index, jobs_dir=tmp_path / "jobs2"), base_url=BASE) as c:
        assert (
            c.get("/api/review/session", params=params).json()["shots"]["2"]["decision"]
            == "silence"
        )
        page = c.get("/review", params=params).text
        config = json.loads(
            page.split('<script id="review-config" type="application/json">')[1].split("</script>")[
                0
            ]
        )
        assert config["session"]["shots"]["0"]["gain_db"] == -2
        # the page loads its own script and nothing else from the package
        assert c.get("/static/review.js").status_code == 200
        for bad in ("../app.py", "..%2Fapp.py", "%2Fetc%2Fpasswd"):
            assert c.get(f"/static/{bad}").status_code == 404
        # a video is served only once opened for review
        other = tmp_path / "other.mp4"
        other.write_bytes(world.video.read_bytes())
        assert c.get("/api/review/video", params={"video": str(other)}).status_code == 404
        assert c.get("/api/review/video", params={"video": str(world.video)}).status_code == 200
