"""Describers: turn a sound's metadata into what one would *see* when the sound happens.

These visual descriptions are what the CLIP text tower embeds for the zero-shot ``clip_text``
view, and what pair mining matches frames against. A :class:`Describer` takes a batch of catalog
items and returns, per item, a few short descriptions (deterministic for the same input).

Three describers share the protocol:

- :class:`TemplateDescriber` (the offline default) needs no model: it finds a visual *subject*
  (a door, rain, a dog, a gun...) in the title, description, tags and UCS category, adds what the
  metadata says about material, action, surface and manner, and fills caption templates::

      title "Door wood creak open slow", category DOORS / WOOD
        -> "a photo of a wooden door being opened slowly",
           "a close-up of a wooden door being opened slowly", "a scene with ..."

  When nothing visual is recognised it falls back to ``"a photo of {title lowercased}"``.
- :class:`TransformersDescriber`: any local causal language model (a Hugging Face id found in
  the local caches, or a directory), prompted with :data:`DEFAULT_PROMPT`.
- :class:`OpenAIDescriber`: any OpenAI-compatible chat endpoint (Ollama, vLLM, llama.cpp
  server, ...), with a timeout, bounded retries with backoff, and a persistent response cache
  (:mod:`sfxkit.catalog.describe.cache`) keyed by (model, prompt version, input): a rerun makes no call.

Language-model output is cleaned (:func:`clean_description`: first line, no numbering or quotes,
length-limited); an answer with nothing usable falls back to the template's descriptions for that
item. The prompt is a versioned :class:`PromptTemplate`; a describer's ``version`` contains the
prompt version, and every catalog item records ``describer = "name/version"``, so descriptions
say which prompt made them and a rebuild re-describes only what a new prompt would change.
:func:`sfxkit.index.maintain.describe_index` re-describes an existing index and re-embeds its
``clip_text`` view.

Modules: :mod:`.base` (the protocol), :mod:`.template`, :mod:`.prompts` (what language-model
describers share), :mod:`.llm` (the two back ends), :mod:`.spec` (describers as data),
:mod:`.cache` (the response cache).
"""

from sfxkit.catalog.describe.base import Describer, DescriberError
from sfxkit.catalog.describe.llm import OpenAIDescriber, TransformersDescriber, resolve_hf_model
from sfxkit.catalog.describe.prompts import (
    DEFAULT_PROMPT,
    DescriberStats,
    PromptTemplate,
    clean_description,
    item_metadata,
    split_descriptions,
)
from sfxkit.catalog.describe.spec import (
    describer_from_spec,
    describer_record,
    describer_tag,
    make_describer,
)
from sfxkit.catalog.describe.template import (
    PREDICTION_MIN_CONFIDENCE,
    TEMPLATES,
    TemplateDescriber,
    describe_items,
)

__all__ = [
    "DEFAULT_PROMPT",
    "PREDICTION_MIN_CONFIDENCE",
    "TEMPLATES",
    "Describer",
    "DescriberError",
    "DescriberStats",
    "OpenAIDescriber",
    "PromptTemplate",
    "TemplateDescriber",
    "TransformersDescriber",
    "clean_description",
    "describe_items",
    "describer_from_spec",
    "describer_record",
    "describer_tag",
    "item_metadata",
    "make_describer",
    "resolve_hf_model",
    "split_descriptions",
]
