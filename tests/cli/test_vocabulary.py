"""One option vocabulary (sfxkit.vocabulary): every CLI command, every HTTP route and the public
Python verbs name, default and explain a shared knob the way the table says.

The CLI is walked as click sees it (the declared interface, what `--help` prints); the HTTP API
through the app's own OpenAPI schema; the verbs through their signatures. A new option that
reuses a vocabulary word with another default, or an old spelling (`--cfg-strength`,
`--target-lufs`), fails here.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import pytest

from sfxkit.vocabulary import BY_FLAG, BY_PYTHON, RETIRED, TERMS

# Commands that act on an index take it as their argument; every other command names it --index.
INDEX_SUBJECT_GROUPS = ("index", "bridge", "eval")


def cli_params() -> list[tuple[str, Any]]:
    import typer

    from sfxkit.cli.app import app_for

    out: list[tuple[str, Any]] = []

    def walk(cmd: Any, path: list[str]) -> None:
        if hasattr(cmd, "commands"):
            for name, sub in cmd.commands.items():
                walk(sub, [*path, name])
        else:
            out.extend((" ".join(path), p) for p in cmd.params)

    walk(typer.main.get_command(app_for([])), [])
    return out


def test_the_walk_sees_every_command() -> None:
    commands = {c for c, _ in cli_params()}
    for expected in ("recommend", "soundtrack", "compare", "generate", "index build", "serve"):
        assert expected in commands


def test_cli_options_follow_the_vocabulary() -> None:
    problems: list[str] = []
    for command, p in cli_params():
        spellings = [*p.opts, *p.secondary_opts]
        for s in spellings:
            if s in RETIRED:
                problems.append(f"{command}: {s} is retired; use {RETIRED[s].flags[0]}")
        terms = {BY_FLAG[s] for s in spellings if s in BY_FLAG}
        if p.param_type_name == "argument":
            if p.name == "index" and not command.startswith(INDEX_SUBJECT_GROUPS):
                problems.append(f"{command}: takes the index as an argument; use --index")
            continue
        if not terms:
            continue
        (t,) = terms
        if sorted(spellings) != sorted(t.flags):
            problems.append(f"{command}: {spellings} should be spelled {list(t.flags)}")
        want = t.default_for(command)
        if p.default != want and not (p.required and want is None):
            problems.append(f"{command} {t.flags[0]}: default {p.default!r}, vocabulary {want!r}")
        if not (p.help or "").startswith(t.help):
            problems.append(f"{command} {t.flags[0]}: help {p.help!r} is not the vocabulary's")
    assert not problems, "\n".join(problems)


def test_commands_that_use_an_index_name_it_the_same_way() -> None:
    takes = {c for c, p in cli_params() if p.name == "index"}
    assert {"recommend", "soundtrack", "compare", "serve"} <= takes
    for command, p in cli_params():
        if p.name == "index" and p.param_type_name == "option":
            assert sorted(p.opts) == ["--index", "-i"], command


def _verbs() -> dict[str, Any]:
    import sfxkit
    from sfxkit.recommender import Recommender

    verbs: dict[str, Any] = {
        name: getattr(sfxkit, name)
        for name in (
            "recommend",
            "build_index",
            "generate",
            "soundtrack",
            "soundtrack_batch",
            "compare",
        )
    }
    for m in ("__init__", "recommend", "recommend_text", "recommend_audio", "recommend_video"):
        verbs[f"Recommender.{m}"] = getattr(Recommender, m)
    return verbs


# A verb keyword whose default is "take it from elsewhere" (the options object, the index).
_DEFERRED = {None}


def test_python_verbs_follow_the_vocabulary() -> None:
    problems = []
    retired_python = {r for r in RETIRED if not r.startswith("-")}
    for verb, fn in _verbs().items():
        for name, param in inspect.signature(fn).parameters.items():
            if name in retired_python:
                problems.append(f"{verb}({name}=): retired spelling")
            t = BY_PYTHON.get(name)
            if t is None or param.default is inspect.Parameter.empty:
                continue
            want = t.python_default_for(verb.split(".")[0])
            if param.default != want and not (name == "dedupe" and param.default in _DEFERRED):
                problems.append(f"{verb}({name}=): default {param.default!r}, vocabulary {want!r}")
    assert not problems, "\n".join(problems)


def test_soundtrack_options_are_the_vocabulary_s() -> None:
    from sfxkit.editorial.options import SoundtrackOptions

    fields = {f.name: f for f in dataclasses.fields(SoundtrackOptions)}
    for t in TERMS:
        if t.python in fields:
            f = fields[t.python]
            default = f.default if f.default is not dataclasses.MISSING else None
            want = t.python_default_for("soundtrack")
            assert default == want, f"SoundtrackOptions.{t.python}: {default!r} != {want!r}"
    # compare() and soundtrack() take the same knobs: compare has no copies of its own.
    sig = inspect.signature(__import__("sfxkit").compare).parameters
    assert not (set(sig) & (set(fields) - {"out"}))


@pytest.fixture(scope="module")
def openapi(tiny_index) -> dict[str, Any]:
    pytest.importorskip("fastapi")
    from sfxkit.serve.app import create_app

    return create_app(tiny_index[0]).app.openapi()


def test_http_fields_follow_the_vocabulary(openapi: dict[str, Any]) -> None:
    problems = []
    seen = 0
    schemas = openapi.get("components", {}).get("schemas", {})
    for route, methods in openapi["paths"].items():
        for method, spec in methods.items():
            fields: dict[str, Any] = {}
            for p in spec.get("parameters", []):
                fields[p["name"]] = p.get("schema", {})
            body = spec.get("requestBody", {}).get("content", {})
            for content in body.values():
                ref = content.get("schema", {}).get("$ref", "")
                props = schemas.get(ref.rsplit("/", 1)[-1], {}).get("properties", {})
                fields.update(props)
            for name, schema in fields.items():
                t = next((x for x in TERMS if x.http == name), None)
                if name in RETIRED and not name.startswith("-"):
                    problems.append(f"{method.upper()} {route}: field {name!r} is retired")
                if t is None or "default" not in schema:
                    continue
                seen += 1
                if schema["default"] != t.default:
                    problems.append(
                        f"{method.upper()} {route} {name}: default {schema['default']!r}, "
                        f"vocabulary {t.default!r}"
                    )
    assert seen, "no vocabulary field found in the HTTP API: is the walk blind?"
    assert not problems, "\n".join(problems)


def test_the_vocabulary_s_default_variant_is_the_generator_s() -> None:
    from sfxkit.generation.mmaudio.variants import DEFAULT_VARIANT
    from sfxkit.vocabulary import term

    assert term("variant").python_default == DEFAULT_VARIANT
