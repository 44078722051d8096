"""Issue 19, item 2: memory per request is bounded: a sound query reads its first minute, an
image or a video frame decodes within a pixel budget, and model work waits its turn fairly."""

from __future__ import annotations

import io
import subprocess
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
from PIL import Image
from starlette.testclient import TestClient

from sfxkit.recommender import Recommender
from sfxkit.serve import create_app
from tests.serve.conftest import BASE, HEADERS, free_port, png_bytes, sfxkit_exe


def _ids(r) -> list[str]:
    return [x["id"] for x in r.json()["results"][0]["recommendations"]]


def test_a_sound_query_embeds_its_first_minute_only(client, world, tmp_path):
    sr = 8000
    rng = np.random.default_rng(0)
    first = (0.3 * rng.standard_normal(60 * sr)).astype(np.float32)
    rest = (0.3 * np.sin(np.arange(120 * sr) * 0.3)).astype(np.float32)
    path = tmp_path / "three_minutes.flac"
    sf.write(path, np.concatenate([first, rest]), sr)
    r = client.post(
        "/api/recommend/audio",
        files={"audio": ("q.flac", path.read_bytes())},
        data={"k": "4"},
        headers=HEADERS,
    )
    assert r.status_code == 200, r.text
    rec = Recommender(world.index)
    expected = rec.recommend_audio(first, 4, sample_rate=sr, exclude_self=False)
    assert _ids(r) == [x.id for x in expected]
    clip, own = rec.audio_query(path)
    assert clip.samples.shape[1] == 60 * sr and own is None  # no catalog item is 3 min long


def test_giant_images_are_refused_or_decoded_small(client):
    buf = io.BytesIO()
    Image.new("L", (13000, 13000)).save(buf, "PNG")
    r = client.post(
        "/api/recommend/frame", files={"image": ("big.png", buf.getvalue())}, headers=HEADERS
    )
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert "13000x13000" in detail and "the limit is 40 MP" in detail
    buf = io.BytesIO()
    Image.new("L", (9000, 9000), 90).save(buf, "JPEG")
    r = client.post(
        "/api/recommend/frame", files={"image": ("big.jpg", buf.getvalue())}, headers=HEADERS
    )
    assert r.status_code == 200, r.text  # 81 MP: decoded at half scale


def test_a_giant_video_frame_is_downscaled_while_decoded(tmp_path):
    from sfxkit.media import frames

    assert frames.MAX_FRAME_PIXELS == 4096 * 4096
    small = 64 * 64 // 4
    video = tmp_path / "v.mp4"
    import av

    with av.open(str(video), "w") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 128, 64, "yuv420p"
        for i in range(5):
            img = np.full((64, 128, 3), 40 * i, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    old = frames.MAX_FRAME_PIXELS
    frames.MAX_FRAME_PIXELS = small
    try:
        got = frames.frames_at(video, [0.2])
    finally:
        frames.MAX_FRAME_PIXELS = old
    assert got.shape[1] * got.shape[2] <= small and abs(got.shape[2] / got.shape[1] - 2) < 0.1


def test_model_work_waits_in_turn_and_a_long_wait_is_a_503(world):
    app = create_app(world.index)
    resident = app.state.resident
    release = threading.Event()
    with TestClient(app, base_url=BASE) as c:
        blocker = threading.Thread(target=lambda: resident.compute(lambda: release.wait(30)))
        blocker.start()
        time.sleep(0.2)
        import sfxkit.serve.resident as res

        old, res.MAX_WAIT = res.MAX_WAIT, 0.5
        try:
            r = c.post("/api/recommend/text", data={"text": "rain"}, headers=HEADERS)
        finally:
            res.MAX_WAIT = old
        assert r.status_code == 503 and int(r.headers["Retry-After"]) >= 1
        assert "busy" in r.json()["detail"]
        release.set()
        blocker.join()
        r = c.post("/api/recommend/text", data={"text": "rain"}, headers=HEADERS)
        assert r.status_code == 200


def _hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


@pytest.mark.slow
def test_peak_server_memory_for_a_ten_hour_flac_and_a_13000_px_png(world, tmp_path):
    """The server's peak RSS (VmHWM) grows by under 600 MB for each (README: service limits);
    before the bounds the FLAC took it from 1.0 to 14.6 GB. A text query sent while the long
    sound query runs is answered."""
    sr = 8000
    flac = tmp_path / "ten_hours.flac"
    with sf.SoundFile(flac, "w", sr, 1, format="FLAC", subtype="PCM_16") as f:
        block = np.zeros(sr * 600, np.int16)
        for _ in range(60):  # 10 h of silence, 10 min at a time
            f.write(block)
    buf = io.BytesIO()
    Image.new("L", (13000, 13000)).save(buf, "PNG")
    png = buf.getvalue()
    port = free_port()
    proc = subprocess.Popen(
        [
            "timeout",
            "400",
            sfxkit_exe(),
            "serve",
            "--index",
            str(world.index),
            "--port",
            str(port),
            "--max-upload",
            "50",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "ready:" in line:
                break
        serve_pid = int(
            subprocess.run(
                ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True
            ).stdout.split()[0]
        )
        with httpx.Client(base_url=url, timeout=300) as c:
            # models warm, one of each query answered: the baseline
            c.post("/api/recommend/frame", files={"image": ("s.png", png_bytes())}, headers=HEADERS)
            small = tmp_path / "s.wav"
            sf.write(small, np.zeros(sr, np.float32), sr)
            c.post(
                "/api/recommend/audio",
                files={"audio": ("s.wav", small.read_bytes())},
                headers=HEADERS,
            )
            base = _hwm_kib(serve_pid)
            answers: dict[str, int] = {}

            def long_query() -> None:
                with httpx.Client(base_url=url, timeout=300) as own:
                    r = own.post(
                        "/api/recommend/audio",
                        files={"audio": ("long.flac", flac.read_bytes())},
                        headers=HEADERS,
                    )
                    answers["audio"] = r.status_code

            t = threading.Thread(target=long_query)
            t.start()
            r = c.post("/api/recommend/text", data={"text": "rain"}, headers=HEADERS)
            answers["text"] = r.status_code
            t.join(timeout=300)
            assert answers == {"text": 200, "audio": 200}
            after_flac = _hwm_kib(serve_pid)
            r = c.post("/api/recommend/frame", files={"image": ("big.png", png)}, headers=HEADERS)
            assert r.status_code == 422
            after_png = _hwm_kib(serve_pid)
        grown_flac, grown_png = (after_flac - base) / 1024, (after_png - after_flac) / 1024
        print(f"peak RSS growth: 10 h FLAC {grown_flac:.0f} MB, 13000² PNG {grown_png:.0f} MB")
        assert grown_flac < 600, grown_flac
        assert grown_png < 600, grown_png
    finally:
        proc.terminate()
        proc.wait(timeout=30)
