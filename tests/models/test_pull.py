"""`pull` without a network: it fails fast and clearly, and verifies weights that are already there."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from sfxkit.config import DEFAULT_AUDIO_MODEL, DEFAULT_FRAME_MODEL, get_settings
from sfxkit.errors import InputError, ModelError
from sfxkit.models import mmaudio_files, weights
from sfxkit.models.registry import parse_model_id, pull
from tests.models.conftest import save_clap_dir


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def dead_hub(monkeypatch) -> str:
    """The hub endpoint is a local port nobody listens on: every request is refused at once."""
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    return endpoint


@pytest.fixture
def silent_hub(monkeypatch):
    """A hub that accepts connections and never answers: only a timeout ends the wait."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.getsockname()[1]}")
    yield
    stop.set()
    thread.join(timeout=2)
    for conn in held:
        conn.close()
    server.close()


def _leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*")] if root.exists() else []


@pytest.mark.parametrize("model_id", [DEFAULT_FRAME_MODEL, DEFAULT_AUDIO_MODEL])
def test_unreachable_hub_is_a_clear_error_and_leaves_nothing(dead_hub, model_id):
    with pytest.raises(ModelError) as err:
        pull(model_id, progress=False, timeout=2)
    message = str(err.value)
    assert "could not reach" in message and dead_hub in message and model_id in message
    assert "needs network access" in message and "SFXKIT_WEIGHTS_DIR" in message
    assert _leftovers(get_settings().cache_dir / "weights") == []


def test_a_hub_that_never_answers_times_out(silent_hub):
    with pytest.raises(ModelError) as err:
        pull(DEFAULT_AUDIO_MODEL, progress=False, timeout=0.5)
    assert "could not reach" in str(err.value) and "timeout 0.5 s" in str(err.value)
    assert "Timeout" in str(err.value) or "timed out" in str(err.value)


def test_present_weights_are_verified_not_fetched(dead_hub, audio_encoder):
    model_id = "clap:acme/tiny-clap"
    folder = save_clap_dir(
        audio_encoder,
        weights.layout_path(parse_model_id(model_id), get_settings().cache_dir / "weights"),
    )
    said: list[str] = []
    assert pull(model_id, progress=False, echo=said.append) == folder
    assert any("already present" in m and str(folder) in m for m in said)
    assert any("OK" in m and "dim 32" in m for m in said)


def test_present_but_broken_weights_fail_verification(dead_hub, audio_encoder):
    model_id = "clap:acme/broken-clap"
    folder = save_clap_dir(
        audio_encoder,
        weights.layout_path(parse_model_id(model_id), get_settings().cache_dir / "weights"),
    )
    (folder / "model.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="model.safetensors: cannot read this checkpoint"):
        pull(model_id, progress=False)


def test_dest_is_its_own_weights_root(dead_hub, audio_encoder, tmp_path):
    model_id = "clap:acme/tiny-clap"
    save_clap_dir(
        audio_encoder,
        weights.layout_path(parse_model_id(model_id), get_settings().cache_dir / "weights"),
    )
    # present in the cache, but --dest asks for a copy elsewhere: that needs the network
    with pytest.raises(ModelError, match="could not reach"):
        pull(model_id, dest=tmp_path / "shared", progress=False, timeout=2)
    # present in dest: verified there
    in_dest = save_clap_dir(audio_encoder, tmp_path / "shared" / "clap" / "acme--tiny-clap")
    assert pull(model_id, dest=tmp_path / "shared", progress=False) == in_dest


@pytest.mark.parametrize("model_id", ["open_clip:tiny", "clap:tiny"])
def test_tiny_models_have_nothing_to_pull(model_id):
    with pytest.raises(InputError, match="nothing to pull"):
        pull(model_id)


def test_local_paths_are_not_pulled(tmp_path):
    with pytest.raises(InputError, match="local"):
        pull(f"clap:{tmp_path}")


def test_unknown_open_clip_tag_has_no_source():
    with pytest.raises(ModelError, match="no download source"):
        pull("open_clip:ViT-B-32/my_own_finetune")


def test_mmaudio_pull_is_handed_to_the_mmaudio_file_table(monkeypatch, tmp_path):
    calls = []

    def fake_pull(variant, *, dest=None, progress=True):
        calls.append((variant, dest, progress))
        return [tmp_path / "mmaudio" / "mmaudio_small_16k.pth", tmp_path / "mmaudio" / "v1-16.pth"]

    monkeypatch.setattr(mmaudio_files, "pull", fake_pull)
    assert pull("mmaudio:small_16k", dest=tmp_path, progress=False) == tmp_path / "mmaudio"
    assert calls == [("small_16k", tmp_path, False)]


def test_language_models_pull_into_the_layout_the_bridge_reads(dead_hub, tmp_path, monkeypatch):
    from sfxkit.catalog.describe import resolve_hf_model

    spec = parse_model_id("llm:acme/tiny-lm")
    assert spec.kind == "language" and spec.hf_repo == "acme/tiny-lm"
    # no network: a clear error, nothing left behind
    with pytest.raises(ModelError, match="could not reach"):
        pull("llm:acme/tiny-lm", progress=False, timeout=2)
    assert _leftovers(get_settings().cache_dir / "weights") == []
    # weights copied by hand into the pulled layout: pull verifies them, the describer finds them
    folder = weights.layout_path(spec, get_settings().cache_dir / "weights")
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"model_type": "gpt2"}')
    said: list[str] = []
    assert pull("llm:acme/tiny-lm", progress=False, echo=said.append) == folder
    assert any("already present" in m for m in said)
    assert resolve_hf_model("acme/tiny-lm", family="llm") == folder
    with pytest.raises(ModelError, match="not a Hugging Face repo id"):
        parse_model_id("vlm:not a repo")
