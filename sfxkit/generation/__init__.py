"""Generate sound effects for video, images or text (MMAudio, ported natively in ``mmaudio/``).

    >>> import sfxkit
    >>> sound = sfxkit.generate("clip.mp4", prompt="footsteps on gravel")
    >>> sound.save("clip.wav")

Light at import: torch and the model code load on first use of :func:`generate` or
:class:`MMAudioGenerator`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sfxkit.generation.base import GeneratedSound, Generator

_LAZY: dict[str, str] = {
    "generate": "sfxkit.generation.mmaudio.pipeline",
    "MMAudioGenerator": "sfxkit.generation.mmaudio.pipeline",
}

__all__ = ["GeneratedSound", "Generator", "MMAudioGenerator", "generate"]

if TYPE_CHECKING:  # pragma: no cover
    from sfxkit.generation.mmaudio.pipeline import MMAudioGenerator, generate


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sfxkit.generation' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
