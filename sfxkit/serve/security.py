"""What the service lets through: token, host and cross-site checks, the upload limit, and the
files that may be served.

- Bound to loopback, no token is needed but the ``Host`` header must name loopback (a page on
  another site cannot reach the service through DNS rebinding). Bound to any other address, every
  request needs the token (``Authorization: Bearer T``, ``X-Sfxkit-Token: T`` or ``?token=T`` for
  links opened in a browser).
- State-changing requests (POST, PUT, PATCH, DELETE) need the ``X-Sfxkit: 1`` header, which a
  cross-site form or image cannot send without a CORS preflight this service never grants, and an
  ``Origin``, when sent, equal to the service's own.
- A request body over the upload limit is refused with 413 before it is read past the limit.
- Paths in requests: a NUL byte, over 4096 characters or a name over 255 is a 400; folders the
  server writes to (review sessions) lie inside the jobs directory or ``--outputs-root``.
- Files are served only when they are a catalog file of the loaded index (looked up by id, never
  by a path from the request) inside the catalog root, or a job's own output, resolved without
  leaving the job's folder (no ``..``, no symlinks, no folders).
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import secrets
from pathlib import Path
from typing import Any

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
CSRF_HEADER = "x-sfxkit"


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(24)


class TooLarge(Exception):
    pass


def _host_name(host_header: str) -> str:
    if host_header.startswith("["):
        return host_header[: host_header.find("]") + 1]
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


class Guard:
    """ASGI middleware applying the rules of this module to every HTTP request."""

    state: Any  # the wrapped app's state (resident index, jobs), for the CLI and tests

    def __init__(self, app: Any, *, token: str | None, loopback: bool, max_upload: int) -> None:
        self.app = app
        self.token = token
        self.loopback = loopback
        self.max_upload = max_upload

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            await _send_json(send, *refusal)
            return
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_upload:
            await _send_json(send, 413, self._too_large(int(length)))
            return
        seen = 0
        started = False
        exceeded = False

        async def counted_receive() -> dict[str, Any]:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_upload:
                    exceeded = True
                    raise TooLarge
            return message

        async def tracked_send(message: dict[str, Any]) -> None:
            nonlocal started
            # The framework turns a failed body read into its own answer; ours replaces it.
            if exceeded:
                if not started:
                    started = True
                    await _send_json(send, 413, self._too_large(None))
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        with contextlib.suppress(TooLarge):
            await self.app(scope, counted_receive, tracked_send)
        if exceeded and not started:
            await _send_json(send, 413, self._too_large(None))

    def _too_large(self, size: int | None) -> str:
        got = f" is {size / 1e6:.3g} MB;" if size is not None else " is over the limit;"
        return (
            f"upload{got} the limit is {self.max_upload / 1e6:g} MB "
            "(start the server with a larger --max-upload MB)"
        )

    def _refusal(self, scope: dict[str, Any], headers: dict[str, str]) -> tuple[int, str] | None:
        if self.token is not None:
            given = headers.get("x-sfxkit-token") or ""
            auth = headers.get("authorization", "")
            if auth.lower().startswith("bearer "):
                given = auth[7:].strip()
            if not given:
                from urllib.parse import parse_qs

                qs = parse_qs(scope.get("query_string", b"").decode("latin-1"))
                given = (qs.get("token") or [""])[0]
            if not given:
                return 401, "this server needs its token: send 'Authorization: Bearer TOKEN'"
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                return 403, "wrong token for this server"
        elif self.loopback:
            host = _host_name(headers.get("host", "")).lower()  # host names ignore case
            if not is_loopback(host):
                return 403, f"host {host!r} refused: this server answers on loopback only"
        if scope["method"] in UNSAFE_METHODS:
            if headers.get(CSRF_HEADER) != "1":
                return 403, "state-changing requests need the header 'X-Sfxkit: 1'"
            origin = headers.get("origin")
            if origin and origin != "null":
                from urllib.parse import urlsplit

                # same origin = same scheme and same host:port (names ignore case)
                parts = urlsplit(origin)
                scheme = scope.get("scheme", "http")
                if (
                    parts.scheme.lower() != scheme
                    or parts.netloc.lower() != headers.get("host", "").lower()
                ):
                    return 403, f"cross-site request from {origin[:200]} refused"
        return None


async def _send_json(send: Any, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def catalog_file(path: str, root: str | Path | None) -> Path | None:
    """``path`` (a catalog row's path) when it is a regular file whose real location is inside
    the catalog ``root``; None otherwise (a symlink out of the catalog is not served)."""
    p = Path(path)
    try:
        real = p.resolve(strict=True)
    except OSError:
        return None
    if root is not None:
        base = Path(root).resolve()
        if not real.is_relative_to(base):
            return None
    return real if real.is_file() else None


def job_file(folder: Path, relpath: str) -> Path | None:
    """``relpath`` inside a job's output ``folder`` when it is a plain file reached without
    ``..``, absolute parts, hidden (temp) names or symlinks; None otherwise."""
    rel = Path(relpath)
    if rel.is_absolute() or "\\" in relpath or "\0" in relpath:
        return None
    # ".." never; a name starting with a dot is a temp file or the job's record: never served
    if any(part in ("..", "") or part.startswith(".") for part in rel.parts):
        return None
    base = folder.resolve()
    candidate = base / rel
    node = base
    for part in rel.parts:
        node = node / part
        if node.is_symlink():
            return None
    if not candidate.is_file():
        return None
    return candidate


MAX_PATH_CHARS = 4096
MAX_NAME_CHARS = 255


def clean_path(raw: str, what: str) -> Path:
    """``raw`` (a path from a request) made absolute, or InputError naming ``what`` for a
    value that cannot be a path: a NUL byte, over 4096 characters or a name over 255."""
    from sfxkit.errors import InputError

    if "\0" in raw:
        raise InputError(f"{what}: a NUL byte cannot be part of a path")
    if not raw.strip():
        raise InputError(f"{what}: an empty path")
    if len(raw) > MAX_PATH_CHARS or any(len(p) > MAX_NAME_CHARS for p in raw.split("/")):
        raise InputError(
            f"{what}: a path of {len(raw)} characters is too long (at most {MAX_PATH_CHARS}, "
            f"{MAX_NAME_CHARS} per name)"
        )
    try:
        return Path(raw).expanduser().resolve()
    except (OSError, RuntimeError, ValueError) as exc:
        raise InputError(f"{what}: not a usable path ({exc.__class__.__name__})") from None


def inside(path: Path, roots: list[Path]) -> bool:
    return any(path == r or path.is_relative_to(r) for r in roots)


def output_folder(raw: str, roots: list[Path], what: str = "out") -> Path:
    """The folder ``raw`` when it lies inside one of ``roots`` (where this server may write);
    InputError naming them otherwise."""
    from sfxkit.errors import InputError

    path = clean_path(raw, what)
    if not inside(path, roots):
        allowed = " or ".join(str(r) for r in roots)
        raise InputError(
            f"{what} {raw[:200]!r} is outside where this server writes: use a folder inside "
            f"{allowed} (start `sfxkit serve --outputs-root DIR` to allow another)"
        )
    return path
