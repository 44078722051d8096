"""sfxkit: sound effects for video.

Retrieve the best-matching sounds for a frame, shot or video from an SFX catalog, or generate one
with MMAudio when nothing fits. The public API is small and lazy: ``import sfxkit`` imports no
torch, FAISS or FFmpeg; each name loads its module on first use.

    >>> import sfxkit
    >>> recs = sfxkit.recommend("frame.jpg", index="my_index", k=5)
    >>> recs[0].title, recs[0].score

Note: modules are named so that no submodule shadows a public function
(``sfxkit.recommend`` is always the function; the code lives in ``sfxkit.recommender``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sfxkit._lazy import lazy_exports
from sfxkit._version import __version__

_LAZY: dict[str, str] = {
    "recommend": "sfxkit.recommender",
    "Recommender": "sfxkit.recommender",
    "Recommendation": "sfxkit.recommender",
    "Recommendations": "sfxkit.recommender",
    "ShotRecommendations": "sfxkit.recommender",
    "build_index": "sfxkit.index.build",
    "load_index": "sfxkit.index.store",
    "generate": "sfxkit.generation",
    "GeneratedSound": "sfxkit.generation",
    "soundtrack": "sfxkit.editorial.run",
    "soundtrack_batch": "sfxkit.editorial.batch",
    "SoundtrackOptions": "sfxkit.editorial.options",
    "compare": "sfxkit.editorial.report",
}

__all__ = [*_LAZY, "__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from sfxkit.editorial.batch import soundtrack_batch as soundtrack_batch
    from sfxkit.editorial.options import SoundtrackOptions as SoundtrackOptions
    from sfxkit.editorial.report import compare as compare
    from sfxkit.editorial.run import soundtrack as soundtrack
    from sfxkit.generation import GeneratedSound as GeneratedSound
    from sfxkit.generation import generate as generate
    from sfxkit.index.build import build_index as build_index
    from sfxkit.index.store import load_index as load_index
    from sfxkit.recommender import Recommendation as Recommendation
    from sfxkit.recommender import Recommendations as Recommendations
    from sfxkit.recommender import Recommender as Recommender
    from sfxkit.recommender import ShotRecommendations as ShotRecommendations
    from sfxkit.recommender import recommend as recommend


__getattr__, __dir__ = lazy_exports("sfxkit", globals(), _LAZY, __all__)
