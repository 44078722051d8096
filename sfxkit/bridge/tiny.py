"""Tiny, untrained language and vision-language models, built offline, for tests and smoke runs.

The same architectures transformers loads for real describers and captioners (a Llama causal
LM; a ViT + GPT-2 vision encoder-decoder), at toy size with seeded random weights, saved with
``save_pretrained`` so they load through exactly the code path a real model does
(``from_pretrained(path, local_files_only=True)``). Their configs carry
``sfxkit_untrained = True``: describers and captioners built on them say they are untrained,
and their output is junk that sfxkit's cleaning mostly rejects (falling back to the template).

The tokenizer is the tiny byte-level BPE shipped for the tiny CLAP (:mod:`sfxkit.models.tiny`).
"""

from __future__ import annotations

from pathlib import Path

TINY_SEED = 0


def save_tiny_causal_lm(directory: str | Path) -> Path:
    """A 2-layer, 32-wide Llama causal LM + tokenizer, saved to ``directory``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from sfxkit.models.tiny import tiny_clap_tokenizer

    d = Path(directory)
    tok = tiny_clap_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    config.sfxkit_untrained = True
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_SEED)
        model = LlamaForCausalLM(config)
    model.save_pretrained(str(d))
    tok.save_pretrained(str(d))
    return d


def save_tiny_captioner(directory: str | Path) -> Path:
    """A ViT (32 px) → GPT-2 (1 layer) image-to-text model + processor files, saved to ``directory``."""
    import torch
    from transformers import (
        GPT2Config,
        VisionEncoderDecoderConfig,
        VisionEncoderDecoderModel,
        ViTConfig,
        ViTImageProcessor,
    )

    from sfxkit.models.tiny import tiny_clap_tokenizer

    d = Path(directory)
    tok = tiny_clap_tokenizer()
    encoder = ViTConfig(
        image_size=32,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
    )
    decoder = GPT2Config(  # type: ignore[call-arg]  # is_decoder is a PretrainedConfig kwarg
        vocab_size=len(tok),
        n_embd=32,
        n_layer=1,
        n_head=2,
        n_positions=64,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        add_cross_attention=True,
        is_decoder=True,
    )
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder)
    config.decoder_start_token_id = tok.bos_token_id
    config.pad_token_id = tok.pad_token_id
    config.eos_token_id = tok.eos_token_id
    config.sfxkit_untrained = True
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_SEED)
        model = VisionEncoderDecoderModel(config)
    model.save_pretrained(str(d))
    tok.save_pretrained(str(d))
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(str(d))
    return d
