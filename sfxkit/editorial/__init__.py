"""Editorial: a video's soundtrack, planned, decided, rendered and mixed like a sound editor's.

The stages, one file each (read them in this order):

- :mod:`.options`: :class:`SoundtrackOptions`, every knob in one frozen, validated object that
  the CLI, the Python API and the review page all build;
- :mod:`.plan`: shots → scenes → events → cues, and each cue's catalog candidates;
- :mod:`.decision`: retrieve | generate | blend per cue, with its reason and numbers;
- :mod:`.render`: catalog and generated sounds made into fitted timeline layers;
- :mod:`.run`: :func:`soundtrack`, the one verb (plan → decide → render → mix → deliver);
- :mod:`.batch`: :func:`soundtrack_batch`, a folder of videos, resumable;
- :mod:`.results`: what a soundtrack returns, and time per stage.

The timeline (:mod:`sfxkit.delivery.timeline`), the mix (:mod:`sfxkit.delivery.mix`) and delivery
(:mod:`sfxkit.delivery.export`) are shared with the report and the review page and stay beside it.
Exports here are lazy, and no submodule is named like a public function (``sfxkit.soundtrack``
is the verb, so this package is not called ``soundtrack``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sfxkit._lazy import lazy_exports

_LAZY: dict[str, str] = {
    "SoundtrackOptions": "sfxkit.editorial.options",
    "POLICIES": "sfxkit.editorial.options",
    "FORCED": "sfxkit.editorial.options",
    "STAGES": "sfxkit.editorial.options",
    "LAYER_MODES": "sfxkit.editorial.options",
    "Thresholds": "sfxkit.editorial.decision",
    "DEFAULT_THRESHOLDS": "sfxkit.editorial.decision",
    "ShotChoice": "sfxkit.editorial.decision",
    "decide": "sfxkit.editorial.decision",
    "build_prompt": "sfxkit.editorial.decision",
    "load_choices": "sfxkit.editorial.decision",
    "is_non_commercial": "sfxkit.editorial.decision",
    "retrieved_layer": "sfxkit.editorial.render",
    "generated_layer": "sfxkit.editorial.render",
    "ShotDecision": "sfxkit.editorial.results",
    "SoundtrackResult": "sfxkit.editorial.results",
    "soundtrack": "sfxkit.editorial.run",
    "soundtrack_batch": "sfxkit.editorial.batch",
    "BatchItem": "sfxkit.editorial.batch",
    "BatchReport": "sfxkit.editorial.batch",
    "DONE_MARKER": "sfxkit.editorial.batch",
}

__all__ = list(_LAZY)

if TYPE_CHECKING:  # pragma: no cover
    from sfxkit.editorial.batch import DONE_MARKER as DONE_MARKER
    from sfxkit.editorial.batch import BatchItem as BatchItem
    from sfxkit.editorial.batch import BatchReport as BatchReport
    from sfxkit.editorial.batch import soundtrack_batch as soundtrack_batch
    from sfxkit.editorial.decision import DEFAULT_THRESHOLDS as DEFAULT_THRESHOLDS
    from sfxkit.editorial.decision import ShotChoice as ShotChoice
    from sfxkit.editorial.decision import Thresholds as Thresholds
    from sfxkit.editorial.decision import build_prompt as build_prompt
    from sfxkit.editorial.decision import decide as decide
    from sfxkit.editorial.decision import is_non_commercial as is_non_commercial
    from sfxkit.editorial.decision import load_choices as load_choices
    from sfxkit.editorial.options import FORCED as FORCED
    from sfxkit.editorial.options import LAYER_MODES as LAYER_MODES
    from sfxkit.editorial.options import POLICIES as POLICIES
    from sfxkit.editorial.options import STAGES as STAGES
    from sfxkit.editorial.options import SoundtrackOptions as SoundtrackOptions
    from sfxkit.editorial.render import generated_layer as generated_layer
    from sfxkit.editorial.render import retrieved_layer as retrieved_layer
    from sfxkit.editorial.results import ShotDecision as ShotDecision
    from sfxkit.editorial.results import SoundtrackResult as SoundtrackResult
    from sfxkit.editorial.run import soundtrack as soundtrack

__getattr__, __dir__ = lazy_exports("sfxkit.editorial", globals(), _LAZY, __all__)
