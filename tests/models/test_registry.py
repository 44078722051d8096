"""Model ids: what parses, what a wrong id tells the user, and what the catalogue lists."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sfxkit.config import DEFAULT_AUDIO_MODEL, DEFAULT_FRAME_MODEL, DEFAULT_GENERATOR
from sfxkit.errors import ModelError
from sfxkit.models.registry import (
    MMAUDIO_VARIANTS,
    is_default,
    list_models,
    load_audio_encoder,
    load_frame_encoder,
    parse_model_id,
)


def test_default_ids_parse_to_their_parts():
    clip = parse_model_id(DEFAULT_FRAME_MODEL)
    assert (clip.family, clip.name, clip.pretrained, clip.kind, clip.tiny) == (
        "open_clip",
        "ViT-B-32",
        "laion2b_s34b_b79k",
        "frame",
        False,
    )
    assert clip.hf_repo == "laion/CLIP-ViT-B-32-laion2B-s34B-b79K"
    assert "open_clip_model.safetensors" in clip.files
    clap = parse_model_id(DEFAULT_AUDIO_MODEL)
    assert (clap.family, clap.name, clap.kind, clap.hf_repo) == (
        "clap",
        "laion/larger_clap_general",
        "audio",
        "laion/larger_clap_general",
    )


def test_any_open_clip_arch_and_tag_is_accepted_with_its_hub_repo():
    spec = parse_model_id("open_clip:ViT-H-14-378-quickgelu/dfn5b")
    assert spec.id == "open_clip:ViT-H-14-378-quickgelu/dfn5b"
    assert spec.hf_repo == "apple/DFN5B-CLIP-ViT-H-14-378"
    assert spec.kind == "frame" and not spec.tiny


def test_path_and_hub_forms(tmp_path: Path):
    local = parse_model_id(f"open_clip:local-dir:{tmp_path}")
    assert local.id == f"open_clip:local-dir:{tmp_path.resolve()}" and local.hf_repo is None
    hub = parse_model_id("open_clip:hf-hub:org/some-clip")
    assert hub.hf_repo == "org/some-clip" and hub.kind == "frame"
    clap_dir = parse_model_id(f"clap:{tmp_path}")
    assert (
        clap_dir.family == "clap"
        and clap_dir.hf_repo is None
        and clap_dir.name == str(tmp_path.resolve())
    )
    any_repo = parse_model_id("clap:someone/my-clap")
    assert any_repo.hf_repo == "someone/my-clap"
    laion = parse_model_id("laion_clap:630k-audioset-best.pt")
    assert laion.kind == "audio" and laion.hf_repo == "lukewys/laion_clap"


def test_tiny_and_generator_ids():
    for model_id, kind in [("open_clip:tiny", "frame"), ("clap:tiny", "audio")]:
        spec = parse_model_id(model_id)
        assert spec.tiny and spec.kind == kind and spec.id.endswith(":tiny")
    for variant in MMAUDIO_VARIANTS:
        spec = parse_model_id(f"mmaudio:{variant}")
        assert spec.kind == "generator" and spec.tiny == variant.startswith("tiny")
    assert "CC-BY-NC" in parse_model_id("mmaudio:large_44k_v2").licence


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ("tiny", "open_clip:tiny or clap:tiny"),
        ("whisper:base", "no model family 'whisper'"),
        ("clap:", "nothing after 'clap:'"),
        ("open_clip:ViT-B-3/laion2b_s34b_b79k", "ViT-B-32"),  # close matches are suggested
        ("mmaudio:huge", "large_44k_v2"),  # the variants are listed
        ("clap:not a repo", "neither a Hugging Face repo id"),
        ("", "non-empty"),
    ],
)
def test_bad_ids_list_families_and_examples(bad, says):
    with pytest.raises(ModelError) as err:
        parse_model_id(bad)
    message = str(err.value)
    assert says in message
    if "needs a family" not in says and bad:
        assert "open_clip, clap, laion_clap, mmaudio" in message
        assert DEFAULT_FRAME_MODEL in message


def test_open_clip_without_a_tag_asks_for_one():
    with pytest.raises(ModelError, match="needs a pretrained tag"):
        parse_model_id("open_clip:ViT-B-32")


def test_catalogue_has_defaults_tinies_and_generators():
    specs = {s.id: s for s in list_models()}
    for model_id in (
        DEFAULT_FRAME_MODEL,
        DEFAULT_AUDIO_MODEL,
        DEFAULT_GENERATOR,
        "open_clip:tiny",
        "clap:tiny",
    ):
        assert model_id in specs
    assert {f"mmaudio:{v}" for v in MMAUDIO_VARIANTS} <= set(specs)
    defaults = {s.id for s in specs.values() if is_default(s)}
    assert defaults == {DEFAULT_FRAME_MODEL, DEFAULT_AUDIO_MODEL, DEFAULT_GENERATOR, "pe_av:large"}
    # every catalogue id parses back to itself
    assert all(parse_model_id(i).id == i for i in specs)


def test_defaults_follow_the_settings(monkeypatch):
    monkeypatch.setenv("SFXKIT_FRAME_MODEL", "open_clip:tiny")
    assert is_default("open_clip:tiny") and not is_default(DEFAULT_FRAME_MODEL)
    assert load_frame_encoder().model_id == "open_clip:tiny"


def test_loaders_refuse_the_wrong_kind():
    with pytest.raises(ModelError, match="is an audio model"):
        load_frame_encoder("clap:tiny")
    with pytest.raises(ModelError, match="frame model"):
        load_audio_encoder("open_clip:tiny")
    with pytest.raises(ModelError, match="sfxkit.generate"):
        load_audio_encoder("mmaudio:tiny_16k")


def test_repeated_loads_return_the_same_encoder():
    first = load_frame_encoder("open_clip:tiny", device="cpu")
    assert load_frame_encoder("open_clip:tiny", device="cpu") is first
    assert load_audio_encoder("clap:tiny", device="cpu") is load_audio_encoder(
        "clap:tiny", device="cpu"
    )


def test_importing_the_registry_does_not_import_torch():
    code = (
        "import sys, sfxkit.models, sfxkit.models.registry as r\n"
        "r.parse_model_id('open_clip:ViT-B-32/laion2b_s34b_b79k'); r.list_models()\n"
        "bad = [m for m in ('torch', 'open_clip', 'transformers') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_open_clip_tags_are_normalised_like_open_clip_does():
    assert parse_model_id("open_clip:ViT-B-32/LAION2B-S34B-B79K").id == DEFAULT_FRAME_MODEL
    assert parse_model_id("open_clip:ViT-B-32/laion2b-s34b-b79k") is parse_model_id(
        DEFAULT_FRAME_MODEL
    )
