"""JSON results: one encoder fallback and one atomic writer for every result sfxkit writes
(timelines, provenance, reports, batch reports, review sessions)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def json_default(value: Any) -> Any:
    """``json.dumps`` fallback for numpy scalars and arrays, paths and sets. Anything else is a
    bug in what is being stored, so it raises instead of being written as its ``str()``."""
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__} in JSON; use numbers or strings")


def dumps(obj: Any, *, indent: int | None = 2, **kwargs: Any) -> str:
    """``obj`` as JSON text ending in a newline, numpy values and paths converted."""
    return json.dumps(obj, indent=indent, default=json_default, **kwargs) + "\n"


def write_json(path: str | Path, obj: Any, **kwargs: Any) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically (see :mod:`sfxkit._atomic`)."""
    from sfxkit._atomic import atomic_write_text

    return atomic_write_text(path, dumps(obj, **kwargs))
