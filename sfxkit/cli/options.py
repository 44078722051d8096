"""The command line's options, declared from the one vocabulary (:mod:`sfxkit.vocabulary`), and
the checks every command runs before any work.

``--models default|tiny`` means the same on every command: the pretrained models, or the tiny
untrained ones (CLIP + CLAP for an index, MMAudio ``tiny_16k`` for generation). ``--variant``
picks any MMAudio variant and also takes ``default`` and ``tiny``. A command states each shared
option as ``name: Device = None`` (the default must be the vocabulary's, which
``tests/cli/test_vocabulary.py`` checks); ``option(name, extra)`` appends command-specific words
to the shared help.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from sfxkit.vocabulary import term


def option(name: str, extra: str = "", **kwargs: Any) -> Any:
    """A typer option with the vocabulary's spellings and help for ``name`` (+ ``extra``)."""
    t = term(name)
    flags = t.flags
    if len(flags) == 2 and all(f.startswith("--") for f in flags):  # an on/off pair
        flags = (f"{flags[0]}/{flags[1]}",)
    return typer.Option(*flags, help=f"{t.help} {extra}".strip(), **kwargs)


Device = Annotated[str | None, option("device")]
Index = Annotated[Path, option("index")]
TopK = Annotated[int, option("k", min=1)]
Dedupe = Annotated[bool, option("dedupe")]
Models = Annotated[str | None, option("models", show_default=False)]
Variant = Annotated[str | None, option("variant", show_default=False)]
Steps = Annotated[int, option("steps", min=1)]
Cfg = Annotated[float, option("cfg_strength")]
Seed = Annotated[int, option("seed")]
NegativePrompt = Annotated[str, option("negative_prompt")]
Target = Annotated[float, option("target_lufs")]
TruePeak = Annotated[float, option("true_peak")]
Policy = Annotated[str, option("policy")]
Progress = Annotated[bool, option("progress")]
Json = Annotated[bool, option("as_json")]


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
        from sfxkit.generation.preflight import TINY_VARIANT

        tiny = {TINY_FRAME_MODEL, TINY_AUDIO_MODEL}
        # The sound-effects view (aiSFX, tiny or pulled) is not what --models tiny is about:
        # frame and text queries use CLIP and CLAP.
        if not {m for role, m in recorded.items() if role != "sfx"} <= tiny:
            raise InputError(
                f"--models tiny means the tiny encoders too, but {index} was built with "
                f"{', '.join(sorted(m for r, m in recorded.items() if r != 'sfx'))}; use an "
                "index built with "
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
