"""What language-model describers share: the versioned prompt, the item metadata it shows, the
cleaning of answers, the response cache and call statistics."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sfxkit.catalog.describe.template import TemplateDescriber

if TYPE_CHECKING:  # pragma: no cover
    from sfxkit.catalog.describe.cache import ResponseCache
    from sfxkit.catalog.schema import CatalogItem


@dataclass(frozen=True)
class PromptTemplate:
    """The instruction a language model gets. ``version`` is part of every cache key and of the
    describer's version, so changing the wording re-describes instead of reusing old answers."""

    version: str
    system: str
    user: str  # placeholders: {metadata} and {n}

    def render(self, item: CatalogItem, n: int) -> str:
        return self.user.format(metadata=item_metadata(item), n=n)

    def to_dict(self) -> dict[str, str]:
        return {"version": self.version, "system": self.system, "user": self.user}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PromptTemplate:
        return cls(version=str(d["version"]), system=str(d["system"]), user=str(d["user"]))


DEFAULT_PROMPT = PromptTemplate(
    version="p1",
    system=(
        "You help a film sound editor. Given the metadata of one sound effect, you say what a "
        "camera would show in a video frame while this sound is heard. Describe only visible "
        "things (objects, actions, places, materials), never the sound itself."
    ),
    user=(
        "Sound effect metadata:\n{metadata}\n\n"
        "Write {n} different short descriptions (at most 15 words each) of a video frame in "
        "which this sound happens. One description per line, no numbering, no quotes."
    ),
)


def item_metadata(item: CatalogItem) -> str:
    """The metadata lines a language model sees for one item (empty fields left out)."""
    lines = [f"Title: {item.title.strip() or Path(item.path).stem}"]
    if item.description.strip():
        lines.append(f"Description: {item.description.strip()}")
    category = " / ".join(p.strip() for p in (item.category, item.subcategory) if p and p.strip())
    if category:
        lines.append(f"Category: {category}")
    tags = [t.strip() for t in item.tags if t and t.strip()]
    if tags:
        lines.append("Keywords: " + ", ".join(tags))
    return "\n".join(lines)


MAX_DESCRIPTION_CHARS = 160
MAX_DESCRIPTION_WORDS = 24
_BULLET = re.compile(r"^\s*(?:[-*\u2022>#]+|\(?\d{1,2}[.):\]]|[a-z][.)])\s+", re.IGNORECASE)
_LABEL = re.compile(r"^\s*(?:description|caption|frame|scene)\s*\d*\s*[:\-]\s*", re.IGNORECASE)
_LETTERS = re.compile(r"[^\W\d_]{2,}")
# A word, possibly hyphenated or with an apostrophe, possibly followed by punctuation.
_WORDLIKE = re.compile(r"^[(\"']?[^\W_]+(?:['\-][^\W_]+)*[.,;:!?)\"']*$")


def clean_description(
    text: str, *, max_chars: int = MAX_DESCRIPTION_CHARS, max_words: int = MAX_DESCRIPTION_WORDS
) -> str:
    """One usable description from a line of model output, or ``""`` when nothing usable is there.

    Strips numbering, bullets, "Description 2:" labels, quotes and control characters, keeps at
    most ``max_words`` words and ``max_chars`` characters (cut at a word boundary), and rejects
    text that is not mostly words (an untrained model's byte soup).
    """
    t = unicodedata.normalize("NFKC", text or "").replace("\ufffd", " ")
    t = "".join(ch if (ch.isprintable() or ch == " ") else " " for ch in t)
    t = " ".join(t.split())
    for _ in range(2):
        t = _LABEL.sub("", _BULLET.sub("", t)).strip()
    t = t.strip("\"'`\u201c\u201d\u2018\u2019 ").strip()
    words = t.split()[:max_words]
    t = " ".join(words)
    if len(t) > max_chars:
        t = t[:max_chars].rsplit(" ", 1)[0].rstrip(",;:-")
    tokens = t.split()
    wordlike = sum(bool(_WORDLIKE.match(tok)) for tok in tokens)
    if len(_LETTERS.findall(t)) < 2 or not tokens or wordlike / len(tokens) < 0.8:
        return ""
    return t


def split_descriptions(text: str, n: int, **limits: int) -> list[str]:
    """Up to ``n`` distinct cleaned descriptions from a model answer (one per line)."""
    out: list[str] = []
    seen: set[str] = set()
    for line in (text or "").splitlines():
        d = clean_description(line, **limits)
        if d and d.lower() not in seen:
            seen.add(d.lower())
            out.append(d)
        if len(out) >= n:
            break
    return out


def _fill(descs: list[str], item: CatalogItem, n: int) -> tuple[list[str], bool]:
    """Pad to ``n`` with the template's descriptions; says whether the template had to help."""
    if len(descs) >= n:
        return descs[:n], False
    extra = [d for d in TemplateDescriber().describe([item], n=n)[0] if d not in descs]
    return (descs + extra)[:n], True


def _params_tag(params: Mapping[str, Any]) -> str:
    blob = json.dumps(dict(params), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:6]


def _open_cache(cache: ResponseCache | str | Path | bool | None) -> ResponseCache | None:
    from sfxkit.catalog.describe.cache import ResponseCache

    if cache is False:
        return None
    if cache is None or cache is True:
        return ResponseCache()
    if isinstance(cache, ResponseCache):
        return cache
    return ResponseCache(cache)


@dataclass
class DescriberStats:
    """What the last ``describe`` calls cost: answers from the model, from the cache, and items
    whose answer was unusable (filled from the template)."""

    calls: int = 0
    cache_hits: int = 0
    fallbacks: int = 0
    fallback_items: list[str] = field(default_factory=list)
