"""`sfxkit models list|pull` as a user sees them."""

from __future__ import annotations

import json
import socket

from typer.testing import CliRunner

from sfxkit.cli import main
from sfxkit.cli.app import app
from sfxkit.config import DEFAULT_AUDIO_MODEL, DEFAULT_FRAME_MODEL, DEFAULT_GENERATOR, get_settings
from sfxkit.models import weights
from sfxkit.models.registry import parse_model_id
from tests.models.conftest import save_clap_dir


def test_models_list_table():
    result = CliRunner().invoke(app, ["models", "list"])
    assert result.exit_code == 0, result.output
    out = result.output
    for model_id in (
        DEFAULT_FRAME_MODEL,
        DEFAULT_AUDIO_MODEL,
        DEFAULT_GENERATOR,
        "open_clip:tiny",
        "clap:tiny",
    ):
        assert model_id in out
    for word in (
        "default",
        "UNTRAINED",
        "MIT",
        "Apache-2.0",
        "CC-BY-NC-4.0",
        "cached?",
        "sfxkit models pull",
    ):
        assert word in out
    default_row = next(line for line in out.splitlines() if DEFAULT_FRAME_MODEL in line)
    assert "default" in default_row and "no" in default_row  # nothing downloaded in a test cache


def test_models_list_shows_where_weights_were_found(audio_encoder):
    target = weights.layout_path(
        parse_model_id(DEFAULT_AUDIO_MODEL), get_settings().cache_dir / "weights"
    )
    save_clap_dir(audio_encoder, target)
    result = CliRunner().invoke(app, ["models", "list", "--kind", "audio", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["id"]: r for r in json.loads(result.output)}
    assert set(r["kind"] for r in rows.values()) == {"audio"}
    assert rows[DEFAULT_AUDIO_MODEL]["found"] == "sfxkit cache" and rows[DEFAULT_AUDIO_MODEL][
        "path"
    ] == str(target)
    assert rows[DEFAULT_AUDIO_MODEL]["default"] is True
    assert (
        rows["clap:tiny"]["tiny"] is True and rows["clap:laion/larger_clap_music"]["found"] is None
    )
    table = CliRunner().invoke(app, ["models", "list", "--kind", "audio"]).output
    row = next(line for line in table.splitlines() if DEFAULT_AUDIO_MODEL in line)
    assert "yes" in row and "sfxkit cache" in row


def test_models_pull_without_network_exits_with_the_model_error_code(capsys, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    code = main(["models", "pull", DEFAULT_FRAME_MODEL, "--timeout", "2", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 4
    assert "could not reach" in err and DEFAULT_FRAME_MODEL in err


def test_models_pull_of_a_present_model_prints_its_path(capsys, audio_encoder):
    target = weights.layout_path(
        parse_model_id("clap:acme/cli-clap"), get_settings().cache_dir / "weights"
    )
    save_clap_dir(audio_encoder, target)
    code = main(["models", "pull", "clap:acme/cli-clap", "--no-progress"])
    captured = capsys.readouterr()
    assert code == 0 and captured.out.strip() == str(target)
    assert "already present" in captured.err


def test_models_bad_arguments_are_input_errors(capsys):
    assert main(["models", "pull", "clap:tiny"]) == 2
    assert "nothing to pull" in capsys.readouterr().err
    assert main(["models", "list", "--kind", "video"]) == 2
    assert main(["models", "pull", "nonsense"]) == 4
    assert "unknown model id" in capsys.readouterr().err
