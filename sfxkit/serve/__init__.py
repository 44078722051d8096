"""`sfxkit serve`: a resident recommendation service over one index.

``create_app(index)`` builds the ASGI application (FastAPI): the JSON API in :mod:`.app`, the
index kept loaded and moved to each newly committed version by :mod:`.resident`, background
soundtrack/compare jobs in :mod:`.jobs`, the safety rules (token, upload limit, cross-site
checks, which files may be served) in :mod:`.security`, and the urllib client the CLI uses in
:mod:`.client` (which imports neither FastAPI nor torch).
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def create_app(*args: Any, **kwargs: Any) -> Any:
    from sfxkit.serve.app import create_app as _create

    return _create(*args, **kwargs)
