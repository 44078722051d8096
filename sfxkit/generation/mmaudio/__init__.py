"""sfxkit's own implementation of MMAudio (Cheng et al., arXiv 2412.15322) for inference.

Loads the official checkpoints with strict key matching. Layout: ``variants`` (hyper-parameters,
sequence geometry), ``layers``/``rope``/``network`` (the flow transformer), ``flow`` (Euler
sampler with CFG), ``weights`` (files, pull, strict loading), ``pipeline`` (video/image/text →
waveform); ``features`` and the codecs (VAE, vocoders, Synchformer, CLIP) next to them.
Importing this package imports no torch.
"""

from __future__ import annotations

from sfxkit.generation.mmaudio.variants import DEFAULT_VARIANT, VARIANTS, get_variant

__all__ = ["DEFAULT_VARIANT", "VARIANTS", "get_variant"]
