"""A model parsed from its id: the one data type the registry, the weights layout, ``pull`` and
the encoder builders share (kept apart so that none of them has to import another for it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Kind", "ModelSpec"]

Kind = Literal["frame", "audio", "sfx", "av", "generator", "language"]


@dataclass(frozen=True)
class ModelSpec:
    """One model, parsed from its id: what it is, where its weights come from, under what licence."""

    id: str
    family: str
    name: str
    pretrained: str | None
    tiny: bool
    kind: Kind
    description: str = ""
    licence: str = "see the model card"
    hf_repo: str | None = None
    files: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        return self.id
