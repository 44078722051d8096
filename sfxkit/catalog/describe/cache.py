"""A persistent response cache for describers: one sqlite3 file, keyed by (model, prompt version,
input), so describing the same catalog twice costs nothing the second time.

Each entry is written in its own transaction (sqlite's journal makes it atomic): after a crash
or an endpoint failure the file holds whole entries only, never a half-written answer. Several
processes may share the file (sqlite serialises writers; readers never block on a lock for
long). The default location is ``<SFXKIT_CACHE>/bridge/describer-cache.sqlite3``.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from sfxkit.config import get_settings

CACHE_NAME = "describer-cache.sqlite3"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    prompt_version TEXT NOT NULL,
    input TEXT NOT NULL,
    output TEXT NOT NULL,
    created REAL NOT NULL
)
"""


def default_cache_path() -> Path:
    return get_settings().cache_dir / "bridge" / CACHE_NAME


def cache_key(model: str, prompt_version: str, text: str, params: object = None) -> str:
    """sha256 over the model, the prompt version, the exact input and any sampling parameters."""
    blob = json.dumps([model, prompt_version, text, params], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResponseCache:
    """Describer outputs (lists of strings) by key, in one sqlite3 file."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.execute(_SCHEMA)

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.path)!r})"

    def _connect(self) -> sqlite3.Connection:
        # One connection per operation: safe across threads and processes, and nothing stays
        # open between describer calls.
        return sqlite3.connect(self.path, timeout=30.0)

    def get(self, key: str) -> list[str] | None:
        conn = self._connect()
        try:
            row = conn.execute("SELECT output FROM responses WHERE key = ?", (key,)).fetchone()
        finally:
            conn.close()
        if row is None:
            return None
        try:
            value = json.loads(row[0])
        except json.JSONDecodeError:
            return None
        return [str(v) for v in value] if isinstance(value, list) else None

    def put(
        self, key: str, output: Sequence[str], *, model: str, prompt_version: str, text: str
    ) -> None:
        conn = self._connect()
        try:
            with conn:  # one transaction: the entry is stored whole or not at all
                conn.execute(
                    "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        key,
                        model,
                        prompt_version,
                        text,
                        json.dumps(list(output), ensure_ascii=False),
                        time.time(),
                    ),
                )
        finally:
            conn.close()

    def __len__(self) -> int:
        conn = self._connect()
        try:
            return int(conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0])
        finally:
            conn.close()

    def clear(self) -> None:
        conn = self._connect()
        try:
            with conn:
                conn.execute("DELETE FROM responses")
        finally:
            conn.close()
