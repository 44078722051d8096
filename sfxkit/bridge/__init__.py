"""The frame <-> sound bridge: describers (metadata -> what one would see), pair mining,
contrastive heads, training, evaluation and calibration.

    describe   sfxkit.catalog.describe.describers   TemplateDescriber, TransformersDescriber, OpenAIDescriber
    pool       sfxkit.bridge.pool       frames of your videos, sampled per shot, embedded once
    mine       sfxkit.bridge.mine       mutual top-m CLIP text<->image pairs (+ VLM captions)
    heads      sfxkit.bridge.heads      projection heads CLIP image / CLAP audio -> shared space
    train      sfxkit.bridge.train      InfoNCE training; writes heads, fusion, calibration
    evaluate   sfxkit.bridge.evaluate   R@k, MRR, median rank, category hit@k on held-out pairs
    calibrate  sfxkit.bridge.calibrate  score -> probability, "no confident match" threshold

Importing this package is cheap; heavy parts live in submodules and import torch lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sfxkit._lazy import lazy_exports
from sfxkit.catalog.describe.describers import Describer, TemplateDescriber

_LAZY: dict[str, str] = {
    "OpenAIDescriber": "sfxkit.catalog.describe.describers",
    "TransformersDescriber": "sfxkit.catalog.describe.describers",
    "PromptTemplate": "sfxkit.catalog.describe.describers",
    "describe_index": "sfxkit.catalog.describe.describers",
    "FramePool": "sfxkit.bridge.pool",
    "build_frame_pool": "sfxkit.bridge.pool",
    "mine_pairs": "sfxkit.bridge.mine",
    "mine_index": "sfxkit.bridge.mine",
    "TransformersCaptioner": "sfxkit.bridge.mine",
    "BridgeHeads": "sfxkit.bridge.heads",
    "load_heads_from_index": "sfxkit.bridge.heads",
    "TrainConfig": "sfxkit.bridge.train",
    "train_heads": "sfxkit.bridge.train",
    "train_bridge": "sfxkit.bridge.train",
    "calibrate_index": "sfxkit.bridge.train",
    "evaluate": "sfxkit.bridge.evaluate",
    "load_eval_pairs": "sfxkit.bridge.evaluate",
    "Calibration": "sfxkit.bridge.calibrate",
    "fit_calibration": "sfxkit.bridge.calibrate",
}

__all__ = [
    "BridgeHeads",
    "Calibration",
    "Describer",
    "FramePool",
    "OpenAIDescriber",
    "PromptTemplate",
    "TemplateDescriber",
    "TrainConfig",
    "TransformersCaptioner",
    "TransformersDescriber",
    "build_frame_pool",
    "calibrate_index",
    "describe_index",
    "evaluate",
    "fit_calibration",
    "load_eval_pairs",
    "load_heads_from_index",
    "mine_index",
    "mine_pairs",
    "train_bridge",
    "train_heads",
]

if TYPE_CHECKING:  # pragma: no cover
    from sfxkit.bridge.calibrate import Calibration, fit_calibration
    from sfxkit.catalog.describe.describers import (
        OpenAIDescriber,
        PromptTemplate,
        TransformersDescriber,
        describe_index,
    )
    from sfxkit.bridge.evaluate import evaluate, load_eval_pairs
    from sfxkit.bridge.heads import BridgeHeads, load_heads_from_index
    from sfxkit.bridge.mine import TransformersCaptioner, mine_index, mine_pairs
    from sfxkit.bridge.pool import FramePool, build_frame_pool
    from sfxkit.bridge.train import TrainConfig, calibrate_index, train_bridge, train_heads


__getattr__, __dir__ = lazy_exports("sfxkit.bridge", globals(), _LAZY, __all__)
