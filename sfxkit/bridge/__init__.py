"""The frame <-> sound bridge: describers (metadata -> what one would see), pair mining,
contrastive heads, training, evaluation and calibration.

Importing this package is cheap; heavy parts live in submodules and import torch lazily.
"""

from __future__ import annotations

from sfxkit.bridge.describe import Describer, TemplateDescriber

__all__ = ["Describer", "TemplateDescriber"]
