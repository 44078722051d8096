"""Issue 19, item 8: bad input is a 4xx with one clear message, never a 500; host names ignore
case; the Origin's scheme counts; a video_path outside the allowed roots does not tell whether a
file exists."""

from __future__ import annotations

import pytest

from tests.serve.conftest import HEADERS

LONG = "/" + "a" * 5000


def _one_message(r) -> str:
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    detail = r.json()["detail"]
    assert isinstance(detail, str) and detail and "\n" not in detail
    return detail


@pytest.mark.parametrize("path", ["/tmp/a\0b.mp4", LONG, "/" + "x" * 300 + "/v.mp4", ""])
def test_impossible_paths_are_4xx(client, path):
    r = client.post("/api/recommend/video", data={"video_path": path, "k": "2"}, headers=HEADERS)
    _one_message(r)
    r = client.post("/api/recommend/frame", data={"video_path": path, "time": "1"}, headers=HEADERS)
    _one_message(r)
    r = client.post("/api/jobs/soundtrack", data={"video_path": path}, headers=HEADERS)
    _one_message(r)
    for route in ("/review", "/api/review/session", "/api/review/video"):
        _one_message(client.get(route, params={"video": path}))
    _one_message(client.get("/api/review/keyframe", params={"video": path, "t": 1}))


def test_wrong_types_are_4xx_with_one_message(client, world):
    r = client.post(
        "/api/jobs/soundtrack",
        data={"video_path": str(world.video), "options": "notjson"},
        headers=HEADERS,
    )
    assert "options is not JSON" in _one_message(r)
    r = client.post("/api/recommend/text", data={"text": "rain", "k": "abc"}, headers=HEADERS)
    assert _one_message(r).startswith("k: ") and "'abc'" in r.json()["detail"]
    for filters in (
        '{"category": 5}',
        '{"min_duration": "long"}',
        '{"exclude_flags": 3}',
        "[1]",
        "nope",
    ):
        r = client.post(
            "/api/recommend/text", data={"text": "rain", "filters": filters}, headers=HEADERS
        )
        _one_message(r)
    r = client.post("/api/recommend/similar", json={"id": "x", "k": "abc"}, headers=HEADERS)
    _one_message(r)
    for body in ({"video": 5}, {"video": str(world.video), "out": 7}, {"video": "\0"}):
        _one_message(client.post("/api/review/session", json=body, headers=HEADERS))
    r = client.get("/review", params={"video": str(world.video), "out": "/proc/self"})
    _one_message(r)


def test_host_names_ignore_case_and_the_origin_scheme_counts(client):
    assert client.get("/api/index", headers={"Host": "LOCALHOST"}).status_code == 200
    assert client.get("/api/index", headers={"Host": "LocalHost:8765"}).status_code == 200
    host = {"Host": "127.0.0.1:8765"}
    same = {**HEADERS, **host, "Origin": "http://127.0.0.1:8765"}
    assert (
        client.post("/api/recommend/text", data={"text": "rain"}, headers=same).status_code == 200
    )
    other_scheme = {**same, "Origin": "https://127.0.0.1:8765"}
    r = client.post("/api/recommend/text", data={"text": "rain"}, headers=other_scheme)
    assert r.status_code == 403 and "https://127.0.0.1:8765" in r.json()["detail"]


def test_a_video_path_outside_the_roots_does_not_tell_what_exists(client, world, tmp_path):
    unreadable = tmp_path / "secret.mp4"
    unreadable.write_bytes(b"not a video at all")
    notvideo = tmp_path / "notes.txt"
    notvideo.write_text("hello")
    answers = set()
    for path in (tmp_path / "missing.mp4", unreadable, notvideo, tmp_path):
        for route, data in (
            ("/api/recommend/video", {}),
            ("/api/recommend/frame", {"time": "1"}),
            ("/api/jobs/soundtrack", {}),
        ):
            r = client.post(route, data={"video_path": str(path), **data}, headers=HEADERS)
            detail = _one_message(r)
            answers.add((route, r.status_code, detail.replace(str(path), "P")))
    assert len(answers) == 3, answers  # one answer per route, whatever the file
    assert all("no readable video there" in a[2] for a in answers)
    # a real video outside the roots still works
    r = client.post(
        "/api/recommend/video", data={"video_path": str(world.video), "k": "1"}, headers=HEADERS
    )
    assert r.status_code == 200
