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


class QcAccumulator:
    """The QC flags of a sound fed in ``(channels, n)`` blocks, with O(channels) state."""

    def __init__(self, sample_rate: int, channels: int) -> None:
        self.sample_rate = int(sample_rate)
        self.peak = 0.0
        self.frames = 0
        self._values = 0
        self._full = 0
        self._longest = 0
        self._carry = np.zeros(int(channels), dtype=np.int64)  # full-scale run open at the end

    def update(self, block: np.ndarray) -> None:
        x = np.abs(np.asarray(block, dtype=np.float32))
        if x.ndim == 1:
            x = x[None, :]
        if x.size == 0:
            return
        self.peak = max(self.peak, float(x.max()))
        self.frames += x.shape[1]
        self._values += x.size
        full = x >= CLIP_LEVEL
        if not full.any():
            self._carry[:] = 0
            return
        self._full += int(full.sum())
        for c, row in enumerate(full):
            if not row.any():
                self._carry[c] = 0
                continue
            edges = np.flatnonzero(np.diff(np.concatenate(([0], row.view(np.int8), [0]))))
            starts, ends = edges[::2], edges[1::2]
            runs = ends - starts
            if starts[0] == 0:
                runs[0] += self._carry[c]
            self._longest = max(self._longest, int(runs.max()))
            self._carry[c] = runs[-1] if ends[-1] == row.shape[0] else 0

    def flags(self) -> tuple[str, ...]:
        """The subset of ("silent", "clipped", "too_short") that applies, in that order."""
        flags: list[str] = []
        if self.peak <= 0.0 or 20.0 * np.log10(self.peak) < SILENT_PEAK_DBFS:
            flags.append("silent")
        if self._values and (
            self._full / self._values >= CLIPPED_FRACTION or self._longest >= CLIPPED_RUN
        ):
            flags.append("clipped")
        if self.frames / float(self.sample_rate) < TOO_SHORT_S:
            flags.append("too_short")
        return tuple(flags)


def qc_flags(audio: Audio) -> tuple[str, ...]:
    """The subset of ("silent", "clipped", "too_short") that applies, in that order."""
    acc = QcAccumulator(audio.sample_rate, audio.channels)
    acc.update(audio.samples)
    return acc.flags()
