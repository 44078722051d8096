"""The review page of a layered soundtrack (``layers=auto``) without a browser: the timeline it
plans is the one the export makes, cue choices are validated against it, and a cue's generated
sound is the one the export uses."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from starlette.testclient import TestClient

import sfxkit
from sfxkit.serve import create_app
from tests.editorial.conftest import Layered, build_layered
from tests.serve.conftest import BASE, HEADERS

QUERY = {"layers": "auto", "policy": "retrieve", "variant": "tiny_16k", "steps": 2}


@pytest.fixture(scope="module")
def layered(tmp_path_factory: pytest.TempPathFactory) -> Layered:
    return build_layered(tmp_path_factory.mktemp("layered-serve"))


def _config(page: str) -> dict:
    raw = page.split('<script id="review-config" type="application/json">')[1]
    return json.loads(raw.split("</script>")[0])


def _wait(c, job_id: str, timeout: float = 400.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = c.get(f"/api/jobs/{job_id}").json()
        if job["state"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} still running after {timeout} s")


def test_the_page_plans_the_cues_the_export_makes(layered: Layered, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with TestClient(
        create_app(layered.index, jobs_dir=tmp_path / "jobs", outputs_root=tmp_path), base_url=BASE
    ) as c:
        page = c.get("/review", params={"video": str(layered.video), "out": str(out), **QUERY})
        assert page.status_code == 200, page.text
        config = _config(page.text)
        assert "--layers auto" in config["command"]
        assert 'data-lane="BG"' in page.text and 'data-lane="GEN"' in page.text
        cues = config["timeline"]["cues"]
        body = {"video": str(layered.video), "out": str(out)}
        for bad, words in (
            ({"cues": {"spot-7": {"deleted": True}}}, "spot-7"),
            ({"cues": {"bed-0": {"gain_db": 99}}}, "gain_db"),
            ({"added": [{"at": 60.0, "sound": cues[0]["candidates"][0]["id"]}]}, "past the end"),
            ({"added": [{"at": 1.0}]}, "sound"),
        ):
            r = c.post("/api/review/session", json={**body, **bad}, headers=HEADERS)
            assert r.status_code == 400 and words in r.json()["detail"], r.text
        r = c.post(
            "/api/review/generate", json={**body, "cue": "spot-9", "options": {}}, headers=HEADERS
        )
        assert r.status_code == 400 and "spot-9" in r.json()["detail"]
    res = sfxkit.soundtrack(layered.video, layered.index, **QUERY, progress=False)
    made = {d.numbers["cue_key"]: d for d in res.decisions}
    assert sorted(made) == sorted(c["key"] for c in cues)
    for cue in cues:
        assert made[cue["key"]].span[0] == pytest.approx(cue["start"], abs=1e-5)
        assert made[cue["key"]].span[1] == pytest.approx(cue["end"], abs=1e-5)
        assert made[cue["key"]].numbers["retrieved_id"] == cue["candidates"][0]["id"]
        assert cue["lane"] == ("BG" if cue["role"] == "bed" else "FX")


@pytest.mark.slow
def test_a_cue_generated_on_the_page_is_the_one_exported(layered: Layered, tmp_path: Path) -> None:
    import soxr

    out = tmp_path / "out"
    with TestClient(
        create_app(layered.index, jobs_dir=tmp_path / "jobs", outputs_root=tmp_path), base_url=BASE
    ) as c:
        page = c.get("/review", params={"video": str(layered.video), "out": str(out), **QUERY})
        config = _config(page.text)
        ask = {"video": str(layered.video), "out": str(out), "options": config["options"]}
        r = c.post("/api/review/generate", json={**ask, "cue": "spot-1"}, headers=HEADERS)
        assert r.status_code == 200, r.text
        job = _wait(c, r.json()["id"])
        assert job["state"] == "done", job
        heard = c.get(f"/api/jobs/{job['id']}/files/spot-1-generated.wav")
        audition, asr = sf.read(io.BytesIO(heard.content), always_2d=True)
        body = {**ask, "cues": {"spot-1": {"decision": "generate"}}}
        assert c.post("/api/review/session", json=body, headers=HEADERS).status_code == 200
        export = _wait(c, c.post("/api/review/export", json=ask, headers=HEADERS).json()["id"])
        assert export["state"] == "done", export
    decisions = json.loads((out / "decisions.json").read_text())["shots"]
    spot = next(d for d in decisions if d["numbers"]["cue_key"] == "spot-1")
    assert spot["decision"] == "generate"
    gen, sr = sf.read(out / "stems" / "GEN.wav", always_2d=True)
    start, end = spot["cue_span"]
    seg = gen.mean(axis=1)[int((start + 0.02) * sr) : int((end - 0.05) * sr)]
    want = soxr.resample(audition.mean(axis=1), asr, sr)[int(0.02 * sr) :][: len(seg)]
    seg = seg[: len(want)]
    a, b = seg - seg.mean(), want - want.mean()
    assert float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12)) > 0.9


def test_choices_of_the_other_layer_mode_are_pointed_out(layered: Layered, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "choices.json").write_text(json.dumps({"shots": {"1": {"decision": "silence"}}}))
    with TestClient(
        create_app(layered.index, jobs_dir=tmp_path / "jobs", outputs_root=tmp_path), base_url=BASE
    ) as c:
        page = c.get("/review", params={"video": str(layered.video), "out": str(out), **QUERY})
        assert page.status_code == 200
        assert 'id="session-warning"' in page.text and "layers=shot" in page.text
        assert (out / "choices.json").is_file()  # kept: it is valid for the other mode
