"""The JSON API against the real app and a real tiny index: answers equal the Python API's."""

from __future__ import annotations

import subprocess

from sfxkit.recommender import Recommender
from tests.serve.conftest import HEADERS, catalog_audio, png_bytes, sfxkit_exe


def _ids(answer: dict, i: int = 0) -> list[str]:
    return [r["id"] for r in answer["results"][i]["recommendations"]]


def test_frame_text_audio_answers_equal_the_python_api(client, world, tmp_path):
    rec = Recommender(world.index)
    image = tmp_path / "shot.png"
    image.write_bytes(png_bytes("checker"))

    r = client.post(
        "/api/recommend/frame",
        files={"image": ("shot.png", image.read_bytes())},
        data={"k": "3"},
        headers=HEADERS,
    )
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["index_version"] == rec.manifest.version and answer["untrained"] is True
    expected = rec.recommend(str(image), 3)
    assert _ids(answer) == [x.id for x in expected]
    assert [x["score"] for x in answer["results"][0]["recommendations"]] == [
        x.score for x in expected
    ]

    r = client.post(
        "/api/recommend/text", data={"text": "rain on a roof", "k": "4"}, headers=HEADERS
    )
    assert _ids(r.json()) == [x.id for x in rec.recommend_text("rain on a roof", 4)]

    sound = catalog_audio(world)
    r = client.post(
        "/api/recommend/audio",
        files={"audio": ("q.wav", sound.read_bytes())},
        data={"k": "3", "filters": '{"exclude_flags": ["silent"]}'},
        headers=HEADERS,
    )
    assert r.status_code == 200, r.text
    expected = rec.recommend_audio(sound, 3, filters={"exclude_flags": ["silent"]})
    assert _ids(r.json()) == [x.id for x in expected]


def test_video_frame_and_per_shot(client, world):
    rec = Recommender(world.index)
    data = world.video.read_bytes()
    r = client.post(
        "/api/recommend/frame",
        files={"video": ("v.mp4", data)},
        data={"time": "2.0", "k": "2"},
        headers=HEADERS,
    )
    assert r.status_code == 200, r.text
    assert _ids(r.json()) == [x.id for x in rec.recommend((str(world.video), 2.0), 2)]

    r = client.post(
        "/api/recommend/video", data={"video_path": str(world.video), "k": "2"}, headers=HEADERS
    )
    assert r.status_code == 200, r.text
    shots = rec.recommend_video(world.video, 2)
    answer = r.json()
    assert len(answer["shots"]) == len(shots) == 3
    assert [res["label"] for res in answer["results"]] == [
        f"shot {s.shot.index} {s.start:.2f}-{s.end:.2f}s" for s in shots
    ]
    for i, s in enumerate(shots):
        assert _ids(answer, i) == [x.id for x in s.recommendations]


def test_bad_upload_is_a_400_with_the_message_the_cli_prints(client, world, tmp_path):
    (tmp_path / "shot.jpg").write_bytes(b"this is not an image")
    r = client.post(
        "/api/recommend/frame",
        files={"image": ("shot.jpg", b"this is not an image")},
        headers=HEADERS,
    )
    assert r.status_code == 400
    cli = subprocess.run(
        [sfxkit_exe(), "recommend", "shot.jpg", "--index", str(world.index)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    answer = r.json()
    assert cli.returncode == answer["exit_code"] == 2
    # the same file and reason; the fix in each one's terms: upload ... time= / VIDEO@SECONDS
    assert answer["detail"].startswith(f"shot.jpg: {answer['reason']}; upload a JPEG/PNG")
    assert "time=" in answer["detail"] and "VIDEO@SECONDS" not in answer["detail"]
    assert cli.stderr.strip().startswith(f"sfxkit: error: shot.jpg: {answer['reason']}; pass ")
    assert "VIDEO@SECONDS" in cli.stderr

    r = client.post(
        "/api/recommend/audio", files={"audio": ("x.wav", b"RIFFjunk")}, headers=HEADERS
    )
    assert r.status_code == 400 and "x.wav" in r.json()["detail"]
    r = client.post(
        "/api/recommend/frame",
        files={"video": ("v.mp4", b"junk")},
        data={"time": "1"},
        headers=HEADERS,
    )
    assert r.status_code == 400 and "v.mp4" in r.json()["detail"]
    r = client.post(
        "/api/recommend/text", data={"text": "x", "filters": '{"colour": 1}'}, headers=HEADERS
    )
    assert r.status_code == 400 and "unknown filter 'colour'" in r.json()["detail"]


def test_catalog_audio_streams_the_indexed_file_with_ranges(client, world):
    rec = Recommender(world.index)
    row = rec.index.rows.iloc[0]
    r = client.get(f"/api/audio/{row['id']}")
    assert r.status_code == 200
    with open(row["path"], "rb") as f:
        assert r.content == f.read()
    r = client.get(f"/api/audio/{row['id']}", headers={"Range": "bytes=0-9"})
    assert r.status_code == 206 and len(r.content) == 10


def test_openapi_docs_list_the_api(client):
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    for route in (
        "/api/recommend/frame",
        "/api/recommend/text",
        "/api/recommend/audio",
        "/api/recommend/video",
        "/api/audio/{item_id}",
        "/api/jobs/{kind}",
    ):
        assert route in paths
