"""The review page without a browser: shots, plain-words decisions, the session file surviving a
restart, and what the page may load."""

from __future__ import annotations

import html
import io
import json
import shlex
import shutil
import subprocess
import time

import numpy as np
import pytest
import soundfile as sf
from starlette.testclient import TestClient

from sfxkit.editorial import load_choices
from sfxkit.serve import create_app
from tests.serve.conftest import BASE, HEADERS, sfxkit_exe


def test_review_page_and_session_survive_a_restart(world, tmp_path):
    out = tmp_path / "out"
    params = {"video": str(world.video), "out": str(out)}
    app = create_app(world.index, jobs_dir=tmp_path / "jobs", outputs_root=tmp_path)
    with TestClient(app, base_url=BASE) as c:
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
    app = create_app(world.index, jobs_dir=tmp_path / "jobs2", outputs_root=tmp_path)
    with TestClient(app, base_url=BASE) as c:
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


def _corr(a, b) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def _wait(c, job_id: str, timeout: float = 300.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = c.get(f"/api/jobs/{job_id}").json()
        if job["state"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} still running after {timeout} s")


@pytest.mark.slow
def test_generate_to_audition_then_export_with_a_blend_share(world, tmp_path):
    """The page's generate button plays what the export will use for that shot; a blend share
    goes through the session file, and `sfxkit soundtrack --choices` reproduces the export."""
    import soxr

    out = tmp_path / "out"
    query = {"policy": "retrieve", "variant": "tiny_16k", "steps": 2, "follow_motion": "false"}
    app = create_app(world.index, jobs_dir=tmp_path / "jobs", outputs_root=tmp_path)
    with TestClient(app, base_url=BASE) as c:
        page = c.get("/review", params={"video": str(world.video), "out": str(out), **query})
        assert page.text.count('class="generate"') == 3 and page.text.count('class="blend"') == 3
        options = json.loads(
            page.text.split('<script id="review-config" type="application/json">')[1].split(
                "</script>"
            )[0]
        )["options"]
        ask = {"video": str(world.video), "out": str(out), "options": options}
        for bad in ("one", None, 7):
            r = c.post("/api/review/generate", json={**ask, "shot": bad}, headers=HEADERS)
            if bad == 7:  # a shot the video lacks fails in the job, with the reason
                job = _wait(c, r.json()["id"])
                assert job["state"] == "failed" and "numbered 0..2" in job["error"]
            else:
                assert r.status_code == 400 and "shot" in r.json()["detail"]
        r = c.post("/api/review/generate", json={**ask, "shot": 1}, headers=HEADERS)
        assert r.status_code == 200, r.text
        job = _wait(c, r.json()["id"])
        assert job["state"] == "done", job
        assert "shot-1-generated.wav" in job["outputs"]
        heard = c.get(f"/api/jobs/{job['id']}/files/shot-1-generated.wav")
        assert heard.status_code == 200
        audition, asr = sf.read(io.BytesIO(heard.content), always_2d=True)

        shots = {"1": {"decision": "generate"}, "2": {"decision": "blend", "blend": 0.25}}
        r = c.post("/api/review/session", json={**ask, "shots": shots}, headers=HEADERS)
        assert r.status_code == 200, r.text
        r = c.post("/api/review/export", json=ask, headers=HEADERS)
        export = _wait(c, r.json()["id"])
        assert export["state"] == "done", export
    session = out / "choices.json"
    assert json.loads(session.read_text())["shots"]["2"]["blend"] == 0.25
    # the export is where the page was asked to put it, beside its choices
    mix_name = next(o for o in export["outputs"] if o.endswith(".wav") and "mix" in o)
    mix, sr = sf.read(out / mix_name, always_2d=True)
    decisions = json.loads((out / "decisions.json").read_text())
    shot1 = next(d for d in decisions["shots"] if d["shot"] == 1)
    assert shot1["decision"] == "generate"
    start, end = shot1["start"], shot1["end"]
    seg = mix.mean(axis=1)[int((start + 0.05) * sr) : int((end - 0.05) * sr)]
    heard_mono = soxr.resample(audition.mean(axis=1), asr, sr)
    assert _corr(seg, heard_mono[int(0.05 * sr) : int(0.05 * sr) + len(seg)]) > 0.9

    # the command the page shows reproduces the export, run as shown (it writes the same folder)
    shown = html.unescape(
        page.text.split('<pre id="command" class="command">')[1].split("</pre>")[0]
    )
    args = shlex.split(shown)
    assert args[:2] == ["sfxkit", "soundtrack"] and "--index" in args and "tiny_16k" in args
    assert "--layers" in args and "--no-follow-motion" in args
    shutil.rmtree(out / "stems", ignore_errors=True)
    (out / mix_name).unlink()
    r = subprocess.run(
        [sfxkit_exe(), *args[1:], "--no-progress"], capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr
    headless, _ = sf.read(out / mix_name, always_2d=True)
    np.testing.assert_array_equal(headless, mix)
    again = json.loads((out / "decisions.json").read_text())
    assert [d["numbers"].get("blend_share") for d in again["shots"]] == [None, None, 0.25]
