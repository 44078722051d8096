"""The describer protocol and its error."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from sfxkit.errors import ModelError

if TYPE_CHECKING:  # pragma: no cover
    from sfxkit.catalog.schema import CatalogItem


@runtime_checkable
class Describer(Protocol):
    """Makes visual descriptions for catalog items (batch in, one list per item out)."""

    name: str
    version: str

    def describe(self, items: Sequence[CatalogItem], n: int = 3) -> list[list[str]]: ...


class DescriberError(ModelError):
    """A language-model describer could not produce descriptions (endpoint down, timeout, bad
    answer). Entries already received stay in the response cache; nothing else was written."""
