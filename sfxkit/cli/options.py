"""One vocabulary for choosing models, and the checks every command runs before any work.

``--models default|tiny`` means the same on every command: the pretrained models, or the tiny
untrained ones (CLIP + CLAP for an index, MMAudio ``tiny_16k`` for generation). ``--variant``
picks any MMAudio variant and also takes ``default`` and ``tiny``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sfxkit.generation.mmaudio.variants import DEFAULT_VARIANT, VARIANTS

TINY_VARIANT = "tiny_16k"

Models = Annotated[
    str | None,
    typer.Option(
        "--models",
        help="'default' (pretrained MMAudio) or 'tiny' (untrained MMAudio tiny_16k, for tests).",
        show_default=False,
    ),
]
Variant = Annotated[
    str | None,
    typer.Option(
        "--variant",
        help=f"MMAudio variant: {', '.join(VARIANTS)}; 'default' = {DEFAULT_VARIANT}, "
        f"'tiny' = {TINY_VARIANT}.",
        show_default=False,
    ),
]


def resolve_variant(models: str | None, variant: str | None) -> str:
    """The MMAudio variant named by ``--models`` and/or ``--variant``."""
    from sfxkit.errors import InputError

    by_models = _words(models, "--models") if models is not None else None
    by_variant = _words(variant, "--variant") if variant is not None else None
    if by_models and by_variant and by_models != by_variant:
        raise InputError(f"--models {models} and --variant {variant} disagree; pass one of them")
    return by_variant or by_models or DEFAULT_VARIANT


def _words(value: str, flag: str) -> str:
    from sfxkit.errors import InputError

    word = value.strip().removeprefix("mmaudio:")
    if word == "default":
        return DEFAULT_VARIANT
    if word == "tiny":
        return TINY_VARIANT
    if word in VARIANTS and (flag == "--variant" or word == TINY_VARIANT):
        return word
    accepted = (
        "'default' or 'tiny'"
        if flag == "--models"
        else f"'default', 'tiny' or one of {', '.join(VARIANTS)}"
    )
    raise InputError(f"{flag} {value!r}: use {accepted}")


def generator_advice(command: str, *, retrieve: bool) -> str:
    alternatives = f"`sfxkit {command} ... --models tiny` (= --variant {TINY_VARIANT}, an untrained generator for tests: the sound is meaningless)"
    if retrieve:
        alternatives += ", or `--policy retrieve` to use only the catalog's sounds"
    return f"Without the MMAudio weights: {alternatives}."


def check_generator(variant: str, advice: str, weights_dir: Path | None = None) -> None:
    """Fail before any work when the MMAudio weights of ``variant`` are not on this machine."""
    from sfxkit.errors import WeightsMissingError
    from sfxkit.generation.mmaudio.weights import locate

    try:
        locate(variant, weights_dir=weights_dir)
    except WeightsMissingError as error:
        error.args = (f"{error.args[0]} {advice}",)
        raise


def check_index_models(index: Path, models: str | None, command: str) -> None:
    """The encoders of the index must be loadable, and ``--models tiny`` needs a tiny index."""
    from sfxkit.errors import InputError
    from sfxkit.index.build import check_weights
    from sfxkit.index.store import IndexStore

    store = IndexStore(index)
    if not store.exists():
        return  # the command itself says there is no index here
    recorded = store.manifest().models
    if models is not None and models.strip() == "tiny":
        from sfxkit.config import TINY_AUDIO_MODEL, TINY_FRAME_MODEL

        tiny = {TINY_FRAME_MODEL, TINY_AUDIO_MODEL}
        if not set(recorded.values()) <= tiny:
            raise InputError(
                f"--models tiny means the tiny encoders too, but {index} was built with "
                f"{', '.join(sorted(recorded.values()))}; use an index built with "
                f"`sfxkit index build SFX_DIR --out IDX --models tiny`, or pass "
                f"--variant {TINY_VARIANT} for only a tiny generator"
            )
    check_weights(
        recorded,
        advice=f"To try `sfxkit {command}` without weights, build a test index with "
        "`sfxkit index build SFX_DIR --out IDX --models tiny` and pass --models tiny.",
    )


# The build engine, the same words on `index build` and `bridge mine` (see sfxkit.index.engines.ray_data).
Engine = Annotated[
    str,
    typer.Option(
        "--engine",
        help="'local' (worker processes on this machine) or 'ray' (Ray Data; needs "
        "`pip install 'sfxkit[distributed]'`).",
    ),
]
Address = Annotated[
    str | None,
    typer.Option(
        "--address",
        help="With --engine ray: the cluster to join ('auto' on a cluster node, "
        "'ray://HOST:10001' from elsewhere); default a local Ray runtime.",
        show_default=False,
    ),
]


def check_engine(engine: str, address: str | None) -> None:
    """Usage errors for --engine/--address, before any work."""
    from sfxkit.errors import InputError

    if engine not in ("local", "ray"):
        raise InputError(f"--engine {engine!r}: use 'local' or 'ray'")
    if address is not None and engine != "ray":
        raise InputError("--address needs --engine ray (it names the Ray cluster to join)")
