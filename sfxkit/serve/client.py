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

from sfxkit.errors import SfxkitError

ENV_SERVER = "SFXKIT_SERVER"
ENV_TOKEN = "SFXKIT_TOKEN"
ENV_TIMEOUT = "SFXKIT_SERVER_TIMEOUT"
CONNECT_TIMEOUT = 3.0
"""Seconds to open the connection: a server that runs answers at once."""
READ_TIMEOUT = 120.0
"""Seconds of silence while waiting for an answer (SFXKIT_SERVER_TIMEOUT overrides it): past
that the CLI answers in-process, as when no server runs."""


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
    """No server answers at that address, or what answers is not an sfxkit server (the CLI
    then works in-process)."""


class BadAnswer(Unreachable):
    """Something answers there, but not as the service would (garbage, silence, a foreign
    page): worth a warning, then the CLI works in-process."""


def _read_timeout() -> float:
    try:
        return max(0.1, float(os.environ.get(ENV_TIMEOUT) or READ_TIMEOUT))
    except ValueError:
        return READ_TIMEOUT


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
    timeout: float | None = None,
) -> Any:
    """One request to the server; the decoded JSON answer. Raises :class:`ServerError` for an
    error the server reports, :class:`Unreachable` when nothing answers in time or the answer
    is not the service's (not JSON, an HTML error page, ...)."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(server.rstrip("/") + route)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Unreachable(f"{server} is not an http:// address")
    headers = {"X-Sfxkit": "1", "Accept": "application/json"}
    token = token or os.environ.get(ENV_TOKEN)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = None
    if fields is not None or files is not None:
        body, headers["Content-Type"] = _multipart(fields or {}, files or {})
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = kind(parts.hostname, parts.port, timeout=CONNECT_TIMEOUT)
    wait = timeout if timeout is not None else _read_timeout()
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        try:
            conn.connect()
        except (OSError, http.client.HTTPException) as exc:
            raise Unreachable(f"no sfxkit server at {server} ({exc})") from None
        assert conn.sock is not None
        conn.sock.settimeout(wait)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        except TimeoutError:
            raise BadAnswer(f"the server at {server} gave no answer within {wait:g} s") from None
        except (OSError, http.client.HTTPException) as exc:
            raise BadAnswer(f"the server at {server} broke off ({exc})") from None
    finally:
        conn.close()
    try:
        payload = json.loads(raw)
    except ValueError:
        raise BadAnswer(
            f"the server at {server} answered {resp.status} with something that is not JSON"
        ) from None
    if resp.status >= 400:
        detail = payload.get("detail") if isinstance(payload, dict) else None
        if not isinstance(detail, str):
            raise BadAnswer(f"the server at {server} answered {resp.status} {resp.reason}")
        raise ServerError(detail, int(payload.get("exit_code") or 1), payload)
    return payload


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


def _well_formed(answer: Any) -> bool:
    """An answer in the service's shape: what the CLI prints from it is there."""
    if not isinstance(answer, dict) or not isinstance(answer.get("index"), str):
        return False
    results = answer.get("results")
    if "untrained" not in answer or not isinstance(results, list):
        return False
    return all(
        isinstance(r, dict)
        and isinstance(r.get("label"), str)
        and isinstance(r.get("recommendations"), list)
        and all(isinstance(x, dict) for x in r["recommendations"])
        for r in results
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
        if not _well_formed(answer):
            raise BadAnswer(f"the server at {server} answered without the expected fields")
    except Unreachable as exc:
        level = "warning" if isinstance(exc, BadAnswer) else "note"
        print(f"sfxkit: {level}: {exc}; answering in-process", file=sys.stderr)
        return None
    if index is not None and Path(index).expanduser().resolve() != Path(answer["index"]):
        print(
            f"sfxkit: note: the server at {server} serves {answer['index']}, not {index}; "
            "answering in-process",
            file=sys.stderr,
        )
        return None
    return {"query": query, **answer}
