"""Language-model describers: a local transformers causal LM, and any OpenAI-compatible chat
endpoint (timeout, bounded retries with backoff, persistent response cache)."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sfxkit.catalog.describe.base import DescriberError
from sfxkit.catalog.describe.prompts import (
    DEFAULT_PROMPT,
    DescriberStats,
    PromptTemplate,
    _fill,
    _open_cache,
    _params_tag,
    split_descriptions,
)
from sfxkit.errors import InputError, ModelError

if TYPE_CHECKING:  # pragma: no cover
    from sfxkit.catalog.describe.cache import ResponseCache
    from sfxkit.catalog.schema import CatalogItem


# ------------------------------------------------------------------------- local transformers


def resolve_hf_model(model: str | Path, family: str = "llm") -> Path:
    """A local directory for a transformers model: the path itself, ``<weights root>/<family>/
    <org>--<name>``, or the Hugging Face cache (never the network)."""
    from sfxkit.config import get_settings
    from sfxkit.errors import WeightsMissingError

    p = Path(model).expanduser()
    if p.is_dir():
        return p
    if p.exists() or str(model).startswith((".", "/", "~")):
        raise InputError(f"{p}: not a model directory; pass a directory holding config.json")
    name = str(model)
    roots = get_settings().weight_roots()
    for root in roots:
        candidate = root / family / name.replace("/", "--")
        if (candidate / "config.json").is_file():
            return candidate
    try:
        from huggingface_hub import snapshot_download

        from sfxkit.models.weights import hub_offline

        with hub_offline():
            return Path(snapshot_download(name, local_files_only=True))
    except Exception:  # noqa: BLE001 - any hub error means "not available offline"
        pass
    raise WeightsMissingError(
        f"{family}:{name}",
        roots[-1] / family / name.replace("/", "--"),
        hint="(or pass the directory of a saved transformers model)",
    )


class TransformersDescriber:
    """Descriptions from a local causal language model (any transformers ``AutoModelForCausalLM``).

    ``model`` is a directory or a Hugging Face id already in a local cache (``local_files_only``).
    The prompt asks for ``n`` lines; sampling is seeded, so the same input gives the same answer.
    A model whose config carries ``sfxkit_untrained = True`` (the tiny test models) is labelled
    untrained; its output is junk and mostly falls back to the template.
    """

    def __init__(
        self,
        model: str | Path,
        *,
        prompt: PromptTemplate = DEFAULT_PROMPT,
        device: str | None = None,
        max_new_tokens: int = 64,
        temperature: float = 0.7,
        top_p: float = 0.95,
        seed: int = 0,
        batch_size: int = 8,
        cache: ResponseCache | str | Path | bool | None = None,
    ) -> None:
        self.model_id = str(model)
        self.prompt = prompt
        self.device = device
        self.params = {
            "max_new_tokens": int(max_new_tokens),
            "temperature": float(temperature),
            "top_p": float(top_p),
            "seed": int(seed),
        }
        self.batch_size = max(1, int(batch_size))
        self.name = f"llm:{self.model_id}"
        self.version = f"{prompt.version}.{_params_tag(self.params)}"
        self._cache_arg = cache
        self._cache: ResponseCache | None = None
        self._loaded: tuple[Any, Any] | None = None
        self._untrained: bool | None = None
        self.stats = DescriberStats()

    def spec(self) -> dict[str, Any]:
        return {
            "kind": "transformers",
            "model": self.model_id,
            "prompt": self.prompt.to_dict(),
            **self.params,
        }

    @property
    def untrained(self) -> bool:
        if self._untrained is None:
            from transformers import AutoConfig

            path = resolve_hf_model(self.model_id)
            config = AutoConfig.from_pretrained(str(path), local_files_only=True)
            self._untrained = bool(getattr(config, "sfxkit_untrained", False))
        return self._untrained

    def _load(self) -> tuple[Any, Any]:
        if self._loaded is None:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            from sfxkit._progress import third_party_bars_off
            from sfxkit.config import resolve_device
            from sfxkit.models.weights import hub_offline

            path = resolve_hf_model(self.model_id)
            try:
                with hub_offline(), third_party_bars_off():
                    tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
                    model = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True)
            except Exception as exc:  # transformers/safetensors/json errors alike
                raise ModelError(
                    f"could not load the language model '{self.model_id}' from {path}: {exc}; "
                    "the directory must hold a transformers causal LM (config.json, weights, "
                    "tokenizer files)"
                ) from exc
            tok.padding_side = "left"  # generation continues on the right
            if tok.pad_token is None:
                tok.pad_token = tok.eos_token
            model = cast(Any, model).to(resolve_device(self.device)).eval()
            self._untrained = bool(getattr(model.config, "sfxkit_untrained", False))
            self._loaded = (model, tok)
        return self._loaded

    def _text(self, tok: Any, item: CatalogItem, n: int) -> str:
        user = self.prompt.render(item, n)
        if getattr(tok, "chat_template", None):
            messages = [
                {"role": "system", "content": self.prompt.system},
                {"role": "user", "content": user},
            ]
            return str(
                tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            )
        return f"{self.prompt.system}\n\n{user}\n\nDescriptions:\n"

    def describe(self, items: Sequence[CatalogItem], n: int = 3) -> list[list[str]]:
        from sfxkit.catalog.describe.cache import cache_key

        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        if self._cache is None and self._cache_arg is not False:
            self._cache = _open_cache(self._cache_arg)
        out: list[list[str] | None] = [None] * len(items)
        keys: list[str] = []
        todo: list[int] = []
        for i, item in enumerate(items):
            key = cache_key(self.name, self.prompt.version, self.prompt.render(item, n),
                            {**self.params, "n": n})  # fmt: skip
            keys.append(key)
            hit = self._cache.get(key) if self._cache is not None else None
            if hit is not None:
                self.stats.cache_hits += 1
                out[i] = hit
            else:
                todo.append(i)
        if todo:
            import torch

            model, tok = self._load()
            # Seeded sampling without disturbing the caller's RNG (CPU, and the model's GPU).
            devices = [model.device.index or 0] if model.device.type == "cuda" else []
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed(self.params["seed"])
                for start in range(0, len(todo), self.batch_size):
                    chunk = todo[start : start + self.batch_size]
                    texts = [self._text(tok, items[i], n) for i in chunk]
                    enc = tok(texts, return_tensors="pt", padding=True).to(model.device)
                    with torch.inference_mode():
                        gen = model.generate(
                            **enc,
                            max_new_tokens=self.params["max_new_tokens"],
                            do_sample=self.params["temperature"] > 0,
                            temperature=self.params["temperature"] or None,
                            top_p=self.params["top_p"],
                            pad_token_id=tok.pad_token_id,
                        )
                    answers = tok.batch_decode(gen[:, enc["input_ids"].shape[1] :],
                                               skip_special_tokens=True)  # fmt: skip
                    self.stats.calls += len(chunk)
                    for i, answer in zip(chunk, answers, strict=True):
                        descs = split_descriptions(answer, n)
                        if self._cache is not None:
                            self._cache.put(keys[i], descs, model=self.name,
                                            prompt_version=self.prompt.version,
                                            text=self.prompt.render(items[i], n))  # fmt: skip
                        out[i] = descs
        return _finish(self.stats, items, out, n)


def _finish(
    stats: DescriberStats, items: Sequence[CatalogItem], out: list[list[str] | None], n: int
) -> list[list[str]]:
    """Pad each answer to ``n`` with the template's descriptions, counting who needed help."""
    result = []
    for item, descs in zip(items, out, strict=True):
        filled, helped = _fill(list(descs or []), item, n)
        if helped:
            stats.fallbacks += 1
            stats.fallback_items.append(item.id)
        result.append(filled)
    return result


# ------------------------------------------------------------------- OpenAI-compatible endpoint

_RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER_S = 30.0


class OpenAIDescriber:
    """Descriptions from any OpenAI-compatible ``/chat/completions`` endpoint.

    ``base_url`` is the API root (``http://localhost:11434/v1`` for Ollama,
    ``http://localhost:8000/v1`` for vLLM, ``http://localhost:8080/v1`` for llama.cpp's server).
    Every request has a ``timeout`` (seconds per connect/read); connection errors, timeouts and
    HTTP 408/429/5xx are retried ``retries`` times with exponential backoff (``backoff * 2**k``
    seconds, or the server's Retry-After up to 30 s). Other HTTP errors (bad model name, bad key)
    fail at once. When an item still fails, :class:`DescriberError` is raised: answers received
    before it are in the cache (whole entries only), nothing else is written.

    The API key comes from ``api_key``, else ``SFXKIT_LLM_API_KEY``, else ``OPENAI_API_KEY``; it is
    never stored in the cache, the index or ``spec()``.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        prompt: PromptTemplate = DEFAULT_PROMPT,
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 1.0,
        temperature: float = 0.7,
        max_tokens: int = 256,
        workers: int = 1,
        cache: ResponseCache | str | Path | bool | None = None,
    ) -> None:
        if not base_url or not base_url.startswith(("http://", "https://")):
            raise InputError(
                f"base_url {base_url!r} must be an http(s) URL such as http://localhost:11434/v1"
            )
        if not model:
            raise InputError("an OpenAI-compatible describer needs a model name (e.g. llama3.2)")
        self.base_url = base_url.rstrip("/")
        self.url = (
            self.base_url
            if self.base_url.endswith("/chat/completions")
            else f"{self.base_url}/chat/completions"
        )
        self.model_id = model
        self.api_key = (
            api_key or os.environ.get("SFXKIT_LLM_API_KEY") or os.environ.get("OPENAI_API_KEY")
        )
        self.prompt = prompt
        self.timeout = float(timeout)
        self.retries = max(0, int(retries))
        self.backoff = max(0.0, float(backoff))
        self.params = {"temperature": float(temperature), "max_tokens": int(max_tokens)}
        self.workers = max(1, int(workers))
        self.name = f"openai:{model}"
        self.version = f"{prompt.version}.{_params_tag(self.params)}"
        self.untrained = False
        self._cache = _open_cache(cache)
        self.stats = DescriberStats()

    def spec(self) -> dict[str, Any]:
        return {
            "kind": "openai",
            "base_url": self.base_url,
            "model": self.model_id,
            "prompt": self.prompt.to_dict(),
            "timeout": self.timeout,
            "retries": self.retries,
            **self.params,
        }

    # --------------------------------------------------------------- one request
    def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        import time
        import urllib.error
        import urllib.request

        data = json.dumps(payload).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        attempts = self.retries + 1
        reason = ""
        fix = ""
        for attempt in range(attempts):
            wait = self.backoff * (2**attempt)
            try:
                req = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    body = resp.read()
                try:
                    return dict(json.loads(body))
                except (json.JSONDecodeError, TypeError, ValueError) as exc:
                    raise DescriberError(
                        f"{self.url}: the answer is not JSON ({exc}); is this an OpenAI-compatible "
                        "endpoint? Ollama, vLLM and llama.cpp serve one under /v1"
                    ) from exc
            except urllib.error.HTTPError as exc:
                detail = exc.read()[:300].decode("utf-8", "replace") if exc.fp else ""
                if exc.code not in _RETRY_STATUS:
                    raise DescriberError(
                        f"{self.url}: HTTP {exc.code} {exc.reason} ({detail.strip() or 'no detail'}); "
                        f"check the model name '{self.model_id}', the URL and the API key"
                    ) from exc
                reason = f"HTTP {exc.code} {exc.reason}"
                fix = "the server is overloaded or failing; retry later or lower --workers"
                after = exc.headers.get("Retry-After") if exc.headers else None
                if after is not None:
                    with contextlib.suppress(ValueError):
                        wait = min(float(after), MAX_RETRY_AFTER_S)
            except TimeoutError:  # socket.timeout is TimeoutError since 3.10
                reason = f"no answer within {self.timeout:g} s"
                fix = "raise --timeout, use a smaller model, or check that the server is not stuck"
            except urllib.error.URLError as exc:
                inner = exc.reason
                if isinstance(inner, TimeoutError):
                    reason = f"no answer within {self.timeout:g} s"
                    fix = "raise --timeout, use a smaller model, or check the server"
                else:
                    reason = f"cannot connect ({inner})"
                    fix = (
                        "start the server (e.g. `ollama serve`, `vllm serve MODEL`, "
                        "`llama-server -m MODEL.gguf`) or check --base-url"
                    )
            except (ConnectionError, OSError) as exc:
                reason = f"connection failed ({exc})"
                fix = "start the server or check --base-url"
            if attempt + 1 < attempts and wait > 0:
                time.sleep(wait)
        raise DescriberError(f"{self.url}: {reason} after {attempts} attempt(s); {fix}")

    def _ask(self, item: CatalogItem, n: int) -> list[str]:
        payload = {
            "model": self.model_id,
            "messages": [
                {"role": "system", "content": self.prompt.system},
                {"role": "user", "content": self.prompt.render(item, n)},
            ],
            "stream": False,
            **self.params,
        }
        answer = self._post(payload)
        try:
            content = answer["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise DescriberError(
                f"{self.url}: the answer has no choices[0].message.content ({str(answer)[:200]}); "
                "is this an OpenAI-compatible chat endpoint?"
            ) from exc
        self.stats.calls += 1
        return split_descriptions(str(content or ""), n)

    def describe(self, items: Sequence[CatalogItem], n: int = 3) -> list[list[str]]:
        from sfxkit.catalog.describe.cache import cache_key

        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        out: list[list[str] | None] = [None] * len(items)
        todo: list[tuple[int, str]] = []
        for i, item in enumerate(items):
            key = cache_key(self.name, self.prompt.version, self.prompt.render(item, n),
                            {**self.params, "n": n})  # fmt: skip
            hit = self._cache.get(key) if self._cache is not None else None
            if hit is not None:
                self.stats.cache_hits += 1
                out[i] = hit
            else:
                todo.append((i, key))

        def work(job: tuple[int, str]) -> None:
            i, key = job
            descs = self._ask(items[i], n)
            # Cached only after a complete answer: a failure leaves no entry behind.
            if self._cache is not None:
                self._cache.put(key, descs, model=self.name, prompt_version=self.prompt.version,
                                text=self.prompt.render(items[i], n))  # fmt: skip
            out[i] = descs

        if self.workers == 1:
            for job in todo:
                work(job)
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=self.workers) as pool:
                # list() re-raises the first failure; the rest are cancelled or finish into the cache
                list(pool.map(work, todo))
        return _finish(self.stats, items, out, n)
