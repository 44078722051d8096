"""The review page's session and jobs at their edges: choices kept under the sfxkit cache across
a restart, validated on save, a corrupt file set aside; the generator's offline advice. (Jobs
that import the server's sfxkit wherever it was started: test_review_browser.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from sfxkit.serve import create_app
from tests.serve.conftest import BASE, HEADERS


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
