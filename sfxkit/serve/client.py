"""The client side of `sfxkit serve` for the CLI: standard library only (no torch, no httpx).

:func:`recommend` sends one `sfxkit recommend` query to a server and returns its answer in the
shape the CLI prints; :class:`ServerError` carries the server's message and the exit code the
same failure has in-process.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any
from urllib import error, request

from sfxkit.errors import SfxkitError

ENV_SERVER = "SFXKIT_SERVER"
ENV_TOKEN = "SFXKIT_TOKEN"


class ServerError(SfxkitError):
    """The server refused the query: its message (in HTTP terms) and the exit code the same
    failure has in-process; :meth:`library_error` is the library's error the server reported,
    for the CLI to word as it does in-process."""

    def __init__(self, message: str, exit_code: int = 1, payload: dict | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.payload = payload or {}

    def library_error(self) -> SfxkitError:
        from sfxkit.errors import InputError, MediaError

        p = self.payload
        if p.get("error") == "MediaError" and isinstance(p.get("path"), str):
            return MediaError(p["path"], str(p.get("reason", "")))
        if p.get("error") in ("InputError", "MediaError") and isinstance(p.get("message"), str):
            err = InputError(p["message"])
            err.exit_code = self.exit_code
            return err
        return self


class Unreachable(Exception):
    """No server answers at that address (the CLI then works in-process)."""


def _multipart(fields: dict[str, Any], files: dict[str, tuple[str, Path]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out: list[bytes] = []
    for name, value in fields.items():
        if value is None:
            continue
        out.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    for name, (shown, path) in files.items():
        quoted = shown.replace('"', "%22").replace("\r", "").replace("\n", "")
        out.append(
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                f'filename="{quoted}"\r\nContent-Type: application/octet-stream\r\n\r\n'
            ).encode()
            + path.read_bytes()
            + b"\r\n"
        )
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out), f"multipart/form-data; boundary={boundary}"


def call(
    server: str,
    method: str,
    route: str,
    *,
    fields: dict[str, Any] | None = None,
    files: dict[str, tuple[str, Path]] | None = None,
    token: str | None = None,
    timeout: float = 600.0,
) -> Any:
    """One request to the server; the decoded JSON answer."""
    url = server.rstrip("/") + route
    headers = {"X-Sfxkit": "1", "Accept": "application/json"}
    token = token or os.environ.get(ENV_TOKEN)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = None
    if fields is not None or files is not None:
        body, headers["Content-Type"] = _multipart(fields or {}, files or {})
    req = request.Request(url, data=body, headers=headers, method=method)
    try:
        with request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())
    except error.HTTPError as exc:
        try:
            payload = json.loads(exc.read())
        except ValueError:
            payload = {}
        detail = payload.get("detail")
        if not isinstance(detail, str):
            detail = f"the server at {server} answered {exc.code} {exc.reason} ({detail})"
        raise ServerError(detail, int(payload.get("exit_code") or 1), payload) from None
    except (error.URLError, ConnectionError, TimeoutError) as exc:
        raise Unreachable(f"no sfxkit server at {server} ({exc})") from None


def recommend(
    server: str,
    query: str,
    *,
    kind: str,
    k: int,
    filters: dict[str, Any],
    at: float | None = None,
) -> dict[str, Any]:
    """The server's answer to one recommend query: ``kind`` is frame, video, text or audio;
    files are uploaded under the name given on the command line."""
    common = {"k": k, "filters": json.dumps(filters) if filters else None}
    if kind == "text":
        return call(server, "POST", "/api/recommend/text", fields={"text": query, **common})
    if kind == "audio":
        return call(
            server,
            "POST",
            "/api/recommend/audio",
            fields=common,
            files={"audio": (query, Path(query))},
        )
    if kind == "video":
        return call(
            server,
            "POST",
            "/api/recommend/video",
            fields=common,
            files={"video": (query, Path(query))},
        )
    if at is not None:
        path, _, _ = query.rpartition("@")
        return call(
            server,
            "POST",
            "/api/recommend/frame",
            fields={"time": at, **common},
            files={"video": (path, Path(path))},
        )
    return call(
        server, "POST", "/api/recommend/frame", fields=common, files={"image": (query, Path(query))}
    )


def query_server(
    server: str,
    query: str,
    kind_frame: tuple[str, object],
    k: int,
    filters: dict[str, Any],
    index: Path | None,
) -> dict[str, Any] | None:
    """The answer to a `sfxkit recommend` query from the server, shaped as the CLI prints it;
    None (the CLI then works in-process) when no server answers there or it serves another
    index than ``--index``."""
    import sys

    kind, frame = kind_frame
    at = frame[1] if isinstance(frame, tuple) else None
    try:
        answer = recommend(server, query, kind=kind, k=k, filters=filters, at=at)  # type: ignore[arg-type]
    except Unreachable as exc:
        print(f"sfxkit: note: {exc}; answering in-process", file=sys.stderr)
        return None
    if index is not None and Path(index).expanduser().resolve() != Path(answer["index"]):
        print(
            f"sfxkit: note: the server at {server} serves {answer['index']}, not {index}; "
            "answering in-process",
            file=sys.stderr,
        )
        return None
    return {"query": query, **answer}
