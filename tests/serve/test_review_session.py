"""The review page's session and jobs at their edges: choices kept under the sfxkit cache across
a restart, validated on save, a corrupt file set aside; the generator's offline advice; jobs that
import the server's sfxkit wherever the server was started."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from sfxkit.serve import create_app
from tests.serve.conftest import BASE, HEADERS, free_port, sfxkit_exe


def _config(page: str) -> dict:
    raw = page.split('<script id="review-config" type="application/json">')[1]
    return json.loads(raw.split("</script>")[0])


def test_choices_without_out_survive_a_restart_under_the_cache(world, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("SFXKIT_CACHE", str(cache))
    params = {"video": str(world.video)}
    body = {"video": str(world.video), "shots": {"1": {"decision": "silence", "gain_db": -3}}}
    with TestClient(
        create_app(world.index, jobs_dir=tmp_path / "jobs1", outputs_root=tmp_path), base_url=BASE
    ) as c:
        out = _config(c.get("/review", params=params).text)["out"]
        r = c.post("/api/review/session", json=body, headers=HEADERS)
        assert r.status_code == 200, r.text
    assert Path(out).is_relative_to(cache / "review")
    assert (Path(out) / "choices.json").is_file()
    # a new server with a new jobs folder (the old default was a fresh temp folder per start)
    with TestClient(
        create_app(world.index, jobs_dir=tmp_path / "jobs2", outputs_root=tmp_path), base_url=BASE
    ) as c:
        config = _config(c.get("/review", params=params).text)
        assert config["out"] == out
        assert config["session"]["shots"]["1"] == {
            "decision": "silence",
            "sound": None,
            "gain_db": -3.0,
            "offset": 0.0,
            "blend": None,
        }


@pytest.mark.parametrize(
    ("choice", "words"),
    [
        ({"gain_db": 1e9}, "gain_db"),
        ({"gain_db": -61}, "gain_db"),
        ({"offset": -1e9}, "offset"),
        ({"offset": float("nan")}, "offset"),
        ({"gain_db": float("inf")}, "gain_db"),
        ({"blend": float("nan")}, "blend"),
        ({"gain_db": "loud"}, "gain_db"),
        ({"sound": 12}, "sound"),
        ({"decision": "louder"}, "decision"),
    ],
)
def test_choices_are_validated_on_save(world, tmp_path, choice, words):
    out = tmp_path / "out"
    with TestClient(
        create_app(world.index, jobs_dir=tmp_path / "jobs", outputs_root=tmp_path), base_url=BASE
    ) as c:
        c.get("/review", params={"video": str(world.video), "out": str(out)})
        # NaN and Infinity are what Python's json writes for them; a browser's JSON.stringify
        # writes null, which keeps the default
        raw = json.dumps({"video": str(world.video), "out": str(out), "shots": {"1": choice}})
        r = c.post(
            "/api/review/session",
            content=raw,
            headers={**HEADERS, "Content-Type": "application/json"},
        )
        assert r.status_code == 400, r.text
        assert words in r.json()["detail"] and "shot 1" in r.json()["detail"]
        assert not (out / "choices.json").exists()


def test_choices_naming_a_shot_the_video_lacks_are_refused(world, tmp_path):
    out = tmp_path / "out"
    with TestClient(
        create_app(world.index, jobs_dir=tmp_path / "jobs", outputs_root=tmp_path), base_url=BASE
    ) as c:
        c.get("/review", params={"video": str(world.video), "out": str(out)})
        body = {"video": str(world.video), "out": str(out)}
        for shot in ("3", "99", "-1"):
            r = c.post(
                "/api/review/session",
                json={**body, "shots": {shot: {"decision": "silence"}}},
                headers=HEADERS,
            )
            assert r.status_code == 400 and "shot" in r.json()["detail"], r.text
        # the edges of the documented ranges are accepted
        ok = {"0": {"gain_db": -60, "offset": 10}, "2": {"gain_db": 24, "offset": -10}}
        r = c.post("/api/review/session", json={**body, "shots": ok}, headers=HEADERS)
        assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"[1, 2]", b'{"shots": {"1": {"gain_db": 1e9}}}', b"\xff\xfe\x00"],
)
def test_a_corrupt_choices_file_is_set_aside_never_a_500(world, tmp_path, content):
    out = tmp_path / "out"
    out.mkdir()
    (out / "choices.json").write_bytes(content)
    params = {"video": str(world.video), "out": str(out)}
    with TestClient(
        create_app(world.index, jobs_dir=tmp_path / "jobs", outputs_root=tmp_path), base_url=BASE
    ) as c:
        page = c.get("/review", params=params)
        assert page.status_code == 200
        (kept,) = out.glob("choices.json.bad-*")
        assert kept.read_bytes() == content
        assert not (out / "choices.json").exists()
        assert 'id="session-warning"' in page.text and kept.name in page.text
        assert _config(page.text)["session"]["shots"] == {}
        # the page can save again
        r = c.post(
            "/api/review/session",
            json={**params, "shots": {"0": {"decision": "silence"}}},
            headers=HEADERS,
        )
        assert r.status_code == 200, r.text
        assert c.get("/api/review/session", params=params).json()["shots"]["0"]["decision"] == (
            "silence"
        )


def test_without_mmaudio_weights_the_page_says_the_offline_route(world, tmp_path):
    """The CLI's advice (`--models tiny` = tiny_16k, `--policy retrieve`) and the page's own
    (`&variant=tiny_16k`), before any job starts."""
    out = tmp_path / "out"
    with TestClient(
        create_app(world.index, jobs_dir=tmp_path / "jobs", outputs_root=tmp_path), base_url=BASE
    ) as c:
        config = _config(c.get("/review", params={"video": str(world.video), "out": str(out)}).text)
        ask = {"video": str(world.video), "out": str(out), "options": config["options"]}
        r = c.post("/api/review/generate", json={**ask, "shot": 0}, headers=HEADERS)
        assert r.status_code == 503, r.text
        said = r.json()["detail"]
        assert "not available offline" in said
        assert "--models tiny" in said and "tiny_16k" in said and "&variant=tiny_16k" in said
        r = c.post("/api/review/export", json=ask, headers=HEADERS)
        assert r.status_code == 503, r.text
        said = r.json()["detail"]
        assert "&variant=tiny_16k" in said and "&policy=retrieve" in said
        assert "--policy retrieve" in said
        assert c.get("/api/jobs").json() == []  # refused before any job started


def test_page_options_without_a_cli_flag_are_refused(world, tmp_path):
    out = tmp_path / "out"
    with TestClient(
        create_app(world.index, jobs_dir=tmp_path / "jobs", outputs_root=tmp_path), base_url=BASE
    ) as c:
        c.get("/review", params={"video": str(world.video), "out": str(out)})
        ask = {"video": str(world.video), "out": str(out), "options": {"fit": "loop"}}
        r = c.post("/api/review/export", json=ask, headers=HEADERS)
        assert r.status_code == 400 and "fit" in r.json()["detail"], r.text


def _post(url: str, path: str, body: dict) -> dict:
    req = urllib.request.Request(
        url + path,
        data=json.dumps(body).encode(),
        headers={**HEADERS, "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


def _job(url: str, job_id: str, timeout: float = 300.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{url}/api/jobs/{job_id}", timeout=30) as r:
            job = json.loads(r.read())
        if job["state"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} still running after {timeout} s")


@pytest.mark.slow
def test_jobs_run_when_the_server_starts_beside_a_folder_named_sfxkit(world, tmp_path):
    """`sfxkit serve` started from a folder holding a checkout named `sfxkit` (say ~ with
    ~/sfxkit): its export and generate jobs import the sfxkit the server runs, not the folder."""
    home = tmp_path / "home"
    (home / "sfxkit" / "sfxkit").mkdir(parents=True)  # a checkout: sfxkit/ inside sfxkit/
    (home / "sfxkit" / "README.md").write_text("a checkout\n")
    (home / "sfxkit" / "sfxkit" / "README.md").write_text("no __init__.py here\n")
    out = tmp_path / "out"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONSAFEPATH"}  # as a user's shell
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
            str(tmp_path / "jobs"),
            "--outputs-root",
            str(tmp_path),
        ],
        cwd=home,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        query = "&".join(
            [
                f"video={world.video}",
                f"out={out}",
                "policy=retrieve",
                "variant=tiny_16k",
                "steps=2",
                "follow_motion=false",
                "align=false",
            ]
        )
        with urllib.request.urlopen(f"{url}/review?{query}", timeout=120) as r:
            options = _config(r.read().decode())["options"]
        ask = {"video": str(world.video), "out": str(out), "options": options}
        generate = _post(url, "/api/review/generate", {**ask, "shot": 0})
        export = _post(url, "/api/review/export", ask)
        for started in (generate, export):
            job = _job(url, started["id"])
            assert job["state"] == "done", job
        assert (out / "decisions.json").is_file()
        assert not math.isnan(json.loads((out / "decisions.json").read_text())["shots"][0]["start"])
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _predict_everything(app) -> None:
    """Give every catalog item of the served index a predicted UCS category (as `sfxkit index
    categorize` writes them) and no category of its own."""
    rec = app.state.resident.get()
    n = len(rec._cols["id"])
    rec._cols["category"] = [""] * n
    rec._cols["predicted_catid"] = ["DOORWood"] * n
    rec._cols["predicted_category"] = ["DOORS"] * n
    rec._cols["predicted_subcategory"] = ["WOOD"] * n
    rec._cols["predicted_confidence"] = [0.8125] * n


def test_candidates_and_results_show_rank_score_and_predicted_category(world, tmp_path):
    app = create_app(world.index, jobs_dir=tmp_path / "jobs", outputs_root=tmp_path)
    with TestClient(app, base_url=BASE) as c:
        _predict_everything(app)
        page = c.get("/review", params={"video": str(world.video), "out": str(tmp_path / "o")})
        cand = page.text.split('<div class="cand" data-id="')[1].split("</div>")[0]
        assert '<em class="predicted">predicted DOORS/WOOD 0.81</em>' in cand
        assert "score +" in cand or "score -" in cand
        first = page.text.split('<div class="cand" data-id="')[1].split('"')[0]
        # what the page's "More like this" reads: rank, score, duration and the prediction
        recs = c.post("/api/recommend/similar", json={"id": first, "k": 3}, headers=HEADERS).json()
        got = recs["results"][0]["recommendations"]
        assert [r["rank"] for r in got] == [1, 2, 3]
        assert all(r["predicted_category"] == "DOORS" and "score" in r for r in got)


def test_the_cli_table_and_the_compare_report_mark_predicted_categories():
    from types import SimpleNamespace

    from sfxkit._templates import render
    from sfxkit.cli.recommend import _category
    from sfxkit.editorial.report import category_words

    guess = SimpleNamespace(
        category="",
        subcategory="",
        predicted_category="DOORS",
        predicted_subcategory="WOOD",
        predicted_confidence=0.8125,
    )
    own = SimpleNamespace(**{**vars(guess), "category": "WATER", "subcategory": "STREAM"})
    assert _category(guess) == "predicted DOORS/WOOD 0.81"
    assert category_words(guess) == "predicted DOORS/WOOD 0.81"
    assert category_words(own) == "WATER/STREAM"
    row = {
        "kind": "retrieved",
        "generated": False,
        "label": "creak",
        "category": category_words(guess),
        "rank": 1,
        "untrained": False,
        "path": "/lib/creak.wav",
        "error": "",
        "player": None,
        "spec": None,
        "cells": [],
        "licence": "CC0",
        "non_commercial": False,
    }
    shot = SimpleNamespace(
        s=SimpleNamespace(index=0, start=0.0, end=1.0, keyframe_time=0.5),
        decision="retrieve",
        keyframe="",
        reason="",
        numbers="",
        prompt="",
        negative_prompt="",
        onset="",
        views=[],
        rows=[row],
    )
    doc = SimpleNamespace(
        index="idx",
        generator=SimpleNamespace(variant="tiny_16k", steps=2),
        policy="auto",
        created="now",
        untrained=False,
        non_commercial=False,
    )
    html = render(
        "compare.html.j2",
        video_name="v.mp4",
        shots=[shot],
        doc=doc,
        nc_notice="",
        spec_size=(1, 1),
        json_rel="r.json",
    )
    assert '<small class="category predicted">predicted DOORS/WOOD 0.81</small>' in html
