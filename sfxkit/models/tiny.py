"""The ``tiny`` encoders: the real open_clip and CLAP architectures at toy size, built offline.

They exist so tests and CI exercise the exact code paths of the pretrained models without any
download: same classes (open_clip ``CLIP``, transformers ``ClapModel``), same preprocessing
(open_clip's image transform and BPE tokenizer, ``ClapFeatureExtractor`` at 48 kHz, a byte-level
BPE ``RobertaTokenizer``), seeded random weights. Their vectors carry no meaning, so every
encoder built here has ``untrained = True`` and is labelled so wherever it appears.

Determinism: weights come from a private ``torch.Generator`` seeded with ``TINY_SEED`` (the global
RNG is left untouched), so two builds, in one process or two, give bit-identical models.

The tiny CLAP tokenizer's ``vocab.json`` / ``merges.txt`` ship under ``sfxkit/models/data/``;
``train_tiny_bpe()`` regenerates them (byte-level BPE over ``WORDS``; a test checks the shipped
files equal a fresh training run).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, cast

TINY_SEED = 0
DATA_DIR = Path(__file__).parent / "data"
TINY_OPEN_CLIP_ARCH = "sfxkit-tiny-ViT"
TINY_OPEN_CLIP_CONFIG = DATA_DIR / f"{TINY_OPEN_CLIP_ARCH}.json"
TINY_BPE_DIR = DATA_DIR / "tiny_clap_tokenizer"
TINY_BPE_VOCAB_SIZE = 600

# CLAP's real front end runs at 48 kHz with 10 s windows; the tiny one keeps 48 kHz, the hop and
# the FFT size, and shrinks the window to 2 s and the mel bins to 16 so a forward pass is cheap.
TINY_CLAP_SAMPLE_RATE = 48_000
TINY_CLAP_WINDOW_S = 2
TINY_CLAP_MEL_BINS = 16

# Words sound designers type: the corpus for the tiny byte-level BPE vocabulary.
_CORPUS = """
a an the of and with in on at from to into over under through by for near far behind inside outside
sound sounds noise tone hum buzz click clicks tap taps knock knocks thud thump bang boom crash smash
hit hits impact impacts slam whoosh swish swoosh rustle rustling crackle crackling pop pops sizzle
hiss drip drips splash splashes pour pouring bubble bubbling gurgle flow stream river rain rainfall
drizzle storm thunder lightning wind gust breeze howl whistle whistling wave waves ocean sea surf
water fire flame flames burning ember campfire explosion explosions gunshot gunshots shot shots
rifle pistol cannon laser beam robot machine engine motor car cars truck bus train plane airplane
jet helicopter boat ship horn siren alarm bell bells chime chimes ring ringing phone door doors
creak creaking squeak squeaking open opening close closing shut lock unlock key keys footstep
footsteps step steps walk walking run running jump jumping fall falling gravel grass snow sand wood
wooden metal metallic glass plastic paper cloth leather concrete stone rock rocks dirt mud ice
dog dogs bark barking cat cats meow purr bird birds chirp chirping tweet crow owl hoot horse neigh
cow moo sheep goat pig chicken rooster duck frog frogs croak insect insects cricket crickets bee
bees fly flies mosquito lion roar tiger wolf bear monkey elephant whale dolphin snake rattle
crowd people person man woman child children baby voice voices talk talking speech whisper shout
scream laugh laughter applause clap clapping cheer cheering cough sneeze breath breathing sigh
music musical piano guitar drum drums violin flute trumpet synth bass beat melody song singing
sine square sawtooth pulse chirp sweep low high loud quiet soft hard short long fast slow heavy
light distant close deep bright dark warm cold wet dry big small huge tiny loud calm busy empty
city street traffic road highway park forest jungle desert cave room hall kitchen office factory
office restaurant cafe bar market station airport stadium church school house home garden farm
photo picture image video scene shot frame view of red green blue yellow orange purple white
black grey gray brown pink circle square triangle stripes checker pattern light shadow sky cloud
clouds sun moon night day morning evening sunset sunrise
kitchen cooking frying chopping knife plate plates cup cups spoon fork bottle bottles can cans
typing keyboard mouse computer screen printer clock ticking tick tock watch timer beep beeps
zipper velcro bag box boxes drawer window windows curtain fan air conditioner vacuum cleaner
washing dishwasher microwave kettle boiling toilet flush shower tap faucet sink
"""
WORDS = tuple(_CORPUS.split())


# ----------------------------------------------------------------------------- tokenizer data


def train_tiny_bpe(out_dir: Path | None = None) -> Path:
    """(Re)build the tiny CLAP tokenizer files (``vocab.json``, ``merges.txt``) into ``out_dir``.

    Byte-level BPE with RoBERTa's special tokens in RoBERTa's order (``<s>``=0, ``<pad>``=1,
    ``</s>``=2, ``<unk>``=3, ``<mask>``=4), trained over ``WORDS`` as sentences.
    """
    from tokenizers import ByteLevelBPETokenizer

    out = Path(out_dir) if out_dir is not None else TINY_BPE_DIR
    out.mkdir(parents=True, exist_ok=True)
    tok = ByteLevelBPETokenizer()
    lines = [" ".join(WORDS[i : i + 12]) for i in range(0, len(WORDS), 12)]
    tok.train_from_iterator(
        lines,
        vocab_size=TINY_BPE_VOCAB_SIZE,
        min_frequency=1,
        show_progress=False,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
    )
    tok.save_model(str(out))
    return out


def tiny_clap_tokenizer() -> Any:
    """A ``RobertaTokenizer`` (fast) over the shipped tiny vocabulary; no network."""
    vocab = TINY_BPE_DIR / "vocab.json"
    merges = TINY_BPE_DIR / "merges.txt"
    if not vocab.is_file() or not merges.is_file():  # pragma: no cover - broken install
        from sfxkit.errors import ModelError

        raise ModelError(
            f"the tiny CLAP tokenizer files are missing from {TINY_BPE_DIR}; reinstall sfxkit "
            "or regenerate them with sfxkit.models.tiny.train_tiny_bpe()"
        )
    import inspect

    from transformers import RobertaTokenizerFast

    params = inspect.signature(RobertaTokenizerFast.__init__).parameters
    if "vocab_file" in params:  # transformers 4.x
        tok = RobertaTokenizerFast(vocab_file=str(vocab), merges_file=str(merges))
    else:  # transformers 5.x takes the files (or their contents) as vocab / merges
        tok = RobertaTokenizerFast(vocab=str(vocab), merges=str(merges))
    tok.model_max_length = 77
    return tok


# ----------------------------------------------------------------------------- open_clip


def tiny_open_clip_config() -> dict[str, Any]:
    with open(TINY_OPEN_CLIP_CONFIG, encoding="utf-8") as f:
        return dict(json.load(f))


def register_tiny_open_clip() -> str:
    """Make open_clip know the tiny architecture by name (idempotent); returns the name."""
    import open_clip

    if TINY_OPEN_CLIP_ARCH not in open_clip.list_models():
        open_clip.add_model_config(TINY_OPEN_CLIP_CONFIG)
    return TINY_OPEN_CLIP_ARCH


def build_tiny_open_clip(device: str = "cpu") -> tuple[Any, Any, Any]:
    """(model, eval transform, tokenizer) of the tiny CLIP: ViT 32 px / patch 8, 32 wide."""
    import open_clip
    import torch

    from sfxkit.models.openclip import quiet_random_init

    arch = register_tiny_open_clip()
    quiet = quiet_random_init()
    root = logging.getLogger()
    root.addFilter(quiet)
    try:
        with _seeded():
            model, _, preprocess = open_clip.create_model_and_transforms(
                arch, pretrained=None, device="cpu", pretrained_image=False, pretrained_text=False
            )
    finally:
        root.removeFilter(quiet)
    model = model.to(torch.device(device)).eval()
    return model, preprocess, open_clip.get_tokenizer(arch)


# ----------------------------------------------------------------------------- CLAP


def tiny_clap_config(*, fusion: bool = False) -> Any:
    """A ``ClapConfig`` with a 1-layer, 32-wide RoBERTa and a 2-stage, 8-wide HTSAT."""
    from transformers import ClapAudioConfig, ClapConfig, ClapTextConfig

    text = ClapTextConfig(
        vocab_size=TINY_BPE_VOCAB_SIZE,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=80,  # 77 tokens + RoBERTa's padding offset
        projection_dim=32,
    )
    audio = ClapAudioConfig(
        window_size=4,
        num_mel_bins=TINY_CLAP_MEL_BINS,
        spec_size=64,  # 64 / 16 mel bins → freq ratio 4, time capacity 256 ≥ 201 frames (2 s)
        patch_size=4,
        patch_stride=(4, 4),
        hidden_size=16,  # = patch_embeds_hidden_size * 2 ** (len(depths) - 1)
        patch_embeds_hidden_size=8,
        depths=(1, 1),
        num_attention_heads=(1, 2),
        projection_dim=32,
        enable_fusion=fusion,
        fusion_type="aff_2d" if fusion else None,
        num_hidden_layers=2,
    )
    return ClapConfig(text_config=text.to_dict(), audio_config=audio.to_dict(), projection_dim=32)


def tiny_clap_feature_extractor(*, fusion: bool = False) -> Any:
    from sfxkit.models.clap import deterministic_feature_extractor_class

    return deterministic_feature_extractor_class()(
        feature_size=TINY_CLAP_MEL_BINS,
        sampling_rate=TINY_CLAP_SAMPLE_RATE,
        hop_length=480,
        max_length_s=TINY_CLAP_WINDOW_S,
        fft_window_size=1024,
        frequency_min=50,
        frequency_max=14_000,
        truncation="fusion" if fusion else "rand_trunc",
        padding="repeatpad",
    )


def build_tiny_clap(device: str = "cpu", *, fusion: bool = False) -> tuple[Any, Any, Any]:
    """(ClapModel, feature extractor, tokenizer) of the tiny CLAP, seeded random weights."""
    import torch
    from transformers import ClapModel

    config = tiny_clap_config(fusion=fusion)
    with _seeded():
        model = ClapModel(config)
    model = cast(Any, model).to(torch.device(device)).eval()
    return model, tiny_clap_feature_extractor(fusion=fusion), tiny_clap_tokenizer()


class _seeded:
    """Seed torch's default generator for a build, restoring the caller's RNG state afterwards.

    Module initialisers draw from the default generator; forking it keeps a user's own seeded
    experiment unaffected by building a tiny model in the middle of it.
    """

    def __enter__(self) -> None:
        import torch

        self._fork = torch.random.fork_rng(devices=[])
        self._fork.__enter__()
        torch.manual_seed(TINY_SEED)

    def __exit__(self, *exc: Any) -> None:
        self._fork.__exit__(*exc)
