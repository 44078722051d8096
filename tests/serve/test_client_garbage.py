"""Issue 19, item 9: `sfxkit recommend` with SFXKIT_SERVER pointing at something that answers
garbage, a foreign page or nothing: one warning line, then the in-process answer."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.serve.conftest import sfxkit_exe

ANSWERS = {
    "/notjson": (200, "text/plain", b"hello, I am not JSON"),
    "/html404": (404, "text/html", b"<html><body><h1>Not Found</h1></body></html>"),
    "/fields": (200, "application/json", b'{"index": "/x", "something": "else"}'),
    "/badresults": (200, "application/json", b'{"index": "/x", "untrained": true, "results": [1]}'),
    "/json500": (500, "application/json", b'{"oops": true}'),
}


class _Garbage(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        prefix = "/" + self.path.strip("/").split("/")[0]
        status, ctype, body = ANSWERS[prefix]
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def garbage_server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Garbage)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _recommend(world, tmp_path, server: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "SFXKIT_SERVER"}
    return subprocess.run(
        [sfxkit_exe(), "recommend", "a door", "--text", "-k", "2", "--index", str(world.index)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**full, "SFXKIT_SERVER": server, **env},
    )


@pytest.mark.slow  # seven CLI runs: about 3 min on the shared 2-core machine
def test_garbage_answers_warn_once_and_answer_in_process(world, tmp_path, garbage_server):
    local = _recommend(world, tmp_path, "")
    assert local.returncode == 0 and "text: a door" in local.stdout
    for route in ANSWERS:
        r = _recommend(world, tmp_path, garbage_server + route)
        assert r.returncode == 0, (route, r.stderr)
        assert r.stdout == local.stdout, route
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("sfxkit: warning: the server at"), (
            route,
            r.stderr,
        )
        assert lines[0].endswith("answering in-process")


def test_a_server_that_never_answers_times_out(world, tmp_path):
    with socket.socket() as silent:  # accepts connections (the kernel does) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        r = _recommend(world, tmp_path, url, SFXKIT_SERVER_TIMEOUT="2")
    assert r.returncode == 0, r.stderr
    assert "gave no answer within 2 s" in r.stderr and "text: a door" in r.stdout
    assert len(r.stderr.strip().splitlines()) == 1
