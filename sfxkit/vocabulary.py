"""The one option vocabulary: every knob that more than one verb takes, named once.

Each :class:`Term` says what the knob is called in Python (the verbs' keyword and the
``SoundtrackOptions`` field), on the command line, and in the HTTP API, with its type, default
and help text. The CLI declares its options from this table (:mod:`sfxkit.cli.options`), and
``tests/cli/test_vocabulary.py`` walks every CLI command, every HTTP route and the public Python
verbs and fails on a knob whose name, default or help differs from it. Adding a soundtrack
setting means one field in ``SoundtrackOptions`` and, if commands share it, one row here.

Where a verb keeps its own default on purpose, the term lists it in ``defaults`` with the reason
in the help text (plain ``generate`` has no negative prompt, as MMAudio's own default).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SAME: Any = object()


@dataclass(frozen=True, eq=False)  # one object per knob: compared and hashed by identity
class Term:
    """One knob. ``python`` is the keyword in the verbs and ``SoundtrackOptions``; ``flags`` the
    command line's spellings (long first); ``http`` the JSON/query field; ``defaults`` the verbs
    (CLI command paths, e.g. ``"generate"``) whose default differs from ``default`` on purpose."""

    python: str
    flags: tuple[str, ...]
    http: str | None
    default: Any
    help: str
    defaults: Mapping[str, Any] = field(default_factory=dict)
    retired: tuple[str, ...] = ()  # spellings that must not come back (CLI flags, Python names)
    python_default: Any = SAME  # where Python differs from the CLI (progress: None = on a TTY)

    def default_for(self, command: str) -> Any:
        return self.defaults.get(command, self.default)

    def python_default_for(self, verb: str) -> Any:
        if self.python_default is not SAME:
            return self.python_default
        return self.default_for(verb)


DEVICE_HELP = "auto (default: CUDA, then MPS, then CPU), cpu, cuda, cuda:1, mps."

TERMS: tuple[Term, ...] = (
    Term("device", ("--device",), "device", None, DEVICE_HELP),
    Term(
        "index",
        ("--index", "-i"),
        "index",
        None,
        "Index directory (see `sfxkit index build`).",
    ),
    Term(
        "k",
        ("--top-k", "-k"),
        "k",
        5,
        "How many catalog sounds: results to return, or candidates per shot and cue.",
        retired=("--k", "--top", "top_k"),
    ),
    Term(
        "dedupe",
        ("--dedupe", "--all-duplicates"),
        "dedupe",
        True,
        "Show one sound per near-duplicate group (--all-duplicates: every re-encoded, "
        "trimmed or re-gained copy).",
    ),
    Term(
        "models",
        ("--models",),
        "models",
        None,
        "'default' (the pretrained models) or 'tiny' (untrained toy models, for tests).",
    ),
    Term(
        "variant",
        ("--variant",),
        "variant",
        None,
        "MMAudio variant (see `sfxkit models list`); 'default' or 'tiny' = tiny_16k.",
        python_default="large_44k_v2",  # = sfxkit.config.DEFAULT_MMAUDIO_VARIANT (a test checks)
    ),
    Term(
        "steps",
        ("--steps",),
        "steps",
        25,
        "Generation sampler steps (Euler).",
        retired=("--num-steps",),
    ),
    Term(
        "cfg_strength",
        ("--cfg",),
        "cfg_strength",
        4.5,
        "Classifier-free guidance strength of generation.",
        retired=("--cfg-strength", "--guidance", "cfg", "guidance"),
    ),
    Term(
        "seed",
        ("--seed",),
        "seed",
        42,
        "Random seed: the same inputs and seed give the same result.",
        defaults={"bridge train": 0},  # training's seed, recorded in every trained index since v0.1
    ),
    Term(
        "negative_prompt",
        ("--negative-prompt",),
        "negative_prompt",
        "speech, music",
        "What generated sounds should not be (plain `generate`: nothing, as MMAudio).",
        defaults={"generate": ""},
    ),
    Term(
        "target_lufs",
        ("--target",),
        "target_lufs",
        -23.0,
        "Mix loudness in LUFS (EBU R128 -23; e.g. -14 for web).",
        retired=("--target-lufs", "--lufs", "target", "lufs"),
    ),
    Term("true_peak", ("--true-peak",), "true_peak", -1.0, "True-peak ceiling in dBTP."),
    Term(
        "policy",
        ("--policy",),
        "policy",
        "auto",
        "auto (decide per shot and cue), retrieve, generate or blend.",
    ),
    Term(
        "progress",
        ("--progress", "--no-progress"),
        None,
        True,
        "Show progress bars.",
        python_default=None,  # Python: bars only when stderr is a terminal
    ),
    Term("as_json", ("--json",), None, False, "Print the result as JSON."),
)

BY_PYTHON: dict[str, Term] = {t.python: t for t in TERMS}
BY_FLAG: dict[str, Term] = {f: t for t in TERMS for f in t.flags}
RETIRED: dict[str, Term] = {f: t for t in TERMS for f in t.retired}


def term(python_name: str) -> Term:
    try:
        return BY_PYTHON[python_name]
    except KeyError:
        raise KeyError(
            f"{python_name!r} is not in the vocabulary; known: {', '.join(sorted(BY_PYTHON))}"
        ) from None
