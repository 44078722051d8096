"""Quality checks on a decoded sound: silent, clipped, too short.

Flags are advisory: a flagged sound stays in the catalog (a "silent" room tone can be wanted),
and search or policy code may filter on ``CatalogItem.qc_flags``.
"""

from __future__ import annotations

import numpy as np

from sfxkit.media.audio import Audio

SILENT_PEAK_DBFS = -60.0
"""A sound whose sample peak is below this is "silent"."""
CLIP_LEVEL = 0.999
"""A sample at or above this magnitude (of full scale) counts as full scale."""
CLIPPED_FRACTION = 0.001
""""clipped" when at least this fraction (0.1 %) of samples are at full scale..."""
CLIPPED_RUN = 3
"""...or when any channel has this many consecutive full-scale samples."""
TOO_SHORT_S = 0.1
"""Sounds shorter than this (seconds) are "too_short"."""

QC_FLAGS = ("silent", "clipped", "too_short")


def _longest_run(mask: np.ndarray) -> int:
    """Longest run of True along the last axis, over all rows."""
    best = 0
    for row in np.atleast_2d(mask):
        if not row.any():
            continue
        padded = np.concatenate([[False], row, [False]])
        edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
        best = max(best, int((edges[1::2] - edges[::2]).max()))
    return best


def qc_flags(audio: Audio) -> tuple[str, ...]:
    """The subset of ("silent", "clipped", "too_short") that applies, in that order."""
    x = np.abs(np.asarray(audio.samples, dtype=np.float32))
    flags: list[str] = []
    peak = float(x.max()) if x.size else 0.0
    if peak <= 0.0 or 20.0 * np.log10(peak) < SILENT_PEAK_DBFS:
        flags.append("silent")
    full = x >= CLIP_LEVEL
    if x.size and (full.mean() >= CLIPPED_FRACTION or _longest_run(full) >= CLIPPED_RUN):
        flags.append("clipped")
    if audio.duration < TOO_SHORT_S:
        flags.append("too_short")
    return tuple(flags)
