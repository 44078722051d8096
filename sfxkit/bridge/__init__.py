"""The frame <-> sound bridge: pair mining, contrastive heads, training, evaluation and
calibration. (Describers, which write what a sound looks like, are the catalog's:
:mod:`sfxkit.catalog.describe`; the heads, stored in an index, are :mod:`sfxkit.index.heads`.)

    pool       sfxkit.bridge.pool       frames of your videos, sampled per shot, embedded once
    mine       sfxkit.bridge.mine       mutual top-m CLIP text<->image pairs (+ VLM captions)
    train      sfxkit.bridge.train      InfoNCE training; writes heads, fusion, calibration
    evaluate   sfxkit.bridge.evaluate   R@k, MRR, median rank, category hit@k on held-out pairs
    calibrate  sfxkit.bridge.calibrate  score -> probability, "no confident match" threshold

Importing this package is cheap; heavy parts live in submodules and import torch lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sfxkit._lazy import lazy_exports

_LAZY: dict[str, str] = {
    "FramePool": "sfxkit.bridge.pool",
    "build_frame_pool": "sfxkit.bridge.pool",
    "mine_pairs": "sfxkit.bridge.mine",
    "mine_index": "sfxkit.bridge.mine",
    "TransformersCaptioner": "sfxkit.bridge.mine",
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
    "Calibration",
    "FramePool",
    "TrainConfig",
    "TransformersCaptioner",
    "build_frame_pool",
    "calibrate_index",
    "evaluate",
    "fit_calibration",
    "load_eval_pairs",
    "mine_index",
    "mine_pairs",
    "train_bridge",
    "train_heads",
]

if TYPE_CHECKING:  # pragma: no cover
    from sfxkit.bridge.calibrate import Calibration, fit_calibration
    from sfxkit.bridge.evaluate import evaluate, load_eval_pairs
    from sfxkit.bridge.mine import TransformersCaptioner, mine_index, mine_pairs
    from sfxkit.bridge.pool import FramePool, build_frame_pool
    from sfxkit.bridge.train import TrainConfig, calibrate_index, train_bridge, train_heads


__getattr__, __dir__ = lazy_exports("sfxkit.bridge", globals(), _LAZY, __all__)
