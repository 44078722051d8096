"""Text shown to people: a file name that is not UTF-8 made displayable. Standard library only,
so the CLI's printers (errors, JSON, result tables) can use it without loading the catalog."""

from __future__ import annotations


def readable(text: str) -> str:
    """``text`` as valid UTF-8 for display and storage: bytes that are not UTF-8 (surrogate-
    escaped in a path from ``os``) become ``\\xNN`` escapes, as ``ls -b`` shows them."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "backslashreplace")
    return raw.decode("utf-8", "backslashreplace")
