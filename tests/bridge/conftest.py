"""Fixtures for the bridge tests: a local OpenAI-compatible server, small videos, a frame pool,
writable copies of the tiny index, and pairs labelled by construction."""

from __future__ import annotations

import json
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests import synth

if TYPE_CHECKING:
    import pandas as pd

# Three videos of three hard-cut scenes each (one drawn pattern per shot).
VIDEO_SCENES = {
    "v0.mp4": [("red", 1.0), ("checker", 1.0), ("circle", 1.0)],
    "v1.mp4": [("stripes", 1.0), ("blue", 1.0), ("red", 1.0)],
    "v2.mp4": [("green", 1.0), ("circle", 1.0), ("checker", 1.0)],
}


class ChatServer:
    """A real HTTP server on 127.0.0.1 that speaks the chat-completions protocol.

    ``mode``: "ok" answers with numbered description lines derived from the prompt's title;
    "fail" answers 503; "slow" sleeps ``delay`` seconds first; "notfound" answers 404;
    "junk" answers with an empty message. ``fail_first`` makes the first N calls fail with 503.
    Every POST is counted in ``calls`` (with its JSON body in ``bodies``).
    """

    def __init__(self) -> None:
        self.mode = "ok"
        self.fail_first = 0
        self.delay = 0.0
        self.calls = 0
        self.bodies: list[dict] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                with server.lock:
                    server.calls += 1
                    n = server.calls
                    server.bodies.append(body)
                if self.path != "/v1/chat/completions":
                    return self._send(404, {"error": "no such route"})
                if server.mode == "slow":
                    time.sleep(server.delay)
                if server.mode == "fail" or n <= server.fail_first:
                    return self._send(503, {"error": "overloaded"})
                if server.mode == "notfound":
                    return self._send(404, {"error": f"model {body.get('model')} not found"})
                user = body["messages"][-1]["content"]
                title = user.split("Title: ", 1)[1].split("\n", 1)[0].strip().lower()
                content = (
                    ""
                    if server.mode == "junk"
                    else (
                        f"1. A close view of {title} in a kitchen\n"
                        f'2. "Someone handling {title} outdoors"\n'
                        f"- A wide shot of {title} at night\n"
                    )
                )
                self._send(
                    200, {"choices": [{"message": {"role": "assistant", "content": content}}]}
                )

            def _send(self, code: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out first
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def chat_server():
    server = ChatServer()
    yield server
    server.close()


@pytest.fixture(scope="session")
def bridge_videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of three small videos (3 shots each) plus one file that is not a video."""
    root = tmp_path_factory.mktemp("videos")
    for name, scenes in VIDEO_SCENES.items():
        synth.make_video(root / name, scenes, size=64, moving=True)
    (root / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    return root


@pytest.fixture(scope="session")
def tiny_pool(tiny_index, bridge_videos, tmp_path_factory: pytest.TempPathFactory):
    """The frame pool of ``bridge_videos`` for the tiny index's CLIP (read-only for tests)."""
    from sfxkit.bridge.pool import build_frame_pool

    pool_dir = tmp_path_factory.mktemp("pool") / "frame_pool"
    return build_frame_pool([bridge_videos], model="open_clip:tiny", pool_dir=pool_dir,
                            per_shot=2, progress=False)  # fmt: skip


@pytest.fixture
def index_copy(tiny_index, tmp_path: Path) -> Path:
    """A writable copy of the session's tiny index."""
    out = tmp_path / "index"
    shutil.copytree(tiny_index[0], out)
    return out


def labelled_pairs(index: Path, pool) -> pd.DataFrame:
    """Pairs labelled by construction: every frame of a shot showing one scene gets the same
    sound, one sound per scene kind (what a person labelling the videos would write)."""
    import pandas as pd

    from sfxkit.index.store import load_index

    ids = load_index(index, views=[]).rows["id"].tolist()
    kinds = sorted({k for scenes in VIDEO_SCENES.values() for k, _ in scenes})
    sound_of = {k: ids[i % len(ids)] for i, k in enumerate(kinds)}
    rows = []
    for rec in pool.pool.records.to_dict("records"):
        scenes = VIDEO_SCENES[Path(rec["video"]).name]
        kind = scenes[min(int(rec["time"]), len(scenes) - 1)][0]
        rows.append({"item_id": sound_of[kind], "video": rec["video"], "time": rec["time"]})
    return pd.DataFrame(rows)


def holdout_csv(path: Path, videos: Path, index: Path) -> Path:
    """Labelled hold-out frames (0.25 s and 0.75 s into each shot) as a pairs CSV."""
    from sfxkit.index.store import load_index

    ids = load_index(index, views=[]).rows["id"].tolist()
    kinds = sorted({k for scenes in VIDEO_SCENES.values() for k, _ in scenes})
    sound_of = {k: ids[i % len(ids)] for i, k in enumerate(kinds)}
    lines = ["video,time,sfx"]
    for name, scenes in VIDEO_SCENES.items():
        for s, (kind, _) in enumerate(scenes):
            for dt in (0.25, 0.75):
                lines.append(f"{name},{s + dt},{sound_of[kind]}")
    path.write_text("\n".join(lines) + "\n")
    # relative video paths: resolved against the CSV's folder unless --video-root says otherwise
    for name in VIDEO_SCENES:
        target = path.parent / name
        if not target.exists():
            target.symlink_to(videos / name)
    return path
