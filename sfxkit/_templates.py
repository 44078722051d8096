"""The Jinja2 templates shared by the static compare report and the pages of `sfxkit serve`
(``sfxkit/templates``: one base, one page each; the ``h`` filter escapes as :func:`html.escape`
so that text in a page reads the same in both)."""

from __future__ import annotations

import functools
import html
from pathlib import Path
from typing import Any

TEMPLATES = Path(__file__).parent / "templates"


@functools.lru_cache(maxsize=1)
def environment() -> Any:
    import jinja2
    from markupsafe import Markup

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["h"] = lambda value: Markup(html.escape(str(value), quote=True))
    return env


def render(name: str, **context: Any) -> str:
    return environment().get_template(name).render(**context)
