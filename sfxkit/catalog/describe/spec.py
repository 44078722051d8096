"""Describers as data: the spec recorded in an index manifest, and the factory the CLI uses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sfxkit.catalog.describe.base import Describer
from sfxkit.catalog.describe.llm import OpenAIDescriber, TransformersDescriber
from sfxkit.catalog.describe.prompts import DEFAULT_PROMPT, PromptTemplate
from sfxkit.catalog.describe.template import TemplateDescriber
from sfxkit.errors import InputError, SfxkitError

if TYPE_CHECKING:  # pragma: no cover
    pass


# ----------------------------------------------------------------------------------- specs


def describer_from_spec(spec: Mapping[str, Any], **overrides: Any) -> Describer:
    """Rebuild a describer from its ``spec()`` (as stored in an index manifest)."""
    kind = spec.get("kind", "template")
    prompt = PromptTemplate.from_dict(spec["prompt"]) if "prompt" in spec else DEFAULT_PROMPT
    if kind == "template":
        return TemplateDescriber()
    if kind == "transformers":
        keys = ("max_new_tokens", "temperature", "top_p", "seed")
        kwargs = {k: spec[k] for k in keys if k in spec}
        return TransformersDescriber(spec["model"], prompt=prompt, **{**kwargs, **overrides})
    if kind == "openai":
        keys = ("timeout", "retries", "temperature", "max_tokens")
        kwargs = {k: spec[k] for k in keys if k in spec}
        return OpenAIDescriber(
            spec["base_url"], spec["model"], prompt=prompt, **{**kwargs, **overrides}
        )
    raise InputError(f"unknown describer kind {kind!r}; use template, transformers or openai")


def make_describer(
    kind: str = "template",
    *,
    model: str | None = None,
    base_url: str | None = None,
    **kwargs: Any,
) -> Describer:
    """The describer a CLI flag names: ``template``, ``llm`` (local transformers) or ``openai``."""
    if kind == "template":
        return TemplateDescriber()
    if kind in {"llm", "transformers"}:
        if not model:
            raise InputError("--describer llm needs --model (a directory or a cached HF id)")
        return TransformersDescriber(model, **kwargs)
    if kind == "openai":
        if not base_url or not model:
            raise InputError(
                "--describer openai needs --base-url (e.g. http://localhost:11434/v1) and --model"
            )
        return OpenAIDescriber(base_url, model, **kwargs)
    raise InputError(f"unknown describer {kind!r}; use template, llm or openai")


def describer_tag(describer: Describer) -> str:
    return f"{describer.name}/{describer.version}"


def describer_record(describer: Describer) -> dict[str, Any]:
    """What an index manifest stores about the describer that wrote its descriptions."""
    spec_fn = getattr(describer, "spec", None)
    spec = spec_fn() if callable(spec_fn) else {"kind": "custom"}
    try:
        untrained = bool(getattr(describer, "untrained", False))
    except SfxkitError:  # a local model that is gone: the record must not need it
        untrained = False
    record: dict[str, Any] = {
        "name": describer.name,
        "version": describer.version,
        "tag": describer_tag(describer),
        "spec": spec,
        "untrained": untrained,
    }
    prompt = getattr(describer, "prompt", None)
    if isinstance(prompt, PromptTemplate):
        record["prompt"] = prompt.to_dict()
    return record
