"""Generate sound effects for video, images or text (MMAudio, ported natively in ``mmaudio/``).

    >>> import sfxkit
    >>> sound = sfxkit.generate("clip.mp4", prompt="footsteps on gravel")
    >>> sound.save("clip.wav")

Light at import: torch and the model code load on first use of :func:`generate` or
:class:`MMAudioGenerator`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sfxkit._lazy import lazy_exports
from sfxkit.generation.base import GeneratedSound, Generator

_LAZY: dict[str, str] = {
    "generate": "sfxkit.generation.mmaudio.pipeline",
    "MMAudioGenerator": "sfxkit.generation.mmaudio.pipeline",
}

__all__ = ["GeneratedSound", "Generator", "MMAudioGenerator", "generate"]

if TYPE_CHECKING:  # pragma: no cover
    from sfxkit.generation.mmaudio.pipeline import MMAudioGenerator, generate


__getattr__, __dir__ = lazy_exports("sfxkit.generation", globals(), _LAZY, __all__)
