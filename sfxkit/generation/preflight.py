"""Before any work: which MMAudio variant ``--models``/``--variant`` (or a page's ``variant=``)
name, and whether its weights are on this machine, with the offline route in the error. Shared by
the CLI and the service (the review page's jobs), in the CLI's words."""

from __future__ import annotations

from pathlib import Path

from sfxkit.generation.mmaudio.variants import DEFAULT_VARIANT, VARIANTS

TINY_VARIANT = "tiny_16k"


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
    from sfxkit.models.mmaudio_files import locate

    try:
        locate(variant, weights_dir=weights_dir)
    except WeightsMissingError as error:
        error.args = (f"{error.args[0]} {advice}",)
        raise
